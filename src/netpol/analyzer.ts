// The policy analyzer: from Namespaces, Pods and NetworkPolicies alone, whether a connection
// (from a pod, a node or an address, to a pod, a node or an address, on a port and protocol) is
// allowed, and why — which policies select each end and which of their rules admit it. It is the
// oracle the generated nftables rules are tested against, and the core of `netpol matrix` and
// `netpol explain`. Pure: no I/O.
//
// The semantics (networking.k8s.io/v1, as the upstream e2e suite and Cyclonus check them):
// - A pod is isolated for ingress (egress) when some policy with that policyType selects it;
//   then only what one of those policies' rules admits may reach it (leave it). Policies add up.
// - A connection between two pods needs the sender's egress and the receiver's ingress.
// - A pod always reaches itself; traffic between a pod and its own node always passes.
// - hostNetwork pods are neither selected nor matched by pod selectors: they are their node.

import type { NamespaceRecord, PodRecord, PolicyRecord, Protocol } from './model.js';
import { podKey, policyKey } from './model.js';
import { familyOfIP, isPolicyPod, peerMatches, portsMatch, selects, type Snapshot } from './match.js';

/** One end of a connection: a pod ("ns/name"), a node (with the address it uses), or an address. */
export type Endpoint = { pod: string } | { node: string; ip?: string } | { ip: string };

export interface Traffic {
  from: Endpoint;
  to: Endpoint;
  protocol: Protocol;
  port: number;
  /** Which of a dual-stack pod's addresses to use (default: IPv4 when both ends have one). */
  family?: 4 | 6;
}

export type Direction = 'ingress' | 'egress';

/** One policy selecting the judged pod: the indices of its rules (of this direction) that admit the connection. */
export interface PolicyJudgement { policy: string; allowedBy: number[] }

export interface DirectionJudgement {
  direction: Direction;
  /** The pod this direction is about: the sender (egress) or the receiver (ingress), when it is a pod policies can select. */
  pod?: string;
  /** Some policy of this direction selects the pod. */
  isolated: boolean;
  allowed: boolean;
  /** Every policy of this direction that selects the pod, in name order. */
  policies: PolicyJudgement[];
  /** Why the direction passes without policies, when it does. */
  exempt?: string;
}

export interface Verdict {
  allowed: boolean;
  egress: DirectionJudgement;
  ingress: DirectionJudgement;
  /** Resolved addresses. */
  src: string;
  dst: string;
}

interface End { ip?: string; pod?: PodRecord; node?: string; label: string }

export class Analyzer {
  private readonly byKey = new Map<string, PodRecord>();
  private readonly byIP = new Map<string, PodRecord>();
  private readonly policies: PolicyRecord[];
  private readonly namespaces: ReadonlyMap<string, NamespaceRecord>;

  constructor(snap: Snapshot) {
    this.namespaces = snap.namespaces;
    for (const p of snap.pods) {
      this.byKey.set(podKey(p), p);
      if (isPolicyPod(p)) for (const ip of p.ips) this.byIP.set(ip, p);
    }
    this.policies = [...snap.policies].sort((a, b) => cmp(policyKey(a), policyKey(b)));
  }

  pod(key: string): PodRecord | undefined { return this.byKey.get(key); }
  podByIP(ip: string): PodRecord | undefined { return this.byIP.get(ip); }

  private resolve(e: Endpoint, family: 4 | 6 | undefined): End {
    if ('pod' in e) {
      const p = this.byKey.get(e.pod);
      if (!p) throw new Error(`unknown pod ${e.pod}`);
      const ip = pickIP(p.ips, family);
      // A hostNetwork pod is its node, as far as policies go.
      if (p.hostNetwork) return { ip, node: p.node, label: `${e.pod} (host network)` };
      if (!ip) throw new Error(`pod ${e.pod} has no IPv${family ?? 4} address`);
      return { ip, pod: p, label: e.pod };
    }
    if ('node' in e) return { ip: e.ip, node: e.node, label: `node ${e.node}` };
    return { ip: e.ip, pod: this.byIP.get(e.ip), label: e.ip };
  }

