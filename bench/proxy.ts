// Service proxy figures (issue 5), against the real kernel in network namespaces of its own
// (needs root):
//   a. sync: a full sync of SERVICES Services × ENDPOINTS endpoints into a real nftables table
//      (target ≤ 2 s), and one endpoint change applied as a partial sync (target ≤ 20 ms),
//      at each of SIZES Services (flat);
//   b. first packet: TCP connect latency to a ClusterIP with SERVICES Services programmed,
//      against BASELINE Services (target: within 10%);
//   c. throughput: a fixed number of bytes per run through the ClusterIP against straight to the
//      pod IP (target ≥ 95%).
// Side by side in the same run: the same Services dispatched by one linear rule list (the
// iptables-mode shape: one rule per service port matching daddr + protocol + dport, in a chain)
// instead of podnet's verdict map, for sync time and first-packet latency. Everything after the
// dispatch (the shared chains, the endpoints maps) is identical in both shapes.
//
// Topology (inside the bench's own namespaces; nothing on the host):
//   pnPx-cli   10.250.1.2/24 ── veth ── pnPx-node 10.250.1.1 | 10.250.2.1 ── veth ── pnPx-srv 10.250.2.2/24
//   Services 10.251.0.0/16 (the client routes them via the node); fake endpoints 10.252.0.0/15,
//   never contacted; the last Service's one endpoint is the server (10.250.2.2:8080).
// The namespaces (and so every table and link in them) and the server process are removed at
// the end, also on failure. Every loop is bounded in count.
//
// Knobs (environment): PODNET_BENCH_PROXY_SERVICES (10000), PODNET_BENCH_PROXY_ENDPOINTS (10),
// PODNET_BENCH_PROXY_SIZES (100,1000,10000), PODNET_BENCH_PROXY_PARTIAL_RUNS (20),
// PODNET_BENCH_PROXY_BASELINE (10), PODNET_BENCH_PROXY_CONNECTS (2000 per case),
// PODNET_BENCH_PROXY_MB (128 per throughput run), PODNET_BENCH_PROXY_ROUNDS (16 paired rounds).

import { spawn, type ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import { run } from '../src/net/exec.js';
import { NftSession, RealNft, type NftBackend } from '../src/net/nft.js';
import type { ServiceRecord, SliceRecord } from '../src/proxy/model.js';
import { Proxier } from '../src/proxy/proxier.js';
import { CH, computeBase, computeService, defaultConfig, MAPS, type ProxyConfig, type ServiceRules } from '../src/proxy/rules.js';
import { planFull } from '../src/proxy/sync.js';
import { envInt, now, percentile } from './common.js';

const SERVICES = envInt('PODNET_BENCH_PROXY_SERVICES', 10_000);
const ENDPOINTS = envInt('PODNET_BENCH_PROXY_ENDPOINTS', 10);
const SIZES = (process.env.PODNET_BENCH_PROXY_SIZES ?? '100,1000,10000').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
const PARTIAL_RUNS = envInt('PODNET_BENCH_PROXY_PARTIAL_RUNS', 20);
const BASELINE = envInt('PODNET_BENCH_PROXY_BASELINE', 10);
const CONNECTS = envInt('PODNET_BENCH_PROXY_CONNECTS', 2000);
const MB = envInt('PODNET_BENCH_PROXY_MB', 128);
const ROUNDS = envInt('PODNET_BENCH_PROXY_ROUNDS', 16);

const NODE = 'pnPx-node', CLIENT = 'pnPx-cli', SERVER = 'pnPx-srv';
const NAMESPACES = [NODE, CLIENT, SERVER];
const TABLE = 'pnPx-proxy', LINEAR_TABLE = 'pnPx-linear';
const SERVER_IP = '10.250.2.2', SERVER_PORT = 8080;

const log = (s: string) => process.stdout.write(`${s}\n`);
const ms = (v: number) => (Number.isFinite(v) ? `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms` : 'n/a');
const us = (v: number) => (Number.isFinite(v) ? `${(v * 1000).toFixed(0)} µs` : 'n/a');
const sh = (cmd: string, args: string[], netns?: string) => run(cmd, args, { netns, timeoutMs: 60_000 });

const clusterIP = (i: number) => `10.251.${(i >> 8) & 255}.${i & 255}`;
const fakeEndpoint = (k: number) => `10.${252 + (k >> 16)}.${(k >> 8) & 255}.${k & 255}`;

function service(i: number): ServiceRecord {
  return {
    namespace: 'bench', name: `svc-${String(i).padStart(5, '0')}`, uid: '', type: 'ClusterIP', clusterIPs: [clusterIP(i + 1)],
    ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 0 }], externalIPs: [], loadBalancerIPs: [],
    externalTrafficLocal: false, internalTrafficLocal: false, healthCheckNodePort: 0,
  };
}

