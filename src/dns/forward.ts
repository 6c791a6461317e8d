// Forwarding of names outside the cluster to upstream resolvers, as CoreDNS's forward plugin:
// the client's query goes upstream as it came (with a fresh random id), over the protocol the
// client used; upstreams are tried in random order, each with a timeout; the answer must match
// the question; concurrency is bounded (excess queries are REFUSED, as forward's
// max_concurrent). Upstreams come from a resolv.conf (the node's) or a flag.

import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIP, Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import type { DnsMetrics } from './metrics.js';
import { foldCase, RCODE_NAMES, summarize } from './wire.js';

export interface Upstream { host: string; port: number; label: string }

/** "1.2.3.4", "1.2.3.4:5353", "[fd00::1]:53", "fd00::1" → an upstream; throws on anything else. */
export function parseUpstream(s: string): Upstream {
  const t = s.trim().replace(/^dns:\/\//, '');
  let host = t, port = 53;
  const m6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  const m4 = /^([^:]+):(\d+)$/.exec(t);
  if (m6) { host = m6[1]; if (m6[2]) port = Number(m6[2]); }
  else if (m4) { host = m4[1]; port = Number(m4[2]); }
  if (!isIP(host) || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`not an upstream address: ${JSON.stringify(s)} (give IP or IP:PORT)`);
  return { host, port, label: `${isIP(host) === 6 ? `[${host}]` : host}:${port}` };
}

/** The nameservers of a resolv.conf text (zone suffixes dropped), in order. */
export function parseResolvConf(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const addr = m[1].replace(/%.*$/, '');
    if (isIP(addr)) out.push(parseUpstream(isIP(addr) === 6 ? `[${addr}]:53` : `${addr}:53`));
  }
  return out;
}

export function upstreamsFromResolvConf(path: string): Upstream[] {
  return parseResolvConf(readFileSync(path, 'utf8'));
}

export class ForwardError extends Error {}
export class TooManyConcurrent extends ForwardError {}

export interface ForwarderOptions {
  upstreams: Upstream[];
  /** Per upstream try (ms). */
  timeoutMs?: number;
  maxConcurrent?: number;
  metrics?: DnsMetrics;
}

export class Forwarder {
  readonly upstreams: Upstream[];
  private readonly timeoutMs: number;
  private readonly maxConcurrent: number;
  private inflight = 0;

  constructor(private readonly opts: ForwarderOptions) {
    if (opts.upstreams.length === 0) throw new Error('forwarding needs at least one upstream');
    this.upstreams = opts.upstreams;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.maxConcurrent = opts.maxConcurrent ?? 1000;
  }

  /**
   * Sends `query` (a whole query message) upstream; resolves to the upstream's answer with the
   * client's id restored. Rejects with ForwardError when no upstream answered.
   */
  async forward(query: Buffer, proto: 'udp' | 'tcp'): Promise<Buffer> {
    if (this.inflight >= this.maxConcurrent) {
      this.opts.metrics?.forwardMaxConcurrentRejects.inc();
      throw new TooManyConcurrent('too many concurrent upstream queries');
    }
    this.inflight++;
    try {
      const clientId = query.readUInt16BE(0);
      const q = summarize(query).question;
      const order = [...this.upstreams];
      for (let i = order.length - 1; i > 0; i--) { const j = randomInt(i + 1); [order[i], order[j]] = [order[j], order[i]]; }
      let last: unknown;
      for (const up of order) {
        const id = randomInt(65536);
        const out = Buffer.from(query);
        out.writeUInt16BE(id, 0);
        const started = process.hrtime.bigint();
        this.opts.metrics?.forwardRequests.inc({ to: up.label });
        try {
          const resp = proto === 'tcp' ? await this.tcp(up, out) : await this.udp(up, out, id);
          const s = summarize(resp);
          if (!s.qr || s.id !== id) throw new ForwardError('upstream answer does not match the query');
          if (q && (!s.question || foldCase(s.question.name) !== foldCase(q.name) || s.question.type !== q.type)) {
            throw new ForwardError('upstream answered another question');
          }
          const rcode = RCODE_NAMES[s.rcode] ?? String(s.rcode);
          this.opts.metrics?.forwardResponses.inc({ to: up.label, rcode });
          this.opts.metrics?.forwardDuration.observe({ to: up.label, rcode }, Number(process.hrtime.bigint() - started) / 1e9);
          resp.writeUInt16BE(clientId, 0);
          return resp;
        } catch (e) {
          last = e;
        }
      }
      throw new ForwardError(`no upstream answered: ${last instanceof Error ? last.message : String(last)}`);
    } finally {
      this.inflight--;
    }
  }

  private udp(up: Upstream, msg: Buffer, id: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = createSocket(isIP(up.host) === 6 ? 'udp6' : 'udp4');
      const done = (err: Error | undefined, resp?: Buffer) => {
        clearTimeout(timer);
        sock.removeAllListeners('message');
        try { sock.close(); } catch { /* already closed */ }
        if (err) reject(err); else resolve(resp!);
      };
      const timer = setTimeout(() => done(new ForwardError(`${up.label}: timeout`)), this.timeoutMs);
      sock.on('error', (e) => done(e));
      // Only the upstream's own address, with our id, is an answer: anything else is ignored.
      sock.on('message', (resp, rinfo) => {
        if (rinfo.address !== up.host || rinfo.port !== up.port || resp.length < 12 || resp.readUInt16BE(0) !== id) return;
        done(undefined, resp);
      });
      sock.send(msg, up.port, up.host, (err) => { if (err) done(err); });
    });
  }

  private tcp(up: Upstream, msg: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = new Socket();
      let buf = Buffer.alloc(0);
      const done = (err: Error | undefined, resp?: Buffer) => {
        clearTimeout(timer);
        sock.destroy();
        if (err) reject(err); else resolve(resp!);
      };
      const timer = setTimeout(() => done(new ForwardError(`${up.label}: timeout`)), this.timeoutMs);
      sock.on('error', (e) => done(e));
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(undefined, Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
      });
      sock.on('end', () => done(new ForwardError(`${up.label}: connection closed`)));
      sock.connect(up.port, up.host, () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(msg.length);
        sock.write(Buffer.concat([len, msg]));
      });
    });
  }
}
