// The ReplicaSet controller (kube-controller-manager's pkg/controller/replicaset), level-triggered:
// each sync compares the active pods a ReplicaSet owns with spec.replicas and creates or deletes
// the difference. Like upstream it
//  - adopts matching orphan pods and releases owned pods whose labels no longer match;
//  - records expectations for its own creates/deletes and does not act again until the
//    informer has seen them (or 5 minutes passed), so it never over-creates;
//  - creates in slow-start batches (1, 2, 4, …) capped at 500 per sync, and stops at the first
//    failing batch;
//  - deletes the "cheapest" pods first (upstream's ActivePodsWithRanks order);
//  - writes status: replicas, fullyLabeledReplicas, readyReplicas, availableReplicas
//    (minReadySeconds), observedGeneration and the ReplicaFailure condition.
// The decisions are pure functions exported for tests; the runner below only does I/O.

import { StatusError } from '../api/errors.js';
import { matches, selectorFromLabelSelector, type LabelSelector, type LabelSelectorSpec } from '../api/labels.js';
import type { KObject, ObjectMeta, OwnerReference } from '../api/meta.js';
import type { ApiClient, ResourceClient } from '../client/client.js';
import { keyOf } from '../client/informer.js';
import { runWorkers, WorkQueue } from '../client/workqueue.js';
import type { ControllerContext } from './manager.js';
import { EventRecorder, type EventTarget } from './scheduler.js';
import { PODS, REPLICASETS } from '../client/resources.js';

// ---- shapes ---------------------------------------------------------------------------------

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastUpdateTime?: string;
}

/** What the workload controllers keep of a pod (STYLE.md item 7: stripped on arrival). */
export interface PodRecord extends KObject {
  metadata: Pick<ObjectMeta, 'name' | 'namespace' | 'uid' | 'resourceVersion' | 'labels' | 'annotations' |
    'ownerReferences' | 'deletionTimestamp' | 'creationTimestamp'>;
  spec: { nodeName?: string };
  status: {
    phase?: string;
    conditions?: Condition[];
    containerStatuses?: { restartCount?: number }[];
  };
}

export const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';

/** The pod informer's transform. */
export function stripPod(o: KObject): PodRecord {
  const m = o.metadata ?? {};
  const spec = (o.spec ?? {}) as { nodeName?: string };
  const st = (o.status ?? {}) as PodRecord['status'];
  const cost = m.annotations?.[POD_DELETION_COST];
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, labels: m.labels,
      annotations: cost !== undefined ? { [POD_DELETION_COST]: cost } : undefined,
      ownerReferences: m.ownerReferences, deletionTimestamp: m.deletionTimestamp, creationTimestamp: m.creationTimestamp,
    },
    spec: { nodeName: spec.nodeName || undefined },
    status: {
      phase: st.phase,
      conditions: (st.conditions ?? []).filter((c) => c.type === 'Ready'),
      containerStatuses: st.containerStatuses?.map((c) => ({ restartCount: c.restartCount ?? 0 })),
    },
  };
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string>; finalizers?: string[]; [k: string]: unknown };
  spec?: Record<string, unknown>;
}

export interface ReplicaSetStatus {
  replicas?: number;
  fullyLabeledReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  observedGeneration?: number;
  conditions?: Condition[];
}

export interface ReplicaSet extends KObject {
  spec: {
    replicas?: number;
    minReadySeconds?: number;
    selector?: LabelSelectorSpec;
    template?: PodTemplate;
  };
  status?: ReplicaSetStatus;
}

export const RS_GVR = REPLICASETS;
export const POD_GVR = PODS;

/** Index of pods and ReplicaSets by the uid of their controller (ownerReference controller=true). */
export const CONTROLLER_UID_INDEX = 'controller-uid';
export const controllerUidIndex = (o: KObject): string[] => {
  const ref = controllerOf(o);
  return ref ? [ref.uid] : [];
};

export function controllerOf(o: KObject): OwnerReference | undefined {
  return o.metadata.ownerReferences?.find((r) => r.controller === true);
}

