// Memory and CPU cgroups for pods and containers, laid out as kubelet and runc lay them out: one
// cgroup per pod, below its QoS class's level, and inside it one per container instance.
//
//   <cluster root>/<node>/[burstable/|besteffort/]pod<uid>/<container>-<restartCount>
//
// The node level is kubelet's kubepods: Guaranteed pods sit right in it, Burstable and
// BestEffort pods in a level each. Under contention BestEffort pods as a whole get the least
// CPU (the minimum share, 2), Burstable ones their summed requests, as kubelet sets them.
//
// Memory: the container's `resources.limits.memory` is its cgroup's limit (the kernel's OOM
// killer acts inside it, and the agent reports `OOMKilled`); the pod's limit is the containers'
// summed, when every container has one. A pod's memory reads as kubelet reads it: the cgroup's
// working set (usage minus inactive file pages), as `kubectl top` and eviction see it.
// CPU (when the machine has the controller): `limits.cpu` is a CFS quota per 100 ms period, and
// `requests.cpu` the cgroup's share of contended CPU (kubelet's MilliCPUToQuota/-ToShares).
//
// The cluster root is chosen once by `podnet up` (`clusterCgroupRoot`) and recorded in the
// cluster's state, so `podnet down` finds it after a `kill -9`. Both cgroup versions are
// supported. v1: memory.limit_in_bytes, memory.usage_in_bytes, memory.oom_control, and in the
// cpu hierarchy (mounted apart) cpu.cfs_quota_us and cpu.shares. v2: memory.max, memory.current,
// memory.events, cpu.max, cpu.weight, in one tree where each level hands the controllers down
// (cgroup.subtree_control).

