// Topology hints on EndpointSlices, as upstream's k8s.io/endpointslice topologycache and
// trafficdist packages do it. Pure (no I/O); the TopologyCache keeps in memory what upstream's
// does: each zone's share of the cluster's allocatable CPU, and the hints it last allocated per
// Service, so that a change of Nodes can find the Services that became overloaded.
//
// service.kubernetes.io/topology-mode: Auto (or the deprecated topology-aware-hints annotation)
//   → zone hints proportional to each zone's CPU, with the safeguards: at least two zones with
//   ready nodes, every node with a zone and CPU, at least as many ready endpoints as zones, every
//   zone gets at least its share divided by (1 + 0.2 overload threshold); otherwise no hints.
// spec.trafficDistribution PreferClose / PreferSameZone → each ready endpoint is hinted for its
//   own zone; PreferSameNode → also for its own node.
// Neither → hints are removed.

import type { Endpoint, EndpointSlice, NodeRecord } from './types.js';
import { ANNOTATION_TOPOLOGY_AWARE_HINTS, ANNOTATION_TOPOLOGY_MODE, LABEL_TOPOLOGY_ZONE } from './types.js';

/** The maximum overload any single endpoint should be exposed to. */
export const OVERLOAD_THRESHOLD = 0.2;

// Event messages (upstream's topologycache/event.go).
export const NO_ZONE_SPECIFIED = 'One or more endpoints do not have a zone specified';
export const NO_ALLOCATED_HINTS_FOR_ZONES = 'No hints allocated for zones';
export const TOPOLOGY_AWARE_HINTS_ENABLED = 'Topology Aware Hints has been enabled';
export const TOPOLOGY_AWARE_HINTS_DISABLED = 'Topology Aware Hints has been disabled';
export const INSUFFICIENT_NODE_INFO = 'Insufficient Node information: allocatable CPU or zone not specified on one or more nodes';
export const NODES_READY_IN_ONE_ZONE_ONLY = 'Nodes only ready in one zone';
export const INSUFFICIENT_NUMBER_OF_ENDPOINTS = 'Insufficient number of endpoints';
export const MIN_ALLOCATION_EXCEEDS_OVERLOAD_THRESHOLD =
  'Unable to allocate minimum required endpoints to each zone without exceeding overload threshold';

export interface TopologyEvent { type: 'Normal' | 'Warning'; reason: string; message: string }

export const withAddressType = (s: string, addressType: string) => `${s}, addressType: ${addressType}`;

/** The slices of one Service and address type, split by what the reconciler does with them. */
export interface SliceInfo {
  serviceKey: string;
  addressType: string;
  toCreate: EndpointSlice[];
  toUpdate: EndpointSlice[];
  /** Straight from the informer cache: copy before changing. */
  unchanged: EndpointSlice[];
}

interface Allocation { minimum: number; maximum: number; desired: number }

const endpointReady = (e: Endpoint): boolean => e.conditions?.ready === true;
const eps = (s: EndpointSlice): Endpoint[] => s.endpoints ?? [];
const copy = <T>(v: T): T => structuredClone(v);

/** hintsEnabled: either annotation set to Auto/auto; the deprecated one wins when both are set. */
export function hintsEnabled(annotations: Record<string, string> | undefined): boolean {
  const a = annotations ?? {};
  const v = ANNOTATION_TOPOLOGY_AWARE_HINTS in a ? a[ANNOTATION_TOPOLOGY_AWARE_HINTS] : a[ANNOTATION_TOPOLOGY_MODE];
  return v === 'Auto' || v === 'auto';
}

/** Nodes with these labels do not count towards a zone's capacity. */
function excludedNode(labels: Record<string, string> | undefined): boolean {
  return !!labels && ('node-role.kubernetes.io/control-plane' in labels || 'node-role.kubernetes.io/master' in labels);
}

export class TopologyCache {
  private cpuRatiosByZone: Map<string, number> | undefined;
  /** service key → address type → zone → hints allocated */
  private readonly endpointsByService = new Map<string, Map<string, Map<string, number>>>();
  private readonly hintsPopulated = new Set<string>();

  /** SetNodes: recomputes each zone's share of the ready, non-control-plane nodes' CPU. */
  setNodes(nodes: NodeRecord[]): void {
    const cpuByZone = new Map<string, number>();
    let total = 0;
    let sufficient = true;
    for (const n of nodes) {
      if (excludedNode(n.metadata.labels) || !n.ready) continue;
      const zone = n.metadata.labels?.[LABEL_TOPOLOGY_ZONE];
      // One node without a zone or CPU makes the whole picture unreliable: no hints anywhere.
      if (!zone || n.cpuMilli <= 0) { sufficient = false; cpuByZone.clear(); break; }
      total += n.cpuMilli;
      cpuByZone.set(zone, (cpuByZone.get(zone) ?? 0) + n.cpuMilli);
    }
    if (total === 0 || !sufficient || cpuByZone.size < 2) { this.cpuRatiosByZone = undefined; return; }
    this.cpuRatiosByZone = new Map([...cpuByZone].map(([z, c]) => [z, c / total]));
  }

