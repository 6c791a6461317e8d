// End to end: the Service registry of `podnet apiserver` (a real child process on loopback)
// driven with the real kubectl: ClusterIP/NodePort allocation for every Service type, dual
// stack, requested addresses and conflicts, type changes, IPAddress records, ServiceCIDRs and
// their finalizer, a full range, default/kubernetes, and kill -9 during a stream of creates
// followed by a restart (no duplicate and no orphan allocation).
//
// Address plan (API objects only; nothing is configured on any interface or routed):
//   services 10.96.0.0/16 and fd00:10:96::/112, node ports 30000-30099, advertise address
//   192.0.2.10 (TEST-NET-1); an added ServiceCIDR 10.100.0.0/24; a second server with the
//   tiny range 10.0.0.0/29 for the full-range case. Data dirs in /tmp/podnet-e2e-*.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TestApiServer, haveKubectl, isRoot, waitFor } from './harness.js';

const skip = !isRoot() ? 'needs root (the e2e suites run as root)' : !haveKubectl() ? 'needs kubectl' : false;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- API JSON read loosely
type J = Record<string, any>;

const NS = 'pna-svc';
const RANGES = '10.96.0.0/16,fd00:10:96::/112';

/** A Service manifest with the few fields a test cares about set by `tweak`. */
function makeService(name: string, tweak: (spec: J) => void = () => {}): J {
  const spec: J = { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] };
  tweak(spec);
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec };
}

const uniq = <T>(xs: T[]) => new Set(xs).size === xs.length;

