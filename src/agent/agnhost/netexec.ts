// agnhost netexec: an HTTP(S) server with test endpoints plus a UDP server, behaving like
// upstream's test/images/agnhost/netexec.

import * as http from 'node:http';
import type * as https from 'node:https';
import * as dgram from 'node:dgram';
import type * as dns from 'node:dns/promises';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type * as childProcess from 'node:child_process';
import { createRequire } from 'node:module';
import { FlagDef, FlagValues, atoi, parseGoDuration } from './flags.js';
import {
  UPLOAD_DIR_ENV, canonicalHeaderKey, cleanPath, errnoText, fatal, getHostName, goJSONMap, goNow,
  hostPort, httpError, listenErrorMessage, log, parseQuery, readBody, redirect, send,
} from './common.js';

export const netexecFlags: FlagDef[] = [
  { name: 'delay-shutdown', type: 'int', def: 0, usage: 'Number of seconds to delay shutdown when receiving SIGTERM.' },
  { name: 'http-override', type: 'string', def: '', usage: 'Override the HTTP handler to always respond as if it were a GET with this path & params' },
  { name: 'http-port', type: 'int', def: 8080, usage: 'HTTP Listen Port' },
  { name: 'sctp-port', type: 'int', def: -1, usage: 'SCTP Listen Port' },
  { name: 'tls-cert-file', type: 'string', def: '', usage: 'File containing an x509 certificate for HTTPS. (CA cert, if any, concatenated after server cert)' },
  { name: 'tls-private-key-file', type: 'string', def: '', usage: 'File containing an x509 private key matching --tls-cert-file' },
  { name: 'udp-listen-addresses', type: 'string', def: '', usage: 'A comma separated list of ip addresses the udp servers listen from' },
  { name: 'udp-port', type: 'int', def: 8081, usage: 'UDP Listen Port' },
];

// Built-ins only some endpoints or flags need (TLS, /shell, /dial by name) load on first use: every
// netexec pod is a Node.js start, and loading them up front would add to each start's CPU time.
const lazyRequire = createRequire(import.meta.url);
const httpsModule = () => lazyRequire('node:https') as typeof https;
const dnsModule = () => lazyRequire('node:dns/promises') as typeof dns;
const childProcessModule = () => lazyRequire('node:child_process') as typeof childProcess;

/**
 * The UDP server socket's address lookup. Its addresses are IP literals (the bind address, and
 * each reply's sender), which need no resolver: dgram's default lookup loads node:dns and tests
 * the literal with node's IPv6 pattern, whose first use compiles a large regular expression —
 * together ~30 ms of CPU in every netexec start (a --cpu-prof of one start). Names, should one
 * ever reach it, still go to dns.lookup.
 */
function literalLookup(host: string, family: number, cb: (err: Error | null, address: string, family: number) => void): void {
  if (host.includes(':')) { cb(null, host, 6); return; } // a hostname never contains ':'
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) { cb(null, host, 4); return; }
  (lazyRequire('node:dns') as typeof import('node:dns')).lookup(host, family, cb);
}

/** A request as the handlers see it (the real one, or the synthetic one of --http-override). */
interface Req {
  method: string;
  path: string;
  rawQuery: string;
  /** raw header name/value pairs */
  rawHeaders: string[];
  remoteAddr: string;
  body: Buffer;
  contentType: string;
  node: http.IncomingMessage;
}

interface State {
  serverReady: boolean;
  sigTermReceived: boolean;
  server?: http.Server;
}

type Handler = (req: Req, res: http.ServerResponse, st: State) => void | Promise<void>;

// ---- form parsing (Go's Request.FormValue: body values first, then the query) ----

interface MultipartPart {
  name: string;
  filename?: string;
  data: Buffer;
}

