// The DNS server on real sockets, loopback only: UDP and TCP (several queries per connection),
// forwarding to a stub upstream on 127.0.0.1 (never a real resolver), the cache, loop
// detection, and the HTTP endpoints.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';
import { decode, fixtureIndex, fixtureServer, headless, ips, makeService, makeSlice, rrText, StubUpstream, TEST_CONFIG, udpAsk, type Decoded } from './dns-fixtures.js';
import { AnswerCache, answerKey } from '../../src/dns/answers.js';
import { MemoryIndex, stripEndpointSlice, stripService } from '../../src/dns/records.js';
import { DnsCache } from '../../src/dns/cache.js';
import { Forwarder, parseResolvConf, parseUpstream } from '../../src/dns/forward.js';
import { startHttp } from '../../src/dns/http.js';
import { DnsMetrics } from '../../src/dns/metrics.js';
import { DnsServer, parseListen } from '../../src/dns/server.js';
import { encodeQuery, TYPE } from '../../src/dns/wire.js';

/** Sends `queries` on one TCP connection (in `chunk`-byte pieces) and collects `queries.length` answers. */
function tcpAsk(port: number, queries: Buffer[], chunk = 0): Promise<Buffer[]> {
  return new Promise((ok, fail) => {
    const sock = connect(port, '127.0.0.1');
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => { sock.destroy(); fail(new Error(`only ${out.length} TCP answers`)); }, 5000);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === queries.length) { clearTimeout(t); sock.end(); ok(out); }
    });
    sock.on('error', fail);
    const all = Buffer.concat(queries.map((q) => { const l = Buffer.alloc(2); l.writeUInt16BE(q.length); return Buffer.concat([l, q]); }));
    if (!chunk) sock.write(all);
    else for (let i = 0; i < all.length; i += chunk) sock.write(all.subarray(i, i + chunk));
  });
}

