// Service ClusterIP / NodePort allocation without a server: the pure range allocators
// (src/net/allocator.ts), the Service allocation transactions against an in-memory IPAddress
// store (src/apiserver/services/alloc.ts, clusterip.ts), ipFamily defaulting (families.ts)
// and the repair plan (repair.ts).
//
// Address plan: services 10.96.0.0/16 and fd00:10:96::/112 (podnet's default); small ranges
// (10.0.0.0/28, /29, /30) where a test must fill one; node ports 30000-32767.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  AllocatorError, IPRangeAllocator, PortAllocator, PortOperation, ipRangeOffset, parsePortRange, portRangeOffset,
} from '../../src/net/allocator.js';
import { formatIP, mustParseCIDR } from '../../src/net/cidr.js';
import { StatusError } from '../../src/api/errors.js';
import type { KObject } from '../../src/api/meta.js';
import { defaultService } from '../../src/api/kinds/service.js';
import { ServiceAllocators } from '../../src/apiserver/services/alloc.js';
import { ClusterIPAllocator, type IPAddressWriter, ipAddressFor } from '../../src/apiserver/services/clusterip.js';
import { initIPFamilyFields } from '../../src/apiserver/services/families.js';
import { planIPRepair, rebuildNodePorts } from '../../src/apiserver/services/repair.js';
import { parseServiceClusterIPRanges } from '../../src/apiserver/services/config.js';

/** Deterministic "random": always the start of the band. */
const first = () => 0n;


function throwsKind(fn: () => unknown, kind: AllocatorError['kind'], message?: string | RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AllocatorError, String(e));
    assert.equal(e.kind, kind);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return true;
  });
}

