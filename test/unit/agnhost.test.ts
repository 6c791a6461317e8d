// podnet's built-in agnhost: flag parsing, image matching, and the subcommands run as real
// processes on loopback ports. netexec runs in both implementations, the TypeScript one and the
// native one (native/agnhost), which must answer alike.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import * as https from 'node:https';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { agnhostCommand, agnhostMainPath, isAgnhostImage, nativeNetexec, resolveAgnhostContainer } from '../../src/agent/agnhost/index.js';
import { parseFlags, parseGoDuration, formatGoDuration, FlagDef } from '../../src/agent/agnhost/flags.js';
import { resolvConfList, splitHostPort } from '../../src/agent/agnhost/tools.js';

// ---------- helpers ----------

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: ChildProcess[] = [];

/** Which netexec runs: the TypeScript one on Node.js, or the native build. */
type Impl = 'typescript' | 'native';
const IMPLS: Impl[] = ['typescript', 'native'];

function run(args: string[], env: Record<string, string> = {}, impl?: Impl): Proc {
  const c = agnhostCommand(args, impl === 'typescript' ? { native: false } : {});
  if (impl === 'native') assert.equal(c.command, nativeNetexec().path, 'the native netexec runs');
  return spawnProc(c.command, c.args, { ...c.env, ...env });
}

