// ClusterIP allocation figures (issue 4): 10,000 allocations with the pure allocator
// (src/net/allocator.ts; target ≤ 1 s), and the allocator's memory for a /24 against a /12
// (and an IPv6 /64): flat in range size, set beside what a bitmap of the range would take.
// Pure computation in this process: no server, no network, bounded loops.
//
// Knobs (environment): PODNET_BENCH_SVC_ALLOCS (default 10000), PODNET_BENCH_SVC_INSTANCES
// (allocators per memory sample, default 100).

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { IPRangeAllocator } from '../src/net/allocator.js';
import { envInt, now } from './common.js';

/** A full collection before each heap sample, so the figures are not GC timing noise. */
const gc: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

const heap = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

/** Milliseconds to make `n` dynamic allocations from `cidr`, after `prefill` of them. */
function timeAllocations(cidr: string, n: number, prefill = 0): number {
  const a = new IPRangeAllocator(cidr);
  for (let i = 0; i < prefill; i++) a.allocateNext();
  const t0 = now();
  for (let i = 0; i < n; i++) a.allocateNext();
  return now() - t0;
}

/** Heap bytes per allocator of `cidr` holding `held` addresses (mean over `instances`). */
function bytesPerAllocator(cidr: string, held: number, instances: number): number {
  const before = heap();
  const keep: IPRangeAllocator[] = [];
  for (let i = 0; i < instances; i++) {
    const a = new IPRangeAllocator(cidr);
    for (let j = 0; j < held; j++) a.allocateNext();
    keep.push(a);
  }
  const after = heap();
  if (keep.length !== instances) throw new Error('unreachable');
  return Math.max(0, (after - before) / instances);
}

export async function clusterIPAllocationFigures(): Promise<Record<string, number | string>> {
  const n = envInt('PODNET_BENCH_SVC_ALLOCS', 10_000);
  const instances = envInt('PODNET_BENCH_SVC_INSTANCES', 100);
  timeAllocations('10.96.0.0/16', 1000); // warm up the JIT
  const v4 = timeAllocations('10.96.0.0/16', n);
  const big = timeAllocations('10.96.0.0/12', n);
  const v6 = timeAllocations('fd00:10:96::/64', n);
  // A /16 already 80% full: dynamic allocation probes past taken addresses.
  const crowded = timeAllocations('10.96.0.0/16', n, 42_000);
  const held = 200; // fits a /24 (254 usable)
  const b24 = bytesPerAllocator('10.96.0.0/24', held, instances);
  const b12 = bytesPerAllocator('10.96.0.0/12', held, instances);
  const b64 = bytesPerAllocator('fd00:10:96::/64', held, instances);
  return {
    'allocations': n,
    'alloc ms (/16)': Number(v4.toFixed(1)),
    'alloc ms (/12)': Number(big.toFixed(1)),
    'alloc ms (IPv6 /64)': Number(v6.toFixed(1)),
    'alloc ms (/16, 42k held first)': Number(crowded.toFixed(1)),
    'target ms': 1000,
    [`bytes per allocator (/24, ${held} held)`]: Math.round(b24),
    [`bytes per allocator (/12, ${held} held)`]: Math.round(b12),
    [`bytes per allocator (IPv6 /64, ${held} held)`]: Math.round(b64),
    'ratio /12 ÷ /24 (flat ≈ 1)': Number((b12 / Math.max(b24, 1)).toFixed(2)),
    'bitmap of a /12 would be (bytes)': (1 << 20) / 8,
  };
}

// Run directly: print the figures.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/bench\//, '/bench/'))) {
  void clusterIPAllocationFigures().then((f) => {
    for (const [k, v] of Object.entries(f)) process.stdout.write(`${k.padEnd(44)} ${v}\n`);
  });
}