function parseMultipart(body: Buffer, contentType: string): MultipartPart[] | undefined {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!m) return undefined;
  const boundary = Buffer.from(`--${m[1] ?? m[2]}`);
  const parts: MultipartPart[] = [];
  let pos = body.indexOf(boundary);
  if (pos < 0) return undefined;
  for (;;) {
    pos += boundary.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break;
    // skip the line break after the boundary
    if (body[pos] === 0x0d) pos++;
    if (body[pos] === 0x0a) pos++;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) return undefined;
    const headers = body.subarray(pos, headerEnd).toString('utf8');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), boundary]), headerEnd + 4);
    if (next < 0) return undefined;
    const data = body.subarray(headerEnd + 4, next);
    const disp = /content-disposition:[^\r\n]*/i.exec(headers)?.[0] ?? '';
    const name = /\bname="([^"]*)"/i.exec(disp)?.[1] ?? '';
    const filename = /\bfilename="([^"]*)"/i.exec(disp)?.[1];
    parts.push({ name, filename, data });
    pos = next + 2;
  }
  return parts;
}

function formValue(req: Req, key: string): string {
  const bodyMethod = req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH';
  if (bodyMethod && req.contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    const v = parseQuery(req.body.toString('utf8')).get(key);
    if (v) return v[0];
  }
  if (bodyMethod && req.contentType.toLowerCase().startsWith('multipart/form-data')) {
    const part = parseMultipart(req.body, req.contentType)?.find((p) => p.name === key && p.filename === undefined);
    if (part) return part.data.toString('utf8');
  }
  return parseQuery(req.rawQuery).get(key)?.[0] ?? '';
}

function queryValue(req: Req, key: string): string {
  return parseQuery(req.rawQuery).get(key)?.[0] ?? '';
}

// ---- handlers ----

const rootHandler: Handler = (_req, res) => {
  log('GET /');
  send(res, 200, `NOW: ${goNow()}`);
};

const echoHandler: Handler = (req, res) => {
  const msg = formValue(req, 'msg');
  const codeString = formValue(req, 'code');
  log(`GET /echo?msg=${msg}&code=${codeString}`);
  let code = 200;
  if (codeString !== '') {
    try {
      code = atoi(codeString);
    } catch {
      send(res, 200, `argument 'code' must be an integer or empty, got ${JSON.stringify(codeString)}\n`);
      return;
    }
  }
  send(res, code, msg);
};

const clientIPHandler: Handler = (req, res) => {
  log('GET /clientip');
  send(res, 200, req.remoteAddr);
};

function headerMap(req: Req): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const k = canonicalHeaderKey(req.rawHeaders[i]);
    if (k === 'Host') continue; // Go moves Host out of Request.Header
    const list = m.get(k);
    if (list) list.push(req.rawHeaders[i + 1]);
    else m.set(k, [req.rawHeaders[i + 1]]);
  }
  return m;
}

const headerHandler: Handler = (req, res) => {
  const key = formValue(req, 'key');
  const headers = headerMap(req);
  if (key !== '') {
    log(`GET /header?key=${key}`);
    send(res, 200, headers.get(canonicalHeaderKey(key))?.[0] ?? '');
  } else {
    log('GET /header');
    send(res, 200, goJSONMap(Object.fromEntries(headers)));
  }
};

const hostnameHandler: Handler = (_req, res) => {
  log('GET /hostname');
  send(res, 200, getHostName());
};

const hostNameHandler: Handler = (_req, res) => {
  log('GET /hostName');
  send(res, 200, getHostName());
};

const healthzHandler: Handler = (_req, res, st) => {
  log('GET /healthz');
  send(res, st.serverReady ? 200 : 412);
};

const readyzHandler: Handler = (_req, res, st) => {
  log('GET /readyz');
  if (st.sigTermReceived) send(res, 503, 'shutting down');
  else if (st.serverReady) send(res, 200, 'ok');
  else send(res, 412);
};

