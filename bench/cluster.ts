// Benchmark of a whole `podnet up` cluster on this machine (needs root):
//   a. `podnet up --nodes 3` until every node is Ready (the command's wall time), then `down`;
//   then on a 2-node cluster (the issue's figure is for 2 nodes):
//   b. pod create → Ready latency: agnhost netexec pods created one at a time on the idle
//      cluster (the next once the last is Ready); per pod, from sending the create request to
//      receiving the watch event that shows it Ready; p50/p99;
//   c. throughput: 100 such pods created at once (4 clients, as fast as the API answers);
//      the time from the first create until all are Ready, and their create → Ready spread;
//   d. memory: the supervisor (API server + controllers) and each node daemon (a process in
//      its node's namespace): VmRSS. Each pod: its memory cgroup's working set (usage minus
//      inactive file pages), which is how kubelet, cAdvisor and `kubectl top` read a pod's
//      memory and the figure held to the target; and, for comparison, the VmRSS and Pss sums of
//      its processes (RSS counts the shared pages of the node binary in full for every process;
//      Pss splits them among the processes that map them).
// Each cluster has its own name (pnb<hex>), state dir (a temp dir) and ranges away from the
// defaults; it is always removed with `podnet down` (also on error), and the bench checks that
// none of its namespaces, links or routes are left. Traffic goes to 127.0.0.1 (the API server)
// only; every loop is bounded in count and time.
//
// Knobs (environment): PODNET_BENCH_CLUSTER_PODS (burst size, default 100),
// PODNET_BENCH_CLUSTER_SEQ (sequential pods, default 30), PODNET_BENCH_CLUSTER_NODES (for a,
// default 3); PODNET_AGNHOST_NATIVE=0 runs the pods' netexec on Node.js instead of natively
// (the A/B of docs/benchmarks.md; the clusters' node daemons inherit it).

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadKubeconfig } from '../src/client/kubeconfig.js';
import { podCgroupDirs, readMemory, treePids, type CgroupDir } from '../src/agent/cgroups.js';
import { nativeNetexec } from '../src/agent/agnhost/index.js';
import { envInt, MAIN_JS, now, percentile, sleep } from './common.js';

const POD_COUNT = envInt('PODNET_BENCH_CLUSTER_PODS', 100);
const SEQ_COUNT = envInt('PODNET_BENCH_CLUSTER_SEQ', 30);
const NODES = envInt('PODNET_BENCH_CLUSTER_NODES', 3);
const POD_NODES = 2;
const CREATE_CLIENTS = 4;
const READY_TIMEOUT_MS = 120_000;
const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
// Ranges away from podnet's defaults and from the e2e tests' (198.18.223/224, 10.224–10.227).
const RANGES = ['--node-cidr', '198.18.230.0/24', '--pod-cidr', '10.230.0.0/16', '--service-cidr', '10.231.0.0/16'];

const log = (s: string) => process.stdout.write(`${s}\n`);
const msStr = (v: number) => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : 'n/a');
const mib = (kb: number) => `${(kb / 1024).toFixed(1)} MiB`;
const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const isReady = (pod: any) => pod?.status?.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True'); // eslint-disable-line @typescript-eslint/no-explicit-any

/** Proportional set size in kB (shared pages divided among the processes mapping them). */
function pssKb(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}

function vmRssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch { return 0; }
}

/** CPU time (user + system, of the process and its waited-for children) in ms; 0 when gone. */
function cpuMs(pid: number): number {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    // fields 14-17 (utime stime cutime cstime) are 11-14 after the command name
    return [11, 12, 13, 14].reduce((s, i) => s + Number(f[i]), 0) * 1000 / CLK_TCK;
  } catch { return 0; }
}
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
/** Busy CPU time of the whole machine (all cores, everything but idle and iowait) in ms. */
function machineBusyMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (f.reduce((s, v) => s + v, 0) - f[3]! - f[4]!) * 1000 / CLK_TCK;
}

interface Row { figure: string; measured: string; target: string; result: string }

