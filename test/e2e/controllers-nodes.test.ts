// The node controllers end to end against a real, in-process API server: node IPAM, the
// scheduler and node lifecycle. The test plays the kubelets (Node objects, Lease renewals).
//
// Address plan: pods 10.244.0.0/22 and fd00:10:244::/62 — the default plan's ranges cut
// down to 4 node ranges per family (/24 and /64 each), so exhaustion is quick to reach.
// Nodes node-a, node-b, node-c are Ready and renew their Leases every 200 ms; the lifecycle
// controller's grace period is 1.5 s.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KObject } from '../../src/api/meta.js';
import { startApiServer, type RunningApiServer } from '../../src/apiserver/index.js';
import { ApiClient, type GVR } from '../../src/client/client.js';
import { loadKubeconfig } from '../../src/client/kubeconfig.js';
import { startNodeIpamController } from '../../src/controllers/nodeipam.js';
import { startNodeLifecycleController } from '../../src/controllers/nodelifecycle.js';
import { startSchedulerController } from '../../src/controllers/scheduler.js';
import { cidrContainsCidr, mustParseCIDR } from '../../src/net/cidr.js';
import { waitFor } from './harness.js';

const NODES: GVR = { group: '', version: 'v1', resource: 'nodes', namespaced: false };
const PODS: GVR = { group: '', version: 'v1', resource: 'pods', namespaced: true };
const EVENTS: GVR = { group: '', version: 'v1', resource: 'events', namespaced: true };
const NAMESPACES: GVR = { group: '', version: 'v1', resource: 'namespaces', namespaced: false };
const LEASES: GVR = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespaced: true };
const NS = 'sched';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test fixtures read API JSON loosely
type J = Record<string, any>;

const eventually = <T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, ms = 8000): Promise<T> =>
  waitFor(fn, what, ms, 50);

const microTime = () => new Date().toISOString().replace(/Z$/, '000Z');
const nowTime = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function makeNode(name: string, tweak?: (n: J) => void): KObject {
  const n: J = {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
    spec: {},
    status: {
      conditions: [
        { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', lastHeartbeatTime: nowTime(), lastTransitionTime: nowTime() },
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: nowTime(), lastTransitionTime: nowTime() },
      ],
    },
  };
  tweak?.(n);
  return n as KObject;
}

function makePod(name: string, tweak?: (p: J) => void): KObject {
  const p: J = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: NS, labels: { app: name } },
    spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
  };
  tweak?.(p);
  return p as KObject;
}

