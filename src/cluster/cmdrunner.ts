// A node daemon's `ip` runs, made by a small shell process instead of the daemon itself.
//
// Every pod start needs a few `ip` runs (the netns, the CNI plugin's two batches). Forking the
// daemon — a Node.js process of ~70 MB — for each costs it far more than the run: the kernel
// copies its page tables, and afterwards every page the daemon writes takes a copy-on-write
// fault (a CPU profile of a 100-pod burst: ~28% of a daemon's CPU time). A long-lived `sh`
// (about 1 MB) forks cheaply, and the daemon's event loop no longer stops while a child execs.
//
// Protocol, one request per line on the helper's stdin: `<id> <shell command>`, where the
// command is built here from an argv (every word single-quoted) and the input (printf '%b' into
// a pipe). Requests run one at a time, in the background so that the helper can name the pid
// (`\x1eP<id> <pid>\n` on stdout), which the time limit kills; after each, the helper writes
// `\n\x1e<id> <status>\n` to stdout and `\n\x1e<id>\n` to stderr, so what lies before the
// markers is that command's output. (timeout(1) would do the killing, but costs an exec per run.)

import { spawn, type ChildProcess } from 'node:child_process';
import type { CommandRunner } from '../net/exec.js';

/** Larger inputs (e.g. an `nft -f -` ruleset) go to a direct spawn: the shell reads lines bytewise. */
const MAX_INPUT = 16 * 1024;

const HELPER_SCRIPT = [
  'while IFS= read -r req; do',
  '  id=${req%% *}',
  '  eval "${req#* } &"',
  '  pid=$!',
  "  printf '\\036P%s %s\\n' \"$id\" \"$pid\"",
  '  wait "$pid"',
  '  rc=$?',
  "  printf '\\n\\036%s %s\\n' \"$id\" \"$rc\"",
  "  printf '\\n\\036%s\\n' \"$id\" >&2",
  'done',
].join('\n');

/** A word for sh, single-quoted. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The helper's command line for one request (without the id). */
export function helperCommand(argv: readonly string[], input: string): string {
  const words = argv.map(shellQuote).join(' ');
  if (input === '') return `${words} </dev/null`;
  // printf %b: only backslash escapes are interpreted; escape the input's own backslashes first.
  const encoded = input.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  return `printf '%b' ${shellQuote(encoded)} | ${words}`;
}

interface Pending {
  id: number;
  timeoutMs: number;
  timer?: NodeJS.Timeout;
  timedOut?: boolean;
  resolve: (r: { stdout: string; stderr: string; code: number; timedOut?: boolean }) => void;
  reject: (e: Error) => void;
}

/** One helper shell; restarted on the next request if it dies. */
export class ShellCommandRunner {
  private child?: ChildProcess;
  private readonly pending: Pending[] = [];
  private out = '';
  private err = '';
  private nextId = 1;
  private closed = false;

  /** For setCommandRunner: only `ip` runs with small input are delegated. */
  readonly runner: CommandRunner = (argv, input, timeoutMs) => {
    if (this.closed || argv[0] !== 'ip' || input.length > MAX_INPUT || input.includes('\0')) return undefined;
    return this.submit(argv, input, timeoutMs);
  };

  private submit(argv: readonly string[], input: string, timeoutMs: number): Promise<{ stdout: string; stderr: string; code: number; timedOut?: boolean }> {
    const child = this.ensureChild();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.push({ id, timeoutMs, resolve, reject });
      this.ref(true);
      child.stdin!.write(`${id} ${helperCommand(argv, input)}\n`);
    });
  }

  private ensureChild(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn('/bin/sh', ['-c', HELPER_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.out = '';
    this.err = '';
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => { this.out += d; this.drain(); });
    child.stderr!.on('data', (d: string) => { this.err += d; this.drain(); });
    child.stdin!.on('error', () => { /* the exit handler fails what is pending */ });
    const gone = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      for (const p of this.pending.splice(0)) { clearTimeout(p.timer); p.reject(new Error(`command helper ${why}`)); }
      this.ref(false);
    };
    child.once('error', (e) => gone(`could not start: ${e.message}`));
    child.once('exit', (code, signal) => gone(`exited (${signal ?? `code ${code}`})`));
    this.ref(false);
    return child;
  }

  /** Completes the oldest request once both of its markers have arrived. */
  private drain(): void {
    for (;;) {
      const head = this.pending[0];
      if (!head) return;
      // the pid line comes first from the helper, but the command's own output may precede it
      const pidMark = new RegExp(`\\x1eP${head.id} (\\d+)\\n`).exec(this.out);
      if (pidMark) {
        this.out = this.out.slice(0, pidMark.index) + this.out.slice(pidMark.index + pidMark[0].length);
        const pid = Number(pidMark[1]);
        head.timer = setTimeout(() => {
          head.timedOut = true;
          try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
        }, head.timeoutMs);
        head.timer.unref();
      }
      const outMark = new RegExp(`\\n\\x1e${head.id} (\\d+)\\n`).exec(this.out);
      const errMark = `\n\x1e${head.id}\n`;
      const errAt = this.err.indexOf(errMark);
      if (!outMark || errAt < 0) return;
      const stdout = this.out.slice(0, outMark.index);
      const stderr = this.err.slice(0, errAt);
      this.out = this.out.slice(outMark.index + outMark[0].length);
      this.err = this.err.slice(errAt + errMark.length);
      this.pending.shift();
      clearTimeout(head.timer);
      const status = Number(outMark[1]);
      // the shell reports a command killed by a signal as 128+n, which run() reports as -1
      head.resolve({ stdout, stderr, code: status > 128 && status <= 192 ? -1 : status, ...(head.timedOut ? { timedOut: true } : {}) });
      if (this.pending.length === 0) this.ref(false);
    }
  }

  /** The helper keeps the process alive only while a request is outstanding. */
  private ref(on: boolean): void {
    const c = this.child;
    if (!c) return;
    for (const h of [c, c.stdin, c.stdout, c.stderr] as ({ ref?: () => void; unref?: () => void } | null)[]) {
      if (on) h?.ref?.(); else h?.unref?.();
    }
  }

  /** Requests sent and not yet answered. */
  get busy(): number {
    return this.pending.length;
  }

  /** Ends the helper (after what is queued has run). */
  close(): void {
    this.closed = true;
    this.child?.stdin?.end();
  }
}

/**
 * A few helpers, each request to the least busy: one shell runs its requests one at a time, and
 * a pod start should not wait behind another pod's `ip` runs while a core is free.
 */
export class CommandHelperPool {
  private readonly helpers: ShellCommandRunner[];

  constructor(size = 2) {
    this.helpers = Array.from({ length: Math.max(1, size) }, () => new ShellCommandRunner());
  }

  readonly runner: CommandRunner = (argv, input, timeoutMs) =>
    this.helpers.reduce((a, b) => (b.busy < a.busy ? b : a)).runner(argv, input, timeoutMs);

  close(): void {
    for (const h of this.helpers) h.close();
  }
}
