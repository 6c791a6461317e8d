// The pure parts of `podnet netpol matrix` (a Cyclonus-style reachability check): the expected
// truth table of every ordered pod pair on a port and protocol, from the analyzer; the probe
// program run inside each source pod's network namespace and the reading of its answer; the
// tables (rows from, columns to, `.` allowed, `X` denied) and their differences. The CLI
// (src/cli/netpol.ts) only gathers the inputs and runs the probes.
//
// SCTP: Node.js has no SCTP sockets, so SCTP probes use socat (SCTP-CONNECT from the source pod,
// SCTP-LISTEN responders the CLI starts in the destination pods, since podnet's built-in agnhost
// cannot serve SCTP). They run only where the kernel has SCTP and socat is installed
// (sctpSkipReason); otherwise the expected table is shown with one line saying why it is not
// checked.

import { Analyzer } from './analyzer.js';
import type { Protocol } from './model.js';

/** A pod of the matrix: "ns/name" and the address it is probed at. */
export interface MatrixPod { key: string; ip: string }

export interface MatrixCase { port: number; protocol: Protocol }

/** One cell per ordered pair: grid[from][to]; undefined = not known (probe failed). */
export type Grid = Array<Array<boolean | undefined>>;

export interface Mismatch { from: string; to: string; expected: boolean | undefined; actual: boolean | undefined }

export const caseText = (c: MatrixCase) => `${c.protocol}/${c.port}`;

/** "80,81" or "8080-8082" pieces → ports; throws naming the fix. */
export function parsePorts(v: string): number[] {
  const out: number[] = [];
  for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || lo < 1 || hi > 65535 || hi < lo) throw new Error(`--ports ${v}: "${part}" is not a port or range: give ports 1-65535, e.g. 80,81 or 8080-8082`);
    if (hi - lo > 255) throw new Error(`--ports ${v}: range ${part} has more than 256 ports: give a smaller range`);
    for (let p = lo; p <= hi; p++) if (!out.includes(p)) out.push(p);
  }
  if (!out.length) throw new Error('--ports is empty: give ports, e.g. 80,81');
  return out;
}

/** "tcp,udp" → ['TCP', 'UDP']; throws naming the fix. */
export function parseProtocols(v: string): Protocol[] {
  const out: Protocol[] = [];
  for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const p = part.toUpperCase();
    if (p !== 'TCP' && p !== 'UDP' && p !== 'SCTP') throw new Error(`--protocols ${v}: unknown protocol "${part}": give tcp, udp and/or sctp`);
    if (!out.includes(p)) out.push(p);
  }
  if (!out.length) throw new Error('--protocols is empty: give tcp, udp and/or sctp');
  return out;
}

export function cases(ports: readonly number[], protocols: readonly Protocol[]): MatrixCase[] {
  return protocols.flatMap((protocol) => ports.map((port) => ({ port, protocol })));
}

/** What the policies say, for every ordered pair of `pods`. */
export function expectedGrid(analyzer: Analyzer, pods: readonly MatrixPod[], c: MatrixCase): Grid {
  return pods.map((from) => pods.map((to) => analyzer.check({
    from: { pod: from.key }, to: { pod: to.key }, port: c.port, protocol: c.protocol,
    family: from.ip.includes(':') ? 6 : 4,
  }).allowed));
}

const mark = (v: boolean | undefined) => (v === undefined ? '?' : v ? '.' : 'X');

/** The table: a header of the destinations, one row per source; `.` allowed, `X` denied, `?` unknown. */
export function formatGrid(pods: readonly MatrixPod[], grid: Grid, cell: (v: boolean | undefined) => string = mark): string[] {
  const names = pods.map((p) => p.key);
  const w = Math.max(4, ...names.map((n) => n.length));
  const pad = (s: string) => s.padEnd(w);
  const lines = [`${pad('')} | ${names.map(pad).join(' ')}`.trimEnd(), `${'-'.repeat(w)}-+-${names.map(() => '-'.repeat(w)).join('-')}`];
  grid.forEach((row, i) => lines.push(`${pad(names[i]!)} | ${row.map((v) => pad(cell(v))).join(' ')}`.trimEnd()));
  return lines;
}

