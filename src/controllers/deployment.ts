// The Deployment controller (kube-controller-manager's pkg/controller/deployment). A Deployment
// owns ReplicaSets named `<deployment>-<pod-template-hash>`; the one whose template equals the
// Deployment's (ignoring the hash label) is the "new" ReplicaSet, the others are "old". Each sync:
//  - claims ReplicaSets (adopts matching orphans, releases non-matching ones);
//  - paused, or a change of spec.replicas: scales (proportionally across ReplicaSets while a
//    rollout is in progress);
//  - otherwise rolls out: RollingUpdate (maxSurge / maxUnavailable) or Recreate;
//  - keeps revisions in `deployment.kubernetes.io/revision` (and revision-history on rollback),
//    desired-replicas / max-replicas annotations on ReplicaSets, deletes old ReplicaSets with
//    0 replicas beyond revisionHistoryLimit once a rollout completes;
//  - writes status and the Available / Progressing / ReplicaFailure conditions, which
//    `kubectl rollout status` reads.
// The arithmetic is in pure exported functions; the runner does the I/O.

import { StatusError } from '../api/errors.js';
import { isEmpty, matches, type LabelSelectorSpec } from '../api/labels.js';
import type { KObject } from '../api/meta.js';
import { keyOf } from '../client/informer.js';
import { runWorkers, WorkQueue } from '../client/workqueue.js';
import type { ControllerContext } from './manager.js';
import { EventRecorder } from './scheduler.js';
import {
  canAdopt, claimAction, eventTarget, trackedRecorder, conflictError, CONTROLLER_UID_INDEX, controllerOf, newControllerRef, notFoundError, RS_GVR,
  selectorOf, setOwnership, type Condition, type PodRecord, type PodTemplate, type ReplicaSet,
} from './replicaset.js';
import { DEPLOYMENTS } from '../client/resources.js';

// ---- shapes and constants ------------------------------------------------------------------------

export const DEPLOY_GVR = DEPLOYMENTS;

export const POD_TEMPLATE_HASH = 'pod-template-hash';
export const REVISION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';
const SKIP_ANNOTATIONS = new Set([
  'kubectl.kubernetes.io/last-applied-configuration', REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS,
  'deprecated.deployment.rollback.to',
]);
/** Upstream's limit on the revision-history annotation's length. */
const MAX_REV_HISTORY_CHARS = 2000;
const MAX_INT32 = 2147483647;

export const Reasons = {
  MinimumReplicasAvailable: 'MinimumReplicasAvailable',
  MinimumReplicasUnavailable: 'MinimumReplicasUnavailable',
  NewReplicaSetCreated: 'NewReplicaSetCreated',
  FoundNewReplicaSet: 'FoundNewReplicaSet',
  ReplicaSetUpdated: 'ReplicaSetUpdated',
  NewReplicaSetAvailable: 'NewReplicaSetAvailable',
  ProgressDeadlineExceeded: 'ProgressDeadlineExceeded',
  FailedReplicaSetCreate: 'ReplicaSetCreateError',
  DeploymentPaused: 'DeploymentPaused',
  DeploymentResumed: 'DeploymentResumed',
} as const;

export type IntOrString = number | string;

export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  collisionCount?: number;
  conditions?: Condition[];
}

export interface Deployment extends KObject {
  spec: {
    replicas?: number;
    selector?: LabelSelectorSpec;
    template?: PodTemplate;
    strategy?: { type?: 'RollingUpdate' | 'Recreate'; rollingUpdate?: { maxSurge?: IntOrString; maxUnavailable?: IntOrString } };
    minReadySeconds?: number;
    revisionHistoryLimit?: number;
    paused?: boolean;
    progressDeadlineSeconds?: number;
  };
  status?: DeploymentStatus;
}

// ---- arithmetic -----------------------------------------------------------------------------------

/** math.Round: halves away from zero. */
const roundHalfAway = (x: number) => Math.sign(x) * Math.round(Math.abs(x));

/** intstr.GetScaledValueFromIntOrPercent. */
export function scaledValue(v: IntOrString | undefined, total: number, roundUp: boolean): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  const m = /^(-?\d+)%$/.exec(v);
  if (!m) {
    if (/^-?\d+$/.test(v)) return Number(v);
    throw new Error(`invalid value for IntOrString: invalid type: string is not a percentage`);
  }
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

