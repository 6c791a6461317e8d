// Pod cgroups, the pure parts (no root): finding the hierarchies, memory and CPU settings as
// kubelet computes them, the working set as cAdvisor computes it, and how a container joins its cgroups.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  cgroupDirOf, cgroupMounts, containerCpu, containerMemoryLimit, ownCgroups, parseKeyedCounters, podCgroupDirs, podCpu, podMemoryLimit, podResources,
  PodCgroups, sharesToWeight, workingSetBytes,
} from '../../src/agent/cgroups.js';
import { containerInit } from '../../src/agent/runtime.js';
import { toPodInfo } from '../../src/agent/pure.js';

const HYBRID = `25 1 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw
30 25 0:26 / /sys/fs/cgroup rw shared:9 - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw
36 30 0:32 / /sys/fs/cgroup/memory rw shared:15 - cgroup cgroup rw,memory
37 30 0:33 / /sys/fs/cgroup/cpu,cpuacct rw shared:16 - cgroup cgroup rw,cpu,cpuacct
`;

describe('finding the memory cgroup hierarchy', () => {
  test('mountinfo: v1 hierarchies with their controllers, and cgroup2', () => {
    assert.deepEqual(cgroupMounts(HYBRID), [
      { version: 2, mountPoint: '/sys/fs/cgroup/unified', root: '/', controllers: [] },
      { version: 1, mountPoint: '/sys/fs/cgroup/memory', root: '/', controllers: ['memory'] },
      { version: 1, mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/', controllers: ['cpu', 'cpuacct'] },
    ]);
    assert.deepEqual(cgroupMounts('40 1 0:40 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n'),
      [{ version: 2, mountPoint: '/sys/fs/cgroup', root: '/kubepods/pod1', controllers: [] }]);
    assert.deepEqual(cgroupMounts('9 1 0:9 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\ngarbage\n\n'), []);
  });

  test('/proc/self/cgroup: each v1 controller\'s path and the unified one', () => {
    assert.deepEqual(ownCgroups('12:cpu,cpuacct:/a\n4:memory:/process_api/x1\n1:name=systemd:/s\n0::/\n'),
      { v1: { cpu: '/a', cpuacct: '/a', memory: '/process_api/x1', 'name=systemd': '/s' }, v2: '/' });
    assert.deepEqual(ownCgroups('0::/user.slice/user-0.slice/session-3.scope\n'), { v1: {}, v2: '/user.slice/user-0.slice/session-3.scope' });
  });

  test('a cgroup path under a mount whose root is a sub-path (cgroup namespaces, bind mounts)', () => {
    const v2 = { version: 2, mountPoint: '/sys/fs/cgroup', root: '/kubepods/pod1', controllers: [] } as const;
    assert.equal(cgroupDirOf({ version: 1, mountPoint: '/sys/fs/cgroup/memory', root: '/', controllers: ['memory'] }, '/a/b'), '/sys/fs/cgroup/memory/a/b');
    assert.equal(cgroupDirOf({ ...v2, controllers: [] }, '/kubepods/pod1/c'), '/sys/fs/cgroup/c');
    assert.equal(cgroupDirOf({ ...v2, controllers: [] }, '/kubepods/pod1'), '/sys/fs/cgroup');
  });
});

describe('memory limits as kubelet sets them', () => {
  const c = (memory?: string) => ({ resources: { limits: memory === undefined ? {} : { memory } } });
  test('a container\'s limit in bytes; none, or zero, is no limit', () => {
    assert.equal(containerMemoryLimit(c('64Mi')), 64 * 2 ** 20);
    assert.equal(containerMemoryLimit(c('1G')), 1e9);
    assert.equal(containerMemoryLimit(c('0')), undefined);
    assert.equal(containerMemoryLimit(c()), undefined);
    assert.equal(containerMemoryLimit({}), undefined);
  });

  test('the pod\'s limit only when every container has one: max(sum of app containers, largest init)', () => {
    assert.equal(podMemoryLimit({ initContainers: [], containers: [c('64Mi'), c('32Mi')] }), 96 * 2 ** 20);
    assert.equal(podMemoryLimit({ initContainers: [c('256Mi')], containers: [c('64Mi'), c('32Mi')] }), 256 * 2 ** 20);
    assert.equal(podMemoryLimit({ initContainers: [c('16Mi')], containers: [c('64Mi')] }), 64 * 2 ** 20);
    assert.equal(podMemoryLimit({ initContainers: [], containers: [c('64Mi'), c()] }), undefined);
    assert.equal(podMemoryLimit({ initContainers: [c()], containers: [c('64Mi')] }), undefined);
  });

  test('CPU: a limit is a CFS quota per 100 ms period (at least 1 ms); a request is shares (1024 per CPU, at least 2)', () => {
    const cpu = (limits: Record<string, string>, requests: Record<string, string> = {}) => ({ resources: { limits, requests } });
    assert.deepEqual(containerCpu(cpu({ cpu: '100m' }, { cpu: '100m' })), { quotaUs: 10_000, shares: 102 });
    assert.deepEqual(containerCpu(cpu({ cpu: '2' }, { cpu: '500m' })), { quotaUs: 200_000, shares: 512 });
    assert.deepEqual(containerCpu(cpu({ cpu: '1m' }, { cpu: '1m' })), { quotaUs: 1000, shares: 2 });
    assert.deepEqual(containerCpu(cpu({})), { quotaUs: undefined, shares: 2 });
    // the pod: requests summed; a quota only when every container has a limit
    assert.deepEqual(podCpu({ initContainers: [], containers: [cpu({ cpu: '100m' }, { cpu: '100m' }), cpu({ cpu: '300m' }, { cpu: '200m' })] }), { quotaUs: 40_000, shares: 307 });
    assert.deepEqual(podCpu({ initContainers: [], containers: [cpu({ cpu: '100m' }, { cpu: '100m' }), cpu({}, { cpu: '200m' })] }), { quotaUs: undefined, shares: 307 });
    assert.deepEqual(podCpu({ initContainers: [], containers: [cpu({}), cpu({})] }), { quotaUs: undefined, shares: 2 });
    // cgroup v2's weight for shares (1..10000)
    assert.equal(sharesToWeight(2), 1);
    assert.equal(sharesToWeight(1024), 39);
    assert.equal(sharesToWeight(262_144), 10_000);
  });

  test('the agent\'s pod record carries the limits', () => {
    const p = toPodInfo({ metadata: { name: 'p', namespace: 'n', uid: 'u' }, spec: { containers: [{ name: 'c', image: 'i', resources: { limits: { memory: '48Mi', cpu: '1' } } }] } });
    assert.equal(containerMemoryLimit(p.containers[0]!), 48 * 2 ** 20);
    assert.equal(podMemoryLimit(p), 48 * 2 ** 20);
  });
});

describe('QoS levels, as kubelet lays them out', () => {
  const pod = (...containers: { limits?: Record<string, string>; requests?: Record<string, string> }[]) =>
    toPodInfo({ metadata: { name: 'p', namespace: 'n', uid: 'u' }, spec: { containers: containers.map((r, i) => ({ name: `c${i}`, image: 'i', resources: r })) } });

  test('a pod\'s class and CPU request', () => {
    assert.deepEqual([podResources(pod({})).qos, podResources(pod({})).milliCpuRequest], ['BestEffort', 0]);
    const g = podResources(pod({ limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '500m', memory: '64Mi' } }));
    assert.deepEqual([g.qos, g.milliCpuRequest], ['Guaranteed', 500]);
    const b = podResources(pod({ requests: { cpu: '100m' } }, { requests: { cpu: '150m' }, limits: { memory: '1Gi' } }));
    assert.deepEqual([b.qos, b.milliCpuRequest], ['Burstable', 250]);
  });

  test('Guaranteed pods at the node level, the others in burstable/ and besteffort/; the Burstable level weighs their summed requests', async () => {
    // a cgroup v1 tree stand-in: plain directories take the same mkdir and file writes
    const tmp = mkdtempSync(path.join(tmpdir(), 'podnet-qos-'));
    try {
      const node = { version: 1 as const, dir: path.join(tmp, 'memory', 'cluster', 'n1'), cpuDir: path.join(tmp, 'cpu', 'cluster', 'n1') };
      const cg = new PodCgroups(node);
      await cg.ensurePod('g', podResources(pod({ limits: { cpu: '1', memory: '64Mi' } , requests: { cpu: '1', memory: '64Mi' } })));
      await cg.ensurePod('b1', podResources(pod({ requests: { cpu: '100m' } })));
      await cg.ensurePod('b2', podResources(pod({ requests: { cpu: '400m' }, limits: { memory: '32Mi' } })));
      await cg.ensurePod('e', podResources(pod({})));
      assert.equal(cg.podDir('g'), path.join(node.dir, 'podg'));
      assert.equal(cg.podDir('b1'), path.join(node.dir, 'burstable', 'podb1'));
      assert.equal(cg.containerDir('e', 'c0', 2), path.join(node.dir, 'besteffort', 'pode', 'c0-2'));
      assert.deepEqual((await podCgroupDirs(node.dir)).map((d) => path.relative(node.dir, d)).sort(), ['besteffort/pode', 'burstable/podb1', 'burstable/podb2', 'podg']);
      assert.deepEqual((await cg.podUids()).sort(), ['b1', 'b2', 'e', 'g']);
      const read = (...p: string[]) => readFileSync(path.join(node.cpuDir, ...p), 'utf8');
      // the cluster's and node's levels weigh the machine's CPUs (kubelet's kubepods)
      const machine = String(Math.min(262_144, availableParallelism() * 1024));
      assert.deepEqual([read('..', 'cpu.shares'), read('cpu.shares')], [machine, machine]);
      assert.equal(read('besteffort', 'cpu.shares'), '2');
      assert.equal(read('burstable', 'cpu.shares'), '512'); // 100m + 400m
      assert.equal(read('podg', 'cpu.shares'), '1024');
      assert.equal(read('podg', 'cpu.cfs_quota_us'), '100000');
      assert.equal(readFileSync(path.join(node.dir, 'burstable', 'podb2', 'memory.limit_in_bytes'), 'utf8'), String(32 * 2 ** 20));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('reading memory', () => {
  test('counters files as key/value numbers', () => {
    const m = parseKeyedCounters('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    assert.equal(m.get('oom_kill'), 2);
    assert.equal(parseKeyedCounters('low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n').get('max'), 12);
  });

  test('working set = usage - inactive file pages (v1 total_, v2 plain), never below zero', () => {
    assert.equal(workingSetBytes(1, 100, parseKeyedCounters('inactive_file 5\ntotal_inactive_file 30\n')), 70);
    assert.equal(workingSetBytes(2, 100, parseKeyedCounters('inactive_file 30\n')), 70);
    assert.equal(workingSetBytes(2, 10, parseKeyedCounters('inactive_file 30\n')), 0);
    assert.equal(workingSetBytes(1, 10, new Map()), 10);
  });
});

describe('joining a cgroup', () => {
  test('the command writes its own PID to the cgroup file, then becomes the program (same PID)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'podnet-cg-'));
    try {
      // one file per hierarchy (v1: memory and cpu)
      const procs = [path.join(dir, 'memory.procs'), path.join(dir, 'cpu.procs')];
      for (const f of procs) writeFileSync(f, '');
      const argv = [...containerInit(procs), '/bin/sh', '-c', 'echo $$'];
      const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      for (const f of procs) assert.equal(readFileSync(f, 'utf8').trim(), r.stdout.trim());
      assert.deepEqual(containerInit(undefined), []);
      assert.deepEqual(containerInit([]), []);
      // a cgroup that cannot be joined: the container does not start (126), rather than run unaccounted
      const bad = [...containerInit([path.join(dir, 'missing', 'cgroup.procs')]), '/bin/true'];
      assert.equal(spawnSync(bad[0]!, bad.slice(1)).status, 126);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
