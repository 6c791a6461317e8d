// `benchDns()`: the cluster DNS server's memory and its throughput on one core, side by side
// with an authoritative server from Debian serving the same records as a static zone.
//
// 1. A child process loads an index of DNS_BENCH_SERVICES Services (default 10,000) with
//    DNS_BENCH_ENDPOINTS endpoints each (default 10: 100,000 in all) and reports its memory.
//    Every 4th Service is dual-stack, every other one headless.
// 2. That process serves DNS on 127.0.0.1, pinned to CPU 1 (`taskset -c 1`), and dnsperf
//    (Debian package `dnsperf`), pinned to CPU 0, sends it a mix of cluster names for
//    DNS_BENCH_SECONDS (default 10) with DNS_BENCH_CLIENTS sockets (default 4) and
//    DNS_BENCH_INFLIGHT queries outstanding (default 32). p50/p99 come from dnsperf's per-query
//    latencies (`-v`). This runs once per UDP path in DNS_BENCH_UDP (default "auto,dgram"): the
//    path the server picks (batched through native/udpbatch when built), then node:dgram
//    (PODNET_DNS_UDP=dgram), each in a fresh process, with its idle RSS. PODNET_DNS_UDP_BATCH
//    (datagrams per recvmmsg) and DNS_BENCH_NODE_ARGS (e.g. "--cpu-prof") reach the server process.
// 3. NSD (Debian package `nsd`) serves the same records from zone files, pinned to CPU 1 with
//    one server process, and gets the same queries from dnsperf with the same concurrency.
//
// Loopback only; no forwarding. Nothing is installed here: a missing tool is named with the
// package to install, and that part is skipped.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { envInt, percentile, sleep } from './common.js';
import { MemoryIndex, stripEndpointSlice, stripService, type ServiceRecord, type SliceRecord } from '../src/dns/records.js';
import { defaultResolverConfig } from '../src/dns/resolver.js';
import { DnsServer } from '../src/dns/server.js';
import { encodeQuery, TYPE } from '../src/dns/wire.js';

const ZONE = 'cluster.local';
const TTL = 30;
const SERVER_CPU = '1';
/** What the agent starts podnet.io/podnet containers with (src/agent/pure.ts), before NODE_OPTIONS. */
const AGENT_NODE_OPTIONS = ['--max-semi-space-size=2'];
const CLIENT_CPU = '0';

const ip4 = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
const clusterIP = (i: number) => ip4((96 << 16) + i + 1);
const clusterIP6 = (i: number) => `fd00:10:96::${(i + 1).toString(16)}`;
const endpointIP = (ep: number) => ip4((244 << 16) + ep);
const reverse4 = (ip: string) => `${ip.split('.').reverse().join('.')}.in-addr.arpa`;