/** metav1.NewControllerRef. */
export function newControllerRef(owner: KObject, apiVersion: string, kind: string): OwnerReference {
  return { apiVersion, kind, name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

// ---- pod predicates ------------------------------------------------------------------------

const time = (s: string | null | undefined): number | undefined => {
  if (!s) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
};

/** controller.IsPodActive: not terminal and not being deleted. */
export function isPodActive(p: PodRecord): boolean {
  return p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed' && !p.metadata.deletionTimestamp;
}

export function podReadyCondition(p: PodRecord): Condition | undefined {
  return p.status?.conditions?.find((c) => c.type === 'Ready');
}

export function isPodReady(p: PodRecord): boolean {
  return podReadyCondition(p)?.status === 'True';
}

/** podutil.IsPodAvailable: ready, and (with minReadySeconds) ready for longer than that. */
export function isPodAvailable(p: PodRecord, minReadySeconds: number, now: number): boolean {
  const c = podReadyCondition(p);
  if (c?.status !== 'True') return false;
  if (!minReadySeconds) return true;
  const t = time(c.lastTransitionTime);
  return t !== undefined && t + minReadySeconds * 1000 < now;
}

// ---- which pods to delete ------------------------------------------------------------------

const PHASE_ORDINAL: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function deletionCost(p: PodRecord): number {
  const v = p.metadata.annotations?.[POD_DELETION_COST];
  if (v === undefined || !/^[+-]?\d+$/.test(v.trim())) return 0;
  const n = Number(v.trim());
  return n >= -2147483648 && n <= 2147483647 ? n : 0;
}

function maxRestarts(p: PodRecord): number {
  return Math.max(0, ...(p.status?.containerStatuses ?? []).map((c) => c.restartCount ?? 0));
}

/** int64(log2(now - t)) in nanoseconds, or -1 for t at or after now (upstream's logarithmic bucket). */
function logBucket(t: number, now: number): number {
  const d = (now - t) * 1e6;
  return d > 0 ? Math.floor(Math.log2(d)) : -1;
}

/** afterOrZero: a zero time sorts first, then the later time. */
function afterOrZero(a: number | undefined, b: number | undefined): boolean {
  if (a === undefined || b === undefined) return a === undefined;
  return a > b;
}

/**
 * upstream's ActivePodsWithRanks.Less (with PodDeletionCost and LogarithmicScaleDown on):
 * true when pod `a` should be deleted before pod `b`. `rank` is the number of related active
 * pods on the same node.
 */
export function deleteBefore(a: PodRecord, ra: number, b: PodRecord, rb: number, now: number): boolean {
  const na = a.spec?.nodeName ?? '', nb = b.spec?.nodeName ?? '';
  // 1. Unassigned < assigned
  if (na !== nb && (!na || !nb)) return !na;
  // 2. Pending < Unknown < Running
  const pa = PHASE_ORDINAL[a.status?.phase ?? ''] ?? 0, pb = PHASE_ORDINAL[b.status?.phase ?? ''] ?? 0;
  if (pa !== pb) return pa < pb;
  // 3. Not ready < ready
  if (isPodReady(a) !== isPodReady(b)) return !isPodReady(a);
  // 4. Lower pod-deletion-cost < higher
  const ca = deletionCost(a), cb = deletionCost(b);
  if (ca !== cb) return ca < cb;
  // 5. Doubled up (more related pods on the same node) < not doubled up
  if (ra !== rb) return ra > rb;
  // 6. Ready for less time < more time (in logarithmic buckets)
  if (isPodReady(a) && isPodReady(b)) {
    const ta = time(podReadyCondition(a)?.lastTransitionTime), tb = time(podReadyCondition(b)?.lastTransitionTime);
    if (ta !== tb) {
      if (ta === undefined || tb === undefined) return afterOrZero(ta, tb);
      const diff = logBucket(ta, now) - logBucket(tb, now);
      if (diff === 0) return (a.metadata.uid ?? '') < (b.metadata.uid ?? '');
      return diff < 0;
    }
  }
  // 7. More container restarts < fewer
  const xa = maxRestarts(a), xb = maxRestarts(b);
  if (xa !== xb) return xa > xb;
  // 8. Empty creation time < newer < older (in logarithmic buckets)
  const ta = time(a.metadata.creationTimestamp), tb = time(b.metadata.creationTimestamp);
  if (ta !== tb) {
    if (ta === undefined || tb === undefined) return afterOrZero(ta, tb);
    const diff = logBucket(ta, now) - logBucket(tb, now);
    if (diff === 0) return (a.metadata.uid ?? '') < (b.metadata.uid ?? '');
    return diff < 0;
  }
  return false;
}

/**
 * getPodsToDelete: the `diff` pods (of `pods`, the ReplicaSet's active pods) to delete first,
 * ranked against `related` (the active pods of every ReplicaSet with the same owner).
 */
export function podsToDelete(pods: PodRecord[], related: PodRecord[], diff: number, now = Date.now()): PodRecord[] {
  if (diff >= pods.length) return [...pods];
  const onNode = new Map<string, number>();
  for (const p of related) if (isPodActive(p)) onNode.set(p.spec?.nodeName ?? '', (onNode.get(p.spec?.nodeName ?? '') ?? 0) + 1);
  const ranked = pods.map((p) => ({ p, r: onNode.get(p.spec?.nodeName ?? '') ?? 0 }));
  ranked.sort((x, y) => (deleteBefore(x.p, x.r, y.p, y.r, now) ? -1 : deleteBefore(y.p, y.r, x.p, x.r, now) ? 1 : 0));
  return ranked.slice(0, diff).map((x) => x.p);
}

// ---- status ---------------------------------------------------------------------------------

export const REPLICA_FAILURE = 'ReplicaFailure';

/**
 * calculateStatus: the status for a ReplicaSet given its active, owned pods and the error (if
 * any) of this sync's create/delete round. observedGeneration is set by the caller on write.
 */
export function replicaSetStatus(rs: ReplicaSet, pods: PodRecord[], manageErr: Error | undefined, now = Date.now()): ReplicaSetStatus {
  const tplLabels = rs.spec.template?.metadata?.labels ?? {};
  const minReady = rs.spec.minReadySeconds ?? 0;
  let fullyLabeled = 0, ready = 0, available = 0;
  for (const p of pods) {
    const labels = p.metadata.labels ?? {};
    if (Object.entries(tplLabels).every(([k, v]) => labels[k] === v)) fullyLabeled++;
    if (isPodReady(p)) {
      ready++;
      if (isPodAvailable(p, minReady, now)) available++;
    }
  }
  const conditions = [...(rs.status?.conditions ?? [])];
  const failureIdx = conditions.findIndex((c) => c.type === REPLICA_FAILURE);
  if (manageErr && failureIdx < 0) {
    const diff = pods.length - (rs.spec.replicas ?? 1);
    const reason = diff < 0 ? 'FailedCreate' : diff > 0 ? 'FailedDelete' : '';
    conditions.push({ type: REPLICA_FAILURE, status: 'True', lastTransitionTime: new Date(now).toISOString().replace(/\.\d+Z$/, 'Z'), reason, message: manageErr.message });
  } else if (!manageErr && failureIdx >= 0) {
    conditions.splice(failureIdx, 1);
  }
  const st: ReplicaSetStatus = {
    replicas: pods.length, fullyLabeledReplicas: fullyLabeled, readyReplicas: ready, availableReplicas: available,
    observedGeneration: rs.status?.observedGeneration,
  };
  if (conditions.length) st.conditions = conditions;
  return st;
}

/** Whether a status write is needed (updateReplicaSetStatus's early return). */
export function replicaSetStatusChanged(rs: ReplicaSet, st: ReplicaSetStatus): boolean {
  const cur = rs.status ?? {};
  return (cur.replicas ?? 0) !== st.replicas || (cur.fullyLabeledReplicas ?? 0) !== st.fullyLabeledReplicas ||
    (cur.readyReplicas ?? 0) !== st.readyReplicas || (cur.availableReplicas ?? 0) !== st.availableReplicas ||
    (rs.metadata.generation ?? 0) !== (cur.observedGeneration ?? 0) ||
    JSON.stringify(cur.conditions ?? []) !== JSON.stringify(st.conditions ?? []);
}

// ---- creating pods ---------------------------------------------------------------------------

/** controller.GetPodFromTemplate: the pod a ReplicaSet creates. */
export function podFromTemplate(rs: ReplicaSet): KObject {
  const tpl = rs.spec.template ?? {};
  const md = tpl.metadata ?? {};
  let prefix = `${rs.metadata.name}-`;
  if (prefix.length > 253 - 5) prefix = prefix.slice(0, 253 - 5);
  const meta: ObjectMeta = { generateName: prefix, namespace: rs.metadata.namespace, ownerReferences: [newControllerRef(rs, 'apps/v1', 'ReplicaSet')] };
  if (md.labels && Object.keys(md.labels).length) meta.labels = { ...md.labels };
  if (md.annotations && Object.keys(md.annotations).length) meta.annotations = { ...md.annotations };
  if (md.finalizers?.length) meta.finalizers = [...md.finalizers];
  return { apiVersion: 'v1', kind: 'Pod', metadata: meta, spec: structuredClone(tpl.spec ?? {}) };
}

/**
 * slowStartBatch: calls `fn` `count` times in batches of 1, 2, 4, … (each batch in parallel);
 * stops after the first batch with an error. Returns the successes and the first error.
 */
export async function slowStartBatch(count: number, initial: number, fn: () => Promise<void>): Promise<{ successes: number; error?: Error }> {
  let remaining = count;
  let successes = 0;
  for (let batch = Math.min(remaining, initial); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, () => fn()));
    const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    successes += batch - errors.length;
    if (errors.length) return { successes, error: errors[0]!.reason as Error };
    remaining -= batch;
  }
  return { successes };
}

