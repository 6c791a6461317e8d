// The pure rule generator: for the pods of one node, NetworkPolicies → one `inet` nftables table
// (default `podnet-netpol`). Shape:
//
//   forward (filter, priority filter: after the proxy's DNAT, so it sees pod addresses)
//     ct state established,related accept          replies and the rest of allowed connections
//     icmpv6 type { nd-neighbor-solicit, … } accept IPv6 neighbour discovery (ARP is not IP)
//     fib saddr type local accept                  the node itself (probes) always passes
//     ip saddr vmap @egress-pods-v4                local pod isolated for egress → jump egress-GROUP
//     ip daddr vmap @ingress-pods-v4               local pod isolated for ingress → jump ingress-GROUP
//     (and the ip6 twins)
//   egress-GROUP / ingress-GROUP                   one chain per distinct set of selecting policies:
//     per policy, per rule: <peer match> <port match> counter return|accept
//     per policy: counter (what it dropped); then drop
//   peer match:  ip saddr @ingress-H-i-pods-v4     pods matched by the rule's pod/namespace selectors
//                ip saddr @ingress-H-i-cidrs-v4    its ipBlocks minus excepts, as disjoint prefixes
//   port match:  meta l4proto . th dport @…-ports  numbers and endPort ranges (interval set)
//                ip daddr . meta l4proto . th dport @…-named-v4   named ports resolved per pod
//
// Per packet: one map lookup per direction and family, then the rules of the policies that
// select that one pod — independent of how many pods and policies the cluster has. A pod's
// arrival or a label change changes set and map elements only; a new combination of selecting
// policies or a changed policy changes chains.
//
// Split for the incremental recompute (incremental.ts): computeStructure gives the chains, sets
// and the elements no pod decides (ipBlocks, ports) from policies, namespaces and which local
// pods each policy selects; podElements gives one pod's elements against that structure. The
// full table is the structure plus every pod's elements (computeRules).

import { nameHash, type ChainSpec, type ElementSpec, type RuleSpec, type SetSpec } from '../proxy/rules.js';
import { ipBlockPrefixes, isPolicyPod, podPeerMatches, peerMatches, resolveNamedPort, selects, type Snapshot } from './match.js';
import { podKey, policyKey, type PodRecord, type PolicyRecord, type PortRecord, type Protocol, type RuleRecord } from './model.js';
import type { Direction } from './analyzer.js';

export const DEFAULT_TABLE = 'podnet-netpol';

export interface NetpolConfig {
  /** The nftables table (inet family). */
  table: string;
  /** Pods with this spec.nodeName are the ones enforced here. */
  nodeName: string;
}

export interface DesiredRules {
  comment: string;
  chains: ChainSpec[];
  sets: SetSpec[];
  elements: ElementSpec[];
}

type Fam = 'v4' | 'v6';
const FAMS: readonly Fam[] = ['v4', 'v6'];
const ipX = (f: Fam) => (f === 'v4' ? 'ip' : 'ip6');
const addrType = (f: Fam) => (f === 'v4' ? 'ipv4_addr' : 'ipv6_addr');
const famOf = (ip: string): Fam => (ip.includes(':') ? 'v6' : 'v4');
const proto = (p: Protocol) => p.toLowerCase();
/** "a . b . c", as nft joins concatenated keys. */
const joinKey = (key: readonly string[]) => key.join(' . ');

export const MAPS = {
  pods: (d: Direction, f: Fam) => `${d}-pods-${f}`,
};
export const FORWARD = 'forward';
/** ICMPv6 neighbour discovery between pods of one bridge, which the forward hook sees (br_netfilter). */
export const ND_TYPES = ['nd-neighbor-solicit', 'nd-neighbor-advert'] as const;

/** Set names of one rule of one policy: `ingress-HASH-i-…` (HASH of "ns/name"). */
export function ruleSetNames(d: Direction, policy: string, i: number) {
  const base = `${d}-${nameHash(policy)}-${i}`;
  return {
    pods: (f: Fam) => `${base}-pods-${f}`,
    cidrs: (f: Fam) => `${base}-cidrs-${f}`,
    ports: `${base}-ports`,
    named: (f: Fam) => `${base}-named-${f}`,
  };
}