const shutdownHandler: Handler = () => {
  log('GET /shutdown');
  process.exit(0);
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const exitHandler: Handler = async (req, res, st) => {
  const waitString = formValue(req, 'wait');
  const timeoutString = formValue(req, 'timeout');
  const codeString = formValue(req, 'code');
  log(`GET /exit?code=${codeString}&timeout=${timeoutString}&wait=${waitString}`);
  const parse = (s: string): number | undefined => {
    if (s === '') return 0;
    try {
      return parseGoDuration(s);
    } catch {
      return undefined;
    }
  };
  const timeout = parse(timeoutString);
  if (timeout === undefined) {
    send(res, 200, `argument 'timeout' must be a valid golang duration or empty, got ${JSON.stringify(timeoutString)}\n`);
    return;
  }
  const wait = parse(waitString);
  if (wait === undefined) {
    send(res, 200, `argument 'wait' must be a valid golang duration or empty, got ${JSON.stringify(waitString)}\n`);
    return;
  }
  let code = 0;
  if (codeString !== '') {
    try {
      code = atoi(codeString);
    } catch {
      send(res, 200, `argument 'code' must be an integer [0-127] or empty, got ${JSON.stringify(codeString)}\n`);
      return;
    }
  }
  log(`Will begin shutdown in ${waitString || '0s'}, allowing ${timeoutString || '0s'} for connections to close, then will exit with ${code}`);
  if (wait > 0) await sleep(wait);
  const exitCode = code & 0xff;
  if (timeout <= 0) process.exit(exitCode);
  // Graceful: this request completes (200, empty), the server stops accepting, and the
  // process exits once connections are closed or the timeout passes.
  send(res, 200);
  const server = st.server;
  let done = false;
  const finish = (result: string) => {
    if (done) return;
    done = true;
    log(`Graceful shutdown completed with: ${result}`);
    process.exit(exitCode);
  };
  setTimeout(() => finish('context deadline exceeded'), timeout).unref();
  if (server) {
    server.close(() => finish('<nil>'));
    res.on('finish', () => setImmediate(() => server.closeIdleConnections()));
  } else {
    finish('<nil>');
  }
};

const redirectHandler: Handler = (req, res) => {
  const location = formValue(req, 'location');
  const codeString = formValue(req, 'code');
  log(`${req.method} /redirect?msg=${location}&code=${codeString}`);
  let code = 302;
  if (codeString !== '') {
    try {
      code = atoi(codeString);
    } catch {
      send(res, 200, `argument 'code' must be an integer or empty, got ${JSON.stringify(codeString)}\n`);
      return;
    }
  }
  redirect(req.node, res, location, code);
};

const SIGNAL_TEXT: Record<string, string> = {
  SIGKILL: 'killed', SIGTERM: 'terminated', SIGINT: 'interrupt', SIGSEGV: 'segmentation fault',
  SIGABRT: 'aborted', SIGHUP: 'hangup', SIGPIPE: 'broken pipe', SIGQUIT: 'quit', SIGUSR1: 'user defined signal 1',
  SIGUSR2: 'user defined signal 2', SIGALRM: 'alarm clock',
};

/** Runs `sh -c cmd`, returning combined output and Go's exec error string (if any). */
export function runShell(cmd: string, shellPath = '/bin/sh'): Promise<{ output: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let child;
    try {
      child = childProcessModule().spawn(shellPath, ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      resolve({ output: Buffer.alloc(0), error: `fork/exec ${shellPath}: ${(e as Error).message}` });
      return;
    }
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    let spawnError: string | undefined;
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = e.code === 'ENOENT' ? `fork/exec ${shellPath}: no such file or directory` : `fork/exec ${shellPath}: ${e.message}`;
    });
    child.on('close', (code, signal) => {
      let error = spawnError;
      if (!error && signal) error = `signal: ${SIGNAL_TEXT[signal] ?? signal}`;
      else if (!error && code !== 0 && code !== null) error = `exit status ${code}`;
      resolve({ output: Buffer.concat(chunks), error });
    });
  });
}

const shellHandler: Handler = async (req, res) => {
  let cmd = formValue(req, 'shellCommand');
  if (cmd === '') cmd = formValue(req, 'cmd');
  log(`GET /shell?cmd=${cmd}`);
  const { output, error } = await runShell(cmd);
  const out: Record<string, string> = {};
  if (output.length > 0) out.output = output.toString('utf8');
  if (error !== undefined) out.error = error;
  log(`Output: map[${Object.keys(out).sort().map((k) => `${k}:${out[k]}`).join(' ')}]`);
  send(res, 200, goJSONMap(out));
};