describe('IP range allocator', () => {
  test('static band size: min(max(16, size/16), 256), none for 16 addresses or fewer', () => {
    const table: [string, bigint][] = [
      ['10.0.0.0/29', 0n], ['10.0.0.0/28', 0n], ['10.0.0.0/27', 16n], ['10.0.0.0/24', 16n], ['10.0.0.0/22', 64n],
      ['10.0.0.0/20', 256n], ['10.96.0.0/16', 256n], ['10.96.0.0/12', 256n], ['fd00:10:96::/112', 256n], ['fd00::/64', 256n],
    ];
    for (const [cidr, want] of table) assert.equal(ipRangeOffset(mustParseCIDR(cidr)), want, cidr);
  });

  test('usable addresses: no network address; no broadcast for IPv4, last address usable for IPv6', () => {
    const table: [string, string, string, bigint][] = [
      ['10.96.0.0/16', '10.96.0.1', '10.96.255.254', 65534n],
      ['10.0.0.0/30', '10.0.0.1', '10.0.0.2', 2n],
      ['10.0.0.0/31', '', '', 0n],
      ['fd00:10:96::/112', 'fd00:10:96::1', 'fd00:10:96::ffff', 65535n],
      ['fd00::/64', 'fd00::1', 'fd00::ffff:ffff:ffff:ffff', (1n << 64n) - 1n],
    ];
    for (const [cidr, lo, hi, size] of table) {
      const a = new IPRangeAllocator(cidr);
      assert.equal(a.size, size, cidr);
      if (!size) continue;
      assert.equal(formatIP({ family: a.family, value: a.first }), lo, cidr);
      assert.equal(formatIP({ family: a.family, value: a.last }), hi, cidr);
    }
  });

  test('dynamic allocation draws from the upper band first, then the lower', () => {
    const a = new IPRangeAllocator('10.0.0.0/27', { random: first }); // 30 usable, 16 static
    const got: string[] = [];
    for (let i = 0; i < 30; i++) got.push(formatIP(a.allocateNext()));
    assert.deepEqual(got.slice(0, 14), Array.from({ length: 14 }, (_, i) => `10.0.0.${17 + i}`));
    assert.deepEqual(got.slice(14), Array.from({ length: 16 }, (_, i) => `10.0.0.${1 + i}`));
    throwsKind(() => a.allocateNext(), 'Full', 'range is full');
    assert.equal(a.free, 0n);
  });

  test('random start probes forward and wraps within the band', () => {
    const a = new IPRangeAllocator('10.0.0.0/27', { random: (n) => n - 1n }); // start at the last address
    assert.equal(formatIP(a.allocateNext()), '10.0.0.30');
    assert.equal(formatIP(a.allocateNext()), '10.0.0.17'); // wrapped to the start of the upper band
  });

  test('static requests: in range, taken, network/broadcast and foreign addresses', () => {
    const a = new IPRangeAllocator('10.96.0.0/16');
    a.allocate('10.96.0.10');
    throwsKind(() => a.allocate('10.96.0.10'), 'Allocated', 'provided IP is already allocated');
    const outside = 'the provided IP (%s) is not in the valid range. The range of valid IPs is 10.96.0.0/16';
    for (const bad of ['10.97.0.1', '10.96.0.0', '10.96.255.255', 'fd00::1']) {
      throwsKind(() => a.allocate(bad), 'NotInRange', outside.replace('%s', bad));
    }
    assert.ok(a.has('10.96.0.10'));
    assert.equal(a.used, 1);
  });

  test('release frees; releasing twice or out of range is a no-op', () => {
    const a = new IPRangeAllocator('10.0.0.0/30', { random: first });
    const x = a.allocateNext();
    const y = a.allocateNext();
    throwsKind(() => a.allocateNext(), 'Full');
    assert.equal(a.release(x), true);
    assert.equal(a.release(x), false);
    assert.equal(a.release('192.0.2.1'), false);
    assert.deepEqual(a.allocateNext(), x);
    assert.ok(a.has(y));
  });

  test('a full static band does not stop dynamic allocation, and vice versa', () => {
    const a = new IPRangeAllocator('10.0.0.0/27', { random: first });
    for (let i = 1; i <= 16; i++) a.allocate(`10.0.0.${i}`);
    assert.equal(formatIP(a.allocateNext()), '10.0.0.17');
    for (let i = 18; i <= 30; i++) a.allocate(`10.0.0.${i}`);
    throwsKind(() => a.allocateNext(), 'Full');
  });

  test('IPv6 /64: allocations at random are distinct and inside the range', () => {
    const a = new IPRangeAllocator('fd00:10:96::/64');
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const x = formatIP(a.allocateNext());
      assert.ok(x.startsWith('fd00:10:96:0:') || x.startsWith('fd00:10:96::'), x);
      assert.ok(!seen.has(x), x);
      seen.add(x);
    }
    assert.equal(a.used, 2000);
    assert.ok(a.free > (1n << 63n));
  });

  test('memory is flat in range size: 200 allocators of a /12 cost about what /24s cost', () => {
    const measure = (cidr: string) => {
      const before = process.memoryUsage().heapUsed;
      const keep = Array.from({ length: 200 }, () => new IPRangeAllocator(cidr));
      for (const a of keep) for (let i = 0; i < 20; i++) a.allocateNext();
      return { bytes: process.memoryUsage().heapUsed - before, keep };
    };
    const small = measure('10.0.0.0/24');
    const big = measure('10.96.0.0/12');
    // A bitmap of a /12 is 128 KiB: 200 of them would be 25 MiB.
    assert.ok(big.bytes < 4 * 1024 * 1024, `200 /12 allocators used ${big.bytes} bytes`);
    assert.ok(big.keep.length === small.keep.length);
  });

  test('10,000 allocations from a /16 take well under a second', () => {
    const a = new IPRangeAllocator('10.96.0.0/16');
    const t0 = performance.now();
    for (let i = 0; i < 10_000; i++) a.allocateNext();
    const ms = performance.now() - t0;
    assert.equal(a.used, 10_000);
    assert.ok(ms < 1000, `${ms} ms`);
  });
});

