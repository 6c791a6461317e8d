// Small agnhost servers: serve-hostname, porter, fake-gitserver, liveness, test-webserver, pause.

import * as http from 'node:http';
import * as https from 'node:https';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { FlagDef, FlagValues, formatGoDuration } from './flags.js';
import {
  exitOnSigterm, fatal, getHostName, goJSON, hostPort, httpError, listenErrorMessage, log, parseQuery, redirect, send,
  statusText,
} from './common.js';

// ---------------- serve-hostname ----------------

export const serveHostnameFlags: FlagDef[] = [
  { name: 'close', type: 'bool', def: false, usage: 'Close connection per each HTTP request.' },
  { name: 'http', type: 'bool', def: true, usage: 'Serve HTTP.' },
  { name: 'port', type: 'int', def: 9376, usage: 'Port number.' },
  { name: 'tcp', type: 'bool', def: false, usage: 'Serve raw over TCP.' },
  { name: 'udp', type: 'bool', def: false, usage: 'Serve raw over UDP.' },
];

export function runServeHostname(v: FlagValues): void {
  const doTCP = v.tcp as boolean;
  const doUDP = v.udp as boolean;
  const doHTTP = v.http as boolean;
  const doClose = v.close as boolean;
  const port = v.port as number;
  if (doHTTP && (doTCP || doUDP)) fatal("Can't serve TCP/UDP mode and HTTP mode at the same time");
  const hostname = getHostName();
  const ready: Array<Promise<void>> = [];
  if (doTCP) {
    const srv = net.createServer((conn) => {
      log(`TCP request from ${hostPort(conn.remoteAddress, conn.remotePort)}`);
      conn.on('error', () => undefined);
      conn.end(hostname);
    });
    srv.on('error', (e: NodeJS.ErrnoException) => fatal(`Error from net.Listen(): ${listenErrorMessage('tcp', `:${port}`, e)}`));
    ready.push(new Promise((r) => srv.listen(port, () => r())));
  }
  if (doUDP) {
    ready.push(new Promise((r) => bindUDP(port, (e) => fatal(`Error from ListenUDP(): ${listenErrorMessage('udp', `:${port}`, e)}`), (sock, _msg, rinfo) => {
      log(`UDP request from ${hostPort(rinfo.address, rinfo.port)}`);
      sock.send(Buffer.from(hostname), rinfo.port, rinfo.address);
    }, false, r)));
  }
  if (doHTTP) {
    const srv = http.createServer((req, res) => {
      log(`HTTP request from ${hostPort(req.socket.remoteAddress, req.socket.remotePort)}`);
      req.resume();
      send(res, 200, hostname, doClose ? { Connection: 'close' } : {});
    });
    srv.on('error', (e: NodeJS.ErrnoException) => fatal(listenErrorMessage('tcp', `:${port}`, e)));
    srv.listen(port);
  }
  // Upstream logs this once its raw TCP/UDP sockets are bound.
  void Promise.all(ready).then(() => log(`Serving on port ${port}.`));
  // Upstream keeps serving for 60 s after SIGTERM ("awaiting pod deletion"), then exits 0.
  let terminating = false;
  process.on('SIGTERM', () => {
    if (terminating) return;
    terminating = true;
    log('Shutting down after receiving signal: terminated.');
    log('Awaiting pod deletion.');
    setTimeout(() => process.exit(0), 60_000);
  });
}

/** Binds a dual-stack UDP socket on `port` (IPv4 only if IPv6 is unavailable). */
function bindUDP(
  port: number,
  onError: (e: NodeJS.ErrnoException) => void,
  onMessage: (sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo) => void,
  v4only = false,
  onListening: () => void = () => undefined,
): void {
  const sock = dgram.createSocket({ type: v4only ? 'udp4' : 'udp6', ipv6Only: false });
  sock.on('listening', onListening);
  sock.on('error', (e: NodeJS.ErrnoException) => {
    if (!v4only && (e.code === 'EAFNOSUPPORT' || e.code === 'EADDRNOTAVAIL' || e.code === 'EINVAL')) {
      try {
        sock.close();
      } catch {
        /* ignore */
      }
      bindUDP(port, onError, onMessage, true, onListening);
      return;
    }
    onError(e);
  });
  sock.on('message', (msg, rinfo) => onMessage(sock, msg, rinfo));
  sock.bind(port, v4only ? '0.0.0.0' : '::');
}

