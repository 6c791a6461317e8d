// Benchmark of a whole `podnet up` cluster on this machine (needs root):
//   a. `podnet up --nodes 3` until every node is Ready (the command's wall time);
//   b. pod create → Ready for 100 agnhost netexec pods (individual pods, created by 4 clients
//      at ≤ 25 creates/s, scheduled over the 3 nodes): per pod, the time from sending its create
//      request to receiving the watch event that shows it Ready; p50/p99, and the time until all
//      100 are Ready;
//   c. resident memory: the supervisor process (API server + controllers + every node's agent,
//      one process today) and each pod's processes (`ip netns pids <sandbox>`, VmRSS summed).
// The cluster has its own name (pnb<hex>), state dir (a temp dir) and ranges away from the
// defaults; it is always removed with `podnet down` (also on error), and the bench checks that
// none of its namespaces, links or routes are left. Traffic goes to 127.0.0.1 (the API server)
// only; every loop is bounded in count and time.
//
// Knobs (environment): PODNET_BENCH_CLUSTER_PODS (default 100), PODNET_BENCH_CLUSTER_NODES
// (default 3).

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadKubeconfig } from '../src/client/kubeconfig.js';
import { envInt, MAIN_JS, now, percentile, sleep } from './common.js';

const POD_COUNT = envInt('PODNET_BENCH_CLUSTER_PODS', 100);
const NODES = envInt('PODNET_BENCH_CLUSTER_NODES', 3);
const CREATE_CLIENTS = 4;
const CREATE_RATE = 25; // creates per second, at most
const READY_TIMEOUT_MS = 120_000;
const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
// Ranges away from podnet's defaults and from the e2e tests' (198.18.223/224, 10.224–10.227).
const RANGES = ['--node-cidr', '198.18.230.0/24', '--pod-cidr', '10.230.0.0/16', '--service-cidr', '10.231.0.0/16'];


const log = (s: string) => process.stdout.write(`${s}\n`);
const msStr = (v: number) => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : 'n/a');
const mib = (kb: number) => `${(kb / 1024).toFixed(1)} MiB`;
const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

function vmRssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}

interface Row { figure: string; measured: string; target: string; result: string }

