// The proxy's observability, as kube-proxy exposes it (pkg/proxy/metrics, pkg/proxy/healthcheck):
//
// - ProxyMetrics: the kubeproxy_* series — sync durations (all, full, partial), the last sync
//   and last queued timestamps, pending and total Service / endpoint changes, nftables sync
//   failures, and network programming latency: for every EndpointSlice change that carried an
//   endpoints.kubernetes.io/last-change-trigger-time annotation newer than the proxy's start,
//   the time from that trigger to the end of the sync that programmed it.
// - ProxyHealth: /healthz and /livez. Healthy unless a change has been waiting longer than the
//   timeout (kube-proxy: twice the sync period) for a sync that programs it; /healthz is also
//   unhealthy when the node is being deleted or carries the autoscaler's ToBeDeleted taint.
// - serveProxyHttp: the two HTTP servers (--metrics-bind-address, --healthz-bind-address).
//
// Everything but serveProxyHttp is pure bookkeeping with an injectable clock, tested without
// sockets.

import * as http from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import { exponentialBuckets, Registry } from '../util/metrics.js';

const SYNC_BUCKETS = exponentialBuckets(0.001, 2, 15);
const linear = (start: number, width: number, count: number) => Array.from({ length: count }, (_, i) => start + width * i);
/** 0.25 s … 5 min, as upstream's network programming histogram. */
const PROGRAMMING_BUCKETS = [...linear(0.25, 0.25, 2), ...linear(1, 1, 59), ...linear(60, 5, 12), ...linear(120, 30, 7)];

/** What a sync took from the pending changes, so a failed sync can give them back. */
export interface SyncToken {
  triggers: Map<string, number[]>;
  services: Set<string>;
  endpoints: Set<string>;
}

