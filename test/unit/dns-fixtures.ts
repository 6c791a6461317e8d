// A fixed cluster for DNS tests, built from API-shaped objects through the same strip
// functions the informers use, and helpers to ask a DnsServer questions on the wire and read
// the answers with an independent decoder (dns-packet).
//
// Address plan (zone cluster.local; services 10.96.0.0/16 + fd00:10:96::/112; pods
// 10.244.0.0/16 + fd00:10:244::/56):
//   kube-system/kube-dns   ClusterIP 10.96.0.10, fd00:10:96::a     dns 53/UDP, dns-tcp 53/TCP
//   default/kubernetes     ClusterIP 10.96.0.1                     https 443/TCP
//   default/web            ClusterIP 10.96.0.20, fd00:10:96::14    http 80/TCP, metrics 9090/TCP, (unnamed) 8443/TCP
//                          endpoints 10.244.1.30 (ready)
//   default/v6only         ClusterIP fd00:10:96::15                http 80/TCP
//   default/headless       None  v4 slice: 10.244.1.10 web-0, 10.244.1.11 web-1, 10.244.2.12 (no
//                          hostname), 10.244.2.13 not ready; v6 slice: fd00:10:244:1::a web-0;
//                          ports http 80/TCP, dns 53/UDP
//   default/unready        None  only 10.244.3.1, not ready
//   default/noports        None  10.244.3.5, slice without ports
//   default/ext            ExternalName www.example.com
//   default/alias          ExternalName web.default.svc.cluster.local
//   other/web              ClusterIP 10.96.1.20                    http 80/TCP
//   pods: default/pod-a 10.244.1.10 + fd00:10:244:1::a; other/pod-b 10.244.2.20
//   namespaces: default, kube-system, other, empty

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import dnsPacket from 'dns-packet';
import { MemoryIndex, stripEndpointSlice, stripPod, stripService } from '../../src/dns/records.js';
import { defaultResolverConfig, type ResolverConfig } from '../../src/dns/resolver.js';
import { DnsServer } from '../../src/dns/server.js';
import { encodeQuery, TYPE } from '../../src/dns/wire.js';

type Obj = Record<string, any>;

export function makeService(namespace: string, name: string, tweak: (s: Obj) => void = () => undefined): Obj {
  const s: Obj = {
    apiVersion: 'v1', kind: 'Service', metadata: { namespace, name },
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.99', clusterIPs: ['10.96.0.99'], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] },
  };
  tweak(s);
  return s;
}

export const headless = (s: Obj) => { s.spec.clusterIP = 'None'; s.spec.clusterIPs = ['None']; };
export const ips = (...a: string[]) => (s: Obj) => { s.spec.clusterIP = a[0]; s.spec.clusterIPs = a; };

export interface EP { ip: string | string[]; hostname?: string; ready?: boolean }

export function makeSlice(namespace: string, name: string, service: string, addressType: 'IPv4' | 'IPv6', eps: EP[],
  ports: Array<{ name: string; protocol?: string; port: number }> | null = [{ name: 'http', protocol: 'TCP', port: 80 }]): Obj {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType,
    metadata: { namespace, name, labels: { 'kubernetes.io/service-name': service } },
    endpoints: eps.map((e) => ({
      addresses: Array.isArray(e.ip) ? e.ip : [e.ip], ...(e.hostname ? { hostname: e.hostname } : {}),
      conditions: { ready: e.ready ?? true },
    })),
    ...(ports ? { ports } : {}),
  };
}

export function makePod(namespace: string, name: string, podIPs: string[]): Obj {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { namespace, name }, status: { podIP: podIPs[0], podIPs: podIPs.map((ip) => ({ ip })) } };
}