export async function benchCluster(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the cluster benchmark needs root (it creates network namespaces)');
  const name = `pnb${randomBytes(2).toString('hex')}`;
  const stateRoot = mkdtempSync(path.join(os.tmpdir(), 'podnet-bench-cluster-'));
  const env = { ...process.env, PODNET_STATE_ROOT: stateRoot };
  const podnet = (...args: string[]) => spawnSync(process.execPath, [MAIN_JS, ...args], { encoding: 'utf8', env, timeout: 180_000 });
  const machine = {
    nproc: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', memory: `${(os.totalmem() / (1 << 30)).toFixed(1)} GiB`,
    node: process.version, date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  const rows: Row[] = [];
  const notes: string[] = [];
  const loadStart = loadavg();
  log(`cluster bench: ${name}, ${NODES} nodes, ${POD_COUNT} pods; ${machine.nproc} x ${machine.cpu}, ${machine.memory}, Node ${machine.node}; load average ${loadStart}`);
  try {
    // ---- a. up ---------------------------------------------------------------------------
    const t0 = now();
    const up = podnet('up', '--name', name, '--nodes', String(NODES), ...RANGES);
    const upMs = now() - t0;
    if (up.status !== 0) throw new Error(`podnet up failed (${up.status}): ${up.stderr}${up.stdout}`);
    const cfg = loadKubeconfig(path.join(stateRoot, name, 'apiserver', 'kubeconfig'));
    const agent = new https.Agent({ keepAlive: true, maxSockets: CREATE_CLIENTS + 2, ca: cfg.ca });
    const headers = { Authorization: `Bearer ${cfg.token}`, 'Content-Type': 'application/json', Accept: 'application/json' };
    const call = (method: string, p: string, body?: unknown) => new Promise<{ status: number; json: any }>((resolve, reject) => { // eslint-disable-line @typescript-eslint/no-explicit-any
      const req = https.request(`${cfg.server}${p}`, { method, agent, headers, timeout: 30_000 }, (res) => {
        let b = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { b += d; });
        res.on('end', () => { try { resolve({ status: res.statusCode ?? 0, json: b ? JSON.parse(b) : undefined }); } catch (e) { reject(e); } });
      });
      req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${p}`)));
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
    const nodes = (await call('GET', '/api/v1/nodes')).json.items as any[]; // eslint-disable-line @typescript-eslint/no-explicit-any
    const readyNodes = nodes.filter((n) => n.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True')).length;
    log(`a. podnet up --nodes ${NODES}: ${(upMs / 1000).toFixed(2)} s, ${readyNodes}/${nodes.length} nodes Ready when it returned`);
    rows.push({ figure: `\`podnet up --nodes ${NODES}\` until all nodes Ready`, measured: `${(upMs / 1000).toFixed(2)} s (${readyNodes}/${nodes.length} Ready)`,
      target: '≤ 5 s (kind: tens of seconds)', result: upMs <= 5000 && readyNodes === NODES ? 'PASS' : 'FAIL' });
    const st = JSON.parse(readFileSync(path.join(stateRoot, name, 'state.json'), 'utf8')) as { supervisorPid: number };
    const rssIdle = vmRssKb(st.supervisorPid);

    // ---- b. pod create → Ready -----------------------------------------------------------
    const ns = 'default';
    const list = await call('GET', `/api/v1/namespaces/${ns}/pods`);
    const sent = new Map<string, number>();
    const ready = new Map<string, number>();
    const nodeOf = new Map<string, string>();
    let allReady: () => void = () => {};
    const allReadyP = new Promise<void>((r) => { allReady = r; });
    // Watch from the list's resourceVersion; the receipt time of the first event showing the pod Ready counts.
    const watchReq = https.request(`${cfg.server}/api/v1/namespaces/${ns}/pods?watch=1&allowWatchBookmarks=false&resourceVersion=${list.json.metadata.resourceVersion}`,
      { agent: new https.Agent({ keepAlive: false, ca: cfg.ca }), headers }, (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          const t = now();
          buf += d;
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (!line.trim()) continue;
            const ev = JSON.parse(line);
            const pod = ev.object;
            const pn = pod?.metadata?.name as string | undefined;
            if (!pn || ready.has(pn) || !sent.has(pn)) continue;
            if (pod.spec?.nodeName) nodeOf.set(pn, pod.spec.nodeName);
            if (pod.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True')) {
              ready.set(pn, t);
              if (ready.size === POD_COUNT) allReady();
            }
          }
        });
      });
    watchReq.on('error', () => {});
    watchReq.end();
    await sleep(200);
    const podBody = (n: string) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: n, labels: { app: 'bench' } },
      spec: { containers: [{ name: 'netexec', image: AGNHOST, args: ['netexec', '--http-port=8080'] }] },
    });
    const tCreate = now();
    let next = 0;
    const creator = async () => {
      for (;;) {
        const i = next++;
        if (i >= POD_COUNT) return;
        const due = tCreate + (i * 1000) / CREATE_RATE;
        if (now() < due) await sleep(due - now());
        const n = `bench-${String(i).padStart(3, '0')}`;
        sent.set(n, now());
        const r = await call('POST', `/api/v1/namespaces/${ns}/pods`, podBody(n));
        if (r.status !== 201) throw new Error(`create ${n}: ${r.status} ${JSON.stringify(r.json)}`);
      }
    };
    await Promise.all(Array.from({ length: CREATE_CLIENTS }, creator));
    const createdMs = now() - tCreate;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([allReadyP.then(() => false), new Promise<boolean>((r) => { timer = setTimeout(() => r(true), READY_TIMEOUT_MS); })]);
    clearTimeout(timer);
    watchReq.destroy();
    agent.destroy();
    const lat = [...ready].map(([n, t]) => t - sent.get(n)!).sort((x, y) => x - y);
    const lastReady = ready.size === POD_COUNT ? Math.max(...ready.values()) - tCreate : NaN;
    const p50 = percentile(lat, 0.5);
    const p99 = percentile(lat, 0.99);
    const perNode = new Map<string, number>();
    for (const n of nodeOf.values()) perNode.set(n, (perNode.get(n) ?? 0) + 1);
    log(`b. ${POD_COUNT} pods created in ${(createdMs / 1000).toFixed(2)} s; ${ready.size} Ready${timedOut ? ` (timed out after ${READY_TIMEOUT_MS / 1000} s)` : ''}; ` +
      `create→Ready p50 ${msStr(p50)}, p90 ${msStr(percentile(lat, 0.9))}, p99 ${msStr(p99)}, max ${msStr(lat[lat.length - 1] ?? NaN)}; all Ready ${Number.isFinite(lastReady) ? `${(lastReady / 1000).toFixed(2)} s after the first create` : 'never'}; ` +
      `per node ${[...perNode].sort().map(([k, v]) => `${k.slice(name.length + 1)}=${v}`).join(' ')}; load average ${loadavg()}`);
    rows.push({ figure: `pod create → Ready, ${POD_COUNT} agnhost netexec pods (${CREATE_CLIENTS} clients, ≤ ${CREATE_RATE}/s)`, measured: `p50 ${msStr(p50)}, p99 ${msStr(p99)}${ready.size < POD_COUNT ? ` (of the ${ready.size} Ready)` : ''}`,
      target: 'p50 ≤ 300 ms, p99 ≤ 1 s', result: ready.size === POD_COUNT && p50 <= 300 && p99 <= 1000 ? 'PASS' : 'FAIL' });
    rows.push({ figure: `all ${POD_COUNT} pods Ready (from the first create)`, measured: `${Number.isFinite(lastReady) ? `${(lastReady / 1000).toFixed(2)} s` : `only ${ready.size} Ready after ${READY_TIMEOUT_MS / 1000} s`} (creates took ${(createdMs / 1000).toFixed(2)} s)`,
      target: '≤ 20 s', result: ready.size === POD_COUNT && lastReady <= 20_000 ? 'PASS' : 'FAIL' });

    // ---- c. memory -----------------------------------------------------------------------
    await sleep(2000); // let the probes and status writes settle
    const rssSup = vmRssKb(st.supervisorPid);
    const sandboxes = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith(`${name}-`) && !/-(underlay|node\d+)$/.test(n));
    const perPod: number[] = [];
    let procs = 0;
    for (const sb of sandboxes) {
      const pids = spawnSync('ip', ['netns', 'pids', sb], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
      procs += pids.length;
      perPod.push(pids.reduce((s, p) => s + vmRssKb(p), 0));
    }
    perPod.sort((x, y) => x - y);
    const podMed = percentile(perPod, 0.5);
    const podMax = perPod[perPod.length - 1] ?? NaN;
    log(`c. supervisor VmRSS ${mib(rssIdle)} idle after up, ${mib(rssSup)} with ${ready.size} pods (${mib(rssSup / NODES)} per node if split evenly); ` +
      `${sandboxes.length} pod sandboxes, ${procs} processes; per pod median ${mib(podMed)}, max ${mib(podMax)}`);
    rows.push({ figure: 'supervisor RSS (API server + controllers + all node agents, one process)', measured: `${mib(rssIdle)} after up; ${mib(rssSup)} with ${ready.size} pods`, target: '–', result: '–' });
    rows.push({ figure: 'per node daemon RSS (supervisor ÷ nodes; not separate processes yet)', measured: `${mib(rssIdle / NODES)} after up; ${mib(rssSup / NODES)} with ${ready.size} pods`,
      target: '≤ 80 MB', result: rssSup / NODES <= 80 * 1000 * 1000 / 1024 ? 'PASS*' : 'FAIL*' });
    rows.push({ figure: `per pod RSS (agnhost netexec; VmRSS of the sandbox's processes; ${sandboxes.length} pods)`, measured: `median ${mib(podMed)}, max ${mib(podMax)}`,
      target: '≤ 50 MB', result: podMax <= 50 * 1000 * 1000 / 1024 ? 'PASS' : 'FAIL' });
    notes.push('*node daemons are not separate processes yet: the supervisor runs the API server, the controllers and every node agent in one process, so the per-node figure is the whole process divided by the node count (an upper bound that includes the API server and the controllers).');
  } finally {
    const t = now();
    const down = podnet('down', '--name', name);
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith(`${name}-`)).length +
      spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(`${name}-`)).length +
      spawnSync('ip', ['route'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(`${name}-`)).length +
      (existsSync('/etc/netns') ? spawnSync('ls', ['/etc/netns'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith(`${name}-`)).length : 0);
    log(`podnet down: exit ${down.status} in ${((now() - t) / 1000).toFixed(2)} s; leftovers (netns, links, routes, /etc/netns): ${left}${down.status ? `\n${down.stderr}` : ''}`);
    rmSync(stateRoot, { recursive: true, force: true });
    if (down.status !== 0 || left) process.exitCode = 1;
  }

  const line = (r: Row) => `| ${r.figure} | ${r.measured} | ${r.target} | ${r.result} |`;
  log('');
  log(`Results (${machine.date}; ${machine.nproc} x ${machine.cpu}, ${machine.memory}, Node ${machine.node}; load average ${loadStart} at start, ${loadavg()} at end):`);
  log('');
  log('| figure | measured | target | result |');
  log('|---|---|---|---|');
  for (const r of rows) log(line(r));
  for (const n of notes) log(`\n${n}`);
}
