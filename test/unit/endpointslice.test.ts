// Unit tests of the endpoint controllers' pure parts: the EndpointSlice reconciler (including
// churn: how many slices a change writes), topology hints, the trackers, the legacy Endpoints
// computation and EndpointSlice mirroring. No API server, no root.
//
// Address plan: pods 10.244.0.0/16 (one /24 per node) and fd00:10:244::/56; nodes node-a…
// in zones zone-a…; the Service is ns/web with uid svc-uid.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reconcile, type ReconcileInput, type ReconcileOptions, type SlicePlan } from '../../src/controllers/endpointslice/reconciler.js';
import { TopologyCache, reconcileTrafficDistributionHints } from '../../src/controllers/endpointslice/topology.js';
import { EndpointSliceTracker, TriggerTimeTracker } from '../../src/controllers/endpointslice/trackers.js';
import {
  parseCpuMilli, stripEndpointPod, stripNode, stripService,
  type EndpointPod, type EndpointSlice, type NodeRecord, type ServiceRecord,
} from '../../src/controllers/endpointslice/types.js';
import { computeSubsets, desiredEndpoints, MAX_CAPACITY } from '../../src/controllers/endpoints.js';
import { mirrorEndpoints } from '../../src/controllers/endpointslicemirroring.js';
import type { EndpointsObj } from '../../src/controllers/endpointslice/informers.js';

// ---- builders ---------------------------------------------------------------------------------

type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function makeService(tweak: (s: Raw) => void = () => undefined): ServiceRecord {
  const s: Raw = {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: 'web', namespace: 'ns', uid: 'svc-uid', labels: { app: 'web' }, creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: { selector: { app: 'web' }, ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }], clusterIP: '10.96.0.10', ipFamilies: ['IPv4'] },
  };
  tweak(s);
  return stripService(s as never);
}

let podSeq = 0;
function makePod(name: string, tweak: (p: Raw) => void = () => undefined): EndpointPod {
  const n = ++podSeq;
  const p: Raw = {
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: String(n), labels: { app: 'web' } },
    spec: { nodeName: 'node-a', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] },
    status: {
      phase: 'Running', podIP: `10.244.0.${n % 250 + 2}`, podIPs: [{ ip: `10.244.0.${n % 250 + 2}` }],
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2024-01-01T00:01:00Z' }],
    },
  };
  tweak(p);
  return stripEndpointPod(p as never);
}

const pods = (n: number, tweak?: (p: Raw, i: number) => void) =>
  Array.from({ length: n }, (_, i) => makePod(`p${i}`, (p) => tweak?.(p, i)));

