// Every record of the Kubernetes DNS specification (1.1.0) and CoreDNS's negative answers,
// asked on the wire of a DnsServer over the fixture cluster (see dns-fixtures.ts for the
// address plan) and read back with dns-packet. Forwarding is off here: outside names are REFUSED.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ask, fixtureIndex, fixtureServer, makeService, makeSlice, rrText, TEST_CONFIG } from './dns-fixtures.js';
import { MemoryIndex, stripEndpointSlice, stripService } from '../../src/dns/records.js';
import { podLabelToIP, resolve, reverseName, reverseNameToIP } from '../../src/dns/resolver.js';
import { CLASS_IN, TYPE } from '../../src/dns/wire.js';

const Z = 'cluster.local';
const SOA = `${Z} 15 SOA ns.dns.${Z} hostmaster.${Z} 7200 1800 86400 15`;

interface Row {
  name: string;
  type: string;
  rcode?: string;
  answer?: string[];
  /** Default: the SOA for negative answers, nothing otherwise. */
  authority?: string[];
  additional?: string[];
}

const nx = (name: string, type = 'A'): Row => ({ name, type, rcode: 'NXDOMAIN', answer: [] });
const nodata = (name: string, type = 'A'): Row => ({ name, type, rcode: 'NOERROR', answer: [] });

const svc = (s: string, ns = 'default') => `${s}.${ns}.svc.${Z}`;