describe('dns server on sockets', () => {
  const stub = new StubUpstream();
  let server: DnsServer;
  let port = 0;
  const loops: string[] = [];

  before(async () => {
    await stub.start();
    const metrics = new DnsMetrics();
    server = new DnsServer({
      listen: [parseListen('127.0.0.1:0')], resolver: TEST_CONFIG, index: fixtureIndex(), metrics, log: () => undefined,
      forwarder: new Forwarder({ upstreams: [parseUpstream(`127.0.0.1:${stub.port}`)], timeoutMs: 500, metrics }),
      cache: new DnsCache({ maxTtl: 30, maxNegativeTtl: 30, capacity: 100 }),
      onLoop: (m) => loops.push(m),
    });
    port = (await server.start())[0].port;
  });
  after(async () => { await server?.stop(); await stub.stop(); });

  it('answers over UDP, and a malformed packet does not stop it answering the next', async () => {
    const s = createSocket('udp4');
    s.send(Buffer.from([0xde, 0xad, 0xbe]), port, '127.0.0.1');
    s.close();
    const a = decode(await udpAsk(port, encodeQuery(1, 'web.default.svc.cluster.local', TYPE.A)));
    assert.deepEqual(a.answers?.map(rrText), ['web.default.svc.cluster.local 30 A 10.96.0.20']);
  });

  it('answers several queries on one TCP connection, also when they arrive byte by byte', async () => {
    const names = ['web.default.svc.cluster.local', 'headless.default.svc.cluster.local', 'dns-version.cluster.local'];
    const qs = names.map((n, i) => encodeQuery(100 + i, n, n.startsWith('dns-version') ? TYPE.TXT : TYPE.A));
    for (const chunk of [0, 1]) {
      const answers = (await tcpAsk(port, qs, chunk)).map(decode);
      assert.deepEqual(answers.map((a) => a.id).sort(), [100, 101, 102]);
      assert.deepEqual(answers.find((a) => a.id === 101)?.answers?.length, 3);
    }
  });

  it('forwards names outside the cluster and caches the answer (positive and negative)', async () => {
    stub.asked = [];
    const first = decode(await udpAsk(port, encodeQuery(7, 'WWW.example.com', TYPE.A)));
    assert.equal(first.id, 7);
    assert.deepEqual(first.answers?.map(rrText), ['WWW.example.com 300 A 192.0.2.53']);
    const second = decode(await udpAsk(port, encodeQuery(8, 'www.EXAMPLE.com', TYPE.A)));
    assert.equal(second.id, 8);
    assert.equal(second.questions?.[0].name, 'www.EXAMPLE.com', 'the cached answer carries this client\'s question');
    assert.ok(((second.answers?.[0] as { ttl: number }).ttl) <= 30, 'served TTLs never outlive the capped cache entry');
    for (let i = 0; i < 2; i++) {
      const nx = decode(await udpAsk(port, encodeQuery(9, 'nx.example.com', TYPE.A)));
      assert.equal(nx.rcode, 'NXDOMAIN');
    }
    assert.deepEqual(stub.asked, ['WWW.example.com A', 'nx.example.com A']);
    const text = server.metrics.render();
    assert.match(text, /coredns_cache_hits_total\{server="[^"]+",type="success",zones="\.",view=""\} 1/);
    assert.match(text, /coredns_cache_hits_total\{server="[^"]+",type="denial",zones="\.",view=""\} 1/);
    assert.match(text, /coredns_forward_requests_total\{to="127\.0\.0\.1:\d+"\} 2/);
  });

  it('sets TC on a forwarded answer too big for UDP; TCP gets it whole', async () => {
    const udp = decode(await udpAsk(port, encodeQuery(11, 'big.example.com', TYPE.TXT)));
    assert.equal(udp.flag_tc, true);
    assert.equal(udp.answers?.length ?? 0, 0);
    const [tcp] = (await tcpAsk(port, [encodeQuery(12, 'big.example.com', TYPE.TXT)])).map(decode);
    assert.equal(tcp.flag_tc, false);
    assert.equal(tcp.answers?.length, 20);
  });

  it('follows an ExternalName to its target through the upstream', async () => {
    const a = decode(await udpAsk(port, encodeQuery(13, 'ext.default.svc.cluster.local', TYPE.A)));
    // The target's answer may come from the cache (spelled as first asked, TTL capped).
    assert.deepEqual(a.answers?.map((r) => `${r.name.toLowerCase()} ${r.type} ${(r as { data: unknown }).data}`),
      ['ext.default.svc.cluster.local CNAME www.example.com', 'www.example.com A 192.0.2.53']);
  });

  it('SERVFAIL when no upstream answers, REFUSED without forwarding', async () => {
    const dead = new DnsServer({
      listen: [], resolver: TEST_CONFIG, index: fixtureIndex(), log: () => undefined,
      forwarder: new Forwarder({ upstreams: [parseUpstream('127.0.0.1:9')], timeoutMs: 200 }),
    });
    assert.equal(decode((await dead.handle(encodeQuery(1, 'example.org', TYPE.A), 'udp'))!).rcode, 'SERVFAIL');
    const off = new DnsServer({ listen: [], resolver: TEST_CONFIG, index: fixtureIndex(), log: () => undefined });
    const r = decode((await off.handle(encodeQuery(1, 'example.org', TYPE.A), 'udp'))!);
    assert.equal(r.rcode, 'REFUSED');
    assert.equal(r.flag_ra, false);
  });

  it('detects a forwarding loop with its probe and stops forwarding (cluster names still answered)', async () => {
    stub.relayTo = port; // the upstream sends everything back here
    stub.asked = [];
    try {
      const detected = await server.probeForLoops(3, 800);
      assert.equal(detected, true);
      assert.equal(loops.length, 1);
      assert.match(loops[0], /loop detected/);
      assert.ok(stub.asked.filter((a) => a.endsWith('HINFO')).length <= 4, 'the probe circled a bounded number of times');
      const out = decode(await udpAsk(port, encodeQuery(21, 'www.example.com', TYPE.AAAA)));
      assert.equal(out.rcode, 'SERVFAIL');
      const inside = decode(await udpAsk(port, encodeQuery(22, 'web.default.svc.cluster.local', TYPE.A)));
      assert.equal(inside.answers?.length, 1);
    } finally {
      stub.relayTo = 0;
    }
  });

  it('counts requests and responses under CoreDNS names', () => {
    const text = server.metrics.render();
    assert.match(text, /coredns_dns_requests_total\{server="dns:\/\/127\.0\.0\.1:\d+",zone="\.",view="",proto="udp",family="1",type="A"\} \d+/);
    assert.match(text, /coredns_dns_requests_total\{[^}]*proto="tcp"[^}]*\} \d+/);
    assert.match(text, /coredns_dns_responses_total\{[^}]*rcode="NOERROR",plugin="kubernetes"\} \d+/);
    assert.match(text, /coredns_dns_responses_total\{[^}]*rcode="NXDOMAIN",plugin="(forward|cache)"\} \d+/);
    assert.match(text, /coredns_dns_request_duration_seconds_bucket\{[^}]*type="A",le="0.00025"\} \d+/);
  });
});