function makeNode(name: string, zone: string | undefined, cpu = '4', ready = true): NodeRecord {
  return stripNode({
    metadata: { name, labels: zone ? { 'topology.kubernetes.io/zone': zone } : {} },
    status: { allocatable: { cpu }, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  } as never);
}

const defaultNodes = [makeNode('node-a', 'zone-a'), makeNode('node-b', 'zone-b'), makeNode('node-c', 'zone-c')];
const nodeLookup = (nodes: NodeRecord[]) => (n: string) => nodes.find((x) => x.metadata.name === n);

/** A fake API: applies a plan as the server would (names, uids, generations). */
class FakeStore {
  slices = new Map<string, EndpointSlice>();
  private seq = 0;
  writes = { create: 0, update: 0, delete: 0 };
  apply(plan: SlicePlan): void {
    for (const s of plan.create) {
      const c = structuredClone(s);
      c.metadata.name = `${s.metadata.generateName}${(++this.seq).toString(36).padStart(5, '0')}`;
      c.metadata.uid = `slice-${this.seq}`;
      c.metadata.generation = 1;
      c.metadata.resourceVersion = String(this.seq);
      this.slices.set(c.metadata.name, c);
      this.writes.create++;
    }
    for (const s of plan.update) {
      const old = this.slices.get(s.metadata.name!);
      assert.ok(old, `update of missing slice ${s.metadata.name}`);
      const c = structuredClone(s);
      c.metadata.uid = old.metadata.uid;
      c.metadata.generation = (old.metadata.generation ?? 0) + 1;
      c.metadata.resourceVersion = String(++this.seq);
      this.slices.set(c.metadata.name!, c);
      this.writes.update++;
    }
    for (const s of plan.delete) {
      assert.ok(this.slices.delete(s.metadata.name!), `delete of missing slice ${s.metadata.name}`);
      this.writes.delete++;
    }
  }
  list(): EndpointSlice[] { return [...this.slices.values()]; }
  resetWrites() { this.writes = { create: 0, update: 0, delete: 0 }; }
}

function run(svc: ServiceRecord, ps: EndpointPod[], store: FakeStore, opts: ReconcileOptions = {}, nodes = defaultNodes, extra: Partial<ReconcileInput> = {}): SlicePlan {
  const plan = reconcile({ service: svc, pods: ps, existing: store.list(), node: nodeLookup(nodes), ...extra }, opts);
  store.apply(plan);
  return plan;
}

const allEndpoints = (store: FakeStore) => store.list().flatMap((s) => s.endpoints ?? []);
const byPod = (store: FakeStore, name: string) => allEndpoints(store).find((e) => e.targetRef?.name === name);
const writes = (p: SlicePlan) => ({ create: p.create.length, update: p.update.length, delete: p.delete.length });

// ---- the reconciler ----------------------------------------------------------------------------------

describe('endpointslice reconciler', () => {
  it('creates one slice with labels, owner, generateName, ports and endpoints', () => {
    const store = new FakeStore();
    const plan = run(makeService((s) => { s.metadata.labels = { app: 'web', tier: 'front' }; }), pods(3), store, {}, defaultNodes, { triggerTime: Date.parse('2024-01-01T00:01:00Z') });
    assert.deepEqual(writes(plan), { create: 1, update: 0, delete: 0 });
    const s = plan.create[0]!;
    assert.equal(s.metadata.generateName, 'web-');
    assert.equal(s.addressType, 'IPv4');
    assert.deepEqual(s.metadata.labels, {
      app: 'web', tier: 'front', 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
    });
    assert.deepEqual(s.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'svc-uid', controller: true, blockOwnerDeletion: true }]);
    assert.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    assert.equal(s.metadata.annotations?.['endpoints.kubernetes.io/last-change-trigger-time'], '2024-01-01T00:01:00Z');
    assert.equal(s.endpoints!.length, 3);
    const e = s.endpoints![0]!;
    assert.deepEqual(e.conditions, { ready: true, serving: true, terminating: false });
    assert.equal(e.nodeName, 'node-a');
    assert.equal(e.zone, 'zone-a');
    assert.deepEqual(e.targetRef, { kind: 'Pod', namespace: 'ns', name: 'p0', uid: 'uid-p0' });
  });

  // Endpoint conditions, as upstream's podToEndpoint.
  const conditionCases: { name: string; pod: (p: Raw) => void; svc?: (s: Raw) => void; want: object | undefined }[] = [
    { name: 'ready pod', pod: () => undefined, want: { ready: true, serving: true, terminating: false } },
    { name: 'not ready pod', pod: (p) => { p.status.conditions[0].status = 'False'; }, want: { ready: false, serving: false, terminating: false } },
    { name: 'not ready, publishNotReadyAddresses', pod: (p) => { p.status.conditions[0].status = 'False'; },
      svc: (s) => { s.spec.publishNotReadyAddresses = true; }, want: { ready: true, serving: false, terminating: false } },
    { name: 'terminating ready pod', pod: (p) => { p.metadata.deletionTimestamp = '2024-01-01T00:02:00Z'; }, want: { ready: false, serving: true, terminating: true } },
    { name: 'terminating not-ready pod', pod: (p) => { p.metadata.deletionTimestamp = '2024-01-01T00:02:00Z'; p.status.conditions[0].status = 'False'; },
      want: { ready: false, serving: false, terminating: true } },
    { name: 'terminating pod, publishNotReadyAddresses', pod: (p) => { p.metadata.deletionTimestamp = '2024-01-01T00:02:00Z'; },
      svc: (s) => { s.spec.publishNotReadyAddresses = true; }, want: { ready: true, serving: true, terminating: true } },
    { name: 'pod without IP', pod: (p) => { p.status.podIPs = []; delete p.status.podIP; }, want: undefined },
    { name: 'succeeded pod', pod: (p) => { p.status.phase = 'Succeeded'; }, want: undefined },
    { name: 'failed pod', pod: (p) => { p.status.phase = 'Failed'; }, want: undefined },
  ];
  for (const c of conditionCases) {
    it(`endpoint conditions: ${c.name}`, () => {
      const store = new FakeStore();
      run(makeService(c.svc), [makePod('x', c.pod)], store);
      assert.deepEqual(byPod(store, 'x')?.conditions, c.want);
    });
  }

  it('a Service with no endpoints keeps one empty placeholder slice, written once', () => {
    const store = new FakeStore();
    const svc = makeService();
    assert.deepEqual(writes(run(svc, [], store)), { create: 1, update: 0, delete: 0 });
    assert.equal(store.list()[0]!.endpoints!.length, 0);
    assert.deepEqual(store.list()[0]!.ports, []);
    assert.deepEqual(writes(run(svc, [], store)), { create: 0, update: 0, delete: 0 });
    // The first pod recycles the placeholder's name rather than create + delete.
    assert.deepEqual(writes(run(svc, pods(1), store)), { create: 0, update: 1, delete: 0 });
    assert.equal(store.list().length, 1);
  });

  it('splits at maxEndpointsPerSlice', () => {
    const store = new FakeStore();
    run(makeService(), pods(250), store);
    assert.deepEqual(store.list().map((s) => s.endpoints!.length).sort((a, b) => b - a), [100, 100, 50]);
    const store2 = new FakeStore();
    run(makeService(), pods(25), store2, { maxEndpointsPerSlice: 10 });
    assert.deepEqual(store2.list().map((s) => s.endpoints!.length).sort((a, b) => b - a), [10, 10, 5]);
  });

  it('a named targetPort resolving differently yields separate slices, grouped by port set', () => {
    const store = new FakeStore();
    const svc = makeService((s) => { s.spec.ports = [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' }]; });
    const ps = pods(4, (p, i) => { p.spec.containers[0].ports[0].containerPort = i % 2 ? 9090 : 8080; });
    // A pod without the named port still appears, with no ports.
    ps.push(makePod('noport', (p) => { p.spec.containers[0].ports = []; }));
    run(svc, ps, store);
    const byPorts = new Map(store.list().map((s) => [JSON.stringify(s.ports), s.endpoints!.map((e) => e.targetRef?.name).sort()]));
    assert.deepEqual(byPorts.get(JSON.stringify([{ name: 'http', port: 8080, protocol: 'TCP' }])), ['p0', 'p2']);
    assert.deepEqual(byPorts.get(JSON.stringify([{ name: 'http', port: 9090, protocol: 'TCP' }])), ['p1', 'p3']);
    assert.deepEqual(byPorts.get('[]'), ['noport']);
    assert.equal(store.list().length, 3);
  });

  it('named ports resolve by protocol, and in sidecar containers', () => {
    const store = new FakeStore();
    const svc = makeService((s) => { s.spec.ports = [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 'dns' }]; });
    const p = makePod('side', (x) => {
      x.spec.containers[0].ports = [{ name: 'dns', containerPort: 5353, protocol: 'TCP' }];
      x.spec.initContainers = [{ name: 'proxy', restartPolicy: 'Always', ports: [{ name: 'dns', containerPort: 1053, protocol: 'UDP' }] }];
    });
    run(svc, [p], store);
    assert.deepEqual(store.list()[0]!.ports, [{ name: 'dns', port: 1053, protocol: 'UDP' }]);
  });

  it('hostname for pods whose subdomain is a headless Service; headless label', () => {
    const store = new FakeStore();
    const svc = makeService((s) => { s.spec.clusterIP = 'None'; s.spec.ports = []; });
    run(svc, [makePod('h', (p) => { p.spec.hostname = 'h0'; p.spec.subdomain = 'web'; }), makePod('o', (p) => { p.spec.hostname = 'o0'; p.spec.subdomain = 'other'; })], store);
    const s = store.list()[0]!;
    assert.equal(s.metadata.labels!['service.kubernetes.io/headless'], '');
    assert.deepEqual(s.ports, []);
    assert.equal(byPod(store, 'h')!.hostname, 'h0');
    assert.equal(byPod(store, 'o')!.hostname, undefined);
  });

  it('one slice per family of a dual-stack Service; a family without pod IPs gets a placeholder', () => {
    const store = new FakeStore();
    const svc = makeService((s) => { s.spec.ipFamilies = ['IPv4', 'IPv6']; });
    run(svc, [makePod('d', (p) => { p.status.podIPs = [{ ip: '10.244.1.5' }, { ip: 'FD00:10:244:1::0005' }]; })], store);
    const byType = new Map(store.list().map((s) => [s.addressType, s.endpoints!.flatMap((e) => e.addresses)]));
    assert.deepEqual(byType.get('IPv4'), ['10.244.1.5']);
    assert.deepEqual(byType.get('IPv6'), ['fd00:10:244:1::5']);
    // Dropping IPv6 from the Service deletes its slices.
    const plan = run(makeService((s) => { s.spec.ipFamilies = ['IPv4']; }), [makePod('d2')], store);
    assert.equal(plan.delete.filter((s) => s.addressType === 'IPv6').length, 1);
  });

  it('no ipFamilies: ClusterIP family, or both for headless', () => {
    const store = new FakeStore();
    run(makeService((s) => { delete s.spec.ipFamilies; s.spec.clusterIP = 'fd00:10:96::10'; }), [], store);
    assert.deepEqual(store.list().map((s) => s.addressType), ['IPv6']);
    const store2 = new FakeStore();
    run(makeService((s) => { delete s.spec.ipFamilies; delete s.spec.clusterIP; }), [], store2);
    assert.deepEqual(store2.list().map((s) => s.addressType).sort(), ['IPv4', 'IPv6']);
  });

  it('skips pods on unknown nodes and reports an error (unless publishNotReadyAddresses)', () => {
    const store = new FakeStore();
    const plan = run(makeService(), [makePod('lost', (p) => { p.spec.nodeName = 'gone'; }), makePod('ok')], store);
    assert.equal(plan.errors.length, 1);
    assert.deepEqual(allEndpoints(store).map((e) => e.targetRef?.name), ['ok']);
    const store2 = new FakeStore();
    const plan2 = run(makeService((s) => { s.spec.publishNotReadyAddresses = true; }), [makePod('lost', (p) => { p.spec.nodeName = 'gone'; })], store2);
    assert.equal(plan2.errors.length, 0);
    assert.equal(allEndpoints(store2)[0]!.zone, undefined);
  });

  it('deletes slices not owned by the Service (an old Service of the same name)', () => {
    const store = new FakeStore();
    run(makeService(), pods(2), store);
    const plan = run(makeService((s) => { s.metadata.uid = 'new-uid'; }), pods(2), store);
    // The new slice reuses nothing of the old Service's: a create and a delete.
    assert.deepEqual(writes(plan), { create: 1, update: 0, delete: 1 });
    assert.equal(store.list()[0]!.metadata.ownerReferences![0]!.uid, 'new-uid');
  });

  it('no creates while the Service is being deleted', () => {
    const plan = reconcile({ service: makeService((s) => { s.metadata.deletionTimestamp = '2024-01-01T00:00:00Z'; }), pods: pods(2), existing: [], node: nodeLookup(defaultNodes) });
    assert.equal(plan.create.length, 0);
  });
});

// ---- churn: how many slices a change writes ---------------------------------------------------------

describe('endpointslice reconciler churn', () => {
  /** A store with 250 endpoints in 3 slices (100, 100, 50) and the pods that made them. */
  function setup() {
    const store = new FakeStore();
    const ps = pods(250);
    const svc = makeService();
    run(svc, ps, store);
    store.resetWrites();
    return { store, ps, svc };
  }

  const cases: { name: string; change: (ps: EndpointPod[]) => EndpointPod[]; svc?: (s: Raw) => void; want: { create: number; update: number; delete: number } }[] = [
    { name: 'nothing changed', change: (ps) => ps, want: { create: 0, update: 0, delete: 0 } },
    { name: 'one pod becomes not ready', change: (ps) => ps.map((p, i) => (i === 7 ? { ...p, status: { ...p.status, ready: false } } : p)), want: { create: 0, update: 1, delete: 0 } },
    { name: 'a pod is added (fills the partly full slice)', change: (ps) => [...ps, makePod('new')], want: { create: 0, update: 1, delete: 0 } },
    { name: 'a pod is removed', change: (ps) => ps.filter((_, i) => i !== 3), want: { create: 0, update: 1, delete: 0 } },
    { name: 'a pod is removed and another added (same slice update)', change: (ps) => [...ps.filter((_, i) => i !== 3), makePod('swap')], want: { create: 0, update: 1, delete: 0 } },
    { name: '60 pods added: they do not fit the partly full slice, so one new slice', change: (ps) => [...ps, ...Array.from({ length: 60 }, (_, i) => makePod(`more${i}`))],
      want: { create: 1, update: 0, delete: 0 } },
    { name: '120 pods added: one new full slice, the other 20 fill the partly full one', change: (ps) => [...ps, ...Array.from({ length: 120 }, (_, i) => makePod(`more${i}`))],
      want: { create: 1, update: 1, delete: 0 } },
    { name: 'pod resourceVersion only (annotation change): nothing', change: (ps) => ps.map((p) => ({ ...p, metadata: { ...p.metadata, resourceVersion: 'x' } })), want: { create: 0, update: 0, delete: 0 } },
    { name: 'all pods gone: slices deleted, one recycled as the placeholder', change: () => [], want: { create: 0, update: 1, delete: 2 } },
    { name: 'Service labels change: every slice relabelled', change: (ps) => ps, svc: (s) => { s.metadata.labels = { app: 'web', v: '2' }; }, want: { create: 0, update: 3, delete: 0 } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { store, ps } = setup();
      const changed = c.change(ps);
      const plan = run(makeService(c.svc), changed, store);
      assert.deepEqual(writes(plan), c.want);
      // And the result is stable: syncing again writes nothing.
      assert.deepEqual(writes(run(makeService(c.svc), changed, store)), { create: 0, update: 0, delete: 0 });
      const n = changed.length;
      assert.equal(allEndpoints(store).length, n);
      for (const s of store.list()) assert.ok(s.endpoints!.length <= 100);
    });
  }

  it('emptying a whole slice deletes it without touching the others', () => {
    const { store, ps } = setup();
    const full = store.list().find((s) => s.endpoints!.length === 100)!;
    const gone = new Set(full.endpoints!.map((e) => e.targetRef!.name));
    const plan = run(makeService(), ps.filter((p) => !gone.has(p.metadata.name)), store);
    assert.deepEqual(writes(plan), { create: 0, update: 0, delete: 1 });
  });

  it('scaling across the 100-endpoint boundary: 100 → 101 creates one slice, does not rewrite the full one', () => {
    const store = new FakeStore();
    const ps = pods(100);
    run(makeService(), ps, store);
    const plan = run(makeService(), [...ps, makePod('p100')], store);
    assert.deepEqual(writes(plan), { create: 1, update: 0, delete: 0 });
    assert.deepEqual(store.list().map((s) => s.endpoints!.length).sort((a, b) => a - b), [1, 100]);
    // ...and back to 100: the single-endpoint slice goes.
    assert.deepEqual(writes(run(makeService(), ps, store)), { create: 0, update: 0, delete: 1 });
  });

  it('new endpoints go into the unchanged slice they fit best', () => {
    const store = new FakeStore();
    const ps = pods(180); // 100 + 80
    run(makeService(), ps, store);
    const plan = run(makeService(), [...ps, ...Array.from({ length: 15 }, (_, i) => makePod(`n${i}`))], store);
    assert.deepEqual(writes(plan), { create: 0, update: 1, delete: 0 });
    assert.equal(plan.update[0]!.endpoints!.length, 95);
  });

  it('the trigger time annotation is set on writes and cleared when there is none', () => {
    const store = new FakeStore();
    run(makeService(), pods(2), store, {}, defaultNodes, { triggerTime: Date.parse('2024-01-01T00:01:00.5Z') });
    assert.equal(store.list()[0]!.metadata.annotations!['endpoints.kubernetes.io/last-change-trigger-time'], '2024-01-01T00:01:00.5Z');
    run(makeService(), pods(3), store, {}, defaultNodes, {});
    assert.equal(store.list()[0]!.metadata.annotations!['endpoints.kubernetes.io/last-change-trigger-time'], undefined);
  });
});

