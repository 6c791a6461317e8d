// End-to-end harness: runs `bin/podnet apiserver` as a real child process on a free loopback
// port with a temporary data dir, and drives it with the real kubectl. Everything it starts
// is stopped and removed in `stop()`, which tests call from `after` (also on failure).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The CLI entry point of this build tree (what bin/podnet runs), so a test compiled to any
 *  outDir runs the code it was compiled with. */
export const podnetBin = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export function haveKubectl(): boolean {
  return spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
}

export interface RunResult { code: number; stdout: string; stderr: string }

export class TestApiServer {
  proc?: ChildProcess;
  url = '';
  readonly dataDir: string;
  get kubeconfig() { return join(this.dataDir, 'kubeconfig'); }
  private output = '';

  constructor(dataDir?: string) {
    this.dataDir = dataDir ?? mkdtempSync(join(tmpdir(), 'podnet-e2e-'));
  }

  /** Starts the server (or restarts it on the same data dir and port). */
  async start(port = 0, extraArgs: string[] = []): Promise<void> {
    const p = port || (this.url ? Number(new URL(this.url).port) : 0);
    this.output = '';
    const proc = spawn(process.execPath, [podnetBin, 'apiserver', '--data-dir', this.dataDir, '--port', String(p), ...extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`apiserver did not start in 20s:\n${this.output}`)), 20_000);
      const onData = (d: Buffer) => {
        this.output += d.toString();
        const m = /serving on (https:\/\/\S+)/.exec(this.output);
        if (m) { clearTimeout(timer); this.url = m[1]; ok(); }
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', (d: Buffer) => { this.output += d.toString(); });
      proc.once('exit', (code) => { clearTimeout(timer); fail(new Error(`apiserver exited with ${code}:\n${this.output}`)); });
    });
  }

  get logs(): string { return this.output; }

  /** SIGKILL, as a crash. */
  async kill9(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Runs kubectl against this server. */
  kubectl(args: string[], input?: string, env: Record<string, string> = {}): RunResult {
    const r = spawnSync('kubectl', ['--kubeconfig', this.kubeconfig, ...args], {
      encoding: 'utf8', input, timeout: 60_000, env: { ...process.env, KUBECONFIG: '', HOME: this.dataDir, ...env },
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** kubectl that must succeed; returns stdout. */
  k(args: string[], input?: string): string {
    const r = this.kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** A raw HTTPS request with the admin token (or none). */
  async request(method: string, path: string, body?: unknown, opts: { token?: string | null; contentType?: string; accept?: string } = {}): Promise<{ status: number; body: string; headers: Headers }> {
    const { readFileSync } = await import('node:fs');
    const yaml = readFileSync(this.kubeconfig, 'utf8');
    const token = opts.token === null ? undefined : opts.token ?? /token: (\S+)/.exec(yaml)![1];
    const ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(yaml)![1], 'base64').toString();
    const https = await import('node:https');
    return new Promise((ok, fail) => {
      const u = new URL(path, this.url);
      const req = https.request(u, {
        method, ca, headers: {
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'Content-Type': opts.contentType ?? 'application/json' } : {}),
          ...(opts.accept ? { Accept: opts.accept } : {}),
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => ok({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: new Headers(res.headers as Record<string, string>) }));
      });
      req.on('error', fail);
      if (body !== undefined) req.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
      else req.end();
    });
  }

  writeFile(name: string, text: string): string {
    const p = join(this.dataDir, name);
    writeFileSync(p, text);
    return p;
  }
}

export const isRoot = () => process.getuid?.() === 0;

/** Polls `fn` every `everyMs` until it returns something truthy; fails after `ms`, naming `what`. */
export async function waitFor<T>(fn: () => Promise<T | undefined | false | null | 0 | ''> | T | undefined | false | null | 0 | '',
                                 what: string, ms = 10_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Polls `fn` until it returns truthy or `ms` pass. */
export function eventually<T>(fn: () => T | Promise<T>, ms = 10_000, what = 'condition'): Promise<T> {
  return waitFor(fn as () => Promise<T>, what, ms);
}

/**
 * A `podnet up` cluster of a test's own: its name (a short prefix + random hex), a temporary
 * state root (PODNET_STATE_ROOT) and kubectl against it. `up` with the test's own ranges;
 * `down()` removes the cluster and the state root (call it from `after`, also on failure).
 */
export class TestCluster {
  readonly name: string;
  readonly stateRoot: string;
  readonly env: NodeJS.ProcessEnv;
  readonly kubeconfig: string;

  constructor(prefix: string) {
    this.name = `${prefix}${randomBytes(2).toString('hex')}`;
    this.stateRoot = mkdtempSync(join(tmpdir(), `podnet-${prefix}-`));
    this.env = { ...process.env, PODNET_STATE_ROOT: this.stateRoot };
    this.kubeconfig = join(this.stateRoot, this.name, 'apiserver', 'kubeconfig');
  }

  /** `podnet ARGS…` with this cluster's state root. */
  podnet(...args: string[]) {
    return spawnSync(process.execPath, [podnetBin, ...args], { encoding: 'utf8', env: this.env, timeout: 180_000 });
  }

  /** `podnet up --name NAME ARGS…`; throws with its output when it fails. */
  up(...args: string[]): void {
    const r = this.podnet('up', '--name', this.name, ...args);
    if (r.status !== 0) throw new Error(`podnet up: ${r.stderr}${r.stdout}`);
  }

  kubectlRun(args: string[], input?: string) {
    return spawnSync('kubectl', ['--kubeconfig', this.kubeconfig, ...args], { encoding: 'utf8', timeout: 60_000, input });
  }

  /** kubectl ARGS… → stdout; throws with stderr when it fails. */
  kubectl(...args: string[]): string {
    const r = this.kubectlRun(args);
    if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  apply(o: unknown): void {
    const r = this.kubectlRun(['apply', '-f', '-'], JSON.stringify(o));
    if (r.status !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
  }

  getJson(...args: string[]) {
    return JSON.parse(this.kubectl('get', ...args, '-o', 'json'));
  }

  /** `podnet down`, then the state root; returns down's result for the caller to assert. */
  down() {
    const r = this.podnet('down', '--name', this.name);
    rmSync(this.stateRoot, { recursive: true, force: true });
    return r;
  }
}
