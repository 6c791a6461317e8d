// The proxy's netlink element path against the real kernel (root): a full sync as nft structure
// plus one nf_tables netlink batch must leave exactly the table that one `nft -f` transaction
// leaves. Two network namespaces of this test's own (pnNl-<pid>-nft, pnNl-<pid>-nl), the same
// table name in each, the same desired state fed to a Proxier in each — one forced onto nft
// (netlink: false), one on netlink — and `nft list table` compared. Covers every map kind the
// proxy fills (dispatch vmaps with comments, endpoints maps per protocol and family, nodeport
// maps, no-endpoint maps, hairpin and nodeport-address sets, IPv6, dual stack, affinity
// Services), the bench's workload at small scale, adopting a table left by an earlier run,
// partial syncs after a netlink full sync, listing names over netlink, atomicity of a refused
// batch, and the fallback.
//
// Skipped, saying why, without root or nft or the addon (native/nfnetlink); with
// PODNET_REQUIRE_NATIVE=1 a missing addon fails instead. The namespaces are removed in `after`,
// also on failure; nothing outside them is touched.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { run } from '../../src/net/exec.js';
import { NftSession, RealNft } from '../../src/net/nft.js';
import { NfnetlinkSocket, NetlinkError, NlBatch, nfnetlinkUnavailable } from '../../src/net/nftnl.js';
import type { ServiceRecord, SliceRecord } from '../../src/proxy/model.js';
import { Proxier } from '../../src/proxy/proxier.js';
import { MAPS } from '../../src/proxy/rules.js';
import { config, makeService, makeSlice, NODE, sliceRec, svcRec } from '../unit/proxy-fixtures.js';

const isRoot = process.getuid?.() === 0;
const haveNft = spawnSync('nft', ['--version']).status === 0;
const addonMissing = nfnetlinkUnavailable();
const requireNative = process.env.PODNET_REQUIRE_NATIVE === '1';
const skip = !isRoot ? 'needs root (network namespaces, nftables)' : !haveNft ? 'needs nft (apt-get install nftables)'
  : addonMissing && !requireNative ? `netlink path not testable: ${addonMissing}` : false;