import { existsSync, readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { parseQuantity, podQOSClass, type QosClass } from '../api/quantity.js';

export type CgroupVersion = 1 | 2;

/**
 * A cgroup directory and the hierarchy it belongs to; `cpuDir` is the same level in the CPU
 * controller's tree (v1: another mount; v2: `dir` itself), when the machine has the controller.
 */
export interface CgroupDir { version: CgroupVersion; dir: string; cpuDir?: string }

// ---- pure ---------------------------------------------------------------------------------

export interface CgroupMount { version: CgroupVersion; mountPoint: string; root: string; controllers: string[] }

/**
 * The cgroup mounts, from /proc/self/mountinfo: cgroup v1 hierarchies with their controllers,
 * and cgroup2 (whose controllers are read from its files).
 */
export function cgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const pre = line.slice(0, dash).split(' ');
    const [fstype, , superOpts = ''] = line.slice(dash + 3).split(' ');
    const root = pre[3] ?? '/';
    const mountPoint = (pre[4] ?? '').replace(/\\040/g, ' ');
    if (fstype === 'cgroup2') out.push({ version: 2, mountPoint, root, controllers: [] });
    else if (fstype === 'cgroup') {
      const controllers = superOpts.split(',').filter((o) => ['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'blkio', 'devices', 'freezer'].includes(o));
      if (controllers.length) out.push({ version: 1, mountPoint, root, controllers });
    }
  }
  return out;
}

/** A process's cgroup paths from /proc/<pid>/cgroup: per v1 controller, and the v2 one. */
export function ownCgroups(procCgroup: string): { v1: Record<string, string>; v2?: string } {
  const r: { v1: Record<string, string>; v2?: string } = { v1: {} };
  for (const line of procCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') r.v2 = m[3];
    else for (const c of m[2]!.split(',')) if (c) r.v1[c] = m[3]!;
  }
  return r;
}

/** Where a cgroup path of a hierarchy is on disk, given the mount (whose root may be a sub-path). */
export function cgroupDirOf(mount: CgroupMount, cgroupPath: string): string {
  let rel = cgroupPath;
  if (mount.root !== '/' && (rel === mount.root || rel.startsWith(`${mount.root}/`))) rel = rel.slice(mount.root.length);
  return rel && rel !== '/' ? path.join(mount.mountPoint, rel) : mount.mountPoint;
}

export interface Resourced { resources?: { limits?: Record<string, unknown>; requests?: Record<string, unknown> } }

/** A container's memory limit in bytes (undefined: none, or zero, which means none). */
export function containerMemoryLimit(c: Resourced): number | undefined {
  const q = parseQuantity(c.resources?.limits?.memory);
  return q !== undefined && q > 0 ? Math.ceil(q) : undefined;
}

/** max(sum over app containers, max over init containers), or undefined if any has none. */
function podTotal(pod: { initContainers: Resourced[]; containers: Resourced[] }, of: (c: Resourced) => number | undefined): number | undefined {
  const init = pod.initContainers.map(of);
  const app = pod.containers.map(of);
  if ([...init, ...app].some((l) => l === undefined) || app.length === 0) return undefined;
  const sum = (app as number[]).reduce((a, b) => a + b, 0);
  return Math.max(sum, ...(init as number[]));
}

/**
 * The pod cgroup's limit, as kubelet computes it: only when every container (init ones too) has
 * a memory limit; then the larger of the app containers' sum and the largest init container's.
 */
export function podMemoryLimit(pod: { initContainers: Resourced[]; containers: Resourced[] }): number | undefined {
  return podTotal(pod, containerMemoryLimit);
}

/** CFS settings: a quota (µs per 100 ms period; undefined: none) and a share of contended CPU. */
export interface CpuSettings { quotaUs?: number; shares: number }

export const CFS_PERIOD_US = 100_000;
const milliCpu = (q: unknown): number => { const v = parseQuantity(q); return v !== undefined && v > 0 ? Math.ceil(v * 1000) : 0; };
/** kubelet's MilliCPUToQuota: none for no limit; at least 1 ms per period. */
const quotaUs = (milli: number): number | undefined => (milli > 0 ? Math.max(1000, Math.floor(milli * CFS_PERIOD_US / 1000)) : undefined);
/** kubelet's MilliCPUToShares: 2 (the minimum) without a request, 1024 per CPU, at most 262144. */
const shares = (milli: number): number => Math.min(262_144, Math.max(2, Math.floor(milli * 1024 / 1000)));

/** A container's CPU settings from `limits.cpu` and `requests.cpu`. */
export function containerCpu(c: Resourced): CpuSettings {
  return { quotaUs: quotaUs(milliCpu(c.resources?.limits?.cpu)), shares: shares(milliCpu(c.resources?.requests?.cpu)) };
}

/** The pod's CPU request in millicores: requests summed (kubelet's rule for init containers). */
const podMilliCpuRequest = (pod: { initContainers: Resourced[]; containers: Resourced[] }): number =>
  podTotal(pod, (c) => milliCpu(c.resources?.requests?.cpu)) ?? 0;

/** The pod cgroup's CPU settings: shares from the pod's request; a quota only when every container has a limit. */
export function podCpu(pod: { initContainers: Resourced[]; containers: Resourced[] }): CpuSettings {
  const limit = podTotal(pod, (c) => milliCpu(c.resources?.limits?.cpu) || undefined);
  return { quotaUs: limit === undefined ? undefined : quotaUs(limit), shares: shares(podMilliCpuRequest(pod)) };
}

/** cgroup v2's cpu.weight for v1 shares (the conversion runc and kubelet use). */
export function sharesToWeight(sharesValue: number): number {
  return 1 + Math.floor(((sharesValue - 2) * 9999) / 262_142);
}

/** What one cgroup gets: a memory limit and CPU settings. */
export interface CgroupResources { memoryBytes?: number; cpu: CpuSettings }

/** What a pod's cgroup gets, and what places it: its QoS class and CPU request. */
export interface PodResources extends CgroupResources { qos: QosClass; milliCpuRequest: number }

export function podResources(pod: { initContainers: Resourced[]; containers: Resourced[] }): PodResources {
  return {
    memoryBytes: podMemoryLimit(pod), cpu: podCpu(pod), qos: podQOSClass(pod),
    milliCpuRequest: podMilliCpuRequest(pod),
  };
}

/** kubelet's QoS levels below the node level; Guaranteed pods have none. */
export const QOS_LEVELS: Record<QosClass, string> = { Guaranteed: '', Burstable: 'burstable', BestEffort: 'besteffort' };
const QOS_DIRS = [...new Set(Object.values(QOS_LEVELS))];

/** The pod cgroups below a node's level, in every QoS level (e.g. for a reading over all pods). */
export async function podCgroupDirs(nodeDir: string): Promise<string[]> {
  const found = await Promise.all(QOS_DIRS.map((l) => subdirs(path.join(nodeDir, l))));
  return found.flat().filter((d) => path.basename(d).startsWith('pod'));
}

export function containerResources(c: Resourced): CgroupResources {
  return { memoryBytes: containerMemoryLimit(c), cpu: containerCpu(c) };
}

/** `key value` lines (memory.stat, memory.events, memory.oom_control) as numbers. */
export function parseKeyedCounters(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) m.set(k, Number(v));
  }
  return m;
}