function slice(svc: ServiceRecord, ips: string[]): SliceRecord {
  return {
    namespace: svc.namespace, name: `${svc.name}-a`, serviceName: svc.name, family: 4,
    ports: [{ name: 'http', protocol: 'TCP', port: SERVER_PORT }],
    endpoints: ips.map((ip) => ({ ip, ready: true, serving: true, terminating: false, nodeName: 'other', zoneHints: [], nodeHints: [] })),
  };
}

/** n Services; the last one's endpoint is the real server, the others have ENDPOINTS fake ones. */
function workload(n: number): { services: ServiceRecord[]; slices: SliceRecord[]; target: ServiceRecord } {
  const services: ServiceRecord[] = [];
  const slices: SliceRecord[] = [];
  for (let i = 0; i < n; i++) {
    const s = service(i);
    services.push(s);
    const last = i === n - 1;
    slices.push(slice(s, last ? [SERVER_IP] : Array.from({ length: ENDPOINTS }, (_, j) => fakeEndpoint(i * ENDPOINTS + j))));
  }
  return { services, slices, target: services[n - 1]! };
}

const benchConfig = (table: string): ProxyConfig => defaultConfig('bench-node', { table, clusterCIDRs: ['10.250.0.0/16'] });

async function destroyTable(table: string): Promise<void> {
  const b = new RealNft('inet', table, NODE);
  await b.run(b.newTransaction().destroy({ kind: 'table' }));
}

// ---- the linear (iptables-mode) shape ------------------------------------------------------------

/** The rules for `w`, with ClusterIP dispatch as one rule per service port instead of map elements; the target's rule last. */
function linearRules(w: ReturnType<typeof workload>, cfg: ProxyConfig) {
  const base = computeBase(cfg);
  const services = new Map<string, ServiceRules>();
  const dispatch: { rule: string }[] = [];
  let targetRule: { rule: string } | undefined;
  const byName = new Map(w.slices.map((s) => [s.serviceName, s]));
  for (const svc of w.services) {
    const r = computeService(svc, [byName.get(svc.name)!], cfg)!;
    const keep = r.elements.filter((e) => e.set !== MAPS.serviceIPs(4));
    for (const e of r.elements) {
      if (e.set !== MAPS.serviceIPs(4)) continue;
      const [ip, proto, port] = e.key;
      const rule = { rule: `ip daddr ${ip} meta l4proto ${proto} th dport ${port} ${e.value}` };
      if (svc === w.target) targetRule = rule; else dispatch.push(rule);
    }
    services.set(r.key, { ...r, elements: keep });
  }
  if (targetRule) dispatch.push(targetRule);
  const v4Map = `ip daddr . meta l4proto . th dport vmap @${MAPS.serviceIPs(4)}`;
  const linearBase = { ...base, chains: base.chains.map((c) => (c.name !== CH.services ? c : { ...c, rules: c.rules.flatMap((r) => (r.rule === v4Map ? dispatch : [r])) })) };
  return { base: linearBase, services, servicesChain: linearBase.chains.find((c) => c.name === CH.services)! };
}

// ---- processes in the namespaces -----------------------------------------------------------------

/** Accepts connections; counts what each sends and, at its end, answers with the count. */
const SERVER_JS = `
const net = require('node:net');
const s = net.createServer((c) => {
  let n = 0;
  c.on('data', (d) => { n += d.length; });
  c.on('end', () => c.end(String(n)));
  c.on('error', () => {});
});
s.listen(${SERVER_PORT}, '${SERVER_IP}', () => console.log('listening'));
`;

