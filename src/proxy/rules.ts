// The pure core of the proxy: Services + EndpointSlices → the desired nftables ruleset, in
// kube-proxy nftables mode's shape (pkg/proxy/nftables), all in one `inet` table, reshaped so that
// the number of chains does not grow with the number of Services (issue 5):
//
//   nat-prerouting / nat-output ─ jump services ─ daddr . l4proto . dport vmap @service-ips-vN
//                                             └─ (node address) l4proto . dport vmap @service-nodeports-vN
//     → clusterip-cluster-3-v4   (ClusterIP: masquerade from outside the pod network)  ┐ shared by every
//     → external-cluster-3-v4    (external, Cluster policy: masquerade)                │ service port with
//     → external-local-3-1-v4    (external, Local policy: pods and the node short-circuit)│ that many endpoints
//     → dnat-cluster-tcp-3-v4: meta l4proto tcp dnat to daddr . dport . numgen random mod 3 map @cluster-endpoints-tcp-v4
//   filter-input/forward/output ─ ct state new ─ endpoints-check ─ @no-endpoint-… → reject / drop
//   nat-postrouting ─ masquerading: hairpin (@hairpin-vN: saddr . daddr of local endpoints), then
//                     masquerade what was marked by mark-for-masquerade
//
// A Service is map elements only — its dispatch elements and one element per endpoint in an
// endpoints map keyed by (entry address, protocol, port, index) — so a change to it is an
// element-only transaction and the table holds a few dozen chains whatever its size. nft 1.0.6
// loads every chain of the table before it applies any element or rule command, and the kernel
// names and binds sets in time that grows with their number, so per-Service chains or sets would
// make every sync grow with the table (docs/benchmarks.md `## proxy`). Services with ClientIP
// affinity keep kube-proxy's per-Service and per-endpoint chains (the affinity sets need them).
//
// Being map elements only also lets a full sync load them without nft's parser: sync.ts splits
// it into the table's structure (through nft) and all elements in one nf_tables netlink batch;
// the element types here are those src/net/nftnl.ts can encode (addresses, protocols, ports, the
// numgen index, verdicts, comments) — a new set type must be added there too, or full syncs
// fall back to nft.
//
// Per-packet cost is a few map lookups whatever the number of Services. Nothing here does I/O:
// computeBase(config) and computeService(service, slices, config) return plain data that
// sync.ts turns into transactions.

import { createHash } from 'node:crypto';
import { NAME_LENGTH_MAX, type NftChain } from '../net/nft.js';
import { categorize, endpointString, endpointsFor, portPolicy, type Endpoint } from './endpoints.js';
import { familyOf, type Family, type ServicePortRecord, type ServiceRecord, type SliceRecord } from './model.js';

export const DEFAULT_TABLE = 'podnet-proxy';
/** kube-proxy's default masquerade bit (14). */
export const DEFAULT_MASQUERADE_MARK = 0x4000;

export interface ProxyConfig {
  /** The nftables table (inet family). Default podnet-proxy. */
  table: string;
  nodeName: string;
  /** The node's topology.kubernetes.io/zone label, for topology hints. */
  zone?: string;
  /** The pod network. Service traffic from elsewhere is masqueraded; empty = never (as kube-proxy without a local detector). */
  clusterCIDRs: string[];
  /** Addresses that accept NodePorts; empty = every local address of the node (fib daddr type local). */
  nodePortAddresses: string[];
  masqueradeMark: number;
}

export function defaultConfig(nodeName: string, over: Partial<ProxyConfig> = {}): ProxyConfig {
  return { table: DEFAULT_TABLE, nodeName, clusterCIDRs: [], nodePortAddresses: [], masqueradeMark: DEFAULT_MASQUERADE_MARK, ...over };
}

export interface RuleSpec { rule: string; comment?: string }
export interface ChainSpec { name: string; comment?: string; rules: RuleSpec[]; base?: Pick<NftChain, 'type' | 'hook' | 'priority'> }
export interface SetSpec { kind: 'set' | 'map'; name: string; type: string; flags?: string[]; timeout?: number; comment?: string }
export interface ElementSpec { set: string; key: string[]; value?: string; comment?: string }

