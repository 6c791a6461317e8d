// The cluster DNS server's shell: informers on Services, EndpointSlices, Namespaces and (in
// "verified" pod mode) Pods strip each object on arrival and update the in-memory index from
// their handlers, so answers follow the API within one watch event — no polling. Then the UDP
// and TCP listeners, forwarding with its cache and loop probe, and the HTTP endpoints.

import type { KObject } from '../api/meta.js';
import { ApiClient } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { ENDPOINTSLICES, NAMESPACES, PODS, SERVICES } from '../client/resources.js';
import { DnsCache } from './cache.js';
import { Forwarder, type Upstream } from './forward.js';
import { startHttp, type RunningHttp } from './http.js';
import { DnsMetrics } from './metrics.js';
import { MemoryIndex, stripEndpointSlice, stripPod, stripService, type PodRecord, type ServiceRecord, type SliceRecord } from './records.js';
import { defaultResolverConfig, type ResolverConfig } from './resolver.js';
import { DnsServer, type ListenAddress } from './server.js';

export { DnsServer, parseListen } from './server.js';
export { MemoryIndex } from './records.js';
export { resolve, defaultResolverConfig } from './resolver.js';


export interface DnsOptions {
  kubeconfig: string;
  listen: ListenAddress[];
  resolver?: Partial<ResolverConfig>;
  /** Undefined or empty: no forwarding (names outside the cluster are REFUSED). */
  upstreams?: Upstream[];
  /** Cap on cached upstream TTLs, positive and negative (s); 0 turns the cache off. */
  cacheTtl?: number;
  /** Where /metrics, /health and /ready are served (each address serves all three). */
  http?: ListenAddress[];
  /** How long to wait for the first list before serving anyway (CoreDNS waits 5 s). */
  syncTimeoutMs?: number;
  log?: (msg: string) => void;
  onLoop?: (msg: string) => void;
}

export interface RunningDns {
  server: DnsServer;
  index: MemoryIndex;
  http?: RunningHttp;
  /** True once every informer has listed. */
  synced(): boolean;
  stop(): Promise<void>;
}

/** What the informers cache: the stripped record under the metadata the informer keys on. */
interface Held<T> extends KObject { rec: T }

function hold<T>(strip: (o: unknown) => T) {
  return (o: KObject): Held<T> => ({
    metadata: { name: o.metadata?.name, namespace: o.metadata?.namespace, resourceVersion: o.metadata?.resourceVersion },
    rec: strip(o),
  });
}

export async function startDns(opts: DnsOptions): Promise<RunningDns> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`podnet dns: ${m}\n`));
  const cfg = defaultResolverConfig(opts.resolver);
  const client = new ApiClient(loadKubeconfig(opts.kubeconfig), { userAgent: 'podnet-dns' });
  const index = new MemoryIndex();
  const onError = (err: unknown, context: string) => log(`${context}: ${err instanceof Error ? err.message : String(err)}`);

  const services = new Informer<Held<ServiceRecord>>(client.resource(SERVICES), {
    name: 'dns services', transform: hold(stripService), onError,
    handlers: {
      onAdd: (h) => index.upsertService(h.rec),
      onUpdate: (_o, h) => index.upsertService(h.rec),
      onDelete: (h) => index.deleteService(h.rec.namespace, h.rec.name),
    },
  });
  const slices = new Informer<Held<SliceRecord>>(client.resource(ENDPOINTSLICES), {
    name: 'dns endpointslices', transform: hold(stripEndpointSlice), onError,
    handlers: {
      onAdd: (h) => index.upsertSlice(h.rec),
      onUpdate: (_o, h) => index.upsertSlice(h.rec),
      onDelete: (h) => index.deleteSlice(h.rec.namespace, h.rec.name),
    },
  });
  const namespaces = new Informer<KObject>(client.resource(NAMESPACES), {
    name: 'dns namespaces', onError,
    transform: (o) => ({ metadata: { name: o.metadata?.name, resourceVersion: o.metadata?.resourceVersion } }),
    handlers: {
      onAdd: (o) => index.addNamespace(o.metadata?.name ?? ''),
      onDelete: (o) => index.deleteNamespace(o.metadata?.name ?? ''),
    },
  });
  const informers: Array<Informer<KObject>> = [services, slices, namespaces] as unknown as Array<Informer<KObject>>;
  // Pods are only needed to verify pod records (CoreDNS watches them only in that mode).
  if (cfg.podMode === 'verified') {
    const pods = new Informer<Held<PodRecord>>(client.resource(PODS), {
      name: 'dns pods', transform: hold(stripPod), onError,
      handlers: {
        onAdd: (h) => index.upsertPod(h.rec),
        onUpdate: (_o, h) => index.upsertPod(h.rec),
        onDelete: (h) => index.deletePod(h.rec.namespace, h.rec.name),
      },
    });
    informers.push(pods as unknown as Informer<KObject>);
  }
  for (const i of informers) i.start();
  const synced = () => informers.every((i) => i.hasSynced());

  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.syncTimeoutMs ?? 5000);
  await Promise.all(informers.map((i) => i.waitForSync(abort.signal)));
  clearTimeout(timer);
  if (!synced()) log('starting with an unsynced view of the API (answers may be incomplete until it lists)');

  const metrics = new DnsMetrics();
  const cacheTtl = opts.cacheTtl ?? 30;
  const forwarder = opts.upstreams?.length ? new Forwarder({ upstreams: opts.upstreams, metrics }) : undefined;
  const cache = forwarder && cacheTtl > 0 ? new DnsCache({ maxTtl: cacheTtl, maxNegativeTtl: cacheTtl, capacity: 9984 }) : undefined;
  const server = new DnsServer({ listen: opts.listen, resolver: cfg, index, forwarder, cache, metrics, log, onLoop: opts.onLoop });
  let http: RunningHttp | undefined;
  try {
    await server.start();
    if (opts.http?.length) {
      http = await startHttp(opts.http, {
        metrics: () => metrics.render(),
        notReady: () => (synced() ? [] : ['kubernetes']),
      });
    }
  } catch (e) {
    await server.stop();
    await Promise.all(informers.map((i) => i.stop()));
    throw e;
  }
  if (forwarder) void server.probeForLoops();

  return {
    server, index, http, synced,
    stop: async () => {
      await server.stop();
      await http?.close();
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
