// Pure logic of the ReplicaSet and Deployment controllers: which pods go first, surge and
// unavailability arithmetic, proportional scaling, template hashes, annotations, status and
// conditions. No server, no root.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  claimAction, deleteBefore, Expectations, EXPECTATIONS_TIMEOUT_MS, podFromTemplate, podsToDelete, replicaSetStatus,
  replicaSetStatusChanged, slowStartBatch, stripPod, type PodRecord, type ReplicaSet,
} from '../../src/controllers/replicaset.js';
import {
  calculateStatus, deploymentComplete, equalIgnoreHash, findActiveOrLatest, isSaturated, maxSurge, maxUnavailable,
  newReplicaSetFor, newRSNewReplicas, podTemplateHash, proportionalScale, reconcileNewReplicaSet, reconcileOldReplicaSets,
  replicaSetsToCleanUp, resolveFenceposts, rolloutStatus, scaledValue, setCondition, setNewReplicaSetAnnotations, type Deployment, type DeploymentStatus,
  DESIRED_REPLICAS, MAX_REPLICAS, POD_TEMPLATE_HASH, REVISION, REVISION_HISTORY,
} from '../../src/controllers/deployment.js';
import { selectControllers } from '../../src/controllers/manager.js';

// Fixed test plan: "now" is 2026-01-01T00:10:00Z; pods are created minutes before it.
const NOW = Date.parse('2026-01-01T00:10:00Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

function pod(name: string, tweak: (p: PodRecord) => void = () => undefined): PodRecord {
  const p: PodRecord = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, labels: { app: 'web' }, creationTimestamp: ago(300) },
    spec: {}, status: { phase: 'Pending' },
  };
  tweak(p);
  return p;
}
const ready = (since = 200) => (p: PodRecord) => {
  p.spec.nodeName ??= 'node-a';
  p.status.phase = 'Running';
  p.status.conditions = [{ type: 'Ready', status: 'True', lastTransitionTime: ago(since) }];
};

function rs(name: string, replicas: number, tweak: (r: ReplicaSet) => void = () => undefined): ReplicaSet {
  const r: ReplicaSet = {
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, generation: 1, creationTimestamp: ago(600) },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } },
    status: { replicas, availableReplicas: replicas, readyReplicas: replicas },
  };
  tweak(r);
  return r;
}

function deploy(replicas: number, tweak: (d: Deployment) => void = () => undefined): Deployment {
  const d: Deployment = {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', namespace: 'ns', uid: 'uid-d', generation: 1 },
    spec: {
      replicas, selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'i:2' }] } },
      revisionHistoryLimit: 10, progressDeadlineSeconds: 600,
    },
    status: {},
  };
  tweak(d);
  return d;
}
const rolling = (maxSurge: number | string, maxUnavailable: number | string) => (d: Deployment) => {
  d.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge, maxUnavailable } };
};