/** What the proxy programmed for one service port of one family: for conntrack cleanup, the tracer and logs. */
export interface ServicePortInfo {
  /** "ns/name:port" (upstream's ServicePortName). */
  name: string;
  family: Family;
  protocol: ServicePortRecord['protocol'];
  port: number;
  nodePort: number;
  clusterIP: string;
  externalIPs: string[];
  loadBalancerIPs: string[];
  /** Endpoints this node DNATs to ("ip:port"). */
  endpoints: string[];
  hasEndpoints: boolean;
}

/**
 * Everything one Service contributes. `chains` and sets are owned by it alone; `sharedChains`
 * (named for what they do, e.g. dnat-cluster-3-v4, same content for every user) and map
 * elements are keyed globally and claimed by every Service that uses them.
 */
export interface ServiceRules {
  key: string;
  chains: ChainSpec[];
  sharedChains: ChainSpec[];
  sets: SetSpec[];
  elements: ElementSpec[];
  ports: ServicePortInfo[];
}

/** The fixed part of the table: base chains, helper chains, dispatch maps. */
export interface BaseRules {
  comment: string;
  chains: ChainSpec[];
  sets: SetSpec[];
  elements: ElementSpec[];
}

// ---- names --------------------------------------------------------------------------------------

export const CH = {
  services: 'services',
  endpointsCheck: 'endpoints-check',
  reject: 'reject-chain',
  masquerading: 'masquerading',
  markMasq: 'mark-for-masquerade',
} as const;

export const fam = (f: Family) => (f === 4 ? 'v4' : 'v6');
export const MAPS = {
  serviceIPs: (f: Family) => `service-ips-${fam(f)}`,
  serviceNodePorts: (f: Family) => `service-nodeports-${fam(f)}`,
  noEndpointServices: (f: Family) => `no-endpoint-services-${fam(f)}`,
  noEndpointNodePorts: (f: Family) => `no-endpoint-nodeports-${fam(f)}`,
  nodePortIPs: (f: Family) => `nodeport-ips-${fam(f)}`,
  /** (entry address, port, index) → endpoint address . port; nodeport: (node port, index). One per protocol (see computeBase). */
  endpoints: (kind: EndpointKind, f: Family, nodePort: boolean, p: L4) => `${nodePort ? 'nodeport-' : ''}${kind}-endpoints-${p}-${fam(f)}`,
  /** saddr . daddr of this node's endpoints: a pod that reached itself through a Service. */
  hairpin: (f: Family) => `hairpin-${fam(f)}`,
};

export type EndpointKind = 'cluster' | 'local';
export type L4 = 'tcp' | 'udp' | 'sctp';
const L4S: readonly L4[] = ['tcp', 'udp', 'sctp'];

/** The shared chains, named for what they do and how many endpoints they choose among. */
export const SHARED = {
  dnat: (kind: EndpointKind, n: number, f: Family, nodePort: boolean, p: L4) => `dnat-${nodePort ? 'nodeport-' : ''}${kind}-${p}-${n}-${fam(f)}`,
  clusterIP: (kind: EndpointKind, n: number, f: Family, p: L4) => `clusterip-${kind}-${p}-${n}-${fam(f)}`,
  externalCluster: (n: number, f: Family, nodePort: boolean, p: L4) => `${nodePort ? 'nodeport-' : ''}external-cluster-${p}-${n}-${fam(f)}`,
  externalLocal: (n: number, m: number, f: Family, nodePort: boolean, p: L4) => `${nodePort ? 'nodeport-' : ''}external-local-${p}-${n}-${m}-${fam(f)}`,
};