describe('port allocator', () => {
  test('ranges parse and band sizes: min(max(16, size/32), 128)', () => {
    assert.deepEqual(parsePortRange('30000-32767'), { base: 30000, size: 2768 });
    assert.deepEqual(parsePortRange('30000'), { base: 30000, size: 1 });
    for (const bad of ['', 'a-b', '3-1', '1-70000', '30000-']) assert.throws(() => parsePortRange(bad), /port|LOW-HIGH/, bad);
    const table: [number, number][] = [[16, 0], [17, 16], [512, 16], [1024, 32], [2768, 86], [4096, 128], [20000, 128]];
    for (const [size, want] of table) assert.equal(portRangeOffset(size), want, String(size));
  });

  test('dynamic from the upper band first; static requests; errors as upstream', () => {
    const p = new PortAllocator('30000-30019', { random: first }); // 20 ports, 16 static
    assert.equal(p.allocateNext(), 30016);
    p.allocate(30000);
    assert.throws(() => p.allocate(30000), { message: 'provided port is already allocated' });
    assert.throws(() => p.allocate(29999), { message: 'provided port is not in the valid range. The range of valid ports is 30000-30019' });
    for (let i = 0; i < 3; i++) p.allocateNext();
    assert.equal(p.allocateNext(), 30001); // upper band full: lower band
    assert.equal(p.release(30001), true);
    assert.equal(p.release(30001), false);
  });

  test('operations: reservations undone on revert, releases deferred to commit, dry runs reserve nothing', () => {
    const p = new PortAllocator('30000-32767');
    p.allocate(30100);
    const op = new PortOperation(p);
    op.allocate(30200);
    const n = op.allocateNext();
    op.releaseDeferred(30100);
    assert.ok(p.has(30200) && p.has(n) && p.has(30100));
    op.revert();
    assert.ok(!p.has(30200) && !p.has(n) && p.has(30100));

    const op2 = new PortOperation(p);
    op2.allocate(30200);
    op2.releaseDeferred(30100);
    op2.commit();
    assert.ok(p.has(30200) && !p.has(30100));

    const dry = new PortOperation(p, true);
    dry.allocate(30300);
    assert.throws(() => dry.allocate(30300), { message: 'provided port is already allocated' });
    assert.throws(() => dry.allocate(30200), { message: 'provided port is already allocated' });
    dry.allocateNext();
    dry.commit();
    assert.equal(p.used, 1);
  });
});

// ---- Service allocation against an in-memory IPAddress store -------------------------------------

class FakeIPAddresses implements IPAddressWriter {
  objs = new Map<string, KObject>();
  async create(obj: KObject) {
    const name = obj.metadata.name!;
    if (this.objs.has(name)) throw new StatusError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code: 409, reason: 'AlreadyExists', message: 'exists' });
    this.objs.set(name, { ...structuredClone(obj), metadata: { ...obj.metadata, uid: `uid-${name}` } });
  }
  async get(name: string) { return this.objs.get(name); }
  async delete(name: string) { this.objs.delete(name); }
  owners() { return Object.fromEntries([...this.objs].map(([k, v]) => [k, (v.spec as { parentRef: { name: string } }).parentRef.name])); }
}

interface Setup { store: FakeIPAddresses; ips: ClusterIPAllocator; ports: PortAllocator; alloc: ServiceAllocators }

function setup(ranges = '10.96.0.0/16', portRange = '30000-32767'): Setup {
  const { ranges: cidrs, families } = parseServiceClusterIPRanges(ranges);
  const store = new FakeIPAddresses();
  const ips = new ClusterIPAllocator(store, families);
  ips.setServiceCIDRs([{ apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'kubernetes' }, spec: { cidrs } }]);
  const ports = new PortAllocator(portRange);
  return { store, ips, ports, alloc: new ServiceAllocators(ips, ports, families) };
}

