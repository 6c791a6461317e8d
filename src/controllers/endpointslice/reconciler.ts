// The EndpointSlice reconciler (upstream's k8s.io/endpointslice Reconciler) as a pure function:
// a Service, the pods its selector picks, the slices it already owns and a Node lookup in; the
// slices to create, update and delete out. The shell (../endpointslice.ts) writes them.
//
// Per address family of the Service, pods are turned into endpoints and grouped by their
// resolved port set (a named targetPort may resolve differently on different pods). Within a
// group it churns as little as upstream does:
//  1. existing slices keep the endpoints still wanted (updated in place when their conditions,
//     node, zone or targetRef changed), drop the others, and are deleted when emptied;
//  2. new endpoints first fill the slices already being updated (fullest first);
//  3. then, if fewer than a slice's worth remain, the unchanged slice they fit best; else new
//     slices. Unchanged slices are never rewritten.
// Creates that would sit next to deletes become updates of the slices to delete. A Service with
// no endpoints at all keeps one empty placeholder slice per family. Topology hints follow
// (./topology.ts), then the last-change-trigger-time annotation on everything written.

import type { KObject } from '../../api/meta.js';
import {
  reconcileTrafficDistributionHints, hintsEnabled, removeHintsFromSlices, TOPOLOGY_AWARE_HINTS_DISABLED,
  TopologyCache, validTrafficDistribution, withAddressType, type SliceInfo, type TopologyEvent,
} from './topology.js';
import {
  addressTypeOf, ANNOTATION_TRIGGER_TIME, canonicalAddress, controllerRef, ENDPOINTSLICE_CONTROLLER_NAME, findPort,
  formatTriggerTime, isServiceIPSet, LABEL_HEADLESS, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, LABEL_TOPOLOGY_ZONE,
  mapsEqual, shouldPodBeInEndpoints, shouldSetHostname,
  type AddressType, type Endpoint, type EndpointPod, type EndpointPort, type EndpointSlice, type NodeRecord, type ServiceRecord,
} from './types.js';

export const DEFAULT_MAX_ENDPOINTS_PER_SLICE = 100;

export interface ReconcileOptions {
  /** --max-endpoints-per-slice (default 100). */
  maxEndpointsPerSlice?: number;
  /** The managed-by label value (default endpointslice-controller.k8s.io). */
  controllerName?: string;
  /** Topology-aware hints state; without it the topology-mode annotation is ignored. */
  topology?: TopologyCache;
  /** Act on trafficDistribution PreferSameZone / PreferSameNode too (upstream's feature gate, on). */
  preferSameTrafficDistribution?: boolean;
}

export interface ReconcileInput {
  service: ServiceRecord;
  /** Pods the Service's selector matches (in its namespace). */
  pods: EndpointPod[];
  /** Slices labelled for this Service and managed by this controller, not being deleted. */
  existing: EndpointSlice[];
  node(name: string): NodeRecord | undefined;
  /** ms since the epoch; undefined removes the annotation from slices written. */
  triggerTime?: number;
}

export interface SlicePlan {
  create: EndpointSlice[];
  update: EndpointSlice[];
  delete: EndpointSlice[];
  events: TopologyEvent[];
  /** Pods skipped because their Node is unknown: the sync should be retried. */
  errors: string[];
}

// ---- endpoints and their identity -----------------------------------------------------------

/** hashEndpoint: what identifies an endpoint across syncs (addresses, hostname, target pod). */
export function endpointKey(e: Endpoint): string {
  return JSON.stringify([[...e.addresses].sort(), e.hostname ?? '', e.targetRef?.namespace ?? '', e.targetRef?.name ?? '']);
}

/** An insertion-ordered EndpointSet. */
class EndpointSet {
  readonly m = new Map<string, Endpoint>();
  insert(e: Endpoint): void { this.m.set(endpointKey(e), e); }
  get(e: Endpoint): Endpoint | undefined { return this.m.get(endpointKey(e)); }
  delete(e: Endpoint): void { this.m.delete(endpointKey(e)); }
  get size(): number { return this.m.size; }
  popAny(): Endpoint {
    const [k, v] = this.m.entries().next().value as [string, Endpoint];
    this.m.delete(k);
    return v;
  }
}