function spawnProc(command: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

function stop(p: Proc): void {
  if (p.child.exitCode === null && p.child.signalCode === null && p.child.pid) {
    try {
      process.kill(p.child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

process.on('exit', () => {
  for (const c of started) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
});

async function freeTCPPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const handedOut = new Set<number>();

/**
 * A port free for both TCP and UDP on loopback, and never one handed out before in this file:
 * the kernel may give a just-closed port again, and several servers pick theirs before any of
 * them listens.
 */
async function freePort(): Promise<number> {
  for (;;) {
    const port = await freeTCPPort();
    if (handedOut.has(port)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket('udp4');
      u.on('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (ok) { handedOut.add(port); return port; }
  }
}

interface Res {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function get(port: number, p: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', reject);
    });
    req.setTimeout(8000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Waits until `port` answers HTTP; when it never does, the error carries `server`'s stderr. */
async function waitHTTP(port: number, p = '/', server?: Proc): Promise<void> {
  const deadline = Date.now() + 8000;
  for (;;) {
    try {
      await get(port, p);
      return;
    } catch (e) {
      if (Date.now() > deadline) {
        if (server) (e as Error).message += `; the server's stderr: ${JSON.stringify(server.stderr())}, exit: ${JSON.stringify([server.child.exitCode, server.child.signalCode])}`;
        throw e;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

function udp(port: number, msg: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error('udp timeout'));
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m.toString());
    });
    s.on('error', (e) => {
      clearTimeout(t);
      s.close();
      reject(e);
    });
    s.send(msg, port, '127.0.0.1');
  });
}

function tcpRead(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let d = '';
    s.on('data', (c) => (d += c.toString()));
    s.on('end', () => resolve(d));
    s.on('error', reject);
  });
}

/**
 * Skips a native-only test where the native netexec is not built (or PODNET_AGNHOST_NATIVE=0
 * turns it off); fails it instead where the build is required (CI sets PODNET_REQUIRE_NATIVE=1).
 */
function needNative(t: TestContext): boolean {
  const n = nativeNetexec();
  if (n.path) return true;
  if (process.env.PODNET_REQUIRE_NATIVE === '1' && process.env.PODNET_AGNHOST_NATIVE !== '0') assert.fail(`PODNET_REQUIRE_NATIVE=1, but ${n.problem}`);
  t.skip(n.problem);
  return false;
}

/** A test run once per netexec implementation. */
function netexecTest(name: string, fn: (impl: Impl) => Promise<void>): void {
  for (const impl of IMPLS) {
    test(`${name} [${impl}]`, async (t) => {
      if (impl === 'native' && !needNative(t)) return;
      await fn(impl);
    });
  }
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A raw TCP connection to an HTTP server: what was received, and whether it closed. */
class RawConn {
  data = Buffer.alloc(0);
  closed = false;
  readonly sock: net.Socket;
  private waiters: (() => void)[] = [];
  constructor(port: number) {
    this.sock = net.connect(port, '127.0.0.1');
    this.sock.on('data', (d: Buffer) => { this.data = Buffer.concat([this.data, d]); this.wake(); });
    this.sock.on('error', () => undefined);
    this.sock.on('close', () => { this.closed = true; this.wake(); });
  }
  static async open(port: number): Promise<RawConn> {
    const c = new RawConn(port);
    await new Promise<void>((resolve, reject) => { c.sock.once('connect', resolve); c.sock.once('error', reject); });
    return c;
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  async until(cond: () => boolean, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out; received ${JSON.stringify(this.data.toString('latin1'))}`);
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50); });
    }
  }
  /** Complete responses received so far (bodies framed by Content-Length). */
  responses(): RawResponse[] {
    const out: RawResponse[] = [];
    let rest = this.data.toString('latin1');
    for (;;) {
      const end = rest.indexOf('\r\n\r\n');
      if (end < 0) return out;
      const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      const len = Number(headers['content-length'] ?? 0);
      if (rest.length < end + 4 + len) return out;
      out.push({ status: Number(statusLine.split(' ')[1]), headers, body: rest.slice(end + 4, end + 4 + len) });
      rest = rest.slice(end + 4 + len);
    }
  }
  close(): void {
    this.sock.destroy();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------- pure parts ----------

test('isAgnhostImage matches the agnhost image with any tag or digest', () => {
  for (const img of [
    'registry.k8s.io/e2e-test-images/agnhost:2.53',
    'registry.k8s.io/e2e-test-images/agnhost',
    `registry.k8s.io/e2e-test-images/agnhost@sha256:${'a'.repeat(64)}`,
    `registry.k8s.io/e2e-test-images/agnhost:2.39@sha256:${'b'.repeat(64)}`,
    'k8s.gcr.io/e2e-test-images/agnhost:2.32',
    'gcr.io/kubernetes-e2e-test-images/agnhost:2.8',
  ]) assert.equal(isAgnhostImage(img), true, img);
  for (const img of [
    'registry.k8s.io/e2e-test-images/busybox:1.36',
    'registry.k8s.io/e2e-test-images/agnhost-other:2.53',
    'example.com/registry.k8s.io/e2e-test-images/agnhost:2.53',
    'nginx',
  ]) assert.equal(isAgnhostImage(img), false, img);
});

test('resolveAgnhostContainer applies command/args over ENTRYPOINT ["/agnhost"] CMD ["pause"]', () => {
  assert.deepEqual(resolveAgnhostContainer(undefined, undefined), { argv0: '/agnhost', args: ['pause'] });
  assert.deepEqual(resolveAgnhostContainer([], ['netexec', '--http-port=8080']), { argv0: '/agnhost', args: ['netexec', '--http-port=8080'] });
  assert.deepEqual(resolveAgnhostContainer(['/agnhost-2', 'entrypoint-tester'], ['a']), { argv0: '/agnhost-2', args: ['entrypoint-tester', 'a'] });
  assert.deepEqual(resolveAgnhostContainer(['/agnhost'], undefined), { argv0: '/agnhost', args: [] });
  assert.equal(resolveAgnhostContainer(['/bin/sh', '-c', 'true'], undefined), null);
  const c = agnhostCommand(['pause']);
  assert.equal(c.command, process.execPath);
  assert.match(c.args[0], /agnhost[\\/]main\.js$/);
  assert.ok(fs.existsSync(c.args[0]));
  assert.deepEqual(c.args.slice(1), ['pause']);
  // netexec: natively where built (with the way back to main.js in env), else on Node.js
  const native = nativeNetexec().path;
  const n = agnhostCommand(['netexec', '--http-port=81'], { argv0: '/agnhost-2' });
  if (native) {
    assert.deepEqual([n.command, n.args], [native, ['netexec', '--http-port=81']]);
    assert.deepEqual(n.env, { PODNET_AGNHOST_ARGV0: '/agnhost-2', PODNET_AGNHOST_NODE: process.execPath, PODNET_AGNHOST_MAIN: agnhostMainPath() });
  } else {
    assert.deepEqual([n.command, n.args], [process.execPath, [agnhostMainPath(), 'netexec', '--http-port=81']]);
  }
  // HTTPS, and an explicit request for Node.js, stay on main.js
  assert.equal(agnhostCommand(['netexec', '--tls-cert-file=/c', '--tls-private-key-file=/k']).command, process.execPath);
  assert.equal(agnhostCommand(['netexec'], { native: false }).command, process.execPath);
});

test('flags parse like pflag', () => {
  const defs: FlagDef[] = [
    { name: 'http-port', type: 'int', def: 8080, usage: '' },
    { name: 'http', type: 'bool', def: true, usage: '' },
    { name: 'name', type: 'string', def: '', usage: '' },
    { name: 'log-lines-total', short: 't', type: 'int', def: 0, usage: '' },
    { name: 'run-duration', short: 'd', type: 'duration', def: 0, usage: '' },
  ];
  let p = parseFlags(defs, ['--http-port=9090', '--name', 'x', 'pos', '--http=false', '-t', '5', '-d2s']);
  assert.deepEqual(p.values, { 'http-port': 9090, http: false, name: 'x', 'log-lines-total': 5, 'run-duration': 2000 });
  assert.deepEqual(p.args, ['pos']);
  p = parseFlags(defs, ['--http-port', '1', '--http', '--', '--name']);
  assert.equal(p.values['http-port'], 1);
  assert.equal(p.values.http, true);
  assert.deepEqual(p.args, ['--name']);
  assert.throws(() => parseFlags(defs, ['--nope']), /unknown flag: --nope/);
  assert.throws(() => parseFlags(defs, ['--http-port']), /flag needs an argument: --http-port/);
  assert.throws(() => parseFlags(defs, ['--http-port=abc']), /invalid argument "abc" for "--http-port" flag/);
  assert.throws(() => parseFlags(defs, ['-x']), /unknown shorthand flag: 'x' in -x/);
  assert.equal(parseGoDuration('1m30.5s'), 90_500);
  assert.equal(parseGoDuration('250ms'), 250);
  assert.equal(parseGoDuration('0'), 0);
  assert.throws(() => parseGoDuration('5'), /missing unit/);
  assert.equal(formatGoDuration(90_500), '1m30.5s');
  assert.equal(formatGoDuration(1.5), '1.5ms');
});

test('resolv.conf parsing and host:port splitting follow upstream', () => {
  const rc = 'nameserver 10.96.0.10\nsearch ns.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n';
  assert.deepEqual(resolvConfList(rc, 'search'), ['ns.svc.cluster.local', 'svc.cluster.local', 'cluster.local']);
  assert.deepEqual(resolvConfList(rc, 'nameserver'), ['10.96.0.10']);
  assert.equal(resolvConfList('nameserver 1.1.1.1\n', 'search'), undefined);
  assert.deepEqual(splitHostPort('[::1]:80'), { host: '::1', port: '80' });
  assert.throws(() => splitHostPort('foo'), /missing port in address/);
});

// ---------- processes ----------

test('root command: usage, unknown subcommand, bad flags, entrypoint-tester, logs-generator', async () => {
  // started together to keep the test quick
  const usage = run([]);
  const unknown = run(['no-such-command']);
  const badFlag = run(['netexec', '--no-such-flag']);
  const extraArg = run(['pause', 'extra']);
  const ep = run(['entrypoint-tester', 'override', 'arguments'], { PODNET_AGNHOST_ARGV0: '/agnhost-2' });
  const logs = run(['logs-generator', '--log-lines-total', '3', '--run-duration=150ms']);
  const noLines = run(['logs-generator']);

  assert.equal((await usage.exited).code, 0);
  assert.match(usage.stdout(), /Available Commands:[\s\S]*netexec/);

  assert.equal((await unknown.exited).code, 1);
  assert.match(unknown.stderr(), /Error: unknown command "no-such-command" for "app"/);

  assert.equal((await badFlag.exited).code, 1);
  assert.match(badFlag.stderr(), /Error: unknown flag: --no-such-flag\nUsage:/);

  assert.equal((await extraArg.exited).code, 1);
  assert.match(extraArg.stderr(), /accepts at most 0 arg\(s\), received 1/);

  assert.equal((await ep.exited).code, 0);
  assert.equal(ep.stdout(), '[/agnhost-2 entrypoint-tester override arguments]\n');

  assert.equal((await logs.exited).code, 0);
  const lines = logs.stderr().trim().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[2], /^I\d{4} [\d:.]+ +\d+ logs_generator\.go:\d+\] 2 (GET|POST|PUT) \/api\/v1\/namespaces\/(kube-system|default|ns)\/pods\/\w{3,4} \d{3}$/);

  assert.equal((await noLines.exited).code, 255);
  assert.match(noLines.stderr(), /Invalid total number of lines: 0/);
});

netexecTest('netexec: HTTP endpoints, UDP server, /dial between two servers, /exit, SIGTERM', async (impl) => {
  const [pa, pb] = [await freePort(), await freePort()];
  const [ua, ub] = [await freePort(), await freePort()];
  const uploads = fs.mkdtempSync(path.join(os.tmpdir(), 'agnhost-upl-'));
  const a = run(['netexec', `--http-port=${pa}`, '--udp-port', String(ua)], { PODNET_HOSTNAME: 'pod-a', PODNET_AGNHOST_UPLOAD_DIR: uploads }, impl);
  const b = run(['netexec', '--http-port', String(pb), `--udp-port=${ub}`, '--sctp-port=9999'], { PODNET_HOSTNAME: 'pod-b' }, impl);
  try {
    await waitHTTP(pa, '/', a);
    await waitHTTP(pb, '/', b);
    assert.match((await get(pa, '/')).body, /^NOW: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    assert.match((await get(pa, '/anything/else')).body, /^NOW: /);
    assert.equal((await get(pa, '/hostname')).body, 'pod-a');
    assert.equal((await get(pa, '/hostName')).body, 'pod-a');
    assert.match((await get(pa, '/clientip')).body, /^127\.0\.0\.1:\d+$/);
    let r = await get(pa, '/echo?msg=hello%20world');
    assert.deepEqual([r.status, r.body], [200, 'hello world']);
    r = await get(pa, '/echo?msg=gone&code=404');
    assert.deepEqual([r.status, r.body], [404, 'gone']);
    assert.equal((await get(pa, '/header?key=x-test', { headers: { 'X-Test': 'v1' } })).body, 'v1');
    const all = JSON.parse((await get(pa, '/header', { headers: { 'X-Test': 'v1' } })).body) as Record<string, string[]>;
    assert.deepEqual(all['X-Test'], ['v1']);
    assert.equal(all.Host, undefined);
    await waitFor(() => a.stderr().includes('Started UDP server') && b.stderr().includes('Started UDP server'));
    r = await get(pa, '/healthz');
    assert.deepEqual([r.status, r.body], [200, '']);
    r = await get(pa, '/readyz');
    assert.deepEqual([r.status, r.body], [200, 'ok']);
    r = await get(pa, '/redirect?location=/echo%3Fmsg=foo&code=307');
    assert.equal(r.status, 307);
    assert.equal(r.headers.location, '/echo?msg=foo');
    r = await get(pa, '/redirect?location=/hostname');
    assert.equal(r.status, 302);

    r = await get(pa, `/shell?shellCommand=${encodeURIComponent('echo hello; echo err >&2')}`);
    assert.deepEqual(JSON.parse(r.body), { output: 'hello\nerr\n' });
    r = await get(pa, `/shell?cmd=${encodeURIComponent('exit 3')}`);
    assert.equal(r.body, '{"error":"exit status 3"}');

    // UDP server
    assert.equal(await udp(ua, 'hostname'), 'pod-a');
    assert.equal(await udp(ua, 'echo Hello'), 'hello'); // upstream lower-cases what it receives
    assert.match(await udp(ua, 'clientip\n'), /^127\.0\.0\.1:\d+$/);

    // /dial from A to B
    r = await get(pa, `/dial?request=hostname&host=127.0.0.1&port=${pb}&protocol=http`);
    assert.deepEqual([r.status, JSON.parse(r.body)], [200, { responses: ['pod-b'] }]);
    r = await get(pa, `/dial?request=hostname&host=127.0.0.1&port=${ub}&protocol=udp&tries=2`);
    assert.deepEqual(JSON.parse(r.body), { responses: ['pod-b', 'pod-b'] });
    r = await get(pa, `/dial?request=echo%3Fmsg%3Dhi&host=localhost&port=${pb}`);
    assert.deepEqual(JSON.parse(r.body), { responses: ['hi'] });
    const closed = await freeTCPPort();
    r = await get(pa, `/dial?request=hostname&host=127.0.0.1&port=${closed}&protocol=http`);
    assert.equal(r.status, 200);
    const errs = JSON.parse(r.body) as { errors: string[]; responses?: string[] };
    assert.equal(errs.responses, undefined);
    assert.match(errs.errors[0], /connection refused/);
    r = await get(pa, `/dial?host=127.0.0.1&port=${pb}`);
    assert.equal(r.status, 400);
    assert.match(r.body, /request parameter not specified/);
    r = await get(pa, `/dial?request=hostname&host=127.0.0.1&port=${pb}&protocol=gopher`);
    assert.equal(r.status, 400);

    // /upload (multipart)
    const boundary = 'XyZboundary';
    const body = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nfile-content\r\n--${boundary}--\r\n`);
    r = await get(pa, '/upload', { method: 'POST', headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` }, body });
    assert.equal(r.status, 201);
    const saved = (JSON.parse(r.body) as { output: string }).output;
    assert.equal(path.dirname(saved), uploads);
    assert.equal(fs.readFileSync(saved, 'utf8'), 'file-content');
    r = await get(pa, '/upload');
    assert.deepEqual(JSON.parse(r.body), { error: 'Unable to upload file.' });

    // /exit?code=N exits with N
    await get(pa, '/exit?code=3').catch(() => undefined);
    assert.deepEqual(await a.exited, { code: 3, signal: null });

    // SCTP is accepted (logged as unsupported); SIGTERM exits 0
    assert.match(b.stderr(), /SCTP is not supported/);
    b.child.kill('SIGTERM');
    assert.deepEqual(await b.exited, { code: 0, signal: null });
  } finally {
    stop(a);
    stop(b);
    fs.rmSync(uploads, { recursive: true, force: true });
  }
});

netexecTest('netexec: --delay-shutdown keeps serving with /readyz 503, --http-override, graceful /exit', async (impl) => {
  // every port picked before anything listens, so that none is handed out twice
  const [pc, pd, pe] = [await freePort(), await freePort(), await freePort()];
  const c = run(['netexec', `--http-port=${pc}`, '--udp-port=-1', '--delay-shutdown=1'], { PODNET_HOSTNAME: 'pod-c' }, impl);
  const d = run(['netexec', `--http-port=${pd}`, '--udp-port=-1', '--http-override=/echo?msg=overridden'], { PODNET_HOSTNAME: 'pod-d' }, impl);
  const e = run(['netexec', `--http-port=${pe}`, '--udp-port=-1'], {}, impl);
  try {
    await waitHTTP(pc, '/', c);
    await waitHTTP(pd, '/', d);
    // without a UDP (or SCTP) server upstream never reports ready
    assert.equal((await get(pc, '/healthz')).status, 412);
    assert.equal((await get(pc, '/readyz')).status, 412);
    const t0 = Date.now();
    c.child.kill('SIGTERM');
    await waitFor(() => c.stderr().includes('Sleeping 1 seconds before terminating'));
    const r = await get(pc, '/readyz');
    assert.deepEqual([r.status, r.body], [503, 'shutting down']);
    assert.equal((await get(pc, '/hostname')).body, 'pod-c');
    assert.deepEqual(await c.exited, { code: 0, signal: null });
    assert.ok(Date.now() - t0 >= 900);

    assert.equal((await get(pd, '/hostname')).body, 'overridden');
    assert.equal((await get(pd, '/')).body, 'overridden');
    const ex = await get(pd, '/exit?code=4&timeout=1s');
    assert.equal(ex.status, 200); // the override makes it /echo
    stop(d);

    await waitHTTP(pe, '/', e);
    const graceful = await get(pe, '/exit?code=5&timeout=2s');
    assert.deepEqual([graceful.status, graceful.body], [200, '']);
    assert.deepEqual(await e.exited, { code: 5, signal: null });
  } finally {
    stop(c);
    stop(d);
    stop(e);
  }
});

// ---------- the native netexec: what only it has to prove ----------

test('netexec native: --help, flag errors and TLS go to the TypeScript netexec', async (t) => {
  if (!needNative(t)) return;
  const pairs = [['netexec', '--help'], ['netexec', '-h'], ['netexec', '--no-such-flag'], ['netexec', '--http-port=abc'], ['netexec', 'extra-arg'], ['netexec', '--http-port']];
  for (const args of pairs) {
    const ts = run(args, {}, 'typescript');
    const nat = run(args, {}, 'native');
    const [tx, nx] = [await ts.exited, await nat.exited];
    assert.deepEqual([nx, nat.stdout(), nat.stderr()], [tx, ts.stdout(), ts.stderr()], args.join(' '));
  }
  const help = run(['netexec', '--help'], {}, 'native');
  assert.equal((await help.exited).code, 0);
  assert.match(help.stdout(), /^Starts a HTTP\(S\) server[\s\S]*--http-port int\s+HTTP Listen Port \(default 8080\)/);
  const bad = run(['netexec', '--no-such-flag'], {}, 'native');
  assert.equal((await bad.exited).code, 1);
  assert.match(bad.stderr(), /^Error: unknown flag: --no-such-flag\nUsage:/);

  // TLS flags: agnhostCommand sends them to Node.js, and so does the native program when run with them
  const native = nativeNetexec().path!;
  const env = agnhostCommand(['netexec']).env;
  const missing = spawnProc(native, ['netexec', '--tls-cert-file=/nonexistent/c.pem', '--tls-private-key-file=/nonexistent/k.pem', '--udp-port=-1', `--http-port=${await freePort()}`], env);
  assert.equal((await missing.exited).code, 1);
  assert.match(missing.stderr(), /open \/nonexistent\/c\.pem: no such file or directory/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agnhost-tls-'));
  const [cert, key] = [path.join(dir, 'c.pem'), path.join(dir, 'k.pem')];
  const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  if (gen.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    return; // no openssl here: the handover itself was shown above
  }
  const port = await freePort();
  const tls = spawnProc(native, ['netexec', `--http-port=${port}`, '--udp-port=-1', `--tls-cert-file=${cert}`, `--tls-private-key-file=${key}`], { ...env, PODNET_HOSTNAME: 'pod-tls' });
  try {
    const body = await new Promise<string>((resolve, reject) => {
      const deadline = Date.now() + 8000;
      const attempt = () => {
        const req = https.get({ host: '127.0.0.1', port, path: '/hostname', rejectUnauthorized: false, agent: false }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => resolve(b));
        });
        req.on('error', (e) => (Date.now() > deadline ? reject(e) : setTimeout(attempt, 50)));
      };
      attempt();
    });
    assert.equal(body, 'pod-tls');
  } finally {
    stop(tls);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('netexec native: keep-alive, chunked bodies, bad requests, the body limit', async (t) => {
  if (!needNative(t)) return;
  const port = await freePort();
  const p = run(['netexec', `--http-port=${port}`, '--udp-port=-1'], { PODNET_HOSTNAME: 'pod-k' }, 'native');
  const conns: RawConn[] = [];
  const open = async () => { const c = await RawConn.open(port); conns.push(c); return c; };
  try {
    await waitHTTP(port);
    // several requests, one at a time, on one connection
    const ka = await open();
    const paths = ['/hostname', '/echo?msg=two', '/clientip'];
    for (let i = 0; i < paths.length; i++) {
      ka.sock.write(`GET ${paths[i]} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await ka.until(() => ka.responses().length === i + 1);
    }
    const rs = ka.responses();
    assert.deepEqual(rs.map((r) => [r.status, r.headers.connection]), [[200, 'keep-alive'], [200, 'keep-alive'], [200, 'keep-alive']]);
    assert.deepEqual(rs.slice(0, 2).map((r) => r.body), ['pod-k', 'two']);
    assert.equal(rs[2].body, `127.0.0.1:${ka.sock.localPort}`);
    assert.equal(ka.closed, false);
    // pipelined, the last asking to close
    const pl = await open();
    pl.sock.write('GET /hostname HTTP/1.1\r\nHost: x\r\n\r\nHEAD /echo?msg=abc HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?msg=end HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await pl.until(() => pl.closed);
    const pr = pl.data.toString('latin1');
    assert.equal(pr.match(/HTTP\/1\.1 200 OK/g)?.length, 3);
    assert.match(pr, /Content-Length: 3\r\n[\s\S]*\r\n\r\nHTTP\/1\.1 200 OK/); // HEAD: the length, no body
    assert.match(pr, /Connection: close\r\n\r\nend$/);

    // a chunked request body (form values come from it before the query)
    const ch = await open();
    ch.sock.write('POST /echo?msg=query HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n');
    await sleep(50);
    ch.sock.write('4\r\nmsg=\r\n');
    await sleep(50);
    ch.sock.write('7;ext=1\r\nchunked\r\n0\r\nX-Trailer: t\r\n\r\n');
    await ch.until(() => ch.responses().length === 1);
    assert.deepEqual([ch.responses()[0].status, ch.responses()[0].body], [200, 'chunked']);
    // Expect: 100-continue gets its interim answer before the body is sent
    const ex = await open();
    ex.sock.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\nExpect: 100-continue\r\n\r\n');
    await ex.until(() => ex.data.toString().startsWith('HTTP/1.1 100 Continue\r\n\r\n'));
    ex.sock.write('msg=ok');
    await ex.until(() => ex.data.toString().includes('\r\n\r\nok'));

    // malformed requests: 400 and the connection closed
    for (const bad of ['BLAH\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n']) {
      const c = await open();
      c.sock.write(Buffer.from(bad, 'latin1'));
      await c.until(() => c.closed);
      assert.match(c.data.toString(), /^HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\n/, JSON.stringify(bad));
    }
    // headers beyond Node's 16 KiB: 431
    const big = await open();
    big.sock.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17000)}\r\n\r\n`);
    await big.until(() => big.closed);
    assert.match(big.data.toString(), /^HTTP\/1\.1 431 /);
    // a body over 64 MiB is refused as soon as it is announced: no answer, connection closed
    const over = await open();
    over.sock.write(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * 1024 * 1024 + 1}\r\n\r\n`);
    await over.until(() => over.closed);
    assert.equal(over.data.length, 0);
    const overChunk = await open();
    overChunk.sock.write(`POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(64 * 1024 * 1024 + 1).toString(16)}\r\n`);
    await overChunk.until(() => overChunk.closed);
    assert.equal(overChunk.data.length, 0);
    await waitFor(() => (p.stderr().match(/http: panic serving :0: request body too large/g) ?? []).length === 2);
    // and the server still serves
    assert.equal((await get(port, '/hostname')).body, 'pod-k');
  } finally {
    for (const c of conns) c.close();
    stop(p);
  }
});

test('netexec native: a slow /shell does not hold up other requests', async (t) => {
  if (!needNative(t)) return;
  const port = await freePort();
  const p = run(['netexec', `--http-port=${port}`, '--udp-port=-1'], { PODNET_HOSTNAME: 'pod-s' }, 'native');
  try {
    await waitHTTP(port);
    const t0 = Date.now();
    const shell = get(port, `/shell?cmd=${encodeURIComponent('sleep 1; echo slept')}`);
    await waitFor(() => p.stderr().includes('GET /shell?cmd=sleep 1; echo slept'));
    const h = await get(port, '/hostname');
    const quick = Date.now() - t0;
    assert.equal(h.body, 'pod-s');
    assert.ok(quick < 900, `/hostname took ${quick} ms while /shell ran`);
    const s = await shell;
    assert.deepEqual(JSON.parse(s.body), { output: 'slept\n' });
    assert.ok(Date.now() - t0 >= 1000);
  } finally {
    stop(p);
  }
});

test('netexec native: a small footprint (VmRSS after start)', async (t) => {
  if (!needNative(t)) return;
  const [port, uport] = [await freePort(), await freePort()];
  const p = run(['netexec', `--http-port=${port}`, `--udp-port=${uport}`], { PODNET_HOSTNAME: 'pod-m' }, 'native');
  try {
    await waitHTTP(port, '/healthz');
    const status = fs.readFileSync(`/proc/${p.child.pid}/status`, 'utf8');
    const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
    assert.ok(rssKb > 0 && rssKb <= 4096, `VmRSS ${rssKb} kB`);
  } finally {
    stop(p);
  }
});

test('serve-hostname: HTTP, UDP and TCP modes; keeps serving after SIGTERM', async () => {
  const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
  const h = run(['serve-hostname', `--port=${p1}`, '--close'], { PODNET_HOSTNAME: 'sh-http' });
  const u = run(['serve-hostname', '--port', String(p2), '--udp', '--http=false'], { PODNET_HOSTNAME: 'sh-udp' });
  const t = run(['serve-hostname', `--port=${p3}`, '--tcp', '--http=false'], { PODNET_HOSTNAME: 'sh-tcp' });
  const bad = run(['serve-hostname', '--udp']);
  try {
    await waitHTTP(p1);
    const r = await get(p1, '/whatever');
    assert.deepEqual([r.status, r.body, r.headers.connection], [200, 'sh-http', 'close']);
    await waitFor(() => u.stderr().includes('Serving on port'));
    assert.equal(await udp(p2, 'x'), 'sh-udp');
    await waitFor(() => t.stderr().includes('Serving on port'));
    assert.equal(await tcpRead(p3), 'sh-tcp');
    assert.equal((await bad.exited).code, 1);
    assert.match(bad.stderr(), /Can't serve TCP\/UDP mode and HTTP mode at the same time/);
    h.child.kill('SIGTERM');
    await waitFor(() => h.stderr().includes('Awaiting pod deletion'));
    assert.equal((await get(p1, '/')).body, 'sh-http');
    assert.equal(h.child.exitCode, null);
  } finally {
    stop(h);
    stop(u);
    stop(t);
    stop(bad);
  }
});

test('porter, test-webserver, pause, connect', async () => {
  const [pt, pu, pw, pn] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const porter = run(['porter'], { [`SERVE_PORT_${pt}`]: 'foo', [`SERVE_UDP_PORT_${pu}`]: 'bar' });
  const pj = await freePort();
  const porterJSON = run(['porter', '--json-response'], { [`SERVE_PORT_${pj}`]: 'baz' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agnhost-web-'));
  fs.writeFileSync(path.join(dir, 'hello.txt'), 'hello from a file');
  const web = run(['test-webserver', `--port=${pw}`]);
  const pause = run(['pause']);
  const ne = run(['netexec', `--http-port=${pn}`, '--udp-port=-1']);
  try {
    await waitHTTP(pt);
    assert.equal((await get(pt, '/any')).body, 'foo');
    await waitFor(() => porter.stderr().includes(`Started UDP server on port ${pu}`));
    assert.equal(await udp(pu, 'x'), 'bar');
    await waitHTTP(pj);
    const j = await get(pj, '/', { method: 'POST' });
    assert.equal(j.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(j.body), { Method: 'POST', Body: 'baz' });
    porter.child.kill('SIGTERM');
    assert.equal((await porter.exited).code, 0);

    await waitHTTP(pw);
    let r = await get(pw, `${dir}/hello.txt`);
    assert.deepEqual([r.status, r.body, r.headers['access-control-allow-origin']], [200, 'hello from a file', '*']);
    r = await get(pw, `${dir}/missing`);
    assert.equal(r.status, 404);
    r = await get(pw, dir);
    assert.equal(r.status, 301);
    r = await get(pw, `${dir}/`);
    assert.match(r.body, /<a href="hello.txt">hello.txt<\/a>/);

    await waitFor(() => pause.stdout().includes('Paused'));
    pause.child.kill('SIGTERM');
    assert.equal((await pause.exited).code, 2); // upstream: SIGTERM → exit 2, SIGINT → exit 1

    await waitHTTP(pn);
    const closed = await freeTCPPort();
    const [ok, refused, noPort, noArg] = [
      run(['connect', `127.0.0.1:${pn}`, '--timeout=2s']),
      run(['connect', `127.0.0.1:${closed}`]),
      run(['connect', 'no-port']),
      run(['connect']),
    ];
    assert.equal((await ok.exited).code, 0);
    assert.equal(ok.stderr(), '');
    assert.equal((await refused.exited).code, 1);
    assert.equal(refused.stderr(), 'REFUSED\n');
    assert.equal((await noPort.exited).code, 1);
    assert.match(noPort.stderr(), /^UNKNOWN: address no-port: missing port in address/);
    assert.equal((await noArg.exited).code, 1);
    assert.match(noArg.stderr(), /accepts 1 arg\(s\), received 0/);
  } finally {
    stop(porter);
    stop(porterJSON);
    stop(web);
    stop(pause);
    stop(ne);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