/** A cluster of the bench's own, removed (and checked for leftovers) by `close()`. */
class BenchCluster {
  readonly name = `pnb${randomBytes(2).toString('hex')}`;
  private readonly stateRoot = mkdtempSync(path.join(os.tmpdir(), 'podnet-bench-cluster-'));
  private readonly env = { ...process.env, PODNET_STATE_ROOT: this.stateRoot };
  upMs = NaN;

  podnet(...args: string[]) {
    return spawnSync(process.execPath, [MAIN_JS, ...args], { encoding: 'utf8', env: this.env, timeout: 180_000 });
  }

  up(nodes: number): void {
    const t0 = now();
    const up = this.podnet('up', '--name', this.name, '--nodes', String(nodes), ...RANGES);
    this.upMs = now() - t0;
    if (up.status !== 0) throw new Error(`podnet up failed (${up.status}): ${up.stderr}${up.stdout}`);
  }

  get kubeconfig() { return loadKubeconfig(path.join(this.stateRoot, this.name, 'apiserver', 'kubeconfig')); }
  /** The pods' cgroup tree of this cluster (one level per node), if it has one. */
  get cgroup(): CgroupDir | undefined {
    return (JSON.parse(readFileSync(path.join(this.stateRoot, this.name, 'state.json'), 'utf8')) as { cgroup?: CgroupDir }).cgroup;
  }
  get supervisorPid(): number {
    return (JSON.parse(readFileSync(path.join(this.stateRoot, this.name, 'state.json'), 'utf8')) as { supervisorPid: number }).supervisorPid;
  }
  /** pid of each node daemon (the processes in the node namespaces). */
  nodeDaemonPids(): number[] {
    return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!)
      .filter((n) => new RegExp(`^${this.name}-node\\d+$`).test(n))
      .flatMap((n) => spawnSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number))
      // the daemon itself, not a short-lived `ip`/`nft` it happens to be running
      .filter((pid) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('node'); } catch { return false; } });
  }
  /** pid of every process in the node namespaces other than the daemons (their `ip` helper shells). */
  nodeHelperPids(daemons: number[]): number[] {
    return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!)
      .filter((n) => new RegExp(`^${this.name}-node\\d+$`).test(n))
      .flatMap((n) => spawnSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number))
      .filter((pid) => !daemons.includes(pid));
  }
  sandboxes(): string[] {
    return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith(`${this.name}-`) && !/-(underlay|node\d+)$/.test(n));
  }

  /** `podnet down`; returns its wall time and the number of leftovers (must be 0). */
  close(): { ms: number; left: number; status: number | null; stderr: string } {
    const t = now();
    const down = this.podnet('down', '--name', this.name);
    const ms = now() - t;
    const n = this.name;
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith(`${n}-`)).length +
      spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(`${n}-`)).length +
      spawnSync('ip', ['route'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(`${n}-`)).length +
      (existsSync('/etc/netns') ? spawnSync('ls', ['/etc/netns'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith(`${n}-`)).length : 0);
    rmSync(this.stateRoot, { recursive: true, force: true });
    return { ms, left, status: down.status, stderr: down.stderr };
  }
}

/** HTTP(S) calls and one pod watch against a bench cluster. */
class PodApi {
  private readonly cfg;
  private readonly agent;
  private readonly headers;
  private watchReq?: ReturnType<typeof https.request>;
  /** name → time the watch first showed it Ready */
  readonly readyAt = new Map<string, number>();
  readonly nodeOf = new Map<string, string>();
  private waiters = new Map<string, () => void>();

  constructor(c: BenchCluster, readonly ns = 'default') {
    this.cfg = c.kubeconfig;
    this.agent = new https.Agent({ keepAlive: true, maxSockets: CREATE_CLIENTS + 2, ca: this.cfg.ca });
    this.headers = { Authorization: `Bearer ${this.cfg.token}`, 'Content-Type': 'application/json', Accept: 'application/json' };
  }

