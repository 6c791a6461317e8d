// Health checks for load balancers, as kube-proxy serves them (pkg/proxy/healthcheck):
//
// - ServiceHealthServer: for every LoadBalancer Service with externalTrafficPolicy Local and a
//   spec.healthCheckNodePort, an HTTP server on that port of the node. It answers 200 while the
//   node has ready endpoints of the Service (and the proxy is healthy), 503 otherwise, so a load
//   balancer sends the Service's traffic only to nodes that can serve it locally. The body names
//   the Service and the local endpoint count.
// - listenIn(netns): opens a listening TCP socket inside a network namespace. Node.js cannot
//   enter a namespace itself, so a short-lived child started in it (`ip netns exec`) opens the
//   socket and hands it over on its IPC channel; this process then serves on it. Without a
//   netns the socket is opened here.

import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { netnsArgv } from '../net/exec.js';
import type { HealthReply, Listen } from './metrics.js';
import { serveHttp } from './metrics.js';

/** The reply of a Service's health check (upstream's hcHandler): pretty JSON, 200 only with local endpoints and a healthy proxy. */
export function serviceHealthReply(namespace: string, name: string, localEndpoints: number, proxyHealthy: boolean): HealthReply {
  const body = JSON.stringify({ service: { namespace, name }, localEndpoints, serviceProxyHealthy: proxyHealthy }, null, '\t');
  return {
    status: localEndpoints > 0 && proxyHealthy ? 200 : 503,
    headers: { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' },
    body,
  };
}

/** What the proxier wants served: Service key "ns/name" → health check port and local ready endpoint count. */
export type HealthCheckTargets = Map<string, { port: number; localEndpoints: number }>;

interface Instance { port: number; localEndpoints: number; close: () => Promise<void> }

export interface ServiceHealthOptions {
  listen: Listen;
  /** kube-proxy's own health: a check answers 503 while the proxy is unhealthy. */
  proxyHealthy: () => boolean;
  log: (msg: string) => void;
  /** A port could not be opened (upstream records an Event FailedToStartServiceHealthcheck). */
  onListenError?: (key: string, port: number, err: Error) => void;
}

export class ServiceHealthServer {
  private readonly instances = new Map<string, Instance>();
  /** Keys whose port failed to open, so the failure is reported once per port. */
  private readonly failed = new Map<string, number>();

  constructor(private readonly opts: ServiceHealthOptions) {}

  /** Opens, keeps or closes servers so exactly `targets` are served, with their current counts. */
  async sync(targets: HealthCheckTargets): Promise<void> {
    for (const [key, inst] of [...this.instances]) {
      const t = targets.get(key);
      if (t && t.port === inst.port) continue;
      this.instances.delete(key);
      this.opts.log(`closing health check of ${key} on port ${inst.port}`);
      await inst.close().catch((e: unknown) => this.opts.log(`closing health check of ${key}: ${(e as Error).message}`));
    }
    for (const [key, t] of targets) {
      const inst = this.instances.get(key);
      if (inst) { inst.localEndpoints = t.localEndpoints; continue; }
      if (this.failed.get(key) === t.port) continue;
      const [namespace, name] = key.split('/') as [string, string];
      const entry: Instance = { port: t.port, localEndpoints: t.localEndpoints, close: async () => undefined };
      try {
        const s = await serveHttp(this.opts.listen, undefined, t.port, () => serviceHealthReply(namespace, name, entry.localEndpoints, this.opts.proxyHealthy()));
        entry.close = s.close;
        this.instances.set(key, entry);
        this.failed.delete(key);
        this.opts.log(`serving health check of ${key} on port ${t.port}`);
      } catch (e) {
        this.failed.set(key, t.port);
        this.opts.log(`cannot serve health check of ${key} on port ${t.port}: ${(e as Error).message}`);
        this.opts.onListenError?.(key, t.port, e as Error);
      }
    }
    for (const key of [...this.failed.keys()]) if (!targets.has(key)) this.failed.delete(key);
  }

  /** Ports served now, by Service key. */
  ports(): Map<string, number> {
    return new Map([...this.instances].map(([k, i]) => [k, i.port]));
  }

  async close(): Promise<void> {
    const all = [...this.instances.values()];
    this.instances.clear();
    await Promise.all(all.map((i) => i.close().catch(() => undefined)));
  }
}

/** Listens in the current network namespace. */
export const listenHere: Listen = (host, port) => new Promise((resolve, reject) => {
  const s = createServer();
  s.once('error', reject);
  s.listen({ port, ...(host ? { host } : {}) }, () => { s.off('error', reject); resolve(s); });
});

// The child: listen, send the socket, close its own copy, leave. It never accepts on purpose.
const CHILD = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const s = net.createServer({ pauseOnConnect: true });
s.once('error', (e) => { process.send({ error: e.message }, () => process.exit(1)); });
s.listen({ port: Number(port), ...(host ? { host } : {}) }, () => {
  process.send({ ok: true }, s, () => s.close(() => process.disconnect()));
});
`;

/** A Listen that opens its sockets inside `netns` (a name under /run/netns, or a path); undefined = here. */
export function listenIn(netns: string | undefined): Listen {
  if (!netns) return listenHere;
  return (host, port) => new Promise<Server>((resolve, reject) => {
    const argv = netnsArgv(process.execPath, ['-e', CHILD, host ?? '', String(port)], netns);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let done = false;
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => finish(new Error(`opening port ${port} in ${netns} timed out`)), 10_000);
    const finish = (err?: Error, srv?: Server) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) { if (child.exitCode === null) child.kill('SIGKILL'); reject(err); } else resolve(srv!);
    };
    child.on('message', (m: { ok?: boolean; error?: string }, handle: unknown) => {
      if (m.ok && handle) finish(undefined, handle as Server);
      else finish(new Error(`listen on port ${port} in ${netns}: ${m.error ?? 'no socket received'}`));
    });
    child.on('error', (e) => finish(e));
    child.on('exit', (code) => finish(new Error(`listen on port ${port} in ${netns}: helper exited with ${code}${stderr.trim() ? `: ${stderr.trim()}` : ''}`)));
  });
}