// ---- expectations ------------------------------------------------------------------------------

/** How long expectations hold before a sync proceeds anyway (upstream's ExpectationsTimeout). */
export const EXPECTATIONS_TIMEOUT_MS = 5 * 60 * 1000;

/**
 * UIDTrackingControllerExpectations: per controller key, how many creations and which
 * deletions (pod keys) it still waits to observe.
 */
export class Expectations {
  private readonly m = new Map<string, { add: number; del: number; at: number; keys: Set<string> }>();
  constructor(private readonly now: () => number = Date.now) {}

  satisfied(key: string): boolean {
    const e = this.m.get(key);
    if (!e) return true;
    if (e.add <= 0 && e.del <= 0) return true;
    return this.now() - e.at > EXPECTATIONS_TIMEOUT_MS;
  }
  expectCreations(key: string, n: number): void { this.m.set(key, { add: n, del: 0, at: this.now(), keys: new Set() }); }
  expectDeletions(key: string, podKeys: string[]): void {
    this.m.set(key, { add: 0, del: podKeys.length, at: this.now(), keys: new Set(podKeys) });
  }
  creationObserved(key: string): void { const e = this.m.get(key); if (e) e.add--; }
  deletionObserved(key: string, podKey: string): void {
    const e = this.m.get(key);
    if (e?.keys.delete(podKey)) e.del--;
  }
  delete(key: string): void { this.m.delete(key); }
  /** For tests and debugging. */
  get(key: string): { add: number; del: number } | undefined {
    const e = this.m.get(key);
    return e && { add: e.add, del: e.del };
  }
}