const NS_NFT = `pnNl-${process.pid}-nft`, NS_NL = `pnNl-${process.pid}-nl`;
const NAMESPACES = [NS_NFT, NS_NL];
const cfg = config({ table: 'pnNl-proxy', nodePortAddresses: ['198.18.0.2', 'fd00:198:18::2'] });

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Every kind of element the proxy writes, keyed by Service. */
function fixtures(): Array<[Obj, Obj[]]> {
  const eps = (prefix: string, n: number, node = NODE) => Array.from({ length: n }, (_, i) => ({ ip: `${prefix}${i + 5}`, node }));
  const out: Array<[Obj, Obj[]]> = [];
  // ClusterIP, TCP, 3 endpoints (one local: hairpin).
  out.push([makeService('ns', 'web'), [makeSlice('ns', 'web-a', 'web', [{ ip: '10.244.1.5', node: NODE }, { ip: '10.244.2.5', node: 'node-b' }, { ip: '10.244.2.6', node: 'node-b' }])]]);
  // UDP and SCTP ports with names.
  out.push([makeService('ns', 'dns', (s) => { s.spec.clusterIP = '10.96.0.11'; s.spec.clusterIPs = ['10.96.0.11']; s.spec.ports = [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 }, { name: 'sctp', protocol: 'SCTP', port: 9999, targetPort: 9999 }]; }),
    [makeSlice('ns', 'dns-a', 'dns', eps('10.244.2.', 2, 'node-b'), (s) => { s.ports = [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'sctp', protocol: 'SCTP', port: 9999 }]; })]]);
  // NodePort, Cluster policy, externalIPs and load-balancer IPs.
  out.push([makeService('ns', 'lb', (s) => {
    s.spec.clusterIP = '10.96.0.12'; s.spec.clusterIPs = ['10.96.0.12']; s.spec.type = 'LoadBalancer'; s.spec.ports[0].nodePort = 30080; s.spec.externalIPs = ['192.0.2.5'];
    s.status = { loadBalancer: { ingress: [{ ip: '198.51.100.7' }] } };
  }), [makeSlice('ns', 'lb-a', 'lb', eps('10.244.2.', 4, 'node-b'))]]);
  // externalTrafficPolicy Local with local and remote endpoints; a health check port.
  out.push([makeService('ns', 'loc', (s) => {
    s.spec.clusterIP = '10.96.0.13'; s.spec.clusterIPs = ['10.96.0.13']; s.spec.type = 'LoadBalancer'; s.spec.externalTrafficPolicy = 'Local'; s.spec.healthCheckNodePort = 32000;
    s.spec.ports[0].nodePort = 30081; s.status = { loadBalancer: { ingress: [{ ip: '198.51.100.8' }] } };
  }), [makeSlice('ns', 'loc-a', 'loc', [{ ip: '10.244.1.7', node: NODE }, { ip: '10.244.2.7', node: 'node-b' }])]]);
  // externalTrafficPolicy Local with only remote endpoints: no-endpoint elements that drop.
  out.push([makeService('ns', 'remote', (s) => { s.spec.clusterIP = '10.96.0.14'; s.spec.clusterIPs = ['10.96.0.14']; s.spec.type = 'NodePort'; s.spec.externalTrafficPolicy = 'Local'; s.spec.ports[0].nodePort = 30082; }),
    [makeSlice('ns', 'remote-a', 'remote', eps('10.244.2.', 1, 'node-b'))]]);
  // No endpoints at all: reject (ClusterIP and NodePort).
  out.push([makeService('ns', 'empty', (s) => { s.spec.clusterIP = '10.96.0.15'; s.spec.clusterIPs = ['10.96.0.15']; s.spec.type = 'NodePort'; s.spec.ports[0].nodePort = 30083; }), []]);
  // internalTrafficPolicy Local.
  out.push([makeService('ns', 'itp', (s) => { s.spec.clusterIP = '10.96.0.16'; s.spec.clusterIPs = ['10.96.0.16']; s.spec.internalTrafficPolicy = 'Local'; }),
    [makeSlice('ns', 'itp-a', 'itp', [{ ip: '10.244.1.8', node: NODE }, { ip: '10.244.2.8', node: 'node-b' }])]]);
  // IPv6 only.
  out.push([makeService('ns', 'six', (s) => { s.spec.clusterIP = 'fd00:10:96::20'; s.spec.clusterIPs = ['fd00:10:96::20']; s.spec.type = 'NodePort'; s.spec.ports[0].nodePort = 30084; }),
    [makeSlice('ns', 'six-a', 'six', [{ ip: 'fd00:10:244:1::5', node: NODE }, { ip: 'fd00:10:244:2::5', node: 'node-b' }])]]);
  // Dual stack.
  out.push([makeService('ns', 'dual', (s) => { s.spec.clusterIP = '10.96.0.21'; s.spec.clusterIPs = ['10.96.0.21', 'fd00:10:96::21']; s.spec.ipFamilies = ['IPv4', 'IPv6']; }),
    [makeSlice('ns', 'dual-4', 'dual', eps('10.244.2.', 2, 'node-b')), makeSlice('ns', 'dual-6', 'dual', [{ ip: 'fd00:10:244:2::9', node: 'node-b' }])]]);
  // ClientIP affinity, IPv4 and IPv6.
  for (const [name, ip, ep] of [['aff', '10.96.0.30', '10.244.2.30'], ['aff6', 'fd00:10:96::30', 'fd00:10:244:2::30']] as const) {
    out.push([makeService('ns', name, (s) => { s.spec.clusterIP = ip; s.spec.clusterIPs = [ip]; s.spec.sessionAffinity = 'ClientIP'; s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 } }; s.spec.type = 'NodePort'; s.spec.ports[0].nodePort = name === 'aff' ? 30085 : 30086; }),
      [makeSlice('ns', `${name}-a`, name, [{ ip: ep, node: 'node-b' }])]]);
  }
  return out;
}

