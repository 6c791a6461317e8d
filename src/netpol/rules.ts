// The pure rule generator: for the pods of one node, NetworkPolicies → one `inet` nftables table
// (default `podnet-netpol`). Shape:
//
//   forward (filter, priority filter: after the proxy's DNAT, so it sees pod addresses)
//     ct state established,related accept          replies and the rest of allowed connections
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

export const MAPS = {
  pods: (d: Direction, f: Fam) => `${d}-pods-${f}`,
};
export const FORWARD = 'forward';

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

export function computeRules(snap: Snapshot, cfg: NetpolConfig): DesiredRules {
  const chains: ChainSpec[] = [];
  const sets: SetSpec[] = [];
  const elements: ElementSpec[] = [];
  const policies = [...snap.policies].sort((a, b) => (policyKey(a) < policyKey(b) ? -1 : 1));
  const local = snap.pods.filter((p) => p.node === cfg.nodeName && isPolicyPod(p)).sort((a, b) => (podKey(a) < podKey(b) ? -1 : 1));
  const allPods = snap.pods.filter(isPolicyPod);

  const forward: RuleSpec[] = [
    { rule: 'ct state established,related accept', comment: 'replies and later packets of allowed connections' },
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
    const applies = (pol: PolicyRecord) => (d === 'egress' ? pol.egress : pol.ingress);
    // Pods grouped by the exact list of policies selecting them: one chain per group.
    const groups = new Map<string, { policies: PolicyRecord[]; pods: PodRecord[] }>();
    for (const pod of local) {
      const sel = policies.filter((pol) => applies(pol) && selects(pol, pod));
      if (sel.length === 0) continue;
      const name = groupChain(d, sel.map(policyKey));
      const g = groups.get(name) ?? { policies: sel, pods: [] };
      g.pods.push(pod);
      groups.set(name, g);
    }
    const relevant = new Set<PolicyRecord>();
    for (const [name, g] of groups) {
      for (const pol of g.policies) relevant.add(pol);
      for (const pod of g.pods) {
        for (const ip of pod.ips) elements.push({ set: MAPS.pods(d, famOf(ip)), key: [ip], value: `jump ${name}`, comment: podKey(pod) });
      }
    }
    for (const pol of policies) {
      if (!relevant.has(pol)) continue;
      const rules = d === 'egress' ? pol.egressRules : pol.ingressRules;
      rules.forEach((r, i) => ruleSets(d, pol, r, i, local, allPods, snap, sets, elements));
    }
    for (const name of [...groups.keys()].sort()) {
      const g = groups.get(name)!;
      const rules: RuleSpec[] = [];
      for (const pol of g.policies) {
        const list = d === 'egress' ? pol.egressRules : pol.ingressRules;
        list.forEach((r, i) => {
          for (const m of ruleMatches(d, pol, r, i)) {
            rules.push({ rule: `${m ? `${m} ` : ''}counter ${d === 'egress' ? 'return' : 'accept'}`, comment: `${policyKey(pol)} ${d} rule #${i}` });
          }
        });
      }
      for (const pol of g.policies) rules.push({ rule: 'counter', comment: `${policyKey(pol)} ${d}: denied` });
      rules.push({ rule: 'drop' });
      chains.push({ name, rules, comment: `${d} of pods selected by ${g.policies.map(policyKey).join(', ')}` });
    }
  }
  return { comment: 'rules for podnet netpol (NetworkPolicy)', chains, sets, elements };
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

/** The sets one policy rule's matches use, and their elements. */
function ruleSets(d: Direction, pol: PolicyRecord, r: RuleRecord, i: number, local: PodRecord[], allPods: PodRecord[],
  snap: Snapshot, sets: SetSpec[], elements: ElementSpec[]): void {
  const key = policyKey(pol);
  const n = ruleSetNames(d, key, i);
  const what = `${key} ${d} rule #${i}`;
  const { pods, blocks } = peerKinds(r);
  for (const f of FAMS) {
    if (pods) {
      sets.push({ kind: 'set', name: n.pods(f), type: addrType(f), comment: `${what}: peer pods (IP${f})` });
      for (const pod of allPods) {
        if (!r.peers.some((p) => p.kind === 'pods' && podPeerMatches(p, pol.namespace, pod, snap.namespaces))) continue;
        for (const ip of pod.ips) if (famOf(ip) === f) elements.push({ set: n.pods(f), key: [ip], comment: podKey(pod) });
      }
    }
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
  const names = r.ports.filter((p): p is PortRecord & { port: string } => typeof p.port === 'string');
  if (names.length) {
    // Named ports resolve on the destination: for ingress the selected (local) pod, for egress
    // any pod the rule's peers match.
    const dsts = d === 'ingress'
      ? local.filter((p) => selects(pol, p))
      : allPods.filter((p) => r.peers.length === 0 || p.ips.some((ip) => r.peers.some((peer) => peerMatches(peer, pol.namespace, ip, p, snap.namespaces))));
    for (const f of FAMS) {
      const set = n.named(f);
      sets.push({ kind: 'set', name: set, type: `${addrType(f)} . inet_proto . inet_service`, comment: `${what}: named ports (IP${f})` });
      const seen = new Set<string>();
      for (const pod of dsts) {
        for (const np of names) {
          const port = resolveNamedPort(pod, np.port, np.protocol);
          if (port === undefined) continue;
          for (const ip of pod.ips) {
            const k = [ip, proto(np.protocol), String(port)];
            if (famOf(ip) !== f || seen.has(k.join(' . '))) continue;
            seen.add(k.join(' . '));
            elements.push({ set, key: k, comment: `${podKey(pod)} ${np.port}` });
          }
        }
      }
    }
  }
}