describe('dns answer cache (cluster answers, per index generation)', () => {
  const A = (r: Decoded) => r.answers?.map(rrText) ?? [];

  it('repeats an answer with the client\'s ID and spelling; EDNS, DO, UDP size and TCP keep their own answers', async () => {
    const server = fixtureServer();
    const first = decode((await server.handle(encodeQuery(1, 'web.default.svc.cluster.local', TYPE.A), 'udp'))!);
    assert.equal(server.cachedAnswers, 1);
    const again = decode((await server.handle(encodeQuery(2, 'WEB.Default.svc.cluster.local', TYPE.A), 'udp'))!);
    assert.equal(server.cachedAnswers, 1, 'the same question in another case is the same entry');
    assert.equal(again.id, 2);
    assert.equal(again.questions?.[0].name, 'WEB.Default.svc.cluster.local');
    assert.deepEqual(A(again), ['WEB.Default.svc.cluster.local 30 A 10.96.0.20']);
    assert.deepEqual(A(first), ['web.default.svc.cluster.local 30 A 10.96.0.20']);
    // Without EDNS no OPT record; with it, one, even though the plain answer is cached.
    const edns = decode((await server.handle(encodeQuery(3, 'web.default.svc.cluster.local', TYPE.A, { edns: 1232 }), 'udp'))!);
    assert.equal(edns.additionals?.filter((r) => r.type === 'OPT').length, 1);
    assert.equal(first.additionals?.length ?? 0, 0);
    // RD is echoed as asked.
    const noRd = decode((await server.handle(encodeQuery(4, 'web.default.svc.cluster.local', TYPE.A, { rd: false }), 'udp'))!);
    assert.equal(noRd.flag_rd, false);
    assert.equal(first.flag_rd, true);
    // A UDP answer cut to 512 bytes (TC) is not what TCP gets.
    const big = new MemoryIndex();
    big.addNamespace('default');
    big.upsertService(stripService(makeService('default', 'many', headless)));
    big.upsertSlice(stripEndpointSlice(makeSlice('default', 'many-1', 'many', 'IPv4',
      Array.from({ length: 60 }, (_, i) => ({ ip: `10.244.9.${i + 1}` })))));
    const s2 = fixtureServer({ index: big });
    for (let i = 0; i < 2; i++) {
      const udp = decode((await s2.handle(encodeQuery(5, 'many.default.svc.cluster.local', TYPE.A), 'udp'))!);
      assert.equal(udp.flag_tc, true);
      const tcp = decode((await s2.handle(encodeQuery(6, 'many.default.svc.cluster.local', TYPE.A), 'tcp'))!);
      assert.equal(tcp.flag_tc, false);
      assert.equal(tcp.answers?.length, 60);
    }
    assert.equal(s2.cachedAnswers, 2);
  });

  it('answers change at once when a Service or EndpointSlice changes, though the old answer was cached', async () => {
    const index = fixtureIndex();
    const server = fixtureServer({ index });
    const ask2 = async (name: string, type: number) => {
      const a = decode((await server.handle(encodeQuery(7, name, type), 'udp'))!);
      const b = decode((await server.handle(encodeQuery(8, name, type), 'udp'))!);
      assert.deepEqual(A(b), A(a), 'asked twice: the second comes from the cache');
      assert.equal(b.rcode, a.rcode);
      return b;
    };
    assert.deepEqual(A(await ask2('web.default.svc.cluster.local', TYPE.A)), ['web.default.svc.cluster.local 30 A 10.96.0.20']);
    assert.ok(server.cachedAnswers >= 1);
    index.upsertService(stripService(makeService('default', 'web', ips('10.96.0.21'))));
    assert.deepEqual(A(await ask2('web.default.svc.cluster.local', TYPE.A)), ['web.default.svc.cluster.local 30 A 10.96.0.21']);

    assert.equal((await ask2('new.default.svc.cluster.local', TYPE.A)).rcode, 'NXDOMAIN');
    index.upsertService(stripService(makeService('default', 'new', ips('10.96.0.30'))));
    assert.deepEqual(A(await ask2('new.default.svc.cluster.local', TYPE.A)), ['new.default.svc.cluster.local 30 A 10.96.0.30']);

    const before = A(await ask2('headless.default.svc.cluster.local', TYPE.A));
    assert.equal(before.length, 3);
    index.upsertSlice(stripEndpointSlice(makeSlice('default', 'headless-v4', 'headless', 'IPv4', [{ ip: '10.244.1.10', hostname: 'web-0' }])));
    assert.deepEqual(A(await ask2('headless.default.svc.cluster.local', TYPE.A)), ['headless.default.svc.cluster.local 30 A 10.244.1.10']);
    index.deleteSlice('default', 'headless-v4');
    index.deleteSlice('default', 'headless-v6');
    assert.equal((await ask2('headless.default.svc.cluster.local', TYPE.A)).rcode, 'NXDOMAIN', 'no ready endpoint left');
    index.deleteService('default', 'new');
    assert.equal((await ask2('new.default.svc.cluster.local', TYPE.A)).rcode, 'NXDOMAIN');
  });

  it('never keeps what depends on more than the index: forwarded names, malformed queries', async () => {
    const server = fixtureServer();
    const bad = encodeQuery(9, 'web.default.svc.cluster.local', TYPE.A);
    bad.writeUInt16BE(2, 4); // two questions: FORMERR
    for (let i = 0; i < 2; i++) assert.equal(decode((await server.handle(bad, 'udp'))!).rcode, 'FORMERR');
    assert.equal(server.cachedAnswers, 0);
    const off = fixtureServer({ answerCacheSize: 0 });
    await off.handle(encodeQuery(1, 'web.default.svc.cluster.local', TYPE.A), 'udp');
    assert.equal(off.cachedAnswers, 0);
  });

  it('answerKey folds only the name, and turns away what is not a plain query', async () => {
    const q = (name: string, type: number, o: { edns?: number } = {}) => encodeQuery(1, name, type, o);
    assert.equal(answerKey(q('Web.Default', TYPE.A), false), answerKey(q('web.default', TYPE.A), false));
    assert.notEqual(answerKey(q('web', TYPE.A), false), answerKey(q('web', TYPE.A), true));
    assert.notEqual(answerKey(q('web', TYPE.A), false), answerKey(q('web', TYPE.A, { edns: 1232 }), false));
    const resp = q('web', TYPE.A); resp[2] |= 0x80;
    assert.equal(answerKey(resp, false), -1);
    const v1 = q('web', TYPE.A, { edns: 1232 }); v1[v1.length - 5] = 1; // EDNS version 1: BADVERS, full parse
    assert.equal(answerKey(v1, false), -1);
    assert.equal(answerKey(Buffer.concat([q('web', TYPE.A), Buffer.from([0])]), false), -1, 'trailing bytes');
    // TYPE 65 (0x0041) and 97 (0x0061) look like 'A' and 'a': only the name is folded.
    const index = new MemoryIndex();
    index.addNamespace('default');
    const server = fixtureServer({ index });
    await server.handle(q('x.default.svc.cluster.local', 65), 'udp');
    await server.handle(q('x.default.svc.cluster.local', 97), 'udp');
    assert.equal(server.cachedAnswers, 2);
    // A hash collision must not serve another question's answer: a cache whose entries all
    // share one hash still answers each question with its own record.
    const cache = new AnswerCache(10);
    const a = q('a.example', TYPE.A), b = q('b.example', TYPE.A);
    answerKey(a, false); cache.put(7, a, 1, { buf: Buffer.from('A'), qEnd: 0, plugin: '' });
    answerKey(b, false);
    assert.equal(cache.get(7, b, 1), undefined);
    answerKey(a, false);
    assert.equal(cache.get(7, a, 1)?.buf.toString(), 'A');
  });
});

