// `npm run bench -- endpointslices`: the EndpointSlice controller at scale (issue 4's figures).
// For each size S (default 100, 1,000 and 10,000 Services) on a fresh API server:
//   1. load: 10 Nodes in 3 zones, S Services (in 10 namespaces) and S × 10 bound pods, each
//      given a pod IP and Ready through the status subresource (this process plays the kubelet);
//   2. convergence: start the endpoint controllers (endpointslice, endpointslicemirroring,
//      endpoint) in their own process, as kube-controller-manager, and time from its spawn until
//      every Service's slices list its 10 pods, ready (target at 10,000: ≤ 30 s);
//   3. readiness flips: flip one random pod's Ready condition ~200 times, one at a time, and time
//      each until the flip shows in its slice (watched from here): p50 / p99 (target p99 ≤ 100 ms,
//      flat across sizes).
// The API server runs with --no-controllers, so only the endpoint controllers act. Everything
// lives in temp dirs removed afterwards; every process started here is stopped by its PID; all
// traffic is to 127.0.0.1; every loop is bounded in count and time.
//
// Knobs (environment): PODNET_BENCH_EPS_SIZES (default "100,1000,10000"),
// PODNET_BENCH_EPS_PODS (pods per Service, default 10), PODNET_BENCH_EPS_FLIPS (default 200),
// PODNET_BENCH_EPS_TIMEOUT_S (cap on each convergence wait, default 300).
//
// Run with `--controllers KUBECONFIG`, this file is the controller process of step 2.

import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../src/client/client.js';
import { Informer } from '../src/client/informer.js';
import { NODES, PODS, SERVICES } from '../src/client/resources.js';
import { ENDPOINTSLICES, SLICE_SERVICE_INDEX } from '../src/controllers/endpointslice/informers.js';
import type { EndpointSlice } from '../src/controllers/endpointslice/types.js';
import { MAIN_JS, now, percentile, sleep } from './common.js';

const THIS_FILE = fileURLToPath(import.meta.url);
const sizesFromEnv = (process.env.PODNET_BENCH_EPS_SIZES ?? '100,1000,10000').split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
const envNum = (name: string, d: number) => { const v = Number(process.env[name]); return Number.isInteger(v) && v > 0 ? v : d; };
const PODS_PER_SERVICE = envNum('PODNET_BENCH_EPS_PODS', 10);
const FLIPS = envNum('PODNET_BENCH_EPS_FLIPS', 200);
const CONVERGE_TIMEOUT_MS = envNum('PODNET_BENCH_EPS_TIMEOUT_S', 300) * 1000;
const NAMESPACES = 10;
const NODE_COUNT = 10;
const LOAD_CLIENTS = 16;

const log = (s: string) => process.stdout.write(s + '\n');
const progress = (s: string) => process.stderr.write(`  .. ${s}\n`);
const ms = (v: number) => (Number.isFinite(v) ? `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms` : 'n/a');
const secs = (v: number) => `${(v / 1000).toFixed(2)} s`;

