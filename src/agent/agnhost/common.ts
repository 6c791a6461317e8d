// Helpers shared by the agnhost subcommands: Go-style logging, hostname, HTTP response writing
// the way Go's net/http does it, form/query parsing like net/url, address formatting.

import * as os from 'node:os';
import * as http from 'node:http';
import { STATUS_CODES } from 'node:http';
import { posix } from 'node:path';

/** Environment variable that overrides os.hostname() (for pods run without their own UTS namespace). */
export const HOSTNAME_ENV = 'PODNET_HOSTNAME';
/** Environment variable giving the program name (os.Args[0]) the container was started with. */
export const ARGV0_ENV = 'PODNET_AGNHOST_ARGV0';
/** Directory that netexec's /upload writes to (upstream: /uploads). */
export const UPLOAD_DIR_ENV = 'PODNET_AGNHOST_UPLOAD_DIR';

export function getHostName(): string {
  return process.env[HOSTNAME_ENV] || os.hostname();
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Go's standard logger: "2006/01/02 15:04:05 message" on stderr. */
export function log(msg: string): void {
  const d = new Date();
  const line = `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${msg}`;
  process.stderr.write(line.endsWith('\n') ? line : `${line}\n`);
}

/** log.Fatal: log and exit 1. */
export function fatal(msg: string): never {
  log(msg);
  process.exit(1);
}

/** klog header: "I0102 15:04:05.000000    1234 file.go:67] " */
export function klogLine(severity: 'I' | 'W' | 'E' | 'F', file: string, msg: string): string {
  const d = new Date();
  const us = pad(d.getMilliseconds(), 3) + '000';
  return `${severity}${pad(d.getMonth() + 1)}${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${us} ${String(process.pid).padStart(7)} ${file}] ${msg}\n`;
}

const startHr = process.hrtime.bigint();

/** fmt.Sprint(time.Now()): "2006-01-02 15:04:05.999999999 -0700 MST m=+0.000000001" */
export function goNow(): string {
  const d = new Date();
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const offStr = `${sign}${pad(Math.floor(Math.abs(off) / 60))}${pad(Math.abs(off) % 60)}`;
  const zone = off === 0 ? 'UTC' : offStr.slice(0, 3);
  let frac = pad(d.getMilliseconds(), 3).replace(/0+$/, '');
  frac = frac ? `.${frac}` : '';
  const mono = Number(process.hrtime.bigint() - startHr) / 1e9;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${frac} ${offStr} ${zone} m=+${mono.toFixed(9)}`;
}

/** Go's encoding/json string output: HTML-sensitive characters are escaped. */
export function goJSON(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** JSON object with keys sorted, as Go marshals a map. */
export function goJSONMap(m: Record<string, unknown>): string {
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(m).sort()) sorted[k] = m[k];
  return goJSON(sorted);
}

export function statusText(code: number): string {
  return STATUS_CODES[code] ?? `status code ${code}`;
}

/** Go's http.DetectContentType, reduced to what these servers produce. */
export function sniffContentType(body: Buffer): string {
  const head = body.subarray(0, 512).toString('latin1').trimStart().toLowerCase();
  if (/^<(!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|!--)[ >]/.test(head)) {
    return 'text/html; charset=utf-8';
  }
  if (head.startsWith('<?xml')) return 'text/xml; charset=utf-8';
  if (head.startsWith('%pdf-')) return 'application/pdf';
  for (const b of body.subarray(0, 512)) {
    if (b <= 0x08 || b === 0x0b || (b >= 0x0e && b <= 0x1a) || (b >= 0x1c && b <= 0x1f)) return 'application/octet-stream';
  }
  return 'text/plain; charset=utf-8';
}

/**
 * Writes a complete response the way a Go handler that calls WriteHeader(code) and then writes
 * `body` would: Content-Type sniffed when unset, Content-Length set.
 */
export function send(res: http.ServerResponse, code: number, body: string | Buffer = '', headers: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (buf.length > 0 && !res.hasHeader('content-type')) res.setHeader('Content-Type', sniffContentType(buf));
  res.setHeader('Content-Length', String(buf.length));
  // Node refuses status codes below 100; Go would panic and drop the connection.
  if (code < 100 || code > 999) {
    res.socket?.destroy();
    return;
  }
  if (code < 200) code = 200; // an informational status is followed by an implicit 200
  res.writeHead(code, statusText(code));
  res.end(buf);
}

/** Go's http.Error. */
export function httpError(res: http.ServerResponse, msg: string, code: number): void {
  res.removeHeader('content-length');
  send(res, code, `${msg}\n`, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
}

function htmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');
}

/** Go's path.Clean for URL paths, keeping a trailing slash (as ServeMux's cleanPath does). */
export function cleanPath(p: string): string {
  if (p === '') return '/';
  if (!p.startsWith('/')) p = `/${p}`;
  let np = posix.normalize(p);
  // posix.normalize keeps '..' above root out and keeps trailing slash; match Go.
  if (np.length > 1 && np.endsWith('/') && !p.endsWith('/')) np = np.slice(0, -1);
  if (p.endsWith('/') && np !== '/' && !np.endsWith('/')) np += '/';
  return np.replace(/\/{2,}/g, '/');
}

/** Go's http.Redirect. */
export function redirect(req: http.IncomingMessage, res: http.ServerResponse, location: string, code: number): void {
  let url = location;
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(url) && !url.startsWith('//')) {
    // Make relative paths absolute, relative to the request path, then clean them.
    const reqPath = (req.url ?? '/').split('?')[0] || '/';
    let query = '';
    const qi = url.indexOf('?');
    if (qi >= 0) {
      query = url.slice(qi);
      url = url.slice(0, qi);
    }
    if (url === '' || !url.startsWith('/')) {
      const dir = reqPath.endsWith('/') ? reqPath : reqPath.slice(0, reqPath.lastIndexOf('/') + 1);
      url = dir + url;
    }
    const trailing = url.endsWith('/');
    url = cleanPath(url);
    if (trailing && !url.endsWith('/')) url += '/';
    url += query;
  }
  const headers: Record<string, string> = { Location: url };
  let body = '';
  if (req.method === 'GET' || req.method === 'HEAD') {
    headers['Content-Type'] = 'text/html; charset=utf-8';
    body = `<a href="${htmlEscape(url)}">${statusText(code)}</a>.\n\n`;
  }
  send(res, code, body, headers);
}

/** Go's net/url.ParseQuery: pairs separated by '&'; pairs with ';' or bad escapes are dropped. */
export function parseQuery(q: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of q.split('&')) {
    if (part === '' || part.includes(';')) continue;
    const eq = part.indexOf('=');
    const rawK = eq >= 0 ? part.slice(0, eq) : part;
    const rawV = eq >= 0 ? part.slice(eq + 1) : '';
    let k: string;
    let v: string;
    try {
      k = decodeURIComponent(rawK.replace(/\+/g, ' '));
      v = decodeURIComponent(rawV.replace(/\+/g, ' '));
    } catch {
      continue;
    }
    const list = out.get(k);
    if (list) list.push(v);
    else out.set(k, [v]);
  }
  return out;
}

/** "ip:port" as Go formats a remote address (IPv4-mapped IPv6 shown as IPv4, IPv6 bracketed). */
export function hostPort(address: string | undefined, port: number | undefined): string {
  let a = address ?? '';
  if (a.startsWith('::ffff:') && a.includes('.')) a = a.slice(7);
  return a.includes(':') ? `[${a}]:${port ?? 0}` : `${a}:${port ?? 0}`;
}

/** Go's net/textproto.CanonicalMIMEHeaderKey. */
export function canonicalHeaderKey(k: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(k)) return k;
  return k.toLowerCase().replace(/(^|-)([a-z])/g, (_m, p: string, c: string) => p + c.toUpperCase());
}

/** Reads the request body, up to `limit` bytes (then the connection is dropped). */
export function readBody(req: http.IncomingMessage, limit = 64 << 20): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        req.destroy();
        reject(new Error('request body too large'));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Exit 0 on SIGTERM (and leave SIGINT to its default, like a Go program). */
export function exitOnSigterm(): void {
  process.on('SIGTERM', () => process.exit(0));
}

/** Go's "listen tcp :8080: bind: address already in use" style message. */
export function listenErrorMessage(proto: string, addr: string, err: NodeJS.ErrnoException): string {
  const reason: Record<string, string> = {
    EADDRINUSE: 'bind: address already in use',
    EACCES: 'bind: permission denied',
    EADDRNOTAVAIL: 'bind: cannot assign requested address',
  };
  return `listen ${proto} ${addr}: ${reason[err.code ?? ''] ?? err.message}`;
}

/** Go's syscall error strings for common errno codes. */
export function errnoText(code: string | undefined, fallback: string): string {
  const m: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset by peer',
    EHOSTUNREACH: 'no route to host',
    ENETUNREACH: 'network is unreachable',
    ETIMEDOUT: 'connection timed out',
    EPIPE: 'broken pipe',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EADDRNOTAVAIL: 'cannot assign requested address',
  };
  return m[code ?? ''] ?? fallback;
}