describe('service registry', { skip }, () => {
  const srv = new TestApiServer();
  const k = (...args: string[]) => srv.k(args);
  const json = (...args: string[]): J => JSON.parse(k(...args, '-o', 'json'));
  const create = (o: J) => srv.k(['create', '-f', '-'], JSON.stringify(o));
  const svc = (name: string): J => json('get', 'service', '-n', NS, name);
  const ipAddresses = (): Map<string, J> => new Map(json('get', 'ipaddresses').items.map((o: J) => [o.metadata.name, o]));
  /** POST through the API to read the exact Status message of a refused create. */
  const refused = async (o: J): Promise<J> => {
    const r = await srv.request('POST', `/api/v1/namespaces/${NS}/services`, o);
    assert.notEqual(r.status, 201, `${o.metadata.name} was created`);
    return { code: r.status, ...JSON.parse(r.body) };
  };

  before(async () => {
    await srv.start(0, ['--no-controllers', '--service-cluster-ip-range', RANGES, '--service-node-port-range', '30000-30099',
      '--advertise-address', '192.0.2.10']);
    k('create', 'namespace', NS);
  });
  after(async () => { await srv.destroy(); });

  it('publishes default/kubernetes, its endpoints and the default ServiceCIDR', async () => {
    const port = Number(new URL(srv.url).port);
    const kube = json('get', 'service', '-n', 'default', 'kubernetes');
    assert.deepEqual(kube.spec.clusterIPs, ['10.96.0.1']);
    assert.deepEqual(kube.spec.ports, [{ name: 'https', port: 443, protocol: 'TCP', targetPort: port }]);
    assert.deepEqual(kube.metadata.labels, { component: 'apiserver', provider: 'kubernetes' });
    const ep = await waitFor(() => { try { return json('get', 'endpoints', '-n', 'default', 'kubernetes'); } catch { return undefined; } }, 'kubernetes endpoints');
    assert.deepEqual(ep.subsets, [{ addresses: [{ ip: '192.0.2.10' }], ports: [{ name: 'https', port, protocol: 'TCP' }] }]);
    const slice = json('get', 'endpointslice', '-n', 'default', 'kubernetes');
    assert.equal(slice.metadata.labels['kubernetes.io/service-name'], 'kubernetes');
    assert.equal(slice.addressType, 'IPv4');
    assert.deepEqual(slice.endpoints.map((e: J) => [e.addresses, e.conditions.ready]), [[['192.0.2.10'], true]]);
    const cidr = json('get', 'servicecidr', 'kubernetes');
    assert.deepEqual(cidr.spec.cidrs, ['10.96.0.0/16', 'fd00:10:96::/112']);
    assert.deepEqual(cidr.metadata.finalizers, ['networking.k8s.io/service-cidr-finalizer']);
    assert.equal(cidr.status.conditions.find((c: J) => c.type === 'Ready')?.status, 'True');
    const rec = ipAddresses().get('10.96.0.1')!;
    assert.deepEqual(rec.spec.parentRef, { resource: 'services', namespace: 'default', name: 'kubernetes' });
    assert.equal(rec.metadata.labels['ipaddress.kubernetes.io/managed-by'], 'ipallocator.k8s.io');
    assert.match(k('get', 'ipaddress', '10.96.0.1'), /services\/default\/kubernetes/);
  });

  it('allocates for every type: ClusterIP, NodePort, LoadBalancer (+health check), headless, ExternalName', () => {
    create(makeService('c-ip'));
    create(makeService('c-np', (s) => { s.type = 'NodePort'; }));
    create(makeService('c-lb', (s) => { s.type = 'LoadBalancer'; s.externalTrafficPolicy = 'Local'; }));
    create(makeService('c-none', (s) => { s.clusterIP = 'None'; }));
    create(makeService('c-ext', (s) => { s.type = 'ExternalName'; s.externalName = 'example.com'; delete s.selector; }));
    const recs = ipAddresses();
    for (const name of ['c-ip', 'c-np', 'c-lb']) {
      const s = svc(name);
      assert.equal(s.spec.clusterIPs.length, 1, name);
      assert.match(s.spec.clusterIP, /^10\.96\./, name);
      assert.deepEqual(s.spec.ipFamilies, ['IPv4'], name);
      assert.equal(s.spec.ipFamilyPolicy, 'SingleStack', name);
      assert.equal(recs.get(s.spec.clusterIP)?.spec.parentRef.name, name, `IPAddress for ${name}`);
    }
    const np = svc('c-np').spec.ports[0].nodePort;
    const lb = svc('c-lb').spec;
    for (const p of [np, lb.ports[0].nodePort, lb.healthCheckNodePort]) assert.ok(p >= 30000 && p <= 30099, String(p));
    assert.ok(uniq([np, lb.ports[0].nodePort, lb.healthCheckNodePort]));
    assert.equal(svc('c-ip').spec.ports[0].nodePort, undefined);
    assert.deepEqual(svc('c-none').spec.clusterIPs, ['None']);
    assert.equal(svc('c-ext').spec.clusterIPs, undefined);
    // The table kubectl prints.
    assert.match(k('get', 'svc', '-n', NS, 'c-np'), new RegExp(`c-np\\s+NodePort\\s+10\\.96\\.\\S+\\s+<none>\\s+80:${np}/TCP`));
  });

  it('dual stack: Require, Prefer, IPv6-only single stack', () => {
    create(makeService('d-req', (s) => { s.ipFamilyPolicy = 'RequireDualStack'; }));
    create(makeService('d-pref6', (s) => { s.ipFamilyPolicy = 'PreferDualStack'; s.ipFamilies = ['IPv6']; }));
    create(makeService('d-six', (s) => { s.ipFamilies = ['IPv6']; }));
    const req = svc('d-req').spec;
    assert.deepEqual(req.ipFamilies, ['IPv4', 'IPv6']);
    assert.match(req.clusterIPs[0], /^10\.96\./);
    assert.match(req.clusterIPs[1], /^fd00:10:96::/);
    assert.deepEqual(svc('d-pref6').spec.ipFamilies, ['IPv6', 'IPv4']);
    assert.deepEqual(svc('d-six').spec.ipFamilyPolicy, 'SingleStack');
    assert.match(svc('d-six').spec.clusterIP, /^fd00:10:96::/);
    const recs = ipAddresses();
    assert.equal(recs.get(req.clusterIPs[1])?.metadata.labels['ipaddress.kubernetes.io/ip-family'], 'IPv6');
    // Downgrade: SingleStack drops and releases the secondary.
    k('patch', 'service', '-n', NS, 'd-req', '-p', '{"spec":{"ipFamilyPolicy":"SingleStack"}}');
    assert.deepEqual(svc('d-req').spec.clusterIPs, [req.clusterIPs[0]]);
    assert.equal(ipAddresses().has(req.clusterIPs[1]), false);
  });

  it('requested addresses and ports: honoured, or refused with upstream errors', async () => {
    create(makeService('s-ten', (s) => { s.clusterIP = '10.96.0.10'; }));
    assert.equal(svc('s-ten').spec.clusterIP, '10.96.0.10');
    const dup = await refused(makeService('s-dup', (s) => { s.clusterIP = '10.96.0.10'; }));
    assert.equal(dup.code, 422);
    assert.equal(dup.message, 'Service "s-dup" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.10"]: failed to allocate IP 10.96.0.10: provided IP is already allocated');
    const far = await refused(makeService('s-far', (s) => { s.clusterIP = '10.97.0.1'; }));
    assert.match(far.message, /failed to allocate IP 10\.97\.0\.1: the provided IP \(10\.97\.0\.1\) is not in the valid range\. The range of valid IPs is 10\.96\.0\.0\/16$/);
    const single = await refused(makeService('s-six', (s) => { s.clusterIP = '10.96.0.11'; s.ipFamilies = ['IPv6']; }));
    assert.match(single.message, /expected an IPv6 value as indicated by `ipFamilies\[0\]`/);
    // kubectl shows the same text.
    const r = srv.kubectl(['create', '-f', '-'], JSON.stringify(makeService('s-dup2', (s) => { s.clusterIP = '10.96.0.10'; })));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /provided IP is already allocated/);

    // A requested port from the static band (30000-30015 of 30000-30099), which dynamic
    // allocations never take: a port in the upper band may already hold an earlier test's Service.
    create(makeService('p-req', (s) => { s.type = 'NodePort'; s.ports = [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30010 }, { name: 'dns-tcp', port: 53, protocol: 'TCP', nodePort: 30010 }]; }));
    assert.deepEqual(svc('p-req').spec.ports.map((p: J) => p.nodePort), [30010, 30010]);
    const taken = await refused(makeService('p-dup', (s) => { s.type = 'NodePort'; s.ports = [{ port: 80, nodePort: 30010 }]; }));
    assert.equal(taken.message, 'Service "p-dup" is invalid: spec.ports[0].nodePort: Invalid value: 30010: provided port is already allocated');
    const out = await refused(makeService('p-out', (s) => { s.type = 'NodePort'; s.ports = [{ port: 80, nodePort: 31000 }]; }));
    assert.equal(out.message, 'Service "p-out" is invalid: spec.ports[0].nodePort: Invalid value: 31000: provided port is not in the valid range. The range of valid ports is 30000-30099');
    // Refused creates leave no record behind.
    assert.equal([...ipAddresses().values()].filter((o) => o.spec.parentRef.namespace === NS && /^s-|^p-/.test(o.spec.parentRef.name)).length, 2);
  });

  it('kubectl apply and replace without the allocated fields keep them', () => {
    const manifest = JSON.stringify(makeService('keep', (s) => { s.type = 'NodePort'; }));
    srv.k(['apply', '-f', '-'], manifest);
    const first = svc('keep').spec;
    srv.k(['apply', '-f', '-'], manifest);
    srv.k(['replace', '-f', '-'], manifest);
    const after = svc('keep').spec;
    assert.equal(after.clusterIP, first.clusterIP);
    assert.equal(after.ports[0].nodePort, first.ports[0].nodePort);
    k('delete', 'service', '-n', NS, 'keep');
  });

  it('type changes allocate and release: ClusterIP → NodePort → ExternalName → ClusterIP', () => {
    create(makeService('t'));
    const ip1 = svc('t').spec.clusterIP;
    k('patch', 'service', '-n', NS, 't', '-p', '{"spec":{"type":"NodePort"}}');
    const np = svc('t').spec.ports[0].nodePort;
    assert.ok(np >= 30000 && np <= 30099);
    assert.equal(svc('t').spec.clusterIP, ip1);
    k('patch', 'service', '-n', NS, 't', '-p', '{"spec":{"type":"ExternalName","externalName":"example.com"}}');
    const ext = svc('t').spec;
    assert.equal(ext.clusterIP, undefined);
    assert.equal(ext.ports[0].nodePort, undefined);
    assert.equal(ipAddresses().has(ip1), false, 'ClusterIP released');
    // The node port is free again: a Service may now ask for it.
    create(makeService('t-reuse', (s) => { s.type = 'NodePort'; s.ports = [{ port: 80, nodePort: np }]; }));
    k('patch', 'service', '-n', NS, 't', '-p', '{"spec":{"type":"ClusterIP","externalName":null}}');
    const back = svc('t').spec;
    assert.match(back.clusterIP, /^10\.96\./);
    assert.equal(ipAddresses().get(back.clusterIP)?.spec.parentRef.name, 't');
    k('delete', 'service', '-n', NS, 't', 't-reuse');
    assert.equal(ipAddresses().has(back.clusterIP), false, 'delete releases');
  });

  it('a ServiceCIDR extends the pool; deleting it waits for its last address', async () => {
    create({ apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'pna-extra' }, spec: { cidrs: ['10.100.0.0/24'] } });
    await waitFor(() => json('get', 'servicecidr', 'pna-extra').status?.conditions?.some((c: J) => c.type === 'Ready' && c.status === 'True'), 'pna-extra Ready');
    create(makeService('x', (s) => { s.clusterIP = '10.100.0.20'; }));
    k('delete', 'servicecidr', 'pna-extra', '--wait=false');
    const held = await waitFor(() => {
      const o = json('get', 'servicecidr', 'pna-extra');
      const ready = o.status?.conditions?.find((c: J) => c.type === 'Ready');
      return o.metadata.deletionTimestamp && ready?.status === 'False' ? ready : undefined;
    }, 'pna-extra Terminating');
    assert.equal(held.reason, 'Terminating');
    const blocked = await refused(makeService('x2', (s) => { s.clusterIP = '10.100.0.21'; }));
    assert.match(blocked.message, /is not in the valid range/);
    k('delete', 'service', '-n', NS, 'x');
    await waitFor(() => srv.kubectl(['get', 'servicecidr', 'pna-extra']).code !== 0, 'pna-extra gone');
  });

  it('a record deleted by hand while its Service lives is recreated at once', async () => {
    const ip = svc('c-np').spec.clusterIP;
    k('delete', 'ipaddress', ip);
    const rec = await waitFor(() => ipAddresses().get(ip), `IPAddress ${ip} recreated`, 5000, 100);
    assert.equal(rec.spec.parentRef.name, 'c-np');
  });

  it('kill -9 during a stream of creates, then restart: no duplicate, no orphan, no missing record', async () => {
    // A crash between the two writes of a create (record, then Service) or of a delete
    // (Service, then record) leaves a record no Service holds: simulate one for certain.
    const orphan = { apiVersion: 'networking.k8s.io/v1', kind: 'IPAddress', metadata: { name: '10.96.200.200', labels: { 'ipaddress.kubernetes.io/ip-family': 'IPv4', 'ipaddress.kubernetes.io/managed-by': 'ipallocator.k8s.io' } }, spec: { parentRef: { resource: 'services', namespace: NS, name: 'never-created' } } };
    create(orphan);

    let acked = 0;
    let stop = false;
    const loop = (async () => {
      for (let i = 0; i < 400 && !stop; i++) {
        const body = makeService(`k-${i}`, (s) => { if (i % 3 === 0) s.type = 'NodePort'; if (i % 5 === 0) s.ipFamilyPolicy = 'PreferDualStack'; });
        try {
          const r = await srv.request('POST', `/api/v1/namespaces/${NS}/services`, body);
          if (r.status === 201) acked++;
        } catch { break; } // the server is gone
      }
    })();
    await waitFor(() => acked >= 40, '40 creates acknowledged', 20_000, 20);
    await srv.kill9();
    stop = true;
    await loop;
    await srv.start(0, ['--no-controllers', '--service-cluster-ip-range', RANGES, '--service-node-port-range', '30000-30099',
      '--advertise-address', '192.0.2.10']);

    const check = () => {
      const services: J[] = json('get', 'services', '-A').items;
      const recs = ipAddresses();
      const held: string[] = [];
      const ports: number[] = [];
      for (const s of services) {
        const spec = s.spec;
        if (spec.type !== 'ExternalName' && spec.clusterIPs?.[0] !== 'None') {
          for (const ip of spec.clusterIPs ?? []) {
            held.push(ip);
            const rec = recs.get(ip);
            assert.ok(rec, `no IPAddress for ${ip} of ${s.metadata.namespace}/${s.metadata.name}`);
            assert.deepEqual([rec.spec.parentRef.namespace, rec.spec.parentRef.name], [s.metadata.namespace, s.metadata.name]);
          }
        }
        for (const p of new Set<number>((spec.ports ?? []).map((x: J) => x.nodePort).filter(Boolean))) ports.push(p);
        if (spec.healthCheckNodePort) ports.push(spec.healthCheckNodePort);
      }
      assert.ok(uniq(held), 'duplicate ClusterIP');
      assert.ok(uniq(ports), 'duplicate node port');
      const heldSet = new Set(held);
      for (const name of recs.keys()) assert.ok(heldSet.has(name), `orphan IPAddress ${name}`);
      return services.length;
    };
    const before = check();
    assert.ok(before >= 40 + 10);
    assert.equal(ipAddresses().has('10.96.200.200'), false);
    // Allocation after the restart goes on without colliding with what was stored.
    for (let i = 0; i < 10; i++) create(makeService(`after-${i}`, (s) => { s.type = 'NodePort'; }));
    check();
  });
});