// ---- claiming -------------------------------------------------------------------------------------

export type ClaimAction = 'claim' | 'adopt' | 'release' | 'ignore';

/**
 * ControllerRefManager.ClaimObject as a decision: what to do with `obj` for controller `owner`
 * whose selector says `selected`.
 */
export function claimAction(owner: KObject, obj: KObject, selected: boolean): ClaimAction {
  const ref = controllerOf(obj);
  if (ref) {
    if (ref.uid !== owner.metadata.uid) return 'ignore';
    if (selected) return 'claim';
    return owner.metadata.deletionTimestamp ? 'ignore' : 'release';
  }
  if (owner.metadata.deletionTimestamp || !selected || obj.metadata.deletionTimestamp) return 'ignore';
  if (owner.metadata.namespace && owner.metadata.namespace !== obj.metadata.namespace) return 'ignore';
  return 'adopt';
}

export const notFoundError = (e: unknown) => e instanceof StatusError && e.code === 404;
export const conflictError = (e: unknown) => e instanceof StatusError && e.code === 409;

/**
 * Adopts `obj` (adds a controller ownerReference to `owner`) or releases it (drops references
 * to `owner`), conditioned on the object's resourceVersion. NotFound is ignored.
 */
export async function setOwnership(api: ResourceClient, owner: KObject, ownerApiVersion: string, ownerKind: string,
  obj: KObject, action: 'adopt' | 'release'): Promise<boolean> {
  const refs = (obj.metadata.ownerReferences ?? []).filter((r) => r.uid !== owner.metadata.uid);
  if (action === 'adopt') refs.push(newControllerRef(owner, ownerApiVersion, ownerKind));
  try {
    await api.inNamespace(obj.metadata.namespace).patch(obj.metadata.name!, 'merge', {
      metadata: { ownerReferences: refs.length ? refs : null, resourceVersion: obj.metadata.resourceVersion, uid: obj.metadata.uid },
    });
    return true;
  } catch (e) {
    if (notFoundError(e)) return false;
    throw e;
  }
}