/** EndpointsEqualBeyondHash: node, zone, conditions and targetRef (ignoring its resourceVersion). */
export function endpointsEqualBeyondHash(a: Endpoint, b: Endpoint): boolean {
  if ((a.nodeName ?? null) !== (b.nodeName ?? null) || (a.zone ?? null) !== (b.zone ?? null)) return false;
  const ca = a.conditions ?? {}, cb = b.conditions ?? {};
  if ((ca.ready ?? null) !== (cb.ready ?? null) || (ca.serving ?? null) !== (cb.serving ?? null) ||
    (ca.terminating ?? null) !== (cb.terminating ?? null)) return false;
  const ra = a.targetRef, rb = b.targetRef;
  if (!ra || !rb) return !ra && !rb;
  return (ra.kind ?? '') === (rb.kind ?? '') && (ra.namespace ?? '') === (rb.namespace ?? '') && (ra.name ?? '') === (rb.name ?? '') &&
    (ra.uid ?? '') === (rb.uid ?? '') && (ra.apiVersion ?? '') === (rb.apiVersion ?? '') && (ra.fieldPath ?? '') === (rb.fieldPath ?? '');
}

/** A port as the API server stores it (name and protocol defaulted). */
const normPort = (p: EndpointPort) => ({ name: p.name ?? '', port: p.port ?? null, protocol: p.protocol ?? 'TCP', appProtocol: p.appProtocol ?? null });

/** NewPortMapKey: one key per distinct set of ports, whatever their order. */
export function portMapKey(ports: EndpointPort[] | null | undefined): string {
  return JSON.stringify((ports ?? []).map((p) => JSON.stringify(normPort(p))).sort());
}

/** podToEndpoint */
export function podToEndpoint(pod: EndpointPod, node: NodeRecord | undefined, svc: ServiceRecord, addressType: AddressType): Endpoint {
  const serving = pod.status.ready;
  const terminating = !!pod.metadata.deletionTimestamp;
  // A terminating pod is never "ready" unless the Service publishes not-ready addresses.
  const ready = svc.spec.publishNotReadyAddresses === true || (serving && !terminating);
  const ep: Endpoint = {
    addresses: endpointAddresses(pod, addressType),
    conditions: { ready, serving, terminating },
    targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
  };
  if (pod.spec.nodeName) ep.nodeName = pod.spec.nodeName;
  const zone = node?.metadata.labels?.[LABEL_TOPOLOGY_ZONE];
  if (zone) ep.zone = zone;
  if (shouldSetHostname(pod, svc)) ep.hostname = pod.spec.hostname;
  return ep;
}

function endpointAddresses(pod: EndpointPod, addressType: AddressType): string[] {
  const out: string[] = [];
  for (const ip of pod.status.podIPs) {
    if (addressTypeOf(ip) !== addressType) continue;
    const c = canonicalAddress(ip);
    if (c) out.push(c);
  }
  return out;
}

/** getEndpointPorts: the Service's ports resolved on this pod (ports that do not resolve are left out). */
export function endpointPorts(svc: ServiceRecord, pod: EndpointPod): EndpointPort[] {
  const ports = svc.spec.ports ?? [];
  if (ports.length === 0 && svc.spec.clusterIP === 'None') return [];
  const out: EndpointPort[] = [];
  for (const sp of ports) {
    const port = findPort(pod, sp);
    if (port === undefined) continue;
    const ep: EndpointPort = { name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP' };
    if (sp.appProtocol !== undefined) ep.appProtocol = sp.appProtocol;
    out.push(ep);
  }
  return out;
}

/** getAddressTypesForService: ipFamilies; else the ClusterIP's family; else (headless) both. */
export function addressTypesForService(svc: ServiceRecord): AddressType[] {
  const fams = (svc.spec.ipFamilies ?? []).filter((f): f is AddressType => f === 'IPv4' || f === 'IPv6');
  if (fams.length) return [...new Set(fams)];
  if (isServiceIPSet(svc)) return [addressTypeOf(svc.spec.clusterIP!) === 'IPv6' ? 'IPv6' : 'IPv4'];
  return ['IPv4', 'IPv6'];
}

// ---- labels, ownership, new slices ------------------------------------------------------------

const isReservedLabel = (k: string) => k === LABEL_SERVICE_NAME || k === LABEL_MANAGED_BY || k === LABEL_HEADLESS;

/**
 * setEndpointSliceLabels: the slice's labels are the Service's (minus reserved keys) plus the
 * reserved ones; `changed` when the non-reserved labels differ from the Service's.
 */
export function sliceLabels(slice: EndpointSlice, svc: ServiceRecord, controllerName: string): { labels: Record<string, string>; changed: boolean } {
  const mine: Record<string, string> = {};
  for (const [k, v] of Object.entries(slice.metadata.labels ?? {})) if (!isReservedLabel(k)) mine[k] = v;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(svc.metadata.labels ?? {})) if (!isReservedLabel(k)) labels[k] = v;
  const changed = !mapsEqual(mine, labels);
  if (!isServiceIPSet(svc)) labels[LABEL_HEADLESS] = '';
  labels[LABEL_SERVICE_NAME] = svc.metadata.name ?? '';
  labels[LABEL_MANAGED_BY] = controllerName;
  return { labels, changed };
}