/** ResolveFenceposts: maxSurge rounds up, maxUnavailable down; both 0 → maxUnavailable 1. */
export function resolveFenceposts(maxSurge: IntOrString | undefined, maxUnavailable: IntOrString | undefined, desired: number): { surge: number; unavailable: number } {
  const surge = scaledValue(maxSurge, desired, true);
  let unavailable = scaledValue(maxUnavailable, desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

const isRolling = (d: Deployment) => (d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
const replicasOf = (x: { spec: { replicas?: number } }) => x.spec.replicas ?? 1;
const rsReplicas = (rs: ReplicaSet) => rs.spec.replicas ?? 0;

export function maxSurge(d: Deployment): number {
  if (!isRolling(d)) return 0;
  const ru = d.spec.strategy?.rollingUpdate ?? {};
  return resolveFenceposts(ru.maxSurge ?? '25%', ru.maxUnavailable ?? '25%', replicasOf(d)).surge;
}

export function maxUnavailable(d: Deployment): number {
  if (!isRolling(d) || replicasOf(d) === 0) return 0;
  const ru = d.spec.strategy?.rollingUpdate ?? {};
  const u = resolveFenceposts(ru.maxSurge ?? '25%', ru.maxUnavailable ?? '25%', replicasOf(d)).unavailable;
  return Math.min(u, replicasOf(d));
}

const sum = (rss: (ReplicaSet | undefined)[], f: (rs: ReplicaSet) => number) => rss.reduce((n, rs) => n + (rs ? f(rs) : 0), 0);
/** GetReplicaCountForReplicaSets: sum of spec.replicas. */
export const specReplicaCount = (rss: (ReplicaSet | undefined)[]) => sum(rss, rsReplicas);
/** GetActualReplicaCountForReplicaSets: sum of status.replicas. */
export const actualReplicaCount = (rss: (ReplicaSet | undefined)[]) => sum(rss, (rs) => rs.status?.replicas ?? 0);
export const readyReplicaCount = (rss: (ReplicaSet | undefined)[]) => sum(rss, (rs) => rs.status?.readyReplicas ?? 0);
export const availableReplicaCount = (rss: (ReplicaSet | undefined)[]) => sum(rss, (rs) => rs.status?.availableReplicas ?? 0);

/** NewRSNewReplicas: how big the new ReplicaSet may be now. */
export function newRSNewReplicas(d: Deployment, allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet): number {
  if (!isRolling(d)) return replicasOf(d);
  const current = specReplicaCount(allRSs);
  const maxTotal = replicasOf(d) + maxSurge(d);
  if (current >= maxTotal) return rsReplicas(newRS);
  const up = Math.min(maxTotal - current, replicasOf(d) - rsReplicas(newRS));
  return rsReplicas(newRS) + up;
}

const created = (o: KObject) => Date.parse(o.metadata.creationTimestamp ?? '') || 0;
/** ReplicaSetsByCreationTimestamp: older first, then by name. */
export const byCreation = (a: ReplicaSet, b: ReplicaSet) =>
  created(a) !== created(b) ? created(a) - created(b) : (a.metadata.name! < b.metadata.name! ? -1 : a.metadata.name! > b.metadata.name! ? 1 : 0);
/** ReplicaSetsBySizeOlder: larger first; equal sizes older first. */
export const bySizeOlder = (a: ReplicaSet, b: ReplicaSet) => rsReplicas(a) !== rsReplicas(b) ? rsReplicas(b) - rsReplicas(a) : byCreation(a, b);
/** ReplicaSetsBySizeNewer: larger first; equal sizes newer first. */
export const bySizeNewer = (a: ReplicaSet, b: ReplicaSet) => rsReplicas(a) !== rsReplicas(b) ? rsReplicas(b) - rsReplicas(a) : byCreation(b, a);

export function revisionOf(rs: KObject): number {
  const v = rs.metadata.annotations?.[REVISION];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : 0;
}
export const byRevision = (a: ReplicaSet, b: ReplicaSet) => revisionOf(a) !== revisionOf(b) ? revisionOf(a) - revisionOf(b) : byCreation(a, b);

const annotationInt = (rs: ReplicaSet, key: string): number | undefined => {
  const v = rs.metadata.annotations?.[key];
  return v !== undefined && /^-?\d+$/.test(v) ? Number(v) : undefined;
};

/** getReplicaSetFraction: this ReplicaSet's share of a scale to d.replicas. */
export function replicaSetFraction(rs: ReplicaSet, d: Deployment): number {
  if (replicasOf(d) === 0) return -rsReplicas(rs);
  const deploymentReplicas = replicasOf(d) + maxSurge(d);
  const annotated = annotationInt(rs, MAX_REPLICAS) ?? d.status?.replicas ?? 0;
  if (!annotated) return 0;
  return roundHalfAway((rsReplicas(rs) * deploymentReplicas) / annotated) - rsReplicas(rs);
}

/** GetReplicaSetProportion. */
export function replicaSetProportion(rs: ReplicaSet, d: Deployment, toAdd: number, added: number): number {
  if (rsReplicas(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  const fraction = replicaSetFraction(rs, d);
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

/**
 * The proportional part of `scale`: new sizes for the active ReplicaSets when a rolling
 * Deployment with more than one active ReplicaSet is resized. Returns name → size.
 */
export function proportionalScale(d: Deployment, active: ReplicaSet[]): Map<string, number> {
  const rss = [...active];
  const allowed = replicasOf(d) > 0 ? replicasOf(d) + maxSurge(d) : 0;
  const toAdd = allowed - specReplicaCount(rss);
  if (toAdd > 0) rss.sort(bySizeNewer);
  else if (toAdd < 0) rss.sort(bySizeOlder);
  let added = 0;
  const sizes = new Map<string, number>();
  for (const rs of rss) {
    if (toAdd !== 0) {
      const p = replicaSetProportion(rs, d, toAdd, added);
      sizes.set(rs.metadata.name!, rsReplicas(rs) + p);
      added += p;
    } else sizes.set(rs.metadata.name!, rsReplicas(rs));
  }
  if (rss.length && toAdd !== 0) {
    const first = rss[0]!.metadata.name!;
    sizes.set(first, Math.max(0, sizes.get(first)! + toAdd - added));
  }
  return sizes;
}

/** FilterActiveReplicaSets: those with spec.replicas > 0. */
export const activeReplicaSets = (rss: (ReplicaSet | undefined)[]) => rss.filter((rs): rs is ReplicaSet => !!rs && rsReplicas(rs) > 0);

/** FindActiveOrLatest: the one ReplicaSet to resize, when there is at most one active. */
export function findActiveOrLatest(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): ReplicaSet | undefined {
  if (!newRS && !oldRSs.length) return undefined;
  const olds = [...oldRSs].sort((a, b) => byCreation(b, a));
  const active = activeReplicaSets([...olds, newRS]);
  if (active.length === 0) return newRS ?? olds[0];
  if (active.length === 1) return active[0];
  return undefined;
}

/** IsSaturated: the new ReplicaSet runs the whole Deployment, all available. */
export function isSaturated(d: Deployment, rs: ReplicaSet | undefined): boolean {
  if (!rs) return false;
  const desired = annotationInt(rs, DESIRED_REPLICAS);
  return desired !== undefined && rsReplicas(rs) === replicasOf(d) && desired === replicasOf(d) && (rs.status?.availableReplicas ?? 0) === replicasOf(d);
}

// ---- rolling update steps (pure: they return the scale operations) --------------------------------

export interface ScaleOp { rs: ReplicaSet; to: number }

/** reconcileNewReplicaSet: the new ReplicaSet's target size, or undefined when unchanged. */
export function reconcileNewReplicaSet(d: Deployment, allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet): number | undefined {
  if (rsReplicas(newRS) === replicasOf(d)) return undefined;
  if (rsReplicas(newRS) > replicasOf(d)) return replicasOf(d);
  const n = newRSNewReplicas(d, allRSs, newRS);
  return n === rsReplicas(newRS) ? undefined : n;
}

/**
 * reconcileOldReplicaSets: first scale down unhealthy old pods (cleanupUnhealthyReplicas), then
 * as many old pods as availability allows (scaleDownOldReplicaSetsForRollingUpdate). Returns
 * the operations in order; sizes after the first step feed the second.
 */
export function reconcileOldReplicaSets(d: Deployment, oldRSs: ReplicaSet[], newRS: ReplicaSet | undefined): ScaleOp[] {
  const olds = activeReplicaSets(oldRSs);
  const oldPods = specReplicaCount(olds);
  if (oldPods === 0) return [];
  const allPods = oldPods + (newRS ? rsReplicas(newRS) : 0);
  const minAvailable = replicasOf(d) - maxUnavailable(d);
  const newUnavailable = newRS ? rsReplicas(newRS) - (newRS.status?.availableReplicas ?? 0) : 0;
  const maxScaledDown = allPods - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return [];
  const ops: ScaleOp[] = [];
  const size = new Map<ReplicaSet, number>(olds.map((rs) => [rs, rsReplicas(rs)]));
  // cleanupUnhealthyReplicas
  const sorted = [...olds].sort(byCreation);
  let cleaned = 0;
  for (const rs of sorted) {
    if (cleaned >= maxScaledDown) break;
    const cur = size.get(rs)!;
    const avail = rs.status?.availableReplicas ?? 0;
    if (cur === 0 || cur === avail) continue;
    const down = Math.min(maxScaledDown - cleaned, cur - avail);
    size.set(rs, cur - down);
    ops.push({ rs, to: cur - down });
    cleaned += down;
  }
  // scaleDownOldReplicaSetsForRollingUpdate
  const available = availableReplicaCount([...olds, newRS]);
  if (available > minAvailable) {
    const total = available - minAvailable;
    let done = 0;
    for (const rs of sorted) {
      if (done >= total) break;
      const cur = size.get(rs)!;
      if (cur === 0) continue;
      const down = Math.min(cur, total - done);
      size.set(rs, cur - down);
      ops.push({ rs, to: cur - down });
      done += down;
    }
  }
  return ops;
}

// ---- status and conditions -------------------------------------------------------------------

export const nowString = (now = Date.now()) => new Date(now).toISOString().replace(/\.\d+Z$/, 'Z');

export function newCondition(type: string, status: Condition['status'], reason: string, message: string, now = Date.now()): Condition {
  const t = nowString(now);
  return { type, status, lastUpdateTime: t, lastTransitionTime: t, reason, message };
}

export const getCondition = (st: DeploymentStatus | undefined, type: string) => st?.conditions?.find((c) => c.type === type);

/** SetDeploymentCondition: no-op for the same status and reason; keeps lastTransitionTime when only the reason changes. */
export function setCondition(st: DeploymentStatus, c: Condition): void {
  const cur = getCondition(st, c.type);
  if (cur && cur.status === c.status && cur.reason === c.reason) return;
  if (cur && cur.status === c.status) c = { ...c, lastTransitionTime: cur.lastTransitionTime };
  st.conditions = [...(st.conditions ?? []).filter((x) => x.type !== c.type), c];
}

export function removeCondition(st: DeploymentStatus, type: string): void {
  st.conditions = (st.conditions ?? []).filter((c) => c.type !== type);
}

/** calculateStatus: counts from the ReplicaSets, plus the Available condition. */
export function calculateStatus(d: Deployment, allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined, now = Date.now()): DeploymentStatus {
  const available = availableReplicaCount(allRSs);
  const total = specReplicaCount(allRSs);
  const st: DeploymentStatus = {
    observedGeneration: d.metadata.generation,
    replicas: actualReplicaCount(allRSs),
    updatedReplicas: actualReplicaCount([newRS]),
    readyReplicas: readyReplicaCount(allRSs),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, total - available),
    conditions: (d.status?.conditions ?? []).map((c) => ({ ...c })),
  };
  if (d.status?.collisionCount !== undefined) st.collisionCount = d.status.collisionCount;
  if (available >= replicasOf(d) - maxUnavailable(d)) {
    setCondition(st, newCondition('Available', 'True', Reasons.MinimumReplicasAvailable, 'Deployment has minimum availability.', now));
  } else {
    setCondition(st, newCondition('Available', 'False', Reasons.MinimumReplicasUnavailable, 'Deployment does not have minimum availability.', now));
  }
  return st;
}

export const hasProgressDeadline = (d: Deployment) => d.spec.progressDeadlineSeconds !== undefined && d.spec.progressDeadlineSeconds !== MAX_INT32;

/** DeploymentComplete. */
export function deploymentComplete(d: Deployment, st: DeploymentStatus): boolean {
  const n = replicasOf(d);
  return st.updatedReplicas === n && st.replicas === n && st.availableReplicas === n && (st.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
}

/** DeploymentProgressing: any progress since the last status. */
export function deploymentProgressing(d: Deployment, st: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (st.replicas ?? 0) - (st.updatedReplicas ?? 0);
  return (st.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) || newOld < oldOld ||
    (st.readyReplicas ?? 0) > (old.readyReplicas ?? 0) || (st.availableReplicas ?? 0) > (old.availableReplicas ?? 0);
}

/** DeploymentTimedOut. */
export function deploymentTimedOut(d: Deployment, st: DeploymentStatus, now = Date.now()): boolean {
  if (!hasProgressDeadline(d)) return false;
  const c = getCondition(st, 'Progressing');
  if (!c) return false;
  if (c.reason === Reasons.NewReplicaSetAvailable) return false;
  if (c.reason === Reasons.ProgressDeadlineExceeded) return true;
  const from = Date.parse(c.lastUpdateTime ?? '') || 0;
  return from + d.spec.progressDeadlineSeconds! * 1000 < now;
}

/** syncRolloutStatus's status: calculateStatus plus the Progressing and ReplicaFailure conditions. */
export function rolloutStatus(d: Deployment, allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined, now = Date.now()): DeploymentStatus {
  const st = calculateStatus(d, allRSs, newRS, now);
  if (!hasProgressDeadline(d)) removeCondition(st, 'Progressing');
  const cur = getCondition(d.status, 'Progressing');
  const complete = st.replicas === st.updatedReplicas && cur?.reason === Reasons.NewReplicaSetAvailable;
  if (hasProgressDeadline(d) && !complete) {
    if (deploymentComplete(d, st)) {
      const msg = newRS ? `ReplicaSet "${newRS.metadata.name}" has successfully progressed.` : `Deployment "${d.metadata.name}" has successfully progressed.`;
      setCondition(st, newCondition('Progressing', 'True', Reasons.NewReplicaSetAvailable, msg, now));
    } else if (deploymentProgressing(d, st)) {
      const msg = newRS ? `ReplicaSet "${newRS.metadata.name}" is progressing.` : `Deployment "${d.metadata.name}" is progressing.`;
      let c = newCondition('Progressing', 'True', Reasons.ReplicaSetUpdated, msg, now);
      if (cur) {
        if (cur.status === 'True') c = { ...c, lastTransitionTime: cur.lastTransitionTime };
        removeCondition(st, 'Progressing');
      }
      setCondition(st, c);
    } else if (deploymentTimedOut(d, st, now)) {
      const msg = newRS ? `ReplicaSet "${newRS.metadata.name}" has timed out progressing.` : `Deployment "${d.metadata.name}" has timed out progressing.`;
      setCondition(st, newCondition('Progressing', 'False', Reasons.ProgressDeadlineExceeded, msg, now));
    }
  }
  const failures = replicaFailures(allRSs, newRS);
  if (failures.length) setCondition(st, failures[0]!);
  else removeCondition(st, 'ReplicaFailure');
  return st;
}

/** getReplicaFailures: ReplicaFailure conditions of the new ReplicaSet, else of any. */
function replicaFailures(allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined): Condition[] {
  const conv = (c: Condition): Condition => ({ type: c.type, status: c.status, lastUpdateTime: c.lastTransitionTime, lastTransitionTime: c.lastTransitionTime, reason: c.reason, message: c.message });
  const of = (rs: ReplicaSet | undefined) => (rs?.status?.conditions ?? []).filter((c) => c.type === 'ReplicaFailure').map(conv);
  const fromNew = of(newRS);
  if (fromNew.length) return fromNew;
  return allRSs.flatMap(of);
}

/** Status equality ignoring how empty fields are spelled. */
export const statusEqual = (a: DeploymentStatus | undefined, b: DeploymentStatus | undefined) => semanticEqual(a ?? {}, b ?? {});

// ---- templates, hashes, annotations --------------------------------------------------------------

/** Drops empty values (undefined, null, "", [], {}) recursively: Go's omitempty view of JSON. */
function normalize(v: unknown): unknown {
  if (Array.isArray(v)) { const a = v.map(normalize); return a.length ? a : undefined; }
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = normalize((v as Record<string, unknown>)[k]);
      if (x !== undefined) out[k] = x;
    }
    return Object.keys(out).length ? out : undefined;
  }
  if (v === null || v === '') return undefined;
  return v;
}

/** Semantic equality of API values (nil and empty alike, key order irrelevant). */
export function semanticEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(normalize(a) ?? null) === JSON.stringify(normalize(b) ?? null);
}

function withoutHash(t: PodTemplate | undefined): PodTemplate {
  const c = structuredClone(t ?? {});
  if (c.metadata?.labels) delete c.metadata.labels[POD_TEMPLATE_HASH];
  return c;
}

/** EqualIgnoreHash: templates equal once the pod-template-hash label is dropped. */
export const equalIgnoreHash = (a: PodTemplate | undefined, b: PodTemplate | undefined) => semanticEqual(withoutHash(a), withoutHash(b));

const SAFE_ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

/**
 * ComputeHash: FNV-32a of the template (canonical JSON) and the collision count, written as
 * upstream's SafeEncodeString of its decimal form (no vowels, so no words).
 */
export function podTemplateHash(t: PodTemplate | undefined, collisionCount?: number): string {
  let h = 0x811c9dc5;
  const feed = (bytes: Uint8Array) => {
    for (const b of bytes) { h ^= b; h = Math.imul(h, 0x01000193) >>> 0; }
  };
  feed(new TextEncoder().encode(JSON.stringify(normalize(t) ?? {})));
  if (collisionCount !== undefined) {
    const buf = new Uint8Array(4);
    new DataView(buf.buffer).setUint32(0, collisionCount >>> 0, true);
    feed(buf);
  }
  return [...String(h >>> 0)].map((ch) => SAFE_ALPHANUMS[ch.charCodeAt(0) % SAFE_ALPHANUMS.length]).join('');
}

/** SetNewReplicaSetAnnotations; returns whether anything changed. Mutates rs. */
export function setNewReplicaSetAnnotations(d: Deployment, rs: ReplicaSet, newRevision: number, exists: boolean): boolean {
  let changed = false;
  const ann = (rs.metadata.annotations ??= {});
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) {
    if (SKIP_ANNOTATIONS.has(k) || ann[k] === v) continue;
    ann[k] = v;
    changed = true;
  }
  const oldRevision = ann[REVISION];
  let oldRev = 0;
  if (oldRevision !== undefined && oldRevision !== '') {
    if (!/^\d+$/.test(oldRevision)) return false;
    oldRev = Number(oldRevision);
  }
  if (oldRev < newRevision) {
    ann[REVISION] = String(newRevision);
    changed = true;
    if (oldRevision !== undefined) {
      const hist = ann[REVISION_HISTORY] ?? '';
      if (!hist) ann[REVISION_HISTORY] = oldRevision;
      else {
        const parts = hist.split(',');
        let total = hist.length + oldRevision.length + 1;
        let start = 0;
        while (total > MAX_REV_HISTORY_CHARS && start < parts.length) { total -= parts[start]!.length + 1; start++; }
        if (total <= MAX_REV_HISTORY_CHARS) ann[REVISION_HISTORY] = [...parts.slice(start), oldRevision].join(',');
      }
    }
  }
  if (!exists && setReplicasAnnotations(rs, replicasOf(d), replicasOf(d) + maxSurge(d))) changed = true;
  return changed;
}

/** SetReplicasAnnotations; returns whether anything changed. Mutates rs. */
export function setReplicasAnnotations(rs: ReplicaSet, desired: number, max: number): boolean {
  const ann = (rs.metadata.annotations ??= {});
  let changed = false;
  if (ann[DESIRED_REPLICAS] !== String(desired)) { ann[DESIRED_REPLICAS] = String(desired); changed = true; }
  if (ann[MAX_REPLICAS] !== String(max)) { ann[MAX_REPLICAS] = String(max); changed = true; }
  return changed;
}

const replicasAnnotationsNeedUpdate = (rs: ReplicaSet, desired: number, max: number) =>
  rs.metadata.annotations?.[DESIRED_REPLICAS] !== String(desired) || rs.metadata.annotations?.[MAX_REPLICAS] !== String(max);

/** The ReplicaSet a Deployment creates for its current template (getNewReplicaSet, create path). */
export function newReplicaSetFor(d: Deployment, oldRSs: ReplicaSet[], newRevision: number): ReplicaSet {
  const template = structuredClone(d.spec.template ?? {});
  const hash = podTemplateHash(template, d.status?.collisionCount);
  template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH]: hash } };
  const selector = structuredClone(d.spec.selector ?? {});
  selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH]: hash };
  const rs: ReplicaSet = {
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: {
      name: `${d.metadata.name}-${hash}`, namespace: d.metadata.namespace,
      ownerReferences: [newControllerRef(d, 'apps/v1', 'Deployment')], labels: { ...template.metadata.labels },
    },
    spec: { replicas: 0, minReadySeconds: d.spec.minReadySeconds ?? 0, selector, template },
  };
  rs.spec.replicas = newRSNewReplicas(d, [...oldRSs, rs], rs);
  setNewReplicaSetAnnotations(d, rs, newRevision, false);
  return rs;
}

