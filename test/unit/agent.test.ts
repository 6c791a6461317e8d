// The node agent's pure parts (no root): DNS files, names, env and command resolution,
// back-off, CRI log lines, pod phase and status.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffDelayMs, bridgeName, computePodStatus, containerEnv, criLogLine, expandVars, parseCriLogLine, parseResolvConf,
  podHostname, podPhase, podResolvConf, serviceEnv, renderHosts, renderResolvConf, resolveContainerCommand, rfc3339Nano, sandboxName,
  shouldRestart, toPodInfo, waitingStatus, ContainerConfigError, type ContainerRuntimeStatus, type PodInfo,
} from '../../src/agent/pure.js';
import { containerLogPath } from '../../src/agent/index.js';
import { parseProbe, ProbeState } from '../../src/agent/probe.js';
import { nativeNetexec } from '../../src/agent/agnhost/index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- fixtures are API JSON
type J = Record<string, any>;

function makePod(tweak?: (p: J) => void): PodInfo {
  const p: J = {
    metadata: { name: 'web-1', namespace: 'demo', uid: 'u-1', labels: { app: 'web' }, annotations: { a: 'b' } },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53', args: ['netexec'] }] },
    status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' }] },
  };
  tweak?.(p);
  return toPodInfo(p);
}

const NODE = parseResolvConf('# host\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nsearch corp.example\noptions edns0\n');
const running = (name: string, ready = true): ContainerRuntimeStatus => ({
  name, image: 'i', imageID: 'x', containerID: 'podnet://1', state: { running: { startedAt: '2026-01-01T00:00:01Z' } }, restartCount: 0, ready, started: true,
});
const exited = (name: string, exitCode: number, restartCount = 0): ContainerRuntimeStatus => ({
  name, image: 'i', imageID: 'x', state: { terminated: { exitCode, reason: exitCode ? 'Error' : 'Completed', startedAt: 't0', finishedAt: 't1' } }, restartCount, ready: false, started: false,
});
const backingOff = (name: string, restartCount: number): ContainerRuntimeStatus => ({
  ...exited(name, 1, restartCount), state: { waiting: { reason: 'CrashLoopBackOff' } },
  lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: 't0', finishedAt: 't1' } },
});

describe('names', () => {
  test('sandbox names are short, stable and per uid', () => {
    const a = sandboxName('pnaab12', { namespace: 'ns', name: 'p', uid: 'u1' });
    assert.match(a, /^pnaab12-[0-9a-f]{8}$/);
    assert.equal(a, sandboxName('pnaab12', { namespace: 'ns', name: 'p', uid: 'u1' }));
    assert.notEqual(a, sandboxName('pnaab12', { namespace: 'ns', name: 'p', uid: 'u2' }));
  });
  test('bridge names fit in 15 characters', () => {
    assert.equal(bridgeName('pnaab12'), 'pnaab12-br');
    assert.ok(bridgeName('a-very-long-cluster-name').length <= 15);
  });
  test('hostname: spec.hostname, else the pod name cut to 63', () => {
    assert.equal(podHostname({ name: 'p', hostname: 'h' }), 'h');
    assert.equal(podHostname({ name: `${'a'.repeat(62)}-b` }), 'a'.repeat(62));
  });
  test('log paths follow kubelet layout', () => {
    assert.equal(containerLogPath('/s', { namespace: 'ns', name: 'p', uid: 'u' }, 'c', 2), '/s/pods/ns_p_u/c/2.log');
  });
});

describe('resolv.conf', () => {
  const cluster = { clusterDNS: '10.96.0.10', clusterDomain: 'cluster.local' };
  const cases: { name: string; tweak: (p: J) => void; want: string }[] = [
    {
      name: 'ClusterFirst', tweak: () => undefined,
      want: 'search demo.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n',
    },
    { name: 'Default', tweak: (p) => { p.spec.dnsPolicy = 'Default'; }, want: 'search corp.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0\n' },
    { name: 'ClusterFirst + hostNetwork → Default', tweak: (p) => { p.spec.hostNetwork = true; }, want: 'search corp.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions edns0\n' },
    {
      name: 'None with dnsConfig',
      tweak: (p) => { p.spec.dnsPolicy = 'None'; p.spec.dnsConfig = { nameservers: ['1.2.3.4'], searches: ['a.b'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] }; },
      want: 'search a.b\nnameserver 1.2.3.4\noptions ndots:2 edns0\n',
    },
    {
      name: 'ClusterFirst + dnsConfig options override',
      tweak: (p) => { p.spec.dnsConfig = { options: [{ name: 'ndots', value: '1' }] }; },
      want: 'search demo.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:1\n',
    },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(renderResolvConf(podResolvConf(makePod(c.tweak), NODE, cluster)), c.want));
  }
  test('ClusterFirst without a cluster DNS falls back to the node', () => {
    assert.deepEqual(podResolvConf(makePod(), NODE, { clusterDomain: 'cluster.local' }).nameservers, ['192.0.2.53', '192.0.2.54']);
  });
});

