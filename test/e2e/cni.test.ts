// End-to-end test of the podnet CNI plugin (root): real network namespaces, the plugin run as a
// child process inside a "node" netns the way a runtime runs it (CNI_* env + config on stdin).
//
// Address plan (exists only inside this test's namespaces; nothing is routed on the host):
//   pods 10.244.7.0/24 and fd00:10:244:7::/64, gateways 10.244.7.1 / fd00:10:244:7::1 on the
//   node bridge <R>br0. Every name carries the unique prefix R = pnc<4 hex>: netns <R>-node,
//   <R>-p1, <R>-p2, <R>-p3; bridge <R>br0; node-side veths <R><8 hex>; data dir /tmp/<R>-*.
// Traffic goes only between these namespaces. Everything is removed in `after`, also on failure.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/net/exec.js';
import { Ip } from '../../src/net/ip.js';
import type { CniResult, PodnetNetConf } from '../../src/cni/spec.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const haveIp = spawnSync('ip', ['-V']).status === 0;
const havePing = spawnSync('sh', ['-c', 'command -v ping']).status === 0;
const skip = !isRoot ? 'needs root (creates network namespaces)' : !haveIp ? 'needs iproute2 (`ip`)' : false;

const PLUGIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cni', 'main.js');
const R = `pnc${randomBytes(2).toString('hex')}`;
const NODE = `${R}-node`;
const P1 = `${R}-p1`;
const P2 = `${R}-p2`;
const P3 = `${R}-p3`;
const BRIDGE = `${R}br0`;
const V4 = '10.244.7.0/24';
const V6 = 'fd00:10:244:7::/64';
const GW4 = '10.244.7.1';
const GW6 = 'fd00:10:244:7::1';

let dataDir = '';
let conf: PodnetNetConf;
const children: ChildProcess[] = [];

interface PluginRun {
  code: number;
  out: unknown;
  stdout: string;
  stderr: string;
}

/** Run the plugin inside the node netns, like a runtime: env + config on stdin. */
async function plugin(command: string, env: Record<string, string>, c: unknown = conf): Promise<PluginRun> {
  const r = await run(process.execPath, [PLUGIN], {
    netns: NODE,
    input: JSON.stringify(c),
    allowFailure: true,
    timeoutMs: 20_000,
    env: { PATH: process.env.PATH, CNI_COMMAND: command, CNI_PATH: '/nonexistent', ...env },
  });
  let out: unknown;
  try {
    out = r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  } catch {
    out = r.stdout;
  }
  return { code: r.code, out, stdout: r.stdout, stderr: r.stderr };
}

function attach(cid: string, ns: string, ifname = 'eth0'): Record<string, string> {
  return { CNI_CONTAINERID: cid, CNI_NETNS: `/run/netns/${ns}`, CNI_IFNAME: ifname, CNI_ARGS: `K8S_POD_NAME=${cid};K8S_POD_NAMESPACE=default` };
}

function addrsOf(r: CniResult): { v4: string; v6: string } {
  const ips = (r.ips ?? []).map((i) => i.address);
  const v4 = ips.find((a) => !a.includes(':'));
  const v6 = ips.find((a) => a.includes(':'));
  assert.ok(v4 && v6, `dual-stack result: ${JSON.stringify(r)}`);
  return { v4: v4.split('/')[0]!, v6: v6.split('/')[0]! };
}

/**
 * Is `addr` reachable from netns `ns`? With ping: one echo. Without ping: a TCP connect to a
 * closed port; "refused" (a RST from the target's kernel) proves the target answered.
 */
async function reachable(ns: string, addr: string): Promise<boolean> {
  if (havePing) {
    const r = await run('ping', ['-c1', '-W1', addr], { netns: ns, allowFailure: true });
    return r.code === 0;
  }
  const script = `
    const s = require('net').connect({ host: process.argv[1], port: 9 });
    const t = setTimeout(() => { console.log('timeout'); process.exit(1); }, 2000);
    s.on('connect', () => { console.log('open'); process.exit(0); });
    s.on('error', (e) => { console.log(e.code); process.exit(e.code === 'ECONNREFUSED' ? 0 : 1); });`;
  const r = await run(process.execPath, ['-e', script, addr], { netns: ns, allowFailure: true });
  return r.code === 0;
}

