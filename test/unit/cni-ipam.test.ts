// Unit tests for the CNI plugin's pure parts: address math, range resolution, next-free
// selection, the host-local store (in a temp dir, no root), conflists, spec helpers and the
// entry point's error handling.
//
// Address plan: node pod CIDRs 10.244.1.0/24 and fd00:10:244:1::/64 (gateways .1 / ::1).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import {
  HostLocalIpam,
  canonicalIp,
  formatIp,
  nextFree,
  parseCidr,
  parseIp,
  resolveRange,
  resolveRangeSets,
} from '../../src/cni/ipam.js';
import { CniError, ErrorCode, convertResult, parseCniArgs } from '../../src/cni/spec.js';
import { buildConflist, pluginConf } from '../../src/cni/conflist.js';
import { runCniPlugin } from '../../src/cni/main.js';
import { hostVethName, netnsRef } from '../../src/cni/bridge.js';
import { parseIpJson } from '../../src/net/ip.js';
import { formatArgv, netnsArgv } from '../../src/net/exec.js';

const V4 = '10.244.1.0/24';
const V6 = 'fd00:10:244:1::/64';

async function withStore<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pnc-ipam-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('IP parsing and canonical formatting', () => {
  const cases: Array<[string, string]> = [
    ['10.244.1.2', '10.244.1.2'],
    ['fd00:10:244:1::1', 'fd00:10:244:1::1'],
    ['FD00:0010:0244:0001:0000:0000:0000:0001', 'fd00:10:244:1::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    ['::ffff:1.2.3.4', '::ffff:102:304'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
  ];
  for (const [i, o] of cases) assert.equal(canonicalIp(i), o, i);
  for (const bad of ['10.244.1', '10.244.1.256', '01.2.3.4', '1::2::3', 'fd00:::1', '1:2:3:4:5:6:7:8:9', 'x']) {
    assert.throws(() => parseIp(bad), /invalid IP/, bad);
  }
  assert.equal(formatIp({ family: 4, value: 0x0af40101n }), '10.244.1.1');
});

test('CIDRs and range defaults', () => {
  assert.deepEqual(parseCidr('10.244.1.7/24'), { family: 4, network: 0x0af40100n, prefix: 24 });
  assert.throws(() => parseCidr('10.0.0.0/33'));
  assert.throws(() => parseCidr('10.0.0.0'));
  const r = resolveRange({ subnet: V4 });
  assert.equal(formatIp({ family: 4, value: r.start }), '10.244.1.1');
  assert.equal(formatIp({ family: 4, value: r.end }), '10.244.1.254');
  assert.equal(formatIp({ family: 4, value: r.gateway }), '10.244.1.1');
  const r6 = resolveRange({ subnet: V6 });
  assert.equal(formatIp({ family: 6, value: r6.gateway }), 'fd00:10:244:1::1');
  assert.equal(formatIp({ family: 6, value: r6.end }), 'fd00:10:244:1:ffff:ffff:ffff:fffe');
  assert.throws(() => resolveRange({ subnet: V4, rangeStart: '10.244.2.1' }), /not in subnet/);
  assert.throws(() => resolveRange({ subnet: V4, rangeStart: '10.244.1.9', rangeEnd: '10.244.1.3' }), /after/);
  assert.throws(() => resolveRange({ subnet: '10.0.0.0/31' }), /too small/);
});

test('range sets are validated: non-empty, one family each, no overlaps', () => {
  const bad: Array<[unknown, RegExp]> = [
    [[], /at least one range set/],
    [[[]], /non-empty/],
    [[[{ subnet: V4 }, { subnet: V6 }]], /one IP family/],
    [[[{ subnet: V4 }], [{ subnet: '10.244.1.128/25' }]], /overlaps/],
    [[[{ subnet: 'nope' }]], /ranges\[0\]\[0\]/],
  ];
  for (const [ranges, re] of bad) {
    assert.throws(
      () => resolveRangeSets({ ranges } as never),
      (e: unknown) => e instanceof CniError && e.code === ErrorCode.InvalidConfig && re.test(e.message),
      JSON.stringify(ranges),
    );
  }
  assert.equal(resolveRangeSets({ ranges: [[{ subnet: V4 }], [{ subnet: V6 }]] }).length, 2);
});

test('nextFree: cursor, gateway skip, wrap-around, multi-range sets, exhaustion', () => {
  const set = resolveRangeSets({ ranges: [[{ subnet: '10.0.0.0/29' }]] })[0]!; // .1 gw, .2-.6 usable
  const taken = new Set<string>();
  const pick = (cursor?: string) => nextFree(set, (ip) => taken.has(ip), taken.size, cursor)?.ip;
  assert.equal(pick(), '10.0.0.2');
  assert.equal(pick('10.0.0.2'), '10.0.0.3');
  assert.equal(pick('10.0.0.6'), '10.0.0.2', 'wraps past the end, skipping the gateway');
  taken.add('10.0.0.3');
  taken.add('10.0.0.4');
  assert.equal(pick('10.0.0.2'), '10.0.0.5');
  taken.add('10.0.0.5');
  taken.add('10.0.0.6');
  assert.equal(pick('10.0.0.2'), '10.0.0.2', 'the cursor itself is reusable once freed');
  taken.add('10.0.0.2');
  assert.equal(pick('10.0.0.2'), undefined);
  assert.equal(pick('192.168.0.1'), undefined, 'a cursor outside the set starts from the beginning');

  const two = resolveRangeSets({
    ranges: [[{ subnet: '10.0.0.0/24', rangeStart: '10.0.0.10', rangeEnd: '10.0.0.11' }, { subnet: '10.0.1.0/24', rangeStart: '10.0.1.5', rangeEnd: '10.0.1.5' }]],
  })[0]!;
  const t2 = new Set<string>(['10.0.0.10', '10.0.0.11']);
  assert.equal(nextFree(two, (ip) => t2.has(ip), t2.size, '10.0.0.10')?.ip, '10.0.1.5');
  t2.add('10.0.1.5');
  assert.equal(nextFree(two, (ip) => t2.has(ip), t2.size, '10.0.0.10'), undefined);

  // a /64 with many allocations is searched in bounded steps
  const big = resolveRangeSets({ ranges: [[{ subnet: V6 }]] })[0]!;
  const t6 = new Set<string>();
  for (let i = 2; i < 200; i++) t6.add(formatIp({ family: 6, value: big[0]!.subnet.network + BigInt(i) }));
  assert.equal(nextFree(big, (ip) => t6.has(ip), t6.size)?.ip, 'fd00:10:244:1::c8');
});

test('HostLocalIpam: dual-stack allocate, idempotent, release, cursor reuse, GC', async () => {
  await withStore(async (dir) => {
    const ipam = new HostLocalIpam({ ranges: [[{ subnet: V4 }], [{ subnet: V6 }]] }, 'pnet', dir);
    const a = await ipam.allocate('ctr-a', 'eth0');
    assert.deepEqual(a, [
      { address: '10.244.1.2/24', gateway: '10.244.1.1', family: 4 },
      { address: 'fd00:10:244:1::2/64', gateway: 'fd00:10:244:1::1', family: 6 },
    ]);
    assert.deepEqual(await ipam.allocate('ctr-a', 'eth0'), a, 'same attachment, same addresses');
    const b = await ipam.allocate('ctr-b', 'eth0');
    assert.equal(b[0]!.address, '10.244.1.3/24');
    const b1 = await ipam.allocate('ctr-b', 'net1');
    assert.equal(b1[0]!.address, '10.244.1.4/24', 'another ifname of the same container is another attachment');
    assert.deepEqual(ipam.gatewayCidrs(), ['10.244.1.1/24', 'fd00:10:244:1::1/64']);

    const files = (await readdir(path.join(dir, 'pnet'))).sort();
    assert.ok(files.includes('10.244.1.2') && files.includes('fd00:10:244:1::2') && files.includes('last_reserved_ip.0'));
    assert.ok(!files.includes('lock'), 'the lock is released');
    assert.equal(await readFile(path.join(dir, 'pnet', '10.244.1.2'), 'utf8'), 'ctr-a\neth0');

    assert.deepEqual(await ipam.release('ctr-a', 'eth0'), ['10.244.1.2', 'fd00:10:244:1::2']);
    assert.deepEqual(await ipam.release('ctr-a', 'eth0'), [], 'release twice is fine');
    const c = await ipam.allocate('ctr-c', 'eth0');
    assert.equal(c[0]!.address, '10.244.1.5/24', 'the cursor moves on before reusing freed addresses');
    assert.deepEqual((await ipam.lookup('ctr-c', 'eth0')).map((x) => x.address), ['10.244.1.5/24', 'fd00:10:244:1::5/64']);

    const stale = await ipam.gc([{ containerID: 'ctr-c', ifname: 'eth0' }]);
    assert.deepEqual(stale.map((s) => `${s.containerID}/${s.ifname}`).sort(), ['ctr-b/eth0', 'ctr-b/eth0', 'ctr-b/net1', 'ctr-b/net1']);
    assert.deepEqual((await ipam.allocations()).map((x) => x.ip).sort(), ['10.244.1.5', 'fd00:10:244:1::5']);
  });
});

test('HostLocalIpam: exhaustion is all-or-nothing and reuses freed addresses', async () => {
  await withStore(async (dir) => {
    const ipam = new HostLocalIpam({ ranges: [[{ subnet: '10.0.0.0/29' }], [{ subnet: 'fd00::/126' }]] }, 'small', dir);
    // IPv6 /126: ::1 gateway, ::2 usable (::3 is the last address, excluded) → one attachment only.
    await ipam.allocate('c1', 'eth0');
    await assert.rejects(ipam.allocate('c2', 'eth0'), (e: unknown) => e instanceof CniError && e.code === ErrorCode.NoAddressesAvailable);
    assert.deepEqual((await ipam.allocations()).map((x) => x.containerID), ['c1', 'c1'], 'the IPv4 address reserved for c2 was given back');
    assert.deepEqual(await ipam.hasFree(), [true, false]);
    await ipam.release('c1', 'eth0');
    const again = await ipam.allocate('c2', 'eth0');
    assert.deepEqual(again.map((x) => x.address), ['10.0.0.3/29', 'fd00::2/126']);
  });
});

test('HostLocalIpam: concurrent allocations never share an address', async () => {
  await withStore(async (dir) => {
    const ipam = new HostLocalIpam({ ranges: [[{ subnet: V4 }]] }, 'race', dir);
    const got = await Promise.all(Array.from({ length: 20 }, (_, i) => ipam.allocate(`c${i}`, 'eth0')));
    const addrs = got.map((g) => g[0]!.address);
    assert.equal(new Set(addrs).size, 20);
  });
});

test('HostLocalIpam: a lock left by a dead process is broken', async () => {
  await withStore(async (dir) => {
    const ipam = new HostLocalIpam({ ranges: [[{ subnet: V4 }]] }, 'stale', dir);
    await mkdir(path.join(dir, 'stale'), { recursive: true });
    await writeFile(path.join(dir, 'stale', 'lock'), '999999999'); // above any pid_max
    assert.equal((await ipam.allocate('c1', 'eth0'))[0]!.address, '10.244.1.2/24');
  });
});

test('spec helpers: CNI_ARGS, result conversion', () => {
  assert.deepEqual(parseCniArgs('K8S_POD_NAME=web;K8S_POD_NAMESPACE=default'), { K8S_POD_NAME: 'web', K8S_POD_NAMESPACE: 'default' });
  assert.deepEqual(parseCniArgs(''), {});
  assert.throws(() => parseCniArgs('novalue'), CniError);
  const r = { cniVersion: '1.1.0', interfaces: [{ name: 'eth0', mtu: 1400 }], ips: [{ address: 'fd00::2/64', interface: 0 }], routes: [{ dst: '::/0', mtu: 1400 }] };
  const old = convertResult(r, '0.4.0');
  assert.equal(old.ips![0]!.version, '6');
  assert.equal(old.interfaces![0]!.mtu, undefined);
  assert.equal(convertResult(r, '1.1.0').interfaces![0]!.mtu, 1400);
});

test('conflist: dual-stack ranges and the per-plugin config', () => {
  const l = buildConflist({ name: 'podnet', bridge: 'pncbr0', podCIDRs: [V4, V6], dataDir: '/tmp/x' });
  assert.equal(l.cniVersion, '1.1.0');
  assert.deepEqual(l.plugins[0]!.ipam.ranges, [[{ subnet: V4 }], [{ subnet: V6 }]]);
  const c = pluginConf(l);
  assert.equal(c.name, 'podnet');
  assert.equal(c.type, 'podnet');
  assert.equal(c.bridge, 'pncbr0');
  assert.throws(() => buildConflist({ name: 'x', bridge: 'b', podCIDRs: ['10.0.0.0/24', '10.0.0.128/25'] }), /overlaps/);
});

test('names: host veth names fit in 15 chars and are stable; netns refs', () => {
  const n = hostVethName({ name: 'podnet' }, 'abc', 'eth0');
  assert.match(n, /^veth[0-9a-f]{8}$/);
  assert.equal(n, hostVethName({ name: 'podnet' }, 'abc', 'eth0'));
  assert.notEqual(n, hostVethName({ name: 'podnet' }, 'abc', 'eth1'));
  assert.ok(hostVethName({ name: 'p', vethPrefix: 'pncabcd' }, 'x', 'eth0').length <= 15);
  assert.equal(netnsRef('/run/netns/pnc1-pod'), 'pnc1-pod');
  assert.equal(netnsRef('/var/run/netns/pnc1-pod'), 'pnc1-pod');
  assert.equal(netnsRef('/proc/42/ns/net'), '/proc/42/ns/net');
});

test('net helpers: ip -j parsing and netns argv', () => {
  assert.deepEqual(parseIpJson(''), []);
  assert.deepEqual(parseIpJson('[{},{"ifname":"lo"}]'), [{ ifname: 'lo' }]);
  assert.throws(() => parseIpJson('{"a":1}'));
  assert.deepEqual(netnsArgv('ip', ['a'], 'pnc1'), ['ip', 'netns', 'exec', 'pnc1', 'ip', 'a']);
  assert.deepEqual(netnsArgv('ip', ['a'], '/proc/1/ns/net'), ['nsenter', '--net=/proc/1/ns/net', '--', 'ip', 'a']);
  assert.deepEqual(netnsArgv('ip', ['a']), ['ip', 'a']);
  assert.equal(formatArgv(['echo', 'a b', "it's"]), `echo 'a b' 'it'\\''s'`);
});

test('entry point: VERSION and errors as CNI error JSON (no root needed)', async () => {
  const v = await runCniPlugin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
  assert.equal(v.exitCode, 0);
  assert.deepEqual(JSON.parse(v.stdout), { cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });

  const cases: Array<[Record<string, string>, string, number]> = [
    [{}, '{}', ErrorCode.InvalidEnvironment],
    [{ CNI_COMMAND: 'FROB' }, '{}', ErrorCode.InvalidEnvironment],
    [{ CNI_COMMAND: 'ADD' }, 'not json', ErrorCode.DecodeFailure],
    [{ CNI_COMMAND: 'ADD' }, '{"cniVersion":"9.9.9","name":"n","type":"podnet"}', ErrorCode.IncompatibleVersion],
    [{ CNI_COMMAND: 'GC' }, '{"cniVersion":"1.0.0","name":"n","type":"podnet"}', ErrorCode.IncompatibleVersion],
    [{ CNI_COMMAND: 'ADD' }, '{"cniVersion":"1.1.0","name":"n","type":"podnet","bridge":"b","ipam":{"ranges":[[{"subnet":"10.0.0.0/24"}]]}}', ErrorCode.InvalidEnvironment],
    [{ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0', CNI_NETNS: '/nonexistent/pnc' }, '{"cniVersion":"1.1.0","name":"n","type":"podnet","bridge":"b","ipam":{"ranges":[[{"subnet":"10.0.0.0/24"}]],"dataDir":"/nonexistent"}}', ErrorCode.ContainerUnknown],
    [{ CNI_COMMAND: 'ADD', CNI_CONTAINERID: '../x', CNI_IFNAME: 'eth0', CNI_NETNS: '/x' }, '{"cniVersion":"1.1.0","name":"n","type":"podnet","bridge":"b","ipam":{"ranges":[]}}', ErrorCode.InvalidEnvironment],
    [{ CNI_COMMAND: 'STATUS' }, '{"cniVersion":"1.1.0","name":"n","type":"podnet","bridge":"b","ipam":{"ranges":[]}}', ErrorCode.InvalidConfig],
    [{ CNI_COMMAND: 'STATUS' }, '{"cniVersion":"1.1.0","name":"n","type":"podnet","bridge":"this-name-is-too-long","ipam":{"ranges":[[{"subnet":"10.0.0.0/24"}]]}}', ErrorCode.InvalidConfig],
  ];
  for (const [env, stdin, code] of cases) {
    const r = await runCniPlugin(env, stdin);
    assert.equal(r.exitCode, 1, JSON.stringify(env) + stdin);
    const j = JSON.parse(r.stdout) as { cniVersion: string; code: number; msg: string };
    assert.equal(j.code, code, `${JSON.stringify(env)} ${stdin}: ${j.msg}`);
    assert.equal(typeof j.msg, 'string');
    assert.equal(typeof j.cniVersion, 'string');
  }
});