const uploadHandler: Handler = (req, res) => {
  log('GET /upload');
  const fail = (msg: string, detail: string) => {
    log(`${msg.replace(/\.$/, '')}: ${detail}`);
    send(res, 200, goJSONMap({ error: msg }));
  };
  const ct = req.contentType.toLowerCase();
  const parts = ct.startsWith('multipart/form-data') && req.method === 'POST' ? parseMultipart(req.body, req.contentType) : undefined;
  const file = parts?.find((p) => p.name === 'file' && p.filename !== undefined);
  if (!file) {
    fail('Unable to upload file.', parts ? 'http: no such file' : 'request Content-Type isn\'t multipart/form-data');
    return;
  }
  const dir = process.env[UPLOAD_DIR_ENV] || '/uploads';
  let name = '';
  let fd = -1;
  for (let attempt = 0; attempt < 100 && fd < 0; attempt++) {
    name = path.join(dir, `upload${1_000_000_000 + Math.floor(Math.random() * 3_294_967_295)}`);
    try {
      fd = fs.openSync(name, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        fail('Unable to open file for write', `open ${name}: ${(e as Error).message}`);
        return;
      }
    }
  }
  try {
    fs.writeSync(fd, file.data);
  } catch (e) {
    fs.closeSync(fd);
    fail('Unable to write file.', (e as Error).message);
    return;
  }
  fs.closeSync(fd);
  try {
    fs.chmodSync(name, 0o700);
  } catch (e) {
    fail('Unable to chmod file.', (e as Error).message);
    return;
  }
  log(`Wrote upload to ${name}`);
  send(res, 201, goJSONMap({ output: name }));
};

// ---- /dial ----

class DialError extends Error {}

interface Resolved {
  ip: string;
  port: number;
  /** addr.String() as Go prints it */
  display: string;
}

async function resolveAddr(proto: 'tcp' | 'udp', host: string, port: string): Promise<Resolved> {
  let p = 0;
  if (port !== '') {
    if (!/^\d+$/.test(port)) throw new DialError(`lookup ${proto}/${port}: unknown port`);
    p = Number(port);
    if (p > 65535) throw new DialError(`address ${port}: invalid port`);
  }
  let ip = host;
  if (host === '') {
    return { ip: '127.0.0.1', port: p, display: `:${p}` };
  }
  if (net.isIP(host) === 0) {
    try {
      const all = await dnsModule().lookup(host, { all: true });
      const pick = all.find((a) => a.family === 4) ?? all[0];
      if (!pick) throw new Error('no such host');
      ip = pick.address;
    } catch {
      throw new DialError(`lookup ${host}: no such host`);
    }
  }
  return { ip, port: p, display: hostPort(ip, p) };
}