/** The working set as cAdvisor computes it: usage minus inactive file pages (never below zero). */
export function workingSetBytes(version: CgroupVersion, usage: number, stat: Map<string, number>): number {
  const inactive = version === 1 ? stat.get('total_inactive_file') : stat.get('inactive_file');
  return Math.max(0, usage - (inactive ?? 0));
}

const FILES = {
  1: { limit: 'memory.limit_in_bytes', usage: 'memory.usage_in_bytes', oom: 'memory.oom_control' },
  2: { limit: 'memory.max', usage: 'memory.current', oom: 'memory.events' },
} as const;

/** The cgroup's CPU files' contents for `cpu`, per version. */
function cpuFiles(version: CgroupVersion, cpu: CpuSettings): [string, string][] {
  if (version === 1) return [['cpu.shares', String(cpu.shares)], ['cpu.cfs_quota_us', String(cpu.quotaUs ?? -1)]];
  return [['cpu.weight', String(sharesToWeight(cpu.shares))], ['cpu.max', `${cpu.quotaUs ?? 'max'} ${CFS_PERIOD_US}`]];
}

// ---- the machine ----------------------------------------------------------------------------

/**
 * Where cluster `name`'s cgroups go on this machine, or an explanation of why there is no
 * place: under the cgroups of the calling process (v1: in the memory hierarchy, and in the cpu
 * one when mounted), or, with cgroup v2, under the first cgroup on the way to the hierarchy's
 * root that can hand the memory controller down.
 */
export function clusterCgroupRoot(name: string): CgroupDir | { error: string } {
  const r = findClusterCgroupRoot(name);
  // the container's init shell takes the cgroup.procs paths as one space-separated word list
  if (!('error' in r) && cgroupTrees(r).some((d) => /\s/.test(d))) return { error: `the cgroup path ${r.dir} has white space in it` };
  return r;
}

function findClusterCgroupRoot(name: string): CgroupDir | { error: string } {
  let mountinfo: string;
  let own: { v1: Record<string, string>; v2?: string };
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    own = ownCgroups(readFileSync('/proc/self/cgroup', 'utf8'));
  } catch (e) {
    return { error: `cannot read this process's cgroups: ${(e as Error).message}` };
  }
  const leaf = `podnet-${name}`;
  const mounts = cgroupMounts(mountinfo);
  const v2 = mounts.find((m) => m.version === 2);
  const v2Controllers = v2 ? (() => { try { return readFileSync(path.join(v2.mountPoint, 'cgroup.controllers'), 'utf8').split(/\s+/); } catch { return []; } })() : [];
  if (v2 && v2Controllers.includes('memory') && own.v2 !== undefined) {
    // A v2 cgroup with processes cannot pass controllers to children, so walk up from our own
    // cgroup to the first one that already delegates memory (or is the root, which may).
    let dir = cgroupDirOf(v2, own.v2);
    for (;;) {
      const sub = (() => { try { return readFileSync(path.join(dir, 'cgroup.subtree_control'), 'utf8'); } catch { return ''; } })();
      if (sub.split(/\s+/).includes('memory') || dir === v2.mountPoint) break;
      dir = path.dirname(dir);
    }
    const root = path.join(dir, leaf);
    return { version: 2, dir: root, ...(v2Controllers.includes('cpu') ? { cpuDir: root } : {}) };
  }
  const mem = mounts.find((m) => m.version === 1 && m.controllers.includes('memory'));
  const cpu = mounts.find((m) => m.version === 1 && m.controllers.includes('cpu'));
  if (mem && own.v1.memory !== undefined) {
    return {
      version: 1, dir: path.join(cgroupDirOf(mem, own.v1.memory), leaf),
      ...(cpu && own.v1.cpu !== undefined ? { cpuDir: path.join(cgroupDirOf(cpu, own.v1.cpu), leaf) } : {}),
    };
  }
  return { error: 'no cgroup hierarchy with the memory controller is mounted' };
}