/** connect HOST PORT N → connect latencies (ms), each connection reset at once; send HOST PORT BYTES → seconds. */
const CLIENT_JS = `
const net = require('node:net');
const [mode, host, port, arg] = process.argv.slice(1);
const once = (sock, ev) => new Promise((ok, fail) => { sock.once(ev, ok); sock.once('error', fail); });
(async () => {
  if (mode === 'connect') {
    const out = [];
    for (let i = 0; i < Number(arg); i++) {
      const t0 = process.hrtime.bigint();
      const s = net.connect({ host, port: Number(port), noDelay: true });
      await once(s, 'connect');
      out.push(Number(process.hrtime.bigint() - t0) / 1e6);
      s.resetAndDestroy();
    }
    console.log(JSON.stringify(out));
  } else {
    const total = Number(arg);
    const chunk = Buffer.alloc(1 << 20, 120);
    const t0 = process.hrtime.bigint();
    const s = net.connect({ host, port: Number(port) });
    await once(s, 'connect');
    let reply = '';
    s.on('data', (d) => { reply += d; });
    const ended = once(s, 'end');
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!s.write(sent + chunk.length <= total ? chunk : chunk.subarray(0, total - sent))) await once(s, 'drain');
    }
    s.end();
    await ended;
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (Number(reply) !== total) throw new Error('server received ' + reply + ' of ' + total + ' bytes');
    console.log(JSON.stringify(secs));
  }
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

async function client(args: string[]): Promise<unknown> {
  const r = await run('ip', ['netns', 'exec', CLIENT, process.execPath, '-e', CLIENT_JS, ...args], { timeoutMs: 300_000 });
  return JSON.parse(r.stdout);
}

async function buildTopology(): Promise<void> {
  for (const ns of NAMESPACES) { await sh('ip', ['netns', 'add', ns]); await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']); }
  for (const [peer, link, nodeAddr, peerAddr] of [[CLIENT, 'pnPxc0', '10.250.1.1/24', '10.250.1.2/24'], [SERVER, 'pnPxs0', '10.250.2.1/24', `${SERVER_IP}/24`]] as const) {
    await sh('ip', ['-n', NODE, 'link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
    await sh('ip', ['-n', NODE, 'addr', 'add', nodeAddr, 'dev', link]);
    await sh('ip', ['-n', NODE, 'link', 'set', link, 'up']);
    await sh('ip', ['-n', peer, 'addr', 'add', peerAddr, 'dev', 'eth0']);
    await sh('ip', ['-n', peer, 'link', 'set', 'eth0', 'up']);
  }
  await sh('ip', ['-n', CLIENT, 'route', 'add', '10.251.0.0/16', 'via', '10.250.1.1']);
  await sh('ip', ['-n', CLIENT, 'route', 'add', '10.250.2.0/24', 'via', '10.250.1.1']);
  await sh('ip', ['-n', SERVER, 'route', 'add', '10.250.1.0/24', 'via', '10.250.2.1']);
  // The node needs some route for the service range; packets are DNATed before they use it.
  await sh('ip', ['-n', NODE, 'route', 'add', '10.251.0.0/16', 'dev', 'pnPxs0']);
  await sh('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], NODE);
}

async function removeTopology(server: ChildProcess | undefined): Promise<void> {
  if (server?.pid && server.exitCode === null) { try { process.kill(server.pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const ns of NAMESPACES) await run('ip', ['netns', 'del', ns], { allowFailure: true });
}

async function startServer(): Promise<ChildProcess> {
  const p = spawn('ip', ['netns', 'exec', SERVER, process.execPath, '-e', SERVER_JS], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((ok, fail) => {
    let out = '';
    const t = setTimeout(() => fail(new Error(`server did not start: ${out}`)), 15_000);
    p.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('listening')) { clearTimeout(t); ok(); } });
    p.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    p.once('exit', (c) => { clearTimeout(t); fail(new Error(`server exited with ${c}: ${out}`)); });
  });
  return p;
}

// ---- the measurements ----------------------------------------------------------------------------

interface SyncFigures { services: number; fullMs: number; computeMs: number; split: string; partial: number[]; linearFullMs: number; linearPartial: number[] }

/** Full and partial syncs of `n` Services, both shapes; leaves no table behind. */
async function measureSync(n: number): Promise<SyncFigures> {
  const w = workload(n);
  const cfg = benchConfig(TABLE);
  // The pure part alone: records → rules for every Service.
  const tc = now();
  for (let i = 0; i < n; i++) computeService(w.services[i]!, [w.slices[i]!], cfg);
  const computeMs = now() - tc;

  await destroyTable(TABLE);
  // Stale chains are deleted a second after a change, in a transaction of their own; keep them
  // out of the figure for one change (they cost one more `nft -f` later, off the critical path).
  // As the proxy runs: full syncs through `nft -f`, partial ones through one long-lived `nft -i`.
  const session = new NftSession('inet', TABLE, NODE);
  const proxier = new Proxier({ config: cfg, backend: session, staleChainAgeMs: 3_600_000, conntrack: undefined });
  proxier.ready = true;
  for (const s of w.services) proxier.upsertService(s);
  for (const s of w.slices) proxier.upsertSlice(s);
  const t0 = now();
  const full = await proxier.sync();
  const fullMs = now() - t0;
  if (full.kind !== 'full') throw new Error(`expected a full sync, got ${full.kind}`);
  const t = proxier.lastFullSyncTimings;
  const split = t ? `${t.path}: rules ${ms(t.computeMs)}, list ${ms(t.listMs)}, plan ${ms(t.planMs)}, nft ${t.path === 'netlink' ? 'structure ' : ''}${ms(t.nftMs)}` +
    (t.path === 'netlink' ? `, encode ${ms(t.encodeMs)}, netlink batch ${ms(t.netlinkMs)} (${t.elements} elements)` : '') : '';
  const partial: number[] = [];
  for (let r = 0; r < PARTIAL_RUNS; r++) {
    const i = (r * 7919) % Math.max(1, n - 1); // a different non-target Service each time
    const sl = w.slices[i]!;
    const ips = sl.endpoints.map((e) => e.ip);
    ips[r % ips.length] = `10.254.${(r >> 8) & 255}.${r & 255}`;
    const next = slice(w.services[i]!, ips);
    w.slices[i] = next;
    const t = now();
    proxier.upsertSlice(next);
    const res = await proxier.sync();
    partial.push(now() - t);
    if (res.kind !== 'partial' || res.services.length !== 1) throw new Error(`expected a partial sync of one Service, got ${res.kind} of ${res.services.length}`);
  }
  proxier.close();
  await session.close();
  if (session.counts.session < PARTIAL_RUNS) log(`   (only ${session.counts.session} of ${PARTIAL_RUNS} partial syncs went through the nft session)`);
  await destroyTable(TABLE);

  // The same Services in the linear shape: a full load, then per change what iptables mode
  // rewrites — the whole dispatch chain, plus the changed Service's chains.
  const lin = linearRules(workload(n), benchConfig(LINEAR_TABLE));
  const backend: NftBackend = new RealNft('inet', LINEAR_TABLE, NODE);
  await destroyTable(LINEAR_TABLE);
  const tl = now();
  await backend.run(planFull(LINEAR_TABLE, lin.base, lin.services, undefined, 0).tx);
  const linearFullMs = now() - tl;
  const linearPartial: number[] = [];
  const lcfg = benchConfig(LINEAR_TABLE);
  for (let r = 0; r < PARTIAL_RUNS; r++) {
    const i = (r * 7919) % Math.max(1, n - 1);
    const svc = w.services[i]!;
    const rules = computeService(svc, [w.slices[i]!], lcfg)!;
    const old = lin.services.get(rules.key)!;
    const oldNames = new Set(old.chains.map((c) => c.name));
    const tx = backend.newTransaction();
    for (const c of rules.chains) if (!oldNames.has(c.name)) tx.add({ kind: 'chain', name: c.name, ...(c.comment ? { comment: c.comment } : {}) });
    tx.flush({ kind: 'chain', name: CH.services });
    for (const rr of lin.servicesChain.rules) tx.add({ kind: 'rule', chain: CH.services, rule: rr.rule });
    for (const c of rules.chains) {
      if (oldNames.has(c.name)) tx.flush({ kind: 'chain', name: c.name });
      for (const rr of c.rules) tx.add({ kind: 'rule', chain: c.name, rule: rr.rule });
    }
    const t = now();
    await backend.run(tx);
    linearPartial.push(now() - t);
    lin.services.set(rules.key, { ...rules, chains: [...rules.chains, ...old.chains.filter((c) => !rules.chains.some((x) => x.name === c.name))] });
  }
  await destroyTable(LINEAR_TABLE);
  return { services: n, fullMs, computeMs, split, partial: partial.sort((a, b) => a - b), linearFullMs, linearPartial: linearPartial.sort((a, b) => a - b) };
}

/** Loads `n` Services in one shape into the node (the caller removes the table). */
async function load(shape: 'map' | 'linear', n: number): Promise<void> {
  const w = workload(n);
  if (shape === 'map') {
    const cfg = benchConfig(TABLE);
    const rules = new Map<string, ServiceRules>();
    for (let i = 0; i < n; i++) { const r = computeService(w.services[i]!, [w.slices[i]!], cfg)!; rules.set(r.key, r); }
    await new RealNft('inet', TABLE, NODE).run(planFull(TABLE, computeBase(cfg), rules, undefined, 0).tx);
  } else {
    const lin = linearRules(w, benchConfig(LINEAR_TABLE));
    await new RealNft('inet', LINEAR_TABLE, NODE).run(planFull(LINEAR_TABLE, lin.base, lin.services, undefined, 0).tx);
  }
}

async function connectLatency(shape: 'map' | 'linear', n: number): Promise<{ p50: number; p90: number }> {
  await load(shape, n);
  try {
    const target = clusterIP(n);
    const lat = (await client(['connect', target, '80', String(CONNECTS)]) as number[]).sort((a, b) => a - b);
    return { p50: percentile(lat, 0.5), p90: percentile(lat, 0.9) };
  } finally {
    await destroyTable(shape === 'map' ? TABLE : LINEAR_TABLE);
  }
}

interface Row { figure: string; measured: string; target: string; result: string }

export async function benchProxy(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the proxy benchmark needs root (it creates network namespaces and nftables tables)');
  const sizes = [...new Set([...SIZES, SERVICES])].sort((a, b) => a - b);
  const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}`;
  const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
  log(`proxy bench: ${SERVICES} Services × ${ENDPOINTS} endpoints; partial syncs at ${sizes.join(', ')} (${PARTIAL_RUNS} each); ` +
    `${CONNECTS} connects per case; ${ROUNDS} × ${MB} MiB throughput runs; ${machine}; load average ${loadavg()}`);
  const rows: Row[] = [];
  let server: ChildProcess | undefined;
  await removeTopology(undefined); // leftovers of an interrupted run (only the bench's own names)
  try {
    await buildTopology();
    server = await startServer();

    // a. sync
    const figs: SyncFigures[] = [];
    for (const n of sizes) {
      const f = await measureSync(n);
      figs.push(f);
      log(`a. ${n} Services: full sync ${ms(f.fullMs)} (${f.split}; rules alone ${ms(f.computeMs)}); one endpoint change: p50 ${ms(percentile(f.partial, 0.5))}, ` +
        `p90 ${ms(percentile(f.partial, 0.9))}, max ${ms(f.partial.at(-1) ?? NaN)} | linear shape: full ${ms(f.linearFullMs)}, one change p50 ${ms(percentile(f.linearPartial, 0.5))}`);
    }
    const big = figs.find((f) => f.services === SERVICES)!;
    rows.push({ figure: `full sync, ${SERVICES} Services × ${ENDPOINTS} endpoints, into the kernel`, measured: `${ms(big.fullMs)} (linear shape: ${ms(big.linearFullMs)})`,
      target: '≤ 2 s', result: big.fullMs <= 2000 ? 'PASS' : 'FAIL' });
    const p50s = figs.map((f) => percentile(f.partial, 0.5));
    rows.push({ figure: `one endpoint change applied (partial sync), p50 at ${sizes.join(' / ')} Services`, measured: `${p50s.map(ms).join(' / ')} (linear shape: ${figs.map((f) => ms(percentile(f.linearPartial, 0.5))).join(' / ')})`,
      target: '≤ 20 ms, flat', result: p50s.every((v) => v <= 20) ? 'PASS' : 'FAIL' });

    // b. first packet
    const cases: Array<['map' | 'linear', number]> = [['map', BASELINE], ['map', SERVICES], ['linear', BASELINE], ['linear', SERVICES]];
    const lat = new Map<string, { p50: number; p90: number }>();
    for (const [shape, n] of cases) {
      const r = await connectLatency(shape, n);
      lat.set(`${shape}/${n}`, r);
      log(`b. TCP connect to a ClusterIP, ${shape === 'map' ? 'verdict map' : 'linear rule list'} with ${n} Services: p50 ${us(r.p50)}, p90 ${us(r.p90)} (${CONNECTS} connects)`);
    }
    const m0 = lat.get(`map/${BASELINE}`)!.p50, m1 = lat.get(`map/${SERVICES}`)!.p50;
    const l0 = lat.get(`linear/${BASELINE}`)!.p50, l1 = lat.get(`linear/${SERVICES}`)!.p50;
    rows.push({ figure: `first packet (TCP connect) to a ClusterIP, p50: ${SERVICES} vs ${BASELINE} Services`, measured: `${us(m1)} vs ${us(m0)} (${((m1 / m0 - 1) * 100).toFixed(1)}%); linear shape: ${us(l1)} vs ${us(l0)} (${((l1 / l0 - 1) * 100).toFixed(1)}%)`,
      target: 'within 10%', result: m1 <= m0 * 1.1 ? 'PASS' : 'FAIL' });

    // c. throughput, with the big table loaded; direct and ClusterIP runs alternate
    await load('map', SERVICES);
    try {
      const bytes = MB * 1024 * 1024;
      const direct: number[] = [], viaService: number[] = [], ratios: number[] = [];
      const send = async (ip: string, port: number) => bytes / (await client(['send', ip, String(port), String(bytes)]) as number);
      for (let r = 0; r < ROUNDS; r++) {
        // Paired rounds, the order swapped every round: one stream's rate on this VM swings
        // 0.8–1.2x from minute to minute, so the figure is the median of per-round ratios (both
        // runs of a round see the same load), not a ratio of medians.
        let d: number, v: number;
        if (r % 2 === 0) { d = await send(SERVER_IP, SERVER_PORT); v = await send(clusterIP(SERVICES), 80); } else { v = await send(clusterIP(SERVICES), 80); d = await send(SERVER_IP, SERVER_PORT); }
        direct.push(d); viaService.push(v); ratios.push(v / d);
      }
      const gbit = (v: number) => `${(v * 8 / 1e9).toFixed(2)} Gbit/s`;
      const med = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 0.5);
      const d = med(direct), s = med(viaService), ratio = med(ratios);
      const spread = `${(Math.min(...ratios) * 100).toFixed(0)}–${(Math.max(...ratios) * 100).toFixed(0)}%`;
      log(`c. throughput, ${MB} MiB per run, ${ROUNDS} paired rounds: straight to the pod ${gbit(d)}, through the ClusterIP ${gbit(s)} (medians); ` +
        `per-round ratio median ${(ratio * 100).toFixed(1)}% (range ${spread}): ${ratios.map((x) => (x * 100).toFixed(0)).join(' ')}`);
      rows.push({ figure: `throughput through a ClusterIP vs straight to the pod IP (${MB} MiB × ${ROUNDS} paired rounds, ${SERVICES} Services loaded)`,
        measured: `${(ratio * 100).toFixed(1)}% (median of per-round ratios, range ${spread}); ${gbit(s)} vs ${gbit(d)}`,
        target: '≥ 95%', result: ratio >= 0.95 ? 'PASS' : 'FAIL' });
    } finally {
      await destroyTable(TABLE);
    }
  } finally {
    await removeTopology(server);
    const left = (await run('ip', ['netns', 'list'], { allowFailure: true })).stdout.split('\n').filter((l) => NAMESPACES.includes(l.split(' ')[0]!)).length;
    log(`removed the bench's namespaces (${left} left)`);
    if (left) process.exitCode = 1;
  }
  log('');
  log(`Results (${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}; ${machine}; load average ${loadavg()} at end):`);
  log('');
  log('| figure | measured | target | result |');
  log('|---|---|---|---|');
  for (const r of rows) log(`| ${r.figure} | ${r.measured} | ${r.target} | ${r.result} |`);
}
