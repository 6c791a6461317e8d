// The scheduler's pure parts (src/controllers/scheduler.ts): stripping, filters with
// upstream's reasons, the FailedScheduling message, and spreading; and the pure parts of the
// other node controllers (nodeipam's allocation table, nodelifecycle's conditions and taints).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../../src/api/meta.js';
import {
  effectiveTaints, filterNode, fitErrorMessage, matchesNodeAffinity, needsScheduling, nodeSelectorTermMatches, sameGroup,
  schedulePod, tolerates, toSchedNode, toSchedPod, REASON_AFFINITY, REASON_UNSCHEDULABLE, type SchedNode, type SchedPod,
  sameSchedulingInputs,
} from '../../src/controllers/scheduler.js';
import { buildAllocators, NodeCidrTable } from '../../src/controllers/nodeipam.js';
import { conditionTaints, reconcileTaints, toLifecycleNode, unknownConditions, type LifecycleNode } from '../../src/controllers/nodelifecycle.js';

const readyNode = (name: string, tweak?: (n: SchedNode) => void): SchedNode => {
  const n: SchedNode = { name, labels: { 'kubernetes.io/hostname': name }, taints: [], unschedulable: false, ready: 'True' };
  tweak?.(n);
  return n;
};
let uid = 0;
const pod = (name: string, tweak?: (p: SchedPod) => void): SchedPod => {
  const p: SchedPod = {
    namespace: 'default', name, uid: `uid-${++uid}`, labels: {}, nodeName: '', schedulerName: 'default-scheduler',
    nodeSelector: {}, tolerations: [], finished: false, deleting: false, gated: false,
  };
  tweak?.(p);
  return p;
};

describe('stripping API objects', () => {
  test('node and pod records', () => {
    const n = toSchedNode({
      apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { zone: 'a' } },
      spec: { unschedulable: true, taints: [{ key: 'k', value: 'v', effect: 'NoSchedule' }] },
      status: { conditions: [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: 'Unknown' }] },
    });
    assert.deepEqual(n, { name: 'n1', labels: { zone: 'a' }, taints: [{ key: 'k', value: 'v', effect: 'NoSchedule', timeAdded: undefined }], unschedulable: true, ready: 'Unknown' });
    const raw: KObject = {
      metadata: { name: 'p', namespace: 'ns', uid: 'u1', labels: { app: 'web' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'rs1', controller: true }] },
      spec: {
        nodeSelector: { disk: 'ssd' }, tolerations: [{ operator: 'Exists' }],
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'Exists' }] }] } } },
      },
      status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'm' }] },
    };
    const p = toSchedPod(raw);
    assert.equal(p.schedulerName, 'default-scheduler');
    assert.equal(p.ownerUid, 'rs1');
    assert.deepEqual(p.nodeSelector, { disk: 'ssd' });
    assert.equal(p.requiredTerms?.length, 1);
    assert.deepEqual(p.scheduledCondition, { status: 'False', reason: 'Unschedulable', message: 'm' });
    assert.equal(needsScheduling(p), true);
    assert.equal(needsScheduling({ ...p, nodeName: 'n1' }), false);
    assert.equal(needsScheduling({ ...p, schedulerName: 'other' }), false);
    assert.equal(needsScheduling({ ...p, gated: true }), false);
    assert.equal(needsScheduling({ ...p, deleting: true }), false);
  });
});