describe('surge and unavailability arithmetic', () => {
  it('scales percentages: surge rounds up, unavailable rounds down', () => {
    assert.equal(scaledValue('25%', 3, true), 1);
    assert.equal(scaledValue('25%', 3, false), 0);
    assert.equal(scaledValue('10%', 15, true), 2);
    assert.equal(scaledValue('10%', 15, false), 1);
    assert.equal(scaledValue(2, 10, true), 2);
    assert.throws(() => scaledValue('abc', 3, true));
  });
  it('resolves fenceposts: both zero makes maxUnavailable 1', () => {
    assert.deepEqual(resolveFenceposts('25%', '25%', 3), { surge: 1, unavailable: 0 });
    assert.deepEqual(resolveFenceposts(0, '10%', 5), { surge: 0, unavailable: 1 });
    assert.deepEqual(resolveFenceposts('25%', '25%', 10), { surge: 3, unavailable: 2 });
  });
  it('caps maxUnavailable at replicas; Recreate has neither', () => {
    assert.equal(maxUnavailable(deploy(3, rolling(0, 5))), 3);
    assert.equal(maxUnavailable(deploy(0, rolling(0, 5))), 0);
    const rec = deploy(3, (d) => { d.spec.strategy = { type: 'Recreate' }; });
    assert.equal(maxSurge(rec), 0);
    assert.equal(maxUnavailable(rec), 0);
  });
  it('sizes the new ReplicaSet within replicas + maxSurge', () => {
    const d = deploy(10); // surge 3
    assert.equal(newRSNewReplicas(d, [rs('old', 10), rs('new', 0)], rs('new', 0)), 3);
    assert.equal(newRSNewReplicas(d, [rs('old', 10), rs('new', 3)], rs('new', 3)), 3, 'at the surge limit');
    assert.equal(newRSNewReplicas(d, [rs('old', 2), rs('new', 9)], rs('new', 9)), 10, 'never above replicas');
    const rec = deploy(4, (x) => { x.spec.strategy = { type: 'Recreate' }; });
    assert.equal(newRSNewReplicas(rec, [rs('new', 0)], rs('new', 0)), 4);
  });
  it('reconciles the new ReplicaSet', () => {
    const d = deploy(3, rolling(1, 0));
    assert.equal(reconcileNewReplicaSet(d, [rs('old', 3), rs('new', 0)], rs('new', 0)), 1);
    assert.equal(reconcileNewReplicaSet(d, [rs('old', 3), rs('new', 1)], rs('new', 1)), undefined);
    assert.equal(reconcileNewReplicaSet(d, [rs('new', 5)], rs('new', 5)), 3, 'scaled down to replicas');
  });
  it('scales old ReplicaSets down only as far as availability allows', () => {
    const d = deploy(3, rolling(1, 0));
    const unavailNew = rs('new', 1, (r) => { r.status = { replicas: 1, availableReplicas: 0 }; });
    assert.deepEqual(reconcileOldReplicaSets(d, [rs('old', 3)], unavailNew), []);
    const availNew = rs('new', 1);
    const ops = reconcileOldReplicaSets(d, [rs('old', 3)], availNew);
    assert.deepEqual(ops.map((o) => [o.rs.metadata.name, o.to]), [['old', 2]]);
  });
  it('cleans up unhealthy old replicas first, oldest ReplicaSet first', () => {
    const d = deploy(4, rolling(1, 1));
    const older = rs('older', 2, (r) => { r.metadata.creationTimestamp = ago(900); r.status = { replicas: 2, availableReplicas: 0 }; });
    const old = rs('old', 2);
    const newRS = rs('new', 1, (r) => { r.status = { replicas: 1, availableReplicas: 0 }; });
    // all 5, minAvailable 3, new unavailable 1 → may scale down 1; the unhealthy 'older' goes first.
    const ops = reconcileOldReplicaSets(d, [old, older], newRS);
    assert.deepEqual(ops.map((o) => [o.rs.metadata.name, o.to]), [['older', 1]]);
  });
});

describe('proportional scaling', () => {
  const withMax = (max: number) => (r: ReplicaSet) => { r.metadata.annotations = { [MAX_REPLICAS]: String(max), [DESIRED_REPLICAS]: '10' }; };
  it('scales up, larger ReplicaSets first', () => {
    const d = deploy(12); // surge 3 → allowed 15
    const sizes = proportionalScale(d, [rs('old', 8, withMax(13)), rs('new', 5, (r) => { withMax(13)(r); r.metadata.creationTimestamp = ago(60); })]);
    assert.deepEqual(Object.fromEntries(sizes), { old: 9, new: 6 });
  });
  it('scales down, leftovers to the largest', () => {
    const d = deploy(5); // surge 2 → allowed 7
    const sizes = proportionalScale(d, [rs('old', 8, withMax(13)), rs('new', 5, withMax(13))]);
    assert.deepEqual(Object.fromEntries(sizes), { old: 4, new: 3 });
  });
  it('scales to zero', () => {
    const sizes = proportionalScale(deploy(0), [rs('old', 8, withMax(13)), rs('new', 5, withMax(13))]);
    assert.deepEqual(Object.fromEntries(sizes), { old: 0, new: 0 });
  });
  it('finds the only active ReplicaSet, or the newest', () => {
    const a = rs('a', 0, (r) => { r.metadata.creationTimestamp = ago(900); });
    const b = rs('b', 0, (r) => { r.metadata.creationTimestamp = ago(100); });
    assert.equal(findActiveOrLatest(undefined, [a, b])?.metadata.name, 'b');
    assert.equal(findActiveOrLatest(rs('n', 0), [a, b])?.metadata.name, 'n');
    assert.equal(findActiveOrLatest(rs('n', 0), [a, rs('c', 2)])?.metadata.name, 'c');
    assert.equal(findActiveOrLatest(rs('n', 1), [rs('c', 2)]), undefined);
  });
  it('knows a saturated new ReplicaSet', () => {
    const d = deploy(3);
    assert.ok(isSaturated(d, rs('n', 3, (r) => { r.metadata.annotations = { [DESIRED_REPLICAS]: '3' }; })));
    assert.ok(!isSaturated(d, rs('n', 3, (r) => { r.metadata.annotations = { [DESIRED_REPLICAS]: '2' }; })));
    assert.ok(!isSaturated(d, rs('n', 3)));
  });
});