/** A defaulted Service, as the storage hands it to the hooks. */
function makeService(name: string, tweak: (spec: Record<string, unknown>) => void = () => {}): KObject {
  const spec: Record<string, unknown> = { selector: { app: name }, ports: [{ name: 'http', port: 80 }] };
  tweak(spec);
  const o: KObject = { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name }, spec };
  if (typeof spec.clusterIP === 'string' && !spec.clusterIPs) spec.clusterIPs = [spec.clusterIP];
  defaultService(o);
  return o;
}

const spec = (o: KObject) => o.spec as Record<string, unknown> & { clusterIPs?: string[]; ipFamilies?: string[]; ports: Array<Record<string, unknown>> };

async function create(s: Setup, o: KObject, ok = true): Promise<KObject> {
  const txn = await s.alloc.allocateCreate(o, false);
  if (ok) await txn.commit(); else await txn.revert();
  return o;
}

async function update(s: Setup, o: KObject, old: KObject, ok = true): Promise<KObject> {
  const txn = await s.alloc.allocateUpdate(o, old, false);
  if (ok) await txn.commit(); else await txn.revert();
  return o;
}

async function rejects(p: Promise<unknown>, code: number, message: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof StatusError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

describe('service allocation', () => {
  test('ClusterIP gets an address and an IPAddress record; revert removes both', async () => {
    const s = setup();
    const a = await create(s, makeService('a'));
    const [addr] = spec(a).clusterIPs!;
    assert.equal(spec(a).clusterIP, addr);
    assert.deepEqual(spec(a).ipFamilies, ['IPv4']);
    assert.equal(spec(a).ipFamilyPolicy, 'SingleStack');
    assert.deepEqual(s.store.owners(), { [addr]: 'a' });
    assert.deepEqual(s.store.objs.get(addr)!.metadata.labels, { 'ipaddress.kubernetes.io/ip-family': 'IPv4', 'ipaddress.kubernetes.io/managed-by': 'ipallocator.k8s.io' });
    await create(s, makeService('b'), false);
    assert.deepEqual(Object.keys(s.store.owners()), [addr]);
  });

  test('requested addresses: honoured, taken, out of range, dry run', async () => {
    const s = setup();
    await create(s, makeService('dns', (x) => { x.clusterIP = '10.96.0.10'; }));
    await rejects(s.alloc.allocateCreate(makeService('dup', (x) => { x.clusterIP = '10.96.0.10'; }), false), 422,
      /^Service "dup" is invalid: spec\.clusterIPs: Invalid value: \["10\.96\.0\.10"\]: failed to allocate IP 10\.96\.0\.10: provided IP is already allocated$/);
    await rejects(s.alloc.allocateCreate(makeService('far', (x) => { x.clusterIP = '10.97.0.1'; }), false), 422,
      /failed to allocate IP 10\.97\.0\.1: the provided IP \(10\.97\.0\.1\) is not in the valid range\. The range of valid IPs is 10\.96\.0\.0\/16$/);
    const dry = makeService('dry', (x) => { x.clusterIP = '10.96.0.11'; });
    await (await s.alloc.allocateCreate(dry, true)).commit();
    assert.equal(s.store.objs.has('10.96.0.11'), false);
  });

  test('headless and ExternalName get no address', async () => {
    const s = setup();
    const h = await create(s, makeService('h', (x) => { x.clusterIP = 'None'; }));
    assert.deepEqual(spec(h).clusterIPs, ['None']);
    const e = await create(s, makeService('e', (x) => { x.type = 'ExternalName'; x.externalName = 'example.com'; }));
    assert.equal(spec(e).clusterIPs, undefined);
    assert.equal(s.store.objs.size, 0);
  });

  test('full range: an internal error naming it', async () => {
    const s = setup('10.0.0.0/30');
    await create(s, makeService('a'));
    await create(s, makeService('b'));
    await rejects(s.alloc.allocateCreate(makeService('c'), false), 500, /^Internal error occurred: failed to allocate a serviceIP: range is full$/);
  });

  test('a stale index costs a retry, never a duplicate', async () => {
    const s = setup('10.0.0.0/30');
    await s.store.create(ipAddressFor('10.0.0.1', 'IPv4', { namespace: 'x', name: 'someone' })); // not indexed
    const a = await create(s, makeService('a'));
    assert.deepEqual(spec(a).clusterIPs, ['10.0.0.2']);
  });

  test('ipFamily defaulting and policy errors (table)', () => {
    const single = { families: ['IPv4' as const] };
    const dual = { families: ['IPv4' as const, 'IPv6' as const] };
    const table: Array<{ name: string; cluster: typeof single | typeof dual; tweak: (x: Record<string, unknown>) => void; families?: string[]; policy?: string; err?: RegExp }> = [
      { name: 'single default', cluster: single, tweak: () => {}, families: ['IPv4'], policy: 'SingleStack' },
      { name: 'prefer dual on single', cluster: single, tweak: (x) => { x.ipFamilyPolicy = 'PreferDualStack'; }, families: ['IPv4'] },
      { name: 'require dual on single', cluster: single, tweak: (x) => { x.ipFamilyPolicy = 'RequireDualStack'; }, err: /this cluster is not configured for dual-stack services/ },
      { name: 'IPv6 on IPv4 cluster', cluster: single, tweak: (x) => { x.ipFamilies = ['IPv6']; }, err: /spec.ipFamilies\[0\].*not configured on this cluster/ },
      { name: 'IPv6 address on IPv4 cluster', cluster: single, tweak: (x) => { x.clusterIP = 'fd00::5'; x.clusterIPs = ['fd00::5']; }, err: /spec.clusterIPs\[0\].*IPv6 is not configured on this cluster/ },
      { name: 'headless selectorless on single', cluster: single, tweak: (x) => { x.clusterIP = 'None'; x.clusterIPs = ['None']; delete x.selector; }, families: ['IPv4', 'IPv6'], policy: 'RequireDualStack' },
      { name: 'prefer dual on dual', cluster: dual, tweak: (x) => { x.ipFamilyPolicy = 'PreferDualStack'; }, families: ['IPv4', 'IPv6'] },
      { name: 'require dual, IPv6 first', cluster: dual, tweak: (x) => { x.ipFamilyPolicy = 'RequireDualStack'; x.ipFamilies = ['IPv6']; }, families: ['IPv6', 'IPv4'] },
      { name: 'single with two families', cluster: dual, tweak: (x) => { x.ipFamilyPolicy = 'SingleStack'; x.ipFamilies = ['IPv4', 'IPv6']; }, err: /must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified/ },
      { name: 'family inferred from address', cluster: dual, tweak: (x) => { x.clusterIP = 'fd00:10:96::5'; x.clusterIPs = ['fd00:10:96::5']; }, families: ['IPv6'], policy: 'SingleStack' },
    ];
    for (const t of table) {
      const o = makeService('s', t.tweak);
      const errs = initIPFamilyFields(o, undefined, t.cluster);
      if (t.err) {
        assert.ok(errs.some((e) => t.err!.test(`${e.field}: ${String(e.detail)}`)), `${t.name}: ${JSON.stringify(errs)}`);
        continue;
      }
      assert.deepEqual(errs, [], t.name);
      if (t.families) assert.deepEqual(spec(o).ipFamilies, t.families, t.name);
      if (t.policy) assert.equal(spec(o).ipFamilyPolicy, t.policy, t.name);
    }
  });

  test('dual stack: both families allocated; downgrade releases the secondary at commit', async () => {
    const s = setup('10.96.0.0/16,fd00:10:96::/112');
    const d = await create(s, makeService('d', (x) => { x.ipFamilyPolicy = 'RequireDualStack'; }));
    const ips = spec(d).clusterIPs!;
    assert.equal(ips.length, 2);
    assert.match(ips[1], /^fd00:10:96::/);
    const down = structuredClone(d);
    spec(down).ipFamilyPolicy = 'SingleStack';
    const txn = await s.alloc.allocateUpdate(down, d, false);
    assert.deepEqual(spec(down).clusterIPs, [ips[0]]);
    assert.equal(s.store.objs.size, 2, 'nothing released before commit');
    await txn.commit();
    assert.deepEqual(Object.keys(s.store.owners()), [ips[0]]);
  });

  test('node ports: allocated, requested, shared by TCP and UDP of the same port, conflicts', async () => {
    const s = setup();
    const np = await create(s, makeService('np', (x) => {
      x.type = 'NodePort';
      x.ports = [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }, { name: 'web', port: 80, nodePort: 30080 }];
    }));
    const [udp, tcp, web] = spec(np).ports.map((p) => p.nodePort as number);
    assert.equal(udp, tcp);
    assert.equal(web, 30080);
    assert.ok(s.ports.has(udp) && s.ports.has(30080));
    await rejects(s.alloc.allocateCreate(makeService('clash', (x) => { x.type = 'NodePort'; x.ports = [{ port: 80, nodePort: 30080 }]; }), false), 422,
      /^Service "clash" is invalid: spec\.ports\[0\]\.nodePort: Invalid value: 30080: provided port is already allocated$/);
    await rejects(s.alloc.allocateCreate(makeService('low', (x) => { x.type = 'NodePort'; x.ports = [{ port: 80, nodePort: 80 }]; }), false), 422,
      /provided port is not in the valid range\. The range of valid ports is 30000-32767$/);
    assert.equal(s.ports.used, 2, 'failed creates leave nothing reserved');
  });

  test('LoadBalancer: node ports unless allocateLoadBalancerNodePorts is false; health check port for Local', async () => {
    const s = setup();
    const lb = await create(s, makeService('lb', (x) => { x.type = 'LoadBalancer'; x.externalTrafficPolicy = 'Local'; }));
    assert.ok((spec(lb).ports[0].nodePort as number) >= 30000);
    assert.ok((spec(lb).healthCheckNodePort as number) >= 30000);
    const bare = await create(s, makeService('bare', (x) => { x.type = 'LoadBalancer'; x.allocateLoadBalancerNodePorts = false; }));
    assert.equal(spec(bare).ports[0].nodePort, undefined);
    assert.equal(s.ports.used, 2);
    await s.alloc.releaseAll(lb);
    assert.equal(s.ports.used, 0);
  });

  test('type changes: ClusterIP → NodePort → ExternalName → ClusterIP allocate and release', async () => {
    const s = setup();
    const v1 = await create(s, makeService('t'));
    const ip1 = spec(v1).clusterIPs![0];

    const v2 = structuredClone(v1);
    spec(v2).type = 'NodePort';
    defaultService(v2);
    await update(s, v2, v1);
    const port = spec(v2).ports[0].nodePort as number;
    assert.ok(s.ports.has(port));
    assert.deepEqual(spec(v2).clusterIPs, [ip1]);

    const v3 = structuredClone(v2);
    Object.assign(spec(v3), { type: 'ExternalName', externalName: 'example.com' });
    for (const k of ['clusterIP', 'clusterIPs', 'ipFamilies', 'ipFamilyPolicy', 'externalTrafficPolicy', 'internalTrafficPolicy']) delete spec(v3)[k];
    for (const p of spec(v3).ports) delete p.nodePort;
    const txn = await s.alloc.allocateUpdate(v3, v2, false);
    assert.ok(s.store.objs.has(ip1) && s.ports.has(port), 'releases wait for commit');
    await txn.commit();
    assert.equal(s.store.objs.size, 0);
    assert.equal(s.ports.used, 0);

    const v4 = structuredClone(v3);
    spec(v4).type = 'ClusterIP';
    delete spec(v4).externalName;
    defaultService(v4);
    await update(s, v4, v3);
    assert.equal(spec(v4).clusterIPs!.length, 1);
    assert.deepEqual(Object.keys(s.store.owners()), spec(v4).clusterIPs);
  });

  test('a failed update gives back what it took and keeps what it would have released', async () => {
    const s = setup();
    const v1 = await create(s, makeService('f', (x) => { x.type = 'NodePort'; }));
    const old = spec(v1).ports[0].nodePort as number;
    const v2 = structuredClone(v1);
    spec(v2).ports = [{ name: 'other', port: 81, protocol: 'TCP', targetPort: 81 }];
    await update(s, v2, v1, false);
    assert.ok(s.ports.has(old));
    assert.equal(s.ports.used, 1);
  });
});

