// The DNS server's metrics, named and labelled as CoreDNS's where they mean the same thing
// (plugin/metrics, plugin/cache, plugin/forward), so dashboards built for CoreDNS read them.

import { Registry, exponentialBuckets, type Counter, type Gauge, type Histogram } from '../util/metrics.js';
import { typeName } from './wire.js';

/** CoreDNS reports these query types by name and everything else as "other". */
const MONITORED_TYPES = new Set(['A', 'AAAA', 'NS', 'PTR', 'SOA', 'CNAME', 'MX', 'TXT', 'SRV', 'HINFO', 'ANY', 'AXFR', 'IXFR', 'OPT']);
export const metricType = (t: number): string => { const n = typeName(t); return MONITORED_TYPES.has(n) ? n : 'other'; };

const SIZE_BUCKETS = [0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000];

export class DnsMetrics {
  readonly registry = new Registry();
  readonly requests: Counter;
  readonly responses: Counter;
  readonly duration: Histogram;
  readonly requestSize: Histogram;
  readonly responseSize: Histogram;
  readonly panics: Counter;
  readonly cacheHits: Counter;
  readonly cacheMisses: Counter;
  readonly cacheEntries: Gauge;
  readonly forwardRequests: Counter;
  readonly forwardResponses: Counter;
  readonly forwardDuration: Histogram;
  readonly forwardMaxConcurrentRejects: Counter;
  /** The `server` label: the listen address as CoreDNS writes it (dns://:53). */
  server = 'dns://:53';

  constructor() {
    const r = this.registry;
    r.gauge('coredns_build_info', 'A metric with a constant 1 value labeled by version, revision, and goversion from which CoreDNS was built.',
      ['version', 'revision', 'goversion']).set({ version: 'podnet', revision: '', goversion: process.version }, 1);
    this.requests = r.counter('coredns_dns_requests_total', 'Counter of DNS requests made per zone, protocol and family.',
      ['server', 'zone', 'view', 'proto', 'family', 'type']);
    this.responses = r.counter('coredns_dns_responses_total', 'Counter of response status codes.', ['server', 'zone', 'view', 'rcode', 'plugin']);
    this.duration = r.histogram('coredns_dns_request_duration_seconds', 'Histogram of the time (in seconds) each request took per zone.',
      exponentialBuckets(0.00025, 2, 16), ['server', 'zone', 'view', 'type']);
    this.requestSize = r.histogram('coredns_dns_request_size_bytes', 'Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.',
      SIZE_BUCKETS, ['server', 'zone', 'view', 'proto']);
    this.responseSize = r.histogram('coredns_dns_response_size_bytes', 'Size of the returned response in bytes.',
      SIZE_BUCKETS, ['server', 'zone', 'view', 'proto']);
    this.panics = r.counter('coredns_panics_total', 'A metrics that counts the number of panics.');
    this.cacheHits = r.counter('coredns_cache_hits_total', 'The count of cache hits.', ['server', 'type', 'zones', 'view']);
    this.cacheMisses = r.counter('coredns_cache_misses_total', 'The count of cache misses. Deprecated, derive misses from cache hits/requests counters.',
      ['server', 'zones', 'view']);
    this.cacheEntries = r.gauge('coredns_cache_entries', 'The number of elements in the cache.', ['server', 'type', 'zones', 'view']);
    this.forwardRequests = r.counter('coredns_forward_requests_total', 'Counter of requests made per upstream.', ['to']);
    this.forwardResponses = r.counter('coredns_forward_responses_total', 'Counter of responses received per upstream.', ['to', 'rcode']);
    this.forwardDuration = r.histogram('coredns_forward_request_duration_seconds', 'Histogram of the time each request took.',
      exponentialBuckets(0.00025, 2, 16), ['to', 'rcode']);
    this.forwardMaxConcurrentRejects = r.counter('coredns_forward_max_concurrent_rejects_total',
      'Counter of the number of queries rejected because the concurrent queries were at maximum.');
  }

  render(): string { return this.registry.render(); }
}
