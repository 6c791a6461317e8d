// The agent's small kubelet API, which the API server proxies `kubectl logs` to:
// GET /containerLogs/{namespace}/{pod}/{container}?follow&previous&tailLines&timestamps&limitBytes
// Requests must carry the bearer token the API server uses for nodes.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { parseCriLogLine } from './pure.js';
import { handleExecUpgrade, type ExecTarget } from './exec.js';

export interface LogSource {
  logPath(namespace: string, name: string, container: string, opts?: { previous?: boolean }): string | undefined;
  /** Where `kubectl exec` into a running container runs, if it is running here. */
  execTarget?(namespace: string, name: string, container: string): ExecTarget | undefined;
}

export interface KubeletServer { port: number; close(): Promise<void> }

export interface LogOptions { timestamps: boolean; tailLines?: number; limitBytes?: number }

/** Turns CRI log file text into what `kubectl logs` shows (optionally with timestamps). */
export function renderCriLog(text: string, o: LogOptions): string {
  let lines = text.split('\n').filter((l) => l.length > 0);
  if (o.tailLines !== undefined) lines = o.tailLines === 0 ? [] : lines.slice(-o.tailLines);
  let out = '';
  for (const l of lines) {
    const p = parseCriLogLine(l);
    if (!p) continue;
    out += (o.timestamps ? `${p.time} ` : '') + p.text + (p.partial ? '' : '\n');
  }
  return out;
}

function send(res: ServerResponse, code: number, text: string): void {
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}

export async function startKubeletServer(source: LogSource, opts: { host: string; port?: number; token: string }): Promise<KubeletServer> {
  const server: Server = createServer((req, res) => { void handle(req, res); });
  server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
    if (req.headers.authorization !== `Bearer ${opts.token}`) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    handleExecUpgrade(req, socket, head, (ns, pod, container) => source.execTarget?.(ns, pod, container));
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.authorization !== `Bearer ${opts.token}`) return send(res, 401, 'Unauthorized');
    const url = new URL(req.url ?? '/', 'http://kubelet');
    const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) return send(res, 404, 'not found');
    const [ns, pod, container] = m.slice(1).map(decodeURIComponent);
    const q = url.searchParams;
    const previous = q.get('previous') === 'true';
    const file = source.logPath(ns, pod, container, { previous });
    if (!file || !existsSync(file)) {
      return send(res, 404, previous
        ? `previous terminated container "${container}" in pod "${pod}" not found`
        : `container "${container}" in pod "${pod}" is not available`);
    }
    const o: LogOptions = {
      timestamps: q.get('timestamps') === 'true',
      tailLines: q.has('tailLines') ? Math.max(0, Number(q.get('tailLines'))) : undefined,
      limitBytes: q.has('limitBytes') ? Math.max(1, Number(q.get('limitBytes'))) : undefined,
    };
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Transfer-Encoding': 'chunked' });
    let sent = 0;
    const write = (s: string) => {
      if (!s) return true;
      if (o.limitBytes !== undefined) {
        const left = o.limitBytes - sent;
        if (left <= 0) return false;
        const b = Buffer.from(s).subarray(0, left);
        sent += b.length;
        res.write(b);
        return sent < o.limitBytes;
      }
      res.write(s);
      return true;
    };
    const fh = await open(file, 'r');
    let closed = false;
    req.on('close', () => { closed = true; });
    try {
      const first = await fh.readFile({ encoding: 'utf8' });
      let offset = Buffer.byteLength(first);
      // Only whole lines are rendered; a trailing partial line waits for its end.
      let carry = first.endsWith('\n') ? '' : first.slice(first.lastIndexOf('\n') + 1);
      if (!write(renderCriLog(first.slice(0, first.length - carry.length), o))) return;
      if (q.get('follow') !== 'true' || previous) return;
      // Follow while this instance of the container is the current one.
      for (;;) {
        if (closed) return;
        await new Promise((r) => setTimeout(r, 200));
        const size = (await stat(file).catch(() => undefined))?.size;
        if (size === undefined) return;
        if (size > offset) {
          const buf = Buffer.alloc(size - offset);
          await fh.read(buf, 0, buf.length, offset);
          offset = size;
          const text = carry + buf.toString('utf8');
          carry = text.endsWith('\n') ? '' : text.slice(text.lastIndexOf('\n') + 1);
          if (!write(renderCriLog(text.slice(0, text.length - carry.length), { timestamps: o.timestamps }))) return;
        } else if (source.logPath(ns, pod, container) !== file) {
          return; // the container restarted or the pod is gone
        }
      }
    } finally {
      await fh.close();
      res.end();
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