describe('service registry: a full range', { skip }, () => {
  const srv = new TestApiServer();
  before(async () => { await srv.start(0, ['--no-controllers', '--service-cluster-ip-range', '10.0.0.0/29']); });
  after(async () => { await srv.destroy(); });

  it('hands out the last address, then says the range is full', async () => {
    // 10.0.0.0/29: 6 usable addresses, 10.0.0.1 is default/kubernetes.
    const post = (name: string) => srv.request('POST', '/api/v1/namespaces/default/services', { ...makeService(name), metadata: { name } });
    const got: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await post(`f-${i}`);
      assert.equal(r.status, 201, r.body);
      got.push(JSON.parse(r.body).spec.clusterIP);
    }
    assert.deepEqual(got.sort(), ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    const full = await post('f-full');
    assert.equal(full.status, 500);
    assert.equal(JSON.parse(full.body).message, 'Internal error occurred: failed to allocate a serviceIP: range is full');
    assert.equal((await srv.request('DELETE', '/api/v1/namespaces/default/services/f-2')).status, 200);
    assert.equal((await post('f-again')).status, 201);
  });

  it('refuses bad flags with one line naming the flag', () => {
    const bad = new TestApiServer();
    return bad.start(0, ['--service-cluster-ip-range', '10.96.0.0/16,10.97.0.0/16']).then(
      () => { throw new Error('started'); },
      (e: Error) => { assert.match(e.message, /--service-cluster-ip-range "10\.96\.0\.0\/16,10\.97\.0\.0\/16" has two IPv4 ranges: give one per family/); },
    ).finally(() => bad.destroy());
  });
});
