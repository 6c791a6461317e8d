// NetworkPolicies, Pods and Namespaces stripped to the small records the analyzer and the rule
// generator read (STYLE.md item 7): converted once, at the informer; the rest of netpol never
// touches API JSON. A policy the generator cannot read (a selector that does not parse, a bad
// CIDR) becomes an error text, and the shell reports it instead of guessing.

import { type LabelSelector, type LabelSelectorSpec, selectorFromLabelSelector } from '../api/labels.js';
import { canonicalCIDR, canonicalIP, parseCIDR, parseIP } from '../net/cidr.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

export interface NamespaceRecord { name: string; labels: Record<string, string> }

export interface NamedPort { name: string; port: number; protocol: Protocol }

export interface PodRecord {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  /** status.podIPs (canonical); empty until the pod has an address. */
  ips: string[];
  /** Named container ports, for ports given by name in a policy. */
  ports: NamedPort[];
  hostNetwork: boolean;
  /** spec.nodeName ('' while unscheduled). */
  node: string;
}

export interface IPBlockRecord { cidr: string; except: string[] }

/**
 * One peer. `pods`: podSelector and/or namespaceSelector (undefined = not given); with neither
 * namespaceSelector, the policy's own namespace. `ipBlock`: addresses.
 */
export type PeerRecord =
  | { kind: 'pods'; podSelector?: LabelSelector; namespaceSelector?: LabelSelector }
  | { kind: 'ipBlock'; ipBlock: IPBlockRecord };

export interface PortRecord {
  protocol: Protocol;
  /** A number, a container port name, or undefined (every port of the protocol). */
  port?: number | string;
  /** With a numeric port: the last port of the range. */
  endPort?: number;
}

/** An ingress or egress rule. `peers` empty = every peer; `ports` empty = every port. */
export interface RuleRecord { peers: PeerRecord[]; ports: PortRecord[] }

export interface PolicyRecord {
  namespace: string;
  name: string;
  podSelector: LabelSelector;
  /** The effective policyTypes (defaulted when the object has none). */
  ingress: boolean;
  egress: boolean;
  ingressRules: RuleRecord[];
  egressRules: RuleRecord[];
}

export const podKey = (p: { namespace: string; name: string }): string => `${p.namespace}/${p.name}`;
export const policyKey = podKey;

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const labelsOf = (md: Obj): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(md.labels))) if (typeof v === 'string') out[k] = v;
  return out;
};

export function stripNamespace(o: unknown): NamespaceRecord {
  const md = obj(obj(o).metadata);
  return { name: str(md.name), labels: labelsOf(md) };
}

export function stripPod(o: unknown): PodRecord {
  const md = obj(obj(o).metadata);
  const spec = obj(obj(o).spec);
  const status = obj(obj(o).status);
  const phase = str(status.phase);
  const ips: string[] = [];
  // A finished pod's address may already belong to another pod.
  if (phase !== 'Succeeded' && phase !== 'Failed') {
    const listed = arr(status.podIPs).map((p) => str(obj(p).ip));
    for (const ip of listed.length ? listed : [str(status.podIP)]) {
      if (parseIP(ip) && !ips.includes(canonicalIP(ip))) ips.push(canonicalIP(ip));
    }
  }
  const ports: NamedPort[] = [];
  for (const c of [...arr(spec.containers), ...arr(spec.initContainers)]) {
    for (const p of arr(obj(c).ports)) {
      const name = str(obj(p).name);
      const port = obj(p).containerPort;
      if (!name || typeof port !== 'number') continue;
      const protocol = (str(obj(p).protocol) || 'TCP') as Protocol;
      if (!ports.some((x) => x.name === name && x.protocol === protocol)) ports.push({ name, port, protocol });
    }
  }
  return {
    namespace: str(md.namespace), name: str(md.name), labels: labelsOf(md), ips, ports,
    hostNetwork: spec.hostNetwork === true, node: str(spec.nodeName),
  };
}

function selector(v: unknown, what: string): LabelSelector | undefined {
  if (v === undefined || v === null) return undefined;
  try {
    return selectorFromLabelSelector(v as LabelSelectorSpec);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
}

function stripRule(r: unknown, peersField: 'from' | 'to', path: string): RuleRecord {
  const peers: PeerRecord[] = [];
  arr(obj(r)[peersField]).forEach((p0, i) => {
    const p = obj(p0);
    const at = `${path}.${peersField}[${i}]`;
    if (p.ipBlock !== undefined && p.ipBlock !== null) {
      const b = obj(p.ipBlock);
      const cidr = str(b.cidr);
      if (!parseCIDR(cidr)) throw new Error(`${at}.ipBlock.cidr: "${cidr}" is not a CIDR`);
      const except = arr(b.except).map((x, j) => {
        if (!parseCIDR(str(x))) throw new Error(`${at}.ipBlock.except[${j}]: "${str(x)}" is not a CIDR`);
        return canonicalCIDR(str(x));
      });
      peers.push({ kind: 'ipBlock', ipBlock: { cidr: canonicalCIDR(cidr), except } });
      return;
    }
    const podSelector = selector(p.podSelector, `${at}.podSelector`);
    const namespaceSelector = selector(p.namespaceSelector, `${at}.namespaceSelector`);
    if (!podSelector && !namespaceSelector) throw new Error(`${at}: a peer needs podSelector, namespaceSelector or ipBlock`);
    peers.push({ kind: 'pods', ...(podSelector ? { podSelector } : {}), ...(namespaceSelector ? { namespaceSelector } : {}) });
  });
  const ports: PortRecord[] = arr(obj(r).ports).map((p0, i) => {
    const p = obj(p0);
    const protocol = (str(p.protocol) || 'TCP') as Protocol;
    if (!PROTOCOLS.includes(protocol)) throw new Error(`${path}.ports[${i}].protocol: "${protocol}" is not TCP, UDP or SCTP`);
    const out: PortRecord = { protocol };
    if (typeof p.port === 'number' || (typeof p.port === 'string' && p.port !== '')) out.port = p.port;
    if (typeof out.port === 'number' && typeof p.endPort === 'number') out.endPort = p.endPort;
    return out;
  });
  return { peers, ports };
}

/** The record of a NetworkPolicy, or the reason it cannot be enforced. */
export function stripPolicy(o: unknown): { ok: true; rec: PolicyRecord } | { ok: false; error: string } {
  const md = obj(obj(o).metadata);
  const spec = obj(obj(o).spec);
  const key = `NetworkPolicy ${str(md.namespace)}/${str(md.name)}`;
  try {
    const podSelector = selector(spec.podSelector ?? {}, 'spec.podSelector')!;
    const ingressRules = arr(spec.ingress).map((r, i) => stripRule(r, 'from', `spec.ingress[${i}]`));
    const egressRules = arr(spec.egress).map((r, i) => stripRule(r, 'to', `spec.egress[${i}]`));
    // As the API server defaults them: Ingress always, Egress when there are egress rules.
    const types = arr(spec.policyTypes).map(str);
    const given = types.length > 0;
    return { ok: true, rec: {
      namespace: str(md.namespace), name: str(md.name), podSelector,
      ingress: given ? types.includes('Ingress') : true,
      egress: given ? types.includes('Egress') : egressRules.length > 0,
      ingressRules, egressRules,
    } };
  } catch (e) {
    return { ok: false, error: `${key}: ${(e as Error).message}` };
  }
}