/** The cells where the probe disagrees with the policies (an unknown probe is a disagreement). */
export function diffGrids(pods: readonly MatrixPod[], expected: Grid, actual: Grid): Mismatch[] {
  const out: Mismatch[] = [];
  pods.forEach((from, i) => pods.forEach((to, j) => {
    const e = expected[i]?.[j];
    const a = actual[i]?.[j];
    if (a === undefined || e !== a) out.push({ from: from.key, to: to.key, expected: e, actual: a });
  }));
  return out;
}

/** The comparison table: `.` same, `X` different (or unknown). */
export function formatDiff(pods: readonly MatrixPod[], expected: Grid, actual: Grid): string[] {
  const same: Grid = pods.map((_, i) => pods.map((__, j) => actual[i]?.[j] !== undefined && expected[i]?.[j] === actual[i]?.[j]));
  return formatGrid(pods, same, (v) => (v ? '.' : 'X'));
}

const word = (v: boolean | undefined) => (v === undefined ? 'unknown' : v ? 'allowed' : 'denied');

/** The report of one port/protocol: expected, observed (unless not probed), comparison, mismatches. */
export function formatCase(c: MatrixCase, pods: readonly MatrixPod[], expected: Grid, actual: Grid | undefined, note?: string): string[] {
  const out = [`=== ${caseText(c)} ===`, '', 'expected (policies):', ...formatGrid(pods, expected), ''];
  if (!actual) {
    out.push(`observed: not probed${note ? ` (${note})` : ''}`, '');
    return out;
  }
  out.push('observed (probes):', ...formatGrid(pods, actual), '');
  const diff = diffGrids(pods, expected, actual);
  if (!diff.length) {
    out.push(`comparison: all ${pods.length * pods.length} cells agree`, '');
    return out;
  }
  out.push(`comparison (X = differs): ${diff.length} of ${pods.length * pods.length} cells differ`, ...formatDiff(pods, expected, actual));
  for (const m of diff) out.push(`  ${m.from} → ${m.to} ${caseText(c)}: expected ${word(m.expected)}, observed ${word(m.actual)}`);
  out.push('');
  return out;
}

// ---- probes -----------------------------------------------------------------------------------

export interface ProbeTarget {
  ip: string;
  port: number;
  protocol: Protocol;
  /** SCTP: the command that associates (exit 0 = connected), see sctpClientArgv. */
  argv?: string[];
}

export interface ProbeResult { ok: boolean; why: string }

/**
 * A Node.js program (for `node -e`) that probes every target at once and prints one JSON array
 * of {ok, why}, in target order. TCP: a connection is made. UDP: "hostname" is sent (what agnhost
 * netexec answers) and any reply counts; sent again halfway through the timeout. SCTP: the
 * target's argv (socat) runs and exit status 0 counts; it is killed at the timeout.
 */
export function probeScript(targets: readonly ProbeTarget[], timeoutMs: number): string {
  return `'use strict';
const net = require('net'), dgram = require('dgram'), cp = require('child_process');
const T = ${JSON.stringify(targets)}, MS = ${Math.max(1, Math.round(timeoutMs))};
function one(t) {
  return new Promise((res) => {
    let s, again, done = false;
    const fin = (ok, why) => {
      if (done) return;
      done = true; clearTimeout(tm); clearTimeout(again);
      try { if (t.protocol === 'TCP') s.destroy(); else if (t.protocol === 'SCTP') s.kill('SIGKILL'); else s.close(); } catch (e) {}
      res({ ok, why });
    };
    const tm = setTimeout(() => fin(false, 'timeout'), MS);
    if (t.protocol === 'SCTP') {
      s = cp.spawn(t.argv[0], t.argv.slice(1), { stdio: 'ignore' });
      s.on('error', (e) => fin(false, e.code || e.message));
      s.on('exit', (code, sig) => fin(code === 0, code === 0 ? 'associated' : 'exit ' + (code === null ? sig : code)));
    } else if (t.protocol === 'TCP') {
      s = net.connect({ host: t.ip, port: t.port });
      s.on('connect', () => fin(true, 'connected'));
      s.on('error', (e) => fin(false, e.code || e.message));
    } else {
      s = dgram.createSocket(t.ip.includes(':') ? 'udp6' : 'udp4');
      s.on('message', () => fin(true, 'reply'));
      s.on('error', (e) => fin(false, e.code || e.message));
      const send = () => { if (!done) s.send('hostname', (e) => { if (e) fin(false, e.code || e.message); }); };
      s.connect(t.port, t.ip, () => { send(); again = setTimeout(send, MS / 2); });
    }
  });
}
Promise.all(T.map(one)).then((r) => process.stdout.write(JSON.stringify(r) + '\\n'));
`;
}

