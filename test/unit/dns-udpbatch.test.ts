// The DNS server's two UDP paths side by side on real loopback sockets: batched through the
// native/udpbatch addon (recvmmsg/sendmmsg) and node:dgram. Both must answer every datagram
// alike, byte for byte: cluster names, truncation, malformed and oversized packets, random
// garbage, IPv6, and answers that wait for a stub upstream on 127.0.0.1 (never a real resolver).
//
// Without the addon built the batch cases are skipped, saying so; with PODNET_REQUIRE_NATIVE=1
// (CI, where the addon must build) they fail instead.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { Worker } from 'node:worker_threads';
import { decode, fixtureIndex, makeService, makeSlice, headless, StubUpstream, TEST_CONFIG } from './dns-fixtures.js';
import { DnsCache } from '../../src/dns/cache.js';
import { Forwarder, parseUpstream } from '../../src/dns/forward.js';
import { DnsMetrics } from '../../src/dns/metrics.js';
import { stripEndpointSlice, stripService } from '../../src/dns/records.js';
import { DnsServer, parseListen } from '../../src/dns/server.js';
import { BatchSocket, loadUdpBatch, udpBatchUnavailable } from '../../src/dns/udp-batch.js';
import { encodeQuery, TYPE } from '../../src/dns/wire.js';

const native = !!loadUdpBatch();
if (!native && process.env.PODNET_REQUIRE_NATIVE === '1') {
  throw new Error(`PODNET_REQUIRE_NATIVE=1 but the udpbatch addon is unavailable: ${udpBatchUnavailable()}`);
}
const skipNative = native ? false : `the batch path is unavailable (${udpBatchUnavailable()}); the other dns tests cover node:dgram`;

type Path = 'batch' | 'dgram';

/**
 * Sends `datagrams` to host:port from `sockets` client sockets (round robin, `chunk` at a time,
 * waiting for the answers to settle between chunks so no client buffer overflows) and returns
 * every answer received, in arrival order.
 */
