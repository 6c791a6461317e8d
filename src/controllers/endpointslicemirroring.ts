// The EndpointSlice mirroring controller (kube-controller-manager's "endpointslicemirroring"):
// for a Service without a selector whose endpoints a user keeps in a core/v1 Endpoints object,
// it mirrors that object into EndpointSlices (managed-by endpointslicemirroring-controller.k8s.io,
// owned by the Endpoints), so slice consumers see it. As upstream:
//  - one slice per subset's port set and address family, at most 1000 addresses per subset
//    (--mirroring-max-endpoints-per-subset), ready addresses first;
//  - the Endpoints' labels and annotations are copied (not the trigger time or kubectl's
//    last-applied configuration); kubernetes.io/service-name names the Endpoints;
//  - nothing is mirrored (and mirrored slices are deleted) when the Service is missing or has a
//    selector, or the Endpoints is labelled endpointslice.kubernetes.io/skip-mirror=true or
//    holds a leader-election record.
// mirrorEndpoints() is the pure part; the controller below is the shell.

import { StatusError } from '../api/errors.js';
import type { ApiClient, ResourceClient } from '../client/client.js';
import { keyOf } from '../client/informer.js';
import { runWorkers, WorkQueue } from '../client/workqueue.js';
import type { ControllerContext } from './manager.js';
import { splitKey } from './endpointslice.js';
import {
  startOnEndpointInformers, ENDPOINTSLICES, SLICE_SERVICE_INDEX, type EndpointInformers, type EndpointsObj,
} from './endpointslice/informers.js';
import { endpointKey, endpointsEqualBeyondHash, portMapKey } from './endpointslice/reconciler.js';
import { EndpointSliceTracker, StaleInformerCacheError } from './endpointslice/trackers.js';
import {
  addressTypeOf, ANNOTATION_LAST_APPLIED, ANNOTATION_LEADER_ELECTION, ANNOTATION_TRIGGER_TIME, canonicalAddress, controllerRef,
  LABEL_MANAGED_BY, LABEL_SERVICE_NAME, LABEL_SKIP_MIRROR, mapsEqual, MIRRORING_CONTROLLER_NAME,
  type Endpoint, type EndpointPort, type EndpointSlice,
} from './endpointslice/types.js';

export const DEFAULT_MAX_ENDPOINTS_PER_SUBSET = 1000;

// ---- pure part ------------------------------------------------------------------------------------

export interface MirrorPlan {
  create: EndpointSlice[];
  update: EndpointSlice[];
  delete: EndpointSlice[];
  /** Addresses that were not valid IPs. */
  invalid: number;
  /** Addresses left out (invalid, or beyond the per-subset maximum). */
  skipped: number;
}

const copyLabelsAndAnnotations = (ep: EndpointsObj) => {
  const labels: Record<string, string> = { ...(ep.metadata.labels ?? {}) };
  labels[LABEL_SERVICE_NAME] = ep.metadata.name ?? '';
  labels[LABEL_MANAGED_BY] = MIRRORING_CONTROLLER_NAME;
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(ep.metadata.annotations ?? {})) {
    if (k !== ANNOTATION_TRIGGER_TIME && k !== ANNOTATION_LAST_APPLIED) annotations[k] = v;
  }
  return { labels, annotations };
};

function newMirrorSlice(ep: EndpointsObj, ports: EndpointPort[], addressType: string, name?: string): EndpointSlice {
  const { labels, annotations } = copyLabelsAndAnnotations(ep);
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      ...(name ? { name } : { generateName: `${ep.metadata.name ?? ''}-` }),
      namespace: ep.metadata.namespace, labels, annotations, ownerReferences: [controllerRef(ep, 'Endpoints')],
    },
    addressType, endpoints: [], ports: ports.map((p) => ({ ...p })),
  };
}