describe('templates, hashes and annotations', () => {
  it('hashes templates stably, with safe characters, and differently after a collision', () => {
    const t = deploy(1).spec.template;
    const h = podTemplateHash(t);
    assert.match(h, /^[bcdfghjklmnpqrstvwxz2456789]+$/);
    assert.equal(podTemplateHash(structuredClone(t)), h);
    assert.equal(podTemplateHash({ spec: t!.spec, metadata: t!.metadata }), h, 'key order does not matter');
    assert.notEqual(podTemplateHash(t, 1), h);
    assert.notEqual(podTemplateHash(deploy(1, (d) => { d.spec.template!.spec = { containers: [{ name: 'c', image: 'i:3' }] }; }).spec.template), h);
  });
  it('compares templates ignoring the hash label and empty fields', () => {
    const a = deploy(1).spec.template!;
    const b = structuredClone(a);
    b.metadata!.labels![POD_TEMPLATE_HASH] = 'xyz';
    (b.spec as Record<string, unknown>).volumes = [];
    assert.ok(equalIgnoreHash(a, b));
    (b.spec as Record<string, unknown>).hostNetwork = true;
    assert.ok(!equalIgnoreHash(a, b));
  });
  it('builds the new ReplicaSet: name, hash label, selector, owner, annotations', () => {
    const d = deploy(4, (x) => { x.metadata.annotations = { 'kubernetes.io/change-cause': 'v2', [REVISION]: '7' }; });
    const r = newReplicaSetFor(d, [rs('old', 4)], 2);
    const hash = podTemplateHash(d.spec.template);
    assert.equal(r.metadata.name, `web-${hash}`);
    assert.equal(r.spec.selector?.matchLabels?.[POD_TEMPLATE_HASH], hash);
    assert.equal(r.spec.template?.metadata?.labels?.[POD_TEMPLATE_HASH], hash);
    assert.equal(r.metadata.labels?.[POD_TEMPLATE_HASH], hash);
    assert.deepEqual(r.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'uid-d', controller: true, blockOwnerDeletion: true }]);
    assert.equal(r.spec.replicas, 1, 'surge of 1 over the old ReplicaSet');
    assert.deepEqual(r.metadata.annotations, {
      'kubernetes.io/change-cause': 'v2', [REVISION]: '2', [DESIRED_REPLICAS]: '4', [MAX_REPLICAS]: '5',
    });
    assert.equal(d.spec.template?.metadata?.labels?.[POD_TEMPLATE_HASH], undefined, 'the Deployment is untouched');
  });
  it('cleans up the oldest idle revisions beyond revisionHistoryLimit', () => {
    const rev = (name: string, r: number, replicas = 0, tweak: (x: ReplicaSet) => void = () => undefined) => rs(name, replicas, (x) => {
      x.metadata.annotations = { [REVISION]: String(r) };
      x.status = { replicas, observedGeneration: 1 };
      tweak(x);
    });
    const d = deploy(1, (x) => { x.spec.revisionHistoryLimit = 2; });
    const olds = [rev('r4', 4), rev('r1', 1), rev('r3', 3), rev('r2', 2, 1), rev('r0', 0, 0, (x) => { x.metadata.generation = 2; })];
    // 5 old, keep 2: candidates r0, r1, r2 (by revision); r0 is unobserved, r2 still has a replica.
    assert.deepEqual(replicaSetsToCleanUp(d, olds).map((x) => x.metadata.name), ['r1']);
    assert.deepEqual(replicaSetsToCleanUp(deploy(1, (x) => { delete x.spec.revisionHistoryLimit; }), olds), []);
  });
  it('keeps revision history when an old ReplicaSet becomes new again (rollback)', () => {
    const d = deploy(1);
    const r = rs('old', 0, (x) => { x.metadata.annotations = { [REVISION]: '1' }; });
    assert.ok(setNewReplicaSetAnnotations(d, r, 3, true));
    assert.equal(r.metadata.annotations?.[REVISION], '3');
    assert.equal(r.metadata.annotations?.[REVISION_HISTORY], '1');
    assert.ok(setNewReplicaSetAnnotations(d, r, 5, true));
    assert.equal(r.metadata.annotations?.[REVISION_HISTORY], '1,3');
    assert.ok(!setNewReplicaSetAnnotations(d, r, 4, true), 'never lowers a revision');
  });
});

