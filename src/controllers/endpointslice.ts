// The EndpointSlice controller (kube-controller-manager's "endpointslice"): keeps, for every
// Service with a selector, EndpointSlices listing the pods it selects. The decisions are the
// pure reconciler in ./endpointslice/reconciler.ts; this file is the thin shell around it:
//  - informers on Services, Pods, Nodes and EndpointSlices (shared with the other endpoint
//    controllers) whose handlers only enqueue Service keys;
//  - pod-driven syncs are delayed by the batching period (--endpoint-updates-batch-period,
//    upstream default 0), changes to its own slices by at least a second;
//  - an EndpointSliceTracker so a sync never acts on a cache that has not caught up with the
//    controller's own writes (that would create duplicate slices): such a sync is retried;
//  - a topology cache fed from Nodes; a Node change requeues the Services whose hints it overloads;
//  - errors are retried with per-Service backoff 1 s … 1000 s, at most 15 times.
// Services without a selector (and ExternalName ones) are left alone: their slices are the user's
// (or the endpointslicemirroring controller's).

import { StatusError } from '../api/errors.js';
import type { ApiClient, ResourceClient } from '../client/client.js';
import { keyOf } from '../client/informer.js';
import { BucketRateLimiter, ItemExponentialRateLimiter, MaxOfRateLimiter, runWorkers, WorkQueue } from '../client/workqueue.js';
import type { ControllerContext } from './manager.js';
import { EventRecorder } from './scheduler.js';
import { trackedRecorder } from './replicaset.js';
import {
  startOnEndpointInformers, ENDPOINTSLICES, SLICE_SERVICE_INDEX, servicesToUpdateOnPodChange, type EndpointInformers,
} from './endpointslice/informers.js';
import { DEFAULT_MAX_ENDPOINTS_PER_SLICE, reconcile } from './endpointslice/reconciler.js';
import { TopologyCache } from './endpointslice/topology.js';
import { EndpointSliceTracker, StaleInformerCacheError, TriggerTimeTracker } from './endpointslice/trackers.js';
import {
  ENDPOINTSLICE_CONTROLLER_NAME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, LABEL_TOPOLOGY_ZONE,
  type EndpointPod, type EndpointSlice, type NodeRecord, type ServiceRecord,
} from './endpointslice/types.js';

export interface EndpointSliceControllerOptions {
  /**
   * --concurrent-service-endpoint-syncs. Upstream runs 5 goroutines; here a worker is an async
   * loop that spends nearly all its time waiting on the API server, whose durable store commits
   * concurrent writes together, so the default is 20 (DEFAULT_WORKERS).
   */
  workers?: number;
  /** --max-endpoints-per-slice (upstream default 100). */
  maxEndpointsPerSlice?: number;
  /** --endpointslice-updates-batch-period in ms (upstream default 0). */
  batchPeriodMs?: number;
  /** PreferSameZone / PreferSameNode trafficDistribution (upstream's PreferSameTrafficDistribution gate). */
  preferSameTrafficDistribution?: boolean;
}

export const DEFAULT_WORKERS = 20;

/** A sync is retried this many times before the Service is dropped until its next change. */
export const MAX_RETRIES = 15;
/** Minimum delay before syncing after one of the controller's slices changed. */
export const SLICE_CHANGE_MIN_SYNC_DELAY_MS = 1000;

const notFound = (e: unknown) => e instanceof StatusError && e.code === 404;
const namespaceTerminating = (e: unknown) => e instanceof StatusError &&
  (e.status.details?.causes ?? []).some((c) => c.reason === 'NamespaceTerminating');

/** Runs writes in parallel, up to `n` at a time, and rethrows the first failure after all settle. */
async function inParallel<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  let first: unknown;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) {
      const t = items[i++]!;
      try { await fn(t); } catch (e) { first ??= e; }
    }
  }));
  if (first !== undefined) throw first;
}

export async function startEndpointSliceController(ctx: ControllerContext, opts: EndpointSliceControllerOptions = {}): Promise<() => Promise<void>> {
  return startOnEndpointInformers(ctx.informers, ctx.client, (inf) => new EndpointSliceController(ctx.client, inf, opts));
}

export class EndpointSliceController {
  readonly queue: WorkQueue<string>;
  readonly tracker = new EndpointSliceTracker();
  readonly triggerTimes = new TriggerTimeTracker();
  readonly topology = new TopologyCache();
  private readonly sliceApi: ResourceClient<EndpointSlice>;
  private readonly events;
  private readonly batchMs: number;
  private readonly maxPerSlice: number;
  private readonly removers: (() => void)[] = [];
  private workers: Promise<void>[] = [];
  private topologyPending = false;
  private stopped = false;
  /**
   * Services whose last sync found the slice cache behind the controller's own writes. Upstream
   * simply retries after its backoff (1 s); here the slice event that brings the cache up to
   * date also requeues the Service at once, so a stale cache costs milliseconds, not a second.
   */
  private readonly awaitingCache = new Set<string>();