export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly now: () => number;
  private readonly startedAt: number;
  private triggers = new Map<string, number[]>();
  private pendingServices = new Set<string>();
  private pendingEndpoints = new Set<string>();

  readonly syncDuration = this.registry.histogram('kubeproxy_sync_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds', SYNC_BUCKETS);
  readonly fullSyncDuration = this.registry.histogram('kubeproxy_sync_full_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for full resyncs', SYNC_BUCKETS);
  readonly partialSyncDuration = this.registry.histogram('kubeproxy_sync_partial_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for partial resyncs', SYNC_BUCKETS);
  readonly lastSync = this.registry.gauge('kubeproxy_sync_proxy_rules_last_timestamp_seconds', 'The last time proxy rules were successfully synced');
  readonly lastQueued = this.registry.gauge('kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds', 'The last time a sync of proxy rules was queued');
  readonly programming = this.registry.histogram('kubeproxy_network_programming_duration_seconds', 'In Cluster Network Programming Latency in seconds', PROGRAMMING_BUCKETS);
  readonly endpointChangesPending = this.registry.gauge('kubeproxy_sync_proxy_rules_endpoint_changes_pending', 'Pending proxy rules Endpoint changes')
    .collect(() => [[{}, this.pendingEndpoints.size]]);
  readonly endpointChanges = this.registry.counter('kubeproxy_sync_proxy_rules_endpoint_changes_total', 'Cumulative proxy rules Endpoint changes');
  readonly serviceChangesPending = this.registry.gauge('kubeproxy_sync_proxy_rules_service_changes_pending', 'Pending proxy rules Service changes')
    .collect(() => [[{}, this.pendingServices.size]]);
  readonly serviceChanges = this.registry.counter('kubeproxy_sync_proxy_rules_service_changes_total', 'Cumulative proxy rules Service changes');
  readonly syncFailures = this.registry.counter('kubeproxy_sync_proxy_rules_nftables_sync_failures_total', 'Cumulative proxy nftables sync failures');
  readonly healthzTotal = this.registry.counter('kubeproxy_proxy_healthz_total', 'Cumulative proxy healthz HTTP status', ['code']);
  readonly livezTotal = this.registry.counter('kubeproxy_proxy_livez_total', 'Cumulative proxy livez HTTP status', ['code']);

  constructor(now: () => number = Date.now) {
    this.now = now;
    this.startedAt = now();
  }

  /** A Service was added, changed or deleted (key "ns/name"). */
  serviceChanged(key: string): void {
    this.serviceChanges.inc();
    this.pendingServices.add(key);
    this.lastQueued.set({}, this.now() / 1000);
  }

  /**
   * An EndpointSlice of Service `key` changed; `triggerTime` is its last-change-trigger-time
   * annotation. Trigger times from before the proxy started are not counted (as upstream: the
   * proxy cannot tell how long those waited for it).
   */
  endpointsChanged(key: string, triggerTime?: string): void {
    this.endpointChanges.inc();
    this.pendingEndpoints.add(key);
    this.lastQueued.set({}, this.now() / 1000);
    if (!triggerTime) return;
    const t = Date.parse(triggerTime);
    if (!Number.isFinite(t) || t < this.startedAt) return;
    const list = this.triggers.get(key);
    if (list) list.push(t); else this.triggers.set(key, [t]);
  }

  /** Takes the pending changes for the sync about to run. */
  beginSync(): SyncToken {
    const tok: SyncToken = { triggers: this.triggers, services: this.pendingServices, endpoints: this.pendingEndpoints };
    this.triggers = new Map();
    this.pendingServices = new Set();
    this.pendingEndpoints = new Set();
    return tok;
  }

  /** The sync succeeded after `seconds`; 'none' (not ready yet) gives the changes back. */
  syncDone(kind: 'full' | 'partial' | 'none', seconds: number, tok: SyncToken): void {
    if (kind === 'none') { this.giveBack(tok); return; }
    this.syncDuration.observe({}, seconds);
    (kind === 'full' ? this.fullSyncDuration : this.partialSyncDuration).observe({}, seconds);
    const now = this.now();
    this.lastSync.set({}, now / 1000);
    for (const times of tok.triggers.values()) {
      for (const t of times) if (now >= t) this.programming.observe({}, (now - t) / 1000);
    }
  }

  syncFailed(tok: SyncToken): void {
    this.syncFailures.inc();
    this.giveBack(tok);
  }

  private giveBack(tok: SyncToken): void {
    for (const [k, times] of tok.triggers) {
      const cur = this.triggers.get(k);
      this.triggers.set(k, cur ? [...times, ...cur] : times);
    }
    for (const k of tok.services) this.pendingServices.add(k);
    for (const k of tok.endpoints) this.pendingEndpoints.add(k);
  }

  render(): string { return this.registry.render(); }
}

/** The autoscaler's taint on a node about to be removed (kube-proxy's healthz reports it). */
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

export interface HealthReply { status: number; headers: Record<string, string>; body: string }