/** A TCP echo server inside `ns` (listening on all addresses, both families); killed in `after`. */
async function echoServer(ns: string, port: number): Promise<void> {
  const script = `require('net').createServer((c) => c.pipe(c)).listen({ port: ${port}, host: '::' }, () => console.log('ready'));`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  await new Promise<void>((ok, fail) => {
    const t = setTimeout(() => fail(new Error('echo server did not start')), 5000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(t);
        ok();
      }
    });
    child.once('exit', (c) => fail(new Error(`echo server exited ${c}`)));
  });
}

async function echo(ns: string, addr: string, port: number): Promise<string> {
  const script = `
    const s = require('net').connect({ host: process.argv[1], port: ${port} }, () => s.end('hello-' + process.argv[1]));
    let got = ''; s.on('data', (d) => got += d); s.on('end', () => { console.log(got); process.exit(0); });
    s.on('error', (e) => { console.error(e.message); process.exit(1); });
    setTimeout(() => process.exit(2), 3000);`;
  const r = await run(process.execPath, ['-e', script, addr], { netns: ns, allowFailure: true });
  return r.stdout.trim();
}

describe('podnet CNI plugin (e2e, root)', { skip }, () => {
  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), `${R}-`));
    for (const ns of [NODE, P1, P2, P3]) await Ip.netnsAdd(ns);
    for (const ns of [P1, P2, P3]) {
      // inside the pod netns only: no DAD, so IPv6 addresses are usable at once
      await run('sysctl', ['-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0'], { netns: ns });
      await new Ip(ns).setUp('lo');
    }
    await new Ip(NODE).setUp('lo');
    conf = {
      cniVersion: '1.1.0',
      name: `${R}-net`,
      type: 'podnet',
      bridge: BRIDGE,
      vethPrefix: R,
      dataDir,
      ipam: { type: 'podnet', ranges: [[{ subnet: V4 }], [{ subnet: V6 }]] },
      dns: { nameservers: ['10.96.0.10'], search: ['default.svc.cluster.local'] },
    };
  });

  after(async () => {
    for (const c of children) if (c.pid && c.exitCode === null) c.kill('SIGKILL');
    for (const ns of [P1, P2, P3, NODE]) await Ip.netnsDel(ns).catch(() => undefined);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    const left = (await Ip.netnsList()).filter((n) => n.startsWith(R));
    const links = (await new Ip().links()).filter((l) => l.ifname.startsWith(R));
    assert.deepEqual(left, [], 'no test netns left');
    assert.deepEqual(links.map((l) => l.ifname), [], 'no test links left in the host netns');
  });

  let r1: CniResult;
  let r2: CniResult;

  it('VERSION lists the supported versions', async () => {
    const r = await plugin('VERSION', {}, { cniVersion: '1.1.0' });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(r.out, { cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });

  it('STATUS is ready', async () => {
    const r = await plugin('STATUS', {});
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
  });

  it('ADD gives two pods dual-stack addresses from the pod CIDRs', async () => {
    const a = await plugin('ADD', attach('c1', P1));
    assert.equal(a.code, 0, a.stdout + a.stderr);
    r1 = a.out as CniResult;
    const b = await plugin('ADD', attach('c2', P2));
    assert.equal(b.code, 0, b.stdout + b.stderr);
    r2 = b.out as CniResult;

    assert.equal(r1.cniVersion, '1.1.0');
    assert.deepEqual(r1.interfaces!.map((i) => i.name), [BRIDGE, r1.interfaces![1]!.name, 'eth0']);
    assert.match(r1.interfaces![1]!.name, new RegExp(`^${R}[0-9a-f]{8}$`));
    assert.equal(r1.interfaces![2]!.sandbox, `/run/netns/${P1}`);
    assert.deepEqual(r1.ips, [
      { address: '10.244.7.2/24', gateway: GW4, interface: 2 },
      { address: 'fd00:10:244:7::2/64', gateway: GW6, interface: 2 },
    ]);
    assert.deepEqual(r1.routes, [{ dst: '0.0.0.0/0', gw: GW4 }, { dst: '::/0', gw: GW6 }]);
    assert.deepEqual(r1.dns, conf.dns);
    assert.deepEqual(addrsOf(r2), { v4: '10.244.7.3', v6: 'fd00:10:244:7::3' });

    const pod = new Ip(P1);
    assert.deepEqual((await pod.addrList('eth0')).filter((a) => !a.startsWith('fe80')).sort(), ['10.244.7.2/24', 'fd00:10:244:7::2/64']);
    const mac = (await pod.link('eth0'))!.address;
    assert.equal(r1.interfaces![2]!.mac, mac);
    assert.ok((await pod.routes(4)).some((r) => r.dst === 'default' && r.gateway === GW4));
    assert.ok((await pod.routes(6)).some((r) => r.dst === 'default' && r.gateway === GW6));

    const node = new Ip(NODE);
    const hv = await node.link(r1.interfaces![1]!.name, true);
    assert.equal(hv?.master, BRIDGE);
    assert.equal(hv?.linkinfo?.info_slave_data?.hairpin, true, 'hairpin mode on the bridge port');
    assert.deepEqual((await node.addrList(BRIDGE)).filter((a) => !a.startsWith('fe80')).sort(), ['10.244.7.1/24', 'fd00:10:244:7::1/64']);
    assert.deepEqual((await node.routes(4)).filter((r) => r.dst === 'default'), [], 'the node has no default route');
    assert.deepEqual((await node.routes(6)).filter((r) => r.dst === 'default'), [], 'the node has no IPv6 default route');
    const fwd = await run('cat', ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/ipv6/conf/all/forwarding'], { netns: NODE });
    assert.deepEqual(fwd.stdout.trim().split('\n'), ['1', '1'], 'forwarding on inside the node netns');
  });

  it('pods reach each other and the gateway over IPv4 and IPv6', async () => {
    const a = addrsOf(r1);
    const b = addrsOf(r2);
    for (const [from, to] of [
      [P1, b.v4], [P1, b.v6], [P2, a.v4], [P2, a.v6],
      [P1, GW4], [P1, GW6], [P2, GW4], [P2, GW6],
    ] as const) {
      assert.ok(await reachable(from, to), `${from} → ${to}${havePing ? '' : ' (TCP probe; ping is not installed)'}`);
    }
    assert.equal(await reachable(P1, '10.244.7.200'), false, 'an address nobody holds is not reachable (the probe discriminates)');
    await echoServer(P2, 7007);
    assert.equal(await echo(P1, b.v4, 7007), `hello-${b.v4}`);
    assert.equal(await echo(P1, b.v6, 7007), `hello-${b.v6}`);
  });

  it('a second ADD of the same attachment returns the same result; another netns is refused', async () => {
    const again = await plugin('ADD', attach('c1', P1));
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.deepEqual(again.out, r1);
    const other = await plugin('ADD', attach('c1', P3));
    assert.equal(other.code, 1);
    assert.equal((other.out as { code: number }).code, 102, other.stdout);
    assert.equal((await new Ip(P3).link('eth0')), undefined, 'nothing was created in the other netns');
  });

  it('ADD into a missing netns is error 3', async () => {
    const r = await plugin('ADD', { ...attach('c9', P3), CNI_NETNS: `/run/netns/${R}-missing` });
    assert.equal(r.code, 1);
    assert.equal((r.out as { code: number }).code, 3, r.stdout);
  });

  it('CHECK passes, then fails once an address is removed', async () => {
    const ok = await plugin('CHECK', attach('c1', P1), { ...conf, prevResult: r1 });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const cached = await plugin('CHECK', attach('c1', P1));
    assert.equal(cached.code, 0, 'CHECK with the cached result: ' + cached.stdout);
    await new Ip(P1).addrDel('eth0', '10.244.7.2/24');
    const bad = await plugin('CHECK', attach('c1', P1), { ...conf, prevResult: r1 });
    assert.equal(bad.code, 1);
    const e = bad.out as { code: number; msg: string };
    assert.equal(e.code, 100);
    assert.match(e.msg, /10\.244\.7\.2\/24 is missing/);
  });

  it('DEL removes the attachment and releases the addresses; DEL twice is fine', async () => {
    const hostVeth = r1.interfaces![1]!.name;
    const d = await plugin('DEL', attach('c1', P1), { ...conf, prevResult: r1 });
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.equal(d.stdout, '');
    assert.equal(await new Ip(P1).link('eth0'), undefined);
    assert.equal(await new Ip(NODE).link(hostVeth), undefined);
    const files = await readdir(path.join(dataDir, 'networks', conf.name));
    assert.ok(!files.includes('10.244.7.2') && !files.includes('fd00:10:244:7::2'), `released: ${files.join(' ')}`);
    const d2 = await plugin('DEL', attach('c1', P1));
    assert.equal(d2.code, 0, d2.stdout);
    const d3 = await plugin('DEL', { CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' });
    assert.equal(d3.code, 0, 'DEL without a netns: ' + d3.stdout);
    const d4 = await plugin('DEL', { ...attach('c1', P1), CNI_NETNS: `/run/netns/${R}-gone` });
    assert.equal(d4.code, 0, 'DEL with a netns that is gone: ' + d4.stdout);
  });

  it('freed space is allocated again; a re-added pod works', async () => {
    const a = await plugin('ADD', attach('c3', P3));
    assert.equal(a.code, 0, a.stdout + a.stderr);
    const r3 = a.out as CniResult;
    // host-local order: the cursor moves on (.4), the freed .2 comes back after a wrap
    assert.deepEqual(addrsOf(r3), { v4: '10.244.7.4', v6: 'fd00:10:244:7::4' });
    assert.ok(await reachable(P3, addrsOf(r2).v6));
    const re = await plugin('ADD', attach('c1b', P1));
    assert.equal(re.code, 0, re.stdout + re.stderr);
    assert.ok(await reachable(P1, addrsOf(r3).v4));
    const d = await plugin('DEL', attach('c1b', P1));
    assert.equal(d.code, 0, d.stdout);
  });

  it('a full range reuses freed addresses (second network, second bridge, ifname net1)', async () => {
    const small: PodnetNetConf = {
      ...conf,
      name: `${R}-small`,
      bridge: `${R}br1`,
      // a secondary network: no routes (the pods' default routes belong to the first one)
      ipam: { ranges: [[{ subnet: '10.244.8.0/24', rangeStart: '10.244.8.10', rangeEnd: '10.244.8.11' }]], routes: [] },
    };
    const add = async (cid: string, ns: string): Promise<PluginRun> => plugin('ADD', attach(cid, ns, 'net1'), small);
    // two concurrent ADDs (the first creates the bridge): the IPAM lock keeps them apart
    const [s1, s2] = await Promise.all([add('s1', P1), add('s2', P2)]);
    assert.equal(s1.code, 0, s1.stdout + s1.stderr);
    assert.equal(s2.code, 0, s2.stdout + s2.stderr);
    assert.deepEqual([s1, s2].map((r) => (r.out as CniResult).ips![0]!.address).sort(), ['10.244.8.10/24', '10.244.8.11/24']);
    const full = await add('s3', P3);
    assert.equal(full.code, 1);
    assert.equal((full.out as { code: number }).code, 101, full.stdout);
    assert.equal(await new Ip(P3).link('net1'), undefined, 'a failed ADD leaves no interface');
    const st = await plugin('STATUS', {}, small);
    assert.equal((st.out as { code: number }).code, 50, 'STATUS: not available while the range is full');
    const freed = (s1.out as CniResult).ips![0]!.address;
    assert.equal((await plugin('DEL', attach('s1', P1, 'net1'), small)).code, 0);
    const s3 = await add('s3', P3);
    assert.equal((s3.out as CniResult).ips![0]!.address, freed, s3.stdout);
    const other = (s1.out as CniResult).ips![0]!.address === '10.244.8.10/24' ? '10.244.8.11' : '10.244.8.10';
    assert.ok(await reachable(P3, other));
    for (const [cid, ns] of [['s2', P2], ['s3', P3]] as const) assert.equal((await plugin('DEL', attach(cid, ns, 'net1'), small)).code, 0);
  });

  it('a failed ADD rolls back: no interface, no node veth, no allocation', async () => {
    // P2 already has default routes from the first network, so adding another one fails late
    const clash: PodnetNetConf = { ...conf, name: `${R}-clash`, bridge: `${R}br2`, ipam: { ranges: [[{ subnet: '10.244.9.0/24' }]] } };
    const r = await plugin('ADD', attach('x1', P2, 'net2'), clash);
    assert.equal(r.code, 1);
    const e = r.out as { code: number; msg: string; details?: string };
    assert.equal(e.code, 999);
    assert.match(e.details ?? '', /route add 0\.0\.0\.0\/0 via 10\.244\.9\.1/, 'the error names the failing command');
    assert.equal(await new Ip(P2).link('net2'), undefined);
    const ports = (await new Ip(NODE).links()).filter((l) => l.master === `${R}br2`);
    assert.deepEqual(ports, []);
    const files = await readdir(path.join(dataDir, 'networks', clash.name)).catch(() => [] as string[]);
    assert.deepEqual(files.filter((f) => f.startsWith('10.')), []);
  });

  it('GC removes allocations, veths and cache entries of attachments not listed', async () => {
    const hostVeth2 = r2.interfaces![1]!.name;
    const g = await plugin('GC', {}, { ...conf, 'cni.dev/valid-attachments': [{ containerID: 'c3', ifname: 'eth0' }] });
    assert.equal(g.code, 0, g.stdout + g.stderr);
    assert.equal(g.stdout, '');
    const files = (await readdir(path.join(dataDir, 'networks', conf.name))).filter((f) => /^[0-9a-f:.]+$/.test(f) && f.includes('.') !== f.includes(':'));
    assert.deepEqual(files.sort(), ['10.244.7.4', 'fd00:10:244:7::4']);
    assert.equal(await new Ip(NODE).link(hostVeth2), undefined, 'stale node-side veth removed');
    assert.equal(await new Ip(P2).link('eth0'), undefined, 'its pod end went with it');
    assert.deepEqual((await readdir(path.join(dataDir, 'results'))).filter((f) => f.endsWith('.json')), [`${conf.name}-c3-eth0.json`]);
    const c3 = await plugin('CHECK', attach('c3', P3));
    assert.equal(c3.code, 0, 'the valid attachment is untouched: ' + c3.stdout);
  });

  it('an old cniVersion gets an old-shaped result', async () => {
    const a = await plugin('ADD', attach('c4', P2), { ...conf, cniVersion: '0.4.0' });
    assert.equal(a.code, 0, a.stdout + a.stderr);
    const r = a.out as CniResult;
    assert.equal(r.cniVersion, '0.4.0');
    assert.deepEqual(r.ips!.map((i) => i.version), ['4', '6']);
    const d = await plugin('DEL', attach('c4', P2), { ...conf, cniVersion: '0.4.0' });
    assert.equal(d.code, 0, d.stdout);
    const d3 = await plugin('DEL', attach('c3', P3));
    assert.equal(d3.code, 0, d3.stdout);
    const left = (await readdir(path.join(dataDir, 'networks', conf.name))).filter((f) => f.includes('.') || f.includes(':'));
    assert.deepEqual(left.filter((f) => !f.startsWith('last_reserved')), []);
  });
});
