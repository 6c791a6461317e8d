// `benchDns()`: the DNS server's throughput and memory. A worker thread loads an index of
// DNS_BENCH_SERVICES Services (default 10,000) with DNS_BENCH_ENDPOINTS endpoints each
// (default 10: 100,000 in all), reports the memory that takes, and serves DNS on 127.0.0.1
// (no forwarding). The main thread is a bounded load generator: DNS_BENCH_SOCKETS UDP sockets,
// each keeping DNS_BENCH_INFLIGHT queries in flight, for DNS_BENCH_SECONDS seconds, over a mix
// of cluster names (ClusterIP A, headless A, SRV, PTR, NXDOMAIN). Loopback only.

import { createSocket, type Socket } from 'node:dgram';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { envInt, now, percentile } from './common.js';
import { MemoryIndex, stripEndpointSlice, stripService } from '../src/dns/records.js';
import { defaultResolverConfig } from '../src/dns/resolver.js';
import { DnsServer } from '../src/dns/server.js';
import { encodeQuery, TYPE } from '../src/dns/wire.js';

interface Loaded { port: number; heapMB: number; rssMB: number; baseHeapMB: number; loadMs: number }

const ip4 = (n: number) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

function buildIndex(services: number, perService: number): MemoryIndex {
  const idx = new MemoryIndex();
  for (let ns = 0; ns < 10; ns++) idx.addNamespace(`ns-${ns}`);
  let ep = 0;
  for (let i = 0; i < services; i++) {
    const namespace = `ns-${i % 10}`, name = `svc-${i}`;
    const headless = i % 2 === 1;
    idx.upsertService(stripService({
      metadata: { namespace, name },
      spec: { clusterIP: headless ? 'None' : ip4((96 << 16) + i + 1), ports: [{ name: 'http', protocol: 'TCP', port: 80 }] },
    }));
    idx.upsertSlice(stripEndpointSlice({
      addressType: 'IPv4', metadata: { namespace, name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
      ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      endpoints: Array.from({ length: perService }, (_, k) => ({ addresses: [ip4((244 << 16) + ep++)], hostname: `p-${k}`, conditions: { ready: true } })),
    }));
  }
  return idx;
}

async function serve(): Promise<void> {
  const { services, perService } = workerData as { services: number; perService: number };
  // A full collection before each reading, so the figure is what the index keeps alive.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  gc?.();
  const base = process.memoryUsage().heapUsed;
  const t0 = now();
  const index = buildIndex(services, perService);
  const loadMs = now() - t0;
  gc?.();
  const mem = process.memoryUsage();
  const server = new DnsServer({ listen: [{ host: '127.0.0.1', port: 0 }], resolver: defaultResolverConfig(), index, log: () => undefined });
  const [addr] = await server.start();
  const loaded: Loaded = { port: addr.port, heapMB: (mem.heapUsed - base) / 2 ** 20, rssMB: mem.rss / 2 ** 20, baseHeapMB: base / 2 ** 20, loadMs };
  parentPort!.postMessage(loaded);
  parentPort!.on('message', () => { void server.stop().then(() => process.exit(0)); });
}

function queryMix(services: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < 200; i++) {
    const s = (i * 7919) % services, ns = `ns-${s % 10}`;
    const name = `svc-${s}.${ns}.svc.cluster.local`;
    switch (i % 5) {
      case 0: case 1: out.push(encodeQuery(0, name, TYPE.A)); break; // ClusterIP or headless A
      case 2: out.push(encodeQuery(0, `_http._tcp.${name}`, TYPE.SRV, { edns: 1232 })); break;
      case 3: { // the ClusterIP of an even (ClusterIP) Service
        const even = s - (s % 2);
        out.push(encodeQuery(0, `${ip4((96 << 16) + even + 1).split('.').reverse().join('.')}.in-addr.arpa`, TYPE.PTR));
        break;
      }
      default: out.push(encodeQuery(0, `missing-${s}.${ns}.svc.cluster.local`, TYPE.A));
    }
  }
  return out;
}

export async function benchDns(): Promise<void> {
  const services = envInt('DNS_BENCH_SERVICES', 10_000);
  const perService = envInt('DNS_BENCH_ENDPOINTS', 10);
  const seconds = Math.min(envInt('DNS_BENCH_SECONDS', 5), 60);
  const sockets = Math.min(envInt('DNS_BENCH_SOCKETS', 4), 64);
  const inflight = Math.min(envInt('DNS_BENCH_INFLIGHT', 16), 256);

  const worker = new Worker(new URL(import.meta.url), { workerData: { services, perService } });
  const loaded = await new Promise<Loaded>((ok, fail) => { worker.once('message', ok); worker.once('error', fail); });
  process.stdout.write(`dns: index of ${services} Services / ${services * perService} endpoints loaded in ${loaded.loadMs.toFixed(0)} ms: ` +
    `heap +${loaded.heapMB.toFixed(1)} MB (process RSS ${loaded.rssMB.toFixed(0)} MB; issue target ≤ 200 MB, CoreDNS's sizing rule ~164 MB)\n`);

  const mix = queryMix(services);
  const latencies: number[] = [];
  let sent = 0, received = 0, errors = 0;
  const deadline = now() + seconds * 1000;
  const socks: Socket[] = [];
  await Promise.all(Array.from({ length: sockets }, (_, si) => new Promise<void>((done) => {
    const s = createSocket('udp4');
    socks.push(s);
    const started = new Map<number, number>();
    let nextId = si << 12;
    const fire = () => {
      if (now() >= deadline) { if (started.size === 0) done(); return; }
      const id = (nextId = (nextId + 1) & 0xffff);
      const q = Buffer.from(mix[(sent++) % mix.length]);
      q.writeUInt16BE(id, 0);
      started.set(id, now());
      s.send(q, loaded.port, '127.0.0.1');
    };
    s.on('message', (m) => {
      const t = started.get(m.readUInt16BE(0));
      if (t === undefined) return;
      started.delete(m.readUInt16BE(0));
      received++;
      latencies.push(now() - t);
      if ((m[3] & 0xf) !== 0 && (m[3] & 0xf) !== 3) errors++;
      fire();
    });
    // A lost datagram must not stall a slot forever: refill slots whose query is too old.
    const sweep = setInterval(() => {
      const cut = now() - 1000;
      for (const [id, t] of started) if (t < cut) { started.delete(id); fire(); }
      if (now() >= deadline + 1500) { clearInterval(sweep); done(); }
    }, 250);
    s.bind(0, '127.0.0.1', () => { for (let i = 0; i < inflight; i++) fire(); });
  })));
  for (const s of socks) s.close();
  worker.postMessage('stop');
  await new Promise((r) => worker.once('exit', r));

  latencies.sort((a, b) => a - b);
  const qps = received / seconds;
  process.stdout.write(`dns: ${received} answers in ${seconds} s over loopback (${sockets} sockets × ${inflight} in flight, 1 server thread): ` +
    `${qps.toFixed(0)} QPS, p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms, ` +
    `${sent - received} unanswered, ${errors} errors; issue target ≥ 50,000 QPS with p99 ≤ 2 ms (CoreDNS ~17,000 QPS/vCPU)\n`);
}

if (!isMainThread && workerData) void serve();
