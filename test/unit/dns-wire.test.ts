// The wire side of the DNS server: exact echo of questions, compression, EDNS0, truncation,
// every kind of malformed query, and a bounded fuzz run of random and mutated packets.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { ask, decode, fixtureIndex, fixtureServer, makeService, makeSlice } from './dns-fixtures.js';
import { stripEndpointSlice, stripService } from '../../src/dns/records.js';
import { encodeQuery, encodeResponse, parseQuery, readName, summarize, TYPE, udpLimit } from '../../src/dns/wire.js';

/** A query built by hand: header fields and raw bytes after the header. */
function raw(opts: { id?: number; flags?: number; qd?: number; an?: number; ns?: number; ar?: number }, body: number[] | Buffer): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(opts.id ?? 0x1234, 0);
  h.writeUInt16BE(opts.flags ?? 0x0100, 2);
  h.writeUInt16BE(opts.qd ?? 1, 4); h.writeUInt16BE(opts.an ?? 0, 6); h.writeUInt16BE(opts.ns ?? 0, 8); h.writeUInt16BE(opts.ar ?? 0, 10);
  return Buffer.concat([h, Buffer.from(body)]);
}
const qname = (...labels: string[]) => [...labels.flatMap((l) => [l.length, ...Buffer.from(l, 'latin1')]), 0];
const A_IN = [0, 1, 0, 1];
const OPT = (size = 1232, version = 0) => [0, 0, 41, size >> 8, size & 0xff, 0, version, 0, 0, 0, 0];

function withManyEndpoints(n: number) {
  const idx = fixtureIndex();
  idx.upsertService(stripService(makeService('default', 'big', (s) => { s.spec.clusterIP = 'None'; s.spec.clusterIPs = ['None']; })));
  const eps = Array.from({ length: n }, (_, i) => ({ ip: `10.244.${Math.floor(i / 200) + 10}.${(i % 200) + 1}`, hostname: `big-${i}` }));
  idx.upsertSlice(stripEndpointSlice(makeSlice('default', 'big-1', 'big', 'IPv4', eps)));
  return fixtureServer({ index: idx });
}