  /** Each zone's share of CPU (for tests and debugging). */
  zoneRatios(): Map<string, number> | undefined { return this.cpuRatiosByZone && new Map(this.cpuRatiosByZone); }

  hasPopulatedHints(serviceKey: string): boolean { return this.hintsPopulated.has(serviceKey); }

  private setHints(serviceKey: string, addressType: string, byZone: Map<string, number>): void {
    let m = this.endpointsByService.get(serviceKey);
    if (!m) { m = new Map(); this.endpointsByService.set(serviceKey, m); }
    m.set(addressType, byZone);
    this.hintsPopulated.add(serviceKey);
  }

  removeHints(serviceKey: string, addressType: string): void {
    const m = this.endpointsByService.get(serviceKey);
    m?.delete(addressType);
    if (!m?.size) this.endpointsByService.delete(serviceKey);
    this.hintsPopulated.delete(serviceKey);
  }

  /** Services whose hinted endpoints no longer cover some zone's minimum (after a Node change). */
  overloadedServices(): string[] {
    const out: string[] = [];
    for (const [key, byType] of this.endpointsByService) {
      for (const ezi of byType.values()) {
        if (serviceOverloaded(ezi, this.cpuRatiosByZone)) { out.push(key); break; }
      }
    }
    return out;
  }

  /** getAllocations: per zone the minimum, maximum and desired number of endpoints, or why not. */
  allocations(numEndpoints: number): { allocations?: Map<string, Allocation>; event?: TopologyEvent } {
    const ratios = this.cpuRatiosByZone;
    const disabled = (message: string) => ({ event: { type: 'Warning' as const, reason: 'TopologyAwareHintsDisabled', message } });
    if (!ratios) return disabled(INSUFFICIENT_NODE_INFO);
    if (ratios.size < 2) return disabled(NODES_READY_IN_ONE_ZONE_ONLY);
    if (ratios.size > numEndpoints) {
      return disabled(`${INSUFFICIENT_NUMBER_OF_ENDPOINTS} (${numEndpoints} endpoints, ${ratios.size} zones)`);
    }
    let remaining = numEndpoints;
    let minTotal = 0;
    const out = new Map<string, Allocation>();
    for (const [zone, ratio] of ratios) {
      const desired = ratio * numEndpoints;
      const minimum = Math.ceil(desired * (1 / (1 + OVERLOAD_THRESHOLD)));
      out.set(zone, { minimum, maximum: 0, desired: Math.max(desired, minimum) });
      minTotal += minimum;
      remaining -= minimum;
      if (remaining < 0) {
        return disabled(`${MIN_ALLOCATION_EXCEEDS_OVERLOAD_THRESHOLD} (${numEndpoints} endpoints, ${ratios.size} zones)`);
      }
    }
    for (const a of out.values()) a.maximum = a.minimum + numEndpoints - minTotal;
    return { allocations: out };
  }

  /**
   * AddHints: zone hints on the slices being created or updated (and on unchanged slices whose
   * hints no longer fit, which then join the updates). Returns the new create/update lists.
   */
  addHints(si: SliceInfo): { toCreate: EndpointSlice[]; toUpdate: EndpointSlice[]; events: TopologyEvent[] } {
    const total = [...si.toCreate, ...si.toUpdate, ...si.unchanged].reduce((n, s) => n + eps(s).filter(endpointReady).length, 0);
    const { allocations, event } = this.allocations(total);
    const events: TopologyEvent[] = [];
    const giveUp = (ev: TopologyEvent) => {
      events.push(ev);
      this.removeHints(si.serviceKey, si.addressType);
      const r = removeHintsFromSlices(si);
      return { ...r, events };
    };
    if (!allocations) return giveUp({ ...event!, message: withAddressType(event!.message, si.addressType) });

    const allocated = allocatedHintsByZone(si, allocations);
    const allocatable = [...si.toCreate, ...si.toUpdate];

    // 1. Every ready endpoint starts with a hint for its own zone.
    for (const slice of allocatable) {
      for (const e of eps(slice)) {
        // (Upstream leaves a not-ready endpoint's hints as they are; so does this.)
        if (!endpointReady(e)) continue;
        if (!e.zone) {
          return giveUp({ type: 'Warning', reason: 'TopologyAwareHintsDisabled', message: withAddressType(NO_ZONE_SPECIFIED, si.addressType) });
        }
        allocated.set(e.zone, (allocated.get(e.zone) ?? 0) + 1);
        e.hints = { forZones: [{ name: e.zone }] };
      }
    }
    // 2. Which zones have more than their share, which fewer; 3. move hints between them.
    const [giving, receiving] = givingAndReceivingZones(allocations, allocated);
    for (const [zone, diff] of redistributeHints(allocatable, giving, receiving)) allocated.set(zone, (allocated.get(zone) ?? 0) + diff);

    if (allocated.size === 0) {
      return giveUp({ type: 'Warning', reason: 'TopologyAwareHintsDisabled', message: withAddressType(NO_ALLOCATED_HINTS_FOR_ZONES, si.addressType) });
    }
    const wasEnabled = this.hasPopulatedHints(si.serviceKey);
    this.setHints(si.serviceKey, si.addressType, allocated);
    if (!wasEnabled) {
      events.push({ type: 'Normal', reason: 'TopologyAwareHintsEnabled', message: withAddressType(TOPOLOGY_AWARE_HINTS_ENABLED, si.addressType) });
    }
    return { toCreate: si.toCreate, toUpdate: si.toUpdate, events };
  }
}