describe('repair plan', () => {
  const svc = (name: string, ips: string[], tweak: (x: Record<string, unknown>) => void = () => {}) =>
    makeService(name, (x) => { x.clusterIP = ips[0]; x.clusterIPs = ips; tweak(x); });
  const rec = (addr: string, owner: string, managed = true): KObject => {
    const o = ipAddressFor(addr, 'IPv4', { namespace: 'default', name: owner });
    if (!managed) o.metadata.labels = {};
    o.metadata.uid = `u-${addr}`;
    return o;
  };
  const cidrs = [mustParseCIDR('10.96.0.0/16')];

  test('missing records are created, orphans removed, foreign records left, out-of-range reported', () => {
    const plan = planIPRepair({
      services: [svc('a', ['10.96.0.5']), svc('b', ['10.96.0.6']), svc('c', ['10.99.0.1']), svc('h', ['None'])],
      ipAddresses: [rec('10.96.0.5', 'a'), rec('10.96.0.7', 'gone'), rec('10.96.0.8', 'mine', false), rec('10.96.0.9', 'gone')],
      cidrs, skip: new Set(['10.96.0.9']),
    });
    assert.deepEqual(plan.create, [{ ip: '10.96.0.6', family: 'IPv4', svc: { namespace: 'default', name: 'b' } }]);
    assert.deepEqual(plan.orphans, [{ name: '10.96.0.7', uid: 'u-10.96.0.7' }]);
    assert.deepEqual(plan.warnings, ['ClusterIP 10.99.0.1 of service default/c is not in any ServiceCIDR']);
  });

  test('a record naming another service than the holder is replaced', () => {
    const plan = planIPRepair({ services: [svc('b', ['10.96.0.5'])], ipAddresses: [rec('10.96.0.5', 'a')], cidrs });
    assert.deepEqual(plan.orphans.map((o) => o.name), ['10.96.0.5']);
    assert.deepEqual(plan.create.map((c) => c.svc.name), ['b']);
  });

  test('node ports rebuilt from services; duplicates reported', () => {
    const ports = new PortAllocator();
    const warnings = rebuildNodePorts([
      makeService('a', (x) => { x.type = 'NodePort'; x.ports = [{ port: 53, protocol: 'UDP', nodePort: 30053 }, { port: 53, protocol: 'TCP', nodePort: 30053 }]; }),
      makeService('b', (x) => { x.type = 'LoadBalancer'; x.externalTrafficPolicy = 'Local'; x.healthCheckNodePort = 31000; x.ports = [{ port: 80, nodePort: 30053 }]; }),
    ], ports);
    assert.deepEqual([...ports.allocated()].sort(), [30053, 31000]);
    assert.deepEqual(warnings, ['node port 30053 is held by both services default/a and default/b']);
  });
});

describe('flags', () => {
  test('service ranges: one or two families, canonical, IPv6 at least /64', () => {
    assert.deepEqual(parseServiceClusterIPRanges('10.96.0.1/16'), { ranges: ['10.96.0.0/16'], families: ['IPv4'] });
    assert.deepEqual(parseServiceClusterIPRanges('fd00:10:96::/112,10.96.0.0/16').families, ['IPv6', 'IPv4']);
    for (const [bad, msg] of [['10.96.0.0', /not a CIDR/], ['10.0.0.0/8,10.1.0.0/16', /two IPv4 ranges/], ['fd00::/48', /\/64 or longer/],
      ['10.0.0.0/31', /holds no address/], ['a,b,c', /more than two/]] as const) {
      assert.throws(() => parseServiceClusterIPRanges(bad), msg as RegExp, bad);
    }
  });
});