/** The bench cluster as stripped records (what the informers would hand the index). */
function records(services: number, perService: number): { svcs: ServiceRecord[]; slices: SliceRecord[] } {
  const svcs: ServiceRecord[] = [];
  const slices: SliceRecord[] = [];
  let ep = 0;
  for (let i = 0; i < services; i++) {
    const namespace = `ns-${i % 10}`, name = `svc-${i}`;
    const headless = i % 2 === 1;
    const ips = headless ? ['None'] : i % 4 === 0 ? [clusterIP(i), clusterIP6(i)] : [clusterIP(i)];
    svcs.push(stripService({
      metadata: { namespace, name },
      spec: { clusterIP: ips[0], clusterIPs: ips, ports: [{ name: 'http', protocol: 'TCP', port: 80 }] },
    }));
    slices.push(stripEndpointSlice({
      addressType: 'IPv4', metadata: { namespace, name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
      ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      endpoints: Array.from({ length: perService }, (_, k) => ({ addresses: [endpointIP(ep++)], hostname: `p-${k}`, conditions: { ready: true } })),
    }));
  }
  return { svcs, slices };
}

/**
 * The query mix, one dnsperf line per query ("name TYPE"), in a fixed pseudo-random order over
 * all Services: what pods ask a cluster DNS — mostly ClusterIP A and AAAA, headless A, SRV,
 * PTR, pod names — and the negative answers their resolvers' search paths cause (NXDOMAIN,
 * NODATA). Every 10th name is spelled in upper case (case-insensitive matching).
 */
export function queryMix(services: number, perService: number, count: number): { lines: string[]; podNames: Array<[string, string]> } {
  const lines: string[] = [];
  const podNames: Array<[string, string]> = [];
  for (let i = 0; i < count; i++) {
    const s = (i * 7919) % services, ns = `ns-${s % 10}`;
    const even = s - (s % 2); // a ClusterIP Service
    const svc = (n: number) => `svc-${n}.ns-${n % 10}.svc.${ZONE}`;
    let line: string;
    switch (i % 20) {
      case 0: case 1: case 2: case 3: case 4: case 5: line = `${svc(even)} A`; break;
      case 6: case 7: line = `${svc(even)} AAAA`; break; // an answer for the dual-stack ones, else NODATA
      case 8: case 9: case 10: line = `${svc(even + 1 < services ? even + 1 : even)} A`; break; // headless: every endpoint
      case 11: case 12: line = `_http._tcp.${svc(s)} SRV`; break;
      case 13: line = `${reverse4(clusterIP(even))} PTR`; break;
      case 14: line = `${reverse4(endpointIP(s * perService + (i % perService)))} PTR`; break;
      case 15: {
        const ip = endpointIP(s * perService + 1);
        podNames.push([`${ip.replace(/\./g, '-')}.${ns}.pod.${ZONE}`, ip]);
        line = `${ip.replace(/\./g, '-')}.${ns}.pod.${ZONE} A`;
        break;
      }
      case 16: line = `p-${i % perService}.${svc(s)} A`; break;
      case 17: line = `missing-${s}.${ns}.svc.${ZONE} A`; break; // NXDOMAIN
      case 18: line = `${svc(s)}.${ns}.svc.${ZONE} A`; break; // NXDOMAIN: the first search-path try
      default: line = `${svc(s)} TXT`; // NODATA
    }
    if (i % 10 === 3) line = line.replace(/^[^ ]+/, (n) => n.toUpperCase());
    lines.push(line);
  }
  return { lines, podNames };
}

/** The same records as zone files for an authoritative server (RFC 1035 master format). */
function zoneFiles(svcs: ServiceRecord[], slices: SliceRecord[], podNames: Array<[string, string]>): { forward: string; reverse: string } {
  const soa = (origin: string) => `${origin}. ${TTL} IN SOA ns.dns.${ZONE}. hostmaster.${ZONE}. 1 7200 1800 86400 ${TTL}\n` +
    `${origin}. ${TTL} IN NS ns.dns.${ZONE}.\n`;
  const fwd: string[] = [soa(ZONE), `ns.dns.${ZONE}. ${TTL} IN A 10.96.0.10\n`, `dns-version.${ZONE}. 28800 IN TXT "1.1.0"\n`];
  const rev: string[] = [soa('10.in-addr.arpa')];
  const sliceOf = new Map(slices.map((s) => [`${s.namespace}/${s.service}`, s]));
  for (const svc of svcs) {
    const name = `${svc.name}.${svc.namespace}.svc.${ZONE}.`;
    const slice = sliceOf.get(`${svc.namespace}/${svc.name}`);
    const eps = slice?.endpoints ?? [];
    if (svc.kind === 'ClusterIP') {
      for (const ip of svc.clusterIPs) fwd.push(`${name} ${TTL} IN ${ip.includes(':') ? 'AAAA' : 'A'} ${ip}\n`);
      fwd.push(`_http._tcp.${name} ${TTL} IN SRV 0 100 80 ${name}\n`);
      for (const ip of svc.clusterIPs) if (!ip.includes(':')) rev.push(`${reverse4(ip)}. ${TTL} IN PTR ${name}\n`);
    } else {
      const weight = Math.max(1, Math.floor(100 / Math.max(1, eps.length)));
      for (const e of eps) {
        fwd.push(`${name} ${TTL} IN A ${e.addresses[0]}\n`);
        fwd.push(`_http._tcp.${name} ${TTL} IN SRV 0 ${weight} ${slice!.ports[0]?.port ?? 0} ${e.hostname}.${name}\n`);
      }
    }
    for (const e of eps) {
      fwd.push(`${e.hostname}.${name} ${TTL} IN A ${e.addresses[0]}\n`);
      rev.push(`${reverse4(e.addresses[0])}. ${TTL} IN PTR ${e.hostname}.${name}\n`);
    }
  }
  for (const [name, ip] of new Map(podNames)) fwd.push(`${name}. ${TTL} IN A ${ip}\n`);
  return { forward: fwd.join(''), reverse: rev.join('') };
}

// ---- the podnet server, in its own process -----------------------------------------------------

interface Loaded { port: number; heapMB: number; rssMB: number; loadMs: number; udpPath: string }

/** `node bench/dns.js serve`: build the index, serve on 127.0.0.1, report; "rss" / "stop" on stdin. */
async function serveChild(): Promise<void> {
  const services = envInt('DNS_BENCH_SERVICES', 10_000), perService = envInt('DNS_BENCH_ENDPOINTS', 10);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const base = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  const index = new MemoryIndex();
  for (let ns = 0; ns < 10; ns++) index.addNamespace(`ns-${ns}`);
  {
    const { svcs, slices } = records(services, perService);
    for (const s of svcs) index.upsertService(s);
    for (const s of slices) index.upsertSlice(s);
  }
  const loadMs = performance.now() - t0;
  gc?.();
  const mem = process.memoryUsage();
  // As the cluster runs it: no forwarding, pod names "insecure" (kubeadm's Corefile).
  const server = new DnsServer({
    listen: [{ host: '127.0.0.1', port: 0 }], resolver: defaultResolverConfig({ podMode: 'insecure' }), index, log: () => undefined,
  });
  const [addr] = await server.start();
  const loaded: Loaded = { port: addr.port, heapMB: (mem.heapUsed - base) / 2 ** 20, rssMB: mem.rss / 2 ** 20, loadMs, udpPath: server.udpPath };
  process.stdout.write(JSON.stringify(loaded) + '\n');
  createInterface({ input: process.stdin }).on('line', (l) => {
    if (l === 'rss') { gc?.(); process.stdout.write(JSON.stringify({ rssMB: process.memoryUsage().rss / 2 ** 20, cached: server.cachedAnswers }) + '\n'); }
    else void server.stop().then(() => process.exit(0));
  });
}

// ---- running the tools ---------------------------------------------------------------------------

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

function lineReader(p: ChildProcess): () => Promise<string> {
  const lines: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  createInterface({ input: p.stdout! }).on('line', (l) => { const w = waiters.shift(); if (w) w(l); else lines.push(l); });
  return () => new Promise((ok, fail) => {
    const l = lines.shift();
    if (l !== undefined) { ok(l); return; }
    const t = setTimeout(() => fail(new Error('no answer from the server process within 120 s')), 120_000);
    waiters.push((x) => { clearTimeout(t); ok(x); });
  });
}

/** One UDP query to 127.0.0.1:port until it is answered (the server has loaded its zones). */
async function waitForAnswer(port: number, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((done) => {
      const s = createSocket('udp4');
      const t = setTimeout(() => { s.close(); done(false); }, 500);
      s.on('message', () => { clearTimeout(t); s.close(); done(true); });
      s.send(encodeQuery(1, ZONE, TYPE.SOA), port, '127.0.0.1');
    });
    if (ok) return true;
    await sleep(250);
  }
  return false;
}

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  s.close();
  return port;
}