function dialHTTP(request: string, addr: Resolved): Promise<string> {
  const deadline = Date.now() + 5000;
  const get = (url: string, hops: number): Promise<string> =>
    new Promise((resolve, reject) => {
      let u: URL;
      try {
        u = new URL(url);
      } catch {
        reject(new DialError(`parse ${JSON.stringify(url)}: invalid URL`));
        return;
      }
      const connectHost = u.hostname === '' ? addr.ip : u.hostname.replace(/^\[|\]$/g, '');
      const req = http.request({
        host: connectHost, port: u.port || 80, path: `${u.pathname}${u.search}`, method: 'GET', agent: false,
        headers: { 'User-Agent': 'Go-http-client/1.1', Host: u.host },
      });
      const remaining = deadline - Date.now();
      const timer = setTimeout(() => {
        req.destroy(new DialError(`Get ${JSON.stringify(url)}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)`));
      }, Math.max(0, remaining));
      req.on('response', (res) => {
        const loc = res.headers.location;
        if (loc && [301, 302, 303, 307, 308].includes(res.statusCode ?? 0)) {
          res.resume();
          clearTimeout(timer);
          if (hops >= 10) {
            reject(new DialError(`Get ${JSON.stringify(loc)}: stopped after 10 redirects`));
            return;
          }
          let next: string;
          try {
            next = new URL(loc, url).toString();
          } catch {
            reject(new DialError(`Get ${JSON.stringify(url)}: failed to parse Location header ${JSON.stringify(loc)}`));
            return;
          }
          get(next, hops + 1).then(resolve, reject);
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve(Buffer.concat(chunks).toString('utf8'));
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(new DialError(e instanceof DialError ? e.message : 'unexpected EOF'));
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (e instanceof DialError) {
          reject(e);
          return;
        }
        const target = `${u.host.includes(':') ? u.host : `${u.host}:80`}`;
        let detail: string;
        if (['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EADDRNOTAVAIL'].includes(e.code ?? '')) {
          detail = `dial tcp ${target}: connect: ${errnoText(e.code, e.message)}`;
        } else if (e.code === 'ECONNRESET' && e.message.includes('hang up')) {
          detail = 'EOF';
        } else {
          detail = `read tcp ${target}: read: ${errnoText(e.code, e.message)}`;
        }
        reject(new DialError(`Get ${JSON.stringify(url)}: ${detail}`));
      });
      req.end();
    });
  return get(`http://${addr.display}/${request}`, 0);
}

function dialUDP(request: string, addr: Resolved): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(addr.ip) ? 'udp6' : 'udp4');
    let settled = false;
    let local = '';
    const finish = (err?: string, value?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        sock.close();
      } catch {
        /* already closed */
      }
      if (err !== undefined) reject(new DialError(err));
      else resolve(value ?? '');
    };
    const timer = setTimeout(() => {
      finish(`reading from udp connection failed. err:'read udp ${local}->${addr.display}: i/o timeout'`);
    }, 5000);
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (local === '') finish(`udp dial failed. err:dial udp ${addr.display}: ${errnoText(e.code, e.message)}`);
      else finish(`reading from udp connection failed. err:'read udp ${local}->${addr.display}: read: ${errnoText(e.code, e.message)}'`);
    });
    sock.on('message', (m: Buffer) => {
      if (m.length === 0) {
        finish(`reading from udp connection failed. err:'<nil>'`);
        return;
      }
      finish(undefined, m.subarray(0, 2048).toString('utf8'));
    });
    sock.connect(addr.port, addr.ip, () => {
      const a = sock.address();
      local = hostPort(a.address, a.port);
      sock.send(Buffer.from(request), (e) => {
        if (e) finish(`udp connection write failed. err:write udp ${local}->${addr.display}: ${e.message}`);
      });
    });
  });
}

const dialHandler: Handler = async (req, res) => {
  const host = queryValue(req, 'host');
  const port = queryValue(req, 'port');
  const request = queryValue(req, 'request');
  const protocol = queryValue(req, 'protocol');
  const tryParam = queryValue(req, 'tries');
  log(`GET /dial?host=${host}&protocol=${protocol}&port=${port}&request=${request}&tries=${tryParam}`);
  let tries = 1;
  if (tryParam.length > 0) {
    try {
      tries = atoi(tryParam);
    } catch (e) {
      httpError(res, `tries parameter is invalid. ${(e as Error).message}`, 400);
      return;
    }
  }
  if (request.length === 0) {
    httpError(res, 'request parameter not specified. <nil>', 400);
    return;
  }
  const proto = protocol.toLowerCase();
  let dialer: (request: string, addr: Resolved) => Promise<string>;
  let addr: Resolved;
  try {
    switch (proto) {
      case '':
      case 'http':
        dialer = dialHTTP;
        addr = await resolveAddr('tcp', host, port);
        break;
      case 'udp':
        dialer = dialUDP;
        addr = await resolveAddr('udp', host, port);
        break;
      case 'sctp':
        dialer = async () => {
          throw new DialError('sctp dial failed. err:protocol not supported');
        };
        addr = await resolveAddr('tcp', host, port);
        break;
      default:
        httpError(res, `unsupported protocol. ${protocol}`, 400);
        return;
    }
  } catch (e) {
    httpError(res, `host and/or port param are invalid. ${(e as Error).message}`, 400);
    return;
  }
  const errors: string[] = [];
  const responses: string[] = [];
  let response = '';
  for (let i = 0; i < tries; i++) {
    try {
      response = await dialer(request, addr);
      responses.push(response);
    } catch (e) {
      response = '';
      errors.push((e as Error).message);
    }
  }
  const output: Record<string, string[]> = {};
  if (response.length > 0) output.responses = responses;
  if (errors.length > 0) output.errors = errors;
  send(res, 200, goJSONMap(output));
};

