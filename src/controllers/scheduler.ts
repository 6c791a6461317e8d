// The scheduler (kube-scheduler, reduced to what a networking testbed needs): binds pending
// pods whose schedulerName is ours to nodes that can take them.
//
// Filters, in upstream's plugin order, each failing with upstream's wording:
//   NodeUnschedulable  spec.unschedulable (unless the pod tolerates node.kubernetes.io/unschedulable)
//   TaintToleration    NoSchedule / NoExecute taints the pod does not tolerate; a node whose
//                      Ready condition is not True counts as tainted not-ready / unreachable
//                      even before the node lifecycle controller has written the taint
//   NodeAffinity       spec.nodeSelector and requiredDuringSchedulingIgnoredDuringExecution
// Score: spread — fewest pods of the same group (same controller owner, or else the same
// labels in the same namespace) on the node, then fewest pods overall; ties broken at random.
//
// A pod that fits nowhere gets PodScheduled=False/Unschedulable and a FailedScheduling event
// (`0/N nodes are available: ...`) and waits for a node to change (or a periodic retry).
// Binding patches spec.nodeName (podnet has no pods/binding yet) behind bindPod().

import { StatusError } from '../api/errors.js';
import type { KObject } from '../api/meta.js';
import { ApiClient } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { runWorkers, WorkQueue } from '../client/workqueue.js';
import { EVENTS, NODES, PODS } from '../client/resources.js';

export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';

export { PODS, NODES, EVENTS };

// Well-known taints (k8s.io/api/core/v1 well_known_taints.go).
export const TAINT_NOT_READY = 'node.kubernetes.io/not-ready';
export const TAINT_UNREACHABLE = 'node.kubernetes.io/unreachable';
export const TAINT_UNSCHEDULABLE = 'node.kubernetes.io/unschedulable';

// ---- stripped records (STYLE.md item 7) ----------------------------------------------------

export interface Taint { key: string; value?: string; effect: string; timeAdded?: string }
export interface Toleration { key?: string; operator?: string; value?: string; effect?: string; tolerationSeconds?: number }
export interface NodeSelectorRequirement { key: string; operator: string; values?: string[] }
export interface NodeSelectorTerm { matchExpressions?: NodeSelectorRequirement[]; matchFields?: NodeSelectorRequirement[] }

export interface SchedNode {
  name: string;
  labels: Record<string, string>;
  taints: Taint[];
  unschedulable: boolean;
  /** status of the Ready condition; undefined when the node has none. */
  ready?: string;
}

export interface SchedPod {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  nodeName: string;
  schedulerName: string;
  nodeSelector: Record<string, string>;
  /** requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms; undefined when not set. */
  requiredTerms?: NodeSelectorTerm[];
  tolerations: Toleration[];
  /** uid of the controller owner, if any. */
  ownerUid?: string;
  /** Succeeded/Failed, or being deleted: takes no part. */
  finished: boolean;
  deleting: boolean;
  gated: boolean;
  /** The PodScheduled condition as stored (to write it only when it changes). */
  scheduledCondition?: { status?: string; reason?: string; message?: string };
}

type J = Record<string, unknown>;
const o = (v: unknown): J => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as J) : {});
const a = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const s = (v: unknown): string => (typeof v === 'string' ? v : '');
const strMap = (v: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(o(v)).filter(([, x]) => typeof x === 'string')) as Record<string, string>;

export function toSchedNode(n: KObject): SchedNode {
  const spec = o(n.spec);
  const ready = a(o(n.status).conditions).map(o).find((c) => c.type === 'Ready');
  return {
    name: n.metadata.name ?? '',
    labels: { ...(n.metadata.labels ?? {}) },
    taints: a(spec.taints).map(o).map((t) => ({ key: s(t.key), value: s(t.value) || undefined, effect: s(t.effect), timeAdded: s(t.timeAdded) || undefined })),
    unschedulable: spec.unschedulable === true,
    ready: ready ? s(ready.status) : undefined,
  };
}