  call(method: string, p: string, body?: unknown): Promise<{ status: number; json: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    return new Promise((resolve, reject) => {
      const req = https.request(`${this.cfg.server}${p}`, { method, agent: this.agent, headers: this.headers, timeout: 30_000 }, (res) => {
        let b = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { b += d; });
        res.on('end', () => { try { resolve({ status: res.statusCode ?? 0, json: b ? JSON.parse(b) : undefined }); } catch (e) { reject(e); } });
      });
      req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${p}`)));
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /** Watches the namespace's pods from now; the receipt time of the first event showing a pod Ready counts. */
  async watch(): Promise<void> {
    const list = await this.call('GET', `/api/v1/namespaces/${this.ns}/pods`);
    this.watchReq = https.request(`${this.cfg.server}/api/v1/namespaces/${this.ns}/pods?watch=1&allowWatchBookmarks=false&resourceVersion=${list.json.metadata.resourceVersion}`,
      { agent: new https.Agent({ keepAlive: false, ca: this.cfg.ca }), headers: this.headers }, (res) => {
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
            const pod = JSON.parse(line).object;
            const pn = pod?.metadata?.name as string | undefined;
            if (!pn || this.readyAt.has(pn)) continue;
            if (pod.spec?.nodeName) this.nodeOf.set(pn, pod.spec.nodeName);
            if (isReady(pod)) {
              this.readyAt.set(pn, t);
              this.waiters.get(pn)?.();
            }
          }
        });
      });
    this.watchReq.on('error', () => {});
    this.watchReq.end();
    await sleep(200);
  }

  async create(n: string): Promise<number> {
    const t = now();
    const r = await this.call('POST', `/api/v1/namespaces/${this.ns}/pods`, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: n, labels: { app: 'bench' } },
      spec: { containers: [{ name: 'netexec', image: AGNHOST, args: ['netexec', '--http-port=8080'] }] },
    });
    if (r.status !== 201) throw new Error(`create ${n}: ${r.status} ${JSON.stringify(r.json)}`);
    return t;
  }

  /** Resolves when `n` is Ready, or false after `ms`. */
  ready(n: string, ms: number): Promise<boolean> {
    if (this.readyAt.has(n)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiters.delete(n); resolve(false); }, ms);
      this.waiters.set(n, () => { clearTimeout(t); this.waiters.delete(n); resolve(true); });
    });
  }

  close(): void {
    this.watchReq?.destroy();
    this.agent.destroy();
  }
}

export async function benchCluster(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the cluster benchmark needs root (it creates network namespaces)');
  const machine = {
    nproc: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', memory: `${(os.totalmem() / (1 << 30)).toFixed(1)} GiB`,
    node: process.version, date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  const rows: Row[] = [];
  const loadStart = loadavg();
  const netexec = nativeNetexec();
  log(`cluster bench: up with ${NODES} nodes; then ${SEQ_COUNT} pods one at a time and ${POD_COUNT} at once on ${POD_NODES} nodes; ` +
    `netexec ${netexec.path ? 'native' : `on Node.js (${netexec.problem})`}; ` +
    `${machine.nproc} x ${machine.cpu}, ${machine.memory}, Node ${machine.node}; load average ${loadStart}`);
  const closeAndCheck = (c: BenchCluster) => {
    const d = c.close();
    log(`podnet down --name ${c.name}: exit ${d.status} in ${(d.ms / 1000).toFixed(2)} s; leftovers (netns, links, routes, /etc/netns): ${d.left}${d.status ? `\n${d.stderr}` : ''}`);
    if (d.status !== 0 || d.left) process.exitCode = 1;
    return d;
  };

  // ---- a. up ---------------------------------------------------------------------------
  {
    const c = new BenchCluster();
    try {
      c.up(NODES);
      const api = new PodApi(c);
      const nodes = (await api.call('GET', '/api/v1/nodes')).json.items as unknown[];
      const readyNodes = nodes.filter(isReady).length;
      api.close();
      log(`a. podnet up --nodes ${NODES}: ${(c.upMs / 1000).toFixed(2)} s, ${readyNodes}/${nodes.length} nodes Ready when it returned`);
      rows.push({ figure: `\`podnet up --nodes ${NODES}\` until all nodes Ready`, measured: `${(c.upMs / 1000).toFixed(2)} s (${readyNodes}/${nodes.length} Ready)`,
        target: '≤ 5 s (kind: tens of seconds)', result: c.upMs <= 5000 && readyNodes === NODES ? 'PASS' : 'FAIL' });
    } finally { closeAndCheck(c); }
  }

  const c = new BenchCluster();
  try {
    c.up(POD_NODES);
    const supervisorPid = c.supervisorPid;
    const daemons = c.nodeDaemonPids();
    const rssIdle = vmRssKb(supervisorPid);
    const daemonIdle = daemons.map(vmRssKb);
    const api = new PodApi(c);
    await api.watch();

    // ---- b. latency, one pod at a time -----------------------------------------------------
    const seqLat: number[] = [];
    for (let i = 0; i < SEQ_COUNT; i++) {
      const n = `seq-${String(i).padStart(3, '0')}`;
      const t = await api.create(n);
      if (!(await api.ready(n, 30_000))) throw new Error(`${n} not Ready after 30 s`);
      seqLat.push(api.readyAt.get(n)! - t);
      await sleep(100); // let the node settle (status writes, events) before the next
    }
    seqLat.sort((x, y) => x - y);
    const sp50 = percentile(seqLat, 0.5);
    const sp99 = percentile(seqLat, 0.99);
    log(`b. ${SEQ_COUNT} pods one at a time: create→Ready p50 ${msStr(sp50)}, p90 ${msStr(percentile(seqLat, 0.9))}, p99 ${msStr(sp99)}, min ${msStr(seqLat[0] ?? NaN)}, max ${msStr(seqLat[seqLat.length - 1] ?? NaN)}`);
    rows.push({ figure: `pod create → Ready, agnhost netexec, one at a time on an idle ${POD_NODES}-node cluster (${SEQ_COUNT} pods)`, measured: `p50 ${msStr(sp50)}, p99 ${msStr(sp99)}`,
      target: 'p50 ≤ 300 ms, p99 ≤ 1 s', result: sp50 <= 300 && sp99 <= 1000 ? 'PASS' : 'FAIL' });

    // ---- c. throughput: POD_COUNT at once ------------------------------------------------
    const sent = new Map<string, number>();
    const sandboxCpu = (sb: string) => spawnSync('ip', ['netns', 'pids', sb], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)
      .reduce((s2, p) => s2 + cpuMs(Number(p)), 0);
    const sandboxesBefore = new Map(c.sandboxes().map((sb) => [sb, sandboxCpu(sb)]));
    const helpers = c.nodeHelperPids(daemons);
    const cpuBefore = { sup: cpuMs(supervisorPid), daemons: daemons.map(cpuMs), helpers: helpers.map(cpuMs), machine: machineBusyMs(), bench: process.cpuUsage() };
    const names = Array.from({ length: POD_COUNT }, (_, i) => `burst-${String(i).padStart(3, '0')}`);
    const tCreate = now();
    let next = 0;
    await Promise.all(Array.from({ length: CREATE_CLIENTS }, async () => {
      for (let i = next++; i < POD_COUNT; i = next++) sent.set(names[i]!, await api.create(names[i]!));
    }));
    const createdMs = now() - tCreate;
    const deadline = tCreate + READY_TIMEOUT_MS;
    for (const n of names) if (!(await api.ready(n, Math.max(0, deadline - now())))) break;
    const ready = names.filter((n) => api.readyAt.has(n));
    const lat = ready.map((n) => api.readyAt.get(n)! - sent.get(n)!).sort((x, y) => x - y);
    const lastReady = ready.length === POD_COUNT ? Math.max(...ready.map((n) => api.readyAt.get(n)!)) - tCreate : NaN;
    const perNode = new Map<string, number>();
    for (const n of names) { const nn = api.nodeOf.get(n); if (nn) perNode.set(nn, (perNode.get(nn) ?? 0) + 1); }
    log(`c. ${POD_COUNT} pods created at once in ${(createdMs / 1000).toFixed(2)} s; ${ready.length} Ready; all Ready ${Number.isFinite(lastReady) ? `${(lastReady / 1000).toFixed(2)} s after the first create` : 'never'}; ` +
      `create→Ready p50 ${msStr(percentile(lat, 0.5))}, p99 ${msStr(percentile(lat, 0.99))}; per node ${[...perNode].sort().map(([k, v]) => `${k.slice(c.name.length + 1)}=${v}`).join(' ')}; load average ${loadavg()}`);
    // CPU per pod of the burst: the supervisor's and daemons' growth, the new pods' own processes
    // (with the wrapper's waited-for children), and the machine's busy time over the same span.
    {
      const sup = cpuMs(supervisorPid) - cpuBefore.sup;
      const dm = daemons.map((p, i) => cpuMs(p) - cpuBefore.daemons[i]!);
      // the daemons' `ip` helper shells, with the runs they reaped (a helper started during the
      // burst counts from zero)
      const helpersAfter = c.nodeHelperPids(daemons);
      const hp = helpersAfter.reduce((sum, p) => sum + cpuMs(p) - (helpers.includes(p) ? cpuBefore.helpers[helpers.indexOf(p)]! : 0), 0);
      const machine = machineBusyMs() - cpuBefore.machine;
      const benchCpu = process.cpuUsage(cpuBefore.bench);
      const bench = (benchCpu.user + benchCpu.system) / 1000;
      let pods = 0;
      let other = 0;
      for (const sb of c.sandboxes()) {
        const before = sandboxesBefore.get(sb);
        if (before === undefined) pods += sandboxCpu(sb); else other += sandboxCpu(sb) - before;
      }
      const per = (v: number) => `${(v / POD_COUNT).toFixed(0)} ms`;
      log(`c. CPU per burst pod: supervisor ${per(sup)}, node daemons ${per(dm.reduce((a, b) => a + b, 0))} (${dm.map((v) => (v / 1000).toFixed(1)).join(' + ')} s), their \`ip\` helpers ${per(hp)}, ` +
        `pod processes ${per(pods)}, earlier pods (cluster DNS, idle ones) ${per(other)}, this bench ${per(bench)}; machine busy ${per(machine)} (${(machine / 1000).toFixed(1)} s over the burst, rest: kernel threads, short-lived ip/nft runs, other load)`);
    }
    rows.push({ figure: `${POD_COUNT} pods created at once on ${POD_NODES} nodes: all Ready (from the first create)`,
      measured: `${Number.isFinite(lastReady) ? `${(lastReady / 1000).toFixed(2)} s` : `only ${ready.length} Ready after ${READY_TIMEOUT_MS / 1000} s`} (creates took ${(createdMs / 1000).toFixed(2)} s; create→Ready p50 ${msStr(percentile(lat, 0.5))}, p99 ${msStr(percentile(lat, 0.99))})`,
      target: '≤ 20 s', result: ready.length === POD_COUNT && lastReady <= 20_000 ? 'PASS' : 'FAIL' });
    api.close();

    // ---- d. memory -----------------------------------------------------------------------
    await sleep(2000); // let the probes and status writes settle
    const rssSup = vmRssKb(supervisorPid);
    const daemonBusy = daemons.map(vmRssKb);
    const sandboxes = c.sandboxes();
    const cg = c.cgroup;
    if (!cg) throw new Error('the cluster has no pod cgroups (state.json has no "cgroup"): pod memory cannot be read as kubelet reads it');
    // Each pod's cgroup: <cluster>/<node>/[<qos>/]pod<uid>/<container>-<n>; its processes are those of its containers' cgroups.
    interface PodMem { workingSetKb: number; rssKb: number; pssKb: number; procs: number }
    const agnhost: PodMem[] = [];
    const dns: PodMem[] = [];
    const subdirs = (d: string) => readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(d, e.name));
    for (const nodeDir of subdirs(cg.dir)) {
      for (const podDir of await podCgroupDirs(nodeDir)) {
        const pids = await treePids(podDir);
        const mem = await readMemory({ version: cg.version, dir: podDir });
        if (!mem || !pids.length) continue;
        const m: PodMem = {
          workingSetKb: mem.workingSetBytes / 1024, procs: pids.length,
          rssKb: pids.reduce((s, p) => s + vmRssKb(p), 0), pssKb: pids.reduce((s, p) => s + pssKb(p), 0),
        };
        // the cluster DNS pods (podnet.io/podnet running `podnet dns`) are reported on their own
        const isDns = pids.some((p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes('dns'); } catch { return false; } });
        (isDns ? dns : agnhost).push(m);
      }
    }
    const procs = [...agnhost, ...dns].reduce((s, m) => s + m.procs, 0);
    const stats = (ms: PodMem[], k: keyof PodMem) => { const v = ms.map((m) => m[k]).sort((x, y) => x - y); return { med: percentile(v, 0.5), max: v[v.length - 1] ?? NaN }; };
    const ws = stats(agnhost, 'workingSetKb');
    const rss = stats(agnhost, 'rssKb');
    const pss = stats(agnhost, 'pssKb');
    const dMax = Math.max(...daemonIdle, ...daemonBusy);
    const MB50 = 50 * 1000 * 1000 / 1024;
    log(`d. supervisor (API server + controllers) VmRSS ${mib(rssIdle)} idle, ${mib(rssSup)} with ${sandboxes.length} pods; node daemons ${daemonIdle.map(mib).join(', ')} idle, ` +
      `${daemonBusy.map(mib).join(', ')} with pods; ${sandboxes.length} pod sandboxes, ${agnhost.length + dns.length} pod cgroups (${cg.dir}, cgroup v${cg.version}), ${procs} processes`);
    log(`d. agnhost pods (${agnhost.length}): working set median ${mib(ws.med)}, max ${mib(ws.max)}; VmRSS median ${mib(rss.med)}, max ${mib(rss.max)}; Pss median ${mib(pss.med)}, max ${mib(pss.max)}`);
    log(`d. cluster DNS pods (${dns.length}): working set ${dns.map((m) => mib(m.workingSetKb)).join(', ')}; VmRSS ${dns.map((m) => mib(m.rssKb)).join(', ')}; Pss ${dns.map((m) => mib(m.pssKb)).join(', ')}`);
    rows.push({ figure: 'supervisor RSS (API server + controller manager)', measured: `${mib(rssIdle)} after up; ${mib(rssSup)} with ${sandboxes.length} pods`, target: '–', result: '–' });
    rows.push({ figure: `node daemon RSS (${daemons.length} processes, each in its node's namespace)`, measured: `${daemonIdle.map(mib).join(', ')} after up; ${daemonBusy.map(mib).join(', ')} with ~${Math.round(sandboxes.length / POD_NODES)} pods each`,
      target: '≤ 80 MB', result: daemons.length === POD_NODES && dMax <= 80 * 1000 * 1000 / 1024 ? 'PASS' : 'FAIL' });
    rows.push({ figure: `per pod memory, agnhost netexec (${agnhost.length} pods): the pod cgroup's working set, as kubelet reads it`, measured: `median ${mib(ws.med)}, max ${mib(ws.max)}`,
      target: '≤ 50 MB', result: agnhost.length > 0 && ws.max <= MB50 ? 'PASS' : 'FAIL' });
    rows.push({ figure: '  same pods: VmRSS, Pss of their processes', measured: `VmRSS median ${mib(rss.med)}, max ${mib(rss.max)}; Pss median ${mib(pss.med)}, max ${mib(pss.max)}`, target: '–', result: '–' });
    const dnsWs = Math.max(...dns.map((m) => m.workingSetKb));
    rows.push({ figure: `per pod memory, cluster DNS (podnet.io/podnet running \`podnet dns\`; ${dns.length} pods): working set`, measured: dns.map((m) => mib(m.workingSetKb)).join(', '),
      target: '≤ 50 MB', result: dns.length > 0 && dnsWs <= MB50 ? 'PASS' : 'FAIL' });
    rows.push({ figure: '  same pods: VmRSS, Pss', measured: `VmRSS ${dns.map((m) => mib(m.rssKb)).join(', ')}; Pss ${dns.map((m) => mib(m.pssKb)).join(', ')}`, target: '–', result: '–' });
  } finally {
    closeAndCheck(c);
  }

  const line = (r: Row) => `| ${r.figure} | ${r.measured} | ${r.target} | ${r.result} |`;
  log('');
  log(`Results (${machine.date}; netexec ${netexec.path ? 'native' : 'on Node.js'}; ${machine.nproc} x ${machine.cpu}, ${machine.memory}, Node ${machine.node}; load average ${loadStart} at start, ${loadavg()} at end):`);
  log('');
  log('| figure | measured | target | result |');
  log('|---|---|---|---|');
  for (const r of rows) log(line(r));
}
