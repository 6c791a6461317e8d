// The proxy's shell: informers on Services and EndpointSlices (and this node, for its zone)
// feed the Proxier; a bounded-frequency runner syncs; the real nft backend applies the result in
// the node's network namespace. Handlers only record what changed (STYLE.md item 1).

import type { KObject } from '../api/meta.js';
import { ApiClient } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { ENDPOINTSLICES, NODES, SERVICES } from '../client/resources.js';
import { EventRecorder } from '../controllers/scheduler.js';
import { NftSession, RealNft, type NftBackend } from '../net/nft.js';
import { runConntrack } from './conntrack.js';
import { listenIn, listenHere, ServiceHealthServer } from './healthcheck.js';
import { healthRoute, metricsRoute, parseBindAddress, ProxyHealth, ProxyMetrics, serveHttp, TO_BE_DELETED_TAINT } from './metrics.js';
import { PROXY_LABEL_SELECTOR, stripEndpointSlice, stripService, type ServiceRecord, type SliceRecord } from './model.js';
import { describeFullSync, Proxier } from './proxier.js';
import { defaultConfig, type ProxyConfig } from './rules.js';
import { BoundedFrequencyRunner } from './runner.js';

export { Proxier } from './proxier.js';
export { defaultConfig, DEFAULT_TABLE } from './rules.js';

const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** What the informers cache: the stripped record (or the reason there is none) under minimal metadata. */
interface Held<T> extends KObject { rec?: T; error?: string; kindName: string }

function hold<T>(kind: string, strip: (o: unknown) => { ok: true; rec: T } | { ok: false; error: string } | undefined) {
  return (o: KObject): Held<T> => {
    const md = o.metadata ?? {};
    const meta = { name: md.name, namespace: md.namespace, resourceVersion: md.resourceVersion, uid: md.uid };
    const r = strip(o);
    if (!r) return { metadata: meta, kindName: kind };
    return r.ok ? { metadata: meta, rec: r.rec, kindName: kind } : { metadata: meta, error: r.error, kindName: kind };
  };
}

export interface ProxyOptions {
  kubeconfig: string;
  /** A client to share (a node daemon's); the component then neither creates nor closes its own. */
  client?: ApiClient;
  nodeName: string;
  /** Network namespace the node lives in (the table is programmed there). */
  netns?: string;
  table?: string;
  clusterCIDRs?: string[];
  /** Addresses that accept NodePorts (default: all the node's local addresses). */
  nodePortAddresses?: string[];
  minSyncPeriodMs?: number;
  syncPeriodMs?: number;
  /** Another backend (tests). */
  backend?: NftBackend;
  /** Clear UDP conntrack entries of removed endpoints (needs the conntrack tool). Default true. */
  conntrack?: boolean;
  /** /metrics on HOST:PORT in this process's namespace (kube-proxy: 127.0.0.1:10249); omitted or '' = not served. */
  metricsBindAddress?: string;
  /** /healthz and /livez on HOST:PORT in the node's namespace (kube-proxy: 0.0.0.0:10256); omitted or '' = not served. */
  healthzBindAddress?: string;
  /** Serve the healthCheckNodePort of LoadBalancer Services with externalTrafficPolicy Local, in the node's namespace. Default true. */
  serviceHealthChecks?: boolean;
  log?: (msg: string) => void;
}

export interface RunningProxy {
  proxier: Proxier;
  metrics: ProxyMetrics;
  health: ProxyHealth;
  /** Where /metrics and /healthz are served ("host:port"), when they are. */
  metricsAddress?: string;
  healthzAddress?: string;
  /** Resolves after the next sync that started after this call has finished. */
  synced(): Promise<void>;
  stop(): Promise<void>;
}