describe('node controllers against a real API server', { timeout: 40_000 }, () => {
  let dir: string;
  let api: RunningApiServer;
  let client: ApiClient;
  const stops: (() => Promise<void>)[] = [];
  const alive = new Set<string>();
  let kubelet: NodeJS.Timeout | undefined;

  const nodes = () => client.resource(NODES);
  const pods = () => client.resource(PODS, NS);
  const leases = () => client.resource(LEASES, 'kube-node-lease');
  const getNode = async (name: string) => (await nodes().get(name)) as J;
  const getPod = async (name: string) => (await pods().get(name)) as J;
  const events = async (ns: string) => ((await client.resource(EVENTS, ns).list()).items as J[]);
  const condition = (o: J, type: string) => (o.status?.conditions ?? []).find((c: J) => c.type === type);

  /** Creates a Ready node and its Lease, and renews the Lease from then on. */
  async function addNode(name: string, tweak?: (n: J) => void, renew = true): Promise<void> {
    await nodes().create(makeNode(name, tweak));
    await leases().create({
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' },
      spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime() },
    });
    if (renew) alive.add(name);
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'podnet-nodes-'));
    api = await startApiServer({ dataDir: dir, port: 0, controllers: false });
    client = new ApiClient(loadKubeconfig(api.kubeconfigPath), { userAgent: 'podnet-test' });
    await client.resource(NAMESPACES).create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    kubelet = setInterval(() => {
      for (const name of alive) {
        leases().patch(name, 'merge', { spec: { renewTime: microTime() } }).catch(() => undefined);
      }
    }, 200);
    stops.push(await startNodeIpamController(client, { clusterCIDRs: ['10.244.0.0/22', 'fd00:10:244::/62'], retryBaseMs: 100 }));
    stops.push(await startSchedulerController(client, { retryUnschedulableMs: 60_000 }));
    stops.push(await startNodeLifecycleController(client, { gracePeriodMs: 1500, monitorPeriodMs: 200 }));
    for (const n of ['node-a', 'node-b', 'node-c']) await addNode(n);
  });

  after(async () => {
    if (kubelet) clearInterval(kubelet);
    for (const s of stops.reverse()) await s().catch(() => undefined);
    client?.close();
    await api?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('every node gets one distinct pod range per family', async () => {
    const seen = new Set<string>();
    for (const name of ['node-a', 'node-b', 'node-c']) {
      const n = await eventually(async () => { const x = await getNode(name); return x.spec.podCIDRs?.length === 2 && x; }, `${name} podCIDRs`);
      const [v4, v6] = n.spec.podCIDRs as string[];
      assert.equal(n.spec.podCIDR, v4);
      assert.ok(cidrContainsCidr(mustParseCIDR('10.244.0.0/22'), mustParseCIDR(v4)) && v4.endsWith('/24'), v4);
      assert.ok(cidrContainsCidr(mustParseCIDR('fd00:10:244::/62'), mustParseCIDR(v6)) && v6.endsWith('/64'), v6);
      assert.ok(!seen.has(v4) && !seen.has(v6), `${name}: ${v4} ${v6} handed out twice`);
      seen.add(v4); seen.add(v6);
    }
  });

  test('an exhausted range gives CIDRNotAvailable; a deleted node frees its range', async () => {
    // These two never post status; they take no pods (no Ready condition) and go before the scheduling tests.
    await addNode('node-d', (n) => { delete n.status; }, false);
    const d = await eventually(async () => { const x = await getNode('node-d'); return x.spec.podCIDRs?.length === 2 && x; }, 'node-d podCIDRs');
    await addNode('node-e', (n) => { delete n.status; }, false);
    const ev = await eventually(async () => (await events('default')).find((e) => e.reason === 'CIDRNotAvailable' && e.involvedObject.name === 'node-e'),
      'CIDRNotAvailable event');
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.involvedObject.kind, 'Node');
    assert.equal(ev.message, 'Node node-e status is now: CIDRNotAvailable');
    assert.equal((await getNode('node-e')).spec.podCIDRs, undefined);
    await nodes().delete('node-d');
    const e = await eventually(async () => { const x = await getNode('node-e'); return x.spec.podCIDRs?.length === 2 && x; }, 'node-e gets the freed range');
    assert.deepEqual(e.spec.podCIDRs, d.spec.podCIDRs);
    await nodes().delete('node-e');
    await leases().delete('node-d');
    await leases().delete('node-e');
  });

  test('pods of one group are spread over the ready nodes', async () => {
    for (let i = 0; i < 6; i++) await pods().create(makePod(`web-${i}`, (p) => { p.metadata.labels = { app: 'web' }; }));
    const placed = await eventually(async () => {
      const all = (await pods().list({ labelSelector: 'app=web' })).items as J[];
      return all.every((p) => p.spec.nodeName) && all.length === 6 && all;
    }, 'web pods bound');
    const per: Record<string, number> = {};
    for (const p of placed) per[p.spec.nodeName] = (per[p.spec.nodeName] ?? 0) + 1;
    assert.deepEqual(per, { 'node-a': 2, 'node-b': 2, 'node-c': 2 });
    const p0 = await eventually(async () => { const p = await getPod('web-0'); return condition(p, 'PodScheduled')?.status === 'True' && p; }, 'PodScheduled=True');
    const ev = await eventually(async () => (await events(NS)).find((e) => e.reason === 'Scheduled' && e.involvedObject.name === 'web-0'), 'Scheduled event');
    assert.equal(ev.message, `Successfully assigned ${NS}/web-0 to ${p0.spec.nodeName}`);
    assert.equal(ev.type, 'Normal');
    assert.equal(ev.source.component, 'default-scheduler');
    // Another scheduler's pods are left alone.
    await pods().create(makePod('other', (p) => { p.spec.schedulerName = 'my-scheduler'; }));
  });

  test('nodeSelector picks the labelled node', async () => {
    await nodes().patch('node-b', 'merge', { metadata: { labels: { disk: 'ssd' } } });
    await pods().create(makePod('ssd', (p) => { p.spec.nodeSelector = { disk: 'ssd' }; }));
    const p = await eventually(async () => { const x = await getPod('ssd'); return x.spec.nodeName && x; }, 'ssd bound');
    assert.equal(p.spec.nodeName, 'node-b');
    assert.equal((await getPod('other')).spec.nodeName, undefined);
  });

  test('untolerated taints: Unschedulable with upstream wording, retried when the node changes', async () => {
    await nodes().patch('node-c', 'merge', { spec: { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] } });
    await pods().create(makePod('gpu', (p) => { p.spec.nodeSelector = { 'kubernetes.io/hostname': 'node-c' }; }));
    const want = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 node(s) didn't match Pod's node affinity/selector.";
    const p = await eventually(async () => { const x = await getPod('gpu'); return condition(x, 'PodScheduled')?.reason === 'Unschedulable' && x; }, 'Unschedulable');
    const c = condition(p, 'PodScheduled');
    assert.equal(c.status, 'False');
    assert.equal(c.message, want);
    assert.equal(p.spec.nodeName, undefined);
    const ev = await eventually(async () => (await events(NS)).find((e) => e.reason === 'FailedScheduling' && e.involvedObject.name === 'gpu'), 'FailedScheduling');
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.message, want);
    // A pod that tolerates the taint goes there.
    await pods().create(makePod('gpu-ok', (p) => {
      p.spec.nodeSelector = { 'kubernetes.io/hostname': 'node-c' };
      p.spec.tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }];
    }));
    assert.equal((await eventually(async () => (await getPod('gpu-ok')).spec.nodeName, 'gpu-ok bound')), 'node-c');
    // Cordoning is reported too; uncordoning and removing the taint lets the waiting pod in.
    await nodes().patch('node-c', 'merge', { spec: { unschedulable: true, taints: null } });
    await eventually(async () => condition(await getPod('gpu'), 'PodScheduled')?.message?.includes('1 node(s) were unschedulable'), 'unschedulable reason');
    await nodes().patch('node-c', 'merge', { spec: { unschedulable: null } });
    assert.equal(await eventually(async () => (await getPod('gpu')).spec.nodeName, 'gpu bound after the taint went'), 'node-c');
    const bound = await eventually(async () => { const x = await getPod('gpu'); return condition(x, 'PodScheduled')?.status === 'True' && x; }, 'PodScheduled=True');
    assert.equal(bound.spec.nodeName, 'node-c');
    assert.equal(condition(bound, 'PodScheduled').reason, undefined, 'the Unschedulable reason is gone');
    assert.equal(condition(bound, 'PodScheduled').message, undefined);
  });

  test('a node whose Lease expires goes Unknown and is tainted; back, the taints go', async () => {
    alive.delete('node-c');
    const n = await eventually(async () => {
      const x = await getNode('node-c');
      const keys = (x.spec.taints ?? []).map((t: J) => `${t.key}:${t.effect}`);
      return condition(x, 'Ready')?.status === 'Unknown' && keys.includes('node.kubernetes.io/unreachable:NoExecute') &&
        keys.includes('node.kubernetes.io/unreachable:NoSchedule') && x;
    }, 'node-c Unknown and tainted', 10_000);
    const ready = condition(n, 'Ready');
    assert.equal(ready.reason, 'NodeStatusUnknown');
    assert.equal(ready.message, 'Kubelet stopped posting node status.');
    assert.equal(condition(n, 'MemoryPressure').status, 'Unknown');
    assert.equal(condition(n, 'DiskPressure').reason, 'NodeStatusNeverUpdated');
    assert.ok((n.spec.taints as J[]).find((t) => t.effect === 'NoExecute')?.timeAdded, 'NoExecute taint has timeAdded');
    assert.equal((await getNode('node-a')).spec.taints, undefined, 'live nodes are untouched');
    // Nothing new lands on it meanwhile.
    await pods().create(makePod('late', (p) => { p.spec.nodeSelector = { 'kubernetes.io/hostname': 'node-c' }; }));
    const late = await eventually(async () => { const x = await getPod('late'); return condition(x, 'PodScheduled')?.reason === 'Unschedulable' && x; }, 'late Unschedulable');
    assert.match(condition(late, 'PodScheduled').message, /1 node\(s\) had untolerated taint \{node.kubernetes.io\/unreachable: \}/);
    // The kubelet comes back: renews its Lease and posts Ready.
    alive.add('node-c');
    await nodes().patch('node-c', 'strategic', {
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: nowTime(), lastTransitionTime: nowTime() }] },
    }, { subresource: 'status' });
    await eventually(async () => (await getNode('node-c')).spec.taints === undefined, 'taints removed');
    assert.equal(await eventually(async () => (await getPod('late')).spec.nodeName, 'late bound'), 'node-c');
    const evs = await events('default');
    assert.ok(evs.some((e) => e.reason === 'NodeNotReady' && e.involvedObject.name === 'node-c'), 'NodeNotReady event');
  });

  test('a restarted IPAM controller keeps existing ranges and does not hand them out again', async () => {
    const before = new Map<string, string[]>();
    for (const n of ['node-a', 'node-b', 'node-c']) before.set(n, (await getNode(n)).spec.podCIDRs);
    // Stop the running IPAM controller (the first one started) and start a fresh one.
    await stops.shift()!();
    stops.push(await startNodeIpamController(client, { clusterCIDRs: ['10.244.0.0/22', 'fd00:10:244::/62'], retryBaseMs: 100 }));
    await addNode('node-f');
    const f = await eventually(async () => { const x = await getNode('node-f'); return x.spec.podCIDRs?.length === 2 && x; }, 'node-f podCIDRs');
    const taken = new Set([...before.values()].flat());
    for (const c of f.spec.podCIDRs as string[]) assert.ok(!taken.has(c), `${c} handed out twice`);
    for (const [n, c] of before) assert.deepEqual((await getNode(n)).spec.podCIDRs, c, `${n} unchanged`);
    alive.delete('node-f');
  });
});
