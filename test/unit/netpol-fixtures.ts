// The upstream NetworkPolicy e2e model as fixtures: namespaces x, y, z (labelled ns=<name> and
// kubernetes.io/metadata.name), pods a, b, c in each (labelled pod=<name>), each serving ports 80
// and 81 on TCP, UDP and SCTP under the container port names serve-80-tcp, serve-81-udp, ….
//
// Address plan (dual-stack):
//   node-1: 198.18.0.2  fd00:198:18::2   pods of x and y   10.244.1.0/24  fd00:10:244:1::/64
//   node-2: 198.18.0.3  fd00:198:18::3   pods of z         10.244.2.0/24  fd00:10:244:2::/64
//   x/a 10.244.1.10, x/b .11, x/c .12; y/a 10.244.1.20, .21, .22; z/a 10.244.2.30, .31, .32
//   (the IPv6 address ends in the same number: fd00:10:244:1::10 …)

import { stripNamespace, stripPod, stripPolicy, type NamespaceRecord, type PodRecord, type PolicyRecord, type Protocol } from '../../src/netpol/model.js';
import type { Snapshot } from '../../src/netpol/match.js';

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const PODS = ['a', 'b', 'c'] as const;
export const PORTS = [80, 81] as const;
export const PROTOCOLS: Protocol[] = ['TCP', 'UDP', 'SCTP'];
export const NODE_IPS: Record<string, string[]> = { 'node-1': ['198.18.0.2', 'fd00:198:18::2'], 'node-2': ['198.18.0.3', 'fd00:198:18::3'] };

const hostOf: Record<string, number> = { 'x/a': 10, 'x/b': 11, 'x/c': 12, 'y/a': 20, 'y/b': 21, 'y/c': 22, 'z/a': 30, 'z/b': 31, 'z/c': 32 };

export function makeNamespace(name: string, labels: Record<string, string> = {}): NamespaceRecord {
  return stripNamespace({ metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ns: name, ...labels } } });
}

export function makePod(ns: string, name: string, tweak: (p: Record<string, any>) => void = () => {}): PodRecord {
  const key = `${ns}/${name}`;
  const h = hostOf[key] ?? 99;
  const node = ns === 'z' ? 'node-2' : 'node-1';
  const subnet = ns === 'z' ? 2 : 1;
  const ports = [];
  for (const port of PORTS) for (const p of PROTOCOLS) ports.push({ name: `serve-${port}-${p.toLowerCase()}`, containerPort: port, protocol: p });
  const o: Record<string, any> = {
    metadata: { namespace: ns, name, labels: { pod: name } },
    spec: { nodeName: node, containers: [{ name: 'c', ports }] },
    status: { phase: 'Running', podIP: `10.244.${subnet}.${h}`, podIPs: [{ ip: `10.244.${subnet}.${h}` }, { ip: `fd00:10:244:${subnet}::${h}` }] },
  };
  tweak(o);
  return stripPod(o);
}

export function makePolicy(ns: string, name: string, spec: Record<string, unknown>): PolicyRecord {
  const r = stripPolicy({ metadata: { namespace: ns, name }, spec });
  if (!r.ok) throw new Error(r.error);
  return r.rec;
}

export function model(policies: PolicyRecord[] = [], extraPods: PodRecord[] = []): Snapshot {
  const namespaces = new Map(NAMESPACES.map((n) => [n, makeNamespace(n)]));
  const pods = [...NAMESPACES.flatMap((ns) => PODS.map((p) => makePod(ns, p))), ...extraPods];
  return { namespaces, pods, policies };
}

export const ALL_PODS = NAMESPACES.flatMap((ns) => PODS.map((p) => `${ns}/${p}`));
export const ALL_PORTS = PROTOCOLS.flatMap((proto) => PORTS.map((port) => ({ protocol: proto, port })));

/** An expected truth table over every pod pair and port, built as upstream's Reachability is: all allowed, then patterns. */
export class Reachability {
  readonly cells = new Map<string, boolean>();
  constructor(def = true) {
    for (const f of ALL_PODS) for (const t of ALL_PODS) for (const p of ALL_PORTS) this.cells.set(Reachability.key(f, t, p.protocol, p.port), def);
  }
  static key(from: string, to: string, protocol: Protocol, port: number): string { return `${from} → ${to} ${protocol}/${port}`; }
  private static fits(pattern: string, pod: string): boolean {
    if (pattern === '*') return true;
    const [pn, pp] = pattern.split('/');
    const [n, p] = pod.split('/');
    return (pn === '*' || pn === n) && (pp === '*' || pp === p);
  }
  /** Sets every cell from `from` to `to` (patterns "ns/pod", "ns/*", "*​/pod", "*"), optionally only for some "PROTO/port". */
  set(from: string, to: string, value: boolean, ports?: string[]): this {
    for (const f of ALL_PODS) for (const t of ALL_PODS) for (const p of ALL_PORTS) {
      if (!Reachability.fits(from, f) || !Reachability.fits(to, t)) continue;
      if (ports && !ports.includes(`${p.protocol}/${p.port}`)) continue;
      this.cells.set(Reachability.key(f, t, p.protocol, p.port), value);
    }
    return this;
  }
  /** A pod always reaches itself. */
  loopback(): this {
    for (const f of ALL_PODS) for (const p of ALL_PORTS) this.cells.set(Reachability.key(f, f, p.protocol, p.port), true);
    return this;
  }
}