/** The bench's shape at small scale: n ClusterIP Services × 10 remote endpoints. */
function benchLike(n: number): Array<[ServiceRecord, SliceRecord[]]> {
  const out: Array<[ServiceRecord, SliceRecord[]]> = [];
  for (let i = 0; i < n; i++) {
    const svc: ServiceRecord = {
      namespace: 'bench', name: `svc-${String(i).padStart(5, '0')}`, uid: '', type: 'ClusterIP', clusterIPs: [`10.97.${i >> 8}.${i & 255}`],
      ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 0 }], externalIPs: [], loadBalancerIPs: [],
      externalTrafficLocal: false, internalTrafficLocal: false, healthCheckNodePort: 0,
    };
    const sl: SliceRecord = {
      namespace: 'bench', name: `${svc.name}-a`, serviceName: svc.name, family: 4, ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      endpoints: Array.from({ length: 10 }, (_, j) => ({ ip: `10.245.${(i * 10 + j) >> 8}.${(i * 10 + j) & 255}`, ready: true, serving: true, terminating: false, nodeName: 'other', zoneHints: [], nodeHints: [] })),
    };
    out.push([svc, [sl]]);
  }
  return out;
}

interface State { services: ServiceRecord[]; slices: SliceRecord[] }

function state(entries: Array<[Obj, Obj[]]>, bench: Array<[ServiceRecord, SliceRecord[]]>): State {
  const services: ServiceRecord[] = [], slices: SliceRecord[] = [];
  for (const [s, sl] of entries) { services.push(svcRec(s)); slices.push(...sl.map(sliceRec)); }
  for (const [s, sl] of bench) { services.push(s); slices.push(...sl); }
  return { services, slices };
}

function feed(p: Proxier, s: State): void {
  for (const x of s.services) p.upsertService(x);
  for (const x of s.slices) p.upsertSlice(x);
  p.ready = true;
}

const listing = (ns: string) => new RealNft('inet', cfg.table, ns).listing();

/**
 * `nft list table` with each element list's entries in sorted order: the kernel's hash sets
 * iterate in an order that depends on a per-set random seed, so two equal tables may list the
 * same elements in different orders. Everything else is compared verbatim.
 */
function normalized(text: string): string {
  return text.replace(/elements = \{([^}]*)\}/g, (_, body: string) => `elements = { ${body.split(',').map((e) => e.trim()).sort().join(', ')} }`);
}

async function assertSameTables(what: string): Promise<void> {
  const [a, b] = await Promise.all([listing(NS_NFT), listing(NS_NL)]);
  assert.ok(a.length > 0, `${what}: the nft namespace has no table`);
  assert.equal(normalized(b), normalized(a), `${what}: the tables differ`);
}