const JSON_HEADERS = { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' };

/** A time as Go's time.Time prints it ("2006-01-02 15:04:05.999999999 -0700 MST", UTC), which kube-proxy's healthz returns. */
export function goTime(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2024-05-01T10:00:00.120Z
  const frac = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac ? `.${frac}` : ''} +0000 UTC`;
}

export class ProxyHealth {
  private lastUpdated: number | undefined;
  private oldestPending: number | undefined;
  private eligible = true;

  constructor(readonly timeoutMs: number, private readonly now: () => number = Date.now, private readonly metrics?: ProxyMetrics) {}

  /** A change arrived that a sync has yet to program. */
  queued(): void { this.oldestPending ??= this.now(); }

  /** A sync programmed everything queued before it started. */
  updated(): void {
    this.oldestPending = undefined;
    this.lastUpdated = this.now();
  }

  /** The node is being deleted or carries the ToBeDeleted taint: /healthz turns 503 (LBs drain the node), /livez does not. */
  setNodeEligible(eligible: boolean): void { this.eligible = eligible; }

  isHealthy(): boolean {
    return this.oldestPending === undefined || this.now() - this.oldestPending < this.timeoutMs;
  }

  healthz(): HealthReply {
    const now = this.now();
    const healthy = this.isHealthy() && this.eligible;
    this.metrics?.healthzTotal.inc({ code: healthy ? '200' : '503' });
    // As upstream: a healthy reply says lastUpdated = now (older clients read it as "the sync loop ran recently").
    const last = healthy ? now : this.lastUpdated;
    return {
      status: healthy ? 200 : 503, headers: JSON_HEADERS,
      body: `{"lastUpdated": ${JSON.stringify(last === undefined ? '' : goTime(last))},"currentTime": ${JSON.stringify(goTime(now))}, "nodeEligible": ${this.eligible}}`,
    };
  }

  livez(): HealthReply {
    const now = this.now();
    const healthy = this.isHealthy();
    this.metrics?.livezTotal.inc({ code: healthy ? '200' : '503' });
    const last = healthy ? now : this.lastUpdated;
    return {
      status: healthy ? 200 : 503, headers: JSON_HEADERS,
      body: `{"lastUpdated": ${JSON.stringify(last === undefined ? '' : goTime(last))},"currentTime": ${JSON.stringify(goTime(now))}}`,
    };
  }
}

/** "127.0.0.1:10249", "[::]:10256", ":10256" (all addresses) → host and port; throws naming the flag. */
export function parseBindAddress(flag: string, v: string): { host?: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(v.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port > 65535) throw new Error(`--${flag} ${JSON.stringify(v)} is not HOST:PORT: give e.g. 127.0.0.1:10249, 0.0.0.0:10256 or [::1]:10249 (port 0: any free port)`);
  const host = m[1] ?? m[2];
  return { ...(host ? { host } : {}), port };
}

/** Listens on host:port (in some network namespace) and returns the listening server. */
export type Listen = (host: string | undefined, port: number) => Promise<Server>;

export type Route = (req: http.IncomingMessage) => HealthReply | undefined;

function reply(res: http.ServerResponse, r: HealthReply): void {
  res.writeHead(r.status, { ...r.headers, 'Content-Length': Buffer.byteLength(r.body) });
  res.end(r.body);
}

/**
 * An HTTP server answering `route` on a listening socket from `listen` (which may have been
 * opened in another network namespace). Resolves with its address and a close function.
 */
export async function serveHttp(listen: Listen, host: string | undefined, port: number, route: Route): Promise<{ address: string; close: () => Promise<void> }> {
  const srv = http.createServer((req, res) => {
    let r: HealthReply | undefined;
    try { r = route(req); } catch (e) { r = { status: 500, headers: { 'Content-Type': 'text/plain' }, body: `${(e as Error).message}\n` }; }
    reply(res, r ?? { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: '404 page not found\n' });
  });
  srv.keepAliveTimeout = 5000;
  const sock = await listen(host, port);
  sock.on('connection', (c) => srv.emit('connection', c));
  const a = sock.address() as AddressInfo;
  const address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  return {
    address,
    close: async () => {
      await new Promise<void>((r) => sock.close(() => r()));
      srv.closeAllConnections();
    },
  };
}

/** /metrics (and /healthz "ok", /proxyMode, as kube-proxy's metrics server has). */
export function metricsRoute(metrics: ProxyMetrics): Route {
  return (req): HealthReply | undefined => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') return { status: 200, headers: { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }, body: metrics.render() };
    if (path === '/healthz') return { status: 200, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' }, body: 'ok' };
    if (path === '/proxyMode') return { status: 200, headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body: 'nftables' };
    return undefined;
  };
}

/** /healthz and /livez. */
export function healthRoute(health: ProxyHealth): Route {
  return (req) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return health.healthz();
    if (path === '/livez') return health.livez();
    return undefined;
  };
}