// ---- child processes, always stopped by PID ------------------------------------------------------

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
process.on('exit', () => {
  for (const c of children) if (c.pid && c.exitCode === null && c.signalCode === null) { try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

function startChild(args: string[], ready: RegExp, timeoutMs = 60_000): Promise<{ child: ChildProcess; match: RegExpExecArray; exited: Promise<void> }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '', err = '';
  const exited = new Promise<void>((r) => child.once('exit', () => { children.delete(child); r(); }));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-4000); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[1]} did not start in ${timeoutMs} ms: ${err}`)), timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = ready.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, match: m, exited }); }
    });
    void exited.then(() => { clearTimeout(timer); reject(new Error(`${args[1]} exited: ${err}`)); });
  });
}

async function stopChild(c: { child: ChildProcess; exited: Promise<void> }): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null || !c.child.pid) return;
  try { process.kill(c.child.pid, 'SIGTERM'); } catch { /* gone */ }
  if (await Promise.race([c.exited.then(() => false), sleep(15_000).then(() => true)])) {
    try { process.kill(c.child.pid, 'SIGKILL'); } catch { /* gone */ }
    await c.exited;
  }
}

/** Runs `fn(i)` for i in [0, n) with `conc` in flight. */
async function pool(n: number, conc: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(conc, n) }, async () => {
    while (next < n) await fn(next++);
  }));
}

const stamp = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

// ---- one size ------------------------------------------------------------------------------------

interface SizeResult { services: number; pods: number; loadMs: number; convergeMs: number; slices: number; flips: number[] }

async function runSize(services: number): Promise<SizeResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'podnet-bench-eps-'));
  tempDirs.add(dir);
  const server = await startChild([MAIN_JS, 'apiserver', '--data-dir', dir, '--port', '0', '--bind', '127.0.0.1', '--no-controllers'], /serving on (https:\/\/\S+)/);
  const kubeconfig = path.join(dir, 'kubeconfig');
  const client = ApiClient.fromKubeconfig(kubeconfig);
  let controllers: Awaited<ReturnType<typeof startChild>> | undefined;
  let sliceInf: Informer<EndpointSlice> | undefined;
  try {
    // 1. load
    const t0 = now();
    const nsApi = client.resource({ group: '', version: 'v1', resource: 'namespaces', namespaced: false });
    for (let i = 0; i < NAMESPACES; i++) await nsApi.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `bench-${i}` } });
    const nodes = client.resource(NODES);
    for (let i = 0; i < NODE_COUNT; i++) {
      await nodes.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${i}`, labels: { 'topology.kubernetes.io/zone': `zone-${i % 3}` } } });
      await nodes.patch(`node-${i}`, 'merge', { status: { allocatable: { cpu: '8' }, capacity: { cpu: '8' }, conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: stamp(), lastTransitionTime: stamp() }] } }, { subresource: 'status' });
    }
    const svcName = (i: number) => `svc-${i}`;
    const nsOf = (i: number) => `bench-${i % NAMESPACES}`;
    await pool(services, LOAD_CLIENTS, async (i) => {
      await client.resource(SERVICES, nsOf(i)).create({
        apiVersion: 'v1', kind: 'Service', metadata: { name: svcName(i) },
        spec: { selector: { app: svcName(i) }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4'] },
      });
    });
    const totalPods = services * PODS_PER_SERVICE;
    const podName = (s: number, k: number) => `svc-${s}-${k}`;
    const ipOf = (n: number) => `10.${64 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
    let loaded = 0;
    await pool(totalPods, LOAD_CLIENTS, async (n) => {
      const s = Math.floor(n / PODS_PER_SERVICE), k = n % PODS_PER_SERVICE;
      const api = client.resource(PODS, nsOf(s));
      await api.create({
        apiVersion: 'v1', kind: 'Pod', metadata: { name: podName(s, k), labels: { app: svcName(s) } },
        spec: { nodeName: `node-${n % NODE_COUNT}`, containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.9', ports: [{ name: 'http', containerPort: 8080 }] }] },
      });
      await api.patch(podName(s, k), 'merge', {
        status: { phase: 'Running', podIP: ipOf(n), podIPs: [{ ip: ipOf(n) }], conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: stamp() }] },
      }, { subresource: 'status' });
      if (++loaded % 20_000 === 0) progress(`${loaded} / ${totalPods} pods`);
    });
    const loadMs = now() - t0;
    progress(`size ${services}: loaded ${services} Services and ${totalPods} pods in ${secs(loadMs)}`);

    // Watch slices from here: per Service, how many of its endpoints are ready.
    const readyCount = new Map<string, number>();
    let converged = 0;
    let onChange: ((key: string) => void) | undefined;
    sliceInf = new Informer<EndpointSlice>(client.resource(ENDPOINTSLICES), { name: 'bench slices' });
    sliceInf.addIndex(SLICE_SERVICE_INDEX, (s) => [`${s.metadata.namespace}/${s.metadata.labels?.['kubernetes.io/service-name'] ?? ''}`]);
    const recount = (s: EndpointSlice) => {
      const key = `${s.metadata.namespace}/${s.metadata.labels?.['kubernetes.io/service-name'] ?? ''}`;
      const n = sliceInf!.byIndex(SLICE_SERVICE_INDEX, key).reduce((k, x) => k + (x.endpoints ?? []).filter((e) => e.conditions?.ready).length, 0);
      const before = readyCount.get(key) ?? 0;
      readyCount.set(key, n);
      if (before !== PODS_PER_SERVICE && n === PODS_PER_SERVICE) converged++;
      else if (before === PODS_PER_SERVICE && n !== PODS_PER_SERVICE) converged--;
      onChange?.(key);
    };
    sliceInf.addEventHandler({ onAdd: recount, onUpdate: (_o, s) => recount(s), onDelete: recount });
    sliceInf.start();
    await sliceInf.waitForSync();

    // 2. convergence, from the controller process's spawn
    const t1 = now();
    controllers = await startChild([THIS_FILE, '--controllers', kubeconfig], /controllers running/);
    const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
    while (converged < services) {
      if (Date.now() > deadline) throw new Error(`only ${converged} of ${services} Services converged in ${CONVERGE_TIMEOUT_MS / 1000} s`);
      await sleep(20);
    }
    const convergeMs = now() - t1;
    const slices = sliceInf.size;
    progress(`size ${services}: converged in ${secs(convergeMs)} (${slices} slices)`);

    // 3. readiness flips, one at a time
    const flips: number[] = [];
    for (let f = 0; f < FLIPS; f++) {
      const s = Math.floor(Math.random() * services), k = Math.floor(Math.random() * PODS_PER_SERVICE);
      const key = `${nsOf(s)}/${svcName(s)}`;
      for (const ready of [false, true]) {
        const want = ready ? PODS_PER_SERVICE : PODS_PER_SERVICE - 1;
        const seen = new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => { onChange = undefined; reject(new Error(`flip of ${podName(s, k)} not seen in 10 s`)); }, 10_000);
          onChange = (changed) => {
            if (changed === key && readyCount.get(key) === want) { clearTimeout(timer); onChange = undefined; resolve(now()); }
          };
        });
        const tf = now();
        await client.resource(PODS, nsOf(s)).patch(podName(s, k), 'merge', {
          status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: stamp() }] },
        }, { subresource: 'status' });
        flips.push((await seen) - tf);
        if (flips.length >= FLIPS) break;
      }
      if (flips.length >= FLIPS) break;
      await sleep(20);
    }
    return { services, pods: totalPods, loadMs, convergeMs, slices, flips: flips.sort((a, b) => a - b) };
  } finally {
    await sliceInf?.stop();
    if (controllers) await stopChild(controllers);
    client.close();
    await stopChild(server);
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  }
}

// ---- entry points --------------------------------------------------------------------------------

export async function benchEndpointSlices(): Promise<void> {
  log('# endpointslices: EndpointSlice controller at scale');
  log(`machine: ${os.availableParallelism()} CPUs, ${(os.totalmem() / (1 << 30)).toFixed(1)} GiB, node ${process.version}, ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`);
  log(`sizes: ${sizesFromEnv.join(', ')} Services × ${PODS_PER_SERVICE} pods; ${FLIPS} readiness flips per size`);
  const results: SizeResult[] = [];
  for (const size of sizesFromEnv) results.push(await runSize(size));
  log('');
  log('| Services | pods | load (create + status) | all slices converged | slices | flip → slice p50 | p99 | max |');
  log('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    log(`| ${r.services.toLocaleString('en-US')} | ${r.pods.toLocaleString('en-US')} | ${secs(r.loadMs)} | ${secs(r.convergeMs)} | ${r.slices} | ` +
      `${ms(percentile(r.flips, 0.5))} | ${ms(percentile(r.flips, 0.99))} | ${ms(r.flips[r.flips.length - 1] ?? NaN)} |`);
  }
  const largest = results.find((r) => r.services === 10_000);
  if (largest) {
    log('');
    log(`10,000 Services converged in ${secs(largest.convergeMs)} (target ≤ 30 s): ${largest.convergeMs <= 30_000 ? 'PASS' : 'FAIL'}`);
  }
  const worstP99 = Math.max(...results.map((r) => percentile(r.flips, 0.99)));
  log(`readiness flip p99, worst size: ${ms(worstP99)} (target ≤ 100 ms): ${worstP99 <= 100 ? 'PASS' : 'FAIL'}`);

  // Helper A's ClusterIP allocation figures, when that benchmark exists.
  try {
    const modPath = './services.js';
    const mod = await import(modPath) as { clusterIPAllocationFigures?: () => Promise<unknown> | unknown };
    if (typeof mod.clusterIPAllocationFigures === 'function') {
      log('');
      const figures = await mod.clusterIPAllocationFigures();
      log('ClusterIP allocation (bench/services.ts):');
      if (figures && typeof figures === 'object') for (const [k, v] of Object.entries(figures)) log(`  ${k}: ${String(v)}`);
      else if (figures !== undefined) log(`  ${String(figures)}`);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
  }
}

/** The controller process: the three endpoint controllers, as kube-controller-manager runs them. */
async function runControllers(kubeconfig: string): Promise<void> {
  const { startControllerManager } = await import('../src/controllers/manager.js');
  const { allKinds } = await import('../src/api/kinds/index.js');
  const stop = await startControllerManager(kubeconfig, allKinds, { controllers: ['endpointslice', 'endpointslicemirroring', 'endpoint'] });
  process.stdout.write('controllers running\n');
  await new Promise<void>((r) => { process.once('SIGTERM', r); process.once('SIGINT', r); });
  await stop();
  process.exit(0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === THIS_FILE && process.argv[2] === '--controllers') {
  runControllers(process.argv[3]!).catch((e: unknown) => { process.stderr.write(`controllers: ${(e as Error).stack}\n`); process.exit(1); });
}