/** The chain of the pods selected by exactly these policies in direction `d`. */
export const groupChain = (d: Direction, policies: readonly string[]) => `${d}-${nameHash(policies.join(','))}`;

/** Numeric ports of a rule as non-overlapping `proto . from[-to]` keys (interval sets refuse overlaps). */
export function portKeys(ports: readonly PortRecord[]): string[][] {
  const out: string[][] = [];
  for (const p of ['TCP', 'UDP', 'SCTP'] as Protocol[]) {
    const ranges = ports.filter((x) => x.protocol === p && typeof x.port !== 'string')
      .map((x): [number, number] => (x.port === undefined ? [0, 65535] : [x.port as number, x.endPort ?? (x.port as number)]))
      .sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]); else merged.push([r[0], r[1]]);
    }
    for (const [a, b] of merged) out.push([proto(p), a === b ? String(a) : `${a}-${b}`]);
  }
  return out;
}

/** One rule of a policy that selects some pod of this node, with its set names: what pod elements are computed against. */
export interface ActiveRule {
  d: Direction;
  pol: PolicyRecord;
  i: number;
  r: RuleRecord;
  names: ReturnType<typeof ruleSetNames>;
  /** The rule has pod/namespace-selector peers (a peer-pods set per family). */
  podPeers: boolean;
  /** Its ports given by name (a named-ports set per family). */
  named: Array<PortRecord & { port: string }>;
}

/** What the pod elements depend on besides the pod: fixed while only pods change and no group chain comes or goes. */
export interface RuleContext {
  nodeName: string;
  /** Sorted by "ns/name". */
  policies: PolicyRecord[];
  namespaces: Snapshot['namespaces'];
  rules: ActiveRule[];
}

/** Chains, sets and the elements that do not depend on pods (ipBlocks, ports), plus the context for the pod elements. */
export interface Structure {
  comment: string;
  chains: ChainSpec[];
  sets: SetSpec[];
  staticElements: ElementSpec[];
  ctx: RuleContext;
  /** Group chain → number of local pods jumping to it (the chains exist because these are > 0). */
  groups: Map<string, number>;
}

const sortPolicies = (ps: readonly PolicyRecord[]) => [...ps].sort((a, b) => (policyKey(a) < policyKey(b) ? -1 : 1));
export const sortPods = (ps: readonly PodRecord[]) => [...ps].sort((a, b) => (podKey(a) < podKey(b) ? -1 : podKey(a) > podKey(b) ? 1 : 0));
const applies = (d: Direction, pol: PolicyRecord) => (d === 'egress' ? pol.egress : pol.ingress);
const rulesOf = (d: Direction, pol: PolicyRecord) => (d === 'egress' ? pol.egressRules : pol.ingressRules);

/** Whether pods of this record are enforced on the node (its own entries in the vmaps). */
export const isLocal = (pod: PodRecord, nodeName: string) => pod.node === nodeName && isPolicyPod(pod);

/** The policies (sorted) of direction `d` selecting a local pod: the group it jumps to. */
export function selectingPolicies(pod: PodRecord, d: Direction, policies: readonly PolicyRecord[]): PolicyRecord[] {
  return policies.filter((pol) => applies(d, pol) && selects(pol, pod));
}

/** The group chains a pod of this node jumps to (none for other pods). */
export function groupsOf(pod: PodRecord, ctx: Pick<RuleContext, 'nodeName' | 'policies'>): string[] {
  if (!isLocal(pod, ctx.nodeName)) return [];
  const out: string[] = [];
  for (const d of ['egress', 'ingress'] as Direction[]) {
    const sel = selectingPolicies(pod, d, ctx.policies);
    if (sel.length) out.push(groupChain(d, sel.map(policyKey)));
  }
  return out;
}

