// The DNS server's protocol shell: UDP and TCP listeners around one `handle(message)` pipeline
// (parse → cluster answer or forward through the cache → encode within the size limit), plus
// CoreDNS's loop detection. Whatever arrives, handle() resolves: malformed input is FORMERR or
// dropped, and an unexpected failure is SERVFAIL (CoreDNS counts it as a panic), so one bad
// packet never stops the server answering others.
//
// Cluster answers are encoded once and repeated from an AnswerCache until the index changes
// (answers.ts). A repeat over UDP is answered synchronously inside the socket's message event
// (no promise, no parse, no encode): that path is what one core's throughput depends on.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import { AnswerCache, answerKey } from './answers.js';
import { DnsCache, type CacheKind } from './cache.js';
import { Forwarder, TooManyConcurrent } from './forward.js';
import { DnsMetrics, metricType, type QueryStats } from './metrics.js';
import type { DnsIndex } from './records.js';
import { resolve, type ResolverConfig } from './resolver.js';
import {
  answerRecords, encodeQuery, encodeResponse, foldCase, parseQuery, RCODE, RCODE_NAMES, readName, TYPE, udpLimit,
  type Edns, type Query, type Response,
} from './wire.js';

export interface ListenAddress { host: string; port: number }

/** "127.0.0.1:53", "[::1]:53", ":53" (every address), "53" → host and port; throws otherwise. */
export function parseListen(s: string): ListenAddress {
  const t = s.trim();
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(t) ?? (/^(\d+)$/.test(t) ? [t, undefined, '', t] : null);
  if (!m) throw new Error(`not a listen address: ${JSON.stringify(s)} (give HOST:PORT, [V6]:PORT or :PORT)`);
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port in ${JSON.stringify(s)}`);
  return { host: m[1] ?? m[2] ?? '', port };
}

export interface DnsServerOptions {
  listen: ListenAddress[];
  resolver: ResolverConfig;
  index: DnsIndex;
  /** Undefined: forwarding is off, and names outside the cluster are REFUSED. */
  forwarder?: Forwarder;
  cache?: DnsCache;
  metrics?: DnsMetrics;
  log?: (msg: string) => void;
  /** Told once when the loop probe comes back through the upstreams (CoreDNS then exits). */
  onLoop?: (msg: string) => void;
  /** Encoded cluster answers kept at most (0: none; default 10,000). */
  answerCacheSize?: number;
}

type Proto = 'udp' | 'tcp';

const TCP_IDLE_MS = 10_000;
const TCP_MAX_PENDING = 128;
/** SO_RCVBUF asked for (the kernel caps it at net.core.rmem_max): room for bursts of queries. */
const UDP_RECV_BUFFER = 4 << 20;

/**
 * The server only ever sends to the address a datagram came from, which is an IP literal: an
 * identity lookup spares dgram's dns.lookup and the process.nextTick it costs on every send.
 */
const literalLookup = (address: string, family: unknown, cb: (err: Error | null, address: string, family: number) => void) =>
  cb(null, address, address.includes(':') ? 6 : 4);

export class DnsServer {
  readonly metrics: DnsMetrics;
  private readonly udp: UdpSocket[] = [];
  private readonly tcp: Server[] = [];
  private readonly conns = new Set<Socket>();
  private bound: ListenAddress[] = [];
  private readonly log: (msg: string) => void;
  private readonly loop = { name: '', seen: 0, detected: false, answered: false };
  private stopped = false;
  private readonly answers?: AnswerCache;

  constructor(private readonly opts: DnsServerOptions) {
    this.metrics = opts.metrics ?? new DnsMetrics();
    this.log = opts.log ?? ((m) => process.stderr.write(`podnet dns: ${m}\n`));
    const size = opts.answerCacheSize ?? 10_000;
    if (size > 0 && opts.index.generation) this.answers = new AnswerCache(size);
  }

  /** Encoded answers held (for tests and the benchmark). */
  get cachedAnswers(): number { return this.answers?.size ?? 0; }

  get addresses(): ListenAddress[] { return [...this.bound]; }
  get loopDetected(): boolean { return this.loop.detected; }
  get forwarding(): boolean { return !!this.opts.forwarder && !this.loop.detected; }

  // ---- the pipeline ---------------------------------------------------------------------------

  /**
   * The answer to a repeated plain question, from the answer cache, counted in the metrics as
   * any answer; undefined when there is none (then handle() it). Synchronous, never throws.
   */
  cached(msg: Buffer, proto: Proto, family: 1 | 2 = 1): Buffer | undefined {
    const cache = this.answers;
    if (!cache) return undefined;
    const started = performance.now();
    const key = answerKey(msg, proto === 'tcp');
    if (key < 0) return undefined;
    const hit = cache.get(key, msg, this.opts.index.generation!());
    if (!hit) return undefined;
    const out = AnswerCache.reply(hit, msg);
    const slot = (proto === 'tcp' ? 2 : 0) + family - 1;
    const stats = (hit.stats ??= [])[slot] as QueryStats | undefined ??
      (hit.stats[slot] = this.statsFor(proto, family, msg.readUInt16BE(hit.qEnd - 4), out, hit.plugin));
    this.count(stats, msg.length, out.length, started);
    return out;
  }

  private statsFor(proto: Proto, family: 1 | 2, qtype: number, out: Buffer, plugin: string): QueryStats {
    const rcode = out.length >= 4 ? (out[3] & 0xf) : RCODE.SERVFAIL;
    return this.metrics.queryStats(proto, String(family), metricType(qtype), RCODE_NAMES[rcode] ?? String(rcode), plugin);
  }

  private count(stats: QueryStats, inSize: number, outSize: number, started: number): void {
    stats.requests.inc();
    stats.requestSize.observe(inSize);
    stats.responseSize.observe(outSize);
    stats.responses.inc();
    stats.duration.observe((performance.now() - started) / 1000);
  }

  /** Answers one message; undefined when it deserves no answer. Never rejects. */
  async handle(msg: Buffer, proto: Proto, family: 1 | 2 = 1): Promise<Buffer | undefined> {
    const hit = this.cached(msg, proto, family);
    if (hit) return hit;
    const started = performance.now();
    // Read before answering: an index change after this point makes the answer stale, and the
    // cache drops it at the next lookup under the new generation.
    const generation = this.opts.index.generation?.() ?? 0;
    let type = 'other';
    let out: { buf: Buffer; plugin: string; cacheable?: boolean } | undefined;
    let parsedOk: Query | undefined;
    try {
      const parsed = parseQuery(msg);
      if (parsed.kind === 'drop') return undefined;
      if (parsed.kind === 'error') {
        if (parsed.question) type = metricType(parsed.question.type);
        const resp: Response = {
          id: parsed.id, opcode: parsed.opcode, rcode: parsed.rcode, aa: false, rd: parsed.rd, ra: false,
          question: parsed.rcode === RCODE.FORMERR ? undefined : parsed.question, answer: [], authority: [], additional: [],
          edns: parsed.edns ? { do: false } : undefined,
        };
        out = { buf: encodeResponse(resp, limitFor(proto, parsed.edns)), plugin: '' };
      } else {
        parsedOk = parsed.query;
        type = metricType(parsed.query.question.type);
        out = await this.answer(parsed.query, msg, proto);
      }
    } catch (e) {
      this.metrics.panics.inc();
      this.log(`internal error answering a query: ${(e as Error)?.stack ?? String(e)}`);
      if (parsedOk) {
        const q = parsedOk;
        out = {
          buf: encodeResponse({
            id: q.id, opcode: 0, rcode: RCODE.SERVFAIL, aa: false, rd: q.rd, ra: true, question: q.question,
            answer: [], authority: [], additional: [], edns: q.edns ? { do: q.edns.do } : undefined,
          }, limitFor(proto, q.edns)),
          plugin: '',
        };
      }
    }
    if (!out) return undefined;
    const rcode = out.buf.length >= 4 ? (out.buf[3] & 0xf) : RCODE.SERVFAIL;
    this.count(this.metrics.queryStats(proto, String(family), type, RCODE_NAMES[rcode] ?? String(rcode), out.plugin), msg.length, out.buf.length, started);
    if (out.cacheable && this.answers) {
      const key = answerKey(msg, proto === 'tcp');
      if (key >= 0) this.answers.put(key, msg, generation, { buf: out.buf, qEnd: readName(msg, 12).next + 4, plugin: out.plugin });
    }
    return out.buf;
  }

  private async answer(q: Query, raw: Buffer, proto: Proto): Promise<{ buf: Buffer; plugin: string; cacheable?: boolean }> {
    const limit = limitFor(proto, q.edns);
    const base = {
      id: q.id, opcode: 0, rd: q.rd, cd: q.cd, question: q.question, edns: q.edns ? { do: q.edns.do } : undefined,
      answer: [], authority: [], additional: [],
    };
    if (this.loop.name && q.question.type === TYPE.HINFO && foldCase(q.question.name) === this.loop.name) {
      if (++this.loop.seen > 2) {
        this.onLoopDetected();
        return { buf: encodeResponse({ ...base, rcode: RCODE.SERVFAIL, aa: false, ra: true }, limit), plugin: 'loop' };
      }
    }
    const r = resolve(q.question, this.opts.index, this.opts.resolver);
    if (r.kind === 'answer') {
      let answer = r.answer;
      if (r.chase && this.forwarding) {
        try {
          const up = await this.upstream(encodeQuery(randomInt(65536), r.chase.name, r.chase.type, { edns: 1232 }), 'udp', q.cd);
          if (up) answer = [...answer, ...answerRecords(up.buf)];
        } catch { /* the CNAME alone is still a correct answer */ }
      }
      return {
        buf: encodeResponse({ ...base, rcode: r.rcode, aa: true, ra: true, answer, authority: r.authority, additional: r.additional }, limit),
        plugin: 'kubernetes',
        // An answer completed by an upstream depends on more than the index.
        cacheable: !r.chase || !this.opts.forwarder,
      };
    }
    if (!this.opts.forwarder) return { buf: encodeResponse({ ...base, rcode: RCODE.REFUSED, aa: false, ra: false }, limit), plugin: '', cacheable: true };
    if (this.loop.detected) return { buf: encodeResponse({ ...base, rcode: RCODE.SERVFAIL, aa: false, ra: true }, limit), plugin: 'forward' };
    try {
      const up = await this.upstream(raw, proto, q.cd, q.edns);
      const buf = up.buf.length > limit ? truncatedCopy(up.buf) : up.buf;
      return { buf, plugin: up.plugin };
    } catch (e) {
      const rcode = e instanceof TooManyConcurrent ? RCODE.REFUSED : RCODE.SERVFAIL;
      return { buf: encodeResponse({ ...base, rcode, aa: false, ra: true }, limit), plugin: 'forward' };
    }
  }

  /** An upstream answer to `query` (whole message), from the cache when it has one. */
  private async upstream(query: Buffer, proto: Proto, cd: boolean, edns?: Edns): Promise<{ buf: Buffer; plugin: string }> {
    const qEnd = readName(query, 12).next + 4;
    const qname = readName(query, 12).name;
    const qtype = query.readUInt16BE(qEnd - 4), qclass = query.readUInt16BE(qEnd - 2);
    const cache = this.opts.cache;
    const labels = { server: this.metrics.server, zones: '.', view: '' };
    const key = DnsCache.key(qname, qtype, qclass, edns?.do ?? false, cd);
    if (cache) {
      const hit = cache.get(key, query.readUInt16BE(0), query.subarray(12, qEnd));
      if (hit) { this.metrics.cacheHits.inc({ ...labels, type: hit.kind }); return { buf: hit.msg, plugin: 'cache' }; }
      this.metrics.cacheMisses.inc(labels);
    }
    const buf = await this.opts.forwarder!.forward(query, proto);
    if (cache && cache.put(key, buf)) {
      const size = cache.size;
      for (const k of ['success', 'denial'] as CacheKind[]) this.metrics.cacheEntries.set({ ...labels, type: k }, size[k]);
    }
    return { buf, plugin: 'forward' };
  }

  private onLoopDetected(): void {
    if (this.loop.detected) return;
    this.loop.detected = true;
    const msg = `loop detected: the probe "${this.loop.name}. HINFO" came back ${this.loop.seen} times through the upstreams ` +
      `(${this.opts.forwarder?.upstreams.map((u) => u.label).join(', ')}); forwarding is off. ` +
      'Point --upstream (or the resolv.conf) at a resolver that does not forward back to this server.';
    this.log(msg);
    this.opts.onLoop?.(msg);
  }

  // ---- loop detection -------------------------------------------------------------------------

  /**
   * CoreDNS's loop plugin: send a query for a random name to this server itself. It is outside
   * the cluster, so it goes upstream; if an upstream sends it back here, it arrives again, and a
   * third arrival means queries circle. Probes repeat (bounded) until one is answered.
   */
  async probeForLoops(attempts = 3, everyMs = 1000): Promise<boolean> {
    if (!this.opts.forwarder || this.bound.length === 0) return false;
    this.loop.name = `${randomInt(1e9)}${randomInt(1e9)}.${randomInt(1e9)}${randomInt(1e9)}`;
    const target = this.bound[0];
    // A wildcard listener (dual-stack for '::') is reachable on IPv4 loopback.
    const host = target.host === '' || target.host === '::' || target.host === '0.0.0.0' ? '127.0.0.1' : target.host;
    for (let i = 0; i < attempts && !this.loop.answered && !this.loop.detected && !this.stopped; i++) {
      const id = randomInt(65536);
      await new Promise<void>((done) => {
        const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
        const finish = () => { clearTimeout(t); try { sock.close(); } catch { /* closed */ } done(); };
        const t = setTimeout(finish, everyMs);
        sock.on('error', finish);
        sock.on('message', (m) => { if (m.length >= 12 && m.readUInt16BE(0) === id) { this.loop.answered = true; finish(); } });
        sock.send(encodeQuery(id, this.loop.name, TYPE.HINFO), target.port, host, (err) => { if (err) finish(); });
      });
    }
    return this.loop.detected;
  }

  // ---- sockets --------------------------------------------------------------------------------

  async start(): Promise<ListenAddress[]> {
    for (const l of this.opts.listen) this.bound.push(await this.bindBoth(l));
    const a = this.bound[0];
    if (a) this.metrics.server = `dns://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
    return this.addresses;
  }

  /** UDP and TCP on one port (port 0: any free port that is free for both). */
  private async bindBoth(l: ListenAddress): Promise<ListenAddress> {
    const hosts = l.host === '' ? ['::', '0.0.0.0'] : [l.host];
    let lastErr: unknown;
    for (const host of hosts) {
      for (let attempt = 0; attempt < (l.port === 0 ? 10 : 1); attempt++) {
        let udp: UdpSocket | undefined;
        try {
          udp = await this.bindUdp(host, l.port);
          const port = udp.address().port;
          const tcp = await this.bindTcp(host, port);
          this.udp.push(udp); this.tcp.push(tcp);
          return { host, port };
        } catch (e) {
          lastErr = e;
          try { udp?.close(); } catch { /* not bound */ }
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EADDRINUSE' && code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw e;
        }
      }
    }
    throw lastErr;
  }

  private bindUdp(host: string, port: number): Promise<UdpSocket> {
    return new Promise((ok, fail) => {
      const sock = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', ipv6Only: false, lookup: literalLookup as never });
      sock.once('error', fail);
      sock.bind(port, host, () => {
        sock.off('error', fail);
        try { sock.setRecvBufferSize(UDP_RECV_BUFFER); } catch { /* keep the default */ }
        sock.on('error', (e) => this.log(`udp ${host}:${port}: ${e.message}`));
        // Sends carry no callback (each would cost a tick): a send that fails is a lost
        // datagram, which the client retries, as for any UDP answer lost on the way.
        sock.on('message', (m, rinfo) => {
          const family = rinfo.family === 'IPv6' ? 2 : 1;
          const hit = this.cached(m, 'udp', family);
          if (hit) { if (!this.stopped) sock.send(hit, rinfo.port, rinfo.address); return; }
          void this.handle(m, 'udp', family).then((resp) => {
            if (resp && !this.stopped) sock.send(resp, rinfo.port, rinfo.address);
          });
        });
        ok(sock);
      });
    });
  }

  private bindTcp(host: string, port: number): Promise<Server> {
    return new Promise((ok, fail) => {
      const srv = createServer((s) => this.serveTcp(s));
      srv.maxConnections = 1000;
      srv.once('error', fail);
      srv.listen({ port, host, ipv6Only: false, exclusive: true }, () => {
        srv.off('error', fail);
        srv.on('error', (e) => this.log(`tcp ${host}:${port}: ${e.message}`));
        ok(srv);
      });
    });
  }

  /** Length-prefixed messages (RFC 1035 4.2.2), several per connection, answered as they complete. */
  private serveTcp(sock: Socket): void {
    this.conns.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    const family = sock.remoteFamily === 'IPv6' ? 2 : 1;
    let buf = Buffer.alloc(0);
    let pending = 0;
    let ended = false;
    sock.on('data', (d) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) break;
        const m = Buffer.from(buf.subarray(2, 2 + n));
        buf = buf.subarray(2 + n);
        if (++pending > TCP_MAX_PENDING) { sock.destroy(); return; }
        void this.handle(m, 'tcp', family).then((resp) => {
          pending--;
          if (resp && !sock.destroyed) {
            const len = Buffer.allocUnsafe(2);
            len.writeUInt16BE(resp.length);
            sock.write(Buffer.concat([len, resp]));
          }
          if (ended && pending === 0) sock.end();
        });
      }
    });
    sock.on('end', () => { ended = true; if (pending === 0) sock.end(); });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.conns.delete(sock));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.udp) { try { s.close(); } catch { /* closed */ } }
    for (const c of this.conns) c.destroy();
    await Promise.all(this.tcp.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.udp.length = 0; this.tcp.length = 0;
  }
}

function limitFor(proto: Proto, edns: Edns | undefined): number {
  return proto === 'tcp' ? 65535 : udpLimit(edns);
}

/** An upstream answer too big for the client's UDP size: header and question only, with TC. */
function truncatedCopy(buf: Buffer): Buffer {
  const qEnd = readName(buf, 12).next + 4;
  const out = Buffer.from(buf.subarray(0, qEnd));
  out.writeUInt16BE(1, 4); out.writeUInt16BE(0, 6); out.writeUInt16BE(0, 8); out.writeUInt16BE(0, 10);
  out[2] |= 0x02;
  return out;
}
