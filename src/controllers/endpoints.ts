// The legacy core/v1 Endpoints controller (kube-controller-manager's "endpoint"): one Endpoints
// object per Service with a selector, named like it, so that `kubectl describe service` and
// older consumers see the Service's endpoints. As upstream:
//  - a pod's address of the Service's primary family, ready addresses and notReadyAddresses
//    (terminating pods only with publishNotReadyAddresses, which also makes every address ready);
//  - subsets repacked into the canonical form (addresses sharing a port set in one subset);
//  - at most 1000 addresses (ready ones first), then endpoints.kubernetes.io/over-capacity:
//    truncated; the Service's labels plus service.kubernetes.io/headless for headless Services;
//    the last-change-trigger-time annotation;
//  - no write when nothing changed; Endpoints of deleted Services are deleted, also those left
//    over from before a restart; selectorless Services' Endpoints are the user's.
// computeEndpoints() is the pure part; the controller below is the shell.

import { StatusError } from '../api/errors.js';
import type { ApiClient, ResourceClient } from '../client/client.js';
import { keyOf } from '../client/informer.js';
import { runWorkers, WorkQueue } from '../client/workqueue.js';
import type { ControllerContext } from './manager.js';
import { splitKey } from './endpointslice.js';
import {
  startOnEndpointInformers, ENDPOINTS, servicesToUpdateOnPodChange,
  type CorePort, type EndpointAddress, type EndpointInformers, type EndpointsObj, type EndpointSubset,
} from './endpointslice/informers.js';
import { TriggerTimeTracker } from './endpointslice/trackers.js';
import {
  addressTypeOf, ANNOTATION_LEADER_ELECTION, ANNOTATION_OVER_CAPACITY, ANNOTATION_TRIGGER_TIME, findPort, formatTriggerTime,
  isServiceIPSet, LABEL_HEADLESS, mapsEqual, shouldPodBeInEndpoints, shouldSetHostname, stableStringify,
  type EndpointPod, type ServiceRecord,
} from './endpointslice/types.js';

/** The most addresses an Endpoints object holds. */
export const MAX_CAPACITY = 1000;

// ---- pure part ---------------------------------------------------------------------------------

/** podToEndpointAddressForService: the pod's address of the Service's (primary) family. */
export function podAddressForService(svc: ServiceRecord, pod: EndpointPod): EndpointAddress | undefined {
  let family: string = 'IPv4';
  if (svc.spec.ipFamilies?.length) family = svc.spec.ipFamilies[0]!;
  else if (isServiceIPSet(svc)) family = addressTypeOf(svc.spec.clusterIP!) ?? 'IPv4';
  else if (pod.status.podIPs[0] && addressTypeOf(pod.status.podIPs[0]) === 'IPv6') family = 'IPv6';
  const ip = pod.status.podIPs.find((a) => addressTypeOf(a) === family);
  if (!ip) return undefined;
  const a: EndpointAddress = { ip };
  if (pod.spec.nodeName) a.nodeName = pod.spec.nodeName;
  a.targetRef = { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid };
  return a;
}

interface Entry { addr: EndpointAddress; ready: boolean; port?: CorePort }

/** The subsets an Endpoints object should hold for this Service and its pods (before truncation). */
export function computeSubsets(svc: ServiceRecord, pods: EndpointPod[]): EndpointSubset[] {
  const entries: Entry[] = [];
  const tolerate = svc.spec.publishNotReadyAddresses === true;
  for (const pod of pods) {
    if (!shouldPodBeInEndpoints(pod, tolerate)) continue;
    const addr = podAddressForService(svc, pod);
    if (!addr) continue;
    if (shouldSetHostname(pod, svc)) addr.hostname = pod.spec.hostname;
    const ready = tolerate || pod.status.ready;
    const ports = svc.spec.ports ?? [];
    if (ports.length === 0) {
      // A headless Service may have endpoints without ports.
      if (svc.spec.clusterIP === 'None') entries.push({ addr, ready });
      continue;
    }
    for (const sp of ports) {
      const port = findPort(pod, sp);
      if (port === undefined) continue;
      const p: CorePort = { port, protocol: sp.protocol ?? 'TCP' };
      if (sp.name) p.name = sp.name;
      if (sp.appProtocol !== undefined) p.appProtocol = sp.appProtocol;
      entries.push({ addr, ready, port: p });
    }
  }
  return repackSubsets(entries);
}