/** The level `name` below `cg`, in each of its trees. */
export function cgroupChild(cg: CgroupDir, name: string): CgroupDir {
  return { version: cg.version, dir: path.join(cg.dir, name), ...(cg.cpuDir ? { cpuDir: path.join(cg.cpuDir, name) } : {}) };
}

/** The distinct trees a cgroup level lives in (v1: memory and cpu apart; v2: one). */
export const cgroupTrees = (cg: CgroupDir): string[] => [...new Set([cg.dir, ...(cg.cpuDir ? [cg.cpuDir] : [])])];

/**
 * `clusterCgroupRoot`, tried: a node level and a pod level are created there with a memory
 * limit, then removed. A hierarchy that is mounted but not writable here (a container without
 * delegation, say) gives an error, rather than pods that can never start.
 */
export async function usableClusterCgroupRoot(name: string): Promise<CgroupDir | { error: string }> {
  const root = clusterCgroupRoot(name);
  if ('error' in root) return root;
  const trial = new PodCgroups(cgroupChild(root, 'trial'));
  try {
    await trial.ensurePod('trial', { memoryBytes: 64 << 20, cpu: { quotaUs: CFS_PERIOD_US, shares: 1024 }, qos: 'Guaranteed', milliCpuRequest: 1000 });
    return root;
  } catch (e) {
    return { error: `cannot create cgroups under ${path.dirname(root.dir)}: ${(e as Error).message}` };
  } finally {
    for (const tree of cgroupTrees(root)) await removeCgroupTree(tree).catch(() => undefined);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

async function readPids(dir: string): Promise<number[]> {
  const t = await fs.readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  return t.split('\n').map(Number).filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid);
}

/** The processes in a cgroup and in every cgroup below it (a pod's: its containers'). */
export async function treePids(dir: string): Promise<number[]> {
  const below = await Promise.all((await subdirs(dir)).map(treePids));
  return [...(await readPids(dir)), ...below.flat()];
}

async function subdirs(dir: string): Promise<string[]> {
  const ents = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  return ents.filter((e) => e.isDirectory()).map((e) => path.join(dir, e.name));
}

/**
 * Removes a cgroup tree bottom-up. Processes still in it were started by podnet (containers and
 * their children): they get SIGKILL by PID first. rmdir is retried while exiting processes
 * still hold a cgroup (EBUSY).
 */
export async function removeCgroupTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const child of await subdirs(dir)) await removeCgroupTree(child);
  for (let attempt = 0; ; attempt++) {
    for (const pid of await readPids(dir)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    try {
      await fs.rmdir(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 50) throw new Error(`removing cgroup ${dir}: ${(e as Error).message}`);
      await sleep(20);
    }
  }
}

/** v2: lets the children of `dir` use the controllers (memory, and cpu when `cpu`). */
async function enableControllersBelow(dir: string, cpu: boolean): Promise<void> {
  const f = path.join(dir, 'cgroup.subtree_control');
  const cur = (await fs.readFile(f, 'utf8').catch(() => '')).split(/\s+/);
  const want = ['memory', ...(cpu ? ['cpu'] : [])].filter((c) => !cur.includes(c));
  if (want.length) await fs.writeFile(f, want.map((c) => `+${c}`).join(' '));
}

export interface PodMemory { usageBytes: number; workingSetBytes: number }