export function fixtureIndex(): MemoryIndex {
  const idx = new MemoryIndex();
  for (const ns of ['default', 'kube-system', 'other', 'empty']) idx.addNamespace(ns);
  const services = [
    makeService('kube-system', 'kube-dns', (s) => {
      ips('10.96.0.10', 'fd00:10:96::a')(s);
      s.spec.ports = [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'dns-tcp', protocol: 'TCP', port: 53 }];
    }),
    makeService('default', 'kubernetes', (s) => { ips('10.96.0.1')(s); s.spec.ports = [{ name: 'https', protocol: 'TCP', port: 443 }]; }),
    makeService('default', 'web', (s) => {
      ips('10.96.0.20', 'fd00:10:96::14')(s);
      s.spec.ports = [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'metrics', protocol: 'TCP', port: 9090 }, { protocol: 'TCP', port: 8443 }];
    }),
    makeService('default', 'v6only', ips('fd00:10:96::15')),
    makeService('default', 'headless', (s) => { headless(s); s.spec.ports = [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'dns', protocol: 'UDP', port: 53 }]; }),
    makeService('default', 'unready', headless),
    makeService('default', 'noports', (s) => { headless(s); delete s.spec.ports; }),
    makeService('default', 'ext', (s) => { s.spec = { type: 'ExternalName', externalName: 'www.example.com' }; }),
    makeService('default', 'alias', (s) => { s.spec = { type: 'ExternalName', externalName: 'web.default.svc.cluster.local' }; }),
    makeService('other', 'web', ips('10.96.1.20')),
  ];
  for (const s of services) idx.upsertService(stripService(s));
  const slices = [
    makeSlice('default', 'web-abc', 'web', 'IPv4', [{ ip: '10.244.1.30' }]),
    makeSlice('default', 'headless-v4', 'headless', 'IPv4', [
      { ip: '10.244.1.10', hostname: 'web-0' }, { ip: '10.244.1.11', hostname: 'web-1' }, { ip: '10.244.2.12' },
      { ip: '10.244.2.13', hostname: 'web-3', ready: false },
    ], [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'dns', protocol: 'UDP', port: 53 }]),
    makeSlice('default', 'headless-v6', 'headless', 'IPv6', [{ ip: 'fd00:10:244:1::a', hostname: 'web-0' }],
      [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'dns', protocol: 'UDP', port: 53 }]),
    makeSlice('default', 'unready-1', 'unready', 'IPv4', [{ ip: '10.244.3.1', ready: false }]),
    makeSlice('default', 'noports-1', 'noports', 'IPv4', [{ ip: '10.244.3.5' }], null),
  ];
  for (const s of slices) idx.upsertSlice(stripEndpointSlice(s));
  idx.upsertPod(stripPod(makePod('default', 'pod-a', ['10.244.1.10', 'fd00:10:244:1::a'])));
  idx.upsertPod(stripPod(makePod('other', 'pod-b', ['10.244.2.20'])));
  return idx;
}

export const TEST_CONFIG: ResolverConfig = defaultResolverConfig({ ttl: 30, negativeTtl: 15 });

/** A server over the fixture with no sockets: tests call handle() directly. */
export function fixtureServer(over: Partial<ConstructorParameters<typeof DnsServer>[0]> = {}): DnsServer {
  return new DnsServer({ listen: [], resolver: TEST_CONFIG, index: fixtureIndex(), log: () => undefined, ...over });
}

/** dns-packet's decoder, with the fields its type definitions leave out. */
export type Decoded = dnsPacket.DecodedPacket & { rcode: string; opcode: string; flag_tc: boolean; flag_aa: boolean; flag_rd: boolean; flag_ra: boolean };
export const decode = (b: Buffer): Decoded => dnsPacket.decode(b) as Decoded;

const TYPE_CODES: Record<string, number> = { ...TYPE };

export async function ask(server: DnsServer, name: string, type: string, opts: { edns?: number; tcp?: boolean } = {}) {
  const q = encodeQuery(4242, name, TYPE_CODES[type], { edns: opts.edns });
  const resp = await server.handle(q, opts.tcp ? 'tcp' : 'udp');
  if (!resp) throw new Error('no response');
  return { raw: resp, msg: decode(resp) };
}