// ---- topology hints ---------------------------------------------------------------------------------

describe('topology hints', () => {
  const auto = (s: Raw) => { s.metadata.annotations = { 'service.kubernetes.io/topology-mode': 'Auto' }; };
  const zoned = (n: number, zones = ['a', 'b', 'c']) => pods(n, (p, i) => { p.spec.nodeName = `node-${zones[i % zones.length]}`; });
  const hintsOf = (store: FakeStore) => {
    const m = new Map<string, number>();
    for (const e of allEndpoints(store)) for (const z of e.hints?.forZones ?? []) m.set(z.name, (m.get(z.name) ?? 0) + 1);
    return Object.fromEntries([...m].sort());
  };
  function cache(nodes: NodeRecord[]) { const t = new TopologyCache(); t.setNodes(nodes); return t; }

  it('parses CPU quantities', () => {
    assert.deepEqual(['4', '3500m', '0.5', '1.5k', '2e3', 'x', ''].map(parseCpuMilli), [4000, 3500, 500, 1_500_000, 2_000_000, 0, 0]);
  });

  it('Auto with equal zones: every ready endpoint hinted for its own zone', () => {
    const store = new FakeStore();
    const t = cache(defaultNodes);
    const plan = run(makeService(auto), zoned(6), store, { topology: t });
    assert.deepEqual(hintsOf(store), { 'zone-a': 2, 'zone-b': 2, 'zone-c': 2 });
    for (const e of allEndpoints(store)) assert.deepEqual(e.hints, { forZones: [{ name: e.zone! }] });
    assert.ok(plan.events.some((e) => e.reason === 'TopologyAwareHintsEnabled'));
    assert.ok(t.hasPopulatedHints('ns/web'));
  });

  it('Auto proportional to CPU: endpoints of a crowded zone are lent to a zone with more CPU', () => {
    const nodes = [makeNode('node-a', 'zone-a', '8'), makeNode('node-b', 'zone-b', '2'), makeNode('node-c', 'zone-c', '2')];
    const store = new FakeStore();
    // 6 endpoints, all zone-a → a gets 4 (8/12), b 1, c 1.
    run(makeService(auto), pods(6, (p, i) => { p.spec.nodeName = i < 2 ? 'node-a' : i < 4 ? 'node-b' : 'node-c'; }), store, { topology: cache(nodes) }, nodes);
    assert.deepEqual(hintsOf(store), { 'zone-a': 4, 'zone-b': 1, 'zone-c': 1 });
  });

  const disabled: { name: string; nodes: NodeRecord[]; n: number; msg: RegExp }[] = [
    { name: 'fewer endpoints than zones', nodes: defaultNodes, n: 2, msg: /Insufficient number of endpoints \(2 endpoints, 3 zones\)/ },
    { name: 'one zone only', nodes: [makeNode('node-a', 'zone-a'), makeNode('node-b', 'zone-a'), makeNode('node-c', 'zone-a')], n: 6, msg: /Insufficient Node information|Nodes only ready in one zone/ },
    { name: 'a node without zone', nodes: [...defaultNodes, makeNode('node-d', undefined)], n: 6, msg: /Insufficient Node information/ },
    { name: 'a node without CPU', nodes: [makeNode('node-a', 'zone-a', '0'), makeNode('node-b', 'zone-b'), makeNode('node-c', 'zone-c')], n: 6, msg: /Insufficient Node information/ },
    { name: 'minimum per zone would overload', nodes: [makeNode('node-a', 'zone-a', '1'), makeNode('node-b', 'zone-b', '1'), makeNode('node-c', 'zone-c', '1')], n: 4, msg: /Unable to allocate minimum/ },
  ];
  for (const c of disabled) {
    it(`Auto disabled: ${c.name}`, () => {
      const store = new FakeStore();
      const t = cache(c.nodes);
      const plan = run(makeService(auto), zoned(c.n), store, { topology: t }, c.nodes);
      assert.deepEqual(hintsOf(store), {});
      assert.ok(plan.events.some((e) => e.reason === 'TopologyAwareHintsDisabled' && c.msg.test(e.message)), JSON.stringify(plan.events));
    });
  }

  it('not-ready and control-plane nodes do not count', () => {
    const t = cache([makeNode('node-a', 'zone-a'), makeNode('node-b', 'zone-b', '4', false),
      stripNode({ metadata: { name: 'cp', labels: { 'node-role.kubernetes.io/control-plane': '', 'topology.kubernetes.io/zone': 'zone-c' } }, status: { allocatable: { cpu: '4' }, conditions: [{ type: 'Ready', status: 'True' }] } } as never)]);
    assert.equal(t.zoneRatios(), undefined); // only one zone left
  });

  it('endpoint without zone disables hints', () => {
    const nodes = [...defaultNodes, makeNode('node-x', undefined)];
    const t = new TopologyCache();
    t.setNodes(defaultNodes); // the cache saw only zoned nodes
    const store = new FakeStore();
    const plan = run(makeService(auto), [...zoned(6), makePod('nozone', (p) => { p.spec.nodeName = 'node-x'; })], store, { topology: t }, nodes);
    assert.deepEqual(hintsOf(store), {});
    assert.ok(plan.events.some((e) => /do not have a zone/.test(e.message)));
  });

  it('hints are removed (one write per slice) when the annotation goes', () => {
    const store = new FakeStore();
    const t = cache(defaultNodes);
    run(makeService(auto), zoned(6), store, { topology: t });
    store.resetWrites();
    const plan = run(makeService(), zoned(6), store, { topology: t });
    assert.deepEqual(writes(plan), { create: 0, update: 1, delete: 0 });
    assert.deepEqual(hintsOf(store), {});
    assert.ok(plan.events.some((e) => e.reason === 'TopologyAwareHintsDisabled'));
    assert.equal(t.hasPopulatedHints('ns/web'), false);
  });

  it('stable hints: a second sync writes nothing; a node change reports the overloaded Service', () => {
    const store = new FakeStore();
    const t = cache(defaultNodes);
    const ps = zoned(6);
    run(makeService(auto), ps, store, { topology: t });
    assert.deepEqual(writes(run(makeService(auto), ps, store, { topology: t })), { create: 0, update: 0, delete: 0 });
    assert.deepEqual(t.overloadedServices(), []);
    // zone-c's node gets much bigger: 2 hints there are now too few.
    t.setNodes([makeNode('node-a', 'zone-a'), makeNode('node-b', 'zone-b'), makeNode('node-c', 'zone-c', '40')]);
    assert.deepEqual(t.overloadedServices(), ['ns/web']);
  });

  const tdCases: { td: string; nodeHints: boolean }[] = [
    { td: 'PreferClose', nodeHints: false }, { td: 'PreferSameZone', nodeHints: false }, { td: 'PreferSameNode', nodeHints: true },
  ];
  for (const c of tdCases) {
    it(`trafficDistribution ${c.td}: own-zone hints${c.nodeHints ? ' and node hints' : ''}, regardless of CPU`, () => {
      const store = new FakeStore();
      run(makeService((s) => { s.spec.trafficDistribution = c.td; }), zoned(2), store, { topology: cache(defaultNodes) });
      for (const e of allEndpoints(store)) {
        assert.deepEqual(e.hints, { forZones: [{ name: e.zone! }], ...(c.nodeHints ? { forNodes: [{ name: e.nodeName! }] } : {}) });
      }
    });
  }

  it('trafficDistribution: not-ready endpoints get no hints; unset removes hints', () => {
    const store = new FakeStore();
    const svc = makeService((s) => { s.spec.trafficDistribution = 'PreferClose'; });
    run(svc, [makePod('r'), makePod('n', (p) => { p.status.conditions[0].status = 'False'; })], store, { topology: cache(defaultNodes) });
    assert.ok(byPod(store, 'r')!.hints);
    assert.equal(byPod(store, 'n')!.hints, undefined);
    const plan = run(makeService(), [makePod('r2')], store, { topology: cache(defaultNodes) });
    assert.ok(plan.update.length + plan.create.length >= 1);
    assert.deepEqual(hintsOf(store), {});
  });

  it('the annotation wins over trafficDistribution', () => {
    const store = new FakeStore();
    const nodes = [makeNode('node-a', 'zone-a', '8'), makeNode('node-b', 'zone-b', '2'), makeNode('node-c', 'zone-c', '2')];
    run(makeService((s) => { auto(s); s.spec.trafficDistribution = 'PreferClose'; }),
      pods(6, (p, i) => { p.spec.nodeName = i < 2 ? 'node-a' : i < 4 ? 'node-b' : 'node-c'; }), store, { topology: cache(nodes) }, nodes);
    assert.deepEqual(hintsOf(store), { 'zone-a': 4, 'zone-b': 1, 'zone-c': 1 });
  });

  it('reconcileTrafficDistributionHints leaves correct unchanged slices alone', () => {
    const s: EndpointSlice = { metadata: { name: 's' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], zone: 'z', conditions: { ready: true }, hints: { forZones: [{ name: 'z' }] } }] };
    const r = reconcileTrafficDistributionHints('PreferClose', [], [], [s]);
    assert.equal(r.toUpdate.length, 0);
    const r2 = reconcileTrafficDistributionHints('PreferSameNode', [], [], [{ ...s, endpoints: [{ ...s.endpoints![0]!, nodeName: 'n' }] }]);
    assert.equal(r2.toUpdate.length, 1);
    assert.deepEqual(r2.toUpdate[0]!.endpoints![0]!.hints, { forZones: [{ name: 'z' }], forNodes: [{ name: 'n' }] });
  });
});