/** The probe program's answer for `n` targets; throws when it is not one. */
export function parseProbeOutput(text: string, n: number): ProbeResult[] {
  const line = text.trim().split('\n').pop() ?? '';
  let v: unknown;
  try { v = JSON.parse(line); } catch { throw new Error(`probe output is not JSON: ${JSON.stringify(text.slice(0, 200))}`); }
  if (!Array.isArray(v) || v.length !== n || !v.every((r) => r && typeof (r as ProbeResult).ok === 'boolean')) {
    throw new Error(`probe output has not ${n} results: ${line.slice(0, 200)}`);
  }
  return (v as ProbeResult[]).map((r) => ({ ok: r.ok, why: String(r.why ?? '') }));
}

// ---- SCTP ---------------------------------------------------------------------------------------

/** What decides whether SCTP can be probed here. */
export interface SctpFacts {
  /** /proc/sys/net/sctp exists (the sctp module is loaded). */
  procSctp: boolean;
  /** The error of socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) ('' = it worked; undefined = not tried, e.g. no python3). */
  socketError?: string;
  /** socat is installed. */
  socat: boolean;
}

/** Why SCTP probes are skipped (one line), or undefined when they can run. */
export function sctpSkipReason(f: SctpFacts): string | undefined {
  const kernel = f.procSctp || f.socketError === '';
  if (!kernel) {
    const how = f.socketError ? `socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) fails with ${f.socketError}` : 'no /proc/sys/net/sctp';
    return `SCTP probes skipped: this kernel lacks SCTP (${how}); the expected SCTP tables are shown, not checked`;
  }
  if (!f.socat) return 'SCTP probes skipped: socat is not installed (it makes the SCTP connections; apt-get install socat); the expected SCTP tables are shown, not checked';
  return undefined;
}

/** Exit status 0 when an association to ip:port is made within the timeout (socat sends nothing and closes). */
export function sctpClientArgv(ip: string, port: number, timeoutMs: number): string[] {
  const secs = Math.max(0.1, timeoutMs / 1000).toFixed(1);
  const addr = ip.includes(':') ? `SCTP6-CONNECT:[${ip}]:${port}` : `SCTP4-CONNECT:${ip}:${port}`;
  return ['socat', '-T', secs, '/dev/null', `${addr},connect-timeout=${secs}`];
}

/** An SCTP responder on `port` for the probes (accepts associations, discards what it gets). */
export function sctpServerArgv(port: number, family: 4 | 6): string[] {
  return ['socat', '-T', '5', `${family === 6 ? 'SCTP6' : 'SCTP4'}-LISTEN:${port},fork,reuseaddr`, '/dev/null'];
}

/** A pod's address of `family`, if it has one. */
export const addressOfFamily = (ips: readonly string[], family: 4 | 6): string | undefined => ips.find((ip) => ip.includes(':') === (family === 6));

// ---- finding the pods' network namespaces -----------------------------------------------------

/** The pod sandbox namespaces of cluster `cluster` in `ip netns list` output: `<cluster>-<8 hex>` (not -underlay, -nodeN or another cluster's). */
export function sandboxNetns(cluster: string, netnsList: string): string[] {
  const out: string[] = [];
  for (const line of netnsList.split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    if (!name.startsWith(`${cluster}-`)) continue;
    const rest = name.slice(cluster.length + 1);
    if (rest === 'underlay' || /^node\d+$/.test(rest) || !/^[0-9a-f]{8}$/.test(rest)) continue;
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** The addresses in `ip -o addr` output (no loopback). */
export function addressesOf(ipOAddr: string): string[] {
  const out: string[] = [];
  for (const m of ipOAddr.matchAll(/\sinet6?\s+([0-9a-fA-F.:]+)\//g)) {
    const ip = m[1]!.toLowerCase();
    if (ip === '127.0.0.1' || ip === '::1') continue;
    if (!out.includes(ip)) out.push(ip);
  }
  return out;
}