/** Everything but the pod elements, from the policies, namespaces and which local pods each policy selects. */
export function computeStructure(snap: Snapshot, cfg: NetpolConfig): Structure {
  const chains: ChainSpec[] = [];
  const sets: SetSpec[] = [];
  const staticElements: ElementSpec[] = [];
  const policies = sortPolicies(snap.policies);
  const local = sortPods(snap.pods.filter((p) => isLocal(p, cfg.nodeName)));
  const active: ActiveRule[] = [];
  const groupCount = new Map<string, number>();

  const forward: RuleSpec[] = [
    { rule: 'ct state established,related accept', comment: 'replies and later packets of allowed connections' },
    // Found by the IPv6 matrix: an ingress-isolated pod never got the neighbour advertisement
    // answering its own solicitation, so it could not even reach pods on its bridge.
    { rule: `icmpv6 type { ${ND_TYPES.join(', ')} } accept`, comment: "IPv6 neighbour discovery between pods (ARP's job in IPv4) is not subject to policy" },
    { rule: 'fib saddr type local accept', comment: "traffic from this node (probes) always passes" },
  ];
  for (const d of ['egress', 'ingress'] as Direction[]) {
    for (const f of FAMS) {
      forward.push({ rule: `${ipX(f)} ${d === 'egress' ? 'saddr' : 'daddr'} vmap @${MAPS.pods(d, f)}` });
      sets.push({ kind: 'map', name: MAPS.pods(d, f), type: `${addrType(f)} : verdict`, comment: `local pods isolated for ${d} (IP${f}) → their policies` });
    }
  }
  chains.push({ name: FORWARD, base: { type: 'filter', hook: 'forward', priority: 'filter' }, rules: forward, comment: 'NetworkPolicy for the pods of this node' });

  for (const d of ['egress', 'ingress'] as Direction[]) {
    // Pods grouped by the exact list of policies selecting them: one chain per group.
    const groups = new Map<string, PolicyRecord[]>();
    for (const pod of local) {
      const sel = selectingPolicies(pod, d, policies);
      if (sel.length === 0) continue;
      const name = groupChain(d, sel.map(policyKey));
      if (!groups.has(name)) groups.set(name, sel);
      groupCount.set(name, (groupCount.get(name) ?? 0) + 1);
    }
    const relevant = new Set<PolicyRecord>();
    for (const sel of groups.values()) for (const pol of sel) relevant.add(pol);
    for (const pol of policies) {
      if (!relevant.has(pol)) continue;
      rulesOf(d, pol).forEach((r, i) => active.push(ruleSets(d, pol, r, i, sets, staticElements)));
    }
    for (const name of [...groups.keys()].sort()) {
      const sel = groups.get(name)!;
      const rules: RuleSpec[] = [];
      for (const pol of sel) {
        rulesOf(d, pol).forEach((r, i) => {
          for (const m of ruleMatches(d, pol, r, i)) {
            rules.push({ rule: `${m ? `${m} ` : ''}counter ${d === 'egress' ? 'return' : 'accept'}`, comment: `${policyKey(pol)} ${d} rule #${i}` });
          }
        });
      }
      for (const pol of sel) rules.push({ rule: 'counter', comment: `${policyKey(pol)} ${d}: denied` });
      rules.push({ rule: 'drop' });
      chains.push({ name, rules, comment: `${d} of pods selected by ${sel.map(policyKey).join(', ')}` });
    }
  }
  return {
    comment: 'rules for podnet netpol (NetworkPolicy)', chains, sets, staticElements,
    ctx: { nodeName: cfg.nodeName, policies, namespaces: snap.namespaces, rules: active }, groups: groupCount,
  };
}

/**
 * The elements one pod contributes, given the structure: its vmap entries (a pod of this node
 * isolated in some direction), its addresses in the peer sets of the active rules whose
 * selectors match it, and its named ports where it is a destination. Keys repeat only between
 * pods sharing an address (ElementBook settles those).
 */
