// Running external commands (ip, nft, sysctl, …), optionally inside a network namespace.
//
// A netns is given either by name (a file under /run/netns, entered with `ip netns exec`) or by
// path (anything containing a '/', e.g. a CNI_NETNS such as /proc/1234/ns/net, entered with
// `nsenter --net=PATH`). Commands are spawned without a shell; arguments are never interpolated.

import { spawn } from 'node:child_process';

export interface ExecOptions {
  /** Run inside this network namespace: a name under /run/netns, or a path to a netns file. */
  netns?: string;
  /** Written to the child's stdin (then stdin is closed). */
  input?: string;
  /** Kill the child (SIGKILL) after this many milliseconds. Default 30 s. */
  timeoutMs?: number;
  /** Environment for the child; default: inherit. */
  env?: NodeJS.ProcessEnv;
  /** Resolve with the result instead of rejecting when the exit code is not 0. */
  allowFailure?: boolean;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; -1 when killed by a signal or the timeout. */
  code: number;
}

/** A command failed: names the full command line, its exit status and its stderr. */
export class ExecError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly code: number,
    readonly stdout: string,
    readonly stderr: string,
    reason?: string,
  ) {
    const what = reason ?? `exited with code ${code}`;
    const err = stderr.trim();
    super(`command failed: ${formatArgv(argv)}: ${what}${err ? `: ${err}` : ''}`);
    this.name = 'ExecError';
  }
}

/** Shell-like rendering of an argv, for messages only. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The argv that runs `cmd args…` inside `netns` (or directly when netns is undefined). */
export function netnsArgv(cmd: string, args: readonly string[], netns?: string): string[] {
  if (netns === undefined || netns === '') return [cmd, ...args];
  if (netns.includes('/')) return ['nsenter', `--net=${netns}`, '--', cmd, ...args];
  return ['ip', 'netns', 'exec', netns, cmd, ...args];
}

/**
 * Runs an argv somewhere other than a child of this process, or returns undefined to leave it to
 * run(). Resolves with the result (code -1 when killed); `timedOut` when it ran past its limit.
 */
export type CommandRunner = (argv: readonly string[], input: string, timeoutMs: number) =>
  Promise<ExecResult & { timedOut?: boolean }> | undefined;

let commandRunner: CommandRunner | undefined;

/**
 * Hands this process's run() calls (those with the default environment) to `r`. A long-lived
 * process with a large heap (a node daemon) uses a small helper process: each fork of a large
 * process costs it page-table copies and then copy-on-write faults on every page it writes.
 */
export function setCommandRunner(r: CommandRunner | undefined): void {
  commandRunner = r;
}

/** Run `cmd args…` (inside opts.netns when given). Rejects with ExecError on a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const argv = netnsArgv(cmd, args, opts.netns);
  const delegated = opts.env === undefined ? commandRunner?.(argv, opts.input ?? '', opts.timeoutMs ?? 30_000) : undefined;
  if (delegated) {
    return delegated.then(({ timedOut, ...res }) => {
      if (res.code === 0 || opts.allowFailure) return res;
      throw new ExecError(argv, res.code, res.stdout, res.stderr, timedOut ? `timed out after ${opts.timeoutMs ?? 30_000} ms` : undefined);
    });
  }
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(argv[0]!, argv.slice(1), { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      reject(new ExecError(argv, -1, '', '', `could not start: ${(e as Error).message}`));
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 30_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new ExecError(argv, -1, '', '', `could not start: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const res: ExecResult = {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: code ?? -1,
      };
      if (res.code === 0 || opts.allowFailure) {
        resolve(res);
        return;
      }
      const reason = timedOut
        ? `timed out after ${opts.timeoutMs ?? 30_000} ms`
        : signal
          ? `killed by ${signal}`
          : undefined;
      reject(new ExecError(argv, res.code, res.stdout, res.stderr, reason));
    });
    child.stdin.on('error', () => {
      /* the child may exit before reading its stdin; the exit status tells the story */
    });
    child.stdin.end(opts.input ?? '');
  });
}
