// networking.k8s.io/v1 NetworkPolicy: defaulting (policyTypes, port protocol), validation
// (ValidateNetworkPolicySpec: selectors, peers, ipBlock, ports, policyTypes), the strategy's
// generation handling and the table.

import type { FieldError } from '../errors.js';
import { forbidden, invalid, notSupported, required } from '../errors.js';
import type { KObject } from '../meta.js';
import { isObject } from '../meta.js';
import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import { deepEqual, isValidCIDR, isValidPortName, isValidPortNum, validateLabelSelector } from '../validation/common.js';
import { ageColumn, asArr, asObj, asStr, col, has, nameColumn, v6Bytes } from './service.js';
import { isIP } from 'node:net';

/** SetDefaults_NetworkPolicy and SetDefaults_NetworkPolicyPort (plus the empty podSelector). */
export function defaultNetworkPolicy(o: KObject): void {
  if (!isObject(o.spec)) o.spec = {};
  const spec = o.spec as Record<string, unknown>;
  // podSelector is a struct upstream, so it is always stored (as {} when it selects all pods).
  if (!isObject(spec.podSelector)) spec.podSelector = {};
  const rules = [...asArr(spec.ingress), ...asArr(spec.egress)];
  for (const r of rules) {
    for (const p of asArr(asObj(r).ports)) if (isObject(p) && !has(p, 'protocol')) p.protocol = 'TCP';
  }
  if (asArr(spec.policyTypes).length === 0) {
    spec.policyTypes = asArr(spec.egress).length ? ['Ingress', 'Egress'] : ['Ingress'];
  }
}

/** ValidateNetworkPolicyPort */
function validatePort(p: Record<string, unknown>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (has(p, 'protocol') && !['TCP', 'UDP', 'SCTP'].includes(asStr(p.protocol))) {
    errs.push(notSupported(`${path}.protocol`, p.protocol, ['TCP', 'UDP', 'SCTP']));
  }
  const endPort = p.endPort;
  const hasEnd = endPort !== undefined && endPort !== null;
  if (has(p, 'port')) {
    if (typeof p.port === 'number') {
      const port = p.port;
      for (const m of isValidPortNum(port)) errs.push(invalid(`${path}.port`, port, m));
      if (hasEnd) {
        const e = typeof endPort === 'number' ? endPort : 0;
        if (e < port) errs.push(invalid(`${path}.endPort`, e, 'must be greater than or equal to `port`'));
        for (const m of isValidPortNum(e)) errs.push(invalid(`${path}.endPort`, e, m));
      }
    } else {
      if (hasEnd) errs.push(invalid(`${path}.endPort`, endPort, 'may not be specified when `port` is non-numeric'));
      const s = asStr(p.port);
      for (const m of isValidPortName(s)) errs.push(invalid(`${path}.port`, s, m));
    }
  } else if (hasEnd) {
    errs.push(invalid(`${path}.endPort`, endPort, 'may not be specified when `port` is not specified'));
  }
  return errs;
}

/** A parsed CIDR: family, network bytes, prefix length. */
function parseCIDR(s: string): { bytes: number[]; bits: number } | undefined {
  if (isValidCIDR(s).length) return undefined;
  const [addr, bits] = s.split('/');
  const b = isIP(addr) === 4 ? addr.split('.').map(Number) : v6Bytes(addr);
  if (!b) return undefined;
  return { bytes: b, bits: Number(bits) };
}
/** Whether `ip` lies within the network `net`/`bits` (bytes of the same family). */
function contains(net: number[], bits: number, ip: number[]): boolean {
  if (net.length !== ip.length) return false;
  for (let i = 0; i < net.length; i++) {
    const take = Math.max(0, Math.min(8, bits - i * 8));
    const mask = take === 0 ? 0 : (0xff << (8 - take)) & 0xff;
    if ((net[i] & mask) !== (ip[i] & mask)) return false;
  }
  return true;
}

/** ValidateIPBlock: a valid cidr, and excepts that are strict subsets of it. */
function validateIPBlock(b: Record<string, unknown>, path: string, allowed: Set<string>): FieldError[] {
  const cidr = asStr(b.cidr);
  if (!cidr) return [required(`${path}.cidr`)];
  const errs: FieldError[] = [];
  if (!allowed.has(cidr)) for (const m of isValidCIDR(cidr)) errs.push(invalid(`${path}.cidr`, cidr, m));
  const net = parseCIDR(cidr);
  if (!net) return errs;
  asArr(b.except).forEach((x, i) => {
    const ex = asStr(x);
    const p = `${path}.except[${i}]`;
    if (!allowed.has(ex)) for (const m of isValidCIDR(ex)) errs.push(invalid(p, ex, m));
    const e = parseCIDR(ex);
    if (!e) return;
    if (!contains(net.bytes, net.bits, e.bytes) || net.bits >= e.bits) {
      errs.push(invalid(p, ex, 'must be a strict subset of `cidr`'));
    }
  });
  return errs;
}

