// The agent's runtime (what containerd + runc are to kubelet): pod sandboxes (a network
// namespace attached by the CNI plugin, plus /etc/netns/<ns>/{resolv.conf,hosts}) and
// containers (processes started with `ip netns exec <ns>`, stdout/stderr to CRI log files).
//
// The CNI plugin must run with the node's netns as its network context. When the agent runs
// inside that netns (production: `podnet up` starts node daemons there) it calls the plugin
// in-process; otherwise (tests: the agent shares the host netns with the API server on
// 127.0.0.1) it runs the plugin executable under `ip netns exec <node netns>`.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCniPlugin } from '../cni/main.js';
import { inNamedNetns } from '../cni/bridge.js';
import type { CniResult, PodnetNetConf } from '../cni/spec.js';
import { Ip } from '../net/ip.js';
import { criLogLine, rfc3339Nano } from './pure.js';

// ---- CNI ------------------------------------------------------------------------------------

export interface CniContext {
  /** The node's netns (name under /run/netns); undefined = the agent's own. */
  nodeNetns?: string;
  conf: PodnetNetConf;
}

/** The plugin executable next to this module (dist layout: src/agent → src/cni/main.js). */
export function cniPluginPath(): string {
  return fileURLToPath(new URL('../cni/main.js', import.meta.url));
}

let selfNetns: Promise<string | undefined> | undefined;

/** Whether a plugin call must go through `ip netns exec` (the agent is not in the node netns). */
async function needsExec(nodeNetns?: string): Promise<boolean> {
  if (!nodeNetns) return false;
  selfNetns ??= inNamedNetns();
  return (await selfNetns) !== nodeNetns;
}

/** One plugin invocation; resolves with the parsed result (ADD) or throws the plugin's error. */
export async function callCni(ctx: CniContext, command: 'ADD' | 'DEL' | 'CHECK', containerID: string, netnsPath: string,
  args: Record<string, string> = {}, opts: { loopbackUp?: boolean } = {}): Promise<CniResult | undefined> {
  const env: Record<string, string> = {
    CNI_COMMAND: command, CNI_CONTAINERID: containerID, CNI_NETNS: netnsPath, CNI_IFNAME: 'eth0',
    CNI_PATH: path.dirname(cniPluginPath()),
    CNI_ARGS: Object.entries(args).map(([k, v]) => `${k}=${v}`).join(';'),
  };
  const stdin = JSON.stringify(ctx.conf);
  let out: { stdout: string; exitCode: number; stderr?: string };
  // In-process either way: inside the node's namespace as is, or from outside it on the node's
  // behalf (`ip -n <node>`), which spares a Node.js start per pod.
  out = await runCniPlugin(env, stdin, { ...((await needsExec(ctx.nodeNetns)) ? { nodeNetns: ctx.nodeNetns } : {}), ...opts });
  if (out.exitCode !== 0) {
    let msg = out.stdout.trim() || out.stderr?.trim() || `exit code ${out.exitCode}`;
    try {
      const e = JSON.parse(out.stdout) as { msg?: string; details?: string; code?: number };
      msg = `${e.msg ?? 'error'}${e.details ? `: ${e.details}` : ''} (code ${e.code})`;
    } catch { /* keep the raw text */ }
    throw new Error(`CNI ${command} for ${containerID}: ${msg}`);
  }
  return command === 'ADD' ? (JSON.parse(out.stdout) as CniResult) : undefined;
}

// ---- sandboxes ------------------------------------------------------------------------------

export interface SandboxState {
  uid: string;
  namespace: string;
  name: string;
  /** The pod netns name; '' for hostNetwork pods. */
  netns: string;
  podIPs: string[];
  createdAt: string;
  /** Container process ids last started, for cleanup after an agent restart. */
  pids: Record<string, number>;
}

export async function writeJsonAtomic(file: string, v: unknown): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify(v), { mode: 0o600 });
  await fs.rename(tmp, file);
}

/** Creates the pod netns (idempotent). Its loopback is brought up with the CNI ADD (`attachSandbox`). */
export async function ensureNetns(name: string): Promise<void> {
  if (existsSync(path.join('/run/netns', name))) return;
  try {
    await Ip.netnsAdd(name);
  } catch (e) {
    if (!existsSync(path.join('/run/netns', name))) throw e;
  }
}

/**
 * Attaches the pod to the node network and brings its loopback up (one `ip` run in the pod's
 * namespace for both: the plugin runs in-process); returns its IPs (first family first as the
 * plugin ordered them).
 */
