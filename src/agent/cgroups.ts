// Memory cgroups for pods and containers, laid out as kubelet and runc lay them out: one cgroup
// per pod (its limit: the containers' limits summed, when every container has one) and, inside
// it, one per container instance (its limit: the container's `resources.limits.memory`). They
// give `resources.limits.memory` its meaning (the kernel's OOM killer acts inside the container's
// cgroup, and the agent reports `OOMKilled`), and they give a pod's memory the reading kubelet
// gives it: the cgroup's working set (usage minus inactive file pages), as `kubectl top` and
// eviction see it.
//
//   <cluster root>/<node>/pod<uid>/<container>-<restartCount>
//
// The cluster root is chosen once by `podnet up` (`clusterCgroupRoot`) and recorded in the
// cluster's state, so `podnet down` finds it after a `kill -9`. Both hierarchies are supported:
// cgroup v1's memory controller (files memory.limit_in_bytes, memory.usage_in_bytes,
// memory.oom_control) and cgroup v2 (memory.max, memory.current, memory.events), where the
// memory controller must also be enabled in every level's cgroup.subtree_control.

import { existsSync, readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseQuantity } from '../api/quantity.js';

export type CgroupVersion = 1 | 2;

/** A cgroup directory and the hierarchy it belongs to. */
export interface CgroupDir { version: CgroupVersion; dir: string }

// ---- pure ---------------------------------------------------------------------------------

export interface CgroupMount { version: CgroupVersion; mountPoint: string; root: string }

/**
 * The mounts a memory cgroup can live under, from /proc/self/mountinfo: cgroup v1 hierarchies
 * with the memory controller, and cgroup2 (whether it offers memory is read from its files).
 */
export function memoryMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const pre = line.slice(0, dash).split(' ');
    const [fstype, , superOpts = ''] = line.slice(dash + 3).split(' ');
    const root = pre[3] ?? '/';
    const mountPoint = (pre[4] ?? '').replace(/\\040/g, ' ');
    if (fstype === 'cgroup2') out.push({ version: 2, mountPoint, root });
    else if (fstype === 'cgroup' && superOpts.split(',').includes('memory')) out.push({ version: 1, mountPoint, root });
  }
  return out;
}

/** A process's cgroup paths from /proc/<pid>/cgroup: the v1 memory hierarchy's and the v2 one's. */
export function ownCgroups(procCgroup: string): { v1Memory?: string; v2?: string } {
  const r: { v1Memory?: string; v2?: string } = {};
  for (const line of procCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === '0' && m[2] === '') r.v2 = m[3];
    else if (m[2]!.split(',').includes('memory')) r.v1Memory = m[3];
  }
  return r;
}

/** Where a cgroup path of a hierarchy is on disk, given the mount (whose root may be a sub-path). */
export function cgroupDirOf(mount: CgroupMount, cgroupPath: string): string {
  let rel = cgroupPath;
  if (mount.root !== '/' && (rel === mount.root || rel.startsWith(`${mount.root}/`))) rel = rel.slice(mount.root.length);
  return rel && rel !== '/' ? path.join(mount.mountPoint, rel) : mount.mountPoint;
}

export interface MemoryLimited { resources?: { limits?: Record<string, unknown> } }

/** A container's memory limit in bytes (undefined: none, or zero, which means none). */
export function containerMemoryLimit(c: MemoryLimited): number | undefined {
  const q = parseQuantity(c.resources?.limits?.memory);
  return q !== undefined && q > 0 ? Math.ceil(q) : undefined;
}

/**
 * The pod cgroup's limit, as kubelet computes it: only when every container (init ones too) has
 * a memory limit; then the larger of the app containers' sum and the largest init container's.
 */
