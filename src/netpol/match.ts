// The matching rules of networking.k8s.io/v1 NetworkPolicy, shared by the analyzer (which
// answers one question at a time) and the rule generator (which precomputes the answers as
// nftables sets): which pods a policy selects, which pods and addresses a peer matches, which
// ports a rule's port list admits, and ipBlocks as disjoint prefixes.

import { matches } from '../api/labels.js';
import { bitsOf, type Cidr, cidrContains, formatCIDR, type IPFamily, parseCIDR, parseIP } from '../net/cidr.js';
import type { IPBlockRecord, NamespaceRecord, PeerRecord, PodRecord, PolicyRecord, PortRecord, Protocol } from './model.js';

/** What the matching reads: namespaces by name, pods, policies. */
export interface Snapshot {
  namespaces: ReadonlyMap<string, NamespaceRecord>;
  pods: readonly PodRecord[];
  policies: readonly PolicyRecord[];
}

/** Pods a policy can be about: they have an address and their own network namespace. */
export const isPolicyPod = (p: PodRecord): boolean => !p.hostNetwork && p.ips.length > 0;

/** Whether `policy` selects `pod` (hostNetwork pods are never selected). */
export function selects(policy: PolicyRecord, pod: PodRecord): boolean {
  return isPolicyPod(pod) && pod.namespace === policy.namespace && matches(policy.podSelector, pod.labels);
}

/** Whether a podSelector/namespaceSelector peer of a policy in `policyNs` matches `pod`. */
export function podPeerMatches(peer: Extract<PeerRecord, { kind: 'pods' }>, policyNs: string, pod: PodRecord,
  namespaces: ReadonlyMap<string, NamespaceRecord>): boolean {
  if (!isPolicyPod(pod)) return false;
  if (peer.namespaceSelector) {
    const ns = namespaces.get(pod.namespace);
    // A pod whose Namespace is not (yet) known cannot be matched by its labels.
    if (!ns || !matches(peer.namespaceSelector, ns.labels)) return false;
  } else if (pod.namespace !== policyNs) {
    return false;
  }
  return !peer.podSelector || matches(peer.podSelector, pod.labels);
}

export function ipBlockContains(b: IPBlockRecord, ip: string): boolean {
  const c = parseCIDR(b.cidr);
  if (!c || !cidrContains(c, ip)) return false;
  return !b.except.some((e) => { const x = parseCIDR(e); return !!x && cidrContains(x, ip); });
}

/**
 * Whether a peer matches a source or destination. `pod` is the pod owning `ip`, if any: pod
 * peers match only pods; ipBlocks match any address, pod addresses included (as upstream
 * implementations do).
 */
export function peerMatches(peer: PeerRecord, policyNs: string, ip: string, pod: PodRecord | undefined,
  namespaces: ReadonlyMap<string, NamespaceRecord>): boolean {
  if (peer.kind === 'ipBlock') return ipBlockContains(peer.ipBlock, ip);
  return !!pod && podPeerMatches(peer, policyNs, pod, namespaces);
}

/** The container port a name stands for on `pod` (per protocol), if it has one. */
export function resolveNamedPort(pod: PodRecord | undefined, name: string, protocol: Protocol): number | undefined {
  return pod?.ports.find((p) => p.name === name && p.protocol === protocol)?.port;
}

/** Whether one policy port admits (protocol, port) towards `dstPod` (which resolves names). */
export function portMatches(p: PortRecord, protocol: Protocol, port: number, dstPod: PodRecord | undefined): boolean {
  if (p.protocol !== protocol) return false;
  if (p.port === undefined) return true;
  if (typeof p.port === 'number') return port >= p.port && port <= (p.endPort ?? p.port);
  return resolveNamedPort(dstPod, p.port, protocol) === port;
}

/** A rule's port list: empty admits everything. */
export const portsMatch = (ports: readonly PortRecord[], protocol: Protocol, port: number, dstPod: PodRecord | undefined): boolean =>
  ports.length === 0 || ports.some((p) => portMatches(p, protocol, port, dstPod));

// ---- ipBlocks as disjoint prefixes (for nftables interval sets, which refuse overlaps) ------------

type Range = [bigint, bigint];

function rangeOf(c: Cidr): Range {
  const host = (1n << BigInt(bitsOf(c.family) - c.prefix)) - 1n;
  return [c.addr, c.addr | host];
}

function subtract(ranges: Range[], cut: Range): Range[] {
  const out: Range[] = [];
  for (const [a, b] of ranges) {
    if (cut[1] < a || cut[0] > b) { out.push([a, b]); continue; }
    if (cut[0] > a) out.push([a, cut[0] - 1n]);
    if (cut[1] < b) out.push([cut[1] + 1n, b]);
  }
  return out;
}

/** The largest prefixes covering [a, b] exactly. */
function rangeToCidrs(family: IPFamily, a: bigint, b: bigint): string[] {
  const bits = bitsOf(family);
  const out: string[] = [];
  while (a <= b) {
    let size = 0;
    while (size < bits && (a & ((1n << BigInt(size + 1)) - 1n)) === 0n && a + (1n << BigInt(size + 1)) - 1n <= b) size++;
    out.push(formatCIDR({ family, addr: a, prefix: bits - size }));
    a += 1n << BigInt(size);
  }
  return out;
}

/** The addresses of `blocks` (each minus its own excepts) of one family, as disjoint prefixes in order. */
export function ipBlockPrefixes(blocks: readonly IPBlockRecord[], family: IPFamily): string[] {
  let all: Range[] = [];
  for (const b of blocks) {
    const c = parseCIDR(b.cidr);
    if (!c || c.family !== family) continue;
    let rs: Range[] = [rangeOf(c)];
    for (const e of b.except) {
      const x = parseCIDR(e);
      if (x && x.family === family) rs = subtract(rs, rangeOf(x));
    }
    all.push(...rs);
  }
  all = all.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const merged: Range[] = [];
  for (const r of all) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1n) { if (r[1] > last[1]) last[1] = r[1]; } else merged.push([r[0], r[1]]);
  }
  return merged.flatMap(([a, b]) => rangeToCidrs(family, a, b));
}

export const familyOfIP = (ip: string): IPFamily | undefined => parseIP(ip)?.family;