const addrKey = (a: EndpointAddress) => `${a.ip}\u0000${a.targetRef?.uid ?? ''}`;
/** LessEndpointAddress: by IP (bytewise), then target uid. */
const cmpAddr = (a: EndpointAddress, b: EndpointAddress) =>
  (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : (a.targetRef?.uid ?? '') < (b.targetRef?.uid ?? '') ? -1 : (a.targetRef?.uid ?? '') > (b.targetRef?.uid ?? '') ? 1 : 0);
const NO_PORT = '-';

/**
 * RepackSubsets: every address grouped with exactly the ports it offers; an address that is not
 * ready on some port counts as not ready there. Sorted into a canonical order (upstream sorts
 * by hash; any fixed order serves comparison).
 */
export function repackSubsets(entries: Entry[]): EndpointSubset[] {
  const addrs = new Map<string, EndpointAddress>();
  const byPort = new Map<string, { port?: CorePort; ready: Map<string, boolean> }>();
  for (const e of entries) {
    const k = addrKey(e.addr);
    if (!addrs.has(k)) addrs.set(k, e.addr);
    const pk = e.port ? stableStringify(e.port) : NO_PORT;
    let p = byPort.get(pk);
    if (!p) { p = { port: e.port, ready: new Map() }; byPort.set(pk, p); }
    const was = p.ready.get(k);
    if (was === undefined || was) p.ready.set(k, e.ready);
  }
  const groups = new Map<string, { ready: Map<string, boolean>; ports: CorePort[] }>();
  for (const [, p] of byPort) {
    const gk = JSON.stringify([...p.ready].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    let g = groups.get(gk);
    if (!g) { g = { ready: p.ready, ports: [] }; groups.set(gk, g); }
    if (p.port) g.ports.push(p.port);
  }
  const out: EndpointSubset[] = [];
  for (const g of groups.values()) {
    const ready: EndpointAddress[] = [], notReady: EndpointAddress[] = [];
    for (const [k, r] of g.ready) (r ? ready : notReady).push(structuredClone(addrs.get(k)!));
    const ss: EndpointSubset = {};
    if (ready.length) ss.addresses = ready.sort(cmpAddr);
    if (notReady.length) ss.notReadyAddresses = notReady.sort(cmpAddr);
    if (g.ports.length) ss.ports = g.ports.sort((a, b) => (stableStringify(a) < stableStringify(b) ? -1 : 1));
    out.push(ss);
  }
  return out.sort((a, b) => { const x = stableStringify(a), y = stableStringify(b); return x < y ? -1 : x > y ? 1 : 0; });
}

/** truncateEndpoints: at most MAX_CAPACITY addresses, ready ones first, proportionally per subset. */
export function truncateSubsets(subsets: EndpointSubset[]): boolean {
  let totalReady = 0, totalNotReady = 0;
  for (const s of subsets) { totalReady += s.addresses?.length ?? 0; totalNotReady += s.notReadyAddresses?.length ?? 0; }
  if (totalReady + totalNotReady <= MAX_CAPACITY) return false;
  const truncateReady = totalReady > MAX_CAPACITY;
  const max = truncateReady ? MAX_CAPACITY : MAX_CAPACITY - totalReady;
  const numTotal = truncateReady ? totalReady : totalNotReady;
  let canBeAdded = max;
  for (const s of subsets) {
    const inSubset = truncateReady ? s.addresses?.length ?? 0 : s.notReadyAddresses?.length ?? 0;
    const toBeAdded = Math.min(canBeAdded, Math.ceil((inSubset / numTotal) * max));
    if (truncateReady) {
      s.addresses = (s.addresses ?? []).slice(0, toBeAdded);
      delete s.notReadyAddresses;
      canBeAdded -= s.addresses.length;
    } else {
      s.notReadyAddresses = (s.notReadyAddresses ?? []).slice(0, toBeAdded);
      canBeAdded -= s.notReadyAddresses.length;
    }
  }
  return true;
}

/** Subsets as compared: pod resourceVersions ignored, empty lists as absent. */
function normalizeSubsets(subsets: EndpointSubset[] | null | undefined): string {
  const strip = (a: EndpointAddress) => {
    const c = { ...a };
    if (c.targetRef) { c.targetRef = { ...c.targetRef }; delete c.targetRef.resourceVersion; }
    return c;
  };
  return stableStringify((subsets ?? []).map((s) => ({
    addresses: s.addresses?.length ? s.addresses.map(strip) : undefined,
    notReadyAddresses: s.notReadyAddresses?.length ? s.notReadyAddresses.map(strip) : undefined,
    ports: s.ports?.length ? s.ports.map((p) => ({ ...p, protocol: p.protocol ?? 'TCP', name: p.name || undefined })) : undefined,
  })));
}

/**
 * The Endpoints object to write for `svc` (create when `current` is undefined, update
 * otherwise), or undefined when `current` is already right.
 */
export function desiredEndpoints(svc: ServiceRecord, pods: EndpointPod[], current: EndpointsObj | undefined,
  triggerTime: number | undefined): EndpointsObj | undefined {
  const subsets = computeSubsets(svc, pods);
  if (current) {
    const labels = { ...(current.metadata.labels ?? {}) };
    delete labels[LABEL_HEADLESS];
    const count = (current.subsets ?? []).reduce((n, s) => n + (s.addresses?.length ?? 0) + (s.notReadyAddresses?.length ?? 0), 0);
    const capacityOk = count > MAX_CAPACITY ? false : !(ANNOTATION_OVER_CAPACITY in (current.metadata.annotations ?? {}));
    if (normalizeSubsets(current.subsets) === normalizeSubsets(subsets) && mapsEqual(labels, svc.metadata.labels) && capacityOk) return undefined;
  }
  const next: EndpointsObj = current ? structuredClone(current) : {
    apiVersion: 'v1', kind: 'Endpoints', metadata: { name: svc.metadata.name, namespace: svc.metadata.namespace },
  };
  next.subsets = subsets;
  const labels: Record<string, string> = { ...(svc.metadata.labels ?? {}) };
  if (!isServiceIPSet(svc)) labels[LABEL_HEADLESS] = ''; else delete labels[LABEL_HEADLESS];
  next.metadata.labels = labels;
  const ann = { ...(next.metadata.annotations ?? {}) };
  if (triggerTime !== undefined) ann[ANNOTATION_TRIGGER_TIME] = formatTriggerTime(triggerTime);
  else delete ann[ANNOTATION_TRIGGER_TIME];
  if (truncateSubsets(subsets)) ann[ANNOTATION_OVER_CAPACITY] = 'truncated';
  else delete ann[ANNOTATION_OVER_CAPACITY];
  next.metadata.annotations = ann;
  return next;
}

// ---- the controller ------------------------------------------------------------------------------

export interface EndpointsControllerOptions {
  /** --concurrent-endpoint-syncs (upstream 5 goroutines; 20 async workers here, as the endpointslice controller). */
  workers?: number;
  /** --endpoint-updates-batch-period in ms (upstream default 0). */
  batchPeriodMs?: number;
}

const MAX_RETRIES = 15;
const notFound = (e: unknown) => e instanceof StatusError && e.code === 404;

export async function startEndpointsController(ctx: ControllerContext, opts: EndpointsControllerOptions = {}): Promise<() => Promise<void>> {
  return startOnEndpointInformers(ctx.informers, ctx.client, (inf) => new EndpointsController(ctx.client, inf, opts));
}

export class EndpointsController {
  readonly queue = new WorkQueue<string>({ name: 'endpoint' });
  private readonly api: ResourceClient<EndpointsObj>;
  private readonly triggerTimes = new TriggerTimeTracker();
  /** Endpoints resourceVersions this controller has replaced: seeing one again means a stale cache. */
  private readonly staleVersions = new Map<string, string>();
  private readonly removers: (() => void)[] = [];
  private workers: Promise<void>[] = [];
  private stopped = false;

  constructor(client: ApiClient, private readonly inf: EndpointInformers, private readonly opts: EndpointsControllerOptions = {}) {
    this.api = client.resource<EndpointsObj>(ENDPOINTS);
  }

  async start(): Promise<void> {
    const { inf } = this;
    const batch = this.opts.batchPeriodMs ?? 0;
    const services = inf.services(), pods = inf.pods(), endpoints = inf.endpoints();
    const onPod = (p: EndpointPod) => { for (const k of inf.servicesForLabels(p.metadata.namespace ?? '', p.metadata.labels)) this.queue.addAfter(k, batch); };
    this.removers.push(services.addEventHandler({
      onAdd: (s) => this.queue.add(keyOf(s)), onUpdate: (_o, s) => this.queue.add(keyOf(s)), onDelete: (s) => this.queue.add(keyOf(s)),
    }));
    this.removers.push(pods.addEventHandler({
      onAdd: onPod,
      onUpdate: (o, p) => { for (const k of servicesToUpdateOnPodChange(inf, o, p)) this.queue.addAfter(k, batch); },
      onDelete: onPod,
    }));
    this.removers.push(endpoints.addEventHandler({ onDelete: (e) => this.queue.add(keyOf(e)) }));
    const synced = await Promise.all([services.waitForSync(), pods.waitForSync(), endpoints.waitForSync()]);
    if (!synced.every(Boolean) || this.stopped) return;
    const n = Math.max(1, this.opts.workers ?? 20);
    this.workers.push(runWorkers(this.queue, n, (key) => this.sync(key), {
      maxRetries: MAX_RETRIES,
      onError: (key, e) => {
        if (!(e instanceof StatusError && e.code === 409)) console.error(`podnet endpoint controller: ${String(key)}: ${(e as Error).message}`);
      },
    }));
    // checkLeftoverEndpoints: Endpoints whose Service went away while the controller was down.
    for (const e of endpoints.list()) {
      if (e.metadata.annotations && ANNOTATION_LEADER_ELECTION in e.metadata.annotations) continue;
      this.queue.add(keyOf(e));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const r of this.removers.splice(0)) r();
    this.queue.shutDown();
    await Promise.race([Promise.all(this.workers), new Promise((r) => setTimeout(r, 2000))]);
  }


  async sync(key: string): Promise<void> {
    const [namespace, name] = splitKey(key);
    const svc = this.inf.services().getByKey(key);
    if (!svc) {
      // Only Endpoints this kind of controller would have made: selectorless Services' are the
      // user's, but once the Service is gone upstream deletes whatever Endpoints has its name.
      try {
        await this.api.inNamespace(namespace).delete(name);
      } catch (e) {
        if (!notFound(e)) throw e;
      }
      this.triggerTimes.deleteService(namespace, name);
      this.staleVersions.delete(key);
      return;
    }
    if (svc.spec.type === 'ExternalName' || !svc.spec.selector) return;
    const pods = this.inf.podsForService(svc);
    const triggerTime = this.triggerTimes.compute(namespace, svc, pods);
    const current = this.inf.endpoints().getByKey(key);
    if (current && this.staleVersions.get(key) === current.metadata.resourceVersion) {
      throw new Error(`endpoints informer cache is out of date, resource version ${current.metadata.resourceVersion} already processed for endpoints ${key}`);
    }
    const next = desiredEndpoints(svc, pods, current, triggerTime);
    if (!next) return;
    const api = this.api.inNamespace(namespace);
    if (!current) {
      try {
        await api.create(next);
      } catch (e) {
        if (e instanceof StatusError && (e.status.details?.causes ?? []).some((c) => c.reason === 'NamespaceTerminating')) return;
        throw e;
      }
      return;
    }
    const updated = await api.update(next);
    if (updated.metadata.resourceVersion !== current.metadata.resourceVersion) this.staleVersions.set(key, current.metadata.resourceVersion ?? '');
  }
}