describe('proxy full sync over netlink (e2e)', { skip, timeout: 180_000 }, () => {
  const logs: string[] = [];
  const sessions: NftSession[] = [];
  const proxiers: Proxier[] = [];
  const make = (ns: string, netlink: boolean, staleChainAgeMs = 3_600_000) => {
    const backend = new NftSession('inet', cfg.table, ns);
    sessions.push(backend);
    const p = new Proxier({ config: cfg, backend, staleChainAgeMs, log: (m) => logs.push(m), ...(netlink ? {} : { netlink: false as const }) });
    proxiers.push(p);
    return p;
  };

  before(async () => {
    if (addonMissing) throw new Error(`PODNET_REQUIRE_NATIVE=1 and ${addonMissing}`);
    for (const ns of NAMESPACES) await run('ip', ['netns', 'del', ns], { allowFailure: true });
    for (const ns of NAMESPACES) await run('ip', ['netns', 'add', ns]);
  });
  after(async () => {
    for (const p of proxiers) p.close();
    for (const s of sessions) await s.close();
    for (const ns of NAMESPACES) await run('ip', ['netns', 'del', ns], { allowFailure: true });
    const left = (await run('ip', ['netns', 'list'], { allowFailure: true })).stdout.split('\n').filter((l) => NAMESPACES.includes(l.split(' ')[0]!));
    assert.deepEqual(left, [], 'namespaces left behind');
  });

  const first = state(fixtures(), benchLike(150));

  it('a fresh table: structure + one netlink batch lists exactly as one nft transaction', async () => {
    const viaNft = make(NS_NFT, false), viaNetlink = make(NS_NL, true);
    assert.equal(viaNft.usesNetlink, false);
    assert.equal(viaNetlink.usesNetlink, true);
    feed(viaNft, first);
    feed(viaNetlink, first);
    assert.equal((await viaNft.sync()).kind, 'full');
    assert.equal((await viaNetlink.sync()).kind, 'full');
    assert.equal(viaNft.lastFullSyncTimings?.path, 'nft');
    assert.equal(viaNetlink.lastFullSyncTimings?.path, 'netlink', logs.join('\n'));
    await assertSameTables('fresh');
    // Sanity: the comparison sees elements of every kind.
    const text = await listing(NS_NL);
    for (const m of [MAPS.serviceIPs(4), MAPS.serviceIPs(6), MAPS.serviceNodePorts(4), MAPS.serviceNodePorts(6), MAPS.noEndpointServices(4), MAPS.noEndpointNodePorts(4),
      MAPS.endpoints('cluster', 4, false, 'tcp'), MAPS.endpoints('cluster', 4, false, 'udp'), MAPS.endpoints('cluster', 4, false, 'sctp'), MAPS.endpoints('cluster', 6, false, 'tcp'),
      MAPS.endpoints('cluster', 4, true, 'tcp'), MAPS.endpoints('local', 4, true, 'tcp'), MAPS.hairpin(4), MAPS.hairpin(6), MAPS.nodePortIPs(4), MAPS.nodePortIPs(6)]) {
      assert.match(text, new RegExp(`(map|set) ${m} \\{[^}]*elements = \\{`), `${m} has elements`);
    }
    assert.match(text, /comment "ns\/web:http" : goto /);
    assert.match(text, /10\.97\.0\.7 \. 80 \. 9 : 10\.245\.0\.79 \. 8080/);
  });

  it('a partial sync after a netlink full sync works and keeps the tables equal', async () => {
    const [viaNft, viaNetlink] = proxiers as [Proxier, Proxier];
    const web = makeSlice('ns', 'web-a', 'web', [{ ip: '10.244.1.5', node: NODE }, { ip: '10.244.2.15', node: 'node-b' }]);
    for (const p of [viaNft, viaNetlink]) p.upsertSlice(sliceRec(web));
    for (const p of [viaNft, viaNetlink]) assert.equal((await p.sync()).kind, 'partial');
    await assertSameTables('after a partial sync');
  });

  it('a restart adopts the table left by the previous run and refills it in one netlink batch', async () => {
    // The next process: some Services gone (an affinity one, whose chains and sets go stale),
    // others changed (other endpoint counts: other shared chains), one new.
    const entries = fixtures().filter(([s]) => !['aff', 'dns', 'empty'].includes(s.metadata.name));
    entries.push([makeService('ns', 'new', (s) => { s.spec.clusterIP = '10.96.0.40'; s.spec.clusterIPs = ['10.96.0.40']; }), [makeSlice('ns', 'new-a', 'new', [{ ip: '10.244.2.40', node: 'node-b' }])]]);
    const next = state(entries, benchLike(120).map(([s, sl]) => [s, sl.map((x) => ({ ...x, endpoints: x.endpoints.slice(0, 7) }))] as [ServiceRecord, SliceRecord[]]));
    const viaNft = make(NS_NFT, false, 0), viaNetlink = make(NS_NL, true, 0);
    feed(viaNft, next);
    feed(viaNetlink, next);
    const before = await listing(NS_NL);
    assert.match(before, /affinity-/);
    assert.equal((await viaNft.sync()).kind, 'full');
    assert.equal((await viaNetlink.sync()).kind, 'full');
    assert.equal(viaNetlink.lastFullSyncTimings?.path, 'netlink', logs.join('\n'));
    await assertSameTables('adopted');
    // The stale chains (flushed, not yet deleted) go in the next sync in both.
    for (const p of [viaNft, viaNetlink]) { p.requestFullSync(); await p.sync(); }
    for (const p of [viaNft, viaNetlink]) await p.sync();
    await assertSameTables('after stale-chain cleanup');
    assert.doesNotMatch(await listing(NS_NL), /ns\/aff:http/);
    // And partial syncs still work on top.
    for (const p of [viaNft, viaNetlink]) { p.deleteService('ns/lb'); assert.equal((await p.sync()).kind, 'partial'); }
    await assertSameTables('partial after adoption');
  });

  it('lists the table\'s chains, sets and maps over netlink as nft does, and no table as undefined', async () => {
    const socket = new NfnetlinkSocket(NS_NL);
    try {
      const viaNetlink = await socket.listNames('inet', cfg.table);
      const viaNft = await new RealNft('inet', cfg.table, NS_NL).list();
      const sorted = (n: { chains: string[]; sets: string[]; maps: string[] }) => ({ chains: [...n.chains].sort(), sets: [...n.sets].sort(), maps: [...n.maps].sort() });
      assert.ok(viaNetlink);
      assert.deepEqual(sorted(viaNetlink), sorted(viaNft));
      assert.ok(viaNft.chains.length > 10 && viaNft.maps.length > 10 && viaNft.sets.length > 2);
      assert.equal(await socket.listNames('inet', 'pnNl-no-such-table'), undefined);
    } finally {
      socket.close();
    }
  });

  it('a refused batch changes nothing (one kernel transaction)', async () => {
    const before = await listing(NS_NL);
    const socket = new NfnetlinkSocket(NS_NL);
    try {
      const batch = new NlBatch('inet', cfg.table);
      batch.flushSet(MAPS.serviceIPs(4));
      batch.addElements(MAPS.hairpin(4), 'ipv4_addr . ipv4_addr', [{ key: ['10.244.9.9', '10.244.9.9'] }]);
      batch.addElements(MAPS.serviceIPs(4), 'ipv4_addr . inet_proto . inet_service : verdict', [{ key: ['10.96.9.9', 'tcp', '80'], value: 'goto no-such-chain' }]);
      await assert.rejects(socket.send(batch), (e: unknown) => e instanceof NetlinkError && e.errno === 2 && /refused add 1 element\(s\) to service-ips-v4/.test(e.message));
    } finally {
      socket.close();
    }
    assert.equal(await listing(NS_NL), before);
  });

  it('falls back to one nft transaction when netlink fails, and says so once', async () => {
    logs.length = 0;
    const backend = new NftSession('inet', cfg.table, NS_NL);
    sessions.push(backend);
    const p = new Proxier({ config: cfg, backend, netlink: new NfnetlinkSocket(`pnNl-${process.pid}-missing`), log: (m) => logs.push(m) });
    proxiers.push(p);
    feed(p, first);
    assert.equal((await p.sync()).kind, 'full');
    assert.equal(p.lastFullSyncTimings?.path, 'nft');
    assert.equal(p.usesNetlink, false);
    assert.equal(logs.filter((l) => /loading map elements over netlink failed/.test(l)).length, 1, logs.join('\n'));
    // The nft namespace gets the same state through nft alone.
    const q = make(NS_NFT, false);
    feed(q, first);
    await q.sync();
    await assertSameTables('fallback');
  });

  it('PODNET_PROXY_NETLINK=0 forces nft', () => {
    const old = process.env.PODNET_PROXY_NETLINK;
    process.env.PODNET_PROXY_NETLINK = '0';
    try {
      assert.equal(new Proxier({ config: cfg, backend: new RealNft('inet', cfg.table, NS_NL) }).usesNetlink, false);
    } finally {
      if (old === undefined) delete process.env.PODNET_PROXY_NETLINK; else process.env.PODNET_PROXY_NETLINK = old;
    }
    assert.equal(new Proxier({ config: cfg, backend: new RealNft('inet', cfg.table, NS_NL) }).usesNetlink, true);
  });
});