describe('filters', () => {
  test('tolerations (ToleratesTaint)', () => {
    const taint = { key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' };
    const table: [object, boolean][] = [
      [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' }, true],
      [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }, true], // any effect
      [{ operator: 'Exists' }, true], // everything
      [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoSchedule' }, false],
      [{ key: 'node.kubernetes.io/not-ready', value: '' }, true], // Equal by default, empty value
      [{ key: 'node.kubernetes.io/not-ready', value: 'x' }, false],
      [{ key: 'other', operator: 'Exists' }, false],
      [{ operator: 'Equal' }, false], // Equal needs a key
    ];
    for (const [t, want] of table) assert.equal(tolerates(t, taint), want, JSON.stringify(t));
    assert.equal(tolerates({ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }, { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }), true);
  });

  test('taints: NoSchedule/NoExecute filter, PreferNoSchedule does not; Ready implies taints', () => {
    const tainted = readyNode('n1', (n) => { n.taints = [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }]; });
    assert.equal(filterNode(pod('p'), tainted), 'node(s) had untolerated taint {dedicated: gpu}');
    assert.equal(filterNode(pod('p', (p) => { p.tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }]; }), tainted), undefined);
    const prefer = readyNode('n2', (n) => { n.taints = [{ key: 'x', effect: 'PreferNoSchedule' }]; });
    assert.equal(filterNode(pod('p'), prefer), undefined);
    const noexec = readyNode('n3', (n) => { n.taints = [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }]; });
    assert.equal(filterNode(pod('p'), noexec), 'node(s) had untolerated taint {node.kubernetes.io/unreachable: }');
    // Not Ready, with no taint written yet: treated as tainted.
    const notReady = readyNode('n4', (n) => { n.ready = 'False'; });
    assert.deepEqual(effectiveTaints(notReady), [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }]);
    assert.equal(filterNode(pod('p'), notReady), 'node(s) had untolerated taint {node.kubernetes.io/not-ready: }');
    const unknown = readyNode('n5', (n) => { n.ready = undefined; });
    assert.equal(filterNode(pod('p'), unknown), 'node(s) had untolerated taint {node.kubernetes.io/unreachable: }');
    const tolerant = pod('p', (p) => { p.tolerations = [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }]; });
    assert.equal(filterNode(tolerant, notReady), undefined);
  });

  test('spec.unschedulable, unless tolerated', () => {
    const cordoned = readyNode('n1', (n) => { n.unschedulable = true; });
    assert.equal(filterNode(pod('p'), cordoned), REASON_UNSCHEDULABLE);
    assert.equal(filterNode(pod('p', (p) => { p.tolerations = [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }]; }), cordoned), undefined);
  });

  test('nodeSelector and required node affinity', () => {
    const n = readyNode('n1', (x) => { x.labels = { ...x.labels, zone: 'a', gen: '5' }; });
    const withSel = (sel: Record<string, string>) => pod('p', (p) => { p.nodeSelector = sel; });
    assert.equal(matchesNodeAffinity(withSel({ zone: 'a' }), n), true);
    assert.equal(matchesNodeAffinity(withSel({ zone: 'b' }), n), false);
    assert.equal(filterNode(withSel({ zone: 'b' }), n), REASON_AFFINITY);
    const term = (t: object) => nodeSelectorTermMatches(t, n);
    assert.equal(term({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }), true);
    assert.equal(term({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }), false);
    assert.equal(term({ matchExpressions: [{ key: 'nope', operator: 'NotIn', values: ['a'] }] }), true);
    assert.equal(term({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }), true);
    assert.equal(term({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }), false);
    assert.equal(term({ matchExpressions: [{ key: 'gen', operator: 'Gt', values: ['4'] }] }), true);
    assert.equal(term({ matchExpressions: [{ key: 'gen', operator: 'Lt', values: ['4'] }] }), false);
    assert.equal(term({ matchExpressions: [{ key: 'zone', operator: 'Gt', values: ['4'] }] }), false);
    assert.equal(term({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] }), true);
    assert.equal(term({ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['n1'] }] }), false);
    assert.equal(term({ matchFields: [{ key: 'metadata.labels', operator: 'In', values: ['n1'] }] }), false);
    assert.equal(term({}), false, 'an empty term matches nothing');
    // Terms are ORed; expressions within a term ANDed; nodeSelector applies as well.
    const aff = (terms: object[], sel: Record<string, string> = {}) =>
      matchesNodeAffinity(pod('p', (p) => { p.requiredTerms = terms; p.nodeSelector = sel; }), n);
    assert.equal(aff([{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }, { matchExpressions: [{ key: 'gen', operator: 'Exists' }] }]), true);
    assert.equal(aff([{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'gen', operator: 'DoesNotExist' }] }]), false);
    assert.equal(aff([{ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }], { zone: 'b' }), false);
    assert.equal(aff([]), false, 'an empty list of terms matches nothing');
  });
});

