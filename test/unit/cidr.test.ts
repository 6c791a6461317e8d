// IP/CIDR arithmetic and the bitmap allocators (src/net/cidr.ts).
// Address plan used here is podnet's default: pods 10.244.0.0/16 (a /24 per node) and
// fd00:10:244::/56 (a /64 per node); services 10.96.0.0/16 and fd00:10:96::/112.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddressAllocator, BitmapAllocator, SubnetAllocator, addressAt, addressIndex, canonicalCIDR, canonicalIP, cidrContains,
  cidrContainsCidr, cidrSize, cidrsOverlap, formatCIDR, formatIP, formatIPv6, ipFamilyOf, lastIP, mustParseCIDR, parseCIDR,
  parseIP, parseIPv4, parseIPv6, subnet, subnetCount, subnetIndex,
} from '../../src/net/cidr.js';

const C = (s: string) => mustParseCIDR(s);

describe('addresses', () => {
  test('IPv4 parse/format round trip and rejects', () => {
    assert.equal(parseIPv4('10.244.3.7'), 0x0af40307n);
    assert.equal(parseIPv4('255.255.255.255'), 0xffffffffn);
    assert.equal(formatIP({ family: 'IPv4', value: 0x0af40307n }), '10.244.3.7');
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-4', '1..3.4', ' 1.2.3.4', '1.2.3.4/8', 'a.b.c.d']) {
      assert.equal(parseIPv4(bad), undefined, bad);
      assert.equal(parseIP(bad), undefined, bad);
    }
  });

  test('IPv6 parse: compressed, full, embedded IPv4', () => {
    const table: [string, bigint][] = [
      ['::', 0n],
      ['::1', 1n],
      ['fd00:10:244::', 0xfd000010024400000000000000000000n],
      ['FD00:0010:0244:0000:0000:0000:0000:0001', 0xfd000010024400000000000000000001n],
      ['1:2:3:4:5:6:7:8', 0x00010002000300040005000600070008n],
      ['::ffff:10.0.0.1', 0xffff0a000001n],
      ['64:ff9b::192.0.2.33', 0x0064ff9b0000000000000000c0000221n],
      ['1::', 1n << 112n],
    ];
    for (const [s, v] of table) assert.equal(parseIPv6(s), v, s);
    for (const bad of ['', ':', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::', '1:2:3:4:5:6:7', 'fe80::1%eth0',
      '::1.2.3', '::256.1.1.1', ':1::', '1::2:', '1:2:3:4:5:6:7::8:9']) {
      assert.equal(parseIPv6(bad), undefined, bad);
    }
  });

  test('IPv6 formats canonically (RFC 5952)', () => {
    const table: [string, string][] = [
      ['FD00:0010:0244:0000:0000:0000:0000:0001', 'fd00:10:244::1'],
      ['0:0:0:0:0:0:0:0', '::'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'], // longest run wins
      ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'], // first run wins a tie
      ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'], // a single zero group is not compressed
      ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
      ['2001:db8::', '2001:db8::'],
    ];
    for (const [i, o] of table) assert.equal(canonicalIP(i), o, i);
    assert.equal(formatIPv6(1n), '::1');
  });

  test('family detection', () => {
    assert.equal(ipFamilyOf('10.0.0.1'), 'IPv4');
    assert.equal(ipFamilyOf('fd00::1'), 'IPv6');
    assert.equal(ipFamilyOf('10.244.0.0/16'), 'IPv4');
    assert.equal(ipFamilyOf('fd00:10:244::/56'), 'IPv6');
    assert.equal(ipFamilyOf('::ffff:1.2.3.4'), 'IPv6');
    assert.equal(ipFamilyOf('nope'), undefined);
    assert.equal(ipFamilyOf('10.0.0.0/33'), undefined);
  });
});