/**
 * getAllocatedHintsByZone: counts the hints of unchanged slices; an unchanged slice whose hints
 * are missing, point at a zone that gets none, or would exceed a zone's maximum is copied into
 * the updates (and re-hinted there).
 */
function allocatedHintsByZone(si: SliceInfo, allocations: Map<string, Allocation>): Map<string, number> {
  const allocated = new Map<string, number>();
  const keep: EndpointSlice[] = [];
  for (const slice of si.unchanged) {
    const byZone = hintsByZone(slice, allocated, allocations);
    if (!byZone) { si.toUpdate.push(copy(slice)); continue; }
    keep.push(slice);
    for (const [z, n] of byZone) allocated.set(z, (allocated.get(z) ?? 0) + n);
  }
  si.unchanged = keep;
  return allocated;
}

function hintsByZone(slice: EndpointSlice, allocated: Map<string, number>, allocations: Map<string, Allocation>): Map<string, number> | undefined {
  const out = new Map<string, number>();
  for (const e of eps(slice)) {
    if (!endpointReady(e)) continue;
    const zones = e.hints?.forZones ?? [];
    if (zones.length === 0) return undefined;
    for (const z of zones) {
      if (!allocations.has(z.name)) return undefined;
      out.set(z.name, (out.get(z.name) ?? 0) + 1);
    }
  }
  for (const [zone, n] of out) {
    const a = allocations.get(zone);
    if (!a || n + (allocated.get(zone) ?? 0) > a.maximum) return undefined;
  }
  return out;
}

function getMost(zones: Map<string, number>): [string, number] {
  let zone = '', num = 0;
  for (const [z, n] of zones) if (n > num) { zone = z; num = n; }
  return [zone, num];
}

/** getGivingAndReceivingZones: whole endpoints each zone should give away or receive. */
export function givingAndReceivingZones(allocations: Map<string, Allocation>, allocated: Map<string, number>): [Map<string, number>, Map<string, number>] {
  const givingDesired = new Map<string, number>(), receivingDesired = new Map<string, number>();
  for (const [zone, a] of allocations) {
    const have = allocated.get(zone) ?? 0;
    if (have > a.desired) givingDesired.set(zone, have - a.desired);
    else if (have < a.desired) receivingDesired.set(zone, a.desired - have);
  }
  const giving = new Map<string, number>(), receiving = new Map<string, number>();
  for (;;) {
    const [gz, g] = getMost(givingDesired);
    const [rz, r] = getMost(receivingDesired);
    if (!gz || !rz || (g < 1 && r < 1) || g < 0.5 || r < 0.5) break;
    giving.set(gz, (giving.get(gz) ?? 0) + 1);
    givingDesired.set(gz, g - 1);
    receiving.set(rz, (receiving.get(rz) ?? 0) + 1);
    receivingDesired.set(rz, r - 1);
  }
  return [giving, receiving];
}

/** redistributeHints: re-points hints of endpoints in giving zones at receiving zones. */
function redistributeHints(slices: EndpointSlice[], giving: Map<string, number>, receiving: Map<string, number>): Map<string, number> {
  const moved = new Map<string, number>();
  for (const slice of slices) {
    for (const e of eps(slice)) {
      if (!endpointReady(e)) continue;
      if (giving.size === 0 || receiving.size === 0) return moved;
      if (!e.zone) continue;
      const g = giving.get(e.zone);
      if (!g) continue;
      for (const [rz, r] of receiving) {
        if (r <= 0) continue;
        e.hints = { forZones: [{ name: rz }] };
        if (g === 1) giving.delete(e.zone); else giving.set(e.zone, g - 1);
        if (r === 1) receiving.delete(rz); else receiving.set(rz, r - 1);
        moved.set(rz, (moved.get(rz) ?? 0) + 1);
        moved.set(e.zone, (moved.get(e.zone) ?? 0) - 1);
        break;
      }
    }
  }
  return moved;
}

