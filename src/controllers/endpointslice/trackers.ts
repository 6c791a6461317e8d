// In-memory bookkeeping the endpoint controllers share (pure, no I/O):
//  - EndpointSliceTracker (upstream's): the generation of every slice this controller wrote
//    and the slices it deleted, per Service, so that a sync does not act on an informer cache
//    that has not yet seen its own writes (which would create duplicate slices);
//  - TriggerTimeTracker (upstream's): the endpoints.kubernetes.io/last-change-trigger-time
//    value — the earliest pod readiness change or Service creation not yet exported.

import type { EndpointPod, EndpointSlice, ServiceRecord } from './types.js';
import { LABEL_SERVICE_NAME } from './types.js';

const DELETION_EXPECTED = -1;

/** Stale informer cache: retry the sync later (upstream's StaleInformerCache error). */
export class StaleInformerCacheError extends Error {}

const serviceKeyOf = (s: EndpointSlice) => `${s.metadata.namespace ?? ''}/${s.metadata.labels?.[LABEL_SERVICE_NAME] ?? ''}`;

export class EndpointSliceTracker {
  /** service key → slice uid → generation (or DELETION_EXPECTED) */
  private readonly byService = new Map<string, Map<string, number>>();
  private readonly serviceUids = new Map<string, string>();

  private gens(s: EndpointSlice, create = false): Map<string, number> | undefined {
    const key = serviceKeyOf(s);
    let m = this.byService.get(key);
    if (!m && create) { m = new Map(); this.byService.set(key, m); }
    return m;
  }

  has(s: EndpointSlice): boolean { return this.gens(s)?.has(s.metadata.uid ?? '') ?? false; }

  /** ShouldSync: a slice change not made by this controller (or newer than its write). */
  shouldSync(s: EndpointSlice): boolean {
    const g = this.gens(s)?.get(s.metadata.uid ?? '');
    return g === undefined || (s.metadata.generation ?? 0) > g;
  }

  /**
   * StaleSlices: the cache lags behind this controller's writes for the Service: a slice older
   * than written, one expected to be gone, or one written but missing. A Service recreated under
   * the same name (new uid) starts afresh.
   */
  staleSlices(svc: ServiceRecord, slices: EndpointSlice[]): boolean {
    const key = `${svc.metadata.namespace ?? ''}/${svc.metadata.name ?? ''}`;
    const uid = svc.metadata.uid ?? '';
    const known = this.serviceUids.get(key);
    if (known && uid && known !== uid) this.byService.delete(key);
    this.serviceUids.set(key, uid);
    const m = this.byService.get(key);
    if (!m) return false;
    const provided = new Set<string>();
    for (const s of slices) {
      const sid = s.metadata.uid ?? '';
      provided.add(sid);
      const g = m.get(sid);
      if (g !== undefined && (g === DELETION_EXPECTED || g > (s.metadata.generation ?? 0))) return true;
    }
    for (const [sid, g] of m) if (g !== DELETION_EXPECTED && !provided.has(sid)) return true;
    return false;
  }

  /** Update: records a slice as written (created or updated) with its generation. */
  update(s: EndpointSlice): void { this.gens(s, true)!.set(s.metadata.uid ?? '', s.metadata.generation ?? 0); }

  expectDeletion(s: EndpointSlice): void { this.gens(s, true)!.set(s.metadata.uid ?? '', DELETION_EXPECTED); }

  /** HandleDeletion: false when the deletion was not expected (someone else deleted it). */
  handleDeletion(s: EndpointSlice): boolean {
    const m = this.gens(s);
    if (!m) return true;
    const sid = s.metadata.uid ?? '';
    const g = m.get(sid);
    m.delete(sid);
    return !(g !== undefined && g !== DELETION_EXPECTED);
  }

  deleteService(namespace: string, name: string): void {
    this.byService.delete(`${namespace}/${name}`);
    this.serviceUids.delete(`${namespace}/${name}`);
  }
}

const parseTime = (s: string | null | undefined): number | undefined => {
  if (!s) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
};

export class TriggerTimeTracker {
  private readonly states = new Map<string, { service?: number; pods: Map<string, number> }>();

  /**
   * ComputeEndpointLastChangeTriggerTime: for a Service seen for the first time its creation
   * time; afterwards the earliest pod readiness transition (or Service creation) that changed
   * since the previous call; undefined when nothing changed (the annotation is then removed).
   */
  compute(namespace: string, svc: ServiceRecord, pods: EndpointPod[]): number | undefined {
    const key = `${namespace}/${svc.metadata.name ?? ''}`;
    const state = this.states.get(key);
    let min: number | undefined;
    const podTimes = new Map<string, number>();
    for (const p of pods) {
      const t = parseTime(p.status.readyTransition);
      if (t === undefined) continue;
      podTimes.set(p.metadata.name ?? '', t);
      const last = state?.pods.get(p.metadata.name ?? '');
      if (last === undefined || t > last) min = min === undefined ? t : Math.min(min, t);
    }
    const svcTime = parseTime(svc.metadata.creationTimestamp);
    if (svcTime !== undefined && (state?.service === undefined || svcTime > state.service)) {
      min = min === undefined ? svcTime : Math.min(min, svcTime);
    }
    this.states.set(key, { service: svcTime, pods: podTimes });
    if (!state) return svcTime;
    return min;
  }

  deleteService(namespace: string, name: string): void { this.states.delete(`${namespace}/${name}`); }
}