describe('dns wire: queries and answers', () => {
  const server = fixtureServer();

  it('echoes any question byte for byte (binary and dotted labels, case)', async () => {
    const label = Buffer.from([0x41, 0x2e, 0x00, 0xff, 0x5c, 0x20, 0x62]);
    const q = raw({}, [label.length, ...label, ...qname('WeB', 'Example')].concat(A_IN));
    const resp = await server.handle(q, 'udp');
    assert.ok(resp);
    assert.deepEqual(resp.subarray(12, q.length), q.subarray(12));
    assert.equal(resp.readUInt16BE(0), 0x1234);
    assert.equal(resp[3] & 0xf, 5, 'REFUSED: not a cluster name and forwarding is off');
  });

  it('compresses names: the headless SRV answer reuses the question', async () => {
    const { raw: resp, msg } = await ask(server, '_http._tcp.headless.default.svc.cluster.local', 'SRV');
    assert.equal(msg.answers?.length, 3);
    const uncompressed = dnsPacket.encode({ ...msg, type: 'response' } as dnsPacket.Packet).length;
    assert.ok(resp.length < uncompressed - 100, `${resp.length} bytes vs ${uncompressed} without compression`);
  });

  it('answers with an OPT record when asked with one, advertising its size', async () => {
    const { msg } = await ask(server, 'web.default.svc.cluster.local', 'A', { edns: 4096 });
    const opt = msg.additionals?.find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
    assert.equal(opt?.udpPayloadSize, 1232);
    const plain = await ask(server, 'web.default.svc.cluster.local', 'A');
    assert.equal(plain.msg.additionals?.length ?? 0, 0);
  });

  it('truncates UDP answers to 512 bytes without EDNS, to the client size with it; TCP gets everything', async () => {
    const big = withManyEndpoints(60);
    const name = 'big.default.svc.cluster.local';
    const small = await ask(big, name, 'A');
    assert.ok(small.raw.length <= 512);
    assert.equal(small.msg.flag_tc, true);
    assert.ok((small.msg.answers?.length ?? 0) > 0 && (small.msg.answers?.length ?? 0) < 60, 'as many records as fit');
    const edns = await ask(big, name, 'A', { edns: 4096 });
    assert.equal(edns.msg.flag_tc, false);
    assert.equal(edns.msg.answers?.length, 60);
    const tiny = await ask(big, name, 'A', { edns: 100 });
    assert.ok(tiny.raw.length <= 512 && tiny.raw.length > 400, 'a client size under 512 counts as 512');
    const tcp = await ask(big, name, 'A', { tcp: true });
    assert.equal(tcp.msg.flag_tc, false);
    assert.equal(tcp.msg.answers?.length, 60);
  });

  it('drops additional records that do not fit, without TC, when the answer fits', async () => {
    const big = withManyEndpoints(7);
    const { raw: resp, msg } = await ask(big, '_http._tcp.big.default.svc.cluster.local', 'SRV');
    assert.ok(resp.length <= 512);
    assert.equal(msg.flag_tc, false);
    assert.equal(msg.answers?.length, 7);
    assert.ok((msg.additionals?.length ?? 0) < 7, `${msg.additionals?.length} additional records`);
  });

  it('encodes a response dns-packet reads identically', () => {
    const buf = encodeResponse({
      id: 7, opcode: 0, rcode: 0, aa: true, rd: true, ra: true, question: { name: 'a.b', type: TYPE.TXT, class: 1 },
      answer: [{ name: 'a.b', ttl: 5, type: 'TXT', text: ['hello', 'wörld'] }, { name: 'a.b', ttl: 5, type: 'AAAA', address: 'fd00::1:2' }],
      authority: [], additional: [],
    });
    const m = decode(buf);
    assert.deepEqual((m.answers![0] as { data: Buffer[] }).data.map(String), ['hello', 'wörld']);
    assert.equal((m.answers![1] as { data: string }).data, 'fd00::1:2');
  });
});

describe('dns wire: malformed queries', () => {
  const server = fixtureServer();
  const rcodeOf = async (q: Buffer) => {
    const r = await server.handle(q, 'udp');
    return r === undefined ? 'dropped' : r[3] & 0xf;
  };
  const cases: Array<[string, Buffer, number | 'dropped']> = [
    ['empty', Buffer.alloc(0), 'dropped'],
    ['shorter than a header', Buffer.from([1, 2, 3, 4, 5]), 'dropped'],
    ['a response', raw({ flags: 0x8100 }, qname('web').concat(A_IN)), 'dropped'],
    ['no question', raw({ qd: 0 }, []), 1],
    ['two questions', raw({ qd: 2 }, [...qname('a'), ...A_IN, ...qname('b'), ...A_IN]), 1],
    ['question cut short', raw({}, qname('web').concat([0, 1])), 1],
    ['label past the end', raw({}, [10, 0x61, 0x62]), 1],
    ['forward compression pointer', raw({}, [0xc0, 14, 0, 0, 1, 0, 1]), 1],
    ['pointer to itself', raw({}, [0xc0, 12, 0, 1, 0, 1]), 1],
    ['reserved label type', raw({}, [0x40, 0x61, 0, 0, 1, 0, 1]), 1],
    ['name longer than 255', raw({}, Array.from({ length: 5 }, () => qname('x'.repeat(60)).slice(0, -1)).flat().concat([0], A_IN)), 1],
    ['trailing garbage', raw({}, qname('web').concat(A_IN, [1, 2, 3])), 1],
    ['answer count larger than the records', raw({ an: 1 }, qname('web').concat(A_IN)), 1],
    ['two OPT records', raw({ ar: 2 }, qname('web').concat(A_IN, OPT(), OPT())), 1],
    ['OPT not owned by the root', raw({ ar: 1 }, qname('web').concat(A_IN, [1, 0x61], OPT().slice(1))), 1],
    ['EDNS option past its record', raw({ ar: 1 }, qname('web').concat(A_IN, [0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 4, 0, 8, 0, 9])), 1],
    ['opcode STATUS', raw({ flags: 0x1100 }, qname('web').concat(A_IN)), 4],
    ['opcode UPDATE', raw({ flags: 0x2900 }, qname('web').concat(A_IN)), 4],
    ['EDNS version 1 (BADVERS: extended rcode 16)', raw({ ar: 1 }, qname('web').concat(A_IN, OPT(1232, 1))), 0],
  ];
  for (const [what, q, want] of cases) {
    it(`${what} → ${want === 'dropped' ? 'no answer' : ['NOERROR', 'FORMERR', '', '', 'NOTIMP'][want]}`, async () => {
      assert.equal(await rcodeOf(q), want);
      const r = await server.handle(q, 'udp');
      if (r) {
        assert.equal(r.readUInt16BE(0), 0x1234, 'the id is kept');
        assert.ok(r[2] & 0x80, 'QR set');
        summarize(r); // well-formed
      }
    });
  }

  it('BADVERS carries the extended rcode in its OPT record', async () => {
    const r = await server.handle(raw({ ar: 1 }, qname('web').concat(A_IN, OPT(1232, 1))), 'udp');
    assert.equal(summarize(r!).rcode, 16);
  });

  it('NOTIMP echoes the question it could read', async () => {
    const r = await server.handle(raw({ flags: 0x1100 }, qname('web').concat(A_IN)), 'udp');
    assert.equal(readName(r!, 12).name, 'web');
  });
});