/** ownedBy: the slice has an owner reference to this Service (by uid). */
export function ownedBy(slice: KObject, svc: ServiceRecord): boolean {
  return (slice.metadata.ownerReferences ?? []).some((o) => o.uid === svc.metadata.uid && o.kind === 'Service' && o.apiVersion === 'v1');
}

/** getEndpointSlicePrefix: `<name>-` unless that is not a valid generateName. */
export function slicePrefix(name: string): string {
  const p = `${name}-`;
  return p.length < 253 ? p : name;
}

function newSlice(svc: ServiceRecord, ports: EndpointPort[], addressType: AddressType, controllerName: string): EndpointSlice {
  const s: EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      generateName: slicePrefix(svc.metadata.name ?? ''), namespace: svc.metadata.namespace,
      ownerReferences: [controllerRef(svc, 'Service')], labels: {},
    },
    addressType, endpoints: [], ports: ports.map((p) => ({ ...p })),
  };
  s.metadata.labels = sliceLabels(s, svc, controllerName).labels;
  return s;
}

/** placeholderSliceCompare: same namespace, labels, owners, family, and still empty. */
function isSamePlaceholder(a: EndpointSlice, b: EndpointSlice): boolean {
  return a.metadata.namespace === b.metadata.namespace && mapsEqual(a.metadata.labels, b.metadata.labels) &&
    JSON.stringify(a.metadata.ownerReferences ?? []) === JSON.stringify(b.metadata.ownerReferences ?? []) &&
    a.addressType === b.addressType && (a.endpoints ?? []).length === 0 && (b.endpoints ?? []).length === 0 &&
    (a.ports ?? []).length === 0 && (b.ports ?? []).length === 0;
}

const copy = <T>(v: T): T => structuredClone(v);
const eps = (s: EndpointSlice): Endpoint[] => s.endpoints ?? [];

// ---- the reconciler ---------------------------------------------------------------------------

export function reconcile(input: ReconcileInput, opts: ReconcileOptions = {}): SlicePlan {
  const plan: SlicePlan = { create: [], update: [], delete: [], events: [], errors: [] };
  const svc = input.service;
  const families = addressTypesForService(svc);
  const byFamily = new Map<string, EndpointSlice[]>();
  const familyDeletes: EndpointSlice[] = [];
  for (const s of input.existing) {
    if (!families.includes(s.addressType as AddressType)) {
      opts.topology?.removeHints(serviceKey(svc), s.addressType);
      familyDeletes.push(s);
      continue;
    }
    let l = byFamily.get(s.addressType);
    if (!l) { l = []; byFamily.set(s.addressType, l); }
    l.push(s);
  }
  for (const at of families) {
    const r = reconcileByAddressType(input, opts, at, byFamily.get(at) ?? []);
    plan.create.push(...r.create);
    plan.update.push(...r.update);
    plan.delete.push(...r.delete);
    plan.events.push(...r.events);
    plan.errors.push(...r.errors);
  }
  plan.delete.push(...familyDeletes);
  return plan;
}

const serviceKey = (svc: ServiceRecord) => `${svc.metadata.namespace ?? ''}/${svc.metadata.name ?? ''}`;