test('hosts file names the pod and its FQDN with a subdomain', () => {
  const h = renderHosts(makePod((p) => { p.spec.hostname = 'h'; p.spec.subdomain = 'sub'; p.spec.hostAliases = [{ ip: '1.1.1.1', hostnames: ['x', 'y'] }]; }), ['10.244.0.5', 'fd00::5'], 'cluster.local');
  assert.match(h, /^127\.0\.0\.1\tlocalhost$/m);
  assert.match(h, /^10\.244\.0\.5\th\.sub\.demo\.svc\.cluster\.local\th$/m);
  assert.match(h, /^fd00::5\th\.sub/m);
  assert.match(h, /^1\.1\.1\.1\tx\ty$/m);
});

describe('environment', () => {
  test('values, $(VAR) expansion and fieldRefs', () => {
    const pod = makePod((p) => {
      p.spec.containers[0].env = [
        { name: 'A', value: 'x' }, { name: 'B', value: '$(A)-$$(A)-$(NOPE)' },
        { name: 'N', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'IPS', valueFrom: { fieldRef: { fieldPath: 'status.podIPs' } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'L', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'CM', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k' } } },
      ];
    });
    const env = containerEnv(pod, pod.containers[0]!, { podIPs: ['10.0.0.1', 'fd00::1'], hostIPs: ['198.18.0.2'], configMap: () => ({ k: 'v' }) });
    assert.deepEqual(env, { A: 'x', B: 'x-$(A)-$(NOPE)', N: 'web-1', NS: 'demo', IP: '10.0.0.1', IPS: '10.0.0.1,fd00::1', NODE: 'n1', L: 'web', CM: 'v' });
  });
  test('a missing configmap key is a config error unless optional', () => {
    const pod = makePod((p) => { p.spec.containers[0].env = [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k' } } }]; });
    assert.throws(() => containerEnv(pod, pod.containers[0]!, { podIPs: [], hostIPs: [] }), ContainerConfigError);
    pod.containers[0]!.env![0]!.valueFrom!.configMapKeyRef!.optional = true;
    assert.deepEqual(containerEnv(pod, pod.containers[0]!, { podIPs: [], hostIPs: [] }), {});
  });
  test('envFrom with prefix, then env; service links first', () => {
    const pod = makePod((p) => {
      p.spec.containers[0].envFrom = [{ configMapRef: { name: 'cm' }, prefix: 'P_' }, { secretRef: { name: 'missing', optional: true } }];
      p.spec.containers[0].env = [{ name: 'P_a', value: 'override' }];
    });
    const env = containerEnv(pod, pod.containers[0]!, { podIPs: [], hostIPs: [], configMap: () => ({ a: '1', b: '2' }), services: { S_SERVICE_HOST: '10.96.0.7' } });
    assert.deepEqual(env, { S_SERVICE_HOST: '10.96.0.7', P_a: 'override', P_b: '2' });
  });
  test('service links', () => {
    assert.deepEqual(serviceEnv([{ name: 'my-svc', clusterIP: '10.96.0.7', ports: [{ name: 'http', port: 80 }, { port: 53, protocol: 'UDP' }] }, { name: 'headless', clusterIP: 'None', ports: [{ port: 1 }] }]), {
      MY_SVC_SERVICE_HOST: '10.96.0.7', MY_SVC_SERVICE_PORT: '80', MY_SVC_SERVICE_PORT_HTTP: '80', MY_SVC_PORT: 'tcp://10.96.0.7:80',
      MY_SVC_PORT_80_TCP: 'tcp://10.96.0.7:80', MY_SVC_PORT_80_TCP_PROTO: 'tcp', MY_SVC_PORT_80_TCP_PORT: '80', MY_SVC_PORT_80_TCP_ADDR: '10.96.0.7',
      MY_SVC_PORT_53_UDP: 'udp://10.96.0.7:53', MY_SVC_PORT_53_UDP_PROTO: 'udp', MY_SVC_PORT_53_UDP_PORT: '53', MY_SVC_PORT_53_UDP_ADDR: '10.96.0.7',
    });
  });
  test('expandVars', () => assert.equal(expandVars('$(X)$$$(Y)', { X: '1' }), '1$$(Y)'));
});

describe('container commands', () => {
  const which = (c: string) => (c === 'sh' || c === '/bin/sh' ? '/bin/sh' : undefined);
  test('agnhost runs the built-in agnhost', () => {
    const r = resolveContainerCommand({ name: 'c', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53', args: ['netexec', '--http-port=$(P)'] }, { P: '81' }, which);
    assert.equal(r.kind, 'agnhost');
    if (r.kind !== 'agnhost') return;
    // netexec natively where it is built, else on Node.js (main.js first)
    const native = nativeNetexec().path;
    assert.equal(r.command, native ?? process.execPath);
    assert.deepEqual(r.args.slice(native ? 0 : 1), ['netexec', '--http-port=81']);
  });
  test('agnhost image with /bin/sh runs the host shell', () => {
    const r = resolveContainerCommand({ name: 'c', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53', command: ['/bin/sh', '-c', 'exit 3'] }, {}, which);
    assert.deepEqual(r.kind === 'host' && [r.command, r.args], ['/bin/sh', ['-c', 'exit 3']]);
  });
  test('podnet.io/podnet runs this podnet\'s CLI with the args (ENTRYPOINT ["podnet"])', () => {
    const r = resolveContainerCommand({ name: 'c', image: 'podnet.io/podnet:latest', args: ['dns', '--listen', ':$(P)'] }, { P: '53' }, which);
    assert.equal(r.kind, 'podnet');
    if (r.kind !== 'podnet') return;
    assert.equal(r.command, process.execPath);
    const main = r.args.findIndex((a) => /src\/cli\/main\.js$/.test(a));
    assert.ok(main >= 0, r.args.join(' '));
    assert.deepEqual(r.args.slice(main + 1), ['dns', '--listen', ':53']);
    const viaCommand = resolveContainerCommand({ name: 'c', image: 'podnet.io/podnet', command: ['/usr/bin/podnet', 'dns'] }, {}, which);
    assert.deepEqual(viaCommand.kind === 'podnet' && viaCommand.args.slice(-1), ['dns']);
    // another program from the image is not something podnet can run
    assert.equal(resolveContainerCommand({ name: 'c', image: 'podnet.io/podnet', command: ['nope'] }, {}, which).kind, 'error');
  });
  test('other images need a command that exists', () => {
    assert.equal(resolveContainerCommand({ name: 'c', image: 'busybox', command: ['sh'], args: ['-c', 'true'] }, {}, which).kind, 'host');
    const pull = resolveContainerCommand({ name: 'c', image: 'nginx' }, {}, which);
    assert.equal(pull.kind === 'error' && pull.reason, 'ErrImagePull');
    const start = resolveContainerCommand({ name: 'c', image: 'busybox', command: ['nope'] }, {}, which);
    assert.equal(start.kind === 'error' && start.reason, 'StartError');
  });
});

describe('back-off and restart policy', () => {
  test('first restart at once, then 10 s doubling to 5 min', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelayMs(n)), [0, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
  });
  test('policies', () => {
    assert.equal(shouldRestart('Always', 0), true);
    assert.equal(shouldRestart('OnFailure', 0), false);
    assert.equal(shouldRestart('OnFailure', 2), true);
    assert.equal(shouldRestart('Never', 1), false);
  });
});

test('CRI log lines', () => {
  assert.equal(rfc3339Nano(Date.UTC(2026, 0, 2, 3, 4, 5, 120), 500), '2026-01-02T03:04:05.1200005Z');
  assert.equal(rfc3339Nano(Date.UTC(2026, 0, 2, 3, 4, 5, 0), 0), '2026-01-02T03:04:05Z');
  const l = criLogLine('2026-01-02T03:04:05Z', 'stderr', 'hello world');
  assert.equal(l, '2026-01-02T03:04:05Z stderr F hello world\n');
  assert.deepEqual(parseCriLogLine(l.trimEnd()), { time: '2026-01-02T03:04:05Z', stream: 'stderr', partial: false, text: 'hello world' });
});

describe('pod phase', () => {
  const phase = (tweak: (p: J) => void, containers: ContainerRuntimeStatus[], init: ContainerRuntimeStatus[] = []) =>
    podPhase({ pod: makePod(tweak), containers, init });
  const table: { name: string; tweak?: (p: J) => void; c: ContainerRuntimeStatus[]; init?: ContainerRuntimeStatus[]; want: string }[] = [
    { name: 'not started', c: [], want: 'Pending' },
    { name: 'running', c: [running('c')], want: 'Running' },
    { name: 'Always + exited 0 → Running (restarting)', c: [exited('c', 0)], want: 'Running' },
    { name: 'Always + crash loop → Running', c: [backingOff('c', 3)], want: 'Running' },
    { name: 'Never + exit 0 → Succeeded', tweak: (p) => { p.spec.restartPolicy = 'Never'; }, c: [exited('c', 0)], want: 'Succeeded' },
    { name: 'Never + exit 1 → Failed', tweak: (p) => { p.spec.restartPolicy = 'Never'; }, c: [exited('c', 1)], want: 'Failed' },
    { name: 'OnFailure + exit 0 → Succeeded', tweak: (p) => { p.spec.restartPolicy = 'OnFailure'; }, c: [exited('c', 0)], want: 'Succeeded' },
    { name: 'OnFailure + exit 1 → Running', tweak: (p) => { p.spec.restartPolicy = 'OnFailure'; }, c: [exited('c', 1)], want: 'Running' },
    { name: 'init running → Pending', tweak: (p) => { p.spec.initContainers = [{ name: 'i', image: 'x' }]; }, c: [], init: [running('i')], want: 'Pending' },
    { name: 'init failed + Never → Failed', tweak: (p) => { p.spec.restartPolicy = 'Never'; p.spec.initContainers = [{ name: 'i', image: 'x' }]; }, c: [], init: [exited('i', 1)], want: 'Failed' },
    { name: 'init done → containers decide', tweak: (p) => { p.spec.initContainers = [{ name: 'i', image: 'x' }]; }, c: [running('c')], init: [exited('i', 0)], want: 'Running' },
  ];
  for (const t of table) test(t.name, () => assert.equal(phase(t.tweak ?? (() => undefined), t.c, t.init), t.want));
});

describe('pod status', () => {
  const base = { sandboxReady: true, podIPs: ['10.244.0.5', 'fd00:10:244::5'], hostIPs: ['198.18.0.2'], startTime: '2026-01-01T00:00:00Z', init: [], now: '2026-01-01T00:00:09Z' };
  test('running and ready', () => {
    const st = computePodStatus({ ...base, pod: makePod(), containers: [running('c')] });
    assert.equal(st.phase, 'Running');
    assert.equal(st.podIP, '10.244.0.5');
    assert.deepEqual(st.podIPs, [{ ip: '10.244.0.5' }, { ip: 'fd00:10:244::5' }]);
    assert.deepEqual(st.hostIPs, [{ ip: '198.18.0.2' }]);
    const c = Object.fromEntries((st.conditions as J[]).map((x) => [x.type, x.status]));
    assert.deepEqual(c, { PodReadyToStartContainers: 'True', Initialized: 'True', ContainersReady: 'True', Ready: 'True', PodScheduled: 'True' });
    const sched = (st.conditions as J[]).find((x) => x.type === 'PodScheduled')!;
    assert.equal(sched.lastTransitionTime, '2026-01-01T00:00:00Z', 'kept from the API');
  });
  test('PodScheduled is True for a pod the agent runs, even when its copy still says Unschedulable', () => {
    const pod = makePod((p) => { p.status.conditions = [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/2 nodes are available', lastTransitionTime: '2026-01-01T00:00:00Z' }]; });
    const st = computePodStatus({ ...base, pod, containers: [running('c')] });
    const sched = (st.conditions as J[]).find((x) => x.type === 'PodScheduled')!;
    assert.equal(sched.status, 'True');
    assert.equal(sched.reason, undefined);
    assert.equal(sched.message, undefined);
    assert.equal(sched.lastTransitionTime, base.now, 'a transition from False');
  });
  test('unready containers are named', () => {
    const st = computePodStatus({ ...base, pod: makePod(), containers: [backingOff('c', 2)] });
    const ready = (st.conditions as J[]).find((x) => x.type === 'Ready')!;
    assert.equal(ready.status, 'False');
    assert.equal(ready.reason, 'ContainersNotReady');
    assert.equal(ready.message, 'containers with unready status: [c]');
    assert.equal((st.containerStatuses as J[])[0].state.waiting.reason, 'CrashLoopBackOff');
    assert.equal((st.containerStatuses as J[])[0].restartCount, 2);
  });
  test('not started: waiting ContainerCreating, no pod IP yet', () => {
    const st = computePodStatus({ ...base, sandboxReady: false, podIPs: [], pod: makePod(), containers: [] });
    assert.equal(st.phase, 'Pending');
    assert.equal(st.podIP, undefined);
    assert.equal((st.containerStatuses as J[])[0].state.waiting.reason, 'ContainerCreating');
  });
  test('init containers incomplete', () => {
    const pod = makePod((p) => { p.spec.initContainers = [{ name: 'i1', image: 'x' }, { name: 'i2', image: 'x' }]; });
    const st = computePodStatus({ ...base, pod, init: [exited('i1', 0), running('i2', false)], containers: [] });
    const init = (st.conditions as J[]).find((x) => x.type === 'Initialized')!;
    assert.equal(init.message, 'containers with incomplete status: [i2]');
    assert.equal((st.initContainerStatuses as J[]).length, 2);
    assert.equal((st.containerStatuses as J[])[0].state.waiting.reason, 'PodInitializing');
  });
  test('succeeded pods are not ready (PodCompleted)', () => {
    const pod = makePod((p) => { p.spec.restartPolicy = 'Never'; });
    const st = computePodStatus({ ...base, pod, containers: [exited('c', 0)] });
    assert.equal(st.phase, 'Succeeded');
    assert.equal((st.conditions as J[]).find((x) => x.type === 'Ready')!.reason, 'PodCompleted');
  });
  test('waitingStatus', () => assert.deepEqual(waitingStatus({ name: 'c', image: 'i' }, 'ErrImagePull', 'm').state, { waiting: { reason: 'ErrImagePull', message: 'm' } }));
});

describe('probes', () => {
  const c = { name: 'c', image: 'i', ports: [{ name: 'http', containerPort: 8080 }] };
  test('httpGet with a named port and upstream defaults', () => {
    const p = parseProbe({ httpGet: { path: 'healthz', port: 'http', httpHeaders: [{ name: 'X', value: 'y' }] } }, c, 'fd00::5')!;
    assert.deepEqual(p.target, { kind: 'http', url: 'http://[fd00::5]:8080/healthz', headers: { X: 'y' } });
    assert.deepEqual([p.initialDelayMs, p.periodMs, p.timeoutMs, p.successThreshold, p.failureThreshold], [0, 10_000, 1000, 1, 3]);
  });
  test('tcpSocket, exec, unknown port, grpc', () => {
    assert.deepEqual(parseProbe({ tcpSocket: { port: 53 } }, c, '10.0.0.1')!.target, { kind: 'tcp', host: '10.0.0.1', port: 53 });
    assert.deepEqual(parseProbe({ exec: { command: ['true'] } }, c, '')!.target, { kind: 'exec', command: ['true'] });
    assert.equal(parseProbe({ tcpSocket: { port: 'nope' } }, c, '')!.target.kind, 'unsupported');
    assert.equal(parseProbe({ grpc: { port: 1 } }, c, '')!.target.kind, 'unsupported');
    assert.equal(parseProbe(undefined, c, ''), undefined);
  });
  test('thresholds', () => {
    const s = new ProbeState({ successThreshold: 2, failureThreshold: 2 }, false);
    assert.deepEqual([true, true, false, false, true].map((x) => s.record(x)), [false, true, true, false, false]);
  });
});
