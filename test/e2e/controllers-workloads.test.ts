// End to end: the ReplicaSet and Deployment controllers (through the controller manager, so
// with the garbage collector) against an in-process API server. There is no kubelet: the test
// plays it, patching pod status (Running, Ready=True, podIP) for the pods it wants ready.
// `kubectl rollout status / history / undo` run as real kubectl when it is installed.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KObject } from '../../src/api/meta.js';
import { allKinds } from '../../src/api/kinds/index.js';
import { startApiServer, type RunningApiServer } from '../../src/apiserver/index.js';
import { ApiClient } from '../../src/client/client.js';
import { startControllerManager } from '../../src/controllers/manager.js';
import { POD_GVR, RS_GVR, type ReplicaSet } from '../../src/controllers/replicaset.js';
import { DEPLOY_GVR, POD_TEMPLATE_HASH, REVISION, type Deployment } from '../../src/controllers/deployment.js';
import { eventually, haveKubectl } from './harness.js';

const kubectlSkip = haveKubectl() ? false : 'kubectl is not installed on this machine';

type Pod = KObject & { spec: { nodeName?: string }; status?: { phase?: string; conditions?: { type: string; status: string }[] } };

describe('workload controllers', { concurrency: false }, () => {
  let dir = '';
  let srv: RunningApiServer;
  let stopManager: () => Promise<void>;
  let client: ApiClient;
  let ipSeq = 1;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'podnet-wl-'));
    srv = await startApiServer({ dataDir: dir, port: 0, controllers: false });
    stopManager = await startControllerManager(srv.kubeconfigPath, allKinds);
    client = ApiClient.fromKubeconfig(srv.kubeconfigPath);
  });
  after(async () => {
    await stopManager?.();
    client?.close();
    await srv?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const pods = (ns: string) => client.resource<Pod>(POD_GVR, ns);
  const rss = (ns: string) => client.resource<ReplicaSet>(RS_GVR, ns);
  const deploys = (ns: string) => client.resource<Deployment>(DEPLOY_GVR, ns);
  const ns = async (name: string) => {
    await client.resource({ group: '', version: 'v1', resource: 'namespaces', namespaced: false })
      .create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    return name;
  };
  const activePods = async (n: string, selector?: string) =>
    (await pods(n).list({ labelSelector: selector })).items.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded');
  /** eventually() for a value that is `false` until ready. */
  const until = <T>(fn: () => Promise<T | false>, ms: number, what: string) => eventually(fn, ms, what) as Promise<T>;
  const isReady = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

  /** Plays the kubelet: the pod runs and is ready. */
  async function markReady(p: Pod): Promise<void> {
    await markReadyOrGone(p).catch((e: { code?: number }) => { if (e.code !== 404) throw e; });
  }
  async function markReadyOrGone(p: Pod): Promise<void> {
    const ip = `10.244.0.${ipSeq++ % 250 + 2}`;
    const t = new Date(Date.now() - 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    await pods(p.metadata.namespace!).patch(p.metadata.name!, 'merge', {
      status: {
        phase: 'Running', podIP: ip, podIPs: [{ ip }],
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: t }, { type: 'ContainersReady', status: 'True', lastTransitionTime: t }],
      },
    }, { subresource: 'status' });
  }
  async function markAllReady(n: string, selector?: string): Promise<number> {
    const notReady = (await activePods(n, selector)).filter((p) => !isReady(p));
    for (const p of notReady) await markReady(p);
    return notReady.length;
  }

  const rsTemplate = (name: string, replicas: number, labels: Record<string, string> = { app: name }): ReplicaSet => ({
    apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name },
    spec: {
      replicas, selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] } },
    },
  });

  const deployment = (name: string, replicas: number, image: string, strategy: Deployment['spec']['strategy'] = undefined): Deployment => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
    spec: {
      replicas, selector: { matchLabels: { app: name } }, strategy,
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image }] } },
    },
  });

  /** Async kubectl (the API server runs in this process, so spawnSync would deadlock it). */
  const kubectl = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile('kubectl', ['--kubeconfig', srv.kubeconfigPath, ...args], { env: { ...process.env, KUBECONFIG: '', HOME: dir }, timeout: 30_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
  });

  it('ReplicaSet: creates, scales up and down (unready pods first), replaces deleted pods', async () => {
    const n = await ns('rs-basic');
    await rss(n).create(rsTemplate('web', 3));
    const created = await until(async () => { const ps = await activePods(n); return ps.length === 3 && ps; }, 10_000, '3 pods');
    for (const p of created) {
      assert.match(p.metadata.name!, /^web-[a-z0-9]{5}$/);
      const ref = p.metadata.ownerReferences?.[0];
      assert.equal(ref?.kind, 'ReplicaSet');
      assert.equal(ref?.controller, true);
      assert.equal(ref?.blockOwnerDeletion, true);
      assert.deepEqual(p.metadata.labels, { app: 'web' });
    }
    // Two become ready; status follows.
    await markReady(created[0]!);
    await markReady(created[1]!);
    await eventually(async () => {
      const rs = await rss(n).get('web');
      return rs.status?.replicas === 3 && rs.status.readyReplicas === 2 && rs.status.availableReplicas === 2 &&
        rs.status.fullyLabeledReplicas === 3 && rs.status.observedGeneration === rs.metadata.generation;
    }, 10_000, 'RS status 3/2/2');
    // Scale down to 2: the unready pod goes first.
    await rss(n).patch('web', 'merge', { spec: { replicas: 2 } });
    const left = await until(async () => { const ps = await activePods(n); return ps.length === 2 && ps; }, 10_000, '2 pods');
    assert.deepEqual(left.map((p) => p.metadata.name).sort(), [created[0]!.metadata.name, created[1]!.metadata.name].sort());
    // Scale up to 5.
    await rss(n).patch('web', 'merge', { spec: { replicas: 5 } });
    await eventually(async () => (await activePods(n)).length === 5, 10_000, '5 pods');
    // A deleted pod is replaced.
    await pods(n).delete(created[0]!.metadata.name!);
    await eventually(async () => {
      const ps = await activePods(n);
      return ps.length === 5 && !ps.some((p) => p.metadata.name === created[0]!.metadata.name);
    }, 10_000, 'replacement pod');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await activePods(n)).length, 5, 'never more than spec.replicas');
    await eventually(async () => (await rss(n).get('web')).status?.replicas === 5, 10_000, 'status.replicas 5');
    const reasons = await eventReasons(n);
    assert.ok(reasons.includes('SuccessfulCreate') && reasons.includes('SuccessfulDelete'), reasons.join(','));
  });

  it('ReplicaSet: adopts matching orphans and releases pods whose labels stop matching', async () => {
    const n = await ns('rs-adopt');
    // An orphan pod exists first: the ReplicaSet adopts it and creates only one more.
    const orphan = await pods(n).create({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'orphan', labels: { app: 'db' } },
      spec: { containers: [{ name: 'main', image: 'registry.k8s.io/pause:3.10' }] } as Pod['spec'],
    });
    await markReady(orphan);
    const rs = await rss(n).create(rsTemplate('db', 2, { app: 'db' }));
    await eventually(async () => {
      const o = await pods(n).get('orphan');
      return o.metadata.ownerReferences?.some((r) => r.uid === rs.metadata.uid && r.controller) ?? false;
    }, 10_000, 'adoption');
    await eventually(async () => (await activePods(n)).length === 2, 10_000, '2 pods');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await activePods(n)).length, 2);
    // Relabel the adopted pod: it is released and replaced.
    await pods(n).patch('orphan', 'merge', { metadata: { labels: { app: 'other' } } });
    await eventually(async () => !(await pods(n).get('orphan')).metadata.ownerReferences?.length, 10_000, 'release');
    await eventually(async () => (await activePods(n, 'app=db')).length === 2, 10_000, 'replacement after release');
  });

  const eventReasons = async (n: string) => (await client.resource({ group: '', version: 'v1', resource: 'events', namespaced: true }, n).list())
    .items.map((e) => `${e.reason as string}`);
  const eventMessages = async (n: string) => (await client.resource({ group: '', version: 'v1', resource: 'events', namespaced: true }, n).list())
    .items.map((e) => `${e.reason as string}: ${e.message as string}`);

  /** Reads the Deployment's ReplicaSets (owned by it), newest revision last. */
  async function deploymentRSes(n: string, d: string): Promise<ReplicaSet[]> {
    const dep = await deploys(n).get(d);
    return (await rss(n).list()).items
      .filter((rs) => rs.metadata.ownerReferences?.some((r) => r.uid === dep.metadata.uid))
      .sort((a, b) => Number(a.metadata.annotations?.[REVISION] ?? 0) - Number(b.metadata.annotations?.[REVISION] ?? 0));
  }

  it('Deployment: creates its ReplicaSet and pods, rolls out an image change within maxSurge/maxUnavailable, rollout status/history/undo', async () => {
    const n = await ns('deploy-roll');
    await deploys(n).create(deployment('web', 3, 'img:1', { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }));
    const [rs1] = await until(async () => { const r = await deploymentRSes(n, 'web'); return r.length === 1 && r; }, 10_000, 'first RS');
    const hash = rs1!.metadata.labels?.[POD_TEMPLATE_HASH];
    assert.ok(hash);
    assert.equal(rs1!.metadata.name, `web-${hash}`);
    assert.equal(rs1!.spec.selector?.matchLabels?.[POD_TEMPLATE_HASH], hash);
    assert.equal(rs1!.spec.template?.metadata?.labels?.[POD_TEMPLATE_HASH], hash);
    assert.equal(rs1!.metadata.annotations?.[REVISION], '1');
    assert.equal(rs1!.metadata.annotations?.['deployment.kubernetes.io/desired-replicas'], '3');
    assert.equal(rs1!.metadata.annotations?.['deployment.kubernetes.io/max-replicas'], '4');
    await eventually(async () => (await activePods(n)).length === 3, 10_000, '3 pods');
    await markAllReady(n);
    await eventually(async () => {
      const d = await deploys(n).get('web');
      const st = d.status ?? {};
      const avail = st.conditions?.find((c) => c.type === 'Available');
      const prog = st.conditions?.find((c) => c.type === 'Progressing');
      return st.availableReplicas === 3 && st.updatedReplicas === 3 && st.readyReplicas === 3 && avail?.status === 'True' &&
        avail.reason === 'MinimumReplicasAvailable' && prog?.reason === 'NewReplicaSetAvailable' &&
        d.metadata.annotations?.[REVISION] === '1' && st.observedGeneration === d.metadata.generation;
    }, 10_000, 'deployment complete');
    if (!kubectlSkip) {
      const r = await kubectl(['rollout', 'status', 'deploy/web', '-n', n, '--timeout=10s']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /deployment "web" successfully rolled out/);
    }

    // Image change: step by step, never more than 4 pods, never fewer than 3 ready.
    await deploys(n).patch('web', 'merge', { spec: { template: { spec: { containers: [{ name: 'main', image: 'img:2' }] } } } });
    const statusRun = kubectlSkip ? undefined : kubectl(['rollout', 'status', 'deploy/web', '-n', n, '--timeout=25s']);
    let steps = 0;
    for (;;) {
      const all = await activePods(n);
      assert.ok(all.length <= 4, `maxSurge exceeded: ${all.length} pods`);
      assert.ok(all.filter(isReady).length >= 3, 'maxUnavailable exceeded');
      const rsList = await deploymentRSes(n, 'web');
      const newRS = rsList.find((r) => r.spec.template?.spec?.containers && (r.spec.template.spec.containers as { image: string }[])[0]!.image === 'img:2');
      const oldRS = rsList.find((r) => r !== newRS);
      if (newRS && newRS.spec.replicas === 3 && (newRS.status?.availableReplicas ?? 0) === 3 && oldRS?.spec.replicas === 0 && all.length === 3) break;
      if (await markAllReady(n) > 0) steps++;
      assert.ok(steps < 20, 'rollout did not finish');
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.ok(steps >= 3, `a surge of 1 rolls 3 pods in at least 3 steps (got ${steps})`);
    const afterRoll = await deploymentRSes(n, 'web');
    assert.equal(afterRoll.length, 2);
    const msgs = await until(async () => { const m = await eventMessages(n); return m.some((x) => x.includes('Scaled down')) && m; }, 5_000, 'events');
    assert.ok(msgs.includes(`ScalingReplicaSet: Scaled up replica set ${afterRoll[1]!.metadata.name} from 0 to 1`), msgs.join('\n'));
    assert.ok(msgs.includes(`ScalingReplicaSet: Scaled down replica set ${rs1!.metadata.name} from 3 to 2`), msgs.join('\n'));
    assert.equal(afterRoll[1]!.metadata.annotations?.[REVISION], '2');
    if (statusRun) {
      const r = await statusRun;
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /successfully rolled out/);
      const h = await kubectl(['rollout', 'history', 'deploy/web', '-n', n]);
      assert.equal(h.code, 0, h.stderr);
      assert.match(h.stdout, /^1\s/m);
      assert.match(h.stdout, /^2\s/m);
      // Undo: back to img:1 through the old ReplicaSet, which becomes revision 3.
      const u = await kubectl(['rollout', 'undo', 'deploy/web', '-n', n]);
      assert.equal(u.code, 0, u.stderr);
      for (let i = 0; ; i++) {
        const rsList = await deploymentRSes(n, 'web');
        const top = rsList[rsList.length - 1]!;
        if (rsList.length === 2 && top.metadata.name === rs1!.metadata.name && top.metadata.annotations?.[REVISION] === '3' &&
          top.metadata.annotations?.['deployment.kubernetes.io/revision-history'] === '1' &&
          (top.status?.availableReplicas ?? 0) === 3 && rsList[0]!.spec.replicas === 0) break;
        await markAllReady(n);
        assert.ok(i < 100, 'undo did not finish');
        await new Promise((r) => setTimeout(r, 100));
      }
      const r2 = await kubectl(['rollout', 'status', 'deploy/web', '-n', n, '--timeout=10s']);
      assert.equal(r2.code, 0, r2.stderr);
    }
  });

  it('Deployment: Recreate stops old pods before starting new ones', async () => {
    const n = await ns('deploy-recreate');
    await deploys(n).create({ ...deployment('db', 2, 'db:1', { type: 'Recreate' }), spec: { ...deployment('db', 2, 'db:1', { type: 'Recreate' }).spec, revisionHistoryLimit: 0 } });
    await eventually(async () => (await activePods(n)).length === 2, 10_000, '2 pods');
    await markAllReady(n);
    await eventually(async () => (await deploys(n).get('db')).status?.availableReplicas === 2, 10_000, 'available');
    const oldNames = new Set((await activePods(n)).map((p) => p.metadata.name));
    await deploys(n).patch('db', 'merge', { spec: { template: { spec: { containers: [{ name: 'main', image: 'db:2' }] } } } });
    for (let i = 0; ; i++) {
      const ps = await activePods(n);
      const old = ps.filter((p) => oldNames.has(p.metadata.name));
      assert.ok(!(old.length && ps.length > old.length), 'old and new pods at the same time');
      if (ps.length === 2 && old.length === 0) break;
      assert.ok(i < 100, 'recreate did not finish');
      await new Promise((r) => setTimeout(r, 100));
    }
    await markAllReady(n);
    await eventually(async () => {
      const d = await deploys(n).get('db');
      return d.status?.updatedReplicas === 2 && d.status.availableReplicas === 2 && d.status.replicas === 2 &&
        d.status.conditions?.find((c) => c.type === 'Progressing')?.reason === 'NewReplicaSetAvailable';
    }, 10_000, 'recreate complete');
    // revisionHistoryLimit 0: the old, idle ReplicaSet is deleted.
    await eventually(async () => (await rss(n).list()).items.length === 1, 10_000, 'old RS cleaned up');
  });

  it('Deployment: paused rollouts wait; resuming continues them', async () => {
    const n = await ns('deploy-pause');
    await deploys(n).create(deployment('w', 2, 'w:1'));
    await eventually(async () => (await activePods(n)).length === 2, 10_000, '2 pods');
    await markAllReady(n);
    await eventually(async () => (await deploys(n).get('w')).status?.availableReplicas === 2, 10_000, 'available');
    await deploys(n).patch('w', 'merge', { spec: { paused: true } });
    await deploys(n).patch('w', 'merge', { spec: { template: { spec: { containers: [{ name: 'main', image: 'w:2' }] } } } });
    await eventually(async () => {
      const d = await deploys(n).get('w');
      const c = d.status?.conditions?.find((x) => x.type === 'Progressing');
      return c?.reason === 'DeploymentPaused' && c.status === 'Unknown' && d.status?.observedGeneration === d.metadata.generation;
    }, 10_000, 'paused condition');
    assert.equal((await rss(n).list()).items.length, 1, 'no new ReplicaSet while paused');
    await deploys(n).patch('w', 'merge', { spec: { paused: false } });
    for (let i = 0; ; i++) {
      const d = await deploys(n).get('w');
      const rsList = (await rss(n).list()).items;
      if (rsList.length === 2 && d.status?.updatedReplicas === 2 && d.status.availableReplicas === 2 && d.status.replicas === 2) break;
      await markAllReady(n);
      assert.ok(i < 100, 'resumed rollout did not finish');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('Deployment: a rollout without progress exceeds its deadline; rollout status fails', async () => {
    const n = await ns('deploy-deadline');
    await deploys(n).create({ ...deployment('slow', 1, 'slow:1'), spec: { ...deployment('slow', 1, 'slow:1').spec, progressDeadlineSeconds: 2 } });
    await eventually(async () => {
      const c = (await deploys(n).get('slow')).status?.conditions?.find((x) => x.type === 'Progressing');
      return c?.status === 'False' && c.reason === 'ProgressDeadlineExceeded' && /has timed out progressing/.test(c.message ?? '');
    }, 10_000, 'ProgressDeadlineExceeded');
    if (!kubectlSkip) {
      const r = await kubectl(['rollout', 'status', 'deploy/slow', '-n', n, '--timeout=10s']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /deployment "slow" exceeded its progress deadline/);
    }
  });

  it('Deployment: scaling during a rollout is proportional; deleting it collects ReplicaSets and pods', async () => {
    const n = await ns('deploy-scale');
    await deploys(n).create(deployment('api', 4, 'api:1')); // 25% / 25%: surge 1, unavailable 1
    await eventually(async () => (await activePods(n)).length === 4, 10_000, '4 pods');
    await markAllReady(n);
    await eventually(async () => (await deploys(n).get('api')).status?.availableReplicas === 4, 10_000, 'available');
    await deploys(n).patch('api', 'merge', { spec: { template: { spec: { containers: [{ name: 'main', image: 'api:2' }] } } } });
    // New pods stay unready: the rollout is stuck half way, with two active ReplicaSets.
    await eventually(async () => {
      const r = await deploymentRSes(n, 'api');
      return r.length === 2 && (r[0]!.spec.replicas ?? 0) > 0 && (r[1]!.spec.replicas ?? 0) > 0;
    }, 10_000, 'two active RSes');
    await new Promise((r) => setTimeout(r, 300));
    const before = await deploymentRSes(n, 'api');
    assert.equal((before[0]!.spec.replicas ?? 0) + (before[1]!.spec.replicas ?? 0), 5, 'replicas + maxSurge');
    await deploys(n).patch('api', 'merge', { spec: { replicas: 8 } });
    const scaled = await until(async () => {
      const r = await deploymentRSes(n, 'api');
      return r.every((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/desired-replicas'] === '8') && r;
    }, 10_000, 'proportional scale');
    const total = (scaled[0]!.spec.replicas ?? 0) + (scaled[1]!.spec.replicas ?? 0);
    assert.equal(total, 10, 'scaled to 8 + maxSurge 2');
    assert.ok((scaled[0]!.spec.replicas ?? 0) > (before[0]!.spec.replicas ?? 0), 'old RS grew too');
    assert.ok((scaled[1]!.spec.replicas ?? 0) > (before[1]!.spec.replicas ?? 0), 'new RS grew');
    // Finish the rollout.
    for (let i = 0; ; i++) {
      const d = await deploys(n).get('api');
      if (d.status?.updatedReplicas === 8 && d.status.availableReplicas === 8 && d.status.replicas === 8) break;
      await markAllReady(n);
      assert.ok(i < 150, 'rollout after scale did not finish');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Delete: the garbage collector takes the ReplicaSets and their pods.
    await deploys(n).delete('api');
    await eventually(async () => (await rss(n).list()).items.length === 0 && (await pods(n).list()).items.length === 0, 15_000, 'garbage collection');
  });
});