function reconcileByAddressType(input: ReconcileInput, opts: ReconcileOptions, addressType: AddressType, existing: EndpointSlice[]): SlicePlan {
  const svc = input.service;
  const controllerName = opts.controllerName ?? ENDPOINTSLICE_CONTROLLER_NAME;
  const errors: string[] = [];
  let toCreate: EndpointSlice[] = [];
  let toUpdate: EndpointSlice[] = [];
  const toDelete: EndpointSlice[] = [];
  let events: TopologyEvent[] = [];

  const existingByPorts = new Map<string, EndpointSlice[]>();
  for (const s of existing) {
    if (!ownedBy(s, svc)) { toDelete.push(s); continue; }
    const k = portMapKey(s.ports);
    let l = existingByPorts.get(k);
    if (!l) { l = []; existingByPorts.set(k, l); }
    l.push(s);
  }

  const desired = new Map<string, { ports: EndpointPort[]; set: EndpointSet }>();
  for (const pod of input.pods) {
    if (!shouldPodBeInEndpoints(pod, true)) continue;
    const ports = endpointPorts(svc, pod);
    const k = portMapKey(ports);
    let d = desired.get(k);
    if (!d) { d = { ports, set: new EndpointSet() }; desired.set(k, d); }
    const node = pod.spec.nodeName ? input.node(pod.spec.nodeName) : undefined;
    if (!node && !svc.spec.publishNotReadyAddresses) {
      // Retry later, but meanwhile publish the Service's other endpoints without this pod.
      errors.push(`skipping Pod ${pod.metadata.name} for Service ${serviceKey(svc)}: Node ${pod.spec.nodeName ?? ''} Not Found`);
      continue;
    }
    const ep = podToEndpoint(pod, node, svc, addressType);
    if (ep.addresses.length > 0) d.set.insert(ep);
  }

  for (const [k, d] of desired) {
    const r = reconcileByPortMapping(svc, existingByPorts.get(k) ?? [], d.set, d.ports, addressType, opts, controllerName);
    toCreate.push(...r.create);
    toUpdate.push(...r.update);
    toDelete.push(...r.delete);
  }
  for (const [k, slices] of existingByPorts) if (!desired.has(k)) toDelete.push(...slices);

  // No endpoints at all: keep (or make) one empty placeholder slice.
  if (existing.length === toDelete.length && toCreate.length === 0) {
    const placeholder = newSlice(svc, [], addressType, controllerName);
    if (toDelete.length === 1 && isSamePlaceholder(toDelete[0]!, placeholder)) toDelete.length = 0;
    else toCreate.push(placeholder);
  }

  // Topology hints, per address type.
  const key = serviceKey(svc);
  const si: SliceInfo = { serviceKey: key, addressType, toCreate, toUpdate, unchanged: unchangedSlices(existing, toUpdate, toDelete) };
  const preferSame = opts.preferSameTrafficDistribution ?? true;
  const annotated = hintsEnabled(svc.metadata.annotations);
  const canUseTrafficDistribution = validTrafficDistribution(svc.spec.trafficDistribution, preferSame) && !annotated;
  if (opts.topology && annotated) {
    ({ toCreate, toUpdate, events } = opts.topology.addHints(si));
  } else {
    if (opts.topology) {
      if (opts.topology.hasPopulatedHints(key)) {
        events.push({ type: 'Warning', reason: 'TopologyAwareHintsDisabled', message: withAddressType(TOPOLOGY_AWARE_HINTS_DISABLED, addressType) });
      }
      opts.topology.removeHints(key, addressType);
    }
    if (!canUseTrafficDistribution) ({ toCreate, toUpdate } = removeHintsFromSlices(si));
  }
  if (canUseTrafficDistribution) {
    ({ toCreate, toUpdate } = reconcileTrafficDistributionHints(svc.spec.trafficDistribution, toCreate, toUpdate,
      unchangedSlices(existing, toUpdate, toDelete)));
  }

  const plan = finalize(svc, toCreate, toUpdate, toDelete, input.triggerTime);
  plan.events = events;
  plan.errors = errors;
  return plan;
}

function unchangedSlices(existing: EndpointSlice[], toUpdate: EndpointSlice[], toDelete: EndpointSlice[]): EndpointSlice[] {
  const changed = new Set([...toUpdate, ...toDelete].map((s) => s.metadata.name));
  return existing.filter((s) => !changed.has(s.metadata.name));
}

