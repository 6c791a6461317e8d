// The node agent end to end (root): an in-process API server with node IPAM and the
// scheduler, one node netns, the agent in this process.
//
// Choice: the agent runs in the host netns (the API server listens on 127.0.0.1 there) and
// runs the CNI plugin executable under `ip netns exec <node netns>`, so the pods attach to a
// bridge inside the node netns; the node netns needs no address and no link to the host.
//
// Address plan (exists only inside this test's namespaces; nothing is routed on the host):
//   node pod ranges from node IPAM's default plan: 10.244.0.0/24 and fd00:10:244::/64 on
//   bridge <R>-br in netns <R>-n1; pods in netns <R>-<8 hex>; the node reports 198.18.0.2
//   as its InternalIP (not configured anywhere). R = pna<4 hex>; data in /tmp/<R>-*.
// Traffic goes only between pod namespaces made here. Everything is removed in `after`.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { StatusError } from '../../src/api/errors.js';
import type { KObject } from '../../src/api/meta.js';
import { startApiServer, type RunningApiServer } from '../../src/apiserver/index.js';
import { ApiClient, type GVR } from '../../src/client/client.js';
import { loadKubeconfig } from '../../src/client/kubeconfig.js';
import { startAgent, sandboxName, type Agent } from '../../src/agent/index.js';
import { run } from '../../src/net/exec.js';
import { Ip } from '../../src/net/ip.js';
import { waitFor } from './harness.js';
import { cgroupChild, cgroupTrees, clusterCgroupRoot, parseKeyedCounters, QOS_LEVELS, readMemory, removeCgroupTree } from '../../src/agent/cgroups.js';
import type { QosClass } from '../../src/api/quantity.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const haveIp = spawnSync('ip', ['-V']).status === 0;
const haveSh = spawnSync('sh', ['-c', 'true']).status === 0;
const skip = !isRoot ? 'needs root (creates network namespaces)' : !haveIp ? 'needs iproute2 (`ip`)' : !haveSh ? 'needs sh' : false;

const R = `pna${randomBytes(2).toString('hex')}`;
const NODE = `${R}-n1`;
const NS = R;
const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
const PODS: GVR = { group: '', version: 'v1', resource: 'pods', namespaced: true };
const NODES: GVR = { group: '', version: 'v1', resource: 'nodes', namespaced: false };
const LEASES: GVR = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespaced: true };
const NAMESPACES: GVR = { group: '', version: 'v1', resource: 'namespaces', namespaced: false };

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- API JSON read loosely
type J = Record<string, any>;

const eventually = <T>(fn: () => Promise<T | undefined | false> | T | undefined | false, what: string, ms = 15_000): Promise<T> =>
  waitFor(fn, what, ms, 100);

function makePod(name: string, tweak?: (p: J) => void): KObject {
  const p: J = {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS },
    spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'c', image: AGNHOST, args: ['pause'] }] },
  };
  tweak?.(p);
  return p as KObject;
}

/** This test's pod cgroups (memory controller), when the machine has one. */
const CGROUP = (() => { const c = clusterCgroupRoot(R); return 'error' in c ? undefined : c; })();
const NODE_CGROUP = CGROUP && cgroupChild(CGROUP, 'n1');
/** A pod's cgroup below a node level (`root`), in its QoS class's level as the API reports the class. */
const podCgroup = (root: string, p: J): string => path.join(root, QOS_LEVELS[p.status.qosClass as QosClass], `pod${p.metadata.uid}`);

const cond = (p: J, t: string) => (p.status?.conditions ?? []).find((c: J) => c.type === t)?.status;