const rows: Row[] = [
  // 2.2 schema version
  { name: `dns-version.${Z}`, type: 'TXT', answer: [`dns-version.${Z} 28800 TXT "1.1.0"`] },
  nodata(`dns-version.${Z}`),
  // 2.3.1 A/AAAA for a ClusterIP Service, both families
  { name: svc('web'), type: 'A', answer: [`${svc('web')} 30 A 10.96.0.20`] },
  { name: svc('web'), type: 'AAAA', answer: [`${svc('web')} 30 AAAA fd00:10:96::14`] },
  { name: svc('kubernetes'), type: 'A', answer: [`${svc('kubernetes')} 30 A 10.96.0.1`] },
  nodata(svc('kubernetes'), 'AAAA'),
  nodata(svc('v6only'), 'A'),
  { name: svc('v6only'), type: 'AAAA', answer: [`${svc('v6only')} 30 AAAA fd00:10:96::15`] },
  { name: svc('web', 'other'), type: 'A', answer: [`${svc('web', 'other')} 30 A 10.96.1.20`] },
  // case-insensitive, answers keep the query's spelling
  { name: `WEB.Default.SVC.Cluster.LOCAL`, type: 'A', answer: [`WEB.Default.SVC.Cluster.LOCAL 30 A 10.96.0.20`] },
  nodata(svc('web'), 'TXT'),
  nodata(svc('web'), 'MX'),
  // 2.3.2 SRV for named ports of a ClusterIP Service; the Service's addresses in additional
  {
    name: `_http._tcp.${svc('web')}`, type: 'SRV', answer: [`_http._tcp.${svc('web')} 30 SRV 0 100 80 ${svc('web')}`],
    additional: [`${svc('web')} 30 A 10.96.0.20`, `${svc('web')} 30 AAAA fd00:10:96::14`],
  },
  {
    name: `_HTTPS._TCP.${svc('kubernetes')}`, type: 'SRV', answer: [`_HTTPS._TCP.${svc('kubernetes')} 30 SRV 0 100 443 ${svc('kubernetes')}`],
    additional: [`${svc('kubernetes')} 30 A 10.96.0.1`],
  },
  // CoreDNS: without port labels, SRV lists every port (unnamed ones too)
  {
    name: svc('web'), type: 'SRV',
    answer: [80, 9090, 8443].map((p) => `${svc('web')} 30 SRV 0 33 ${p} ${svc('web')}`),
    additional: [`${svc('web')} 30 A 10.96.0.20`, `${svc('web')} 30 AAAA fd00:10:96::14`],
  },
  nx(`_nope._tcp.${svc('web')}`, 'SRV'),
  nx(`_http._udp.${svc('web')}`, 'SRV'),
  // CoreDNS answers address queries on port names with the Service's addresses
  { name: `_http._tcp.${svc('web')}`, type: 'A', answer: [`_http._tcp.${svc('web')} 30 A 10.96.0.20`] },
  // 2.3.3 PTR for ClusterIPs, IPv4 and nibble IPv6
  { name: '20.0.96.10.in-addr.arpa', type: 'PTR', answer: [`20.0.96.10.in-addr.arpa 30 PTR ${svc('web')}`] },
  { name: reverseName('fd00:10:96::14'), type: 'PTR', answer: [`${reverseName('fd00:10:96::14')} 30 PTR ${svc('web')}`] },
  { name: '10.0.96.10.in-addr.arpa', type: 'PTR', answer: [`10.0.96.10.in-addr.arpa 30 PTR ${svc('kube-dns', 'kube-system')}`] },
  // 2.4.1 headless: every ready endpoint, per family; per-hostname records
  {
    name: svc('headless'), type: 'A',
    answer: [`${svc('headless')} 30 A 10.244.1.10`, `${svc('headless')} 30 A 10.244.1.11`, `${svc('headless')} 30 A 10.244.2.12`],
  },
  { name: svc('headless'), type: 'AAAA', answer: [`${svc('headless')} 30 AAAA fd00:10:244:1::a`] },
  { name: `web-0.${svc('headless')}`, type: 'A', answer: [`web-0.${svc('headless')} 30 A 10.244.1.10`] },
  { name: `web-0.${svc('headless')}`, type: 'AAAA', answer: [`web-0.${svc('headless')} 30 AAAA fd00:10:244:1::a`] },
  { name: `web-1.${svc('headless')}`, type: 'A', answer: [`web-1.${svc('headless')} 30 A 10.244.1.11`] },
  nodata(`web-1.${svc('headless')}`, 'AAAA'),
  // an endpoint without hostname is named by its address (CoreDNS)
  { name: `10-244-2-12.${svc('headless')}`, type: 'A', answer: [`10-244-2-12.${svc('headless')} 30 A 10.244.2.12`] },
  nx(`web-3.${svc('headless')}`), // not ready
  nx(`nobody.${svc('headless')}`),
  // endpoint names work for ClusterIP Services' endpoints too (CoreDNS)
  { name: `10-244-1-30.${svc('web')}`, type: 'A', answer: [`10-244-1-30.${svc('web')} 30 A 10.244.1.30`] },
  // no ready endpoint at all: NXDOMAIN (spec 2.4.1)
  nx(svc('unready')),
  nx(svc('unready'), 'AAAA'),
  nx(svc('unready'), 'SRV'),
  // an endpoint without ports still has its address; SRV has nothing to say
  { name: svc('noports'), type: 'A', answer: [`${svc('noports')} 30 A 10.244.3.5`] },
  nodata(svc('noports'), 'SRV'),
  // 2.4.2 SRV for a headless Service: one per ready endpoint (and hostname) × named port
  {
    name: `_http._tcp.${svc('headless')}`, type: 'SRV',
    answer: ['web-0', 'web-1', '10-244-2-12'].map((h) => `_http._tcp.${svc('headless')} 30 SRV 0 33 80 ${h}.${svc('headless')}`),
    additional: [
      `web-0.${svc('headless')} 30 A 10.244.1.10`, `web-1.${svc('headless')} 30 A 10.244.1.11`,
      `10-244-2-12.${svc('headless')} 30 A 10.244.2.12`, `web-0.${svc('headless')} 30 AAAA fd00:10:244:1::a`,
    ],
  },
  {
    name: `_dns._udp.${svc('headless')}`, type: 'SRV',
    answer: ['web-0', 'web-1', '10-244-2-12'].map((h) => `_dns._udp.${svc('headless')} 30 SRV 0 33 53 ${h}.${svc('headless')}`),
    additional: [
      `web-0.${svc('headless')} 30 A 10.244.1.10`, `web-1.${svc('headless')} 30 A 10.244.1.11`,
      `10-244-2-12.${svc('headless')} 30 A 10.244.2.12`, `web-0.${svc('headless')} 30 AAAA fd00:10:244:1::a`,
    ],
  },
  nx(`_dns._tcp.${svc('headless')}`, 'SRV'),
  // 2.4.3 PTR for ready endpoints (IPv4 and IPv6); named by hostname or by address
  { name: '10.1.244.10.in-addr.arpa', type: 'PTR', answer: [`10.1.244.10.in-addr.arpa 30 PTR web-0.${svc('headless')}`] },
  { name: '12.2.244.10.in-addr.arpa', type: 'PTR', answer: [`12.2.244.10.in-addr.arpa 30 PTR 10-244-2-12.${svc('headless')}`] },
  { name: reverseName('fd00:10:244:1::a'), type: 'PTR', answer: [`${reverseName('fd00:10:244:1::a')} 30 PTR web-0.${svc('headless')}`] },
  { name: '30.1.244.10.in-addr.arpa', type: 'PTR', answer: [`30.1.244.10.in-addr.arpa 30 PTR 10-244-1-30.${svc('web')}`] },
  // reverse names with no record fall through to forwarding: REFUSED with forwarding off
  { name: '13.2.244.10.in-addr.arpa', type: 'PTR', rcode: 'REFUSED', answer: [], authority: [] },
  { name: '99.99.99.10.in-addr.arpa', type: 'PTR', rcode: 'REFUSED', answer: [], authority: [] },
  // 2.5 ExternalName → CNAME (the target is outside the zone; forwarding is off, so it stays alone)
  { name: svc('ext'), type: 'A', answer: [`${svc('ext')} 30 CNAME www.example.com`] },
  { name: svc('ext'), type: 'AAAA', answer: [`${svc('ext')} 30 CNAME www.example.com`] },
  { name: svc('ext'), type: 'CNAME', answer: [`${svc('ext')} 30 CNAME www.example.com`] },
  nodata(svc('ext'), 'SRV'),
  nx(`x.${svc('ext')}`),
  // an ExternalName inside the zone is followed
  { name: svc('alias'), type: 'A', answer: [`${svc('alias')} 30 CNAME ${svc('web')}`, `${svc('web')} 30 A 10.96.0.20`] },
  // 2.6 pod records, "verified": a pod with that address must exist in that namespace
  { name: `10-244-1-10.default.pod.${Z}`, type: 'A', answer: [`10-244-1-10.default.pod.${Z} 30 A 10.244.1.10`] },
  nodata(`10-244-1-10.default.pod.${Z}`, 'AAAA'),
  { name: `fd00-10-244-1--a.default.pod.${Z}`, type: 'AAAA', answer: [`fd00-10-244-1--a.default.pod.${Z} 30 AAAA fd00:10:244:1::a`] },
  { name: `10-244-2-20.other.pod.${Z}`, type: 'A', answer: [`10-244-2-20.other.pod.${Z} 30 A 10.244.2.20`] },
  nx(`10-244-1-10.other.pod.${Z}`),
  nx(`1-2-3-4.default.pod.${Z}`),
  nx(`10-244-01-10.default.pod.${Z}`),
  nx(`a.10-244-1-10.default.pod.${Z}`),
  // the tree above the records: namespaces, svc/pod, the apex
  nodata(`default.svc.${Z}`),
  nodata(`empty.svc.${Z}`),
  nodata(`default.pod.${Z}`),
  nx(`nons.svc.${Z}`),
  nx(svc('web', 'nons')),
  nx(svc('nothere')),
  nx(`a.b.c.${svc('web')}`),
  nodata(`svc.${Z}`),
  nodata(`pod.${Z}`),
  nx(`foo.${Z}`),
  nodata(Z),
  { name: Z, type: 'SOA', answer: [`${Z} 30 SOA ns.dns.${Z} hostmaster.${Z} 7200 1800 86400 15`] },
  { name: Z, type: 'NS', answer: [`${Z} 30 NS ns.dns.${Z}`], additional: [`ns.dns.${Z} 30 A 10.96.0.10`, `ns.dns.${Z} 30 AAAA fd00:10:96::a`] },
  { name: `ns.dns.${Z}`, type: 'A', answer: [`ns.dns.${Z} 30 A 10.96.0.10`] },
  // outside the cluster with forwarding off
  { name: 'example.com', type: 'A', rcode: 'REFUSED', answer: [], authority: [] },
];

