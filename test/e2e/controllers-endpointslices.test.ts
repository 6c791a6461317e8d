// End to end: the endpointslice, endpointslicemirroring and endpoint controllers, run by a real
// `podnet apiserver` child process (TestApiServer), checked with the real kubectl. There is no
// kubelet: the test plays it, setting pod status (podIP, Ready) through the status subresource,
// and renewing three Nodes' Leases so the node lifecycle controller keeps them Ready. Pods are
// created bound (spec.nodeName), so the scheduler leaves them alone and a graceful delete keeps
// them Terminating (no kubelet finishes them) until the test force-deletes them.
//
// Address plan: nodes node-a/b/c in zones zone-a/b/c (4 CPUs each); pods 10.244.<n>.<m>.
// Services ask for ipFamilies [IPv4] and the checks read IPv4 slices only, so the tests hold
// whether or not the API server allocates ClusterIPs.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KObject } from '../../src/api/meta.js';
import { ApiClient, type ResourceClient } from '../../src/client/client.js';
import { LEASES, NODES, PODS, SERVICES } from '../../src/client/resources.js';
import { ENDPOINTS, ENDPOINTSLICES } from '../../src/controllers/endpointslice/informers.js';
import type { Endpoint, EndpointSlice } from '../../src/controllers/endpointslice/types.js';
import { haveKubectl, TestApiServer, waitFor } from './harness.js';

const skip = haveKubectl() ? false : 'kubectl is not installed on this machine';
const NS = 'eps';
const ZONES = ['zone-a', 'zone-b', 'zone-c'];
const NODE_NAMES = ['node-a', 'node-b', 'node-c'];