/**
 * One node's pod cgroups: `<node dir>/[<qos level>/]pod<uid>/<container>-<restartCount>`, in
 * the memory tree and (when there is one) the CPU tree, which with cgroup v1 is another mount.
 */
export class PodCgroups {
  private readonly files: (typeof FILES)[CgroupVersion];
  private ready: Promise<void> | undefined;
  /** Pods whose level exists with its limits (a pod's resources do not change). */
  private readonly podsReady = new Set<string>();
  /** The node level in each tree: memory first. */
  private readonly roots: string[];
  /** Each pod's QoS level (relative to the node level), as placed by `ensurePod`. */
  private readonly podLevels = new Map<string, string>();
  /** The CPU requests of the Burstable pods here, whose sum is their level's share. */
  private readonly burstableMilliCpu = new Map<string, number>();

  constructor(readonly node: CgroupDir) {
    this.files = FILES[node.version];
    this.roots = cgroupTrees(node);
  }

  /** The pod's cgroup relative to the node level. */
  private podRel(uid: string): string { return path.join(this.podLevels.get(uid) ?? '', `pod${uid}`); }
  /** The pod's cgroup in the memory tree. */
  podDir(uid: string): string { return path.join(this.node.dir, this.podRel(uid)); }
  /** A container instance's cgroup in the memory tree. */
  containerDir(uid: string, container: string, restartCount: number): string {
    return path.join(this.podDir(uid), `${container}-${restartCount}`);
  }

  private get cpu(): boolean { return !!this.node.cpuDir; }

  /**
   * Creates the cluster's and the node's levels once (v2: handing the controllers down at each).
   * Both get the machine's CPUs as their CPU share, as kubelet gives its kubepods cgroup the
   * node's allocatable CPU: the pods as a whole weigh as much as that many busy processes.
   */
  private ensureNode(): Promise<void> {
    return (this.ready ??= (async () => {
      for (const root of this.roots) {
        const clusterDir = path.dirname(root);
        if (this.node.version === 2) await enableControllersBelow(path.dirname(clusterDir), this.cpu);
        await fs.mkdir(root, { recursive: true });
        if (this.node.version === 2) { await enableControllersBelow(clusterDir, this.cpu); await enableControllersBelow(root, this.cpu); }
        for (const level of QOS_DIRS.filter(Boolean)) {
          await fs.mkdir(path.join(root, level), { recursive: true });
          if (this.node.version === 2) await enableControllersBelow(path.join(root, level), this.cpu);
        }
      }
      // the cluster's level ('..') and the node's: the machine's CPUs; the QoS levels: the minimum
      const machine = shares(availableParallelism() * 1000);
      for (const [rel, value] of [['..', machine], ['', machine], [QOS_LEVELS.BestEffort, shares(0)], [QOS_LEVELS.Burstable, shares(0)]] as const) {
        await this.writeShares(rel, value);
      }
    })().catch((e: Error) => { this.ready = undefined; throw new Error(`creating the node's cgroup ${this.node.dir}: ${e.message}`); }));
  }

  /** The pod's cgroups, below its QoS level, with its limits; made once, on its first container's start. */
  async ensurePod(uid: string, res: PodResources): Promise<void> {
    if (this.podsReady.has(uid)) return;
    await this.ensureNode();
    this.podLevels.set(uid, QOS_LEVELS[res.qos]);
    const rel = this.podRel(uid);
    for (const root of this.roots) {
      await fs.mkdir(path.join(root, rel), { recursive: true });
      if (this.node.version === 2) await enableControllersBelow(path.join(root, rel), this.cpu);
    }
    await this.apply(rel, res);
    if (res.qos === 'Burstable') {
      this.burstableMilliCpu.set(uid, res.milliCpuRequest);
      await this.updateBurstableShares();
    }
    this.podsReady.add(uid);
  }

  /** kubelet's Burstable level share: the Burstable pods' CPU requests, summed. */
  private async updateBurstableShares(): Promise<void> {
    let milli = 0;
    for (const m of this.burstableMilliCpu.values()) milli += m;
    await this.writeShares(QOS_LEVELS.Burstable, shares(milli));
  }