interface PerfResult {
  qps: number; sent: number; completed: number; lost: number; p50: number; p99: number; avg: number; rcodes: string;
  /** Server CPU time per answered query (µs): what one core could serve at 100%, whatever else ran. */
  cpuUs: number;
}

/** dnsperf on CPU 0 against 127.0.0.1:port; per-query latencies go to a file, read afterwards. */
async function dnsperf(dir: string, label: string, serverPid: number, port: number, queryFile: string, seconds: number, clients: number, inflight: number): Promise<PerfResult> {
  const out = join(dir, `dnsperf-${label}.txt`);
  const cpu0 = cpuSeconds(serverPid);
  const args = ['-c', CLIENT_CPU, 'dnsperf', '-s', '127.0.0.1', '-p', String(port), '-d', queryFile, '-e', '-c', String(clients), '-T', '1',
    '-q', String(inflight), '-l', String(seconds), '-t', '2', '-v'];
  const r = spawnSync('sh', ['-c', `exec taskset "$@" > ${JSON.stringify(out)} 2>&1`, 'sh', ...args], { timeout: (seconds + 60) * 1000 });
  const cpu = cpuSeconds(serverPid) - cpu0;
  if (r.status !== 0) throw new Error(`dnsperf failed (${r.status ?? r.signal}): ${readFileSync(out, 'utf8').slice(-500)}`);
  const latencies: number[] = [];
  let text = '';
  for await (const l of createInterface({ input: createReadStream(out) })) {
    if (l.startsWith('> ')) { const v = Number(l.slice(l.lastIndexOf(' ') + 1)); if (Number.isFinite(v)) latencies.push(v * 1000); } else text += l + '\n';
  }
  latencies.sort((a, b) => a - b);
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  const completed = num(/Queries completed:\s+(\d+)/);
  return {
    cpuUs: (cpu / completed) * 1e6,
    qps: num(/Queries per second:\s+([\d.]+)/), sent: num(/Queries sent:\s+(\d+)/), completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/), avg: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99), rcodes: /Response codes:\s+(.*)/.exec(text)?.[1] ?? '',
  };
}