async function exchange(host: string, port: number, datagrams: Buffer[], o: { sockets?: number; chunk?: number; quietMs?: number } = {}): Promise<Buffer[]> {
  const n = o.sockets ?? 1, chunk = o.chunk ?? 100, quietMs = o.quietMs ?? 80;
  const family = host.includes(':') ? 'udp6' : 'udp4';
  const socks: UdpSocket[] = [];
  const answers: Buffer[] = [];
  let last = Date.now();
  try {
    for (let i = 0; i < n; i++) {
      const s = createSocket(family);
      await new Promise<void>((r) => s.bind(0, host, () => r()));
      s.on('message', (m) => { answers.push(m); last = Date.now(); });
      socks.push(s);
    }
    for (let start = 0; start < datagrams.length; start += chunk) {
      const sent = datagrams.slice(start, start + chunk).map((d, i) => new Promise<void>((r) => socks[(start + i) % n].send(d, port, host, () => r())));
      await Promise.all(sent);
      last = Date.now();
      // Bounded wait: until nothing arrived for quietMs, at most 5 s per chunk.
      for (const deadline = Date.now() + 5000; Date.now() - last < quietMs && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    for (const s of socks) s.close();
  }
  return answers;
}

const hex = (bufs: Buffer[]) => bufs.map((b) => b.toString('hex')).sort();

/** The fixture cluster plus a headless Service too big for 512 bytes (TC without EDNS). */
function index() {
  const idx = fixtureIndex();
  idx.upsertService(stripService(makeService('default', 'many', headless)));
  idx.upsertSlice(stripEndpointSlice(makeSlice('default', 'many-1', 'many', 'IPv4',
    Array.from({ length: 60 }, (_, i) => ({ ip: `10.244.9.${i + 1}` })))));
  return idx;
}

/**
 * A server on one path. Servers compared with each other share `idx`: the SOA serial is the
 * time of the index's last change, so two indexes built a moment apart answer differently.
 */
function makeServer(path: Path, listen: string, idx: ReturnType<typeof index>, upstreamPort?: number): DnsServer {
  const metrics = new DnsMetrics();
  return new DnsServer({
    listen: [parseListen(listen)], resolver: TEST_CONFIG, index: idx, metrics, log: () => undefined, udp: path,
    ...(upstreamPort ? {
      forwarder: new Forwarder({ upstreams: [parseUpstream(`127.0.0.1:${upstreamPort}`)], timeoutMs: 1000, metrics }),
      cache: new DnsCache({ maxTtl: 30, maxNegativeTtl: 30, capacity: 100 }),
    } : {}),
  });
}

/** Queries with a known answer, each with its own ID. */
function clusterQueries(): Buffer[] {
  const qs: Array<[string, number, { edns?: number; rd?: boolean }?]> = [
    ['web.default.svc.cluster.local', TYPE.A], ['WEB.default.svc.Cluster.Local', TYPE.A], ['web.default.svc.cluster.local', TYPE.AAAA],
    ['headless.default.svc.cluster.local', TYPE.A], ['headless.default.svc.cluster.local', TYPE.AAAA],
    ['_http._tcp.web.default.svc.cluster.local', TYPE.SRV], ['_http._tcp.headless.default.svc.cluster.local', TYPE.SRV],
    ['20.0.96.10.in-addr.arpa', TYPE.PTR], ['dns-version.cluster.local', TYPE.TXT], ['missing.default.svc.cluster.local', TYPE.A],
    ['web.default.svc.cluster.local', TYPE.TXT], ['10-244-1-10.default.pod.cluster.local', TYPE.A],
    ['many.default.svc.cluster.local', TYPE.A], ['many.default.svc.cluster.local', TYPE.A, { edns: 4096 }],
    ['many.default.svc.cluster.local', TYPE.A, { edns: 1232 }], ['web.default.svc.cluster.local', TYPE.A, { rd: false }],
    ['cluster.local', TYPE.SOA], ['kubernetes.default.svc.cluster.local', TYPE.A, { edns: 1232 }],
  ];
  return qs.map(([name, type, o], i) => encodeQuery(1000 + i, name, type, o));
}

/** Malformed and odd datagrams: each gets FORMERR/NOTIMP/BADVERS, or no answer at all. */
function oddQueries(): Buffer[] {
  const twoQuestions = encodeQuery(2001, 'web.default.svc.cluster.local', TYPE.A); twoQuestions.writeUInt16BE(2, 4);
  const notQuery = encodeQuery(2002, 'web.default.svc.cluster.local', TYPE.A); notQuery[2] |= 0x20; // opcode 4 (NOTIFY)
  const response = encodeQuery(2003, 'web.default.svc.cluster.local', TYPE.A); response[2] |= 0x80;
  const badVersion = encodeQuery(2004, 'web.default.svc.cluster.local', TYPE.A, { edns: 1232 }); badVersion[badVersion.length - 5] = 1;
  const trailing = Buffer.concat([encodeQuery(2005, 'web.default.svc.cluster.local', TYPE.A), Buffer.from([1, 2, 3])]);
  const cut = encodeQuery(2006, 'web.default.svc.cluster.local', TYPE.A).subarray(0, 20);
  const pointerLoop = Buffer.from('07d2000000010000000000' + '00c00c00010001', 'hex');
  // Longer than any slot: FORMERR from the header on both paths.
  const oversized = Buffer.concat([encodeQuery(2008, 'web.default.svc.cluster.local', TYPE.A), Buffer.alloc(5000, 0x41)]);
  const oversizedResponse = Buffer.from(oversized); oversizedResponse[2] |= 0x80;
  return [twoQuestions, notQuery, response, badVersion, trailing, cut, pointerLoop, Buffer.from([0xde, 0xad, 0xbe]), Buffer.alloc(0), oversized, oversizedResponse];
}

/** A deterministic pseudo-random generator (xorshift32), so a failing fuzz case can be rerun. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 32; };
}

/** Random bytes and mutated queries (flipped bytes, cut short, counts changed). */
function fuzzDatagrams(count: number, seed: number): Buffer[] {
  const r = rng(seed);
  const seeds = clusterQueries();
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 3 === 0) {
      const b = Buffer.alloc(Math.floor(r() * 600));
      for (let j = 0; j < b.length; j++) b[j] = Math.floor(r() * 256);
      b[2] = b.length > 2 ? b[2] & 0x7f : 0; // mostly queries, so they reach the parser
      out.push(b);
    } else {
      const b = Buffer.from(seeds[Math.floor(r() * seeds.length)]);
      const flips = 1 + Math.floor(r() * 4);
      for (let f = 0; f < flips; f++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
      b[2] &= 0x7f;
      out.push(i % 5 === 0 ? b.subarray(0, Math.floor(r() * b.length)) : b);
    }
  }
  return out;
}

/** The per-query counters and size histograms from the metrics text (durations differ run to run). */
const requestCounts = (s: DnsServer) => s.metrics.render().split('\n')
  .filter((l) => /^coredns_dns_(requests_total|responses_total|request_size_bytes|response_size_bytes)/.test(l)).map((l) => l.replace(/server="[^"]*"/, '')).sort();

describe('dns over UDP: batch (native/udpbatch) and dgram paths answer alike', { skip: skipNative }, () => {
  const stub = new StubUpstream(5); // answers a little later: the server's answer takes the asynchronous path
  const servers: Record<Path, DnsServer> = {} as Record<Path, DnsServer>;
  const ports: Record<Path, number> = { batch: 0, dgram: 0 };

  /** Sends `qs` to both servers; asserts the same answers (as sets); returns the batch path's. */
  const both = async (qs: Buffer[], o: { sockets?: number; chunk?: number; quietMs?: number } = {}) => {
    const a = await exchange('127.0.0.1', ports.batch, qs, o);
    const b = await exchange('127.0.0.1', ports.dgram, qs, o);
    assert.deepEqual(hex(a), hex(b), `same answers to ${qs.length} datagram(s) starting ${qs[0]?.subarray(0, 16).toString('hex')}… (${qs[0]?.length} bytes)`);
    return a;
  };

  before(async () => {
    await stub.start();
    const idx = index();
    for (const path of ['batch', 'dgram'] as const) {
      servers[path] = makeServer(path, '127.0.0.1:0', idx, stub.port);
      ports[path] = (await servers[path].start())[0].port;
      assert.equal(servers[path].udpPath, path);
      assert.ok(ports[path] > 0, 'port 0 binds an ephemeral port and reports it');
      assert.equal(servers[path].addresses[0].host, '127.0.0.1');
    }
  });
  after(async () => { for (const s of Object.values(servers)) await s?.stop(); await stub.stop(); });

  it('cluster answers, repeats and truncation are the same bytes on both paths', async () => {
    for (let round = 0; round < 2; round++) { // the second round comes from the answer cache
      for (const q of clusterQueries()) {
        const [a] = await both([q]);
        assert.ok(a, `batch path answered ${decode(q).questions?.[0]?.name} (round ${round})`);
      }
    }
    const tc = decode((await both([encodeQuery(7, 'many.default.svc.cluster.local', TYPE.A)]))[0]);
    assert.equal(tc.flag_tc, true, 'no EDNS: 60 endpoints do not fit 512 bytes');
    assert.ok(servers.batch.cachedAnswers > 0);
  });

  it('malformed, odd and oversized datagrams: same verdicts (FORMERR/NOTIMP/BADVERS or silence)', async () => {
    const answered: number[] = [];
    for (const q of oddQueries()) answered.push((await both([q], { quietMs: 150 })).length);
    assert.deepEqual(answered, [1, 1, 0, 1, 1, 1, 1, 0, 0, 1, 0], 'responses and runts get no answer');
    const [formerr] = await both([oddQueries()[9]]);
    assert.equal(decode(formerr).rcode, 'FORMERR', 'a datagram longer than a slot is FORMERR');
    assert.equal(decode(formerr).id, 2008);
  });

  it('a burst of 500 queries from 4 sockets: every one answered, answers the same on both paths', async () => {
    const base = clusterQueries();
    const burst = Array.from({ length: 500 }, (_, i) => {
      const q = Buffer.from(base[i % base.length]);
      q.writeUInt16BE(i, 0);
      return q;
    });
    const a = await both(burst, { sockets: 4, chunk: 500 });
    assert.equal(a.length, 500);
    assert.deepEqual(new Set(a.map((m) => m.readUInt16BE(0))).size, 500, 'each ID answered once');
  });

  it('answers that wait for the upstream (forwarding, ExternalName, TC on a big forwarded answer)', async () => {
    const qs = [
      encodeQuery(31, 'www.example.com', TYPE.A), encodeQuery(32, 'nx.example.com', TYPE.A),
      encodeQuery(33, 'big.example.com', TYPE.TXT), encodeQuery(34, 'ext.default.svc.cluster.local', TYPE.A),
    ];
    for (const q of qs) {
      const [a] = await both([q], { quietMs: 200 });
      assert.ok(a, `batch path answered ${decode(q).questions?.[0]?.name}`);
    }
    const [big] = await both([encodeQuery(35, 'big.example.com', TYPE.TXT)]);
    assert.equal(decode(big).flag_tc, true);
    // Many at once, each waiting on the upstream: all answered to the right sender.
    const many = Array.from({ length: 60 }, (_, i) => encodeQuery(100 + i, `h${i}.example.org`, TYPE.A));
    const answers = await both(many, { sockets: 3, chunk: 60, quietMs: 300 });
    assert.deepEqual(answers.map((m) => m.readUInt16BE(0)).sort((x, y) => x - y), many.map((_, i) => 100 + i));
  });

  it('counts the same requests and responses in the metrics on both paths', () => {
    assert.deepEqual(requestCounts(servers.batch), requestCounts(servers.dgram));
  });
});

describe('dns over UDP: random datagrams do not stop either path answering', { skip: skipNative }, () => {
  const servers: DnsServer[] = [];
  after(async () => { for (const s of servers) await s.stop(); });

  it('2,000 random and mutated datagrams get the same answers on both paths, then a query is still answered', async () => {
    const fuzz = fuzzDatagrams(2000, 20261125);
    const got: Record<Path, string[]> = { batch: [], dgram: [] };
    const idx = index();
    for (const path of ['batch', 'dgram'] as const) {
      const s = makeServer(path, '127.0.0.1:0', idx); // no forwarding: random names are REFUSED, not sent anywhere
      servers.push(s);
      const [{ port }] = await s.start();
      got[path] = hex(await exchange('127.0.0.1', port, fuzz, { sockets: 2, chunk: 100 }));
      const [ok] = await exchange('127.0.0.1', port, [encodeQuery(77, 'web.default.svc.cluster.local', TYPE.A)]);
      assert.equal(decode(ok).answers?.length, 1, `${path}: still answering`);
      assert.doesNotMatch(s.metrics.render(), /coredns_panics_total [1-9]/, `${path}: no internal error`);
    }
    assert.ok(got.batch.length > 100, `the fuzz got answers (${got.batch.length})`);
    assert.deepEqual(got.batch, got.dgram);
  });
});

describe('dns over UDP on IPv6 and dual-stack', { skip: skipNative }, () => {
  const servers: DnsServer[] = [];
  after(async () => { for (const s of servers) await s.stop(); });

  it('[::1] and a wildcard listener (dual-stack: IPv4 arrives v4-mapped) answer alike on both paths', async (t) => {
    const probe = createSocket('udp6');
    const v6 = await new Promise<boolean>((r) => { probe.once('error', () => r(false)); probe.bind(0, '::1', () => r(true)); });
    probe.close();
    if (!v6) { t.skip('no IPv6 loopback here'); return; }
    const got: Record<string, string[]> = {};
    const idx = index();
    for (const path of ['batch', 'dgram'] as const) {
      for (const listen of ['[::1]:0', ':0']) {
        const s = makeServer(path, listen, idx);
        servers.push(s);
        const [{ host, port }] = await s.start();
        assert.ok(port > 0);
        if (listen === ':0') assert.equal(host, '::', 'a wildcard listener binds dual-stack first');
        const qs = clusterQueries();
        const answers = [...await exchange('::1', port, qs, { sockets: 2 })];
        if (listen === ':0') answers.push(...await exchange('127.0.0.1', port, qs, { sockets: 2 }));
        assert.equal(answers.length, listen === ':0' ? 2 * qs.length : qs.length, `${path} ${listen}: all answered`);
        got[`${path} ${listen}`] = hex(answers);
        got[`${path} ${listen} metrics`] = requestCounts(s);
        assert.ok(requestCounts(s).some((l) => l.includes('family="2"')));
      }
    }
    for (const listen of ['[::1]:0', ':0']) {
      assert.deepEqual(got[`batch ${listen}`], got[`dgram ${listen}`]);
      assert.deepEqual(got[`batch ${listen} metrics`], got[`dgram ${listen} metrics`]);
    }
  });
});

describe('udpbatch addon', { skip: skipNative }, () => {
  it('reports EADDRINUSE like dgram, and refuses bad arguments with an exception, not a crash', async () => {
    const taken = new BatchSocket('127.0.0.1', 0, { recvBufferSize: 0, slots: 4 }, () => undefined);
    try {
      assert.equal(taken.family, 'IPv4');
      assert.throws(() => new BatchSocket('127.0.0.1', taken.port, { recvBufferSize: 0, slots: 4 }, () => undefined), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
      assert.throws(() => new BatchSocket('not-an-ip', 0, { recvBufferSize: 0, slots: 4 }, () => undefined), (e: NodeJS.ErrnoException) => e.code === 'EINVAL');
      assert.throws(() => taken.send(Buffer.from('x'), Buffer.alloc(4)), RangeError);
      assert.throws(() => taken.sendTo(Buffer.from('x'), '::1', 53), (e: NodeJS.ErrnoException) => e.code === 'EINVAL');
      const addon = loadUdpBatch()!;
      assert.throws(() => addon.open('127.0.0.1', 70000, 0, 4, () => undefined), TypeError);
      assert.throws(() => addon.open('127.0.0.1', 0, 0, 0, () => undefined), TypeError);
      assert.throws(() => addon.send({}, Buffer.alloc(1), Buffer.alloc(16)), TypeError);
      assert.throws(() => addon.close(42), TypeError);
    } finally {
      taken.close();
      taken.close();
    }
    assert.equal(taken.sendTo(Buffer.from('x'), '127.0.0.1', 9), 9, 'a closed socket sends nothing (EBADF)');
  });

  it('a Worker that ends with its socket open (or closed) ends cleanly, and its socket with it', async () => {
    const moduleUrl = new URL('../../src/dns/udp-batch.js', import.meta.url).href;
    for (const closeFirst of [false, true]) {
      // The addon is unloaded with the Worker's environment: nothing may call into it afterwards.
      const code = `
        const { parentPort, workerData } = require('node:worker_threads');
        import(workerData.moduleUrl).then(({ BatchSocket }) => {
          const s = new BatchSocket('127.0.0.1', 0, { recvBufferSize: 0, slots: 8 }, (sock, n) => {
            for (let i = 0; i < n; i++) { sock.datagram(i).copy(sock.tx, i * sock.slotSize); sock.answer(i, sock.datagram(i).length); }
          });
          if (workerData.closeFirst) s.close();
          parentPort.postMessage(s.port);
        });`;
      const worker = new Worker(code, { eval: true, workerData: { moduleUrl, closeFirst } });
      const port = await new Promise<number>((r, fail) => { worker.once('message', r); worker.once('error', fail); });
      if (!closeFirst) assert.deepEqual((await exchange('127.0.0.1', port, [Buffer.from('ping')])).map(String), ['ping']);
      // 1: terminated; 0: it had ended by itself (a closed socket keeps nothing alive).
      assert.ok([0, 1].includes(await worker.terminate()), 'the Worker ended without crashing the process');
      assert.deepEqual(await exchange('127.0.0.1', port, [Buffer.from('ping')], { quietMs: 100 }), [], 'the socket went with the Worker');
    }
  });

  it('echoes a batch in place, sends later with a copied peer, and may be closed from its own callback', async () => {
    const later: Array<{ data: Buffer; peer: Buffer }> = [];
    let batches = 0;
    const echo = new BatchSocket('127.0.0.1', 0, { recvBufferSize: 1 << 20, slots: 8 }, (sock, count) => {
      batches++;
      for (let i = 0; i < count; i++) {
        const d = sock.datagram(i);
        if (d[0] === 0x4c) { later.push({ data: Buffer.from(d), peer: sock.peer(i) }); continue; } // 'L': answer later
        if (d[0] === 0x43) { sock.close(); return; } // 'C': close now
        d.copy(sock.tx, i * sock.slotSize);
        sock.answer(i, d.length);
      }
    });
    const msgs = Array.from({ length: 30 }, (_, i) => Buffer.from(`echo ${i}`));
    const answers = await exchange('127.0.0.1', echo.port, [...msgs, Buffer.from('Later')], { chunk: 31 });
    assert.deepEqual(answers.map(String).sort(), msgs.map(String).sort());
    assert.ok(batches >= 4, 'slots: 8 means at least 4 batches for 31 datagrams');
    const client = createSocket('udp4');
    const reply = new Promise<string>((r) => client.on('message', (m) => r(String(m))));
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    client.send('Later', echo.port, '127.0.0.1');
    for (let i = 0; i < 100 && later.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(echo.send(Buffer.from('answered later'), later[1].peer), 0);
    assert.equal(await reply, 'answered later');
    client.close();
    await exchange('127.0.0.1', echo.port, [Buffer.from('Close'), Buffer.from('after close')], { quietMs: 100 });
    assert.notEqual(echo.send(Buffer.from('x'), later[1].peer), 0, 'closed');
  });
});
