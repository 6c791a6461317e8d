// Builders for the proxy tests (STYLE.md item 9). One address plan for every proxy test:
//
//   nodes      node-a 198.18.0.2 / fd00:198:18::2 (this node, zone-a), node-b 198.18.0.3 (zone-b)
//   pods       10.244.1.0/24 on node-a, 10.244.2.0/24 on node-b; fd00:10:244:1::/64 on node-a
//   services   10.96.0.0/16, fd00:10:96::/112
//   outside    203.0.113.0/24; external IPs 192.0.2.0/24; load balancers 198.51.100.0/24
//
// makeService / makeSlice return API objects (as the informer would see them), tweaked by a
// callback, so each test names only the fields that matter.

import { FakeNft } from '../../src/net/nft-fake.js';
import { stripEndpointSlice, stripService, type ServiceRecord, type SliceRecord } from '../../src/proxy/model.js';
import { computeBase, computeService, defaultConfig, type ProxyConfig, type ServiceRules } from '../../src/proxy/rules.js';
import { planFull } from '../../src/proxy/sync.js';
import { trace, type Packet, type TraceOptions, type TraceResult } from '../../src/proxy/trace.js';

export const NODE = 'node-a';
export const NODE_IP = '198.18.0.2';
export const NODE_IP6 = 'fd00:198:18::2';
export const TABLE = 'pnC-unit';

export const config = (over: Partial<ProxyConfig> = {}): ProxyConfig =>
  defaultConfig(NODE, { table: TABLE, zone: 'zone-a', clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'], ...over });

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function makeService(namespace: string, name: string, tweak: (s: Obj) => void = () => undefined): Obj {
  const s: Obj = {
    apiVersion: 'v1', kind: 'Service',
    metadata: { namespace, name, uid: `uid-${name}`, resourceVersion: '1' },
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }] },
  };
  tweak(s);
  return s;
}

export interface EpSpec { ip: string; node?: string; ready?: boolean; serving?: boolean; terminating?: boolean; zones?: string[]; nodes?: string[] }

export function makeSlice(namespace: string, name: string, service: string, eps: EpSpec[], tweak: (s: Obj) => void = () => undefined): Obj {
  const v6 = eps.some((e) => e.ip.includes(':'));
  const s: Obj = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace, name, labels: { 'kubernetes.io/service-name': service }, resourceVersion: '1' },
    addressType: v6 ? 'IPv6' : 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready ?? true, ...(e.serving !== undefined ? { serving: e.serving } : {}), ...(e.terminating !== undefined ? { terminating: e.terminating } : {}) },
      ...(e.node ? { nodeName: e.node } : {}),
      ...(e.zones || e.nodes ? { hints: { ...(e.zones ? { forZones: e.zones.map((z) => ({ name: z })) } : {}), ...(e.nodes ? { forNodes: e.nodes.map((n) => ({ name: n })) } : {}) } } : {}),
    })),
  };
  tweak(s);
  return s;
}

export function svcRec(o: Obj): ServiceRecord {
  const r = stripService(o);
  if (!r.ok) throw new Error(r.error);
  return r.rec;
}
export function sliceRec(o: Obj): SliceRecord {
  const r = stripEndpointSlice(o);
  if (!r?.ok) throw new Error(r ? r.error : 'no record');
  return r.rec;
}

/** A fake loaded with a full sync of `services` (each with its slices). */
export function install(entries: Array<[Obj, Obj[]]>, cfg = config()): FakeNft {
  const rules = new Map<string, ServiceRules>();
  for (const [svc, slices] of entries) {
    const r = computeService(svcRec(svc), slices.map(sliceRec), cfg);
    if (r) rules.set(r.key, r);
  }
  const fake = new FakeNft('inet', cfg.table);
  fake.runSync(planFull(cfg.table, computeBase(cfg), rules, undefined, 0).tx);
  return fake;
}

export const pod = (src: string, dst: string, dport = 80, protocol: Packet['protocol'] = 'tcp'): Packet => ({ src, dst, dport, protocol, from: 'pod' });
export const fromNode = (dst: string, dport = 80, protocol: Packet['protocol'] = 'tcp'): Packet => ({ src: dst.includes(':') ? NODE_IP6 : NODE_IP, dst, dport, protocol, from: 'node' });
export const outside = (dst: string, dport = 80, protocol: Packet['protocol'] = 'tcp', src = '203.0.113.7'): Packet => ({ src, dst, dport, protocol, from: 'outside' });

export function run(fake: FakeNft, p: Packet, opts: Partial<TraceOptions> = {}): TraceResult {
  return trace(fake.ruleset!, p, { localAddresses: [NODE_IP, NODE_IP6], ...opts });
}