export function toSchedPod(p: KObject): SchedPod {
  const spec = o(p.spec);
  const status = o(p.status);
  const req = o(o(o(spec.affinity).nodeAffinity).requiredDuringSchedulingIgnoredDuringExecution);
  const owner = (p.metadata.ownerReferences ?? []).find((r) => r.controller);
  const cond = a(status.conditions).map(o).find((c) => c.type === 'PodScheduled');
  const phase = s(status.phase);
  return {
    namespace: p.metadata.namespace ?? '',
    name: p.metadata.name ?? '',
    uid: p.metadata.uid ?? '',
    labels: { ...(p.metadata.labels ?? {}) },
    nodeName: s(spec.nodeName),
    schedulerName: s(spec.schedulerName) || DEFAULT_SCHEDULER_NAME,
    nodeSelector: strMap(spec.nodeSelector),
    requiredTerms: Array.isArray(req.nodeSelectorTerms) ? (req.nodeSelectorTerms as NodeSelectorTerm[]) : undefined,
    tolerations: a(spec.tolerations).map(o) as Toleration[],
    ownerUid: owner?.uid,
    finished: phase === 'Succeeded' || phase === 'Failed',
    deleting: !!p.metadata.deletionTimestamp,
    gated: a(spec.schedulingGates).length > 0,
    scheduledCondition: cond ? { status: s(cond.status), reason: s(cond.reason), message: s(cond.message) } : undefined,
  };
}

// ---- filtering (pure) -----------------------------------------------------------------------

/** Toleration.ToleratesTaint. */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  const op = t.operator || 'Equal';
  if (op === 'Exists') return true; // an empty key with Exists matches every key
  if (op !== 'Equal' || !t.key) return false; // Equal needs a key
  return (t.value ?? '') === (taint.value ?? '');
}

/**
 * The node's taints as the scheduler sees them: its own, plus the not-ready / unreachable
 * NoSchedule taint its Ready condition implies when the node lifecycle controller has not
 * written it yet (upstream relies on that controller; a node without the taint but not Ready
 * would otherwise get pods).
 */
export function effectiveTaints(n: SchedNode): Taint[] {
  const taints = [...n.taints];
  if (n.ready !== 'True') {
    const key = n.ready === 'False' ? TAINT_NOT_READY : TAINT_UNREACHABLE;
    if (!taints.some((t) => t.key === key && t.effect === 'NoSchedule')) taints.push({ key, effect: 'NoSchedule' });
  }
  return taints;
}

/** The first NoSchedule/NoExecute taint no toleration tolerates (PreferNoSchedule is a score, not a filter). */
export function firstUntoleratedTaint(taints: Taint[], tolerations: Toleration[]): Taint | undefined {
  return taints.find((t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerations.some((tol) => tolerates(tol, t)));
}

function requirementMatches(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const vals = r.values ?? [];
  switch (r.operator) {
    case 'In': return value !== undefined && vals.includes(value);
    case 'NotIn': return value === undefined || !vals.includes(value);
    case 'Exists': return value !== undefined;
    case 'DoesNotExist': return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || vals.length !== 1 || !/^-?\d+$/.test(value) || !/^-?\d+$/.test(vals[0])) return false;
      const v = BigInt(value), w = BigInt(vals[0]);
      return r.operator === 'Gt' ? v > w : v < w;
    }
    default: return false;
  }
}

/** A NodeSelectorTerm: all its expressions (labels) and fields (metadata.name) match; an empty term matches nothing. */
export function nodeSelectorTermMatches(term: NodeSelectorTerm, n: SchedNode): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  for (const r of exprs) {
    if (!requirementMatches(r, Object.hasOwn(n.labels, r.key) ? n.labels[r.key] : undefined)) return false;
  }
  for (const r of fields) {
    if (r.key !== 'metadata.name' || (r.operator !== 'In' && r.operator !== 'NotIn')) return false;
    if (!requirementMatches(r, n.name)) return false;
  }
  return true;
}

/** nodeSelector and required node affinity (terms are ORed; nil terms place no restriction). */
export function matchesNodeAffinity(p: SchedPod, n: SchedNode): boolean {
  for (const [k, v] of Object.entries(p.nodeSelector)) if (n.labels[k] !== v) return false;
  if (p.requiredTerms === undefined) return true;
  return p.requiredTerms.some((t) => nodeSelectorTermMatches(t, n));
}