// ---------------- porter ----------------

export const porterFlags: FlagDef[] = [
  { name: 'json-response', type: 'bool', def: false, usage: 'Responds to requests with a json response that includes the default value with the http.Request Method' },
];

export function runPorter(v: FlagValues): void {
  const jsonResponse = v['json-response'] as boolean;
  exitOnSigterm();
  const handler = (value: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    if (jsonResponse) {
      send(res, 200, goJSON({ Method: req.method, Body: value }), { 'Content-Type': 'application/json' });
    } else {
      send(res, 200, value);
    }
  };
  const validPort = (p: string) => /^\d+$/.test(p) && Number(p) <= 65535;
  const serveTCP = (port: string, value: string) => {
    if (!validPort(port)) {
      log(`server on port ${JSON.stringify(port)} failed: listen tcp: address 0.0.0.0:${port}: invalid port`);
      return;
    }
    const srv = http.createServer(handler(value));
    srv.on('error', (e: NodeJS.ErrnoException) => log(`server on port ${JSON.stringify(port)} failed: ${listenErrorMessage('tcp', `0.0.0.0:${port}`, e)}`));
    srv.listen(Number(port), '0.0.0.0');
  };
  const serveTLS = (port: string, value: string) => {
    const certFile = process.env.CERT_FILE || 'localhost.crt';
    const keyFile = process.env.KEY_FILE || 'localhost.key';
    const failed = (err: string) => log(`tls server on port ${JSON.stringify(port)} with certFile=${JSON.stringify(certFile)}, keyFile=${JSON.stringify(keyFile)} failed: ${err}`);
    if (!validPort(port)) {
      failed(`listen tcp: address 0.0.0.0:${port}: invalid port`);
      return;
    }
    let srv: https.Server;
    try {
      srv = https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, handler(value));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      failed(code === 'ENOENT' ? `open ${(e as NodeJS.ErrnoException).path}: no such file or directory` : (e as Error).message);
      return;
    }
    srv.on('error', (e: NodeJS.ErrnoException) => failed(listenErrorMessage('tcp', `0.0.0.0:${port}`, e)));
    srv.listen(Number(port), '0.0.0.0');
  };
  const serveUDP = (port: string, value: string) => {
    if (!validPort(port)) fatal(`UDP: failed to resolve address: address ${port}: invalid port`);
    const sock = dgram.createSocket('udp4');
    sock.on('error', (e: NodeJS.ErrnoException) => fatal(`UDP: failed to listen on port ${port}: ${listenErrorMessage('udp', `0.0.0.0:${port}`, e)}`));
    sock.on('listening', () => log(`Started UDP server on port ${port}`));
    sock.on('message', (_m, rinfo) => sock.send(Buffer.from(value), rinfo.port, rinfo.address));
    sock.bind(Number(port), '0.0.0.0');
  };
  const prefixes: Array<[string, (port: string, value: string) => void]> = [
    ['SERVE_PORT_', serveTCP],
    ['SERVE_TCP_PORT_', serveTCP],
    ['SERVE_UDP_PORT_', serveUDP],
    ['SERVE_SCTP_PORT_', (port) => log(`SCTP is not supported by this agnhost implementation (podnet); not serving SCTP port ${port}`)],
    ['SERVE_TLS_PORT_', serveTLS],
  ];
  for (const [key, value] of Object.entries(process.env)) {
    for (const [prefix, fn] of prefixes) {
      if (key.startsWith(prefix)) {
        fn(key.slice(prefix.length), value ?? '');
        break;
      }
    }
  }
  setInterval(() => undefined, 1 << 30); // select {}
}

// ---------------- fake-gitserver ----------------

export const fakeGitserverFlags: FlagDef[] = [];

