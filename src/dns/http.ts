// The DNS server's HTTP side, as CoreDNS's health, ready and prometheus plugins: /health answers
// 200 "OK" while the process serves, /ready 200 "OK" once the index has synced (503 naming
// what is not ready before), /metrics the Prometheus text. Every address serves every path, so
// one flag or three (CoreDNS's :8080, :8181, :9153) both work.

import { createServer, type Server } from 'node:http';
import type { ListenAddress } from './server.js';

export interface HttpHandlers {
  metrics: () => string;
  /** Names of what is not ready yet; empty when ready. */
  notReady: () => string[];
}

export interface RunningHttp { addresses: ListenAddress[]; close(): Promise<void> }

export async function startHttp(listen: ListenAddress[], h: HttpHandlers): Promise<RunningHttp> {
  const servers: Server[] = [];
  const addresses: ListenAddress[] = [];
  const seen = new Set<string>();
  try {
    for (const l of listen) {
      const id = `${l.host}|${l.port}`;
      if (seen.has(id) && l.port !== 0) continue;
      seen.add(id);
      const srv = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405).end(); return; }
        if (path === '/health') { res.writeHead(200, { 'Content-Type': 'text/plain' }).end('OK'); return; }
        if (path === '/ready') {
          const missing = h.notReady();
          if (missing.length === 0) res.writeHead(200, { 'Content-Type': 'text/plain' }).end('OK');
          else res.writeHead(503, { 'Content-Type': 'text/plain' }).end(missing.join(', '));
          return;
        }
        if (path === '/metrics') {
          res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(h.metrics());
          return;
        }
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found\n');
      });
      await new Promise<void>((ok, fail) => {
        srv.once('error', fail);
        srv.listen({ port: l.port, host: l.host === '' ? undefined : l.host }, () => { srv.off('error', fail); ok(); });
      });
      servers.push(srv);
      const a = srv.address();
      addresses.push({ host: l.host, port: typeof a === 'object' && a ? a.port : l.port });
    }
  } catch (e) {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    throw e;
  }
  return {
    addresses,
    close: async () => {
      for (const s of servers) s.closeAllConnections?.();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}
