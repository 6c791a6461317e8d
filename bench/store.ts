// Benchmarks of the embedded store: durable creates from concurrent clients (throughput and
// latency), then reopen time, memory and full-list time with 100,000 pod-sized objects.
// Everything runs in a temp dir that is removed afterwards; each part is bounded in time.

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedStore } from '../src/apiserver/storage/embedded.js';

const moduleUrl = new URL('../src/apiserver/storage/embedded.js', import.meta.url).href;

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : 0;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const n of await readdir(dir)) total += (await stat(path.join(dir, n))).size;
  return total;
}

/** A pod-like JSON value of about `size` bytes. */
function podJson(ns: string, name: string, size: number): string {
  const pod = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: ns, uid: `${name}-0000-0000-0000`, labels: { app: name.slice(0, 8) } },
    spec: { containers: [{ name: 'main', image: 'registry.local/app:1.0', args: [] as string[] }] },
    status: { phase: 'Running', podIP: '10.244.1.7' },
  };
  const base = JSON.stringify(pod).length;
  pod.spec.containers[0].args.push('x'.repeat(Math.max(0, size - base - 4)));
  return JSON.stringify(pod);
}

export async function benchCreates(seconds: number, clients: number, valueBytes: number): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'podnet-bench-store-'));
  try {
    const s = await EmbeddedStore.open(dir);
    const latencies: number[] = [];
    const end = performance.now() + seconds * 1000;
    const client = async (c: number): Promise<void> => {
      for (let n = 0; performance.now() < end; n++) {
        const key = `/registry/pods/bench/c${c}-${n}`;
        const value = podJson('bench', `c${c}-${n}`, valueBytes);
        const t = performance.now();
        const r = await s.txn([{ key, modRevision: 0 }], [{ type: 'put', key, value }]);
        latencies.push(performance.now() - t);
        if (!r.succeeded) throw new Error(`create of ${key} failed`);
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, (_, c) => client(c)));
    const elapsed = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    console.log(`store: durable creates, ${clients} clients, ${valueBytes} B values: ` +
      `${Math.round(latencies.length / elapsed)} creates/s (${latencies.length} in ${elapsed.toFixed(1)} s), ` +
      `latency p50 ${percentile(latencies, 0.5).toFixed(2)} ms, p99 ${percentile(latencies, 0.99).toFixed(2)} ms, ` +
      `max ${latencies[latencies.length - 1].toFixed(2)} ms   (target: >= 2000/s, p99 <= 50 ms)`);
    await s.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// Run in a fresh process so that its resident memory is the store's alone.
const reopenScript = `
const { EmbeddedStore } = await import(process.env.STORE_MODULE);
const rss0 = process.memoryUsage().rss;
const t0 = performance.now();
const s = await EmbeddedStore.open(process.env.STORE_DIR);
const openMs = performance.now() - t0;
const t1 = performance.now();
const all = await s.range('/registry/pods/', { prefix: true });
const listMs = performance.now() - t1;
const t2 = performance.now();
const page = await s.range('/registry/pods/', { prefix: true, limit: 500, after: all.kvs[50000].key });
const pageMs = performance.now() - t2;
global.gc?.();
const m = process.memoryUsage();
console.log(JSON.stringify({ openMs, listMs, pageMs, count: all.count, page: page.kvs.length,
  rss: m.rss, rss0, heapUsed: m.heapUsed, revision: s.revision }));
await s.close();
`;

export async function benchReopen(keys: number, valueBytes: number): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'podnet-bench-store-'));
  try {
    const s = await EmbeddedStore.open(dir);
    const t0 = performance.now();
    const perTxn = 100;
    let inFlight: Promise<unknown>[] = [];
    for (let i = 0; i < keys; i += perTxn) {
      const ops = [];
      for (let j = i; j < Math.min(keys, i + perTxn); j++) {
        const ns = `ns-${j % 50}`;
        const name = `pod-${j}`;
        ops.push({ type: 'put' as const, key: `/registry/pods/${ns}/${name}`, value: podJson(ns, name, valueBytes) });
      }
      inFlight.push(s.txn([], ops));
      if (inFlight.length >= 8) { await Promise.all(inFlight); inFlight = []; }
    }
    await Promise.all(inFlight);
    const loadS = (performance.now() - t0) / 1000;
    // Half the objects updated once more, so the reopen also replays WAL on top of a snapshot.
    await s.compact(s.revision);
    for (let i = 0; i < keys / 10; i += perTxn) {
      const ops = [];
      for (let j = i; j < Math.min(keys, i + perTxn); j++) {
        const ns = `ns-${j % 50}`;
        const name = `pod-${j}`;
        ops.push({ type: 'put' as const, key: `/registry/pods/${ns}/${name}`, value: podJson(ns, name, valueBytes + 10) });
      }
      await s.txn([], ops);
    }
    await s.close();
    const disk = await dirBytes(path.join(dir, 'store'));

    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', reopenScript], {
        env: { ...process.env, STORE_DIR: dir, STORE_MODULE: moduleUrl }, stdio: ['ignore', 'pipe', 'inherit'],
      });
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => { text += d; });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`reopen child exited ${code}`))));
    });
    const r = JSON.parse(out) as Record<string, number>;
    const mib = (n: number): string => `${(n / (1 << 20)).toFixed(0)} MiB`;
    console.log(`store: ${keys} objects of ${valueBytes} B loaded in ${loadS.toFixed(1)} s; on disk ${mib(disk)}`);
    console.log(`store: reopen (snapshot + WAL replay) ${(r.openMs / 1000).toFixed(2)} s (target <= 5 s); ` +
      `resident ${mib(r.rss)} (process baseline ${mib(r.rss0)}), JS heap ${mib(r.heapUsed)} (target well under 1 GiB)`);
    console.log(`store: full list of ${r.count} keys ${r.listMs.toFixed(0)} ms; page of ${r.page} from the middle ${r.pageMs.toFixed(2)} ms`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function benchStore(): Promise<void> {
  await benchCreates(3, 8, 2048);
  await benchReopen(100_000, 3072);
}