export function podMemoryLimit(pod: { initContainers: MemoryLimited[]; containers: MemoryLimited[] }): number | undefined {
  const init = pod.initContainers.map(containerMemoryLimit);
  const app = pod.containers.map(containerMemoryLimit);
  if ([...init, ...app].some((l) => l === undefined) || app.length === 0) return undefined;
  const sum = (app as number[]).reduce((a, b) => a + b, 0);
  return Math.max(sum, ...(init as number[]));
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

// ---- the machine ----------------------------------------------------------------------------

/**
 * Where cluster `name`'s cgroups go on this machine, or an explanation of why there is no
 * place: under the memory cgroup of the calling process (v1), or, with cgroup v2, under the
 * first cgroup on the way to the hierarchy's root that can hand the memory controller down.
 */
export function clusterCgroupRoot(name: string): CgroupDir | { error: string } {
  let mountinfo: string;
  let own: { v1Memory?: string; v2?: string };
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    own = ownCgroups(readFileSync('/proc/self/cgroup', 'utf8'));
  } catch (e) {
    return { error: `cannot read this process's cgroups: ${(e as Error).message}` };
  }
  const mounts = memoryMounts(mountinfo);
  const v2 = mounts.find((m) => m.version === 2);
  const v2Memory = v2 && (() => { try { return readFileSync(path.join(v2.mountPoint, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory'); } catch { return false; } })();
  if (v2 && v2Memory && own.v2 !== undefined) {
    // A v2 cgroup with processes cannot pass controllers to children, so walk up from our own
    // cgroup to the first one that already delegates memory (or is the root, which may).
    let dir = cgroupDirOf(v2, own.v2);
    for (;;) {
      const sub = (() => { try { return readFileSync(path.join(dir, 'cgroup.subtree_control'), 'utf8'); } catch { return ''; } })();
      if (sub.split(/\s+/).includes('memory') || dir === v2.mountPoint) break;
      dir = path.dirname(dir);
    }
    return { version: 2, dir: path.join(dir, `podnet-${name}`) };
  }
  const v1 = mounts.find((m) => m.version === 1);
  if (v1 && own.v1Memory !== undefined) return { version: 1, dir: path.join(cgroupDirOf(v1, own.v1Memory), `podnet-${name}`) };
  return { error: 'no cgroup hierarchy with the memory controller is mounted' };
}

/**
 * `clusterCgroupRoot`, tried: a node level and a pod level are created there with a memory
 * limit, then removed. A hierarchy that is mounted but not writable here (a container without
 * delegation, say) gives an error, rather than pods that can never start.
 */
export async function usableClusterCgroupRoot(name: string): Promise<CgroupDir | { error: string }> {
  const root = clusterCgroupRoot(name);
  if ('error' in root) return root;
  const trial = new PodCgroups({ version: root.version, dir: path.join(root.dir, 'trial') });
  try {
    await trial.ensurePod('trial', 64 << 20);
    return root;
  } catch (e) {
    return { error: `cannot create memory cgroups under ${path.dirname(root.dir)}: ${(e as Error).message}` };
  } finally {
    await removeCgroupTree(root.dir).catch(() => undefined);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

async function readPids(dir: string): Promise<number[]> {
  const t = await fs.readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  return t.split('\n').map(Number).filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid);
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

async function enableMemoryBelow(dir: string): Promise<void> {
  const f = path.join(dir, 'cgroup.subtree_control');
  const cur = await fs.readFile(f, 'utf8').catch(() => '');
  if (!cur.split(/\s+/).includes('memory')) await fs.writeFile(f, '+memory');
}

export interface PodMemory { usageBytes: number; workingSetBytes: number }

/** One node's pod cgroups: `<node dir>/pod<uid>/<container>-<restartCount>`. */
export class PodCgroups {
  private readonly files: (typeof FILES)[CgroupVersion];
  private ready: Promise<void> | undefined;

  constructor(readonly node: CgroupDir) {
    this.files = FILES[node.version];
  }

  podDir(uid: string): string { return path.join(this.node.dir, `pod${uid}`); }
  containerDir(uid: string, container: string, restartCount: number): string {
    return path.join(this.podDir(uid), `${container}-${restartCount}`);
  }

  /** Creates the cluster's and the node's levels once (v2: handing memory down at each). */
  private ensureNode(): Promise<void> {
    return (this.ready ??= (async () => {
      const clusterDir = path.dirname(this.node.dir);
      if (this.node.version === 2) await enableMemoryBelow(path.dirname(clusterDir));
      await fs.mkdir(this.node.dir, { recursive: true });
      if (this.node.version === 2) { await enableMemoryBelow(clusterDir); await enableMemoryBelow(this.node.dir); }
    })().catch((e: Error) => { this.ready = undefined; throw new Error(`creating the node's cgroup ${this.node.dir}: ${e.message}`); }));
  }

  /** The pod's cgroup, with its memory limit (idempotent). */
  async ensurePod(uid: string, limitBytes: number | undefined): Promise<void> {
    await this.ensureNode();
    const dir = this.podDir(uid);
    await fs.mkdir(dir, { recursive: true });
    if (this.node.version === 2) await enableMemoryBelow(dir);
    await this.setLimit(dir, limitBytes);
  }

  /**
   * A fresh cgroup for one container instance; returns the file a process writes its PID to in
   * order to join it. A leftover of the same name (an agent restart) is removed first.
   */
  async createContainer(uid: string, container: string, restartCount: number, limitBytes: number | undefined): Promise<string> {
    const dir = this.containerDir(uid, container, restartCount);
    await removeCgroupTree(dir);
    await fs.mkdir(dir);
    await this.setLimit(dir, limitBytes);
    return path.join(dir, 'cgroup.procs');
  }

  /** Whether the kernel's OOM killer killed a process in this container instance's cgroup. */
  oomKilled(uid: string, container: string, restartCount: number): boolean {
    // read synchronously, when the exit is seen: a small file of a virtual file system
    let text = '';
    try { text = readFileSync(path.join(this.containerDir(uid, container, restartCount), this.files.oom), 'utf8'); } catch { /* gone */ }
    return (parseKeyedCounters(text).get('oom_kill') ?? 0) > 0;
  }

  /** Removes a container instance's cgroup once its process has exited. */
  async removeContainer(uid: string, container: string, restartCount: number): Promise<void> {
    await removeCgroupTree(this.containerDir(uid, container, restartCount));
  }

  /** Removes the pod's cgroups, killing (by PID) whatever podnet started that is still in them. */
  async removePod(uid: string): Promise<void> {
    await removeCgroupTree(this.podDir(uid));
  }

  /** Removes the node's level (and any pod's cgroup still below it). */
  async removeNode(): Promise<void> {
    await removeCgroupTree(this.node.dir);
    this.ready = undefined;
  }

  /** The pod's memory as kubelet reads it; undefined when the pod has no cgroup. */
  async podMemory(uid: string): Promise<PodMemory | undefined> {
    return readMemory({ version: this.node.version, dir: this.podDir(uid) });
  }

  /** The pods with a cgroup on this node (by UID), e.g. to remove those of pods no longer here. */
  async podUids(): Promise<string[]> {
    return (await subdirs(this.node.dir)).map((d) => path.basename(d)).filter((n) => n.startsWith('pod')).map((n) => n.slice(3));
  }

  private async setLimit(dir: string, limitBytes: number | undefined): Promise<void> {
    // v1 rounds a limit down to whole pages; writing -1 / max removes it
    const v = limitBytes === undefined ? (this.node.version === 1 ? '-1' : 'max') : String(limitBytes);
    await fs.writeFile(path.join(dir, this.files.limit), v);
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