// ---- routing ----

const routes: Record<string, Handler> = {
  '/clientip': clientIPHandler,
  '/header': headerHandler,
  '/dial': dialHandler,
  '/echo': echoHandler,
  '/exit': exitHandler,
  '/healthz': healthzHandler,
  '/readyz': readyzHandler,
  '/hostname': hostnameHandler,
  '/redirect': redirectHandler,
  '/shell': shellHandler,
  '/upload': uploadHandler,
  '/hostName': hostNameHandler,
  '/shutdown': shutdownHandler,
};

/** Go's ServeMux: clean the path (redirecting if it changes), exact match, else "/". */
async function serveMux(req: Req, res: http.ServerResponse, st: State): Promise<void> {
  if (req.method !== 'CONNECT') {
    const clean = cleanPath(req.path);
    if (clean !== req.path) {
      redirect(req.node, res, clean + (req.rawQuery ? `?${req.rawQuery}` : ''), 301);
      return;
    }
  }
  const h = routes[req.path] ?? rootHandler;
  await h(req, res, st);
}

function splitTarget(target: string): { path: string; rawQuery: string } {
  let t = target;
  const hash = t.indexOf('#');
  if (hash >= 0) t = t.slice(0, hash);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t)) {
    try {
      const u = new URL(t);
      return { path: u.pathname, rawQuery: u.search.slice(1) };
    } catch {
      return { path: '/', rawQuery: '' };
    }
  }
  const q = t.indexOf('?');
  const rawPath = q >= 0 ? t.slice(0, q) : t;
  let p: string;
  try {
    p = decodeURIComponent(rawPath);
  } catch {
    p = rawPath;
  }
  return { path: p === '' ? '/' : p, rawQuery: q >= 0 ? t.slice(q + 1) : '' };
}

function startUDPServer(address: string, port: number, st: State): void {
  const family = address === '' ? 6 : net.isIP(address);
  const bindAddr = address === '' ? '::' : address;
  const display = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  const create = (type: 'udp4' | 'udp6', host: string, fallback: boolean) => {
    const sock = dgram.createSocket({ type, ipv6Only: false, lookup: literalLookup as unknown as dgram.SocketOptions['lookup'] });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (fallback && (e.code === 'EAFNOSUPPORT' || e.code === 'EADDRNOTAVAIL' || e.code === 'EINVAL')) {
        try {
          sock.close();
        } catch {
          /* ignore */
        }
        create('udp4', '0.0.0.0', false);
        return;
      }
      fatal(`Error occurred: failed to create listener for UDP address ${display}:${listenErrorMessage('udp', display, e)}`);
    });
    sock.on('listening', () => {
      log(`Started UDP server on port ${address} ${port}`);
      st.serverReady = true;
    });
    sock.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      const client = hostPort(rinfo.address, rinfo.port);
      const text = msg.subarray(0, 2048).toString('utf8').trim().toLowerCase();
      const reply = (s: string) => sock.send(Buffer.from(s), rinfo.port, rinfo.address);
      if (text === 'hostname') {
        log('Sending udp hostName response');
        reply(getHostName());
      } else if (text.startsWith('echo ')) {
        const resp = text.slice(5);
        log(`Echoing ${resp} to UDP client ${client}`);
        reply(resp);
      } else if (text === 'clientip') {
        log(`Sending clientip back to UDP client ${client}`);
        reply(client);
      } else if (text.length > 0) {
        log(`Unknown UDP command received from ${client}: ${text}`);
      }
    });
    sock.bind(port, host);
  };
  if (family === 4) create('udp4', bindAddr, false);
  else create('udp6', bindAddr, address === '');
}