export async function attachSandbox(ctx: CniContext, uid: string, netns: string, pod: { namespace: string; name: string }): Promise<string[]> {
  const res = await callCni(ctx, 'ADD', uid, `/run/netns/${netns}`, {
    K8S_POD_NAMESPACE: pod.namespace, K8S_POD_NAME: pod.name, K8S_POD_INFRA_CONTAINER_ID: uid, K8S_POD_UID: uid,
  }, { loopbackUp: true });
  const ips = (res?.ips ?? []).map((i) => i.address.split('/')[0]!);
  // IPv4 first, as kubelet orders podIPs by the cluster's primary family (podnet's is IPv4)
  return [...ips.filter((i) => !i.includes(':')), ...ips.filter((i) => i.includes(':'))];
}

/** Writes /etc/netns/<netns>/{resolv.conf,hosts} (read by `ip netns exec`). */
export async function writeNetnsFiles(netns: string, resolv: string, hosts: string): Promise<void> {
  const dir = path.join('/etc/netns', netns);
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  await fs.writeFile(path.join(dir, 'resolv.conf'), resolv, { mode: 0o644 });
  await fs.writeFile(path.join(dir, 'hosts'), hosts, { mode: 0o644 });
}

/** Detach (CNI DEL), delete the netns and its /etc/netns entry. Every step runs; errors are collected. */
export async function destroySandbox(ctx: CniContext | undefined, uid: string, netns: string): Promise<void> {
  const errors: string[] = [];
  if (ctx) await callCni(ctx, 'DEL', uid, `/run/netns/${netns}`).catch((e: Error) => errors.push(e.message));
  await Ip.netnsDel(netns).catch((e: Error) => errors.push(e.message));
  await fs.rm(path.join('/etc/netns', netns), { recursive: true, force: true }).catch((e: Error) => errors.push(e.message));
  if (errors.length) throw new Error(`tearing down sandbox ${netns}: ${errors.join('; ')}`);
}

// ---- containers -----------------------------------------------------------------------------

/** `which`: the program's absolute path if executable, searching PATH for bare names. */
export function which(cmd: string, searchPath: string): string | undefined {
  const ok = (p: string) => { try { accessSync(p, constants.X_OK); return true; } catch { return false; } };
  if (cmd.includes('/')) return ok(cmd) ? cmd : undefined;
  for (const dir of searchPath.split(':')) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    if (ok(p)) return p;
  }
  return undefined;
}

/** Writes a stream as CRI log lines (F for full lines; P for pieces of lines over 16 KiB). */
class CriLogSink {
  private buf: Record<'stdout' | 'stderr', string> = { stdout: '', stderr: '' };
  private static readonly MAX = 16 * 1024;
  constructor(private readonly out: WriteStream) {}

  write(stream: 'stdout' | 'stderr', chunk: string): void {
    let s = this.buf[stream] + chunk;
    let nl: number;
    while ((nl = s.indexOf('\n')) >= 0) {
      this.emit(stream, s.slice(0, nl), false);
      s = s.slice(nl + 1);
    }
    while (s.length > CriLogSink.MAX) { this.emit(stream, s.slice(0, CriLogSink.MAX), true); s = s.slice(CriLogSink.MAX); }
    this.buf[stream] = s;
  }

  flush(): void {
    for (const st of ['stdout', 'stderr'] as const) if (this.buf[st]) { this.emit(st, this.buf[st], false); this.buf[st] = ''; }
  }

  private emit(stream: 'stdout' | 'stderr', text: string, partial: boolean): void {
    const [s, ns] = process.hrtime();
    void s;
    this.out.write(criLogLine(rfc3339Nano(Date.now(), ns % 1_000_000), stream, text.replace(/\r$/, ''), partial));
  }
}

export interface ProcessExit { exitCode: number; signal?: string; finishedAt: number }

export interface ContainerProcess {
  pid: number;
  startedAt: number;
  exited: Promise<ProcessExit>;
  /** The `cgroup.procs` files of the container's cgroups, when it has them (exec commands join them). */
  cgroupProcs?: string[];
  /** Signals the container's whole process group. */
  kill(signal: NodeJS.Signals): void;
}

const UNSHARE = ['/usr/bin/unshare', '/bin/unshare'].find((p) => existsSync(p));

/** `ip`, looked up in the agent's PATH (the container's own PATH may not have it). */
const ipPath = (): string => which('ip', process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin') ?? 'ip';


const SIGNUM: Partial<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGABRT: 6, SIGSEGV: 11, SIGPIPE: 13 };

/**
 * The shell step before a container's program: it joins the container's cgroups ($1: their
 * cgroup.procs files, space-separated; cgroupRoot refuses paths with spaces) before anything else runs, so all of the program's memory is charged there, and names
 * the pod's UTS namespace ($2, when given). It runs before `ip netns exec`, which mounts a sysfs
 * of the new netns over /sys and with it hides /sys/fs/cgroup. The PID stays the same through
 * this and every `exec` after it.
 */