export const REASON_UNSCHEDULABLE = 'node(s) were unschedulable';
export const REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector";
export const untoleratedReason = (t: Taint) => `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;

/** Why `n` cannot take `p` (upstream's per-plugin reason), or undefined when it can. */
export function filterNode(p: SchedPod, n: SchedNode): string | undefined {
  if (n.unschedulable && !p.tolerations.some((t) => tolerates(t, { key: TAINT_UNSCHEDULABLE, effect: 'NoSchedule' }))) {
    return REASON_UNSCHEDULABLE;
  }
  const taint = firstUntoleratedTaint(effectiveTaints(n), p.tolerations);
  if (taint) return untoleratedReason(taint);
  if (!matchesNodeAffinity(p, n)) return REASON_AFFINITY;
  return undefined;
}

/** FitError.Error(): `0/N nodes are available: 2 reason, 1 other.` (reasons sorted as text). */
export function fitErrorMessage(numNodes: number, reasons: Map<string, number>): string {
  if (numNodes === 0) return 'no nodes available to schedule pods';
  const parts = [...reasons].map(([r, c]) => `${c} ${r}`).sort();
  return `0/${numNodes} nodes are available: ${parts.join(', ')}.`;
}

/** Whether two pods belong to the same spreading group. */
export function sameGroup(p: SchedPod, q: SchedPod): boolean {
  if (p.ownerUid) return q.ownerUid === p.ownerUid;
  if (q.ownerUid || p.namespace !== q.namespace) return false;
  const pk = Object.keys(p.labels);
  if (pk.length === 0) return false;
  return pk.length === Object.keys(q.labels).length && pk.every((k) => q.labels[k] === p.labels[k]);
}

export type ScheduleResult =
  | { node: string; feasible: string[] }
  | { node?: undefined; message: string; reasons: Map<string, number> };

/**
 * Picks a node for `p`: filter every node, then among the feasible ones the fewest pods of
 * p's group, then the fewest pods; a random one among the best (`random` returns [0, 1)).
 * `placed` are the pods already on nodes (nodeName set, not finished).
 */
export function schedulePod(p: SchedPod, nodes: SchedNode[], placed: SchedPod[], random: () => number = Math.random): ScheduleResult {
  const reasons = new Map<string, number>();
  const feasible: SchedNode[] = [];
  for (const n of nodes) {
    const r = filterNode(p, n);
    if (r) reasons.set(r, (reasons.get(r) ?? 0) + 1);
    else feasible.push(n);
  }
  if (feasible.length === 0) return { message: fitErrorMessage(nodes.length, reasons), reasons };
  const total = new Map<string, number>();
  const group = new Map<string, number>();
  for (const q of placed) {
    if (!q.nodeName || q.finished || q.uid === p.uid) continue;
    total.set(q.nodeName, (total.get(q.nodeName) ?? 0) + 1);
    if (sameGroup(p, q)) group.set(q.nodeName, (group.get(q.nodeName) ?? 0) + 1);
  }
  const score = (n: SchedNode): [number, number] => [group.get(n.name) ?? 0, total.get(n.name) ?? 0];
  let best: SchedNode[] = [];
  let bestScore: [number, number] = [Infinity, Infinity];
  for (const n of feasible) {
    const sc = score(n);
    const cmp = sc[0] - bestScore[0] || sc[1] - bestScore[1];
    if (cmp < 0) { best = [n]; bestScore = sc; } else if (cmp === 0) best.push(n);
  }
  const pick = best[Math.min(best.length - 1, Math.floor(random() * best.length))];
  return { node: pick.name, feasible: feasible.map((n) => n.name) };
}

/** Whether two records of a pod ask the same of the scheduler (everything but the PodScheduled condition). */
export function sameSchedulingInputs(a0: SchedPod, b0: SchedPod): boolean {
  const { scheduledCondition: _a, ...x } = a0;
  const { scheduledCondition: _b, ...y } = b0;
  return JSON.stringify(x) === JSON.stringify(y);
}

/** Whether the scheduler should try to place `p`. */
export function needsScheduling(p: SchedPod, schedulerName = DEFAULT_SCHEDULER_NAME): boolean {
  return !p.nodeName && p.schedulerName === schedulerName && !p.finished && !p.deleting && !p.gated;
}

// ---- events --------------------------------------------------------------------------------

export interface EventTarget { kind: string; apiVersion: string; name: string; namespace?: string; uid?: string; resourceVersion?: string }

/**
 * Writes core/v1 Events as client-go's recorder does (name `<object>.<hex nanoseconds>`,
 * source component, first/last timestamps, a repeated event bumps `count`). Best effort:
 * failures are logged, never thrown.
 */
export class EventRecorder {
  private readonly seen = new Map<string, { name: string; namespace: string; count: number }>();
  constructor(private readonly client: ApiClient, readonly component: string, readonly host?: string) {}

  async event(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const namespace = target.namespace || 'default';
    const key = JSON.stringify([namespace, target.kind, target.name, target.uid, type, reason, message]);
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const api = this.client.resource(EVENTS, namespace);
    const prev = this.seen.get(key);
    try {
      if (prev) {
        prev.count++;
        try {
          await api.patch(prev.name, 'merge', { count: prev.count, lastTimestamp: now });
          return;
        } catch (e) {
          if (!(e instanceof StatusError && e.code === 404)) throw e;
        }
      }
      const name = `${target.name}.${(BigInt(Date.now()) * 1_000_000n + BigInt(Math.floor(Math.random() * 1e6))).toString(16)}`;
      await api.create({
        apiVersion: 'v1', kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          kind: target.kind, apiVersion: target.apiVersion, name: target.name,
          ...(target.namespace ? { namespace: target.namespace } : {}),
          ...(target.uid ? { uid: target.uid } : {}),
          ...(target.resourceVersion ? { resourceVersion: target.resourceVersion } : {}),
        },
        reason, message, type,
        source: { component: this.component, ...(this.host ? { host: this.host } : {}) },
        firstTimestamp: now, lastTimestamp: now, count: 1,
        reportingComponent: this.component, reportingInstance: this.host ?? '',
      });
      if (this.seen.size > 4096) this.seen.clear();
      this.seen.set(key, { name, namespace, count: 1 });
    } catch (e) {
      process.stderr.write(`${this.component}: event ${reason} on ${target.kind} ${namespace}/${target.name}: ${(e as Error).message}\n`);
    }
  }
}

// ---- the controller ------------------------------------------------------------------------

/**
 * Binds `pod` to `node`. podnet has no pods/binding subresource yet, so it sets spec.nodeName
 * (allowed once, from empty), guarded by the pod's uid; switch to POST pods/NAME/binding here.
 */
export async function bindPod(client: ApiClient, pod: { namespace: string; name: string; uid: string }, node: string): Promise<void> {
  await client.resource(PODS, pod.namespace).patch(pod.name, 'json', [
    { op: 'test', path: '/metadata/uid', value: pod.uid },
    { op: 'add', path: '/spec/nodeName', value: node },
  ]);
}

export interface SchedulerOptions {
  /** Pods whose spec.schedulerName is this. Default default-scheduler. */
  schedulerName?: string;
  /** Unschedulable pods are retried this often even when no node changed (ms). Default 60 000. */
  retryUnschedulableMs?: number;
  /** For tests: the tie breaker. */
  random?: () => number;
}

/** What the informers cache: the stripped record under a minimal metadata (for keys and indexes). */
interface Rec<T> extends KObject { rec: T }
const wrap = <T>(f: (o: KObject) => T) => (x: KObject): Rec<T> =>
  ({ metadata: { name: x.metadata.name, namespace: x.metadata.namespace }, rec: f(x) });

export async function startSchedulerController(client: ApiClient, opts: SchedulerOptions = {}): Promise<() => Promise<void>> {
  const schedulerName = opts.schedulerName ?? DEFAULT_SCHEDULER_NAME;
  const random = opts.random ?? Math.random;
  const recorder = new EventRecorder(client, schedulerName);
  const queue = new WorkQueue<string>({ name: 'scheduler' });
  /** Pods that fit nowhere, waiting for a node to change. */
  const unschedulable = new Set<string>();
  /** Bound by us, not yet seen bound by the informer (upstream's "assumed" pods). */
  const assumed = new Map<string, SchedPod>();

  const pods = new Informer<Rec<SchedPod>>(client.resource(PODS), {
    name: 'scheduler pods', transform: wrap(toSchedPod),
    handlers: {
      onAdd: (p) => podChanged(p.rec),
      onUpdate: (old, p) => {
        // A pod waiting for a node is not retried for its own status writes (the condition we
        // just set); only a change to what scheduling reads brings it back before a node does.
        const k = `${p.rec.namespace}/${p.rec.name}`;
        if (unschedulable.has(k) && sameSchedulingInputs(old.rec, p.rec)) return;
        podChanged(p.rec);
      },
      onDelete: ({ rec: p }) => { const k = `${p.namespace}/${p.name}`; unschedulable.delete(k); assumed.delete(k); },
    },
  });
  const nodeTouched = () => { for (const k of unschedulable) queue.add(k); };
  const nodes = new Informer<Rec<SchedNode>>(client.resource(NODES), {
    name: 'scheduler nodes', transform: wrap(toSchedNode),
    handlers: {
      onAdd: nodeTouched,
      onUpdate: (a0, b0) => { if (JSON.stringify(a0.rec) !== JSON.stringify(b0.rec)) nodeTouched(); },
    },
  });
  function podChanged(p: SchedPod): void {
    const k = `${p.namespace}/${p.name}`;
    if (p.nodeName) assumed.delete(k);
    if (needsScheduling(p, schedulerName)) queue.add(k);
    else unschedulable.delete(k);
  }

  function placedPods(): SchedPod[] {
    const out = pods.list().map((r) => r.rec).filter((p) => p.nodeName && !p.finished);
    for (const [k, p] of assumed) if (!pods.getByKey(k)?.rec.nodeName) out.push(p);
    return out;
  }

  async function sync(key: string): Promise<void> {
    const p = pods.getByKey(key)?.rec;
    if (!p || !needsScheduling(p, schedulerName) || assumed.has(key)) { unschedulable.delete(key); return; }
    const result = schedulePod(p, nodes.list().map((r) => r.rec), placedPods(), random);
    const target: EventTarget = { kind: 'Pod', apiVersion: 'v1', namespace: p.namespace, name: p.name, uid: p.uid };
    if (result.node === undefined) {
      unschedulable.add(key);
      await setScheduledCondition(p, 'False', 'Unschedulable', result.message);
      await recorder.event(target, 'Warning', 'FailedScheduling', result.message);
      return;
    }
    try {
      await bindPod(client, p, result.node);
    } catch (e) {
      if (e instanceof StatusError && (e.code === 404 || e.code === 422)) return; // gone, or bound meanwhile
      throw e;
    }
    unschedulable.delete(key);
    if (!pods.getByKey(key)?.rec.nodeName) assumed.set(key, { ...p, nodeName: result.node });
    await setScheduledCondition(p, 'True', '', '');
    await recorder.event(target, 'Normal', 'Scheduled', `Successfully assigned ${p.namespace}/${p.name} to ${result.node}`);
  }

  /** PodScheduled through /status, written only when it changes (strategic merge by type). */
  async function setScheduledCondition(p: SchedPod, status: string, reason: string, message: string): Promise<void> {
    const c = p.scheduledCondition;
    if (c && c.status === status && (c.reason ?? '') === reason && (c.message ?? '') === message) return;
    // null drops a reason/message left from an earlier Unschedulable (strategic merge keeps keys).
    const cond: J = { type: 'PodScheduled', status, lastProbeTime: null, reason: reason || null, message: message || null };
    if (!c || c.status !== status) cond.lastTransitionTime = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    try {
      await client.resource(PODS, p.namespace).patch(p.name, 'strategic', { status: { conditions: [cond] } }, { subresource: 'status' });
    } catch (e) {
      if (!(e instanceof StatusError && e.code === 404)) throw e;
    }
  }

  pods.start();
  nodes.start();
  await Promise.all([pods.waitForSync(), nodes.waitForSync()]);
  const retry = setInterval(nodeTouched, opts.retryUnschedulableMs ?? 60_000);
  retry.unref();
  // One worker: each decision sees the previous one (upstream schedules one pod at a time).
  const worker = runWorkers(queue, 1, sync, {
    onError: (k, e) => process.stderr.write(`scheduler: ${String(k)}: ${(e as Error).message}\n`),
  });
  return async () => {
    clearInterval(retry);
    queue.shutDown();
    await Promise.all([pods.stop(), nodes.stop()]);
    await Promise.race([worker, new Promise((r) => setTimeout(r, 2000))]);
  };
}