const PREFIX_MAX = 16;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The first 8 base32 characters of sha256(name), as kube-proxy prefixes its chain names. */
export function nameHash(name: string): string {
  const b = createHash('sha256').update(name).digest();
  let bits = 0, value = 0, out = '';
  for (let i = 0; out.length < 8; i++) {
    value = (value << 8) | b[i]!;
    bits += 8;
    while (bits >= 5 && out.length < 8) { out += BASE32[(value >>> (bits - 5)) & 31]; bits -= 5; }
    value &= (1 << bits) - 1;
  }
  return out;
}

function hashAndTruncate(name: string): string {
  const s = `${nameHash(name)}-${name}`;
  const max = NAME_LENGTH_MAX - PREFIX_MAX;
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

const ipX = (f: Family) => (f === 4 ? 'ip' : 'ip6');
const proto = (p: ServicePortRecord['protocol']) => p.toLowerCase();

/** "ns/name/tcp/http" (tcp6 for the IPv6 side of a dual-stack Service); the port number when it has no name. */
export function servicePortBase(svc: { namespace: string; name: string }, port: ServicePortRecord, f: Family): string {
  return `${svc.namespace}/${svc.name}/${proto(port.protocol)}${f === 6 ? '6' : ''}/${port.name || port.port}`;
}

export const chainNames = (base: string) => {
  const h = hashAndTruncate(base);
  return { cluster: `service-${h}`, local: `local-${h}`, external: `external-${h}` };
};

export function endpointNames(base: string, ep: { ip: string; port: number }): { chain: string; affinity: string } {
  const h = hashAndTruncate(`${base}__${ep.ip.replace(/:/g, '.')}/${ep.port}`);
  return { chain: `endpoint-${h}`, affinity: `affinity-${h}` };
}

/** Service and endpoint chains carry a '/', the fixed chains never do (as upstream tells them apart). */
export const isServiceChain = (name: string) => name.includes('/');
export const isAffinitySet = (name: string) => name.startsWith('affinity-');

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

function addrList(cidrs: string[]): string {
  return cidrs.length === 1 ? cidrs[0]! : `{ ${cidrs.join(', ')} }`;
}

// ---- the fixed part -----------------------------------------------------------------------------

export function computeBase(cfg: ProxyConfig): BaseRules {
  const mark = hex(cfg.masqueradeMark);
  const chains: ChainSpec[] = [];
  const base = (name: string, type: 'filter' | 'nat', hook: NftChain['hook'], priority: number | string, rules: RuleSpec[]) =>
    chains.push({ name, base: { type, hook, priority }, rules });
  // Filter chains run before DNAT (dstnat - 10), so they see the service address a packet was sent to.
  for (const hook of ['input', 'forward', 'output'] as const) {
    base(`filter-${hook}`, 'filter', hook, -110, [{ rule: `ct state new jump ${CH.endpointsCheck}` }]);
  }
  base('nat-prerouting', 'nat', 'prerouting', 'dstnat', [{ rule: `jump ${CH.services}` }]);
  // nft accepts the name dstnat only on prerouting; -100 is the same priority on output.
  base('nat-output', 'nat', 'output', -100, [{ rule: `jump ${CH.services}` }]);
  base('nat-postrouting', 'nat', 'postrouting', 'srcnat', [{ rule: `jump ${CH.masquerading}` }]);

  const sets: SetSpec[] = [];
  const elements: ElementSpec[] = [];
  const services: RuleSpec[] = [];
  const check: RuleSpec[] = [];
  const explicit = cfg.nodePortAddresses.length > 0;
  for (const f of [4, 6] as const) {
    const addr = f === 4 ? 'ipv4_addr' : 'ipv6_addr';
    const x = ipX(f);
    sets.push(
      { kind: 'map', name: MAPS.serviceIPs(f), type: `${addr} . inet_proto . inet_service : verdict`, comment: `ClusterIP, ExternalIP and LoadBalancer IP traffic (IP${fam(f)})` },
      { kind: 'map', name: MAPS.serviceNodePorts(f), type: 'inet_proto . inet_service : verdict', comment: `NodePort traffic (IP${fam(f)})` },
      { kind: 'map', name: MAPS.noEndpointServices(f), type: `${addr} . inet_proto . inet_service : verdict`, comment: `reject or drop traffic to services without usable endpoints (IP${fam(f)})` },
      { kind: 'map', name: MAPS.noEndpointNodePorts(f), type: 'inet_proto . inet_service : verdict', comment: `reject or drop traffic to NodePorts without usable endpoints (IP${fam(f)})` },
    );
    // typeof, because the numgen part has no type of its own. One map per protocol: nft 1.0.6
    // cannot read back a value of "ip daddr . th dport" from the kernel ("conflicting
    // protocols"), and a value of "ip daddr . tcp dport" makes the dnat rule match TCP only.
    // The protocol is not part of the key (the map is per protocol; the dnat chain matches it):
    // nft parses each element's key part by part, and at 100,000 endpoints a protocol name per
    // key cost a fifth of a full sync (docs/benchmarks.md `## proxy`).
    const entryKey = (np: boolean, l4: L4) => `typeof ${np ? '' : `${x} daddr . `}th dport . numgen random mod 1 : ${x} daddr . ${l4} dport`;
    for (const kind of ['cluster', 'local'] as const) {
      for (const l4 of L4S) {
        sets.push(
          { kind: 'map', name: MAPS.endpoints(kind, f, false, l4), type: entryKey(false, l4), comment: `${kind === 'cluster' ? 'Cluster' : 'Local'}-policy ${l4.toUpperCase()} endpoints by service address, port and index (IP${fam(f)})` },
          { kind: 'map', name: MAPS.endpoints(kind, f, true, l4), type: entryKey(true, l4), comment: `${kind === 'cluster' ? 'Cluster' : 'Local'}-policy ${l4.toUpperCase()} endpoints by node port and index (IP${fam(f)})` },
        );
      }
    }
    sets.push({ kind: 'set', name: MAPS.hairpin(f), type: `${addr} . ${addr}`, comment: `a local endpoint reaching itself through a service (IP${fam(f)})` });
    const nodeAddr = explicit
      ? `${x} daddr @${MAPS.nodePortIPs(f)}`
      : `fib daddr type local ${x} daddr != ${f === 4 ? '127.0.0.0/8' : '::1'}`;
    if (explicit) {
      sets.push({ kind: 'set', name: MAPS.nodePortIPs(f), type: addr, comment: `addresses that accept NodePort traffic (IP${fam(f)})` });
      for (const ip of cfg.nodePortAddresses) if (familyOf(ip) === f) elements.push({ set: MAPS.nodePortIPs(f), key: [ip] });
    }
    services.push(
      { rule: `${x} daddr . meta l4proto . th dport vmap @${MAPS.serviceIPs(f)}` },
      { rule: `${nodeAddr} meta l4proto . th dport vmap @${MAPS.serviceNodePorts(f)}` },
    );
    check.push(
      { rule: `${x} daddr . meta l4proto . th dport vmap @${MAPS.noEndpointServices(f)}` },
      { rule: `${nodeAddr} meta l4proto . th dport vmap @${MAPS.noEndpointNodePorts(f)}` },
    );
  }
  chains.push(
    { name: CH.services, comment: 'dispatch service traffic by destination', rules: services },
    { name: CH.endpointsCheck, comment: 'reject or drop new connections to services without usable endpoints', rules: check },
    { name: CH.reject, comment: 'helper for @no-endpoint-services and @no-endpoint-nodeports', rules: [
      { rule: 'meta l4proto tcp reject with tcp reset' }, { rule: 'reject' },
    ] },
    { name: CH.markMasq, comment: 'mark a connection for masquerading', rules: [{ rule: `meta mark set meta mark | ${mark}` }] },
    { name: CH.masquerading, comment: 'masquerade marked connections', rules: [
      // After DNAT daddr is the endpoint: an endpoint that reached itself must see the reply come from the service.
      { rule: `ct status dnat ip saddr . ip daddr @${MAPS.hairpin(4)} jump ${CH.markMasq}`, comment: 'hairpin' },
      { rule: `ct status dnat ip6 saddr . ip6 daddr @${MAPS.hairpin(6)} jump ${CH.markMasq}`, comment: 'hairpin' },
      { rule: `meta mark & ${mark} == 0x00000000 return` },
      { rule: `meta mark set meta mark ^ ${mark}` },
      { rule: 'masquerade fully-random' },
    ] },
  );
  return { comment: 'rules for podnet proxy (kube-proxy nftables mode)', chains, sets, elements };
}

// ---- one Service -------------------------------------------------------------------------------

/** The Service's families: those of its ClusterIPs. */
function familiesOf(svc: ServiceRecord): Family[] {
  return svc.clusterIPs.map(familyOf);
}

/**
 * The rules for one Service (undefined for ExternalName and headless Services, which the proxy
 * ignores). `slices` are the Service's EndpointSlices (any family).
 */
export function computeService(svc: ServiceRecord, slices: readonly SliceRecord[], cfg: ProxyConfig): ServiceRules | undefined {
  if (svc.type === 'ExternalName' || svc.clusterIPs.length === 0) return undefined;
  const out: ServiceRules = { key: `${svc.namespace}/${svc.name}`, chains: [], sharedChains: [], sets: [], elements: [], ports: [] };
  for (const f of familiesOf(svc)) {
    for (const port of svc.ports) computePort(svc, port, f, slices, cfg, out);
  }
  return out;
}

function computePort(svc: ServiceRecord, port: ServicePortRecord, f: Family, slices: readonly SliceRecord[], cfg: ProxyConfig, out: ServiceRules): void {
  const p = proto(port.protocol);
  const portName = `${svc.namespace}/${svc.name}:${port.name}`;
  const clusterIP = svc.clusterIPs.find((ip) => familyOf(ip) === f)!;
  const externalIPs = svc.externalIPs.filter((ip) => familyOf(ip) === f);
  const lbIPs = svc.loadBalancerIPs.filter((ip) => familyOf(ip) === f);
  const policy = portPolicy(svc, port, f);
  const eps = endpointsFor(port, f, slices, cfg.nodeName);
  const cat = categorize(eps, policy, { nodeName: cfg.nodeName, zone: cfg.zone });

  out.ports.push({
    name: portName, family: f, protocol: port.protocol, port: port.port, nodePort: port.nodePort, clusterIP, externalIPs,
    loadBalancerIPs: lbIPs, endpoints: cat.reachable.map(endpointString), hasEndpoints: cat.hasAny,
  });
  // Hairpin: only an endpoint on this node (or of unknown node) can reach itself through this node's rules.
  for (const ep of cat.reachable) if (ep.isLocal || ep.nodeName === undefined) out.elements.push({ set: MAPS.hairpin(f), key: [ep.ip, ep.ip] });

  const ctx: PortCtx = { svc, port, f, p, portName, clusterIP, externalIPs, lbIPs, policy, cat, cfg, out };
  if (svc.affinityTimeout !== undefined) computeAffinityPort(ctx);
  else computeSharedPort(ctx);
}

interface PortCtx {
  svc: ServiceRecord; port: ServicePortRecord; f: Family; p: string; portName: string; clusterIP: string; externalIPs: string[]; lbIPs: string[];
  policy: ReturnType<typeof portPolicy>; cat: ReturnType<typeof categorize>; cfg: ProxyConfig; out: ServiceRules;
}

const podCIDRs = (cfg: ProxyConfig, f: Family) => cfg.clusterCIDRs.filter((c) => familyOf(c.split('/')[0]!) === f);

/** The shared chain that DNATs to one of `n` endpoints of `kind` found by the packet's entry key. */
export function dnatChain(kind: EndpointKind, n: number, f: Family, nodePort: boolean, l4: L4): ChainSpec {
  const x = ipX(f);
  const key = `${nodePort ? '' : `${x} daddr . `}th dport . numgen random mod ${n}`;
  return {
    name: SHARED.dnat(kind, n, f, nodePort, l4),
    comment: `DNAT to one of ${n} ${kind === 'cluster' ? 'Cluster' : 'Local'}-policy ${l4.toUpperCase()} endpoints by ${nodePort ? 'node port' : 'service address and port'} (IP${fam(f)})`,
    // The protocol match gives `th dport` its context (nft refuses a transport header field
    // without one) and stands for the protocol the endpoints map's key leaves out.
    rules: [{ rule: `meta l4proto ${l4} dnat ${x} to ${key} map @${MAPS.endpoints(kind, f, nodePort, l4)}` }],
  };
}

/**
 * A service port without ClientIP affinity: map elements, and claims on the shared chains they
 * point at. Dispatch elements say which chain (so how many endpoints, which policy); endpoint
 * elements say which endpoint each index is.
 */
function computeSharedPort(c: PortCtx): void {
  const { f, port, portName, clusterIP, policy, cat, cfg, out } = c;
  const p = c.p as L4;
  const x = ipX(f);
  const cidrs = podCIDRs(cfg, f);
  const cluster = cat.cluster ?? [], local = cat.local ?? [];
  const n = cluster.length, m = local.length;
  const claimed = new Map<string, ChainSpec>();
  const claim = (spec: ChainSpec): string => { claimed.set(spec.name, spec); return spec.name; };
  const dnat = (kind: EndpointKind, nodePort: boolean) => claim(dnatChain(kind, kind === 'cluster' ? n : m, f, nodePort, p));
  const el = (set: string, key: string[], value: string) => out.elements.push({ set, key, value, comment: portName });
  // Endpoint elements go without a comment: their key starts with the service address or node
  // port, whose dispatch element names the Service; a comment on each of 100,000 endpoints would
  // add a tenth to a full sync.
  // The entry key without its protocol (the endpoints maps are per protocol): address . port, or the node port.
  const endpointElements = (kind: EndpointKind, nodePort: boolean, entry: string[]) => {
    const set = MAPS.endpoints(kind, f, nodePort, p);
    // Array literals, not spreads: a full sync builds 100,000 of these keys.
    const list = kind === 'cluster' ? cluster : local;
    for (let i = 0; i < list.length; i++) {
      const ep = list[i]!;
      const key = nodePort ? [entry[1]!, String(i)] : [entry[0]!, entry[2]!, String(i)];
      out.elements.push({ set, key, value: `${ep.ip} . ${ep.port}` });
    }
  };

  // No endpoints anywhere: reject. Endpoints, but none this policy may use here: drop (as upstream).
  const noEndpointVerdict = !cat.hasAny ? `goto ${CH.reject}` : 'drop';

  // ClusterIP: internal traffic policy.
  const internal: EndpointKind = policy.internalLocal ? 'local' : 'cluster';
  const internalCount = internal === 'local' ? m : n;
  const vkey = (ip: string) => [ip, p, String(port.port)];
  if (internalCount > 0) {
    let target = dnat(internal, false);
    if (cidrs.length > 0) {
      // Traffic from outside the pod network to the ClusterIP may leave the node again: masquerade it.
      target = claim({ name: SHARED.clusterIP(internal, internalCount, f, p), comment: `ClusterIP traffic to ${internalCount} ${internal === 'cluster' ? 'Cluster' : 'Local'}-policy ${p.toUpperCase()} endpoints (IP${fam(f)})`, rules: [
        { rule: `${x} saddr != ${addrList(cidrs)} jump ${CH.markMasq}`, comment: 'masquerade traffic from outside the pod network' },
        { rule: `goto ${target}` },
      ] });
    }
    el(MAPS.serviceIPs(f), vkey(clusterIP), `goto ${target}`);
    endpointElements(internal, false, vkey(clusterIP));
  } else {
    el(MAPS.noEndpointServices(f), vkey(clusterIP), noEndpointVerdict);
  }

  // External IPs, load-balancer IPs and the node port: external traffic policy.
  const hasExternal = policy.externalLocal ? m > 0 : n > 0;
  const externalTarget = (nodePort: boolean): string | undefined => {
    if (!policy.externalLocal) {
      if (n === 0) return undefined;
      return claim({ name: SHARED.externalCluster(n, f, nodePort, p), comment: `external traffic to ${n} Cluster-policy ${p.toUpperCase()} endpoints${nodePort ? ' by node port' : ''} (IP${fam(f)})`, rules: [
        // The endpoint may be on another node: the reply must come back through this one.
        { rule: `jump ${CH.markMasq}` },
        { rule: `goto ${dnat('cluster', nodePort)}` },
      ] });
    }
    if (n === 0 && m === 0) return undefined;
    // Pods and the node itself are not subject to the external policy (as if they went out to a load balancer and back).
    const rules: RuleSpec[] = [];
    if (n > 0 && cidrs.length > 0) rules.push({ rule: `${x} saddr ${addrList(cidrs)} goto ${dnat('cluster', nodePort)}`, comment: 'short-circuit pod traffic' });
    rules.push({ rule: `fib saddr type local jump ${CH.markMasq}`, comment: 'masquerade local traffic' });
    if (n > 0) rules.push({ rule: `fib saddr type local goto ${dnat('cluster', nodePort)}`, comment: 'short-circuit local traffic' });
    if (m > 0) rules.push({ rule: `goto ${dnat('local', nodePort)}` });
    return claim({ name: SHARED.externalLocal(n, m, f, nodePort, p), comment: `external traffic to ${m} Local-policy ${p.toUpperCase()} endpoints (${n} Cluster-policy for pods and the node)${nodePort ? ' by node port' : ''} (IP${fam(f)})`, rules });
  };
  const externalEntries: Array<{ nodePort: boolean; key: string[]; dispatch: string; noEndpoints: string }> = [];
  for (const ip of [...c.externalIPs, ...c.lbIPs]) externalEntries.push({ nodePort: false, key: vkey(ip), dispatch: MAPS.serviceIPs(f), noEndpoints: MAPS.noEndpointServices(f) });
  if (port.nodePort) externalEntries.push({ nodePort: true, key: [p, String(port.nodePort)], dispatch: MAPS.serviceNodePorts(f), noEndpoints: MAPS.noEndpointNodePorts(f) });
  for (const e of externalEntries) {
    const target = cat.hasAny ? externalTarget(e.nodePort) : undefined;
    if (target) {
      el(e.dispatch, e.key, `goto ${target}`);
      endpointElements('cluster', e.nodePort, e.key);
      if (policy.externalLocal) endpointElements('local', e.nodePort, e.key);
    }
    if (!hasExternal || !target) el(e.noEndpoints, e.key, noEndpointVerdict);
  }
  out.sharedChains.push(...claimed.values());
}

/**
 * A service port with ClientIP affinity: kube-proxy's per-port chains (affinity checks, then a
 * random endpoint chain that records the client in that endpoint's affinity set and DNATs).
 */
function computeAffinityPort(c: PortCtx): void {
  const { svc, port, f, p, portName, clusterIP, externalIPs, lbIPs, policy, cat, cfg, out } = c;
  const x = ipX(f);
  const base = servicePortBase(svc, port, f);
  const names = chainNames(base);
  const cidrs = podCIDRs(cfg, f);

  const usesClusterChain = (cat.cluster?.length ?? 0) > 0;
  const usesLocalChain = (cat.local?.length ?? 0) > 0;
  const internalChain = policy.internalLocal ? names.local : names.cluster;
  const hasInternal = policy.internalLocal ? usesLocalChain : cat.hasAny;
  const externalPolicyChain = policy.externalLocal ? names.local : names.cluster;
  const hasExternal = policy.externalLocal ? usesLocalChain : cat.hasAny;
  const usesExternalChain = cat.hasAny && policy.externallyAccessible;
  // No endpoints anywhere: reject. Endpoints, but none this policy may use here: drop (as upstream).
  const internalVerdict = !cat.hasAny ? `goto ${CH.reject}` : 'drop';
  const externalVerdict = internalVerdict;

  const vkey = (ip: string) => [ip, p, String(port.port)];
  const el = (set: string, key: string[], value: string, comment?: string) => out.elements.push({ set, key, value, ...(comment ? { comment } : {}) });

  // Dispatch: ClusterIP.
  if (hasInternal) el(MAPS.serviceIPs(f), vkey(clusterIP), `goto ${internalChain}`, portName);
  else el(MAPS.noEndpointServices(f), vkey(clusterIP), internalVerdict, portName);
  // External IPs and load-balancer IPs.
  for (const ip of [...externalIPs, ...lbIPs]) {
    if (cat.hasAny) el(MAPS.serviceIPs(f), vkey(ip), `goto ${names.external}`, portName);
    if (!hasExternal) el(MAPS.noEndpointServices(f), vkey(ip), externalVerdict, portName);
  }
  // NodePort.
  if (port.nodePort) {
    if (cat.hasAny) el(MAPS.serviceNodePorts(f), [p, String(port.nodePort)], `goto ${names.external}`, portName);
    if (!hasExternal) el(MAPS.noEndpointNodePorts(f), [p, String(port.nodePort)], externalVerdict, portName);
  }

  const epNames = (ep: Endpoint) => endpointNames(base, ep);

  const policyChain = (name: string, endpoints: Endpoint[], comment: string): ChainSpec => {
    const rules: RuleSpec[] = [];
    // Traffic from outside the pod network to the ClusterIP may leave the node again: masquerade it.
    if (name === internalChain && hasInternal && cidrs.length > 0) {
      rules.push({ rule: `${x} daddr ${clusterIP} ${p} dport ${port.port} ${x} saddr != ${addrList(cidrs)} jump ${CH.markMasq}` });
    }
    for (const ep of endpoints) rules.push({ rule: `${x} saddr @${epNames(ep).affinity} goto ${epNames(ep).chain}` });
    const arms = endpoints.map((ep, i) => `${i} : goto ${epNames(ep).chain}`).join(', ');
    rules.push({ rule: `numgen random mod ${endpoints.length} vmap { ${arms} }` });
    return { name, comment, rules };
  };
  if (usesClusterChain) out.chains.push(policyChain(names.cluster, cat.cluster!, `${portName} (Cluster traffic policy)`));
  if (usesLocalChain) out.chains.push(policyChain(names.local, cat.local!, `${portName} (Local traffic policy)`));

  if (usesExternalChain) {
    const rules: RuleSpec[] = [];
    if (!policy.externalLocal) {
      // The endpoint may be on another node: the reply must come back through this one.
      rules.push({ rule: `jump ${CH.markMasq}` });
    } else {
      // Pods and the node itself are not subject to the external policy (as if they went out to a load balancer and back).
      if (cidrs.length > 0) rules.push({ rule: `${x} saddr ${addrList(cidrs)} goto ${names.cluster}`, comment: 'short-circuit pod traffic' });
      rules.push({ rule: `fib saddr type local jump ${CH.markMasq}`, comment: 'masquerade local traffic' });
      rules.push({ rule: `fib saddr type local goto ${names.cluster}`, comment: 'short-circuit local traffic' });
    }
    if (hasExternal) rules.push({ rule: `goto ${externalPolicyChain}` });
    out.chains.push({ name: names.external, comment: `${portName} (external destinations)`, rules });
  }

  for (const ep of cat.reachable) {
    const n = epNames(ep);
    out.sets.push({ kind: 'set', name: n.affinity, type: f === 4 ? 'ipv4_addr' : 'ipv6_addr', flags: ['dynamic', 'timeout'], timeout: svc.affinityTimeout, comment: `${portName} ClientIP affinity to ${endpointString(ep)}` });
    out.chains.push({ name: n.chain, comment: `${portName} endpoint ${endpointString(ep)}`, rules: [
      { rule: `update @${n.affinity} { ${x} saddr }` },
      { rule: `meta l4proto ${p} dnat ${x} to ${endpointString(ep)}` },
    ] });
  }
}