describe('dns wire: fuzz (bounded)', () => {
  const server = fixtureServer();
  // A small deterministic generator, so a failure reproduces.
  let seed = 0x9e3779b9;
  const rnd = (n: number) => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
  const seeds = [
    encodeQuery(1, 'web.default.svc.cluster.local', TYPE.A),
    encodeQuery(2, '_http._tcp.headless.default.svc.cluster.local', TYPE.SRV, { edns: 4096 }),
    encodeQuery(3, '10.1.244.10.in-addr.arpa', TYPE.PTR),
    encodeQuery(4, 'example.com', TYPE.AAAA, { edns: 1232 }),
  ];

  it('no packet crashes the server or gets an unreadable answer; valid queries still answered after', async () => {
    let answered = 0;
    for (let i = 0; i < 3000; i++) {
      let pkt: Buffer;
      if (i % 3 === 0) {
        pkt = Buffer.from(Array.from({ length: rnd(80) }, () => rnd(256)));
        if (pkt.length > 2 && rnd(2)) pkt[2] &= 0x7f; // mostly queries, so parsing goes deep
      } else {
        pkt = Buffer.from(seeds[rnd(seeds.length)]);
        for (let k = rnd(4) + 1; k > 0; k--) {
          const op = rnd(3);
          if (op === 0 && pkt.length) pkt[rnd(pkt.length)] = rnd(256);
          else if (op === 1 && pkt.length) pkt = pkt.subarray(0, rnd(pkt.length));
          else pkt = Buffer.concat([pkt, Buffer.from([rnd(256)])]);
        }
      }
      const proto = rnd(2) ? 'udp' : 'tcp';
      const resp = await server.handle(pkt, proto);
      if (!resp) continue;
      answered++;
      const s = summarize(resp);
      assert.equal(s.qr, true);
      assert.equal(s.id, pkt.readUInt16BE(0));
      const p = parseQuery(pkt);
      if (proto === 'udp' && p.kind === 'query') assert.ok(resp.length <= udpLimit(p.query.edns));
    }
    assert.ok(answered > 1000, `${answered} answered`);
    const { msg } = await ask(server, 'web.default.svc.cluster.local', 'A');
    assert.equal(msg.answers?.length, 1);
  });
});