describe('node agent (e2e, root)', { skip, timeout: 90_000 }, () => {
  let dir = '';
  let api: RunningApiServer | undefined;
  let client: ApiClient;
  let agent: Agent | undefined;
  const pods = () => client.resource(PODS, NS);
  const getPod = async (n: string) => (await pods().get(n)) as J;
  const agentOpts = () => ({
    client, nodeName: NODE, clusterName: R, nodeNetns: NODE,
    cniConfDir: path.join(dir, 'cni-conf'), cniDataDir: path.join(dir, 'cni-data'), stateDir: path.join(dir, 'state'),
    internalIPs: ['198.18.0.2'], zone: 'z1', clusterDNS: '10.96.0.10',
    backoffBaseMs: 1000, heartbeatMs: 2000, log: () => undefined, cgroup: NODE_CGROUP,
  });
  const GET = `require('http').get('http://' + process.argv[1] + ':8080/hostname', (r) => { let b = ''; r.on('data', (d) => b += d); r.on('end', () => { console.log(b); process.exit(0); }); }).on('error', (e) => { console.error(e.message); process.exit(1); }); setTimeout(() => process.exit(2), 5000);`;
  const httpGet = (fromNs: string, ip: string) => eventually(async () => {
    const x = await run(process.execPath, ['-e', GET, ip], { netns: fromNs, allowFailure: true });
    return x.code === 0 ? x.stdout.trim() : undefined;
  }, `GET ${ip}:8080/hostname from ${fromNs}`, 10_000);

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), `${R}-`));
    await Ip.netnsAdd(NODE);
    await new Ip(NODE).setUp('lo');
    api = await startApiServer({ dataDir: path.join(dir, 'api'), port: 0, controllers: true, controllerNames: ['nodeipam', 'scheduler'] });
    client = new ApiClient(loadKubeconfig(api.kubeconfigPath), { userAgent: 'podnet-agent-test' });
    await client.resource(NAMESPACES).create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    agent = await startAgent(agentOpts());
  });

  after(async () => {
    await agent?.stop({ teardown: true }).catch((e: Error) => console.error(`agent stop: ${e.message}`));
    client?.close();
    await api?.stop().catch(() => undefined);
    await Ip.netnsDel(NODE).catch(() => undefined);
    // anything with our prefix that is still there is a bug: report it, then remove it
    const left = (await Ip.netnsList().catch(() => [] as string[])).filter((n) => n.startsWith(R));
    for (const n of left) await Ip.netnsDel(n).catch(() => undefined);
    const etc = existsSync('/etc/netns') ? readdirSync('/etc/netns').filter((n) => n.startsWith(R)) : [];
    for (const n of etc) await rm(path.join('/etc/netns', n), { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
    // the agent removes its node's level; the cluster level is `podnet down`'s
    const cgLeft = NODE_CGROUP ? cgroupTrees(NODE_CGROUP).filter((d) => existsSync(d)) : [];
    for (const d of CGROUP ? cgroupTrees(CGROUP) : []) await removeCgroupTree(d);
    assert.deepEqual([...left, ...etc, ...cgLeft], [], 'agent teardown left namespaces, /etc/netns entries or cgroups behind');
  });

  it('registers the node, renews its lease and becomes Ready with pod CIDRs', async () => {
    const n = await eventually(async () => {
      const x = (await client.resource(NODES).get(NODE)) as J;
      return cond(x, 'Ready') === 'True' && x.spec?.podCIDRs?.length ? x : undefined;
    }, 'node Ready');
    assert.equal(n.metadata.labels['kubernetes.io/hostname'], NODE);
    assert.equal(n.metadata.labels['topology.kubernetes.io/zone'], 'z1');
    assert.deepEqual(n.status.addresses, [{ type: 'InternalIP', address: '198.18.0.2' }, { type: 'Hostname', address: NODE }]);
    assert.equal(n.status.capacity.pods, '110');
    assert.equal(n.status.conditions.find((c: J) => c.type === 'Ready').reason, 'KubeletReady');
    const lease = (await client.resource(LEASES, 'kube-node-lease').get(NODE)) as J;
    assert.equal(lease.spec.holderIdentity, NODE);
    assert.equal(lease.spec.leaseDurationSeconds, 40);
  });

  it('runs agnhost netexec: Running, Ready, an IP from the node range, reachable from another pod', async () => {
    await pods().create(makePod('web', (p) => {
      p.spec.containers[0].args = ['netexec', '--http-port=8080'];
      p.spec.containers[0].ports = [{ containerPort: 8080 }];
      p.spec.containers[0].env = [{ name: 'MY_NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }];
    }));
    await pods().create(makePod('client'));
    const ready = async (n: string) => eventually(async () => {
      const p = await getPod(n);
      return p.status?.phase === 'Running' && cond(p, 'Ready') === 'True' ? p : undefined;
    }, `${n} Ready`, 20_000);
    const web = await ready('web');
    const cl = await ready('client');
    assert.match(web.status.podIP, /^10\.244\.0\.\d+$/);
    assert.equal(web.status.podIPs.length, 2);
    assert.equal(web.status.hostIP, '198.18.0.2');
    const cs = web.status.containerStatuses[0];
    assert.match(cs.containerID, /^podnet:\/\/[0-9a-f]{64}$/);
    assert.equal(cs.ready, true);
    assert.equal(cs.started, true);
    assert.ok(cs.state.running.startedAt);
    for (const t of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready', 'PodReadyToStartContainers']) assert.equal(cond(web, t), 'True', t);

    const clientNs = sandboxName(R, { namespace: NS, name: 'client', uid: cl.metadata.uid });
    assert.equal(agent!.sandboxOf(NS, 'client'), clientNs);
    assert.equal(await httpGet(clientNs, web.status.podIP), 'web');

    const resolv = readFileSync(`/etc/netns/${clientNs}/resolv.conf`, 'utf8');
    assert.match(resolv, new RegExp(`^search ${NS}\\.svc\\.cluster\\.local svc\\.cluster\\.local cluster\\.local`, 'm'));
    assert.match(resolv, /^nameserver 10\.96\.0\.10$/m);
    assert.match(resolv, /^options ndots:5$/m);
    assert.match(readFileSync(`/etc/netns/${clientNs}/hosts`, 'utf8'), new RegExp(`^${cl.status.podIP.replace(/\./g, '\\.')}\\tclient$`, 'm'));

    const logFile = agent!.logPath(NS, 'web', 'c');
    assert.ok(logFile && existsSync(logFile), `log file ${logFile}`);
    assert.match(logFile!, new RegExp(`/pods/${NS}_web_${web.metadata.uid}/c/0\\.log$`));
  });

  it('a container that exits 1 under restartPolicy Always goes into CrashLoopBackOff', async () => {
    await pods().create(makePod('crash', (p) => {
      p.spec.containers[0] = { name: 'c', image: 'busybox', command: ['sh', '-c', 'echo boom; exit 1'] };
    }));
    const p = await eventually(async () => {
      const x = await getPod('crash');
      const cs = x.status?.containerStatuses?.[0];
      return cs?.restartCount > 0 && cs.state?.waiting?.reason === 'CrashLoopBackOff' ? x : undefined;
    }, 'CrashLoopBackOff', 20_000);
    const cs = p.status.containerStatuses[0];
    assert.equal(cs.lastState.terminated.exitCode, 1);
    assert.equal(cs.lastState.terminated.reason, 'Error');
    assert.equal(p.status.phase, 'Running');
    assert.equal(cond(p, 'Ready'), 'False');
    const log = readFileSync(agent!.logPath(NS, 'crash', 'c', { previous: true }) ?? agent!.logPath(NS, 'crash', 'c')!, 'utf8');
    assert.match(log, /^\S+ stdout F boom$/m);
  });

  it('restartPolicy Never + exit 0 → Succeeded; a missing image command → ErrImagePull', async () => {
    await pods().create(makePod('done', (p) => {
      p.spec.restartPolicy = 'Never';
      p.spec.containers[0] = {
        name: 'c', image: 'busybox', command: ['sh', '-c', 'echo ok $(POD) $HOSTNAME $MY_IP'],
        env: [{ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { name: 'MY_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
      };
    }));
    await pods().create(makePod('nopull', (p) => { p.spec.containers[0] = { name: 'c', image: 'example.invalid/nothing:1' }; }));
    const p = await eventually(async () => {
      const x = await getPod('done');
      return x.status?.phase === 'Succeeded' ? x : undefined;
    }, 'Succeeded', 20_000);
    assert.equal(p.status.containerStatuses[0].state.terminated.reason, 'Completed');
    assert.equal(p.status.containerStatuses[0].state.terminated.exitCode, 0);
    assert.match(readFileSync(agent!.logPath(NS, 'done', 'c')!, 'utf8'), new RegExp(` stdout F ok done done ${p.status.podIP.replace(/\./g, '\\.')}$`, 'm'));
    const doneNs = sandboxName(R, { namespace: NS, name: 'done', uid: p.metadata.uid });
    await eventually(async () => !(await Ip.netnsList()).includes(doneNs), 'the finished pod\'s sandbox removed');
    const np = await eventually(async () => {
      const x = await getPod('nopull');
      const r = x.status?.containerStatuses?.[0]?.state?.waiting?.reason;
      return r === 'ErrImagePull' || r === 'ImagePullBackOff' ? x : undefined;
    }, 'ErrImagePull', 10_000);
    assert.equal(np.status.phase, 'Pending');
  });

  it('readiness probes gate Ready; a failing liveness probe restarts the container', async () => {
    await pods().create(makePod('probe-ok', (p) => {
      p.spec.containers[0].args = ['netexec', '--http-port=8080'];
      p.spec.containers[0].ports = [{ name: 'http', containerPort: 8080 }];
      p.spec.containers[0].readinessProbe = { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 };
    }));
    await pods().create(makePod('probe-bad', (p) => {
      p.spec.containers[0] = {
        name: 'c', image: 'busybox', command: ['sh', '-c', 'sleep 600'],
        readinessProbe: { exec: { command: ['sh', '-c', 'exit 1'] }, periodSeconds: 1 },
        livenessProbe: { tcpSocket: { port: 9 }, periodSeconds: 1, failureThreshold: 2 },
      };
    }));
    await eventually(async () => cond(await getPod('probe-ok'), 'Ready') === 'True', 'probe-ok Ready', 20_000);
    const bad = await eventually(async () => {
      const x = await getPod('probe-bad');
      return x.status?.containerStatuses?.[0]?.restartCount > 0 ? x : undefined;
    }, 'probe-bad restarted by its liveness probe', 20_000);
    assert.equal(cond(bad, 'Ready'), 'False');
    assert.equal(bad.status.containerStatuses[0].ready, false);
    assert.equal(bad.status.containerStatuses[0].lastState.terminated.exitCode, 143);
  });

  it('a startup probe holds back started and Ready until it passes', async () => {
    const flag = `/tmp/${R}-startup-${process.pid}`;
    rmSync(flag, { force: true });
    try {
      await pods().create(makePod('startup', (p) => {
        p.spec.containers[0].args = ['pause'];
        p.spec.containers[0].startupProbe = { exec: { command: ['test', '-f', flag] }, periodSeconds: 1, failureThreshold: 60 };
      }));
      const before = await eventually(async () => {
        const x = await getPod('startup');
        return x.status?.containerStatuses?.[0]?.state?.running ? x : undefined;
      }, 'the startup pod running', 20_000);
      assert.equal(before.status.containerStatuses[0].started, false);
      assert.equal(cond(before, 'Ready'), 'False');
      writeFileSync(flag, '');
      const after = await eventually(async () => {
        const x = await getPod('startup');
        return cond(x, 'Ready') === 'True' ? x : undefined;
      }, 'the startup pod Ready once its probe passes', 20_000);
      assert.equal(after.status.containerStatuses[0].started, true);
    } finally {
      rmSync(flag, { force: true });
    }
  });

  it('runs hostNetwork pods in the node netns with the node IP', async () => {
    await pods().create(makePod('hostnet', (p) => { p.spec.hostNetwork = true; }));
    const p = await eventually(async () => {
      const x = await getPod('hostnet');
      return x.status?.phase === 'Running' && cond(x, 'Ready') === 'True' ? x : undefined;
    }, 'hostnet Running');
    assert.equal(p.status.podIP, '198.18.0.2');
    assert.equal(agent!.sandboxOf(NS, 'hostnet'), undefined);
  });

  it('a restarted agent adopts its sandboxes: same pod IP, containers restarted', async () => {
    const before = await getPod('web');
    await agent!.stop();
    agent = await startAgent(agentOpts());
    const after = await eventually(async () => {
      const x = await getPod('web');
      const cs = x.status?.containerStatuses?.[0];
      return cs?.restartCount > before.status.containerStatuses[0].restartCount && cs.state?.running && cond(x, 'Ready') === 'True' ? x : undefined;
    }, 'web restarted by the new agent', 20_000);
    assert.equal(after.status.podIP, before.status.podIP);
    const cl = await getPod('client');
    assert.equal(await httpGet(sandboxName(R, { namespace: NS, name: 'client', uid: cl.metadata.uid }), after.status.podIP), 'web');
  });

  it('memory cgroups: containers run in their pod\'s cgroup; a memory limit is enforced (OOMKilled)', { skip: NODE_CGROUP ? false : 'no memory cgroup hierarchy here' }, async () => {
    const cg = NODE_CGROUP!;
    const web = await getPod('web');
    // no requests or limits: BestEffort, in kubelet's besteffort level below the node's
    assert.equal(web.status.qosClass, 'BestEffort');
    const podDir = podCgroup(cg.dir, web);
    assert.equal(path.basename(path.dirname(podDir)), 'besteffort');
    const restarts = web.status.containerStatuses[0].restartCount;
    const procs = readFileSync(path.join(podDir, `c-${restarts}`, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    assert.ok(procs.length >= 1, 'netexec runs in its container cgroup');
    assert.match(readFileSync(`/proc/${procs[0]}/cmdline`, 'utf8'), /netexec/);
    const mem = await readMemory({ version: cg.version, dir: podDir });
    // charged to the pod: netexec's own memory (~0.5 MB natively, ~45 MB on Node.js)
    assert.ok(mem && mem.workingSetBytes > 128 << 10 && mem.workingSetBytes <= mem.usageBytes, `pod working set ${JSON.stringify(mem)}`);

    // an exec probe runs in the container's cgroup too: Ready only if it finds itself there
    await pods().create(makePod('probed', (p) => {
      p.spec.containers[0].readinessProbe = { exec: { command: ['sh', '-c', `grep -q "memory:.*/pod${'$'}{POD_UID}/c-[0-9]*$" /proc/self/cgroup`] }, periodSeconds: 1 };
      p.spec.containers[0].env = [{ name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } }];
    }));
    await eventually(async () => cond(await getPod('probed'), 'Ready') === 'True', 'probed Ready (its exec probe in the container cgroup)', 20_000);
    await pods().delete('probed', { gracePeriodSeconds: 0 });

    // 48 MiB limit; the program keeps 1 MiB buffers until the kernel kills it
    const hog = `const k = []; for (;;) k.push(Buffer.alloc(1 << 20, 1));`;
    await pods().create(makePod('hog', (p) => {
      p.spec.restartPolicy = 'Never';
      p.spec.containers[0] = { name: 'c', image: 'node', command: [process.execPath, '-e', hog], resources: { limits: { memory: '48Mi' } } };
    }));
    const p = await eventually(async () => {
      const x = await getPod('hog');
      return x.status?.phase === 'Failed' ? x : undefined;
    }, 'the hog OOM-killed', 30_000);
    const t = p.status.containerStatuses[0].state.terminated;
    assert.equal(t.reason, 'OOMKilled');
    assert.equal(t.exitCode, 137);
    assert.equal(p.status.qosClass, 'Burstable');
    await eventually(() => !existsSync(podCgroup(cg.dir, p)), 'the finished pod\'s cgroup removed');
  });

  it('CPU cgroups: a CPU limit is a CFS quota, and a busy container is throttled to it', { skip: NODE_CGROUP?.cpuDir ? false : 'no cpu cgroup hierarchy here' }, async () => {
    const cpuDir = NODE_CGROUP!.cpuDir!;
    await pods().create(makePod('spin', (p) => {
      p.spec.containers[0] = { name: 'c', image: 'busybox', command: ['sh', '-c', 'while :; do :; done'], resources: { limits: { cpu: '100m' }, requests: { cpu: '50m' } } };
    }));
    const p = await eventually(async () => { const x = await getPod('spin'); return x.status?.phase === 'Running' ? x : undefined; }, 'spin Running');
    const dir = path.join(podCgroup(cpuDir, p), 'c-0');
    const v1 = NODE_CGROUP!.version === 1;
    // QoS levels, as kubelet sets them: BestEffort gets the minimum share; Burstable its pods'
    // summed requests (spin's 50m alone now)
    const shareFile = v1 ? 'cpu.shares' : 'cpu.weight';
    assert.equal(readFileSync(path.join(cpuDir, 'besteffort', shareFile), 'utf8').trim(), v1 ? '2' : '1');
    assert.equal(readFileSync(path.join(cpuDir, 'burstable', shareFile), 'utf8').trim(), v1 ? '51' : '2');
    assert.equal(readFileSync(path.join(dir, v1 ? 'cpu.cfs_quota_us' : 'cpu.max'), 'utf8').trim(), v1 ? '10000' : '10000 100000');
    assert.equal(readFileSync(path.join(dir, v1 ? 'cpu.shares' : 'cpu.weight'), 'utf8').trim(), v1 ? '51' : '2');
    // the pod level: one container with a limit, so the pod has the same quota
    assert.equal(readFileSync(path.join(podCgroup(cpuDir, p), v1 ? 'cpu.cfs_quota_us' : 'cpu.max'), 'utf8').trim(), v1 ? '10000' : '10000 100000');
    const throttled = await eventually(() => {
      const n = parseKeyedCounters(readFileSync(path.join(dir, 'cpu.stat'), 'utf8')).get('nr_throttled') ?? 0;
      return n >= 3 ? n : undefined;
    }, 'the busy loop throttled in several periods', 10_000);
    assert.ok(throttled >= 3);
    await pods().delete('spin', { gracePeriodSeconds: 0 });
    await eventually(() => !existsSync(podCgroup(cpuDir, p)), 'spin\'s cgroups removed');
    // with no Burstable pod left, their level is back to the minimum share
    assert.equal(readFileSync(path.join(cpuDir, 'burstable', shareFile), 'utf8').trim(), v1 ? '2' : '1');
  });

  it('deleting a pod stops it, tears down its netns and removes the object', async () => {
    const web = await getPod('web');
    const ns = sandboxName(R, { namespace: NS, name: 'web', uid: web.metadata.uid });
    assert.ok((await Ip.netnsList()).includes(ns));
    await pods().delete('web');
    await eventually(async () => {
      try { await getPod('web'); return false; } catch (e) { return e instanceof StatusError && e.code === 404; }
    }, 'pod web gone', 15_000);
    assert.ok(!(await Ip.netnsList()).includes(ns), 'netns removed');
    assert.ok(!existsSync(`/etc/netns/${ns}`), '/etc/netns entry removed');
    if (NODE_CGROUP) assert.ok(!existsSync(path.join(NODE_CGROUP.dir, `pod${web.metadata.uid}`)), 'pod cgroup removed');
  });
});