/**
 * cleanupDeployment's choice: the oldest revisions beyond revisionHistoryLimit, skipping any
 * that still have replicas (wanted or running) or whose latest spec is not yet observed.
 */
export function replicaSetsToCleanUp(d: Deployment, oldRSs: ReplicaSet[]): ReplicaSet[] {
  const limit = d.spec.revisionHistoryLimit;
  if (limit === undefined || limit === MAX_INT32) return [];
  const cleanable = oldRSs.filter((rs) => !rs.metadata.deletionTimestamp).sort(byRevision);
  const out: ReplicaSet[] = [];
  for (let i = 0; i < cleanable.length - limit; i++) {
    const rs = cleanable[i]!;
    if ((rs.status?.replicas ?? 0) !== 0 || rsReplicas(rs) !== 0 || (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0)) continue;
    out.push(rs);
  }
  return out;
}

// ---- the controller ------------------------------------------------------------------------------

export interface DeploymentControllerOptions { workers?: number }

/** Not a failure: the sync has to run again (after a conflict, or waiting on something). */
class Requeue extends Error {}

export async function startDeploymentController(ctx: ControllerContext, opts: DeploymentControllerOptions = {}): Promise<() => Promise<void>> {
  const dInf = ctx.informers.deployments();
  const rsInf = ctx.informers.replicaSets();
  const podInf = ctx.informers.pods();
  const dApi = ctx.client.resource<Deployment>(DEPLOY_GVR);
  const rsApi = ctx.client.resource<ReplicaSet>(RS_GVR);
  const queue = new WorkQueue<string>({ name: 'deployment' });
  const events = trackedRecorder(new EventRecorder(ctx.client, 'deployment-controller'));

  const deploymentFor = (rs: KObject): Deployment | undefined => {
    const ref = controllerOf(rs);
    if (!ref || ref.kind !== 'Deployment' || !ref.apiVersion.startsWith('apps/')) return undefined;
    const d = dInf.get(rs.metadata.namespace, ref.name);
    return d && d.metadata.uid === ref.uid ? d : undefined;
  };
  const deploymentsSelecting = (rs: ReplicaSet): Deployment[] => dInf.listNamespace(rs.metadata.namespace ?? '').filter((d) => {
    const sel = selectorOf(d.spec);
    return !!sel && !isEmpty(sel) && matches(sel, rs.metadata.labels ?? {});
  });
  const enqueue = (d: Deployment) => queue.add(keyOf(d));

  const removers = [
    dInf.addEventHandler({ onAdd: enqueue, onUpdate: (_o, d) => enqueue(d), onDelete: enqueue }),
    rsInf.addEventHandler({
      onAdd: (rs) => {
        const d = deploymentFor(rs);
        if (d) enqueue(d);
        else if (!controllerOf(rs)) for (const x of deploymentsSelecting(rs)) enqueue(x);
      },
      onUpdate: (old, rs) => {
        if (old.metadata.resourceVersion === rs.metadata.resourceVersion) return;
        const oldRef = controllerOf(old), ref = controllerOf(rs);
        if (oldRef && JSON.stringify(oldRef) !== JSON.stringify(ref)) { const d = deploymentFor(old); if (d) enqueue(d); }
        if (ref) { const d = deploymentFor(rs); if (d) enqueue(d); return; }
        if (JSON.stringify(old.metadata.labels) !== JSON.stringify(rs.metadata.labels) || oldRef) {
          for (const x of deploymentsSelecting(rs)) enqueue(x);
        }
      },
      onDelete: (rs) => { const d = deploymentFor(rs); if (d) enqueue(d); },
    }),
    podInf.addEventHandler({
      // Recreate waits for old pods to go: a pod's deletion may unblock it.
      onDelete: (p) => {
        const ref = controllerOf(p);
        if (!ref || ref.kind !== 'ReplicaSet') return;
        const rs = rsInf.get(p.metadata.namespace, ref.name);
        const d = rs && deploymentFor(rs);
        if (d && d.spec.strategy?.type === 'Recreate') enqueue(d);
      },
    }),
  ];

  // -- I/O helpers (each keeps `d` current with what the server returned) --

  async function updateStatus(d: Deployment, st: DeploymentStatus): Promise<void> {
    try {
      const r = await dApi.inNamespace(d.metadata.namespace).updateStatus({ ...d, status: st });
      d.metadata = r.metadata;
      d.status = r.status;
    } catch (e) {
      if (conflictError(e)) throw new Requeue('conflict');
      throw e;
    }
  }

  /**
   * Sets the Deployment's revision annotation (SetDeploymentRevision). Upstream writes it with
   * the status (the status strategy keeps metadata changes and the generation stays); a server
   * whose /status takes only status gets a metadata patch instead (which bumps the generation).
   */
  async function setDeploymentRevision(d: Deployment, revision: string): Promise<void> {
    if (d.metadata.annotations?.[REVISION] === revision) return;
    d.metadata.annotations = { ...(d.metadata.annotations ?? {}), [REVISION]: revision };
    await updateStatus(d, d.status ?? {});
    if (d.metadata.annotations?.[REVISION] === revision) return;
    try {
      const r = await dApi.inNamespace(d.metadata.namespace).patch(d.metadata.name!, 'merge', {
        metadata: { annotations: { [REVISION]: revision }, resourceVersion: d.metadata.resourceVersion },
      });
      d.metadata = r.metadata;
    } catch (e) {
      if (conflictError(e)) throw new Requeue('conflict');
      throw e;
    }
  }

  async function updateRS(rs: ReplicaSet): Promise<ReplicaSet> {
    try {
      return await rsApi.inNamespace(rs.metadata.namespace).update(rs);
    } catch (e) {
      if (conflictError(e)) throw new Requeue('conflict');
      throw e;
    }
  }

  /** scaleReplicaSet (+AndRecordEvent): resizes and refreshes the replicas annotations. */
  async function scaleRS(rs: ReplicaSet, to: number, d: Deployment): Promise<{ scaled: boolean; rs: ReplicaSet }> {
    const sizeChange = rsReplicas(rs) !== to;
    const max = replicasOf(d) + maxSurge(d);
    if (!sizeChange && !replicasAnnotationsNeedUpdate(rs, replicasOf(d), max)) return { scaled: false, rs };
    const copy = structuredClone(rs);
    copy.spec.replicas = to;
    setReplicasAnnotations(copy, replicasOf(d), max);
    const updated = await updateRS(copy);
    if (sizeChange) {
      events.record(eventTarget(d), 'Normal', 'ScalingReplicaSet',
        `Scaled ${rsReplicas(rs) < to ? 'up' : 'down'} replica set ${rs.metadata.name} from ${rsReplicas(rs)} to ${to}`);
    }
    return { scaled: sizeChange, rs: updated };
  }

  /** getReplicaSetsForDeployment: claims ReplicaSets by the Deployment's selector. */
  async function claimReplicaSets(d: Deployment): Promise<ReplicaSet[]> {
    const sel = selectorOf(d.spec);
    if (!sel) return [];
    const out: ReplicaSet[] = [];
    let adoptable: boolean | undefined;
    for (const rs of rsInf.listNamespace(d.metadata.namespace ?? '')) {
      const action = claimAction(d, rs, matches(sel, rs.metadata.labels ?? {}));
      if (action === 'claim') out.push(rs);
      else if (action === 'release') await setOwnership(rsApi, d, 'apps/v1', 'Deployment', rs, 'release');
      else if (action === 'adopt') {
        adoptable ??= await canAdopt(dApi, d);
        if (adoptable && await setOwnership(rsApi, d, 'apps/v1', 'Deployment', rs, 'adopt')) out.push(rs);
      }
    }
    return out;
  }

  /**
   * getAllReplicaSetsAndSyncRevision: the new ReplicaSet (created when asked and missing, its
   * annotations refreshed when found) and the old ones; syncs the Deployment's revision.
   */
  async function newAndOld(d: Deployment, rsList: ReplicaSet[], create: boolean): Promise<{ newRS?: ReplicaSet; oldRSs: ReplicaSet[] }> {
    const sorted = [...rsList].sort(byCreation);
    const existing = sorted.find((rs) => equalIgnoreHash(rs.spec.template, d.spec.template));
    const oldRSs = rsList.filter((rs) => rs !== existing);
    const newRevision = Math.max(0, ...oldRSs.map(revisionOf)) + 1;
    if (existing) {
      const copy = structuredClone(existing);
      const annChanged = setNewReplicaSetAnnotations(d, copy, newRevision, true);
      const minReadyChanged = (copy.spec.minReadySeconds ?? 0) !== (d.spec.minReadySeconds ?? 0);
      if (annChanged || minReadyChanged) {
        copy.spec.minReadySeconds = d.spec.minReadySeconds ?? 0;
        return { newRS: await updateRS(copy), oldRSs };
      }
      await setDeploymentRevision(d, copy.metadata.annotations?.[REVISION] ?? '');
      if (hasProgressDeadline(d) && !getCondition(d.status, 'Progressing')) {
        const st = structuredClone(d.status ?? {});
        setCondition(st, newCondition('Progressing', 'True', Reasons.FoundNewReplicaSet, `Found new replica set "${copy.metadata.name}"`));
        await updateStatus(d, st);
      }
      return { newRS: copy, oldRSs };
    }
    if (!create) return { oldRSs };
    const rs = newReplicaSetFor(d, oldRSs, newRevision);
    let createdRS: ReplicaSet;
    let alreadyExists = false;
    try {
      createdRS = await rsApi.inNamespace(d.metadata.namespace).create(rs);
    } catch (e) {
      if (e instanceof StatusError && e.code === 409) { // AlreadyExists
        let cur: ReplicaSet | undefined;
        try { cur = await rsApi.inNamespace(d.metadata.namespace).get(rs.metadata.name!); } catch { cur = undefined; }
        if (cur && controllerOf(cur)?.uid === d.metadata.uid && equalIgnoreHash(d.spec.template, cur.spec.template)) {
          createdRS = cur;
          alreadyExists = true;
        } else {
          // A hash collision: bump collisionCount so the next hash differs.
          const st = structuredClone(d.status ?? {});
          st.collisionCount = (st.collisionCount ?? 0) + 1;
          await updateStatus(d, st);
          throw new Requeue(`hash collision for replica set ${rs.metadata.name}`);
        }
      } else {
        if (hasProgressDeadline(d)) {
          const st = structuredClone(d.status ?? {});
          setCondition(st, newCondition('Progressing', 'False', Reasons.FailedReplicaSetCreate,
            `Failed to create new replica set "${rs.metadata.name}": ${(e as Error).message}`));
          await updateStatus(d, st).catch(() => undefined);
        }
        events.record(eventTarget(d), 'Warning', Reasons.FailedReplicaSetCreate, `Failed to create new replica set "${rs.metadata.name}": ${(e as Error).message}`);
        throw e;
      }
    }
    if (!alreadyExists && rsReplicas(createdRS) > 0) {
      events.record(eventTarget(d), 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${createdRS.metadata.name} from 0 to ${rsReplicas(createdRS)}`);
    }
    await setDeploymentRevision(d, String(newRevision));
    if (!alreadyExists && hasProgressDeadline(d)) {
      const st = structuredClone(d.status ?? {});
      setCondition(st, newCondition('Progressing', 'True', Reasons.NewReplicaSetCreated, `Created new replica set "${createdRS.metadata.name}"`));
      await updateStatus(d, st);
    }
    return { newRS: createdRS, oldRSs };
  }

  async function syncRolloutStatus(d: Deployment, allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined): Promise<void> {
    const now = Date.now();
    const st = rolloutStatus(d, allRSs, newRS, now);
    if (statusEqual(d.status, st)) {
      requeueStuck(d, st, now);
      return;
    }
    await updateStatus(d, st);
  }

  /** requeueStuckDeployment: look again when the progress deadline would pass. */
  function requeueStuck(d: Deployment, st: DeploymentStatus, now: number): void {
    const c = getCondition(d.status, 'Progressing');
    if (!hasProgressDeadline(d) || !c) return;
    if (deploymentComplete(d, st) || c.reason === Reasons.ProgressDeadlineExceeded) return;
    const after = (Date.parse(c.lastUpdateTime ?? '') || 0) + d.spec.progressDeadlineSeconds! * 1000 - now;
    if (after < 1000) queue.addRateLimited(keyOf(d));
    else queue.addAfter(keyOf(d), after + 1000);
  }

  async function syncDeploymentStatus(d: Deployment, allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined): Promise<void> {
    const st = calculateStatus(d, allRSs, newRS);
    if (!statusEqual(d.status, st)) await updateStatus(d, st);
  }

  /** cleanupDeployment: deletes the oldest idle ReplicaSets beyond revisionHistoryLimit. */
  async function cleanup(d: Deployment, oldRSs: ReplicaSet[]): Promise<void> {
    for (const rs of replicaSetsToCleanUp(d, oldRSs)) {
      await rsApi.inNamespace(rs.metadata.namespace).delete(rs.metadata.name!, { preconditions: { uid: rs.metadata.uid } })
        .catch((e) => { if (!notFoundError(e) && !conflictError(e)) throw e; });
    }
  }

  /** scale: resizes for a paused Deployment or a change of spec.replicas. */
  async function scale(d: Deployment, newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): Promise<void> {
    const one = findActiveOrLatest(newRS, oldRSs);
    if (one) {
      if (rsReplicas(one) !== replicasOf(d)) await scaleRS(one, replicasOf(d), d);
      return;
    }
    if (isSaturated(d, newRS)) {
      for (const old of activeReplicaSets(oldRSs)) await scaleRS(old, 0, d);
      return;
    }
    if (isRolling(d)) {
      const active = activeReplicaSets([...oldRSs, newRS]);
      const sizes = proportionalScale(d, active);
      for (const rs of active) await scaleRS(rs, sizes.get(rs.metadata.name!)!, d);
    }
  }

  async function syncScale(d: Deployment, rsList: ReplicaSet[]): Promise<void> {
    const { newRS, oldRSs } = await newAndOld(d, rsList, false);
    await scale(d, newRS, oldRSs);
    if (d.spec.paused) await cleanup(d, oldRSs);
    await syncDeploymentStatus(d, [...oldRSs, newRS], newRS);
  }

  async function isScalingEvent(d: Deployment, rsList: ReplicaSet[]): Promise<boolean> {
    const { newRS, oldRSs } = await newAndOld(d, rsList, false);
    return activeReplicaSets([...oldRSs, newRS]).some((rs) => {
      const desired = annotationInt(rs, DESIRED_REPLICAS);
      return desired !== undefined && desired !== replicasOf(d);
    });
  }

  async function checkPausedConditions(d: Deployment): Promise<void> {
    if (!hasProgressDeadline(d)) return;
    const c = getCondition(d.status, 'Progressing');
    if (c?.reason === Reasons.ProgressDeadlineExceeded) return;
    const pausedCond = c?.reason === Reasons.DeploymentPaused;
    const st = structuredClone(d.status ?? {});
    if (d.spec.paused && !pausedCond) setCondition(st, newCondition('Progressing', 'Unknown', Reasons.DeploymentPaused, 'Deployment is paused'));
    else if (!d.spec.paused && pausedCond) setCondition(st, newCondition('Progressing', 'Unknown', Reasons.DeploymentResumed, 'Deployment is resumed'));
    else return;
    await updateStatus(d, st);
  }

  async function rolloutRolling(d: Deployment, rsList: ReplicaSet[]): Promise<void> {
    const { newRS, oldRSs } = await newAndOld(d, rsList, true);
    let nrs = newRS!;
    const allRSs = () => [...oldRSs, nrs];
    const to = reconcileNewReplicaSet(d, allRSs(), nrs);
    if (to !== undefined) {
      const r = await scaleRS(nrs, to, d);
      nrs = r.rs;
      if (r.scaled) { await syncRolloutStatus(d, allRSs(), nrs); return; }
    }
    const ops = reconcileOldReplicaSets(d, oldRSs, nrs);
    let scaledDown = false;
    for (const op of ops) {
      const i = oldRSs.findIndex((x) => x.metadata.uid === op.rs.metadata.uid);
      const cur = oldRSs[i]!;
      const r = await scaleRS(cur, op.to, d);
      oldRSs[i] = r.rs;
      scaledDown ||= r.scaled;
    }
    if (scaledDown) { await syncRolloutStatus(d, allRSs(), nrs); return; }
    if (deploymentComplete(d, d.status ?? {})) await cleanup(d, oldRSs);
    await syncRolloutStatus(d, allRSs(), nrs);
  }

  async function rolloutRecreate(d: Deployment, rsList: ReplicaSet[]): Promise<void> {
    let { newRS, oldRSs } = await newAndOld(d, rsList, false);
    let scaledDown = false;
    for (const [i, rs] of oldRSs.entries()) {
      if (rsReplicas(rs) === 0) continue;
      const r = await scaleRS(rs, 0, d);
      oldRSs[i] = r.rs;
      scaledDown ||= r.scaled;
    }
    if (scaledDown) { await syncRolloutStatus(d, [...oldRSs, newRS], newRS); return; }
    if (oldPodsRunning(newRS, oldRSs)) { await syncRolloutStatus(d, [...oldRSs, newRS], newRS); return; }
    if (!newRS) ({ newRS, oldRSs } = await newAndOld(d, rsList, true));
    const r = await scaleRS(newRS!, replicasOf(d), d);
    newRS = r.rs;
    if (deploymentComplete(d, d.status ?? {})) await cleanup(d, oldRSs);
    await syncRolloutStatus(d, [...oldRSs, newRS], newRS);
  }

  /** oldPodsRunning: old ReplicaSets still report pods, or own pods not yet terminal. */
  function oldPodsRunning(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): boolean {
    if (actualReplicaCount(oldRSs) > 0) return true;
    for (const rs of oldRSs) {
      if (newRS && rs.metadata.uid === newRS.metadata.uid) continue;
      const pods: PodRecord[] = podInf.byIndex(CONTROLLER_UID_INDEX, rs.metadata.uid!);
      if (pods.some((p) => p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded')) return true;
    }
    return false;
  }

  async function sync(key: string): Promise<void> {
    const cached = dInf.getByKey(key);
    if (!cached) return;
    const d = structuredClone(cached);
    const sel = d.spec.selector;
    if (!sel || (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0)) {
      // Selecting everything is refused (upstream's SelectingAll): only record the generation.
      if ((d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 0)) {
        await updateStatus(d, { ...(d.status ?? {}), observedGeneration: d.metadata.generation });
      }
      return;
    }
    const rsList = await claimReplicaSets(d);
    if (d.metadata.deletionTimestamp) {
      const { newRS, oldRSs } = await newAndOld(d, rsList, false);
      await syncDeploymentStatus(d, [...oldRSs, newRS], newRS);
      return;
    }
    await checkPausedConditions(d);
    if (d.spec.paused) { await syncScale(d, rsList); return; }
    if (await isScalingEvent(d, rsList)) { await syncScale(d, rsList); return; }
    if (d.spec.strategy?.type === 'Recreate') await rolloutRecreate(d, rsList);
    else await rolloutRolling(d, rsList);
  }

  await Promise.all([dInf.waitForSync(), rsInf.waitForSync(), podInf.waitForSync()]);
  const workers = runWorkers(queue, opts.workers ?? 2, sync, {
    onError: (key, e) => {
      if (!(e instanceof Requeue) && !conflictError(e)) console.error(`podnet deployment controller: ${String(key)}: ${(e as Error).message}`);
    },
  });
  return async () => {
    for (const r of removers) r();
    queue.shutDown();
    await Promise.race([workers, new Promise((r) => setTimeout(r, 2000))]);
    await events.flush();
  };
}