describe('scheduling', () => {
  test('FailedScheduling message as upstream words it', () => {
    const nodes = [
      readyNode('n1', (n) => { n.unschedulable = true; }),
      readyNode('n2', (n) => { n.ready = 'False'; }),
      readyNode('n3', (n) => { n.ready = 'False'; }),
      readyNode('n4'),
    ];
    const r = schedulePod(pod('p', (p) => { p.nodeSelector = { disk: 'ssd' }; }), nodes, []);
    assert.equal(r.node, undefined);
    assert.equal('message' in r && r.message,
      "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were unschedulable, 2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.");
    assert.equal(fitErrorMessage(0, new Map()), 'no nodes available to schedule pods');
  });

  test('picks only feasible nodes', () => {
    const nodes = [readyNode('a', (n) => { n.labels.role = 'edge'; }), readyNode('b')];
    for (let i = 0; i < 10; i++) {
      const r = schedulePod(pod('p', (p) => { p.nodeSelector = { role: 'edge' }; }), nodes, [], () => i / 10);
      assert.equal(r.node, 'a');
    }
  });

  test('spreads a group first, then total pods; ties at random', () => {
    const nodes = ['a', 'b', 'c'].map((n) => readyNode(n));
    const on = (node: string, tweak?: (p: SchedPod) => void) => pod(`x${uid}`, (p) => { p.nodeName = node; tweak?.(p); });
    const web = (p: SchedPod) => { p.ownerUid = 'rs-web'; p.labels = { app: 'web' }; };
    // a: 2 web; b: 1 web + 3 others; c: 1 web + 1 other → c (fewest web, then fewest total).
    const placed = [on('a', web), on('a', web), on('b', web), on('b'), on('b'), on('b'), on('c', web), on('c')];
    assert.equal(schedulePod(pod('new', web), nodes, placed).node, 'c');
    // Finished pods do not count.
    const done = placed.map((p) => (p.nodeName === 'c' ? { ...p, finished: true } : p));
    assert.equal(schedulePod(pod('new', web), nodes, [...done, on('a'), on('b')]).node, 'c');
    // Ties broken by the random source.
    const empty: SchedPod[] = [];
    assert.equal(schedulePod(pod('p'), nodes, empty, () => 0).node, 'a');
    assert.equal(schedulePod(pod('p'), nodes, empty, () => 0.5).node, 'b');
    assert.equal(schedulePod(pod('p'), nodes, empty, () => 0.99).node, 'c');
    // Scheduling 6 pods of a group one after another on 3 nodes gives 2 each.
    const seq: SchedPod[] = [];
    for (let i = 0; i < 6; i++) {
      const p = pod(`w${i}`, web);
      const r = schedulePod(p, nodes, seq);
      assert.ok(r.node);
      seq.push({ ...p, nodeName: r.node });
    }
    const per = Object.fromEntries(['a', 'b', 'c'].map((n) => [n, seq.filter((p) => p.nodeName === n).length]));
    assert.deepEqual(per, { a: 2, b: 2, c: 2 });
  });

  test('grouping: owner, else identical labels in the namespace', () => {
    const owned = pod('a', (p) => { p.ownerUid = 'o1'; p.labels = { app: 'x' }; });
    assert.equal(sameGroup(owned, pod('b', (p) => { p.ownerUid = 'o1'; })), true);
    assert.equal(sameGroup(owned, pod('b', (p) => { p.labels = { app: 'x' }; })), false);
    const bare = pod('a', (p) => { p.labels = { app: 'x' }; });
    assert.equal(sameGroup(bare, pod('b', (p) => { p.labels = { app: 'x' }; })), true);
    assert.equal(sameGroup(bare, pod('b', (p) => { p.labels = { app: 'x', v: '2' }; })), false);
    assert.equal(sameGroup(bare, pod('b', (p) => { p.labels = { app: 'x' }; p.namespace = 'other'; })), false);
    assert.equal(sameGroup(pod('a'), pod('b')), false, 'no labels, no owner: no group');
  });
});

