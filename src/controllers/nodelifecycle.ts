// Node lifecycle (kube-controller-manager's node lifecycle controller, without eviction):
//  - health: a Node whose kubelet has stopped renewing its Lease in kube-node-lease (and
//    stopped posting status) for the grace period gets its Ready, MemoryPressure,
//    DiskPressure and PIDPressure conditions set to Unknown (reason NodeStatusUnknown,
//    "Kubelet stopped posting node status."; a condition never posted: NodeStatusNeverUpdated);
//  - taints follow conditions, as upstream's taint-nodes-by-condition: Ready False →
//    node.kubernetes.io/not-ready, Ready Unknown → node.kubernetes.io/unreachable (NoSchedule
//    and NoExecute each), pressure conditions and spec.unschedulable → their NoSchedule
//    taints. When the kubelet reports Ready again, the taints go.
// Heartbeats are timed with this controller's clock at the moment it sees a Lease renewal or
// a new Ready heartbeat (as upstream does), so clock skew between nodes does not matter.

import { StatusError } from '../api/errors.js';
import type { KObject } from '../api/meta.js';
import { ApiClient } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { runWorkers, WorkQueue } from '../client/workqueue.js';
import { EventRecorder, NODES, TAINT_NOT_READY, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE, type Taint } from './scheduler.js';
import { LEASES } from '../client/resources.js';

export { LEASES };
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

export const TAINT_MEMORY_PRESSURE = 'node.kubernetes.io/memory-pressure';
export const TAINT_DISK_PRESSURE = 'node.kubernetes.io/disk-pressure';
export const TAINT_PID_PRESSURE = 'node.kubernetes.io/pid-pressure';
export const TAINT_NETWORK_UNAVAILABLE = 'node.kubernetes.io/network-unavailable';

/** Taint keys this controller owns; it adds and removes only these. */
export const MANAGED_TAINT_KEYS = [
  TAINT_NOT_READY, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE, TAINT_MEMORY_PRESSURE, TAINT_DISK_PRESSURE, TAINT_PID_PRESSURE,
  TAINT_NETWORK_UNAVAILABLE,
];

/** The conditions the kubelet posts and this controller marks Unknown when it goes silent. */
export const KUBELET_CONDITIONS = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

export interface NodeCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string | null;
  lastTransitionTime?: string | null;
}

export interface LifecycleNode {
  name: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  conditions: NodeCondition[];
  taints: Taint[];
  unschedulable: boolean;
}

type J = Record<string, unknown>;
const o = (v: unknown): J => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as J) : {});
const a = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export function toLifecycleNode(n: KObject): LifecycleNode {
  const spec = o(n.spec);
  return {
    name: n.metadata.name ?? '',
    uid: n.metadata.uid,
    resourceVersion: n.metadata.resourceVersion,
    creationTimestamp: n.metadata.creationTimestamp ?? undefined,
    conditions: a(o(n.status).conditions).map((c) => ({ ...o(c) }) as unknown as NodeCondition),
    taints: a(spec.taints).map((t) => ({ ...o(t) }) as unknown as Taint),
    unschedulable: spec.unschedulable === true,
  };
}

const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/**
 * The conditions to write when the node's kubelet has been silent past the grace period:
 * every kubelet condition not already Unknown, set to Unknown (the ones never posted are
 * added). Empty when nothing needs writing.
 */
export function unknownConditions(n: LifecycleNode, nowMs: number): NodeCondition[] {
  const now = rfc3339(nowMs);
  const out: NodeCondition[] = [];
  for (const type of KUBELET_CONDITIONS) {
    const c = n.conditions.find((x) => x.type === type);
    if (!c) {
      out.push({
        type, status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.',
        lastHeartbeatTime: n.creationTimestamp ?? now, lastTransitionTime: now,
      });
    } else if (c.status !== 'Unknown') {
      out.push({
        type, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.',
        lastHeartbeatTime: c.lastHeartbeatTime ?? null, lastTransitionTime: now,
      });
    }
  }
  return out;
}

/** The managed taints a node's conditions and spec call for (taint-nodes-by-condition). */
export function conditionTaints(n: LifecycleNode): { key: string; effect: string }[] {
  const status = (type: string) => n.conditions.find((c) => c.type === type)?.status;
  const out: { key: string; effect: string }[] = [];
  const ready = status('Ready');
  if (ready === 'False') out.push({ key: TAINT_NOT_READY, effect: 'NoSchedule' }, { key: TAINT_NOT_READY, effect: 'NoExecute' });
  if (ready === 'Unknown') out.push({ key: TAINT_UNREACHABLE, effect: 'NoSchedule' }, { key: TAINT_UNREACHABLE, effect: 'NoExecute' });
  if (status('MemoryPressure') === 'True') out.push({ key: TAINT_MEMORY_PRESSURE, effect: 'NoSchedule' });
  if (status('DiskPressure') === 'True') out.push({ key: TAINT_DISK_PRESSURE, effect: 'NoSchedule' });
  if (status('PIDPressure') === 'True') out.push({ key: TAINT_PID_PRESSURE, effect: 'NoSchedule' });
  if (status('NetworkUnavailable') === 'True') out.push({ key: TAINT_NETWORK_UNAVAILABLE, effect: 'NoSchedule' });
  if (n.unschedulable) out.push({ key: TAINT_UNSCHEDULABLE, effect: 'NoSchedule' });
  return out;
}

/**
 * The node's taint list with the managed taints brought in line with its conditions: other
 * taints kept as they are, managed taints still wanted kept (with their timeAdded), new ones
 * added (NoExecute ones stamped with timeAdded). Undefined when nothing changes.
 */