describe('dns cache', () => {
  const answer = (ttl: number, rcode = 'NOERROR', soaMin = 20) => dnsPacket.encode({
    type: 'response', id: 1, questions: [{ name: 'a.example', type: 'A' }], flags: rcode === 'NXDOMAIN' ? 3 : rcode === 'SERVFAIL' ? 2 : 0,
    answers: rcode === 'NOERROR' ? [{ name: 'a.example', type: 'A', ttl, data: '192.0.2.1' }] : [],
    authorities: rcode === 'NOERROR' ? [] : [{ name: 'example', type: 'SOA', ttl, data: { mname: 'n', rname: 'h', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: soaMin } }],
  } as dnsPacket.Packet);
  const qbytes = (name: string) => encodeQuery(0, name, TYPE.A).subarray(12);

  it('ages TTLs and expires entries at the capped TTL', () => {
    let now = 1_000_000;
    const c = new DnsCache({ maxTtl: 30, maxNegativeTtl: 30, capacity: 10, now: () => now });
    const k = DnsCache.key('a.example', TYPE.A, 1, false, false);
    assert.equal(c.put(k, answer(100)), true);
    now += 10_000;
    const hit = c.get(k, 99, qbytes('A.EXAMPLE'))!;
    assert.equal(hit.kind, 'success');
    const m = decode(hit.msg);
    assert.equal(m.id, 99);
    assert.equal(m.questions?.[0].name, 'A.EXAMPLE');
    assert.equal((m.answers?.[0] as { ttl: number }).ttl, 20);
    now += 21_000;
    assert.equal(c.get(k, 1, qbytes('a.example')), undefined);
    assert.deepEqual(c.size, { success: 0, denial: 0 });
  });

  it('caches NXDOMAIN for the SOA minimum; not SERVFAIL; evicts at capacity', () => {
    let now = 0;
    const c = new DnsCache({ maxTtl: 30, maxNegativeTtl: 30, capacity: 2, now: () => now });
    assert.equal(c.put('nx', answer(60, 'NXDOMAIN', 5)), true);
    now += 6000;
    assert.equal(c.get('nx', 1, Buffer.alloc(0)), undefined, 'gone after min(SOA ttl, minimum)');
    assert.equal(c.put('sf', answer(60, 'SERVFAIL')), false);
    for (const k of ['a', 'b', 'c']) c.put(k, answer(30));
    assert.deepEqual(c.size, { success: 2, denial: 0 });
    assert.equal(c.get('a', 1, Buffer.alloc(0)), undefined, 'the oldest went first');
  });
});