/** serviceOverloaded: some zone has fewer hinted endpoints than its minimum. */
export function serviceOverloaded(ezi: Map<string, number>, ratios: Map<string, number> | undefined): boolean {
  if (ezi.size === 0) return false;
  if (!ratios || ratios.size === 0) return true;
  let total = 0;
  for (const n of ezi.values()) total += n;
  for (const [zone, ratio] of ratios) {
    const have = ezi.get(zone);
    if (have === undefined) return true;
    if (have < Math.ceil(total * ratio * (1 / (1 + OVERLOAD_THRESHOLD)))) return true;
  }
  return false;
}

/**
 * RemoveHintsFromSlices: no hints on slices being created or updated; unchanged slices that carry
 * hints are copied into the updates without them.
 */
export function removeHintsFromSlices(si: SliceInfo): { toCreate: EndpointSlice[]; toUpdate: EndpointSlice[] } {
  for (const s of [...si.toCreate, ...si.toUpdate]) for (const e of eps(s)) delete e.hints;
  const keep: EndpointSlice[] = [];
  for (const s of si.unchanged) {
    if (eps(s).some((e) => e.hints !== undefined)) {
      const c = copy(s);
      for (const e of eps(c)) delete e.hints;
      si.toUpdate.push(c);
    } else keep.push(s);
  }
  si.unchanged = keep;
  return { toCreate: si.toCreate, toUpdate: si.toUpdate };
}

// ---- spec.trafficDistribution (trafficdist) ---------------------------------------------------

export const PREFER_CLOSE = 'PreferClose';
export const PREFER_SAME_ZONE = 'PreferSameZone';
export const PREFER_SAME_NODE = 'PreferSameNode';

/** validTrafficDistribution: a value this controller acts on. */
export function validTrafficDistribution(td: string | undefined, preferSame: boolean): boolean {
  if (td === PREFER_CLOSE) return true;
  return preferSame && (td === PREFER_SAME_ZONE || td === PREFER_SAME_NODE);
}

interface Heuristic { needsUpdate(s: EndpointSlice): boolean; update(s: EndpointSlice): void }

const clusterWide: Heuristic = {
  needsUpdate: (s) => eps(s).some((e) => e.hints !== undefined),
  update: (s) => { for (const e of eps(s)) delete e.hints; },
};

function preferClose(nodeHints: boolean): Heuristic {
  return {
    needsUpdate(s) {
      for (const e of eps(s)) {
        if (!endpointReady(e)) continue;
        const zones = e.hints?.forZones ?? [], nodes = e.hints?.forNodes ?? [];
        if (e.zone !== undefined) {
          if (zones.length !== 1 || zones[0]!.name !== e.zone) return true;
        } else if (zones.length > 0) return true;
        if (e.nodeName !== undefined && nodeHints) {
          if (nodes.length !== 1 || nodes[0]!.name !== e.nodeName) return true;
        } else if (nodes.length > 0) return true;
      }
      return false;
    },
    update(s) {
      for (const e of eps(s)) {
        if (!endpointReady(e)) continue;
        const hints: { forZones?: { name: string }[]; forNodes?: { name: string }[] } = {};
        if (e.zone !== undefined) hints.forZones = [{ name: e.zone }];
        if (e.nodeName !== undefined && nodeHints) hints.forNodes = [{ name: e.nodeName }];
        if (hints.forZones || hints.forNodes) e.hints = hints; else delete e.hints;
      }
    },
  };
}

/**
 * trafficdist.ReconcileHints: hints for PreferClose / PreferSameZone (own zone) and
 * PreferSameNode (own zone and node); any other value removes hints. Unchanged slices whose
 * hints are missing or wrong are copied into the updates.
 */
export function reconcileTrafficDistributionHints(td: string | undefined, toCreate: EndpointSlice[], toUpdate: EndpointSlice[],
  unchanged: EndpointSlice[]): { toCreate: EndpointSlice[]; toUpdate: EndpointSlice[]; unchanged: EndpointSlice[] } {
  const h = td === PREFER_CLOSE || td === PREFER_SAME_ZONE || td === PREFER_SAME_NODE ? preferClose(td === PREFER_SAME_NODE) : clusterWide;
  const keep: EndpointSlice[] = [];
  const updates = [...toUpdate];
  for (const s of unchanged) {
    if (h.needsUpdate(s)) updates.push(copy(s)); else keep.push(s);
  }
  for (const s of toCreate) h.update(s);
  for (const s of updates) h.update(s);
  return { toCreate, toUpdate: updates, unchanged: keep };
}