describe('deployment status and conditions', () => {
  const cond = (st: DeploymentStatus, type: string) => st.conditions?.find((c) => c.type === type);
  it('counts from ReplicaSets and sets Available', () => {
    const d = deploy(4); // maxUnavailable 1
    const newRS = rs('new', 2, (r) => { r.status = { replicas: 2, readyReplicas: 1, availableReplicas: 1 }; });
    const st = calculateStatus(d, [rs('old', 3), newRS], newRS, NOW);
    assert.deepEqual({ ...st, conditions: undefined }, {
      observedGeneration: 1, replicas: 5, updatedReplicas: 2, readyReplicas: 4, availableReplicas: 4, unavailableReplicas: 1, conditions: undefined,
    });
    assert.equal(cond(st, 'Available')?.reason, 'MinimumReplicasAvailable');
    const st2 = calculateStatus(d, [rs('old', 2, (r) => { r.status = { replicas: 2, availableReplicas: 1 }; })], undefined, NOW);
    assert.equal(cond(st2, 'Available')?.status, 'False');
    assert.equal(cond(st2, 'Available')?.reason, 'MinimumReplicasUnavailable');
  });
  it('moves Progressing through ReplicaSetUpdated to NewReplicaSetAvailable, or times out', () => {
    const d = deploy(2, (x) => { x.status = { replicas: 2, updatedReplicas: 0, conditions: [{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetCreated', lastUpdateTime: ago(30), lastTransitionTime: ago(30) }] }; });
    const half = rs('new', 1, (r) => { r.status = { replicas: 1, availableReplicas: 1, readyReplicas: 1 }; });
    const st = rolloutStatus(d, [rs('old', 1), half], half, NOW);
    assert.equal(cond(st, 'Progressing')?.reason, 'ReplicaSetUpdated');
    assert.equal(cond(st, 'Progressing')?.message, 'ReplicaSet "new" is progressing.');
    assert.equal(cond(st, 'Progressing')?.lastTransitionTime, ago(30), 'transition time kept');
    const full = rs('new', 2);
    const done = rolloutStatus(d, [rs('old', 0, (r) => { r.status = {}; }), full], full, NOW);
    assert.ok(deploymentComplete(d, done));
    assert.equal(cond(done, 'Progressing')?.reason, 'NewReplicaSetAvailable');
    // No progress for longer than progressDeadlineSeconds.
    const stuck = deploy(2, (x) => {
      x.spec.progressDeadlineSeconds = 60;
      x.status = { replicas: 2, updatedReplicas: 1, availableReplicas: 1, readyReplicas: 1, conditions: [{ type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated', lastUpdateTime: ago(120), lastTransitionTime: ago(120) }] };
    });
    const newRS = rs('new', 1, (r) => { r.status = { replicas: 1, availableReplicas: 1, readyReplicas: 1 }; });
    const old = rs('old', 1, (r) => { r.status = { replicas: 1 }; });
    const timedOut = rolloutStatus(stuck, [old, newRS], newRS, NOW);
    assert.equal(cond(timedOut, 'Progressing')?.reason, 'ProgressDeadlineExceeded');
    assert.equal(cond(timedOut, 'Progressing')?.status, 'False');
  });
  it('carries a ReplicaSet failure into the Deployment', () => {
    const newRS = rs('new', 2, (r) => { r.status = { replicas: 0, conditions: [{ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'quota', lastTransitionTime: ago(5) }] }; });
    const st = rolloutStatus(deploy(2), [newRS], newRS, NOW);
    assert.equal(cond(st, 'ReplicaFailure')?.reason, 'FailedCreate');
  });
  it('setCondition keeps lastTransitionTime when only the reason changes', () => {
    const st: DeploymentStatus = { conditions: [{ type: 'Available', status: 'True', reason: 'A', lastTransitionTime: ago(100), lastUpdateTime: ago(100) }] };
    setCondition(st, { type: 'Available', status: 'True', reason: 'B', lastTransitionTime: ago(0), lastUpdateTime: ago(0) });
    assert.equal(st.conditions![0]!.reason, 'B');
    assert.equal(st.conditions![0]!.lastTransitionTime, ago(100));
    setCondition(st, { type: 'Available', status: 'False', reason: 'C', lastTransitionTime: ago(0), lastUpdateTime: ago(0) });
    assert.equal(st.conditions![0]!.lastTransitionTime, ago(0));
  });
});

describe('replica set: which pods are deleted first', () => {
  const order = (pods: PodRecord[], related: PodRecord[] = pods) => podsToDelete(pods, related, pods.length - 1, NOW).map((p) => p.metadata.name);
  it('follows upstream ranking', () => {
    const cases: [string, PodRecord, PodRecord][] = [
      ['unscheduled before scheduled', pod('a'), pod('b', (p) => { p.spec.nodeName = 'n1'; })],
      ['pending before running', pod('a', (p) => { p.spec.nodeName = 'n1'; }), pod('b', (p) => { p.spec.nodeName = 'n1'; p.status.phase = 'Running'; })],
      ['not ready before ready', pod('a', (p) => { p.spec.nodeName = 'n1'; p.status.phase = 'Running'; }), pod('b', ready())],
      ['lower deletion cost first', pod('a', (p) => { ready()(p); p.metadata.annotations = { 'controller.kubernetes.io/pod-deletion-cost': '-5' }; }), pod('b', ready())],
      ['ready for less time first', pod('a', ready(10)), pod('b', ready(200))],
      ['more restarts first', pod('a', (p) => { ready()(p); p.status.containerStatuses = [{ restartCount: 3 }]; }), pod('b', ready())],
      ['newer first', pod('a', (p) => { ready()(p); p.metadata.creationTimestamp = ago(10); }), pod('b', ready())],
    ];
    for (const [what, first, second] of cases) {
      assert.ok(deleteBefore(first, 0, second, 0, NOW), what);
      assert.ok(!deleteBefore(second, 0, first, 0, NOW), `${what} (reverse)`);
    }
  });
  it('prefers pods doubled up on a node with related pods', () => {
    const a = pod('a', (p) => { ready()(p); p.spec.nodeName = 'n1'; });
    const b = pod('b', (p) => { ready()(p); p.spec.nodeName = 'n2'; });
    const sibling = pod('s', (p) => { ready()(p); p.spec.nodeName = 'n2'; });
    assert.deepEqual(podsToDelete([a, b], [a, b, sibling], 1, NOW).map((p) => p.metadata.name), ['b']);
  });
  it('picks the diff cheapest pods', () => {
    const pods = [pod('r1', ready()), pod('p1'), pod('r2', ready()), pod('p2', (p) => { p.spec.nodeName = 'n'; })];
    assert.deepEqual(podsToDelete(pods, pods, 2, NOW).map((p) => p.metadata.name).sort(), ['p1', 'p2']);
    assert.equal(order(pods).length, 3);
  });
});

describe('replica set: status, creation, expectations, claims', () => {
  it('computes status with minReadySeconds and ReplicaFailure', () => {
    const r = rs('web', 3, (x) => { x.spec.minReadySeconds = 60; x.status = {}; });
    const pods = [pod('a', ready(120)), pod('b', ready(10)), pod('c', (p) => { p.metadata.labels = { app: 'web', extra: '1' }; }), pod('d', (p) => { p.metadata.labels = {}; })];
    const st = replicaSetStatus(r, pods, undefined, NOW);
    assert.deepEqual({ ...st }, { replicas: 4, fullyLabeledReplicas: 3, readyReplicas: 2, availableReplicas: 1, observedGeneration: undefined });
    const failed = replicaSetStatus(r, pods.slice(0, 2), new Error('unable to create pods: forbidden'), NOW);
    assert.equal(failed.conditions?.[0]?.reason, 'FailedCreate');
    assert.equal(failed.conditions?.[0]?.message, 'unable to create pods: forbidden');
    const cleared = replicaSetStatus({ ...r, status: failed }, pods.slice(0, 3), undefined, NOW);
    assert.equal(cleared.conditions, undefined);
    assert.ok(replicaSetStatusChanged(r, st));
    assert.ok(!replicaSetStatusChanged({ ...r, status: { ...st, observedGeneration: 1 } }, st));
  });
  it('builds pods from the template', () => {
    const r = rs('web', 1, (x) => { x.spec.template!.metadata!.annotations = { a: 'b' }; });
    const p = podFromTemplate(r);
    assert.equal(p.metadata.generateName, 'web-');
    assert.deepEqual(p.metadata.labels, { app: 'web' });
    assert.deepEqual(p.metadata.annotations, { a: 'b' });
    assert.deepEqual(p.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'uid-web', controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual(p.spec, r.spec.template!.spec);
  });
  it('creates in slow-start batches and stops at the first failing batch', async () => {
    let inFlight = 0;
    const batches: number[] = [];
    let calls = 0;
    const res = await slowStartBatch(10, 1, async () => {
      calls++;
      inFlight++;
      await new Promise((r) => setImmediate(r));
      batches.push(inFlight);
      inFlight--;
    });
    assert.equal(res.successes, 10);
    assert.equal(calls, 10);
    assert.equal(Math.max(...batches), 4, 'batches 1, 2, 4, 3');
    let n = 0;
    const failing = await slowStartBatch(10, 1, async () => { n++; if (n === 3) throw new Error('boom'); });
    assert.deepEqual({ successes: failing.successes, error: failing.error?.message, tried: n }, { successes: 2, error: 'boom', tried: 3 });
  });
  it('tracks expectations until observed or expired', () => {
    let t = 0;
    const e = new Expectations(() => t);
    assert.ok(e.satisfied('ns/web'));
    e.expectCreations('ns/web', 2);
    assert.ok(!e.satisfied('ns/web'));
    e.creationObserved('ns/web');
    e.creationObserved('ns/web');
    assert.ok(e.satisfied('ns/web'));
    e.expectDeletions('ns/web', ['ns/a', 'ns/b']);
    e.deletionObserved('ns/web', 'ns/other');
    e.deletionObserved('ns/web', 'ns/a');
    e.deletionObserved('ns/web', 'ns/a');
    assert.deepEqual(e.get('ns/web'), { add: 0, del: 1 });
    t += EXPECTATIONS_TIMEOUT_MS + 1;
    assert.ok(e.satisfied('ns/web'), 'expired');
  });
  it('claims, adopts, releases or ignores', () => {
    const owner = rs('web', 1);
    const mine = pod('a', (p) => { p.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'uid-web', controller: true }]; });
    const theirs = pod('b', (p) => { p.metadata.ownerReferences = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'x', uid: 'uid-x', controller: true }]; });
    assert.equal(claimAction(owner, mine, true), 'claim');
    assert.equal(claimAction(owner, mine, false), 'release');
    assert.equal(claimAction(owner, theirs, true), 'ignore');
    assert.equal(claimAction(owner, pod('c'), true), 'adopt');
    assert.equal(claimAction(owner, pod('c'), false), 'ignore');
    assert.equal(claimAction(owner, pod('d', (p) => { p.metadata.deletionTimestamp = ago(1); }), true), 'ignore');
    assert.equal(claimAction({ ...owner, metadata: { ...owner.metadata, deletionTimestamp: ago(1) } }, mine, false), 'ignore');
  });
  it('strips pods to what the controllers read', () => {
    const p = stripPod({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'a', namespace: 'ns', uid: 'u', labels: { x: 'y' }, annotations: { big: 'z' }, managedFields: [{}] },
      spec: { nodeName: 'n', containers: [{ name: 'c' }] },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }, { type: 'PodScheduled', status: 'True' }], containerStatuses: [{ name: 'c', restartCount: 2, image: 'i' }] },
    });
    assert.deepEqual(p.spec, { nodeName: 'n' });
    assert.equal(p.metadata.annotations, undefined);
    assert.deepEqual(p.status.conditions, [{ type: 'Ready', status: 'True' }]);
    assert.deepEqual(p.status.containerStatuses, [{ restartCount: 2 }]);
  });
});

describe('controller manager', () => {
  it('selects controllers like --controllers', () => {
    const all = ['garbagecollector', 'replicaset', 'deployment'];
    assert.deepEqual(selectControllers(all), all);
    assert.deepEqual(selectControllers(all, ['*', '-deployment']), ['garbagecollector', 'replicaset']);
    assert.deepEqual(selectControllers(all, ['replicaset']), ['replicaset']);
  });
});