describe('CIDRs', () => {
  test('parse gives the canonical network; strict mode refuses host bits', () => {
    const c = parseCIDR('10.244.1.7/16')!;
    assert.equal(formatCIDR(c), '10.244.0.0/16');
    assert.equal(formatIP({ family: 'IPv4', value: c.ip }), '10.244.1.7');
    assert.equal(canonicalCIDR('FD00:10:244:0:0::5/56'), 'fd00:10:244::/56');
    assert.equal(canonicalCIDR('0.0.0.0/0'), '0.0.0.0/0');
    assert.equal(canonicalCIDR('::/0'), '::/0');
    assert.throws(() => mustParseCIDR('10.244.1.7/16', { strict: true }), /host bits set; did you mean 10.244.0.0\/16/);
    assert.doesNotThrow(() => mustParseCIDR('10.244.0.0/16', { strict: true }));
    for (const bad of ['10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '::/129', '10.0.0.0/08', '10.0.0.0/-1', 'x/8', '10.0.0.0/8/8']) {
      assert.equal(parseCIDR(bad), undefined, bad);
    }
    assert.throws(() => mustParseCIDR('10.0.0.0/33'), /invalid CIDR address: 10.0.0.0\/33/);
  });

  test('contains and overlaps', () => {
    const pods = C('10.244.0.0/16');
    assert.ok(cidrContains(pods, '10.244.255.255'));
    assert.ok(!cidrContains(pods, '10.245.0.0'));
    assert.ok(!cidrContains(pods, 'fd00::1'), 'other family');
    assert.ok(!cidrContains(pods, 'garbage'));
    assert.ok(cidrContains(C('fd00:10:244::/56'), 'fd00:10:244:ff::1'));
    assert.ok(!cidrContains(C('fd00:10:244::/56'), 'fd00:10:244:100::'));
    assert.ok(cidrContainsCidr(pods, C('10.244.7.0/24')));
    assert.ok(!cidrContainsCidr(C('10.244.7.0/24'), pods));
    assert.ok(cidrsOverlap(pods, C('10.0.0.0/8')));
    assert.ok(cidrsOverlap(C('10.0.0.0/8'), pods));
    assert.ok(!cidrsOverlap(pods, C('10.96.0.0/16')));
    assert.ok(!cidrsOverlap(pods, C('::/0')));
    assert.ok(cidrsOverlap(C('0.0.0.0/0'), C('198.18.0.0/24')));
  });

  test('subnets: the n-th /24 of a /16 and /64 of a /56, and back', () => {
    assert.equal(subnetCount(C('10.244.0.0/16'), 24), 256n);
    assert.equal(formatCIDR(subnet(C('10.244.0.0/16'), 24, 0)), '10.244.0.0/24');
    assert.equal(formatCIDR(subnet(C('10.244.0.0/16'), 24, 3)), '10.244.3.0/24');
    assert.equal(formatCIDR(subnet(C('10.244.0.0/16'), 24, 255)), '10.244.255.0/24');
    assert.throws(() => subnet(C('10.244.0.0/16'), 24, 256), /has no \/24 subnet number 256/);
    assert.throws(() => subnet(C('10.244.0.0/16'), 8, 0), /cannot split/);
    assert.equal(formatCIDR(subnet(C('fd00:10:244::/56'), 64, 0)), 'fd00:10:244::/64');
    assert.equal(formatCIDR(subnet(C('fd00:10:244::/56'), 64, 1)), 'fd00:10:244:1::/64');
    assert.equal(formatCIDR(subnet(C('fd00:10:244::/56'), 64, 255)), 'fd00:10:244:ff::/64');
    assert.equal(subnetIndex(C('fd00:10:244::/56'), C('fd00:10:244:ff::/64')), 255n);
    assert.equal(subnetIndex(C('10.244.0.0/16'), C('10.244.9.0/24')), 9n);
    assert.equal(subnetIndex(C('10.244.0.0/16'), C('10.245.9.0/24')), undefined);
    assert.equal(formatCIDR(subnet(C('10.0.0.0/8'), 8, 0)), '10.0.0.0/8');
  });

  test('the k-th address of a subnet', () => {
    const n = C('10.244.3.0/24');
    assert.equal(formatIP(addressAt(n, 0)), '10.244.3.0');
    assert.equal(formatIP(addressAt(n, 1)), '10.244.3.1');
    assert.equal(formatIP(addressAt(n, -1)), '10.244.3.255');
    assert.equal(formatIP(lastIP(n)), '10.244.3.255');
    assert.throws(() => addressAt(n, 256));
    assert.equal(formatIP(addressAt(C('10.96.0.0/16'), 10)), '10.96.0.10');
    assert.equal(formatIP(addressAt(C('fd00:10:96::/112'), 10)), 'fd00:10:96::a');
    assert.equal(formatIP(addressAt(C('fd00:10:244:1::/64'), 1)), 'fd00:10:244:1::1');
    assert.equal(addressIndex(n, '10.244.3.77'), 77n);
    assert.equal(addressIndex(n, '10.244.4.77'), undefined);
    assert.equal(cidrSize(C('fd00:10:244::/56')), 1n << 72n);
  });
});

describe('allocators', () => {
  test('bitmap: next free is round robin, specific, release, full', () => {
    const b = new BitmapAllocator(4);
    assert.equal(b.allocateNext(), 0);
    assert.equal(b.allocate(2), true);
    assert.equal(b.allocate(2), false);
    assert.equal(b.allocateNext(), 1);
    assert.equal(b.allocateNext(), 3);
    assert.equal(b.allocateNext(), undefined);
    assert.equal(b.free, 0);
    assert.equal(b.release(1), true);
    assert.equal(b.release(1), false);
    assert.equal(b.allocateNext(), 1);
    assert.throws(() => b.allocate(4), /out of range/);
    // A released value is not handed out again at once while others are free.
    const r = new BitmapAllocator(3);
    assert.equal(r.allocateNext(), 0);
    r.release(0);
    assert.equal(r.allocateNext(), 1);
  });

  test('bitmap: snapshot and restore', () => {
    const b = new BitmapAllocator(13);
    for (const i of [0, 5, 12]) b.allocate(i);
    const snap = b.snapshot();
    assert.match(snap, /^13:/);
    const c = new BitmapAllocator(13);
    c.restore(snap);
    assert.deepEqual([...c.values()], [0, 5, 12]);
    assert.equal(c.count, 3);
    assert.throws(() => new BitmapAllocator(14).restore(snap), /does not fit/);
    assert.throws(() => c.restore('13:////'), /length|beyond/);
    assert.throws(() => c.restore('13:AP8='), /beyond the range/);
  });

  test('subnets of the pod range, both families', () => {
    const v4 = new SubnetAllocator('10.244.0.0/16', 24);
    assert.equal(v4.size, 256);
    assert.equal(formatCIDR(v4.allocateNext()!), '10.244.0.0/24');
    assert.equal(v4.allocate('10.244.1.0/24'), true);
    assert.equal(formatCIDR(v4.allocateNext()!), '10.244.2.0/24');
    assert.equal(v4.has('10.244.1.0/24'), true);
    assert.equal(v4.fits('10.244.1.0/25'), false);
    assert.equal(v4.fits('10.245.1.0/24'), false);
    assert.throws(() => v4.allocate('10.245.0.0/24'), /is not a \/24 subnet of 10.244.0.0\/16/);
    assert.equal(v4.release('10.244.1.0/24'), true);
    assert.equal(v4.has('10.244.1.0/24'), false);
    const v6 = new SubnetAllocator('fd00:10:244::/56', 64);
    assert.equal(v6.size, 256);
    assert.equal(formatCIDR(v6.allocateNext()!), 'fd00:10:244::/64');
    assert.equal(formatCIDR(v6.allocateNext()!), 'fd00:10:244:1::/64');
    const copy = new SubnetAllocator('fd00:10:244::/56', 64);
    copy.restore(v6.snapshot());
    assert.deepEqual([...copy.allocated()].map(formatCIDR), ['fd00:10:244::/64', 'fd00:10:244:1::/64']);
    assert.throws(() => copy.restore(v4.snapshot()), /snapshot is not of fd00:10:244::\/56\/64/);
    assert.throws(() => new SubnetAllocator('10.0.0.0/8', 30), /differ by more than 16 bits/);
    assert.throws(() => new SubnetAllocator('10.244.0.0/16', 8), /smaller than the range/);
  });

  test('exhaustion of a small range', () => {
    const a = new SubnetAllocator('10.244.0.0/23', 24);
    assert.ok(a.allocateNext());
    assert.ok(a.allocateNext());
    assert.equal(a.allocateNext(), undefined);
  });

  test('addresses of a subnet: network and broadcast reserved', () => {
    const a = new AddressAllocator('10.244.3.0/30');
    assert.equal(a.size, 2);
    assert.equal(formatIP(a.allocateNext()!), '10.244.3.1');
    assert.equal(formatIP(a.allocateNext()!), '10.244.3.2');
    assert.equal(a.allocateNext(), undefined);
    assert.equal(a.release('10.244.3.0'), false, 'reserved stays reserved');
    assert.equal(a.release('10.244.3.1'), true);
    assert.throws(() => a.allocate('10.244.4.1'), /not in the range/);
    const g = new AddressAllocator('10.244.3.0/24', { reserved: [1] });
    assert.equal(formatIP(g.allocateNext()!), '10.244.3.2');
    assert.equal(g.allocate('10.244.3.200'), true);
    const h = new AddressAllocator('10.244.3.0/24', { reserved: [1] });
    h.restore(g.snapshot());
    assert.deepEqual([...h.allocated()].map(formatIP), ['10.244.3.2', '10.244.3.200']);
    // IPv6: only the subnet-router anycast address (offset 0) is kept out; large ranges capped.
    const v6 = new AddressAllocator('fd00:10:244:1::/64');
    assert.equal(v6.size, 65535);
    assert.equal(formatIP(v6.allocateNext()!), 'fd00:10:244:1::1');
    assert.equal(v6.has('fd00:10:244:1::1'), true);
    assert.equal(v6.has('fd00:10:244:1::1:0'), false);
  });
});