export function podElements(pod: PodRecord, ctx: RuleContext): ElementSpec[] {
  const out: ElementSpec[] = [];
  if (!isPolicyPod(pod)) return out;
  const key = podKey(pod);
  if (isLocal(pod, ctx.nodeName)) {
    for (const d of ['egress', 'ingress'] as Direction[]) {
      const sel = selectingPolicies(pod, d, ctx.policies);
      if (!sel.length) continue;
      const chain = groupChain(d, sel.map(policyKey));
      for (const ip of pod.ips) out.push({ set: MAPS.pods(d, famOf(ip)), key: [ip], value: `jump ${chain}`, comment: key });
    }
  }
  for (const a of ctx.rules) {
    const { pol, r, names } = a;
    if (a.podPeers && r.peers.some((p) => p.kind === 'pods' && podPeerMatches(p, pol.namespace, pod, ctx.namespaces))) {
      for (const ip of pod.ips) out.push({ set: names.pods(famOf(ip)), key: [ip], comment: key });
    }
    if (!a.named.length) continue;
    // Named ports resolve on the destination: for ingress the selected (local) pod, for egress
    // any pod the rule's peers match.
    const dst = a.d === 'ingress'
      ? isLocal(pod, ctx.nodeName) && selects(pol, pod)
      : r.peers.length === 0 || pod.ips.some((ip) => r.peers.some((peer) => peerMatches(peer, pol.namespace, ip, pod, ctx.namespaces)));
    if (!dst) continue;
    const seen = new Set<string>();
    for (const np of a.named) {
      const port = resolveNamedPort(pod, np.port, np.protocol);
      if (port === undefined) continue;
      for (const ip of pod.ips) {
        const k = [ip, proto(np.protocol), String(port)];
        const id = joinKey(k);
        if (seen.has(id)) continue;
        seen.add(id);
        out.push({ set: names.named(famOf(ip)), key: k, comment: `${key} ${np.port}` });
      }
    }
  }
  return out;
}

export const elementId = (e: { set: string; key: readonly string[] }) => `${e.set}|${joinKey(e.key)}`;
const sameElement = (a: ElementSpec | undefined, b: ElementSpec | undefined) =>
  a === b || (!!a && !!b && a.value === b.value && a.comment === b.comment && elementId(a) === elementId(b));

/** What a batch of pod changes did to the elements: remove these, then add these. */
export interface ElementDelta { remove: ElementSpec[]; add: ElementSpec[] }

/**
 * The pod elements, by key, each with the pods that contribute it. Two pods sharing an address
 * (a pod leaving while its address is reused) both contribute the same key; the element shown is
 * the one of the first pod by "ns/name", whatever order the pods arrived in — so incremental
 * updates and a rebuild agree.
 */
export class ElementBook {
  private readonly owners = new Map<string, Map<string, ElementSpec>>();
  private readonly shown = new Map<string, ElementSpec>();
  /** element id → what was shown before the first change since the last takeDelta() */
  private readonly before = new Map<string, ElementSpec | undefined>();

  private touch(id: string): void { if (!this.before.has(id)) this.before.set(id, this.shown.get(id)); }
  private settle(id: string): void {
    const o = this.owners.get(id);
    if (!o || o.size === 0) { this.owners.delete(id); this.shown.delete(id); return; }
    let best: string | undefined;
    for (const k of o.keys()) if (best === undefined || k < best) best = k;
    this.shown.set(id, o.get(best!)!);
  }
  add(owner: string, els: readonly ElementSpec[]): void {
    for (const e of els) {
      const id = elementId(e);
      this.touch(id);
      let o = this.owners.get(id);
      if (!o) { o = new Map(); this.owners.set(id, o); }
      // One pod contributes one element per key (its first: podElements dedups).
      if (!o.has(owner)) o.set(owner, e);
      this.settle(id);
    }
  }
  remove(owner: string, els: readonly ElementSpec[]): void {
    for (const e of els) {
      const id = elementId(e);
      this.touch(id);
      this.owners.get(id)?.delete(owner);
      this.settle(id);
    }
  }
  elements(): ElementSpec[] { return [...this.shown.values()]; }
  get size(): number { return this.shown.size; }
  /** The changes since the last call (or since the book was made). */
  takeDelta(): ElementDelta {
    const remove: ElementSpec[] = [];
    const add: ElementSpec[] = [];
    for (const [id, was] of this.before) {
      const now = this.shown.get(id);
      if (sameElement(was, now)) continue;
      if (was) remove.push(was);
      if (now) add.push(now);
    }
    this.before.clear();
    return { remove, add };
  }
}