type Obj = KObject & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('endpoint controllers (endpointslice, endpointslicemirroring, endpoint)', { skip, concurrency: false }, () => {
  let srv: TestApiServer;
  let client: ApiClient;
  let pods: ResourceClient<Obj>, services: ResourceClient<Obj>, slices: ResourceClient<EndpointSlice>, endpoints: ResourceClient<Obj>;
  let leaseTimer: NodeJS.Timeout | undefined;
  let ipSeq = 0;

  const now = () => new Date().toISOString().replace(/\.(\d{3})\d*Z$/, '.$1000Z');

  async function renewLeases(): Promise<void> {
    const leases = client.resource(LEASES, 'kube-node-lease');
    for (const n of NODE_NAMES) {
      const body = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: n, namespace: 'kube-node-lease' },
        spec: { holderIdentity: n, leaseDurationSeconds: 40, renewTime: now() } };
      try {
        const cur = await leases.get(n);
        await leases.update({ ...cur, spec: body.spec });
      } catch {
        await leases.create(body).catch(() => undefined);
      }
    }
  }

  before(async () => {
    srv = new TestApiServer();
    await srv.start();
    client = ApiClient.fromKubeconfig(srv.kubeconfig);
    pods = client.resource<Obj>(PODS, NS);
    services = client.resource<Obj>(SERVICES, NS);
    slices = client.resource<EndpointSlice>(ENDPOINTSLICES, NS);
    endpoints = client.resource<Obj>(ENDPOINTS, NS);
    await client.resource({ group: '', version: 'v1', resource: 'namespaces', namespaced: false })
      .create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    const nodes = client.resource<Obj>(NODES);
    for (let i = 0; i < 3; i++) {
      const n = await nodes.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE_NAMES[i]!, labels: { 'topology.kubernetes.io/zone': ZONES[i]! } } });
      await nodes.patch(n.metadata.name!, 'merge', {
        status: {
          allocatable: { cpu: '4', memory: '8Gi', pods: '110' }, capacity: { cpu: '4', memory: '8Gi', pods: '110' },
          conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now().replace(/\.\d+Z$/, 'Z'), lastTransitionTime: now().replace(/\.\d+Z$/, 'Z') }],
        },
      }, { subresource: 'status' });
    }
    await renewLeases();
    leaseTimer = setInterval(() => { renewLeases().catch(() => undefined); }, 5000);
  });

  after(async () => {
    if (leaseTimer) clearInterval(leaseTimer);
    client?.close();
    await srv?.destroy();
  });

  // ---- helpers ---------------------------------------------------------------------------------

  async function makeService(name: string, tweak: (s: Obj) => void = () => undefined): Promise<void> {
    const s: Obj = {
      apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS, labels: { team: 'net' } },
      spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4'] },
    };
    tweak(s);
    await services.create(s);
  }

  /** Creates a bound pod and plays its kubelet: Running with an IP, Ready as asked. */
  async function makePod(name: string, app: string, opts: { node?: string; ready?: boolean; port?: number } = {}): Promise<string> {
    const n = ipSeq++;
    const ip = `10.244.${n >> 8}.${(n & 255) + 1}`;
    await pods.create({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: NS, labels: { app } },
      spec: { nodeName: opts.node ?? NODE_NAMES[n % 3]!, containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.9', ports: [{ name: 'http', containerPort: opts.port ?? 8080 }] }] },
    });
    await setReady(name, opts.ready ?? true, ip);
    return ip;
  }

  async function setReady(name: string, ready: boolean, ip?: string): Promise<void> {
    const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await pods.patch(name, 'merge', {
      status: {
        phase: 'Running', ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: t }],
      },
    }, { subresource: 'status' });
  }

  /** The Service's IPv4 slices, as kubectl shows them. */
  function kubectlSlices(svc: string): EndpointSlice[] {
    const out = srv.k(['get', 'endpointslices', '-n', NS, '-l', `kubernetes.io/service-name=${svc}`, '-o', 'json']);
    return (JSON.parse(out).items as EndpointSlice[]).filter((s) => s.addressType === 'IPv4');
  }
  const endpointsOf = (ss: EndpointSlice[]): Endpoint[] => ss.flatMap((s) => s.endpoints ?? []);
  const byPod = (ss: EndpointSlice[], pod: string) => endpointsOf(ss).find((e) => e.targetRef?.name === pod);

  async function until<T>(what: string, fn: () => T | undefined | false, ms = 15_000): Promise<T> {
    return waitFor(async () => fn(), what, ms, 200);
  }

  // ---- tests -----------------------------------------------------------------------------------

  it('a Service with a selector gets a slice of its ready pods, and Endpoints', async () => {
    await makeService('web');
    const ips = [await makePod('web-0', 'web'), await makePod('web-1', 'web'), await makePod('web-2', 'web')];
    const ss = await until('3 endpoints in web\'s slice', () => {
      const s = kubectlSlices('web');
      return endpointsOf(s).length === 3 && s;
    });
    assert.equal(ss.length, 1);
    const s = ss[0]!;
    assert.match(s.metadata.name!, /^web-/);
    assert.equal(s.metadata.labels!['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
    assert.equal(s.metadata.labels!['kubernetes.io/service-name'], 'web');
    assert.equal(s.metadata.labels!.team, 'net');
    const owner = s.metadata.ownerReferences![0]!;
    assert.deepEqual([owner.kind, owner.name, owner.controller, owner.blockOwnerDeletion], ['Service', 'web', true, true]);
    assert.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    assert.ok(s.metadata.annotations?.['endpoints.kubernetes.io/last-change-trigger-time']);
    assert.deepEqual(endpointsOf(ss).map((e) => e.addresses[0]).sort(), [...ips].sort());
    for (const e of endpointsOf(ss)) {
      assert.deepEqual(e.conditions, { ready: true, serving: true, terminating: false });
      assert.ok(ZONES.includes(e.zone!), `zone of ${e.nodeName}`);
      assert.equal(e.targetRef?.kind, 'Pod');
    }
    // Legacy Endpoints, and kubectl describe service shows them.
    await until('Endpoints web with 3 addresses', () => {
      const ep = JSON.parse(srv.k(['get', 'endpoints', 'web', '-n', NS, '-o', 'json']));
      return ep.subsets?.[0]?.addresses?.length === 3;
    });
    const describe = srv.k(['describe', 'service', 'web', '-n', NS]);
    const line = /^Endpoints:\s+(.*)$/m.exec(describe)?.[1] ?? '';
    for (const ip of ips) assert.match(line, new RegExp(`${ip.replace(/\./g, '\\.')}:8080`));
  });

  it('readiness flips show in the slice and in Endpoints', async () => {
    await setReady('web-1', false);
    await until('web-1 not ready', () => {
      const e = byPod(kubectlSlices('web'), 'web-1');
      return e?.conditions?.ready === false && e.conditions.serving === false && e.conditions.terminating === false;
    });
    await until('web-1 in notReadyAddresses', () => {
      const ep = JSON.parse(srv.k(['get', 'endpoints', 'web', '-n', NS, '-o', 'json']));
      return ep.subsets?.some((s: Obj) => s.notReadyAddresses?.some((a: Obj) => a.targetRef?.name === 'web-1'));
    });
    await setReady('web-1', true);
    await until('web-1 ready again', () => byPod(kubectlSlices('web'), 'web-1')?.conditions?.ready === true);
  });

  it('a terminating pod stays in the slice, not ready, serving while it is ready', async () => {
    srv.k(['delete', 'pod', 'web-2', '-n', NS, '--wait=false', '--grace-period=60']);
    const e = await until('web-2 terminating', () => {
      const x = byPod(kubectlSlices('web'), 'web-2');
      return x?.conditions?.terminating === true && x;
    });
    assert.deepEqual(e.conditions, { ready: false, serving: true, terminating: true });
    // Endpoints drop terminating pods.
    await until('web-2 gone from Endpoints', () => {
      const ep = JSON.parse(srv.k(['get', 'endpoints', 'web', '-n', NS, '-o', 'json']));
      const all = (ep.subsets ?? []).flatMap((s: Obj) => [...(s.addresses ?? []), ...(s.notReadyAddresses ?? [])]);
      return all.length === 2 && !all.some((a: Obj) => a.targetRef?.name === 'web-2');
    });
    await setReady('web-2', false);
    await until('web-2 terminating, not serving', () => byPod(kubectlSlices('web'), 'web-2')?.conditions?.serving === false);
    srv.k(['delete', 'pod', 'web-2', '-n', NS, '--grace-period=0', '--force']);
    await until('web-2 gone', () => !byPod(kubectlSlices('web'), 'web-2') && endpointsOf(kubectlSlices('web')).length === 2);
  });

  it('scaling across the 100-endpoint boundary splits and joins slices', async () => {
    await makeService('big');
    const names: string[] = [];
    for (let i = 0; i < 101; i++) names.push(`big-${i}`);
    for (let i = 0; i < names.length; i += 10) await Promise.all(names.slice(i, i + 10).map((n) => makePod(n, 'big')));
    const ss = await until('101 endpoints in 2 slices', () => {
      const s = kubectlSlices('big');
      return endpointsOf(s).length === 101 && s;
    }, 30_000);
    assert.deepEqual(ss.map((s) => s.endpoints!.length).sort((a, b) => a - b), [1, 100]);
    // Endpoints hold all 101.
    await until('Endpoints big with 101 addresses', () => {
      const ep = JSON.parse(srv.k(['get', 'endpoints', 'big', '-n', NS, '-o', 'json']));
      return (ep.subsets ?? []).reduce((n: number, s: Obj) => n + (s.addresses?.length ?? 0), 0) === 101;
    }, 30_000);
    // Back to 100: the pod in the small slice goes, its slice with it.
    const lone = ss.find((s) => s.endpoints!.length === 1)!.endpoints![0]!.targetRef!.name!;
    srv.k(['delete', 'pod', lone, '-n', NS, '--grace-period=0', '--force']);
    const after1 = await until('one slice of 100', () => {
      const s = kubectlSlices('big');
      return s.length === 1 && endpointsOf(s).length === 100 && s;
    }, 30_000);
    assert.equal(after1[0]!.metadata.name, ss.find((s) => s.endpoints!.length === 100)!.metadata.name, 'the full slice was kept');
  });

  it('a named targetPort resolving differently yields one slice per port', async () => {
    await makeService('named', (s) => { s.spec.ports = [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]; });
    await makePod('named-0', 'named', { port: 8080 });
    await makePod('named-1', 'named', { port: 9090 });
    await makePod('named-2', 'named', { port: 9090 });
    const ss = await until('two port groups', () => {
      const s = kubectlSlices('named');
      return endpointsOf(s).length === 3 && s;
    });
    const byPort = new Map(ss.map((s) => [s.ports![0]!.port, s.endpoints!.map((e) => e.targetRef!.name).sort()]));
    assert.deepEqual(byPort.get(8080), ['named-0']);
    assert.deepEqual(byPort.get(9090), ['named-1', 'named-2']);
    const ep = JSON.parse(srv.k(['get', 'endpoints', 'named', '-n', NS, '-o', 'json']));
    assert.deepEqual(ep.subsets.map((s: Obj) => s.ports[0].port).sort(), [8080, 9090]);
  });

  it('topology-mode Auto on 3 zones: each endpoint hinted for its zone', async () => {
    await makeService('zoned', (s) => { s.metadata.annotations = { 'service.kubernetes.io/topology-mode': 'Auto' }; });
    for (let i = 0; i < 6; i++) await makePod(`zoned-${i}`, 'zoned', { node: NODE_NAMES[i % 3] });
    const ss = await until('6 hinted endpoints', () => {
      const s = kubectlSlices('zoned');
      return endpointsOf(s).length === 6 && endpointsOf(s).every((e) => e.hints) && s;
    }, 20_000);
    for (const e of endpointsOf(ss)) assert.deepEqual(e.hints, { forZones: [{ name: e.zone! }] });
    // Fewer endpoints than zones: hints go.
    for (const n of ['zoned-0', 'zoned-1', 'zoned-2', 'zoned-3']) srv.k(['delete', 'pod', n, '-n', NS, '--grace-period=0', '--force']);
    await until('hints removed', () => {
      const s = kubectlSlices('zoned');
      return endpointsOf(s).length === 2 && endpointsOf(s).every((e) => !e.hints);
    }, 20_000);
    const events = srv.k(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=zoned', '-o', 'json']);
    const reasons = (JSON.parse(events).items as Obj[]).map((e) => e.reason);
    assert.ok(reasons.includes('TopologyAwareHintsEnabled') && reasons.includes('TopologyAwareHintsDisabled'), reasons.join(','));
  });

  it('trafficDistribution PreferClose hints every ready endpoint for its own zone', async () => {
    await makeService('close', (s) => { s.spec.trafficDistribution = 'PreferClose'; });
    await makePod('close-0', 'close', { node: 'node-a' });
    await makePod('close-1', 'close', { node: 'node-b' });
    const ss = await until('hinted endpoints', () => {
      const s = kubectlSlices('close');
      return endpointsOf(s).length === 2 && endpointsOf(s).every((e) => e.hints) && s;
    });
    for (const e of endpointsOf(ss)) assert.deepEqual(e.hints, { forZones: [{ name: e.zone! }] });
  });

  it('a selectorless Service: user Endpoints are mirrored, user slices left alone', async () => {
    await makeService('ext', (s) => { delete s.spec.selector; });
    srv.k(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'ext', namespace: NS, labels: { src: 'user' } },
      subsets: [{ addresses: [{ ip: '192.0.2.10' }, { ip: '192.0.2.11' }], ports: [{ name: 'http', port: 8080 }] }],
    }));
    const mirrored = await until('mirrored slice', () => {
      const s = kubectlSlices('ext').filter((x) => x.metadata.labels?.['endpointslice.kubernetes.io/managed-by'] === 'endpointslicemirroring-controller.k8s.io');
      return endpointsOf(s).length === 2 && s;
    });
    assert.equal(mirrored[0]!.metadata.labels!.src, 'user');
    assert.equal(mirrored[0]!.metadata.ownerReferences![0]!.kind, 'Endpoints');
    assert.deepEqual(endpointsOf(mirrored).map((e) => e.addresses[0]).sort(), ['192.0.2.10', '192.0.2.11']);
    // A user's own slice for the Service stays as the user made it.
    await slices.create({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'ext-mine', namespace: NS, labels: { 'kubernetes.io/service-name': 'ext' } },
      addressType: 'IPv4', endpoints: [{ addresses: ['192.0.2.99'] }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
    await new Promise((r) => setTimeout(r, 2000));
    const mine = await slices.get('ext-mine');
    assert.deepEqual(mine.endpoints!.map((e) => e.addresses[0]), ['192.0.2.99']);
    // The Endpoints controller does not touch selectorless Services' Endpoints.
    const ep = await endpoints.get('ext');
    assert.equal(ep.metadata.labels?.src, 'user');
    // Updating the Endpoints updates the mirror.
    srv.k(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'ext', namespace: NS, labels: { src: 'user' } },
      subsets: [{ addresses: [{ ip: '192.0.2.12' }], ports: [{ name: 'http', port: 8080 }] }],
    }));
    await until('mirror updated', () => {
      const s = kubectlSlices('ext').filter((x) => x.metadata.labels?.['endpointslice.kubernetes.io/managed-by'] === 'endpointslicemirroring-controller.k8s.io');
      return JSON.stringify(endpointsOf(s).map((e) => e.addresses[0])) === '["192.0.2.12"]';
    });
  });

  it('deleting a Service removes its slices and Endpoints', async () => {
    srv.k(['delete', 'service', 'named', '-n', NS]);
    await until('named slices and Endpoints gone', () => {
      const s = kubectlSlices('named');
      const ep = srv.kubectl(['get', 'endpoints', 'named', '-n', NS]);
      return s.length === 0 && ep.code !== 0;
    }, 20_000);
  });
});