function parseAddresses(addresses: string): string[] {
  if (addresses === '') return [''];
  const res = new Set<string>();
  for (const a of addresses.split(',')) {
    if (net.isIP(a) === 0) fatal(`parseAddress: invalid address ${a}`);
    res.add(a);
  }
  return [...res].sort();
}

export function runNetexec(v: FlagValues): void {
  const httpPort = v['http-port'] as number;
  const udpPort = v['udp-port'] as number;
  const sctpPort = v['sctp-port'] as number;
  const certFile = v['tls-cert-file'] as string;
  const keyFile = v['tls-private-key-file'] as string;
  const httpOverride = v['http-override'] as string;
  const delayShutdown = v['delay-shutdown'] as number;
  const st: State = { serverReady: false, sigTermReceived: false };

  process.on('SIGTERM', () => {
    if (st.sigTermReceived) return;
    st.sigTermReceived = true;
    if (delayShutdown > 0) {
      log(`Sleeping ${delayShutdown} seconds before terminating...`);
      setTimeout(() => process.exit(0), delayShutdown * 1000);
    } else {
      process.exit(0);
    }
  });

  if (udpPort !== -1) {
    for (const address of parseAddresses(v['udp-listen-addresses'] as string)) startUDPServer(address, udpPort, st);
  }
  if (sctpPort !== -1) {
    log(`SCTP is not supported by this agnhost implementation (podnet); not listening on SCTP port ${sctpPort}`);
    // Upstream reports ready once its SCTP server runs; keep probes of SCTP-only pods working.
    st.serverReady = true;
  }

  const handler = async (nreq: http.IncomingMessage, res: http.ServerResponse) => {
    try {
      const body = await readBody(nreq);
      let req: Req;
      if (httpOverride !== '') {
        const { path: p, rawQuery } = splitTarget(httpOverride);
        req = { method: 'GET', path: p, rawQuery, rawHeaders: [], remoteAddr: '', body: Buffer.alloc(0), contentType: '', node: nreq };
      } else {
        const { path: p, rawQuery } = splitTarget(nreq.url ?? '/');
        req = {
          method: nreq.method ?? 'GET', path: p, rawQuery, rawHeaders: nreq.rawHeaders,
          remoteAddr: hostPort(nreq.socket.remoteAddress, nreq.socket.remotePort),
          body, contentType: String(nreq.headers['content-type'] ?? ''), node: nreq,
        };
      }
      await serveMux(req, res, st);
    } catch (e) {
      log(`http: panic serving ${hostPort(nreq.socket.remoteAddress, nreq.socket.remotePort)}: ${(e as Error).message}`);
      if (!res.headersSent) res.socket?.destroy();
    }
  };

  let server: http.Server;
  if (certFile.length > 0) {
    let cert: Buffer;
    let key: Buffer;
    try {
      cert = fs.readFileSync(certFile);
    } catch {
      fatal(`open ${certFile}: no such file or directory`);
    }
    try {
      key = fs.readFileSync(keyFile);
    } catch {
      fatal(`open ${keyFile}: no such file or directory`);
    }
    try {
      server = httpsModule().createServer({ cert, key }, handler);
    } catch (e) {
      fatal(`tls: ${(e as Error).message}`);
    }
  } else {
    server = http.createServer(handler);
  }
  st.server = server;
  log(`Started HTTP server on port ${httpPort}`);
  server.on('error', (e: NodeJS.ErrnoException) => fatal(listenErrorMessage('tcp', `:${httpPort}`, e)));
  server.listen(httpPort);
}