export function runFakeGitserver(_v: FlagValues): void {
  exitOnSigterm();
  const srv = http.createServer((req, res) => {
    req.resume();
    send(res, 200, 'I am a fake git server');
  });
  // Upstream ignores the ListenAndServe error and exits 0.
  srv.on('error', () => process.exit(0));
  srv.listen(8000);
}

// ---------------- liveness ----------------

export const livenessFlags: FlagDef[] = [];

function randomHexBlock(): string {
  // 1 KiB: 64 x "%16x" of a random uint64
  let s = '';
  for (let b = 0; b < 1024; b += 16) s += BigInt(`0x${randomBytes(8).toString('hex')}`).toString(16).padStart(16, ' ');
  return s;
}

export function runLiveness(_v: FlagValues): void {
  exitOnSigterm();
  const started = Date.now();
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  const params = (q: Map<string, string[]>) => {
    const get = (name: string, def: number) => {
      const p = q.get(name)?.[0] ?? '';
      if (p === '') return def;
      if (!/^[+-]?\d+$/.test(p)) throw new Error(`parameter '${name}' is invalid: strconv.Atoi: parsing ${JSON.stringify(p)}: invalid syntax`);
      return Number(p);
    };
    return { statusCode: get('code', 500), sleepSec: get('time', 0), bodySize: get('size', 0), writeInterval: get('interval', 0) };
  };
  const writeBody = async (res: http.ServerResponse, size: number, interval: number) => {
    for (let kb = 0; kb < size; kb++) {
      if (interval > 0) await sleep(interval * 1000);
      res.write(randomHexBlock());
    }
  };
  const srv = http.createServer(async (req, res) => {
    req.resume();
    const u = req.url ?? '/';
    const qi = u.indexOf('?');
    const p = qi >= 0 ? u.slice(0, qi) : u;
    const q = parseQuery(qi >= 0 ? u.slice(qi + 1) : '');
    const withParams = async (fn: (pr: ReturnType<typeof params>) => Promise<void>) => {
      let pr;
      try {
        pr = params(q);
      } catch (e) {
        httpError(res, (e as Error).message, 400);
        return;
      }
      await fn(pr);
    };
    const head = (code: number) => {
      res.writeHead(code, statusText(code), { 'Content-Type': 'text/plain; charset=utf-8' });
    };
    switch (p) {
      case '/started':
        send(res, 200, formatGoDuration(Date.now() - started));
        return;
      case '/healthz': {
        const secs = (Date.now() - started) / 1000;
        if (secs > 10) send(res, 500, `error: ${secs}`);
        else send(res, 200, 'ok');
        return;
      }
      case '/redirect': {
        const loc = q.get('loc')?.[0] ?? '';
        let target: string;
        try {
          target = decodeURIComponent(loc.replace(/\+/g, ' '));
        } catch {
          httpError(res, `invalid redirect: ${JSON.stringify(loc)}`, 400);
          return;
        }
        redirect(req, res, target, 302);
        return;
      }
      case '/sleep-headers':
        await withParams(async (pr) => {
          if (pr.sleepSec > 0) await sleep(pr.sleepSec * 1000);
          head(pr.statusCode);
          res.write(`Slept for ${pr.sleepSec} secs\n`);
          await writeBody(res, pr.bodySize, 0);
          res.end();
        });
        return;
      case '/disconnect-headers':
        req.socket.destroy();
        return;
      case '/sleep-body':
        await withParams(async (pr) => {
          head(pr.statusCode);
          res.flushHeaders();
          await writeBody(res, pr.bodySize, pr.writeInterval);
          res.write(`Sleeping for ${pr.sleepSec} secs\n`);
          if (pr.sleepSec > 0) await sleep(pr.sleepSec * 1000);
          res.end(`Slept for ${pr.sleepSec} secs\n`);
        });
        return;
      case '/disconnect-body':
        await withParams(async (pr) => {
          head(pr.statusCode);
          await writeBody(res, pr.bodySize, 0);
          res.write('Disconnecting\n', () => req.socket.destroy());
        });
        return;
      case '/slow-response':
        await withParams(async (pr) => {
          head(pr.statusCode);
          res.flushHeaders();
          await writeBody(res, pr.bodySize, pr.writeInterval);
          res.end();
        });
        return;
      default:
        httpError(res, '404 page not found', 404);
    }
  });
  srv.on('error', (e: NodeJS.ErrnoException) => fatal(listenErrorMessage('tcp', ':8080', e)));
  srv.listen(8080);
}