/** One record as text: "name TTL TYPE data", with data as dig would print it (no trailing dots). */
export function rrText(a: dnsPacket.Answer): string {
  const d = (a as { data?: unknown }).data as any;
  let data: string;
  switch (a.type) {
    case 'SRV': data = `${d.priority} ${d.weight} ${d.port} ${d.target}`; break;
    case 'TXT': data = (d as Buffer[]).map((b) => JSON.stringify(b.toString())).join(' '); break;
    case 'SOA': data = `${d.mname} ${d.rname} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`; break;
    case 'OPT': data = ''; break;
    default: data = String(d);
  }
  return `${a.name} ${(a as { ttl?: number }).ttl ?? 0} ${a.type} ${data}`.trim();
}

// ---- a stub upstream resolver ------------------------------------------------------------------

/** Sends one query over UDP to 127.0.0.1:port and resolves with the first answer. */
export function udpAsk(port: number, q: Buffer, timeoutMs = 3000): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => { s.close(); fail(new Error('no UDP answer')); }, timeoutMs);
    s.on('message', (m) => { clearTimeout(t); s.close(); ok(m); });
    s.send(q, port, '127.0.0.1');
  });
}

/**
 * A stub upstream resolver on 127.0.0.1 (UDP and TCP), never a real one: www.example.com A, a
 * TXT answer too big for 512 bytes at big.example.com, NXDOMAIN otherwise; it records what it is
 * asked. `relayTo` makes it forward everything to another server instead (a resolver that
 * loops); `udpDelayMs` holds UDP answers back, so a server's answer really comes later.
 */
export class StubUpstream {
  udp!: UdpSocket;
  tcp!: Server;
  port = 0;
  asked: string[] = [];
  relayTo = 0;

  constructor(private readonly udpDelayMs = 0) {}

  async start(): Promise<void> {
    this.udp = createSocket('udp4');
    await new Promise<void>((r) => this.udp.bind(0, '127.0.0.1', () => r()));
    this.port = this.udp.address().port;
    this.udp.on('message', (m, rinfo) => void this.answer(m).then((a) => {
      if (!a) return;
      if (this.udpDelayMs > 0) setTimeout(() => this.udp.send(a, rinfo.port, rinfo.address), this.udpDelayMs);
      else this.udp.send(a, rinfo.port, rinfo.address);
    }));
    this.tcp = createServer((s) => {
      let buf = Buffer.alloc(0);
      s.on('data', async (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
        const a = await this.answer(buf.subarray(2, 2 + buf.readUInt16BE(0)), true);
        if (a) { const l = Buffer.alloc(2); l.writeUInt16BE(a.length); s.end(Buffer.concat([l, a])); }
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => this.tcp.listen(this.port, '127.0.0.1', () => r()));
  }

  private async answer(m: Buffer, tcp = false): Promise<Buffer | undefined> {
    let q: dnsPacket.DecodedPacket;
    try { q = dnsPacket.decode(m); } catch { return undefined; }
    const question = q.questions?.[0];
    if (!question) return undefined;
    this.asked.push(`${question.name} ${question.type}${tcp ? ' tcp' : ''}`);
    if (this.relayTo) {
      try { return await udpAsk(this.relayTo, m, 1500); } catch { return undefined; }
    }
    const base = { type: 'response' as const, id: q.id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: q.questions };
    const soa = { name: 'example.com', type: 'SOA' as const, ttl: 60, data: { mname: 'ns.example.com', rname: 'h.example.com', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 20 } };
    const name = question.name.toLowerCase();
    if (name === 'www.example.com' && question.type === 'A') {
      return dnsPacket.encode({ ...base, answers: [{ name: question.name, type: 'A', ttl: 300, data: '192.0.2.53' }] });
    }
    if (name === 'big.example.com') {
      const answers = Array.from({ length: 20 }, (_, i) => ({ name: question.name, type: 'TXT' as const, ttl: 300, data: `${i}-${'x'.repeat(60)}` }));
      return dnsPacket.encode({ ...base, answers });
    }
    return dnsPacket.encode({ ...base, flags: base.flags | 3 /* NXDOMAIN */, authorities: [soa] });
  }

  async stop(): Promise<void> {
    this.udp.close();
    await new Promise((r) => this.tcp.close(r));
  }
}