/** ValidateNetworkPolicyPeer */
function validatePeer(peer: Record<string, unknown>, path: string, allowed: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  let n = 0;
  if (has(peer, 'podSelector')) { n++; errs.push(...validateLabelSelector(peer.podSelector, `${path}.podSelector`)); }
  if (has(peer, 'namespaceSelector')) { n++; errs.push(...validateLabelSelector(peer.namespaceSelector, `${path}.namespaceSelector`)); }
  if (has(peer, 'ipBlock')) { n++; errs.push(...validateIPBlock(asObj(peer.ipBlock), `${path}.ipBlock`, allowed)); }
  if (n === 0) errs.push(required(path, 'must specify a peer'));
  else if (n > 1 && has(peer, 'ipBlock')) errs.push(forbidden(path, 'may not specify both ipBlock and another peer'));
  return errs;
}

function validateSpec(o: KObject, allowed: Set<string>): FieldError[] {
  const spec = asObj(o.spec);
  const errs = validateLabelSelector(spec.podSelector ?? {}, 'spec.podSelector');
  asArr(spec.ingress).forEach((r, i) => {
    const p = `spec.ingress[${i}]`;
    asArr(asObj(r).ports).forEach((q, j) => errs.push(...validatePort(asObj(q), `${p}.ports[${j}]`)));
    asArr(asObj(r).from).forEach((q, j) => errs.push(...validatePeer(asObj(q), `${p}.from[${j}]`, allowed)));
  });
  asArr(spec.egress).forEach((r, i) => {
    const p = `spec.egress[${i}]`;
    asArr(asObj(r).ports).forEach((q, j) => errs.push(...validatePort(asObj(q), `${p}.ports[${j}]`)));
    asArr(asObj(r).to).forEach((q, j) => errs.push(...validatePeer(asObj(q), `${p}.to[${j}]`, allowed)));
  });
  const types = asArr(spec.policyTypes);
  if (types.length > 2) {
    errs.push(invalid('spec.policyTypes', types, 'may not specify more than two policyTypes'));
    return errs;
  }
  types.forEach((t, i) => {
    if (t !== 'Ingress' && t !== 'Egress') errs.push(notSupported(`spec.policyTypes[${i}]`, t, ['Ingress', 'Egress']));
  });
  return errs;
}

export const validateNetworkPolicy = (o: KObject): FieldError[] => validateSpec(o, new Set());

/** On update, CIDRs already stored in the policy stay allowed even if now invalid (as upstream). */
export function validateNetworkPolicyUpdate(o: KObject, old: KObject): FieldError[] {
  const allowed = new Set<string>();
  const spec = asObj(old.spec);
  const peers = [
    ...asArr(spec.ingress).flatMap((r) => asArr(asObj(r).from)),
    ...asArr(spec.egress).flatMap((r) => asArr(asObj(r).to)),
  ];
  for (const p of peers) {
    const b = asObj(asObj(p).ipBlock);
    if (b.cidr !== undefined) allowed.add(asStr(b.cidr));
    for (const e of asArr(b.except)) allowed.add(asStr(e));
  }
  return validateSpec(o, allowed);
}

/** metav1.FormatLabelSelector: "app=web,tier in (a,b),!x", or "<none>" when it selects everything. */
export function formatLabelSelector(sel: unknown): string {
  if (!isObject(sel)) return '<none>';
  const reqs: { key: string; text: string }[] = [];
  for (const [k, v] of Object.entries(asObj(sel.matchLabels))) reqs.push({ key: k, text: `${k}=${asStr(v)}` });
  for (const x of asArr(sel.matchExpressions)) {
    const e = asObj(x);
    const key = asStr(e.key);
    const vals = asArr(e.values).map(asStr).sort().join(',');
    switch (e.operator) {
      case 'In': reqs.push({ key, text: `${key} in (${vals})` }); break;
      case 'NotIn': reqs.push({ key, text: `${key} notin (${vals})` }); break;
      case 'Exists': reqs.push({ key, text: key }); break;
      case 'DoesNotExist': reqs.push({ key, text: `!${key}` }); break;
      default: return '<error>';
    }
  }
  // labels.Selector sorts its requirements by key (stable).
  const s = reqs.map((r, i) => ({ ...r, i })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.i - b.i))
    .map((r) => r.text).join(',');
  return s || '<none>';
}

/** Strategy generation handling: 1 on create, +1 whenever the spec changes. */
export function setGenerationOnCreate(o: KObject): void {
  o.metadata.generation = 1;
}
export function bumpGenerationIfChanged(o: KObject, old: KObject, fields: string[] = ['spec']): void {
  const changed = fields.some((f) => !deepEqual(o[f] ?? null, old[f] ?? null));
  const prev = old.metadata.generation ?? 0;
  o.metadata.generation = changed ? prev + 1 : prev;
}

export const networkPolicies: ResourceType = {
  group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', plural: 'networkpolicies', singular: 'networkpolicy',
  shortNames: ['netpol'], namespaced: true, model: 'V1NetworkPolicy',
  table: {
    columns: [
      nameColumn,
      col('Pod-Selector', 'Selects the pods to which this NetworkPolicy object applies.'),
      ageColumn,
    ],
    row: (o, now) => [o.metadata.name, formatLabelSelector(asObj(o.spec).podSelector ?? {}), ageOf(o, now)],
  },
  defaults: defaultNetworkPolicy,
  validateCreate: validateNetworkPolicy,
  validateUpdate: validateNetworkPolicyUpdate,
  prepareForCreate: (o) => {
    setGenerationOnCreate(o);
  },
  prepareForUpdate: (o, old) => bumpGenerationIfChanged(o, old),
};
