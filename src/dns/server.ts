// The DNS server's protocol shell: UDP and TCP listeners around one `handle(message)` pipeline
// (parse → cluster answer or forward through the cache → encode within the size limit), plus
// CoreDNS's loop detection. Whatever arrives, handle() resolves: malformed input is FORMERR or
// dropped, and an unexpected failure is SERVFAIL (CoreDNS counts it as a panic), so one bad
// packet never stops the server answering others.
//
// Cluster answers are encoded once and repeated from an AnswerCache until the index changes
// (answers.ts). A repeat over UDP is answered synchronously inside the socket's message event
// (no promise, no parse, no encode): that path is what one core's throughput depends on.
//
// UDP goes through native/udpbatch when it is built (udp-batch.ts): datagrams arrive in batches
// (recvmmsg) in a buffer shared with C, repeats are answered in place, and the batch's answers
// leave in one sendmmsg. Without the addon (or with PODNET_DNS_UDP=dgram) node:dgram does the
// same one datagram at a time. Both paths answer alike, byte for byte; the tests run both.

import { createSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import { AnswerCache, answerKey, type CachedAnswer } from './answers.js';
import { DnsCache, type CacheKind } from './cache.js';
import { Forwarder, TooManyConcurrent } from './forward.js';
import { DnsMetrics, metricType, type QueryStats } from './metrics.js';
import type { DnsIndex } from './records.js';
import { resolve, type ResolverConfig } from './resolver.js';
import { BatchSocket, loadUdpBatch, udpBatchUnavailable } from './udp-batch.js';
import {
  answerRecords, encodeQuery, encodeResponse, foldCase, MAX_UDP_SIZE, parseQuery, RCODE, RCODE_NAMES, readName, TYPE, udpLimit,
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
  /**
   * How UDP is read and written: 'batch' (native/udpbatch; fails to start without it), 'dgram'
   * (node:dgram), or 'auto' (default): batch when the addon loads, unless PODNET_DNS_UDP=dgram.
   */
  udp?: 'auto' | 'batch' | 'dgram';
  /** Datagrams per recvmmsg/sendmmsg on the batch path (default PODNET_DNS_UDP_BATCH or 64). */
  udpBatch?: number;
}

/** A bound UDP socket on either path. */
interface UdpListener { readonly port: number; close(): void }

type Proto = 'udp' | 'tcp';

const TCP_IDLE_MS = 10_000;
const TCP_MAX_PENDING = 128;
/** SO_RCVBUF asked for (the kernel caps it at net.core.rmem_max): room for bursts of queries. */
const UDP_RECV_BUFFER = 4 << 20;
/**
 * The longest UDP query read whole. A longer datagram is answered FORMERR from its header on
 * both paths (the batch path's slots hold this much; no real query comes near it).
 */
const MAX_UDP_QUERY = MAX_UDP_SIZE;
const DEFAULT_UDP_BATCH = 64;

/**
 * The server only ever sends to the address a datagram came from, which is an IP literal: an
 * identity lookup spares dgram's dns.lookup and the process.nextTick it costs on every send.
 */
const literalLookup = (address: string, family: unknown, cb: (err: Error | null, address: string, family: number) => void) =>
  cb(null, address, address.includes(':') ? 6 : 4);

export class DnsServer {
  readonly metrics: DnsMetrics;
  private readonly udp: UdpListener[] = [];
  /** Which UDP path start() took ('' before it). */
  private udpMode: '' | 'batch' | 'dgram' = '';
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
  /** 'batch' (native recvmmsg/sendmmsg) or 'dgram' (node:dgram); '' until start(). */
  get udpPath(): '' | 'batch' | 'dgram' { return this.udpMode; }
  get loopDetected(): boolean { return this.loop.detected; }
  get forwarding(): boolean { return !!this.opts.forwarder && !this.loop.detected; }

  // ---- the pipeline ---------------------------------------------------------------------------

  /**
   * The answer to a repeated plain question, from the answer cache, counted in the metrics as
   * any answer; undefined when there is none (then handle() it). Synchronous, never throws.
   */
  cached(msg: Buffer, proto: Proto, family: 1 | 2 = 1): Buffer | undefined {
    const started = performance.now();
    const hit = this.lookup(msg, proto);
    if (!hit) return undefined;
    const out = AnswerCache.reply(hit, msg);
    this.countHit(hit, msg, proto, family, started);
    return out;
  }

  /**
   * cached() for the batch path: the answer is written straight into `out` at `at` (the
   * socket's answer slot, at most `room` bytes) instead of a new Buffer. Its length, or 0.
   */
  private cachedInto(msg: Buffer, family: 1 | 2, out: Buffer, at: number, room: number): number {
    const started = performance.now();
    const hit = this.lookup(msg, 'udp');
    if (!hit || hit.buf.length > room) return 0;
    const n = AnswerCache.replyInto(hit, msg, out, at);
    this.countHit(hit, msg, 'udp', family, started);
    return n;
  }

  private lookup(msg: Buffer, proto: Proto): CachedAnswer | undefined {
    const cache = this.answers;
    if (!cache) return undefined;
    const key = answerKey(msg, proto === 'tcp');
    if (key < 0) return undefined;
    return cache.get(key, msg, this.opts.index.generation!());
  }

  private countHit(hit: CachedAnswer, msg: Buffer, proto: Proto, family: 1 | 2, started: number): void {
    const slot = (proto === 'tcp' ? 2 : 0) + family - 1;
    const stats = (hit.stats ??= [])[slot] as QueryStats | undefined ??
      (hit.stats[slot] = this.statsFor(proto, family, msg.readUInt16BE(hit.qEnd - 4), hit.buf, hit.plugin));
    this.count(stats, msg.length, hit.buf.length, started);
  }

  /**
   * The answer to a UDP datagram longer than MAX_UDP_QUERY, from its header alone (the batch
   * path has no more of it): FORMERR, or nothing for a response. Counted like any answer.
   */
  private oversized(head: Buffer, length: number, family: 1 | 2): Buffer | undefined {
    if (head.length < 12 || (head[2] & 0x80) !== 0) return undefined;
    const started = performance.now();
    const out = encodeResponse({
      id: head.readUInt16BE(0), opcode: (head[2] >> 3) & 0xf, rcode: RCODE.FORMERR, aa: false, rd: (head[2] & 1) !== 0, ra: false,
      question: undefined, answer: [], authority: [], additional: [],
    }, 512);
    this.count(this.metrics.queryStats('udp', String(family), 'other', RCODE_NAMES[RCODE.FORMERR], ''), length, out.length, started);
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
    this.udpMode = this.chooseUdpPath();
    for (const l of this.opts.listen) this.bound.push(await this.bindBoth(l));
    const a = this.bound[0];
    if (a) this.metrics.server = `dns://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
    return this.addresses;
  }

  private chooseUdpPath(): 'batch' | 'dgram' {
    const asked = this.opts.udp ?? 'auto';
    if (asked === 'dgram') return 'dgram';
    if (asked === 'batch') {
      if (!loadUdpBatch()) throw new Error(`UDP batching was asked for, but ${udpBatchUnavailable()}`);
      return 'batch';
    }
    if (process.env.PODNET_DNS_UDP === 'dgram') {
      if (this.opts.listen.length) this.log('udp: node:dgram, one datagram per call (PODNET_DNS_UDP=dgram)');
      return 'dgram';
    }
    if (!loadUdpBatch()) {
      if (this.opts.listen.length) this.log(`udp: node:dgram, one datagram per call (${udpBatchUnavailable()})`);
      return 'dgram';
    }
    if (this.opts.listen.length) this.log(`udp: batched, up to ${this.batchSize()} datagrams per recvmmsg/sendmmsg (native/udpbatch)`);
    return 'batch';
  }

  private batchSize(): number {
    const n = this.opts.udpBatch ?? Number(process.env.PODNET_DNS_UDP_BATCH || DEFAULT_UDP_BATCH);
    return Number.isInteger(n) && n >= 1 ? Math.min(n, 1024) : DEFAULT_UDP_BATCH;
  }

  /** UDP and TCP on one port (port 0: any free port that is free for both). */
  private async bindBoth(l: ListenAddress): Promise<ListenAddress> {
    const hosts = l.host === '' ? ['::', '0.0.0.0'] : [l.host];
    let lastErr: unknown;
    for (const host of hosts) {
      for (let attempt = 0; attempt < (l.port === 0 ? 10 : 1); attempt++) {
        let udp: UdpListener | undefined;
        try {
          udp = this.udpMode === 'batch' ? this.bindBatch(host, l.port) : await this.bindUdp(host, l.port);
          const port = udp.port;
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

  /** The batch path: one JS call per recvmmsg; repeats answered into the shared buffer. */
  private bindBatch(host: string, port: number): UdpListener {
    return new BatchSocket(host, port, { recvBufferSize: UDP_RECV_BUFFER, slots: this.batchSize() }, (sock, count) => this.onBatch(sock, count));
  }

  private onBatch(sock: BatchSocket, count: number): void {
    const size = sock.slotSize;
    for (let i = 0; i < count && !this.stopped; i++) {
      // One bad datagram must not cost the rest of the batch their answers.
      try {
        const length = sock.datagramLength(i);
        const family = sock.peerFamily(i);
        const msg = sock.datagram(i);
        if (length > MAX_UDP_QUERY) {
          const out = this.oversized(msg, length, family);
          if (out && out.length <= size) { out.copy(sock.tx, i * size); sock.answer(i, out.length); }
          continue;
        }
        const n = this.cachedInto(msg, family, sock.tx, i * size, size);
        if (n > 0) { sock.answer(i, n); continue; }
        // Not a repeat: the full pipeline, which may wait for an upstream. The slot is reused by
        // the next batch, so the question and its sender are copied.
        const peer = sock.peer(i);
        void this.handle(Buffer.from(msg), 'udp', family).then((resp) => {
          if (resp && !this.stopped) sock.send(resp, peer);
        });
      } catch (e) {
        this.metrics.panics.inc();
        this.log(`internal error reading a UDP batch: ${(e as Error)?.stack ?? String(e)}`);
      }
    }
  }

  private bindUdp(host: string, port: number): Promise<UdpListener> {
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
          if (m.length > MAX_UDP_QUERY) {
            const out = this.oversized(m, m.length, family);
            if (out && !this.stopped) sock.send(out, rinfo.port, rinfo.address);
            return;
          }
          const hit = this.cached(m, 'udp', family);
          if (hit) { if (!this.stopped) sock.send(hit, rinfo.port, rinfo.address); return; }
          void this.handle(m, 'udp', family).then((resp) => {
            if (resp && !this.stopped) sock.send(resp, rinfo.port, rinfo.address);
          });
        });
        ok({ get port() { return sock.address().port; }, close: () => sock.close() });
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
