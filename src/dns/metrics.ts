// The DNS server's metrics, named and labelled as CoreDNS's where they mean the same thing
// (plugin/metrics, plugin/cache, plugin/forward), so dashboards built for CoreDNS read them.

import { Registry, exponentialBuckets, type Counter, type Gauge, type Histogram } from '../util/metrics.js';
import { typeName } from './wire.js';

type Labels = Record<string, string>;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labelText = (names: readonly string[], values: readonly string[], extra?: string) => {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
};

/** One labelled series of a counter; the per-query path holds these instead of label objects. */
export class CounterSeries {
  value = 0;
  constructor(readonly values: readonly string[]) {}
  inc(by = 1): void { this.value += by; }
}

/**
 * A counter whose series are looked up once and then updated directly (util/metrics' Counter
 * joins the label values on every update, which is most of the cost of a cached answer).
 * Same text format.
 */
export class SeriesCounter {
  private readonly series = new Map<string, CounterSeries>();
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[] = []) {}
  child(labels: Labels = {}): CounterSeries {
    const values = this.labelNames.map((n) => labels[n] ?? '');
    const k = values.join('\u0000');
    let s = this.series.get(k);
    if (!s) { s = new CounterSeries(values); this.series.set(k, s); }
    return s;
  }
  inc(labels: Labels = {}, by = 1): void { this.child(labels).inc(by); }
  get(labels: Labels = {}): number { return this.series.get(this.labelNames.map((n) => labels[n] ?? '').join('\u0000'))?.value ?? 0; }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const s of this.series.values()) lines.push(`${this.name}${labelText(this.labelNames, s.values)} ${s.value}`);
    return lines.join('\n');
  }
}

/** One labelled series of a histogram: counts per bucket (not cumulative until rendered). */
export class HistogramSeries {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly values: readonly string[], private readonly buckets: readonly number[]) {
    this.counts = new Array<number>(buckets.length + 1).fill(0);
  }
  observe(v: number): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
  }
}

export class SeriesHistogram {
  private readonly series = new Map<string, HistogramSeries>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[], readonly labelNames: readonly string[] = []) {}
  child(labels: Labels = {}): HistogramSeries {
    const values = this.labelNames.map((n) => labels[n] ?? '');
    const k = values.join('\u0000');
    let s = this.series.get(k);
    if (!s) { s = new HistogramSeries(values, this.buckets); this.series.set(k, s); }
    return s;
  }
  observe(labels: Labels, v: number): void { this.child(labels).observe(v); }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += s.counts[i];
        lines.push(`${this.name}_bucket${labelText(this.labelNames, s.values, `le="${b}"`)} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${labelText(this.labelNames, s.values, 'le="+Inf"')} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(this.labelNames, s.values)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(this.labelNames, s.values)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

/** The series one answered query updates, resolved once per (proto, family, type, rcode, plugin). */
export interface QueryStats {
  requests: CounterSeries;
  responses: CounterSeries;
  requestSize: HistogramSeries;
  responseSize: HistogramSeries;
  duration: HistogramSeries;
}

/** CoreDNS reports these query types by name and everything else as "other". */
const MONITORED_TYPES = new Set(['A', 'AAAA', 'NS', 'PTR', 'SOA', 'CNAME', 'MX', 'TXT', 'SRV', 'HINFO', 'ANY', 'AXFR', 'IXFR', 'OPT']);
export const metricType = (t: number): string => { const n = typeName(t); return MONITORED_TYPES.has(n) ? n : 'other'; };

const SIZE_BUCKETS = [0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000];

export class DnsMetrics {
  readonly registry = new Registry();
  readonly requests: SeriesCounter;
  readonly responses: SeriesCounter;
  readonly duration: SeriesHistogram;
  readonly requestSize: SeriesHistogram;
  readonly responseSize: SeriesHistogram;
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
    this.requests = r.register(new SeriesCounter('coredns_dns_requests_total', 'Counter of DNS requests made per zone, protocol and family.',
      ['server', 'zone', 'view', 'proto', 'family', 'type']));
    this.responses = r.register(new SeriesCounter('coredns_dns_responses_total', 'Counter of response status codes.', ['server', 'zone', 'view', 'rcode', 'plugin']));
    this.duration = r.register(new SeriesHistogram('coredns_dns_request_duration_seconds', 'Histogram of the time (in seconds) each request took per zone.',
      exponentialBuckets(0.00025, 2, 16), ['server', 'zone', 'view', 'type']));
    this.requestSize = r.register(new SeriesHistogram('coredns_dns_request_size_bytes', 'Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.',
      SIZE_BUCKETS, ['server', 'zone', 'view', 'proto']));
    this.responseSize = r.register(new SeriesHistogram('coredns_dns_response_size_bytes', 'Size of the returned response in bytes.',
      SIZE_BUCKETS, ['server', 'zone', 'view', 'proto']));
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

  private readonly stats = new Map<string, QueryStats>();

  /** The series a query with these labels updates (memoized: a handful of combinations occur). */
  queryStats(proto: string, family: string, type: string, rcode: string, plugin: string): QueryStats {
    const server = this.server, zone = '.', view = '';
    const k = `${server}\u0000${proto}\u0000${family}\u0000${type}\u0000${rcode}\u0000${plugin}`;
    let s = this.stats.get(k);
    if (!s) {
      s = {
        requests: this.requests.child({ server, zone, view, proto, family, type }),
        responses: this.responses.child({ server, zone, view, rcode, plugin }),
        requestSize: this.requestSize.child({ server, zone, view, proto }),
        responseSize: this.responseSize.child({ server, zone, view, proto }),
        duration: this.duration.child({ server, zone, view, type }),
      };
      this.stats.set(k, s);
    }
    return s;
  }

  render(): string { return this.registry.render(); }
}