/** reconcile: the slices that mirror `ep`, given the mirrored slices that exist. */
export function mirrorEndpoints(ep: EndpointsObj, existing: EndpointSlice[], maxPerSubset = DEFAULT_MAX_ENDPOINTS_PER_SUBSET): MirrorPlan {
  const plan: MirrorPlan = { create: [], update: [], delete: [], invalid: 0, skipped: 0 };
  const desired = new Map<string, { ports: EndpointPort[]; addressType: string; set: Map<string, Endpoint> }>();
  for (const ss of ep.subsets ?? []) {
    const ports: EndpointPort[] = (ss.ports ?? []).map((p) => {
      const q: EndpointPort = { name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' };
      if (p.appProtocol !== undefined) q.appProtocol = p.appProtocol;
      return q;
    });
    const total = (ss.addresses?.length ?? 0) + (ss.notReadyAddresses?.length ?? 0);
    let added = 0;
    const add = (readyAddrs: boolean) => (a: NonNullable<NonNullable<EndpointsObj['subsets']>[number]['addresses']>[number]) => {
      if (added >= maxPerSubset) return;
      const ip = canonicalAddress(a.ip);
      const at = ip ? addressTypeOf(ip) : undefined;
      if (!ip || !at) { plan.invalid++; return; }
      const e: Endpoint = { addresses: [ip], conditions: { ready: readyAddrs } };
      if (a.targetRef) e.targetRef = { ...a.targetRef };
      if (a.nodeName) e.nodeName = a.nodeName;
      if (a.hostname) e.hostname = a.hostname;
      const k = `${at}${portMapKey(ports)}`;
      let d = desired.get(k);
      if (!d) { d = { ports, addressType: at, set: new Map() }; desired.set(k, d); }
      d.set.set(endpointKey(e), e);
      added++;
    };
    (ss.addresses ?? []).forEach(add(true));
    (ss.notReadyAddresses ?? []).forEach(add(false));
    plan.skipped += total - added;
  }

  const existingByKey = new Map<string, EndpointSlice[]>();
  for (const s of existing) {
    const k = `${s.addressType}${portMapKey(s.ports)}`;
    let l = existingByKey.get(k);
    if (!l) { l = []; existingByKey.set(k, l); }
    l.push(s);
  }
  const { labels, annotations } = copyLabelsAndAnnotations(ep);
  for (const [k, d] of desired) {
    const have = existingByKey.get(k) ?? [];
    if (d.set.size === 0) { plan.delete.push(...have); continue; }
    if (have.length > 0) {
      plan.delete.push(...have.slice(1));
      const first = have[0]!;
      // Unchanged when the first slice holds exactly the desired endpoints, labels and annotations.
      let matches = 0, changed = false;
      for (const e of first.endpoints ?? []) {
        const want = d.set.get(endpointKey(e));
        if (!want) { changed = true; break; }
        matches++;
        if (!endpointsEqualBeyondHash(want, e)) { changed = true; break; }
      }
      if (!changed && matches === d.set.size && mapsEqual(first.metadata.labels, labels) && mapsEqual(first.metadata.annotations, annotations)) continue;
    }
    const s = newMirrorSlice(ep, d.ports, d.addressType, have[0]?.metadata.name);
    if (have[0]) s.metadata.resourceVersion = have[0].metadata.resourceVersion;
    s.endpoints = [...d.set.values()].slice(0, maxPerSubset);
    (s.metadata.name ? plan.update : plan.create).push(s);
  }
  for (const [k, slices] of existingByKey) if (!desired.has(k)) plan.delete.push(...slices);

  // Recycle: a create next to a delete of the same family becomes an update of that slice.
  for (let i = 0; i < plan.delete.length && plan.create.length > 0;) {
    const d = plan.delete[i]!;
    const c = plan.create[plan.create.length - 1]!;
    if (d.addressType === c.addressType) {
      c.metadata.name = d.metadata.name;
      delete c.metadata.generateName;
      c.metadata.resourceVersion = d.metadata.resourceVersion;
      plan.create.pop();
      plan.update.push(c);
      plan.delete.splice(i, 1);
    } else i++;
  }
  return plan;
}

// ---- the controller ------------------------------------------------------------------------------

export interface MirroringControllerOptions {
  /** --mirroring-concurrent-service-endpoint-syncs (upstream default 5). */
  workers?: number;
  /** --mirroring-max-endpoints-per-subset (upstream default 1000). */
  maxEndpointsPerSubset?: number;
  /** --mirroring-endpointslice-updates-batch-period in ms (upstream default 0). */
  batchPeriodMs?: number;
}

const MAX_RETRIES = 15;
const notFound = (e: unknown) => e instanceof StatusError && e.code === 404;

export async function startEndpointSliceMirroringController(ctx: ControllerContext, opts: MirroringControllerOptions = {}): Promise<() => Promise<void>> {
  return startOnEndpointInformers(ctx.informers, ctx.client, (inf) => new EndpointSliceMirroringController(ctx.client, inf, opts));
}

const managed = (s: EndpointSlice) => s.metadata.labels?.[LABEL_MANAGED_BY] === MIRRORING_CONTROLLER_NAME;

export class EndpointSliceMirroringController {
  readonly queue = new WorkQueue<string>({ name: 'endpointslice_mirroring' });
  readonly tracker = new EndpointSliceTracker();
  private readonly sliceApi: ResourceClient<EndpointSlice>;
  private readonly removers: (() => void)[] = [];
  private workers: Promise<void>[] = [];
  private stopped = false;

  constructor(client: ApiClient, private readonly inf: EndpointInformers, private readonly opts: MirroringControllerOptions = {}) {
    this.sliceApi = client.resource<EndpointSlice>(ENDPOINTSLICES);
  }

  async start(): Promise<void> {
    const { inf } = this;
    const batch = this.opts.batchPeriodMs ?? 0;
    const services = inf.services(), endpoints = inf.endpoints(), slices = inf.slices();
    const queueKey = (k: string) => this.queue.addAfter(k, batch);
    this.removers.push(services.addEventHandler({
      onAdd: (s) => queueKey(keyOf(s)), onUpdate: (_o, s) => queueKey(keyOf(s)), onDelete: (s) => queueKey(keyOf(s)),
    }));
    this.removers.push(endpoints.addEventHandler({
      onAdd: (e) => queueKey(keyOf(e)), onUpdate: (_o, e) => queueKey(keyOf(e)), onDelete: (e) => queueKey(keyOf(e)),
    }));
    const forSlice = (s: EndpointSlice) => {
      const name = s.metadata.labels?.[LABEL_SERVICE_NAME];
      if (name) queueKey(`${s.metadata.namespace ?? ''}/${name}`);
    };
    this.removers.push(slices.addEventHandler({
      onAdd: (s) => { if (managed(s) && this.tracker.shouldSync(s)) forSlice(s); },
      onUpdate: (o, s) => {
        if (o.metadata.labels?.[LABEL_SERVICE_NAME] !== s.metadata.labels?.[LABEL_SERVICE_NAME]) { forSlice(s); forSlice(o); return; }
        if (managed(o) !== managed(s) || (managed(s) && this.tracker.shouldSync(s))) forSlice(s);
      },
      onDelete: (s) => { if (managed(s) && this.tracker.has(s) && !this.tracker.handleDeletion(s)) forSlice(s); },
    }));
    const synced = await Promise.all([services.waitForSync(), endpoints.waitForSync(), slices.waitForSync()]);
    if (!synced.every(Boolean) || this.stopped) return;
    const n = Math.max(1, this.opts.workers ?? 5);
    this.workers.push(runWorkers(this.queue, n, (key) => this.sync(key), {
      maxRetries: MAX_RETRIES,
      onError: (key, e) => {
        if (!(e instanceof StaleInformerCacheError) && !(e instanceof StatusError && e.code === 409)) console.error(`podnet endpointslicemirroring controller: ${String(key)}: ${(e as Error).message}`);
      },
    }));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const r of this.removers.splice(0)) r();
    this.queue.shutDown();
    await Promise.race([Promise.all(this.workers), new Promise((r) => setTimeout(r, 2000))]);
  }


  /** syncEndpoints */
  async sync(key: string): Promise<void> {
    const [namespace, name] = splitKey(key);
    const mirrored = this.inf.slices().byIndex(SLICE_SERVICE_INDEX, key).filter((s) => managed(s) && !s.metadata.deletionTimestamp);
    const ep = this.inf.endpoints().getByKey(key);
    const svc = this.inf.services().getByKey(key);
    if (!ep || !svc || svc.spec.selector || ep.metadata.labels?.[LABEL_SKIP_MIRROR] === 'true' ||
      (ep.metadata.annotations && ANNOTATION_LEADER_ELECTION in ep.metadata.annotations)) {
      await this.deleteAll(namespace, mirrored);
      if (!ep) this.tracker.deleteService(namespace, name);
      return;
    }
    if (this.tracker.staleSlices(svc, mirrored)) throw new StaleInformerCacheError('EndpointSlice informer cache is out of date');
    const plan = mirrorEndpoints(ep, mirrored, this.opts.maxEndpointsPerSubset ?? DEFAULT_MAX_ENDPOINTS_PER_SUBSET);
    const api = this.sliceApi.inNamespace(namespace);
    if (!ep.metadata.deletionTimestamp) for (const s of plan.create) this.tracker.update(await api.create(s));
    for (const s of plan.update) this.tracker.update(await api.update(s));
    await this.deleteAll(namespace, plan.delete);
  }

  private async deleteAll(namespace: string, slices: EndpointSlice[]): Promise<void> {
    for (const s of slices) {
      try {
        await this.sliceApi.inNamespace(namespace).delete(s.metadata.name!);
        this.tracker.expectDeletion(s);
      } catch (e) {
        if (!notFound(e)) throw e;
      }
    }
  }
}