/** A live re-check that the owner still exists, is the same object and is not being deleted. */
export async function canAdopt(api: ResourceClient, owner: KObject): Promise<boolean> {
  try {
    const fresh = await api.inNamespace(owner.metadata.namespace).get(owner.metadata.name!);
    return fresh.metadata.uid === owner.metadata.uid && !fresh.metadata.deletionTimestamp;
  } catch (e) {
    if (notFoundError(e)) return false;
    throw e;
  }
}

export function selectorOf(spec: { selector?: LabelSelectorSpec }): LabelSelector | undefined {
  try {
    const s = selectorFromLabelSelector(spec.selector ?? null);
    return s;
  } catch {
    return undefined;
  }
}

const isEmptySelectorSpec = (s: LabelSelectorSpec | undefined) =>
  !s || (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0);

// ---- the controller -------------------------------------------------------------------------------

/** Upstream's BurstReplicas: at most this many creates or deletes per sync. */
export const BURST_REPLICAS = 500;

export interface ReplicaSetControllerOptions {
  workers?: number;
}

export async function startReplicaSetController(ctx: ControllerContext, opts: ReplicaSetControllerOptions = {}): Promise<() => Promise<void>> {
  const client: ApiClient = ctx.client;
  const rsInf = ctx.informers.replicaSets();
  const podInf = ctx.informers.pods();
  const rsApi = client.resource<ReplicaSet>(RS_GVR);
  const podApi = client.resource(POD_GVR);
  const queue = new WorkQueue<string>({ name: 'replicaset' });
  const expectations = new Expectations();
  const events = trackedRecorder(new EventRecorder(client, 'replicaset-controller'));

  const rsByRef = (ns: string | undefined, ref: OwnerReference | undefined): ReplicaSet | undefined => {
    if (!ref || ref.kind !== 'ReplicaSet' || !ref.apiVersion.startsWith('apps/')) return undefined;
    const rs = rsInf.get(ns, ref.name);
    return rs && rs.metadata.uid === ref.uid ? rs : undefined;
  };
  /** ReplicaSets whose selector matches an orphan pod's labels. */
  const podReplicaSets = (p: PodRecord): ReplicaSet[] => rsInf.listNamespace(p.metadata.namespace ?? '').filter((rs) => {
    if (isEmptySelectorSpec(rs.spec.selector)) return false;
    const sel = selectorOf(rs.spec);
    return !!sel && matches(sel, p.metadata.labels ?? {});
  });
  const enqueue = (rs: ReplicaSet) => queue.add(keyOf(rs));

  const onPodDelete = (p: PodRecord) => {
    const rs = rsByRef(p.metadata.namespace, controllerOf(p));
    if (!rs) return;
    expectations.deletionObserved(keyOf(rs), keyOf(p));
    enqueue(rs);
  };
  const removePodHandlers = podInf.addEventHandler({
    onAdd: (p) => {
      if (p.metadata.deletionTimestamp) { onPodDelete(p); return; }
      const ref = controllerOf(p);
      if (ref) {
        const rs = rsByRef(p.metadata.namespace, ref);
        if (!rs) return;
        expectations.creationObserved(keyOf(rs));
        enqueue(rs);
        return;
      }
      for (const rs of podReplicaSets(p)) enqueue(rs);
    },
    onUpdate: (old, cur) => {
      if (old.metadata.resourceVersion === cur.metadata.resourceVersion) return;
      const labelsChanged = JSON.stringify(old.metadata.labels ?? {}) !== JSON.stringify(cur.metadata.labels ?? {});
      if (cur.metadata.deletionTimestamp) {
        onPodDelete(cur);
        if (labelsChanged) onPodDelete(old);
        return;
      }
      const oldRef = controllerOf(old), curRef = controllerOf(cur);
      const refChanged = JSON.stringify(oldRef) !== JSON.stringify(curRef);
      if (refChanged && oldRef) { const rs = rsByRef(old.metadata.namespace, oldRef); if (rs) enqueue(rs); }
      if (curRef) {
        const rs = rsByRef(cur.metadata.namespace, curRef);
        if (!rs) return;
        enqueue(rs);
        const minReady = rs.spec.minReadySeconds ?? 0;
        if (!isPodReady(old) && isPodReady(cur) && minReady > 0) queue.addAfter(keyOf(rs), minReady * 1000 + 1000);
        return;
      }
      if (labelsChanged || refChanged) for (const rs of podReplicaSets(cur)) enqueue(rs);
    },
    onDelete: (p) => onPodDelete(p),
  });
  const removeRsHandlers = rsInf.addEventHandler({
    onAdd: (rs) => enqueue(rs),
    onUpdate: (_old, rs) => enqueue(rs),
    onDelete: (rs) => enqueue(rs),
  });

  /** Pods owned by ReplicaSets that share this one's controller (a Deployment's other RSes). */
  const relatedPods = (rs: ReplicaSet): PodRecord[] => {
    const owner = controllerOf(rs);
    const sets = owner ? rsInf.byIndex(CONTROLLER_UID_INDEX, owner.uid) : [rs];
    return sets.flatMap((s) => podInf.byIndex(CONTROLLER_UID_INDEX, s.metadata.uid!));
  };

  async function claimPods(rs: ReplicaSet, sel: LabelSelector, pods: PodRecord[]): Promise<PodRecord[]> {
    const claimed: PodRecord[] = [];
    let adoptable: boolean | undefined;
    const errors: unknown[] = [];
    for (const p of pods) {
      const action = claimAction(rs, p, matches(sel, p.metadata.labels ?? {}));
      try {
        if (action === 'claim') claimed.push(p);
        else if (action === 'release') await setOwnership(podApi, rs, 'apps/v1', 'ReplicaSet', p, 'release');
        else if (action === 'adopt') {
          adoptable ??= await canAdopt(rsApi, rs);
          if (!adoptable) continue;
          if (await setOwnership(podApi, rs, 'apps/v1', 'ReplicaSet', p, 'adopt')) claimed.push(p);
        }
      } catch (e) { errors.push(e); }
    }
    if (errors.length) throw errors[0];
    return claimed;
  }

  async function manageReplicas(rs: ReplicaSet, pods: PodRecord[]): Promise<void> {
    const key = keyOf(rs);
    const want = rs.spec.replicas ?? 1;
    let diff = pods.length - want;
    const ns = rs.metadata.namespace;
    if (diff < 0) {
      diff = Math.min(-diff, BURST_REPLICAS);
      expectations.expectCreations(key, diff);
      const pod = podFromTemplate(rs);
      const { successes, error } = await slowStartBatch(diff, 1, async () => {
        try {
          const p = await podApi.inNamespace(ns).create(structuredClone(pod));
          events.record(eventTarget(rs), 'Normal', 'SuccessfulCreate', `Created pod: ${p.metadata.name}`);
        } catch (e) {
          // A timed-out create may still have happened; the informer will tell.
          if (e instanceof StatusError && e.code === 504) return;
          events.record(eventTarget(rs), 'Warning', 'FailedCreate', `Error creating: ${(e as Error).message}`);
          throw e;
        }
      });
      // Creates that failed or were never tried will not be observed.
      for (let i = successes; i < diff; i++) expectations.creationObserved(key);
      if (error) throw new Error(`unable to create pods: ${error.message}`);
      return;
    }
    if (diff > 0) {
      diff = Math.min(diff, BURST_REPLICAS);
      const victims = podsToDelete(pods, relatedPods(rs), diff);
      expectations.expectDeletions(key, victims.map((p) => keyOf(p)));
      const results = await Promise.allSettled(victims.map(async (p) => {
        try {
          await podApi.inNamespace(ns).delete(p.metadata.name!);
          events.record(eventTarget(rs), 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
        } catch (e) {
          expectations.deletionObserved(key, keyOf(p));
          if (notFoundError(e)) return;
          events.record(eventTarget(rs), 'Warning', 'FailedDelete', `Error deleting: ${(e as Error).message}`);
          throw e;
        }
      }));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason as Error;
    }
  }

  async function writeStatus(rs: ReplicaSet, st: ReplicaSetStatus): Promise<void> {
    if (!replicaSetStatusChanged(rs, st)) return;
    let cur = rs;
    for (let i = 0; ; i++) {
      const next = { ...cur, status: { ...st, observedGeneration: cur.metadata.generation } };
      try {
        await rsApi.inNamespace(cur.metadata.namespace).updateStatus(next);
        return;
      } catch (e) {
        if (notFoundError(e)) return;
        if (i >= 1 || !conflictError(e)) throw e;
        cur = await rsApi.inNamespace(cur.metadata.namespace).get(cur.metadata.name!);
      }
    }
  }

  async function sync(key: string): Promise<void> {
    const rs = rsInf.getByKey(key);
    if (!rs) { expectations.delete(key); return; }
    const needsSync = expectations.satisfied(key) && !rs.metadata.deletionTimestamp;
    const sel = selectorOf(rs.spec);
    if (!sel) return; // invalid selectors are rejected by validation; nothing to do
    const active = podInf.listNamespace(rs.metadata.namespace ?? '').filter(isPodActive);
    const pods = await claimPods(rs, sel, active);
    let manageErr: Error | undefined;
    if (needsSync) {
      try { await manageReplicas(rs, pods); } catch (e) { manageErr = e as Error; }
    }
    const now = Date.now();
    const st = replicaSetStatus(rs, pods, manageErr, now);
    await writeStatus(rs, st);
    const minReady = rs.spec.minReadySeconds ?? 0;
    if (!manageErr && minReady > 0 && st.readyReplicas === (rs.spec.replicas ?? 1) && st.availableReplicas !== st.readyReplicas) {
      queue.addAfter(key, minReady * 1000);
    }
    if (manageErr) throw manageErr;
  }

  await Promise.all([rsInf.waitForSync(), podInf.waitForSync()]);
  const workers = runWorkers(queue, opts.workers ?? 2, sync, {
    onError: (key, e) => { if (!conflictError(e)) console.error(`podnet replicaset controller: ${String(key)}: ${(e as Error).message}`); },
  });
  return async () => {
    removePodHandlers();
    removeRsHandlers();
    queue.shutDown();
    await Promise.race([workers, new Promise((r) => setTimeout(r, 2000))]);
    await events.flush();
  };
}

export const eventTarget = (o: KObject): EventTarget => ({
  kind: o.kind ?? '', apiVersion: o.apiVersion ?? '', name: o.metadata.name!, namespace: o.metadata.namespace,
  uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion,
});

/** An EventRecorder whose writes run in the background and can be waited for at stop. */
export function trackedRecorder(r: EventRecorder) {
  const pending = new Set<Promise<void>>();
  return {
    record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): void {
      const p = r.event(target, type, reason, message).finally(() => pending.delete(p));
      pending.add(p);
    },
    async flush(): Promise<void> { await Promise.allSettled([...pending]); },
  };
}