/** The whole desired table for the pods of `cfg.nodeName` (what a full sync installs). */
export function computeRules(snap: Snapshot, cfg: NetpolConfig): DesiredRules {
  const s = computeStructure(snap, cfg);
  const book = new ElementBook();
  for (const pod of snap.pods) book.add(podKey(pod), podElements(pod, s.ctx));
  return { comment: s.comment, chains: s.chains, sets: s.sets, elements: [...s.staticElements, ...book.elements()] };
}

const peerKinds = (r: RuleRecord) => ({
  pods: r.peers.some((p) => p.kind === 'pods'),
  blocks: r.peers.flatMap((p) => (p.kind === 'ipBlock' ? [p.ipBlock] : [])),
});

/** The match parts of one policy rule: every alternative (peer kind × port kind × family), '' = matches all. */
function ruleMatches(d: Direction, pol: PolicyRecord, r: RuleRecord, i: number): string[] {
  const n = ruleSetNames(d, policyKey(pol), i);
  const peerDir = d === 'egress' ? 'daddr' : 'saddr';
  const { pods, blocks } = peerKinds(r);
  const peers: { text: string; fam?: Fam }[] = [];
  if (r.peers.length === 0) peers.push({ text: '' });
  for (const f of FAMS) {
    if (pods) peers.push({ text: `${ipX(f)} ${peerDir} @${n.pods(f)}`, fam: f });
    if (ipBlockPrefixes(blocks, f === 'v4' ? 'IPv4' : 'IPv6').length) peers.push({ text: `${ipX(f)} ${peerDir} @${n.cidrs(f)}`, fam: f });
  }
  const ports: { text: string; fam?: Fam }[] = [];
  if (r.ports.length === 0) ports.push({ text: '' });
  if (portKeys(r.ports).length) ports.push({ text: `meta l4proto . th dport @${n.ports}` });
  if (r.ports.some((p) => typeof p.port === 'string')) {
    for (const f of FAMS) ports.push({ text: `${ipX(f)} daddr . meta l4proto . th dport @${n.named(f)}`, fam: f });
  }
  const out: string[] = [];
  for (const p of peers) {
    for (const q of ports) {
      if (p.fam && q.fam && p.fam !== q.fam) continue;
      out.push([p.text, q.text].filter(Boolean).join(' '));
    }
  }
  return out;
}

/** The sets one policy rule's matches use, with the elements that do not depend on pods (ipBlocks, ports). */
function ruleSets(d: Direction, pol: PolicyRecord, r: RuleRecord, i: number, sets: SetSpec[], elements: ElementSpec[]): ActiveRule {
  const key = policyKey(pol);
  const n = ruleSetNames(d, key, i);
  const what = `${key} ${d} rule #${i}`;
  const { pods, blocks } = peerKinds(r);
  for (const f of FAMS) {
    if (pods) sets.push({ kind: 'set', name: n.pods(f), type: addrType(f), comment: `${what}: peer pods (IP${f})` });
    const prefixes = ipBlockPrefixes(blocks, f === 'v4' ? 'IPv4' : 'IPv6');
    if (prefixes.length) {
      sets.push({ kind: 'set', name: n.cidrs(f), type: addrType(f), flags: ['interval'], comment: `${what}: ipBlocks (IP${f})` });
      for (const c of prefixes) elements.push({ set: n.cidrs(f), key: [c] });
    }
  }
  const keys = portKeys(r.ports);
  if (keys.length) {
    sets.push({ kind: 'set', name: n.ports, type: 'inet_proto . inet_service', flags: ['interval'], comment: `${what}: ports` });
    for (const k of keys) elements.push({ set: n.ports, key: k });
  }
  const named = r.ports.filter((p): p is PortRecord & { port: string } => typeof p.port === 'string');
  if (named.length) {
    for (const f of FAMS) sets.push({ kind: 'set', name: n.named(f), type: `${addrType(f)} . inet_proto . inet_service`, comment: `${what}: named ports (IP${f})` });
  }
  return { d, pol, i, r, names: n, podPeers: pods, named };
}