function reconcileByPortMapping(svc: ServiceRecord, existing: EndpointSlice[], desired: EndpointSet, ports: EndpointPort[],
  addressType: AddressType, opts: ReconcileOptions, controllerName: string): { create: EndpointSlice[]; update: EndpointSlice[]; delete: EndpointSlice[] } {
  const max = opts.maxEndpointsPerSlice ?? DEFAULT_MAX_ENDPOINTS_PER_SLICE;
  const byName = new Map<string, EndpointSlice>();
  const unchanged = new Set<string>(), toUpdate = new Set<string>(), toDelete = new Set<string>();

  // 1. Keep wanted endpoints in the slices they are in; drop unwanted ones.
  for (const s of existing) {
    const name = s.metadata.name!;
    byName.set(name, s);
    const kept: Endpoint[] = [];
    let endpointUpdated = false;
    for (const e of eps(s)) {
      const want = desired.get(e);
      if (!want) continue;
      kept.push(want);
      if (!endpointsEqualBeyondHash(want, e)) endpointUpdated = true;
      desired.delete(e);
    }
    const { labels, changed: labelsChanged } = sliceLabels(s, svc, controllerName);
    if (endpointUpdated || kept.length !== eps(s).length) {
      if (kept.length === 0) { toDelete.add(name); continue; }
      const c = copy(s);
      c.endpoints = kept;
      c.metadata.labels = labels;
      byName.set(name, c);
      toUpdate.add(name);
    } else if (labelsChanged) {
      const c = copy(s);
      c.metadata.labels = labels;
      byName.set(name, c);
      toUpdate.add(name);
    } else unchanged.add(name);
  }

  // 2. Fill the slices that are being updated anyway, fullest first.
  if (desired.size > 0 && toUpdate.size > 0) {
    const slices = [...toUpdate].map((n) => byName.get(n)!).sort((a, b) => eps(b).length - eps(a).length);
    for (const s of slices) {
      s.endpoints ??= [];
      while (desired.size > 0 && s.endpoints.length < max) s.endpoints.push(desired.popAny());
    }
  }

  // 3. The rest: into the unchanged slice they fit best when less than a slice's worth, else new slices.
  const create: EndpointSlice[] = [];
  while (desired.size > 0) {
    let fill: EndpointSlice | undefined;
    if (desired.size < max && unchanged.size > 0) {
      const found = sliceToFill([...unchanged].map((n) => byName.get(n)!), desired.size, max);
      if (found) { fill = copy(found); byName.set(fill.metadata.name!, fill); }
    }
    fill ??= newSlice(svc, ports, addressType, controllerName);
    fill.endpoints ??= [];
    while (desired.size > 0 && fill.endpoints.length < max) fill.endpoints.push(desired.popAny());
    if (fill.metadata.name) {
      toUpdate.add(fill.metadata.name);
      unchanged.delete(fill.metadata.name);
    } else create.push(fill);
  }

  return {
    create,
    update: [...toUpdate].map((n) => byName.get(n)!),
    delete: [...toDelete].map((n) => byName.get(n)!),
  };
}

/** getSliceToFill: the slice that will be closest to full once `n` endpoints are added. */
function sliceToFill(slices: EndpointSlice[], n: number, max: number): EndpointSlice | undefined {
  let best: EndpointSlice | undefined;
  let closest = max;
  for (const s of slices) {
    const diff = max - (n + eps(s).length);
    if (diff >= 0 && diff < closest) {
      closest = diff;
      best = s;
      if (diff === 0) break;
    }
  }
  return best;
}

/**
 * finalize's pure part: creates that sit next to deletes of the same family become updates of
 * those slices; no creates for a Service being deleted; the trigger-time annotation on writes.
 */
function finalize(svc: ServiceRecord, create: EndpointSlice[], update: EndpointSlice[], del: EndpointSlice[], triggerTime?: number): SlicePlan {
  const creates = [...create], updates = [...update], deletes = [...del];
  for (let i = 0; i < deletes.length && creates.length > 0;) {
    const d = deletes[i]!;
    const c = creates[creates.length - 1]!;
    if (d.addressType === c.addressType && ownedBy(d, svc)) {
      c.metadata.name = d.metadata.name;
      delete c.metadata.generateName;
      c.metadata.resourceVersion = d.metadata.resourceVersion;
      creates.pop();
      updates.push(c);
      deletes.splice(i, 1);
    } else i++;
  }
  // Creating while the Service is being deleted would race the garbage collector.
  const finalCreates = svc.metadata.deletionTimestamp ? [] : creates;
  for (const s of [...finalCreates, ...updates]) setTriggerTime(s, triggerTime);
  return { create: finalCreates, update: updates, delete: deletes, events: [], errors: [] };
}

function setTriggerTime(s: EndpointSlice, t: number | undefined): void {
  const a = { ...(s.metadata.annotations ?? {}) };
  if (t !== undefined) a[ANNOTATION_TRIGGER_TIME] = formatTriggerTime(t);
  else delete a[ANNOTATION_TRIGGER_TIME];
  s.metadata.annotations = a;
}