export function reconcileTaints(n: LifecycleNode, nowMs: number): Taint[] | undefined {
  const want = conditionTaints(n);
  const managed = (t: Taint) => MANAGED_TAINT_KEYS.includes(t.key);
  const wanted = (t: Taint) => want.some((w) => w.key === t.key && w.effect === t.effect);
  const kept = n.taints.filter((t) => !managed(t) || wanted(t));
  const added = want.filter((w) => !n.taints.some((t) => t.key === w.key && t.effect === w.effect))
    .map((w): Taint => (w.effect === 'NoExecute' ? { ...w, timeAdded: rfc3339(nowMs) } : { ...w }));
  if (added.length === 0 && kept.length === n.taints.length) return undefined;
  return [...kept, ...added];
}

export interface NodeLifecycleOptions {
  /** How long a node may go without renewing its Lease / posting status (ms). Default 40 000. */
  gracePeriodMs?: number;
  /** Grace for a node that has never posted a Ready condition (ms). Default 60 000. */
  startupGracePeriodMs?: number;
  /** How often every node is checked (ms). Default 5 000. */
  monitorPeriodMs?: number;
  /** The clock (ms). Default Date.now. */
  now?: () => number;
  log?: (msg: string) => void;
}

interface Rec<T> extends KObject { rec: T }
interface LeaseRec { name: string; renewTime: string; resourceVersion?: string }

export async function startNodeLifecycleController(client: ApiClient, opts: NodeLifecycleOptions = {}): Promise<() => Promise<void>> {
  const grace = opts.gracePeriodMs ?? 40_000;
  const startupGrace = opts.startupGracePeriodMs ?? 60_000;
  const now = opts.now ?? Date.now;
  const log = opts.log ?? ((m: string) => process.stderr.write(`nodelifecycle: ${m}\n`));
  const recorder = new EventRecorder(client, 'node-controller');
  const queue = new WorkQueue<string>({ name: 'nodelifecycle' });
  /** node name → when this controller last saw a sign of life (ms, its own clock). */
  const probeAt = new Map<string, number>();
  const touch = (name: string) => { probeAt.set(name, now()); queue.add(name); };
  const heartbeat = (n: LifecycleNode) => n.conditions.find((c) => c.type === 'Ready')?.lastHeartbeatTime ?? '';

  const nodes = new Informer<Rec<LifecycleNode>>(client.resource(NODES), {
    name: 'nodelifecycle nodes',
    transform: (x) => ({ metadata: { name: x.metadata.name }, rec: toLifecycleNode(x) }),
    handlers: {
      onAdd: ({ rec }) => touch(rec.name),
      onUpdate: ({ rec: old }, { rec }) => {
        if (heartbeat(old) !== heartbeat(rec)) probeAt.set(rec.name, now());
        queue.add(rec.name);
      },
      onDelete: ({ rec }) => probeAt.delete(rec.name),
    },
  });
  const leases = new Informer<Rec<LeaseRec>>(client.resource(LEASES, NODE_LEASE_NAMESPACE), {
    name: 'nodelifecycle leases',
    transform: (x) => ({
      metadata: { name: x.metadata.name, namespace: x.metadata.namespace },
      rec: { name: x.metadata.name ?? '', renewTime: String(o(x.spec).renewTime ?? ''), resourceVersion: x.metadata.resourceVersion },
    }),
    handlers: {
      onAdd: ({ rec }) => touch(rec.name),
      onUpdate: ({ rec: old }, { rec }) => { if (old.renewTime !== rec.renewTime) touch(rec.name); },
    },
  });

  async function sync(name: string): Promise<void> {
    const n = nodes.get(undefined, name)?.rec;
    if (!n) return;
    const t = now();
    const last = probeAt.get(name) ?? t;
    if (!probeAt.has(name)) probeAt.set(name, t);
    const everPosted = n.conditions.some((c) => c.type === 'Ready');
    const silent = t - last > (everPosted ? grace : startupGrace);
    if (silent) {
      const conds = unknownConditions(n, t);
      if (conds.length) {
        // Conditional on what we saw: a kubelet that posted meanwhile wins (409, looked at again).
        await client.resource(NODES).patch(name, 'strategic', {
          metadata: { resourceVersion: n.resourceVersion }, status: { conditions: conds },
        }, { subresource: 'status' });
        if (conds.some((c) => c.type === 'Ready')) {
          await recorder.event({ kind: 'Node', apiVersion: 'v1', name, uid: n.uid }, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
        }
        return; // the informer's update brings the node back here for its taints
      }
    }
    const taints = reconcileTaints(n, t);
    if (taints) {
      await client.resource(NODES).patch(name, 'merge', {
        metadata: { resourceVersion: n.resourceVersion }, spec: { taints: taints.length ? taints : null },
      });
    }
  }

  nodes.start();
  leases.start();
  await Promise.all([nodes.waitForSync(), leases.waitForSync()]);
  const monitor = setInterval(() => { for (const k of nodes.listKeys()) queue.add(k); }, opts.monitorPeriodMs ?? 5_000);
  monitor.unref();
  const worker = runWorkers(queue, 2, sync, {
    onError: (k, e) => {
      if (e instanceof StatusError && (e.code === 409 || e.code === 404)) return;
      log(`${String(k)}: ${(e as Error).message}`);
    },
  });
  return async () => {
    clearInterval(monitor);
    queue.shutDown();
    await Promise.all([nodes.stop(), leases.stop()]);
    await Promise.race([worker, new Promise((r) => setTimeout(r, 2000))]);
  };
}