const CONTAINER_INIT = 'for f in $1; do echo $$ > "$f" || exit 126; done; ' +
  'if [ -n "$2" ]; then printf %s "$2" > /proc/sys/kernel/hostname || exit 126; fi; shift 2; exec "$@"';

/**
 * The argv prefix that runs a command in a container's cgroups (`cgroupProcs`, the files its PID
 * is written to: one per hierarchy) and, with `hostname`, in a UTS namespace of its own with the pod's hostname
 * (needs root and util-linux's unshare); empty when neither applies.
 */
export function containerInit(cgroupProcs?: string[], hostname?: string): string[] {
  const uts = !!(hostname && process.getuid?.() === 0 && UNSHARE);
  if (!uts && !cgroupProcs?.length) return [];
  return [...(uts ? [UNSHARE!, '--uts'] : []), '/bin/sh', '-c', CONTAINER_INIT, 'podnet-init', (cgroupProcs ?? []).join(' '), uts ? hostname! : ''];
}

/**
 * The argv that runs `command` as a container's process or beside it: in its cgroups, in the
 * pod's netns (`ip netns exec`, which also binds the pod's /etc/netns files; `ip` from the
 * agent's PATH, as the container's may lack it), and with the pod's hostname: in a new UTS
 * namespace (`hostname`) or in the container's own (`utsPid`, for exec).
 */
export function containerArgv(command: string[], o: { cgroupProcs?: string[]; netns?: string; hostname?: string; utsPid?: number }): string[] {
  return [
    ...containerInit(o.cgroupProcs, o.hostname),
    ...(o.netns ? [ipPath(), 'netns', 'exec', o.netns] : []),
    ...(o.utsPid ? ['nsenter', `--uts=/proc/${o.utsPid}/ns/uts`, '--'] : []),
    ...command,
  ];
}

/**
 * Starts a container process: `ip netns exec <netns> <command> <args…>` (or the command itself
 * when netns is undefined: the agent's own netns), in its own process group, with `env` only,
 * stdout/stderr to `logFile` in CRI format; in the cgroups whose `cgroup.procs` are `cgroupProcs`.
 */
export async function startContainerProcess(o: {
  netns?: string; command: string; args: string[]; env: Record<string, string>; cwd?: string; logFile: string; cgroupProcs?: string[];
}): Promise<ContainerProcess> {
  await fs.mkdir(path.dirname(o.logFile), { recursive: true, mode: 0o755 });
  const out = createWriteStream(o.logFile, { flags: 'a', mode: 0o640 });
  await new Promise<void>((res, rej) => { out.once('open', () => res()); out.once('error', rej); });
  const sink = new CriLogSink(out);
  // Each pod has its own hostname: the container runs in a new UTS namespace named for the pod
  // (`ip netns exec` separates only the network); the name is written to /proc (the new
  // namespace's own) by the init shell, which also joins the container's cgroups.
  const argv = containerArgv([o.command, ...o.args], { cgroupProcs: o.cgroupProcs, netns: o.netns, hostname: o.netns ? o.env.PODNET_HOSTNAME : undefined });
  const cwd = o.cwd && (await fs.stat(o.cwd).then((s) => s.isDirectory(), () => false)) ? o.cwd : '/';
  let child: ChildProcess;
  try {
    child = spawn(argv[0]!, argv.slice(1), {
      env: o.env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    out.end();
    throw e;
  }
  const startedAt = Date.now();
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => sink.write('stdout', d));
  child.stderr!.on('data', (d: string) => sink.write('stderr', d));
  const exited = new Promise<ProcessExit>((resolve) => {
    let done = false;
    const finish = (x: ProcessExit) => {
      if (done) return;
      done = true;
      sink.flush();
      out.end();
      resolve(x);
    };
    child.once('error', (e) => {
      sink.write('stderr', `podnet: could not start ${o.command}: ${e.message}\n`);
      finish({ exitCode: 128, finishedAt: Date.now() });
    });
    child.once('close', (code, signal) => {
      finish({ exitCode: code ?? 128 + (signal ? SIGNUM[signal] ?? 15 : 0), signal: signal ?? undefined, finishedAt: Date.now() });
    });
  });
  const pid = child.pid ?? -1;
  return {
    pid, startedAt, exited, cgroupProcs: o.cgroupProcs,
    kill(signal) {
      if (pid <= 0) return;
      try { process.kill(-pid, signal); } catch { try { child.kill(signal); } catch { /* gone */ } }
    },
  };
}

/** Kills a leftover process group from an earlier agent run, if that pid still leads one. */
export async function killStale(pid: number): Promise<void> {
  if (!(pid > 1)) return;
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    if (pgid !== pid) return; // not the group leader we started: leave it alone
    process.kill(-pid, 'SIGKILL');
  } catch { /* gone */ }
}