  constructor(client: ApiClient, private readonly inf: EndpointInformers, private readonly opts: EndpointSliceControllerOptions = {}) {
    // Upstream backs off from 1 s (not client-go's 5 ms): a failing sync can mean many writes.
    this.queue = new WorkQueue<string>({
      name: 'endpoint_slice',
      rateLimiter: new MaxOfRateLimiter(new ItemExponentialRateLimiter(1000, 1_000_000), new BucketRateLimiter(10, 100)),
    });
    this.sliceApi = client.resource<EndpointSlice>(ENDPOINTSLICES);
    this.events = trackedRecorder(new EventRecorder(client, 'endpoint-slice-controller'));
    this.batchMs = opts.batchPeriodMs ?? 0;
    this.maxPerSlice = opts.maxEndpointsPerSlice ?? DEFAULT_MAX_ENDPOINTS_PER_SLICE;
  }

  async start(): Promise<void> {
    const { inf } = this;
    const services = inf.services(), pods = inf.pods(), nodes = inf.nodes(), slices = inf.slices();
    this.removers.push(services.addEventHandler({
      onAdd: (s) => this.queue.add(keyOf(s)),
      onUpdate: (_o, s) => this.queue.add(keyOf(s)),
      onDelete: (s) => this.queue.add(keyOf(s)),
    }));
    this.removers.push(pods.addEventHandler({
      onAdd: (p) => this.onPod(p),
      onUpdate: (o, p) => { for (const k of servicesToUpdateOnPodChange(inf, o, p)) this.queue.addAfter(k, this.batchMs); },
      onDelete: (p) => this.onPod(p),
    }));
    this.removers.push(nodes.addEventHandler({
      onAdd: () => this.topologyChanged(),
      onUpdate: (o: NodeRecord, n: NodeRecord) => {
        // A zone label may be added after the Node is created (by a cloud provider).
        if (o.ready !== n.ready || o.metadata.labels?.[LABEL_TOPOLOGY_ZONE] !== n.metadata.labels?.[LABEL_TOPOLOGY_ZONE]) this.topologyChanged();
      },
      onDelete: () => this.topologyChanged(),
    }));
    const caughtUp = (s: EndpointSlice) => {
      const svc = s.metadata.labels?.[LABEL_SERVICE_NAME];
      const key = `${s.metadata.namespace ?? ''}/${svc ?? ''}`;
      if (svc && this.awaitingCache.delete(key)) this.queue.add(key);
    };
    this.removers.push(slices.addEventHandler({
      onAdd: (s) => { caughtUp(s); if (this.managed(s) && this.tracker.shouldSync(s)) this.queueForSlice(s); },
      onUpdate: (o, s) => {
        caughtUp(s);
        // Users may relabel a slice to another Service; the controller never does.
        const svc = s.metadata.labels?.[LABEL_SERVICE_NAME], prev = o.metadata.labels?.[LABEL_SERVICE_NAME];
        if (svc !== prev) { this.queueForSlice(s); this.queueForSlice(o); return; }
        if (this.managed(o) !== this.managed(s) || (this.managed(s) && this.tracker.shouldSync(s))) this.queueForSlice(s);
      },
      onDelete: (s) => {
        caughtUp(s);
        if (this.managed(s) && this.tracker.has(s) && !this.tracker.handleDeletion(s)) this.queueForSlice(s);
      },
    }));
    const synced = await Promise.all([services.waitForSync(), pods.waitForSync(), nodes.waitForSync(), slices.waitForSync()]);
    if (!synced.every(Boolean) || this.stopped) return;
    this.topology.setNodes(nodes.list());
    const n = Math.max(1, this.opts.workers ?? DEFAULT_WORKERS);
    this.workers.push(runWorkers(this.queue, n, (key) => this.sync(key), {
      maxRetries: MAX_RETRIES,
      onError: (key, e) => {
        if (e instanceof StaleInformerCacheError) this.awaitingCache.add(key as string);
        if (!(e instanceof StaleInformerCacheError) && !(e instanceof StatusError && e.code === 409)) console.error(`podnet endpointslice controller: ${String(key)}: ${(e as Error).message}`);
      },
    }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const r of this.removers.splice(0)) r();
    this.queue.shutDown();
    await Promise.race([Promise.all(this.workers), new Promise((r) => setTimeout(r, 2000))]);
    await this.events.flush();
  }

  private managed(s: EndpointSlice): boolean { return s.metadata.labels?.[LABEL_MANAGED_BY] === ENDPOINTSLICE_CONTROLLER_NAME; }

  private onPod(p: EndpointPod): void {
    for (const k of this.inf.servicesForLabels(p.metadata.namespace ?? '', p.metadata.labels)) this.queue.addAfter(k, this.batchMs);
  }

  private queueForSlice(s: EndpointSlice): void {
    const svc = s.metadata.labels?.[LABEL_SERVICE_NAME];
    if (!svc) return;
    this.queue.addAfter(`${s.metadata.namespace ?? ''}/${svc}`, Math.max(SLICE_CHANGE_MIN_SYNC_DELAY_MS, this.batchMs));
  }

  /** checkNodeTopologyDistribution, coalesced: one recomputation per burst of Node events. */
  private topologyChanged(): void {
    if (this.topologyPending || !this.inf.nodes().hasSynced()) return;
    this.topologyPending = true;
    setImmediate(() => {
      this.topologyPending = false;
      if (this.stopped) return;
      this.topology.setNodes(this.inf.nodes().list());
      for (const k of this.topology.overloadedServices()) this.queue.add(k);
    });
  }


  /** syncService */
  async sync(key: string): Promise<void> {
    const { inf } = this;
    const [namespace, name] = splitKey(key);
    const svc = inf.services().getByKey(key);
    if (!svc) {
      this.triggerTimes.deleteService(namespace, name);
      this.tracker.deleteService(namespace, name);
      for (const at of ['IPv4', 'IPv6']) this.topology.removeHints(key, at);
      return;
    }
    if (svc.spec.type === 'ExternalName' || !svc.spec.selector) return;
    const pods = inf.podsForService(svc);
    const slices = inf.slices().byIndex(SLICE_SERVICE_INDEX, key)
      .filter((s) => this.managed(s) && !s.metadata.deletionTimestamp);
    if (this.tracker.staleSlices(svc, slices)) throw new StaleInformerCacheError('EndpointSlice informer cache is out of date');
    const triggerTime = this.triggerTimes.compute(namespace, svc, pods);
    const nodes = inf.nodes();
    const plan = reconcile({ service: svc, pods, existing: slices, node: (n) => nodes.get(undefined, n), triggerTime }, {
      maxEndpointsPerSlice: this.maxPerSlice, topology: this.topology,
      preferSameTrafficDistribution: this.opts.preferSameTrafficDistribution ?? true,
    });
    try {
      await this.apply(svc, plan);
    } catch (e) {
      this.event(svc, 'Warning', 'FailedToUpdateEndpointSlices', `Error updating Endpoint Slices for Service ${key}: ${(e as Error).message}`);
      throw e;
    } finally {
      for (const ev of plan.events) this.event(svc, ev.type, ev.reason, ev.message);
    }
    if (plan.errors.length) throw new Error(plan.errors.join('; '));
  }

  private async apply(svc: ServiceRecord, plan: { create: EndpointSlice[]; update: EndpointSlice[]; delete: EndpointSlice[] }): Promise<void> {
    const api = this.sliceApi.inNamespace(svc.metadata.namespace);
    const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
    try {
      await inParallel(plan.create, 4, async (s) => this.tracker.update(await api.create(s)));
    } catch (e) {
      // Creates keep failing in a terminating namespace: drop the Service until it changes.
      if (namespaceTerminating(e)) return;
      throw new Error(`failed to create EndpointSlice for Service ${key}: ${(e as Error).message}`);
    }
    await inParallel(plan.update, 4, async (s) => {
      try {
        this.tracker.update(await api.update(s));
      } catch (e) {
        throw new Error(`failed to update ${s.metadata.name} EndpointSlice for Service ${key}: ${(e as Error).message}`);
      }
    });
    await inParallel(plan.delete, 4, async (s) => {
      try {
        await api.delete(s.metadata.name!);
      } catch (e) {
        if (!notFound(e)) throw new Error(`failed to delete ${s.metadata.name} EndpointSlice for Service ${key}: ${(e as Error).message}`);
        return;
      }
      this.tracker.expectDeletion(s);
    });
  }

  private event(svc: ServiceRecord, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.events.record({ kind: 'Service', apiVersion: 'v1', name: svc.metadata.name!, namespace: svc.metadata.namespace, uid: svc.metadata.uid }, type, reason, message);
  }
}

export function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return i < 0 ? ['', key] : [key.slice(0, i), key.slice(i + 1)];
}