describe('node IPAM allocation table', () => {
  test('default plan: a /24 and a /64 per node, distinct, in order', () => {
    const t = new NodeCidrTable(buildAllocators());
    assert.deepEqual(t.allocate('a'), ['10.244.0.0/24', 'fd00:10:244::/64']);
    assert.deepEqual(t.allocate('b'), ['10.244.1.0/24', 'fd00:10:244:1::/64']);
    assert.deepEqual(t.rangesOf('a'), ['10.244.0.0/24', 'fd00:10:244::/64']);
  });

  test('rebuilt from what nodes carry; conflicts and strays reported, not recorded', () => {
    const t = new NodeCidrTable(buildAllocators({ clusterCIDRs: ['10.244.0.0/23'] }));
    assert.deepEqual(t.occupy('a', ['10.244.0.0/24']), []);
    assert.deepEqual(t.occupy('a', ['10.244.0.0/24']), [], 'idempotent');
    assert.deepEqual(t.occupy('b', ['10.244.0.0/24']), ['10.244.0.0/24 is already held by node a']);
    assert.deepEqual(t.occupy('c', ['192.168.0.0/24']), ['192.168.0.0/24 is outside the cluster CIDRs']);
    assert.deepEqual(t.allocate('d'), ['10.244.1.0/24']);
    assert.equal(t.allocate('e'), undefined, 'exhausted');
    assert.deepEqual(t.release('a'), ['10.244.0.0/24']);
    assert.deepEqual(t.allocate('e'), ['10.244.0.0/24']);
    assert.deepEqual(t.release('nobody'), []);
  });

  test('a dual-stack allocation is all or nothing', () => {
    const t = new NodeCidrTable(buildAllocators({ clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/64'], nodeCIDRMaskSizeIPv6: 64 }));
    assert.deepEqual(t.allocate('a'), ['10.244.0.0/24', 'fd00:10:244::/64']);
    assert.equal(t.allocate('b'), undefined);
    assert.deepEqual(t.allocate('c'), undefined, 'the IPv4 range taken for b was given back');
    t.release('a');
    // (Round robin: the failed attempts moved the IPv4 cursor on, as upstream's cidrset does.)
    const b = t.allocate('b')!;
    assert.equal(b[1], 'fd00:10:244::/64');
    assert.match(b[0], /^10\.244\.\d+\.0\/24$/);
    assert.notEqual(b[0], '10.244.0.0/24');
  });

  test('configuration is checked', () => {
    assert.throws(() => buildAllocators({ clusterCIDRs: ['10.244.0.0/16', '10.245.0.0/16'] }), /more than one IPv4/);
    assert.throws(() => buildAllocators({ clusterCIDRs: [] }), /one or two/);
    assert.throws(() => buildAllocators({ clusterCIDRs: ['10.244.0.1/16'] }), /host bits set/);
    assert.throws(() => buildAllocators({ clusterCIDRs: ['10.0.0.0/8'], nodeCIDRMaskSizeIPv4: 28 }), /more than 16 bits/);
  });
});

describe('node lifecycle: conditions and taints', () => {
  const T0 = Date.parse('2026-01-01T00:00:00Z');
  const lnode = (tweak?: (n: LifecycleNode) => void): LifecycleNode => {
    const n = toLifecycleNode({
      metadata: { name: 'n1', uid: 'u', creationTimestamp: '2025-12-31T00:00:00Z' },
      spec: { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] },
      status: { conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: '2025-12-31T23:59:00Z', lastTransitionTime: '2025-12-31T00:00:00Z' },
        { type: 'MemoryPressure', status: 'False', lastHeartbeatTime: '2025-12-31T23:59:00Z' },
      ] },
    });
    tweak?.(n);
    return n;
  };

  test('a silent kubelet: conditions go Unknown, never-posted ones are added', () => {
    const c = unknownConditions(lnode(), T0);
    assert.deepEqual(c.map((x) => [x.type, x.status, x.reason]), [
      ['Ready', 'Unknown', 'NodeStatusUnknown'], ['MemoryPressure', 'Unknown', 'NodeStatusUnknown'],
      ['DiskPressure', 'Unknown', 'NodeStatusNeverUpdated'], ['PIDPressure', 'Unknown', 'NodeStatusNeverUpdated'],
    ]);
    assert.equal(c[0].message, 'Kubelet stopped posting node status.');
    assert.equal(c[0].lastHeartbeatTime, '2025-12-31T23:59:00Z', 'heartbeat kept');
    assert.equal(c[0].lastTransitionTime, '2026-01-01T00:00:00Z');
    assert.equal(c[2].message, 'Kubelet never posted node status.');
    // Already Unknown: nothing to write.
    const n = lnode((x) => { x.conditions = c; });
    assert.deepEqual(unknownConditions(n, T0 + 1000), []);
  });

  test('taints follow the Ready condition and spec.unschedulable; others are kept', () => {
    const keys = (n: LifecycleNode) => conditionTaints(n).map((t) => `${t.key}:${t.effect}`);
    assert.deepEqual(keys(lnode()), []);
    const unknown = lnode((n) => { n.conditions[0].status = 'Unknown'; });
    assert.deepEqual(keys(unknown), ['node.kubernetes.io/unreachable:NoSchedule', 'node.kubernetes.io/unreachable:NoExecute']);
    const notReady = lnode((n) => { n.conditions[0].status = 'False'; n.unschedulable = true; n.conditions[1].status = 'True'; });
    assert.deepEqual(keys(notReady), ['node.kubernetes.io/not-ready:NoSchedule', 'node.kubernetes.io/not-ready:NoExecute',
      'node.kubernetes.io/memory-pressure:NoSchedule', 'node.kubernetes.io/unschedulable:NoSchedule']);

    const tainted = reconcileTaints(unknown, T0)!;
    assert.deepEqual(tainted, [
      { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: '2026-01-01T00:00:00Z' },
    ]);
    // Applied: nothing more to do (timeAdded kept).
    assert.equal(reconcileTaints({ ...unknown, taints: tainted }, T0 + 5000), undefined);
    // Back to Ready: only the managed taints go.
    assert.deepEqual(reconcileTaints({ ...lnode(), taints: tainted }, T0), [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }]);
    // Unknown → False: unreachable swapped for not-ready.
    const swapped = reconcileTaints({ ...lnode((n) => { n.conditions[0].status = 'False'; }), taints: tainted }, T0)!;
    assert.deepEqual(swapped.map((t) => t.key), ['dedicated', 'node.kubernetes.io/not-ready', 'node.kubernetes.io/not-ready']);
  });
});

describe('scheduler queueing', () => {
  test('its own PodScheduled writes do not count as new input', () => {
    const p = pod('p');
    assert.equal(sameSchedulingInputs(p, { ...p, scheduledCondition: { status: 'False', reason: 'Unschedulable' } }), true);
    assert.equal(sameSchedulingInputs(p, { ...p, tolerations: [{ operator: 'Exists' }] }), false);
  });
});