// ---------------- test-webserver ----------------

export const testWebserverFlags: FlagDef[] = [
  { name: 'port', type: 'int', def: 80, usage: 'Port number.' },
];

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8', '.xml': 'text/xml; charset=utf-8', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.ico': 'image/vnd.microsoft.icon',
  '.pdf': 'application/pdf', '.wasm': 'application/wasm', '.webp': 'image/webp',
};

/** Serves files under `root` like Go's http.FileServer (minus ranges and conditional requests). */
export function serveFile(root: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  const raw = (req.url ?? '/').split('?')[0];
  let upath: string;
  try {
    upath = decodeURIComponent(raw);
  } catch {
    upath = raw;
  }
  if (!upath.startsWith('/')) upath = `/${upath}`;
  const clean = path.posix.normalize(upath);
  const file = path.join(root, clean);
  const notFound = () => httpError(res, '404 page not found', 404);
  // index.html is redirected to its directory
  if (upath.endsWith('/index.html')) {
    redirect(req, res, './', 301);
    return;
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') httpError(res, '403 Forbidden', 403);
    else notFound();
    return;
  }
  const rawPath = raw;
  if (st.isDirectory()) {
    if (!rawPath.endsWith('/')) {
      redirect(req, res, `${path.posix.basename(rawPath)}/`, 301);
      return;
    }
    const index = path.join(file, 'index.html');
    if (fs.existsSync(index)) {
      sendFile(index, req, res);
      return;
    }
    let names: string[];
    try {
      names = fs.readdirSync(file, { withFileTypes: true }).map((d) => (d.isDirectory() ? `${d.name}/` : d.name)).sort();
    } catch {
      httpError(res, 'Error reading directory', 500);
      return;
    }
    const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');
    const rows = names.map((n) => `<a href="${esc(encodeURI(n).replace(/\?/g, '%3F').replace(/#/g, '%23'))}">${esc(n)}</a>\n`).join('');
    send(res, 200, `<!doctype html>\n<meta name="viewport" content="width=device-width">\n<pre>\n${rows}</pre>\n`, {
      'Content-Type': 'text/html; charset=utf-8', 'Last-Modified': st.mtime.toUTCString(),
    });
    return;
  }
  if (rawPath.endsWith('/')) {
    redirect(req, res, `../${path.posix.basename(clean)}`, 301);
    return;
  }
  sendFile(file, req, res);
}

function sendFile(file: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  let data: Buffer;
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
    data = fs.readFileSync(file);
  } catch {
    httpError(res, '403 Forbidden', 403);
    return;
  }
  const headers: Record<string, string> = { 'Last-Modified': st.mtime.toUTCString(), 'Accept-Ranges': 'bytes' };
  const mime = MIME[path.extname(file).toLowerCase()];
  if (mime) headers['Content-Type'] = mime;
  send(res, 200, req.method === 'HEAD' ? Buffer.alloc(0) : data, headers);
}

export function runTestWebserver(v: FlagValues): void {
  const port = v.port as number;
  exitOnSigterm();
  const srv = http.createServer((req, res) => {
    req.resume();
    res.setHeader('Cache-Control', 'private');
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'DNT,X-Mx-ReqToken,Keep-Alive,User-Agent,X-Requested-With,Cache-Control,Content-Type');
    serveFile('/', req, res);
  });
  srv.on('error', (e: NodeJS.ErrnoException) => fatal(listenErrorMessage('tcp', `:${port}`, e)));
  srv.listen(port);
}

// ---------------- pause ----------------

export const pauseFlags: FlagDef[] = [];

export function runPause(_v: FlagValues): void {
  process.stdout.write('Paused\n');
  // Upstream: SIGINT exits 1, SIGTERM exits 2.
  process.on('SIGINT', () => process.exit(1));
  process.on('SIGTERM', () => process.exit(2));
  setInterval(() => undefined, 1 << 30);
}
