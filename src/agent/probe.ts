// Container probes (readiness and liveness): httpGet, tcpSocket and exec, run inside the pod's
// network namespace (the pod's own address is reachable there, as it is from the node).
// gRPC probes are not supported yet and count as failures with a clear message.

import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { connect } from 'node:net';
import { run } from '../net/exec.js';
import { containerArgv } from './runtime.js';
import type { Container } from './pure.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- probe specs are API JSON
type J = Record<string, any>;

export interface ProbeSpec {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
  target: ProbeTarget;
}

export type ProbeTarget =
  | { kind: 'http'; url: string; headers: Record<string, string> }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'exec'; command: string[] }
  | { kind: 'unsupported'; message: string };

/** A probe's port: a number, or the name of one of the container's ports. */
function resolvePort(port: unknown, c: Container): number | undefined {
  if (typeof port === 'number') return port;
  if (typeof port === 'string' && /^\d+$/.test(port)) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

/** The probe as the agent runs it, with upstream's defaults (period 10 s, timeout 1 s, thresholds 1/3). */
export function parseProbe(p: unknown, c: Container, podIP: string): ProbeSpec | undefined {
  if (!p || typeof p !== 'object') return undefined;
  const probe = p as J;
  const num = (v: unknown, d: number) => (typeof v === 'number' && v > 0 ? v : d);
  const host = (h: unknown) => (typeof h === 'string' && h ? h : podIP);
  const bracket = (h: string) => (h.includes(':') ? `[${h}]` : h);
  let target: ProbeTarget;
  if (probe.httpGet) {
    const g = probe.httpGet as J;
    const port = resolvePort(g.port, c);
    const scheme = String(g.scheme ?? 'HTTP').toLowerCase();
    const pathPart = String(g.path ?? '/');
    target = port === undefined
      ? { kind: 'unsupported', message: `probe port ${JSON.stringify(g.port)} not found in container ports` }
      : {
        kind: 'http', url: `${scheme}://${bracket(host(g.host))}:${port}${pathPart.startsWith('/') ? '' : '/'}${pathPart}`,
        headers: Object.fromEntries(((g.httpHeaders ?? []) as J[]).map((h) => [String(h.name), String(h.value ?? '')])),
      };
  } else if (probe.tcpSocket) {
    const port = resolvePort(probe.tcpSocket.port, c);
    target = port === undefined
      ? { kind: 'unsupported', message: `probe port ${JSON.stringify(probe.tcpSocket.port)} not found in container ports` }
      : { kind: 'tcp', host: host(probe.tcpSocket.host), port };
  } else if (probe.exec) {
    target = { kind: 'exec', command: ((probe.exec.command ?? []) as unknown[]).map(String) };
  } else {
    target = { kind: 'unsupported', message: 'only httpGet, tcpSocket and exec probes are supported' };
  }
  return {
    initialDelayMs: (typeof probe.initialDelaySeconds === 'number' ? probe.initialDelaySeconds : 0) * 1000,
    periodMs: num(probe.periodSeconds, 10) * 1000,
    timeoutMs: num(probe.timeoutSeconds, 1) * 1000,
    successThreshold: num(probe.successThreshold, 1),
    failureThreshold: num(probe.failureThreshold, 3),
    target,
  };
}

// Runs in a fresh node process inside the pod netns: prints nothing, exits 0 on success.
const CHECK_SCRIPT = `
const t = JSON.parse(process.argv[1]);
const done = (ok) => process.exit(ok ? 0 : 1);
setTimeout(() => done(false), t.timeoutMs).unref();
if (t.kind === 'tcp') {
  const s = require('net').connect({ host: t.host, port: t.port }, () => { s.destroy(); done(true); });
  s.on('error', () => done(false));
} else {
  const u = new URL(t.url);
  const mod = u.protocol === 'https:' ? require('https') : require('http');
  const req = mod.get(u, { headers: { 'User-Agent': 'kube-probe/1.32', ...t.headers }, rejectUnauthorized: false }, (r) => {
    r.resume(); done(r.statusCode >= 200 && r.statusCode < 400);
  });
  req.on('error', () => done(false));
}`;

/** An httpGet or tcpSocket probe from this process: the node's view, as kubelet probes. */
function probeHere(t: Extract<ProbeTarget, { kind: 'http' | 'tcp' }>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean) => { if (!settled) { settled = true; clearTimeout(timer); resolve(ok); } };
    const timer = setTimeout(() => { cleanup(); done(false); }, timeoutMs);
    let cleanup = () => {};
    if (t.kind === 'tcp') {
      const sock = connect({ host: t.host, port: t.port }, () => { sock.destroy(); done(true); });
      sock.on('error', () => done(false));
      cleanup = () => sock.destroy();
    } else {
      const u = new URL(t.url);
      const get = u.protocol === 'https:' ? httpsGet : httpGet;
      const req = get(u, { headers: { 'User-Agent': 'kube-probe/1.32', ...t.headers }, rejectUnauthorized: false, agent: false }, (r) => {
        r.resume();
        done((r.statusCode ?? 0) >= 200 && (r.statusCode ?? 0) < 400);
      });
      req.on('error', () => done(false));
      cleanup = () => req.destroy();
    }
  });
}

/**
 * Runs a probe once; resolves true on success. `netns` undefined = the agent's own. With
 * `fromHere`, network probes go straight from this process (the node reaches its pods, as
 * kubelet's probes do); otherwise from a helper process inside `netns`. An exec probe's command
 * joins the container's cgroup (`cgroupProcs`), as a CRI runtime's ExecSync does.
 */
export async function runProbe(spec: ProbeSpec, netns: string | undefined, env: Record<string, string>,
                               opts: { fromHere?: boolean; cgroupProcs?: string[] } = {}): Promise<boolean> {
  const t = spec.target;
  if (t.kind === 'unsupported') return false;
  if (t.kind === 'exec') {
    if (!t.command.length) return false;
    const argv = containerArgv(t.command, { cgroupProcs: opts.cgroupProcs, netns });
    const r = await run(argv[0]!, argv.slice(1), { env, timeoutMs: spec.timeoutMs, allowFailure: true }).catch(() => undefined);
    return r?.code === 0;
  }
  if (opts.fromHere || !netns) return probeHere(t, spec.timeoutMs);
  const r = await run(process.execPath, ['-e', CHECK_SCRIPT, JSON.stringify({ ...t, timeoutMs: spec.timeoutMs })],
    { netns, timeoutMs: spec.timeoutMs + 5000, allowFailure: true }).catch(() => undefined);
  return r?.code === 0;
}

/** Counts consecutive results against the thresholds; returns the new verdict. */
export class ProbeState {
  private successes = 0;
  /** Consecutive failures so far. */
  failures = 0;
  constructor(private readonly spec: Pick<ProbeSpec, 'successThreshold' | 'failureThreshold'>, public ok: boolean) {}
  record(success: boolean): boolean {
    if (success) { this.successes++; this.failures = 0; if (this.successes >= this.spec.successThreshold) this.ok = true; }
    else { this.failures++; this.successes = 0; if (this.failures >= this.spec.failureThreshold) this.ok = false; }
    return this.ok;
  }
}