export async function startProxy(opts: ProxyOptions): Promise<RunningProxy> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`podnet proxy: ${m}\n`));
  const cfg: ProxyConfig = defaultConfig(opts.nodeName, {
    ...(opts.table ? { table: opts.table } : {}),
    clusterCIDRs: opts.clusterCIDRs ?? [],
    nodePortAddresses: opts.nodePortAddresses ?? [],
  });
  // One long-lived `nft -i` for partial syncs and the structure of full syncs; full syncs load
  // map elements over netlink (proxier.ts), or through `nft -f` without the addon.
  const session = opts.backend ? undefined : new NftSession('inet', cfg.table, opts.netns);
  const backend = opts.backend ?? session!;
  let conntrackBroken = false;
  const proxier = new Proxier({
    config: cfg, backend, log, syncPeriodMs: opts.syncPeriodMs,
    conntrack: opts.conntrack === false ? undefined : async (args) => {
      if (conntrackBroken) return;
      try { await runConntrack(args, opts.netns); } catch (e) {
        if (/could not start|ENOENT/.test((e as Error).message)) { conntrackBroken = true; log('conntrack is not installed: stale UDP flows will not be cleared'); return; }
        throw e;
      }
    },
  });

  const metrics = new ProxyMetrics();
  // As kube-proxy: unhealthy when a change has waited for twice the sync period.
  const health = new ProxyHealth(2 * (opts.syncPeriodMs ?? 30_000), Date.now, metrics);
  const nodeListen = listenIn(opts.netns);

  const client = opts.client ?? new ApiClient(loadKubeconfig(opts.kubeconfig), { userAgent: `podnet-proxy/${opts.nodeName}` });
  const healthChecks = opts.serviceHealthChecks === false ? undefined : new ServiceHealthServer({
    listen: nodeListen, proxyHealthy: () => health.isHealthy(), log,
    onListenError: (key, port, err) => {
      const [namespace, name] = key.split('/') as [string, string];
      void events.event({ kind: 'Service', apiVersion: 'v1', name, namespace }, 'Warning', 'FailedToStartServiceHealthcheck',
        `node ${opts.nodeName} failed to start healthcheck "${key}" on port ${port}: ${err.message}`);
    },
  });
  const events = new EventRecorder(client, 'podnet-proxy', opts.nodeName);
  const reported = new Set<string>();
  const report = (h: Held<unknown>, kind: string, apiVersion: string) => {
    const id = `${kind}/${h.metadata?.namespace}/${h.metadata?.name}@${h.metadata?.resourceVersion}`;
    if (reported.has(id)) return;
    reported.add(id);
    log(`skipping ${h.error}`);
    void events.event({ kind, apiVersion, name: h.metadata?.name ?? '', namespace: h.metadata?.namespace, uid: h.metadata?.uid },
      'Warning', 'FailedToProgram', `podnet proxy on ${opts.nodeName} ignores this object: ${h.error}`);
  };

  let runner: BoundedFrequencyRunner | undefined;
  const kick = () => { health.queued(); if (proxier.ready) runner?.run(); };
  const keyOf = (h: KObject) => `${h.metadata?.namespace}/${h.metadata?.name}`;

  const svcInformer = new Informer<Held<ServiceRecord>>(client.resource(SERVICES), {
    name: 'proxy services', labelSelector: PROXY_LABEL_SELECTOR, transform: hold('Service', stripService),
    handlers: {
      onAdd: (h) => { upsertSvc(h); kick(); },
      onUpdate: (_o, h) => { upsertSvc(h); kick(); },
      onDelete: (h) => { proxier.deleteService(keyOf(h)); metrics.serviceChanged(keyOf(h)); kick(); },
    },
  });
  const upsertSvc = (h: Held<ServiceRecord>) => {
    metrics.serviceChanged(keyOf(h));
    if (h.rec) proxier.upsertService(h.rec);
    else { if (h.error) report(h, 'Service', 'v1'); proxier.deleteService(keyOf(h)); }
  };
  const sliceInformer = new Informer<Held<SliceRecord>>(client.resource(ENDPOINTSLICES), {
    name: 'proxy endpointslices', labelSelector: PROXY_LABEL_SELECTOR, transform: hold('EndpointSlice', stripEndpointSlice),
    handlers: {
      onAdd: (h) => { upsertSlice(h); kick(); },
      onUpdate: (_o, h) => { upsertSlice(h); kick(); },
      onDelete: (h) => { proxier.deleteSlice(keyOf(h)); metrics.endpointsChanged(keyOf(h)); kick(); },
    },
  });
  const upsertSlice = (h: Held<SliceRecord>) => {
    metrics.endpointsChanged(h.rec ? `${h.rec.namespace}/${h.rec.serviceName}` : keyOf(h), h.rec?.triggerTime);
    if (h.rec) proxier.upsertSlice(h.rec);
    else { if (h.error) report(h, 'EndpointSlice', 'discovery.k8s.io/v1'); proxier.deleteSlice(keyOf(h)); }
  };
  let zone: string | undefined;
  const nodeInformer = new Informer<KObject>(client.resource(NODES), {
    name: 'proxy node', fieldSelector: `metadata.name=${opts.nodeName}`,
    transform: (o) => ({
      metadata: { name: o.metadata?.name, resourceVersion: o.metadata?.resourceVersion, labels: { ...(o.metadata?.labels?.[ZONE_LABEL] ? { [ZONE_LABEL]: o.metadata.labels[ZONE_LABEL] } : {}) } },
      // A node being deleted or drained by the autoscaler fails /healthz, so load balancers leave it.
      eligible: !o.metadata?.deletionTimestamp && !((o.spec as { taints?: { key?: string }[] } | undefined)?.taints ?? []).some((t) => t.key === TO_BE_DELETED_TAINT),
    }),
    handlers: {
      onAdd: (n) => { health.setNodeEligible(n.eligible !== false); onNode(n.metadata?.labels?.[ZONE_LABEL]); },
      onUpdate: (_o, n) => { health.setNodeEligible(n.eligible !== false); onNode(n.metadata?.labels?.[ZONE_LABEL]); },
      onDelete: () => { health.setNodeEligible(false); onNode(undefined); },
    },
  });
  const onNode = (z: string | undefined) => {
    if (z === zone) return;
    zone = z;
    proxier.setConfig({ ...cfg, ...(z ? { zone: z } : {}) });
    kick();
  };

  // Waiters for synced(): resolved by the first sync that starts after they were added.
  let waiting: (() => void)[] = [];
  const syncOnce = async () => {
    const mine = waiting; waiting = [];
    const tok = metrics.beginSync();
    try {
      const t0 = performance.now();
      let r;
      try { r = await proxier.sync(); } catch (e) { metrics.syncFailed(tok); throw e; }
      metrics.syncDone(r.kind, (performance.now() - t0) / 1000, tok);
      if (r.kind !== 'none') health.updated();
      await healthChecks?.sync(proxier.healthCheckTargets());
      const timings = r.kind === 'full' ? proxier.lastFullSyncTimings : undefined;
      if (r.kind !== 'none' && (r.ops > 0 || r.staleDeleted > 0)) log(`${r.kind} sync: ${r.services.length} service(s), ${r.ops} op(s)${r.staleDeleted ? `, ${r.staleDeleted} stale chain(s) deleted` : ''}${timings ? `; ${describeFullSync(timings)}` : ''}`);
      const due = proxier.staleDueInMs();
      if (due !== undefined) runner?.retryAfter(due + 50);
      for (const f of mine) f();
    } catch (e) {
      waiting.push(...mine);
      throw e;
    }
  };
  let retryMs = 1000;
  runner = new BoundedFrequencyRunner(async () => {
    try { await syncOnce(); retryMs = 1000; } catch (e) {
      log(`sync failed (next sync is full, in ${retryMs} ms): ${(e as Error).message}`);
      runner!.retryAfter(retryMs);
      retryMs = Math.min(retryMs * 2, 30_000);
    }
  }, { minIntervalMs: opts.minSyncPeriodMs ?? 1000, maxIntervalMs: Math.min(opts.syncPeriodMs ?? 30_000, 30_000), burst: 2 });

  svcInformer.start(); sliceInformer.start(); nodeInformer.start();
  const ok = (await Promise.all([svcInformer.waitForSync(), sliceInformer.waitForSync()])).every(Boolean);
  if (!ok) throw new Error('informers stopped before they synced');
  proxier.ready = true;
  health.queued(); // the first sync is due
  runner.start();

  // The servers are auxiliary: one that cannot listen is logged, and the proxy goes on (as kube-proxy's).
  const servers: Array<{ close: () => Promise<void> }> = [];
  const serve = async (what: string, flag: string, addr: string | undefined, listen: typeof listenHere, route: Parameters<typeof serveHttp>[3]) => {
    if (!addr) return undefined;
    try {
      const { host, port } = parseBindAddress(flag, addr);
      const s = await serveHttp(listen, host, port, route);
      servers.push(s);
      log(`serving ${what} on http://${s.address}`);
      return s.address;
    } catch (e) {
      log(`cannot serve ${what} on ${addr}: ${(e as Error).message}`);
      return undefined;
    }
  };
  const metricsAddress = await serve('metrics', 'metrics-bind-address', opts.metricsBindAddress, listenHere, metricsRoute(metrics));
  const healthzAddress = await serve('healthz', 'healthz-bind-address', opts.healthzBindAddress, nodeListen, healthRoute(health));

  return {
    proxier, metrics, health,
    ...(metricsAddress ? { metricsAddress } : {}),
    ...(healthzAddress ? { healthzAddress } : {}),
    synced: () => new Promise<void>((resolve) => { waiting.push(resolve); runner!.run(); }),
    stop: async () => {
      await runner!.stop();
      await session?.close();
      proxier.close();
      await Promise.all([svcInformer.stop(), sliceInformer.stop(), nodeInformer.stop()]);
      await Promise.all([...servers.map((s) => s.close()), healthChecks?.close()]);
      if (!opts.client) client.close();
      for (const f of waiting) f();
    },
  };
}

/** `--cleanup`: removes the proxy's table from the node's namespace. */
export async function cleanupProxy(opts: { netns?: string; table?: string }): Promise<void> {
  const backend = new RealNft('inet', opts.table ?? defaultConfig('').table, opts.netns);
  const tx = backend.newTransaction();
  tx.destroy({ kind: 'table' });
  await backend.run(tx);
}