  check(t: Traffic): Verdict {
    const family = t.family ?? familyOfEnds(t, this.byKey);
    const src = this.resolve(t.from, family);
    const dst = this.resolve(t.to, family);
    const egress = this.judge('egress', src, dst, t);
    const ingress = this.judge('ingress', src, dst, t);
    if (src.pod && dst.pod && src.pod === dst.pod) {
      for (const j of [egress, ingress]) { j.allowed = true; j.exempt = 'a pod always reaches itself'; }
    }
    return { allowed: egress.allowed && ingress.allowed, egress, ingress, src: src.ip ?? src.label, dst: dst.ip ?? dst.label };
  }

  private judge(direction: Direction, src: End, dst: End, t: Traffic): DirectionJudgement {
    const subject = direction === 'egress' ? src : dst;
    const peer = direction === 'egress' ? dst : src;
    const out: DirectionJudgement = { direction, isolated: false, allowed: true, policies: [] };
    if (!subject.pod) {
      out.exempt = subject.node ? 'nodes are not subject to NetworkPolicy' : 'not a pod';
      return out;
    }
    out.pod = podKey(subject.pod);
    if (peer.node !== undefined && peer.node === subject.pod.node) {
      out.exempt = `traffic between a pod and its own node (${peer.node}) always passes`;
      return out;
    }
    for (const pol of this.policies) {
      if (!(direction === 'egress' ? pol.egress : pol.ingress) || !selects(pol, subject.pod)) continue;
      out.isolated = true;
      const rules = direction === 'egress' ? pol.egressRules : pol.ingressRules;
      const allowedBy: number[] = [];
      rules.forEach((r, i) => {
        const peerOk = r.peers.length === 0 || (peer.ip !== undefined && r.peers.some((p) => peerMatches(p, pol.namespace, peer.ip!, peer.pod, this.namespaces)));
        if (peerOk && portsMatch(r.ports, t.protocol, t.port, dst.pod)) allowedBy.push(i);
      });
      out.policies.push({ policy: policyKey(pol), allowedBy });
    }
    out.allowed = !out.isolated || out.policies.some((p) => p.allowedBy.length > 0);
    return out;
  }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function pickIP(ips: readonly string[], family: 4 | 6 | undefined): string | undefined {
  const want = family === 6 ? 'IPv6' : 'IPv4';
  return ips.find((ip) => familyOfIP(ip) === want) ?? (family === undefined ? ips[0] : undefined);
}

function familyOfEnds(t: Traffic, pods: Map<string, PodRecord>): 4 | 6 | undefined {
  for (const e of [t.from, t.to]) {
    if ('ip' in e && e.ip) return familyOfIP(e.ip) === 'IPv6' ? 6 : 4;
  }
  for (const e of [t.from, t.to]) {
    if ('pod' in e) { const p = pods.get(e.pod); if (p?.ips[0]) return familyOfIP(p.ips[0]) === 'IPv6' ? 6 : 4; }
  }
  return undefined;
}

/** The verdict in words: one line per direction, naming the policies and rules. */
export function explain(v: Verdict): string[] {
  const lines = [`${v.allowed ? 'ALLOWED' : 'DENIED'}: ${v.src} → ${v.dst}`];
  for (const j of [v.egress, v.ingress]) {
    const who = j.direction === 'egress' ? 'egress of' : 'ingress to';
    if (j.exempt) { lines.push(`  ${j.direction}: allowed (${j.exempt})`); continue; }
    if (!j.isolated) { lines.push(`  ${j.direction}: allowed (no policy selects ${j.pod} for ${j.direction})`); continue; }
    lines.push(`  ${j.direction}: ${j.allowed ? 'allowed' : 'denied'} (${who} ${j.pod})`);
    for (const p of j.policies) {
      lines.push(p.allowedBy.length
        ? `    ${p.policy}: allows it by ${j.direction} rule${p.allowedBy.length > 1 ? 's' : ''} ${p.allowedBy.map((i) => `#${i}`).join(', ')}`
        : `    ${p.policy}: selects the pod; none of its ${j.direction} rules match`);
    }
  }
  return lines;
}