// ---- trackers -------------------------------------------------------------------------------------------

describe('endpointslice trackers', () => {
  const slice = (uid: string, generation: number): EndpointSlice =>
    ({ metadata: { uid, generation, namespace: 'ns', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4' });

  it('EndpointSliceTracker: stale when the cache lags behind the controller\'s writes', () => {
    const t = new EndpointSliceTracker();
    const svc = makeService();
    assert.equal(t.staleSlices(svc, []), false);
    t.update(slice('a', 2));
    assert.equal(t.staleSlices(svc, []), true, 'written slice missing from the cache');
    assert.equal(t.staleSlices(svc, [slice('a', 1)]), true, 'older generation');
    assert.equal(t.staleSlices(svc, [slice('a', 2)]), false);
    assert.equal(t.shouldSync(slice('a', 2)), false, 'own write');
    assert.equal(t.shouldSync(slice('a', 3)), true, 'someone else changed it');
    t.expectDeletion(slice('a', 2));
    assert.equal(t.staleSlices(svc, [slice('a', 2)]), true, 'deleted but still cached');
    assert.equal(t.handleDeletion(slice('a', 2)), true);
    assert.equal(t.staleSlices(svc, []), false);
    t.update(slice('b', 1));
    assert.equal(t.handleDeletion(slice('b', 1)), false, 'unexpected deletion');
    // A recreated Service (new uid) starts afresh.
    t.update(slice('c', 1));
    assert.equal(t.staleSlices(makeService((s) => { s.metadata.uid = 'other'; }), []), false);
  });

  it('TriggerTimeTracker: creation time first, then the earliest changed readiness', () => {
    const t = new TriggerTimeTracker();
    const svc = makeService();
    const p1 = makePod('t1', (p) => { p.status.conditions[0].lastTransitionTime = '2024-01-01T00:05:00Z'; });
    const p2 = makePod('t2', (p) => { p.status.conditions[0].lastTransitionTime = '2024-01-01T00:06:00Z'; });
    assert.equal(t.compute('ns', svc, [p1]), Date.parse('2024-01-01T00:00:00Z'));
    assert.equal(t.compute('ns', svc, [p1]), undefined);
    assert.equal(t.compute('ns', svc, [p1, p2]), Date.parse('2024-01-01T00:06:00Z'));
    const p1b = makePod('t1', (p) => { p.status.conditions[0].lastTransitionTime = '2024-01-01T00:07:00Z'; });
    const p2b = makePod('t2', (p) => { p.status.conditions[0].lastTransitionTime = '2024-01-01T00:08:00Z'; });
    assert.equal(t.compute('ns', svc, [p1b, p2b]), Date.parse('2024-01-01T00:07:00Z'));
  });
});

// ---- legacy Endpoints ----------------------------------------------------------------------------------

describe('endpoints controller (core/v1 Endpoints)', () => {
  it('ready and not-ready addresses, repacked by port set', () => {
    const svc = makeService((s) => { s.spec.ports = [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' }, { name: 'm', protocol: 'TCP', port: 9, targetPort: 9100 }]; });
    const ps = [
      makePod('a', (p) => { p.status.podIPs = [{ ip: '10.244.0.2' }]; }),
      makePod('b', (p) => { p.status.podIPs = [{ ip: '10.244.0.3' }]; p.status.conditions[0].status = 'False'; }),
      makePod('c', (p) => { p.status.podIPs = [{ ip: '10.244.0.4' }]; p.spec.containers[0].ports = []; }),
      makePod('t', (p) => { p.status.podIPs = [{ ip: '10.244.0.5' }]; p.metadata.deletionTimestamp = '2024-01-01T00:00:00Z'; }),
    ];
    const ss = computeSubsets(svc, ps);
    // a and b offer both ports, c only the numeric one: two address sets, two subsets. The
    // terminating pod is left out.
    assert.equal(ss.length, 2);
    const http = ss.find((s) => s.ports?.[0]?.name === 'http')!;
    assert.deepEqual(http.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    assert.deepEqual(http.addresses?.map((a) => a.ip), ['10.244.0.2']);
    assert.deepEqual(http.notReadyAddresses?.map((a) => a.ip), ['10.244.0.3']);
    const m = ss.find((s) => s.ports?.[0]?.name === 'm')!;
    assert.deepEqual(m.ports, [{ name: 'm', port: 9100, protocol: 'TCP' }]);
    assert.deepEqual(m.addresses?.map((a) => a.ip), ['10.244.0.2', '10.244.0.4']);
    assert.deepEqual(m.notReadyAddresses?.map((a) => a.ip), ['10.244.0.3']);
    assert.deepEqual(http.addresses![0]!.targetRef, { kind: 'Pod', namespace: 'ns', name: 'a', uid: 'uid-a' });
  });

  it('headless Service without ports keeps its addresses; headless label', () => {
    const svc = makeService((s) => { s.spec.clusterIP = 'None'; s.spec.ports = []; });
    const ep = desiredEndpoints(svc, [makePod('h', (p) => { p.spec.hostname = 'h'; p.spec.subdomain = 'web'; })], undefined, undefined)!;
    assert.equal(ep.subsets!.length, 1);
    assert.equal(ep.subsets![0]!.addresses![0]!.hostname, 'h');
    assert.equal(ep.subsets![0]!.ports, undefined);
    assert.equal(ep.metadata.labels!['service.kubernetes.io/headless'], '');
  });

  it('no write when nothing changed; a write when a pod flips', () => {
    const svc = makeService();
    const ps = pods(3);
    const first = desiredEndpoints(svc, ps, undefined, Date.parse('2024-01-01T00:00:00Z'))!;
    assert.equal(first.metadata.annotations!['endpoints.kubernetes.io/last-change-trigger-time'], '2024-01-01T00:00:00Z');
    const stored: EndpointsObj = JSON.parse(JSON.stringify({ ...first, metadata: { ...first.metadata, resourceVersion: '5' } }));
    assert.equal(desiredEndpoints(svc, ps, stored, undefined), undefined);
    const flipped = ps.map((p, i) => (i === 0 ? { ...p, status: { ...p.status, ready: false } } : p));
    const next = desiredEndpoints(svc, flipped, stored, undefined)!;
    assert.equal(next.subsets![0]!.notReadyAddresses!.length, 1);
    assert.equal(next.metadata.resourceVersion, '5');
  });

  it('truncates to 1000 addresses with the over-capacity annotation', () => {
    const ps = pods(1100, (p, i) => { p.status.podIPs = [{ ip: `10.244.${i >> 8}.${i & 255}` }]; });
    const ep = desiredEndpoints(makeService(), ps, undefined, undefined)!;
    const n = ep.subsets!.reduce((k, s) => k + (s.addresses?.length ?? 0), 0);
    assert.equal(n, MAX_CAPACITY);
    assert.equal(ep.metadata.annotations!['endpoints.kubernetes.io/over-capacity'], 'truncated');
  });
});

// ---- mirroring --------------------------------------------------------------------------------------------

describe('endpointslice mirroring', () => {
  const endpoints = (tweak: (e: Raw) => void = () => undefined): EndpointsObj => {
    const e: Raw = {
      apiVersion: 'v1', kind: 'Endpoints',
      metadata: { name: 'ext', namespace: 'ns', uid: 'ep-uid', labels: { team: 'x' }, annotations: { note: 'y', 'endpoints.kubernetes.io/last-change-trigger-time': 'z' } },
      subsets: [{ addresses: [{ ip: '192.0.2.1' }, { ip: '192.0.2.2' }], notReadyAddresses: [{ ip: '2001:db8::1' }], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] }],
    };
    tweak(e);
    return e as EndpointsObj;
  };

  it('mirrors per address family, with labels, annotations and owner', () => {
    const plan = mirrorEndpoints(endpoints(), []);
    assert.equal(plan.create.length, 2);
    const v4 = plan.create.find((s) => s.addressType === 'IPv4')!;
    assert.deepEqual(v4.endpoints!.map((e) => [e.addresses[0], e.conditions?.ready]), [['192.0.2.1', true], ['192.0.2.2', true]]);
    assert.deepEqual(v4.metadata.labels, { team: 'x', 'kubernetes.io/service-name': 'ext', 'endpointslice.kubernetes.io/managed-by': 'endpointslicemirroring-controller.k8s.io' });
    assert.deepEqual(v4.metadata.annotations, { note: 'y' });
    assert.equal(v4.metadata.ownerReferences![0]!.kind, 'Endpoints');
    const v6 = plan.create.find((s) => s.addressType === 'IPv6')!;
    assert.deepEqual(v6.endpoints!.map((e) => e.conditions?.ready), [false]);
  });

  it('no writes when the mirror is up to date; invalid IPs and overflow are skipped', () => {
    const plan = mirrorEndpoints(endpoints(), []);
    const existing = plan.create.map((s, i) => ({ ...s, metadata: { ...s.metadata, name: `ext-${i}`, resourceVersion: '1' } }));
    const again = mirrorEndpoints(endpoints(), existing);
    assert.deepEqual([again.create.length, again.update.length, again.delete.length], [0, 0, 0]);
    const bad = mirrorEndpoints(endpoints((e) => { e.subsets[0].addresses.unshift({ ip: 'not-an-ip' }); }), [], 2);
    assert.equal(bad.invalid, 1);
    assert.equal(bad.skipped, 2); // the invalid one and the IPv6 one past the maximum of 2
  });
});