/** CPU seconds (user + system) used so far by a process and its descendants (NSD forks its server). */
function cpuSeconds(pid: number): number {
  let ticks = 0;
  const visit = (p: number) => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
      for (const t of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(' ').filter(Boolean)) visit(Number(c));
      }
    } catch { /* gone */ }
  };
  visit(pid);
  return ticks / 100; // USER_HZ
}

function killTree(p: ChildProcess | undefined): void {
  if (p?.pid && p.exitCode === null) { try { p.kill('SIGTERM'); } catch { /* gone */ } }
}

const fmt = (r: PerfResult) => `${r.qps.toFixed(0)} QPS, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, avg ${r.avg.toFixed(3)} ms, ` +
  `${r.completed}/${r.sent} answered, ${r.lost} lost; server CPU ${r.cpuUs.toFixed(1)} µs/query (~${(1e6 / r.cpuUs).toFixed(0)} QPS per core at 100%); ${r.rcodes}`;

export async function benchDns(): Promise<void> {
  const services = envInt('DNS_BENCH_SERVICES', 10_000);
  const perService = envInt('DNS_BENCH_ENDPOINTS', 10);
  const seconds = Math.min(envInt('DNS_BENCH_SECONDS', 10), 60);
  const clients = Math.min(envInt('DNS_BENCH_CLIENTS', 4), 64);
  const inflight = Math.min(envInt('DNS_BENCH_INFLIGHT', 32), 1000);
  const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const log = (s: string) => process.stdout.write(`dns: ${s}\n`);
  log(`${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}; ${os.cpus().length} CPUs; load average ${loadavg()} at start`);

  const missing = ['taskset:util-linux', 'dnsperf:dnsperf', 'nsd:nsd'].filter((t) => !has(t.split(':')[0]!));
  for (const m of missing) log(`${m.split(':')[0]} is missing: install the Debian package "${m.split(':')[1]}" (apt-get install -y ${m.split(':')[1]}); its part is skipped`);
  const pin = (cpu: string, cmd: string[]) => (has('taskset') ? ['taskset', '-c', cpu, ...cmd] : cmd);

  const dir = mkdtempSync(join(os.tmpdir(), 'pnDn-bench-'));
  let server: ChildProcess | undefined;
  let nsd: ChildProcess | undefined;
  try {
    const { svcs, slices } = records(services, perService);
    const mix = queryMix(services, perService, Math.min(services * 2, 20_000));
    const queryFile = join(dir, 'queries.txt');
    writeFileSync(queryFile, mix.lines.join('\n') + '\n');

    // podnet: the server process with the Node options the DNS pods run with, pinned to one CPU;
    // once on the UDP path it picks (batched through native/udpbatch when built), and once more
    // on node:dgram (PODNET_DNS_UDP=dgram) when that was not already the one.
    const self = fileURLToPath(import.meta.url);
    let podnet: PerfResult | undefined;
    let ref: PerfResult | undefined;
    const byPath: Array<[string, PerfResult]> = [];
    const paths = (process.env.DNS_BENCH_UDP ?? 'auto,dgram').split(',').filter(Boolean);
    for (const path of paths) {
      // DNS_BENCH_NODE_ARGS: extra options for the server process only (e.g. "--cpu-prof --cpu-prof-dir=DIR").
      const extra = (process.env.DNS_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
      const [cmd, ...args] = pin(SERVER_CPU, [process.execPath, '--expose-gc', ...AGENT_NODE_OPTIONS, ...extra, self, 'serve']);
      server = spawn(cmd!, args, {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: { ...process.env, DNS_BENCH_SERVICES: String(services), DNS_BENCH_ENDPOINTS: String(perService), PODNET_DNS_UDP: path === 'dgram' ? 'dgram' : '' },
      });
      const next = lineReader(server);
      const loaded = JSON.parse(await next()) as Loaded;
      if (path !== 'dgram' || byPath.length === 0) {
        log(`index of ${services} Services / ${services * perService} endpoints loaded in ${loaded.loadMs.toFixed(0)} ms: heap +${loaded.heapMB.toFixed(1)} MB, ` +
          `process RSS ${loaded.rssMB.toFixed(0)} MB (issue target ≤ 200 MB; CoreDNS's sizing rule ~164 MB)`);
      }
      server.stdin!.write('rss\n');
      const idle = JSON.parse(await next()) as { rssMB: number; cached: number };
      log(`podnet dns UDP path "${loaded.udpPath}": serving, idle RSS ${idle.rssMB.toFixed(1)} MB`);
      const skip = path === 'dgram' && byPath.some(([p]) => p === 'dgram');
      if (has('dnsperf') && !skip) {
        log(`dnsperf: ${mix.lines.length} distinct queries (EDNS0), ${clients} sockets, ${inflight} outstanding, ${seconds} s; server on CPU ${SERVER_CPU}, dnsperf on CPU ${CLIENT_CPU}`);
        const r = await dnsperf(dir, `podnet-${loaded.udpPath}`, server.pid!, loaded.port, queryFile, seconds, clients, inflight);
        server.stdin!.write('rss\n');
        const after = JSON.parse(await next()) as { rssMB: number; cached: number };
        log(`podnet dns (UDP ${loaded.udpPath}): ${fmt(r)}; RSS after ${after.rssMB.toFixed(0)} MB, ${after.cached} answers cached; load average ${loadavg()}`);
        byPath.push([loaded.udpPath, r]);
        podnet ??= r;
      }
      server.stdin!.write('stop\n');
      await new Promise((r) => server!.once('exit', r));
      server = undefined;
    }

    if (has('dnsperf') && has('nsd')) {
      const zones = zoneFiles(svcs, slices, mix.podNames);
      writeFileSync(join(dir, 'cluster.zone'), zones.forward);
      writeFileSync(join(dir, 'reverse.zone'), zones.reverse);
      const port = await freePort();
      writeFileSync(join(dir, 'nsd.conf'), [
        'server:', `  ip-address: 127.0.0.1@${port}`, `  port: ${port}`, '  server-count: 1', '  username: ""', '  chroot: ""',
        `  zonesdir: "${dir}"`, `  pidfile: "${dir}/nsd.pid"`, `  xfrdfile: "${dir}/xfrd.state"`, `  zonelistfile: "${dir}/zone.list"`,
        `  logfile: "${dir}/nsd.log"`, '  database: ""', '  do-ip6: no', '  verbosity: 0', '  hide-version: yes',
        // Response rate limiting would throttle a load generator on one address (200/s by default).
        '  rrl-ratelimit: 0', '  rrl-whitelist-ratelimit: 0',
        'remote-control:', '  control-enable: no',
        'zone:', `  name: ${ZONE}`, '  zonefile: cluster.zone',
        'zone:', '  name: 10.in-addr.arpa', '  zonefile: reverse.zone', '',
      ].join('\n'));
      const [ncmd, ...nargs] = pin(SERVER_CPU, ['nsd', '-d', '-c', join(dir, 'nsd.conf')]);
      nsd = spawn(ncmd!, nargs, { stdio: ['ignore', 'ignore', 'inherit'] });
      if (!(await waitForAnswer(port, 120))) throw new Error(`nsd did not answer within 120 s; see ${dir}/nsd.log`);
      const version = spawnSync('nsd', ['-v'], { encoding: 'utf8' });
      ref = await dnsperf(dir, 'nsd', nsd.pid!, port, queryFile, seconds, clients, inflight);
      log(`NSD ${/NSD version ([\d.]+)/.exec(version.stderr + version.stdout)?.[1] ?? ''} (same records as zone files, 1 server process): ${fmt(ref)}; load average ${loadavg()}`);
    }
    if (podnet) {
      if (byPath.length > 1) log(`UDP paths: ${byPath.map(([p, r]) => `${p} ${r.qps.toFixed(0)} QPS p99 ${r.p99.toFixed(2)} ms`).join('; ')}`);
      const pass = podnet.qps >= 50_000 && podnet.p99 <= 2;
      log(`result: podnet ${podnet.qps.toFixed(0)} QPS p99 ${podnet.p99.toFixed(2)} ms` +
        (ref ? ` vs NSD ${ref.qps.toFixed(0)} QPS p99 ${ref.p99.toFixed(2)} ms (podnet/NSD ${(podnet.qps / ref.qps).toFixed(2)})` : '') +
        `; issue target ≥ 50,000 QPS with p99 ≤ 2 ms (CoreDNS ~17,000 QPS/vCPU): ${pass ? 'PASS' : 'FAIL'}`);
    }
    log(`load average ${loadavg()} at end`);
  } finally {
    killTree(server);
    killTree(nsd);
    if (nsd) await new Promise((r) => (nsd!.exitCode !== null ? r(undefined) : nsd!.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'serve' && process.argv[1] === fileURLToPath(import.meta.url)) void serveChild();