describe('dns resolver: the specification, row by row', () => {
  const server = fixtureServer();
  for (const r of rows) {
    it(`${r.name} ${r.type} → ${r.rcode ?? 'NOERROR'} ${r.answer?.length ? r.answer.length + ' answer(s)' : ''}`, async () => {
      const { msg } = await ask(server, r.name, r.type);
      const rcode = r.rcode ?? 'NOERROR';
      assert.equal(msg.rcode, rcode);
      assert.deepEqual((msg.answers ?? []).map(rrText).sort(), [...(r.answer ?? [])].sort());
      const negative = (r.answer ?? []).length === 0 && (rcode === 'NOERROR' || rcode === 'NXDOMAIN');
      assert.deepEqual((msg.authorities ?? []).map(rrText), r.authority ?? (negative ? [SOA] : []));
      assert.deepEqual((msg.additionals ?? []).map(rrText).sort(), [...(r.additional ?? [])].sort());
      // authoritative for its zone; the question is echoed exactly
      assert.equal(msg.flag_aa, rcode !== 'REFUSED');
      assert.equal(msg.questions?.[0].name, r.name);
      assert.equal(msg.id, 4242);
    });
  }
});

describe('dns resolver: modes and helpers', () => {
  it('pods "insecure" answers any well-formed address; "disabled" none', () => {
    const idx = fixtureIndex();
    const q = { name: `1-2-3-4.default.pod.${Z}`, type: TYPE.A, class: CLASS_IN };
    const insecure = resolve(q, idx, { ...TEST_CONFIG, podMode: 'insecure' });
    assert.equal(insecure.kind === 'answer' && insecure.answer[0]?.type === 'A' && insecure.answer[0].address, '1.2.3.4');
    const disabled = resolve({ ...q, name: `10-244-1-10.default.pod.${Z}` }, idx, { ...TEST_CONFIG, podMode: 'disabled' });
    assert.equal(disabled.kind === 'answer' && disabled.rcode, 3);
  });

  it('honours a configured zone and TTLs', () => {
    const idx = fixtureIndex();
    const r = resolve({ name: 'web.default.svc.example.internal', type: TYPE.A, class: CLASS_IN }, idx,
      { ...TEST_CONFIG, zone: 'example.internal', ttl: 7 });
    assert.ok(r.kind === 'answer' && r.answer[0].ttl === 7);
    assert.equal(resolve({ name: svc('web'), type: TYPE.A, class: CLASS_IN }, idx, { ...TEST_CONFIG, zone: 'example.internal' }).kind, 'outside');
  });

  it('answers follow index changes at once (no caching of cluster answers)', async () => {
    const idx = new MemoryIndex();
    idx.addNamespace('default');
    const server = fixtureServer({ index: idx });
    assert.equal((await ask(server, svc('late'), 'A')).msg.rcode, 'NXDOMAIN');
    idx.upsertService(stripService(makeService('default', 'late', (s) => { s.spec.clusterIP = '10.96.5.5'; s.spec.clusterIPs = ['10.96.5.5']; })));
    assert.deepEqual((await ask(server, svc('late'), 'A')).msg.answers?.map(rrText), [`${svc('late')} 30 A 10.96.5.5`]);
    idx.upsertSlice(stripEndpointSlice(makeSlice('default', 'late-1', 'late', 'IPv4', [{ ip: '10.244.9.9', hostname: 'h' }])));
    assert.equal((await ask(server, `h.${svc('late')}`, 'A')).msg.rcode, 'NOERROR');
    idx.deleteSlice('default', 'late-1');
    assert.equal((await ask(server, `h.${svc('late')}`, 'A')).msg.rcode, 'NXDOMAIN');
    idx.deleteService('default', 'late');
    assert.equal((await ask(server, svc('late'), 'A')).msg.rcode, 'NXDOMAIN');
  });

  it('converts pod labels and reverse names', () => {
    assert.equal(podLabelToIP('10-244-1-10'), '10.244.1.10');
    assert.equal(podLabelToIP('fd00-10-244-1--a'), 'fd00:10:244:1::a');
    assert.equal(podLabelToIP('10-244-1'), undefined);
    assert.equal(reverseNameToIP('4.3.2.1.in-addr.arpa'), '1.2.3.4');
    assert.equal(reverseNameToIP('3.2.1.in-addr.arpa'), undefined);
    assert.equal(reverseNameToIP(reverseName('fd00::1')), 'fd00::1');
    assert.equal(reverseName('fd00::1'), `1.${'0.'.repeat(27)}0.0.d.f.ip6.arpa`);
  });
});