describe('dns config parsing and http', () => {
  it('parses listen addresses, upstreams and resolv.conf', () => {
    assert.deepEqual(parseListen('127.0.0.1:53'), { host: '127.0.0.1', port: 53 });
    assert.deepEqual(parseListen('[::1]:5353'), { host: '::1', port: 5353 });
    assert.deepEqual(parseListen(':53'), { host: '', port: 53 });
    assert.throws(() => parseListen('nope'));
    assert.equal(parseUpstream('10.0.0.2').label, '10.0.0.2:53');
    assert.equal(parseUpstream('[fd00::2]:5353').label, '[fd00::2]:5353');
    assert.throws(() => parseUpstream('dns.example.com'));
    const ups = parseResolvConf('# c\nsearch x\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\noptions edns0\nnameserver bogus\n');
    assert.deepEqual(ups.map((u) => u.label), ['127.0.0.53:53', '[fe80::1]:53']);
  });

  it('serves /health, /ready (503 until synced) and /metrics', async () => {
    let synced = false;
    const metrics = new DnsMetrics();
    const http = await startHttp([parseListen('127.0.0.1:0')], { metrics: () => metrics.render(), notReady: () => (synced ? [] : ['kubernetes']) });
    try {
      const base = `http://127.0.0.1:${http.addresses[0].port}`;
      assert.equal(await (await fetch(`${base}/health`)).text(), 'OK');
      const notReady = await fetch(`${base}/ready`);
      assert.equal(notReady.status, 503);
      assert.equal(await notReady.text(), 'kubernetes');
      synced = true;
      assert.equal((await fetch(`${base}/ready`)).status, 200);
      const m = await fetch(`${base}/metrics`);
      assert.match(m.headers.get('content-type') ?? '', /text\/plain; version=0\.0\.4/);
      assert.match(await m.text(), /# TYPE coredns_dns_requests_total counter/);
      assert.equal((await fetch(`${base}/nope`)).status, 404);
    } finally {
      await http.close();
    }
  });
});