  /** Writes the CPU share of the level `rel` (below the node's; '..' is the cluster's), when there is a CPU tree. */
  private async writeShares(rel: string, value: number): Promise<void> {
    if (!this.node.cpuDir) return;
    const [file, text] = cpuFiles(this.node.version, { shares: value })[0]!;
    await fs.writeFile(path.join(this.node.cpuDir, rel, file), text);
  }

  /**
   * Fresh cgroups for one container instance; returns the files a process writes its PID to in
   * order to join them. A leftover of the same name (an agent restart) is removed first.
   */
  async createContainer(uid: string, container: string, restartCount: number, res: CgroupResources): Promise<string[]> {
    const rel = path.join(this.podRel(uid), `${container}-${restartCount}`);
    for (const root of this.roots) {
      await removeCgroupTree(path.join(root, rel));
      await fs.mkdir(path.join(root, rel));
    }
    await this.apply(rel, res);
    return this.roots.map((root) => path.join(root, rel, 'cgroup.procs'));
  }

  /** Whether the kernel's OOM killer killed a process in this container instance's cgroup. */
  oomKilled(uid: string, container: string, restartCount: number): boolean {
    // read synchronously, when the exit is seen: a small file of a virtual file system
    let text = '';
    try { text = readFileSync(path.join(this.containerDir(uid, container, restartCount), this.files.oom), 'utf8'); } catch { /* gone */ }
    return (parseKeyedCounters(text).get('oom_kill') ?? 0) > 0;
  }

  /** Removes a container instance's cgroups once its process has exited. */
  async removeContainer(uid: string, container: string, restartCount: number): Promise<void> {
    for (const root of this.roots) await removeCgroupTree(path.join(root, this.podRel(uid), `${container}-${restartCount}`));
  }

  /** Removes the pod's cgroups, killing (by PID) whatever podnet started that is still in them. */
  async removePod(uid: string): Promise<void> {
    this.podsReady.delete(uid);
    this.podLevels.delete(uid);
    // at every level: after an agent restart a leftover pod's level is not known
    for (const root of this.roots) for (const level of QOS_DIRS) await removeCgroupTree(path.join(root, level, `pod${uid}`));
    if (this.burstableMilliCpu.delete(uid)) await this.updateBurstableShares();
  }

  /** Removes the node's level (and any pod's cgroup still below it). */
  async removeNode(): Promise<void> {
    for (const root of this.roots) await removeCgroupTree(root);
    this.ready = undefined;
    this.podsReady.clear();
    this.podLevels.clear();
    this.burstableMilliCpu.clear();
  }

  /** The pods with a cgroup on this node (by UID), e.g. to remove those of pods no longer here. */
  async podUids(): Promise<string[]> {
    const uids = new Set<string>();
    for (const root of this.roots) for (const d of await podCgroupDirs(root)) uids.add(path.basename(d).slice(3));
    return [...uids];
  }

  /** Writes the limits of the level `rel` (below the node) in each tree. */
  private async apply(rel: string, res: CgroupResources): Promise<void> {
    // v1 rounds a memory limit down to whole pages; -1 / max is no limit
    const mem = res.memoryBytes === undefined ? (this.node.version === 1 ? '-1' : 'max') : String(res.memoryBytes);
    await fs.writeFile(path.join(this.node.dir, rel, this.files.limit), mem);
    if (this.node.cpuDir) {
      for (const [file, value] of cpuFiles(this.node.version, res.cpu)) await fs.writeFile(path.join(this.node.cpuDir, rel, file), value);
    }
  }
}

/** A cgroup's memory usage and working set; undefined when it does not exist. */
export async function readMemory(cg: CgroupDir): Promise<PodMemory | undefined> {
  const f = FILES[cg.version];
  try {
    const usage = Number((await fs.readFile(path.join(cg.dir, f.usage), 'utf8')).trim());
    const stat = parseKeyedCounters(await fs.readFile(path.join(cg.dir, 'memory.stat'), 'utf8'));
    return { usageBytes: usage, workingSetBytes: workingSetBytes(cg.version, usage, stat) };
  } catch {
    return undefined;
  }
}
