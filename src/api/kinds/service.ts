// core/v1 Service: defaulting (SetDefaults_Service), validation (ValidateService and
// ValidateServiceUpdate), the create/update strategy (status reset, clusterIP <-> clusterIPs
// normalisation, dropping type-dependent fields) and the `kubectl get services` table.
// ClusterIP and NodePort allocation is not done here: src/apiserver/services does it, in a hook
// that runs between defaulting and validation.
//
// Also exports the small helpers the other networking kinds share (object access, the IP
// rules that upstream applies to endpoints and external IPs, load-balancer status checks).

import { isIP } from 'node:net';
import type { FieldError } from '../errors.js';
import { duplicate, forbidden, invalid, notSupported, required } from '../errors.js';
import type { KObject } from '../meta.js';
import { isObject } from '../meta.js';
import type { ResourceType, TableColumn } from '../registry.js';
import { ageOf } from '../registry.js';
import {
  isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidCIDR, isValidIP,
  isValidPortName, isValidPortNum, nameIsDNS1035Label, validateLabels,
} from '../validation/common.js';
import type { NameValidator } from '../validation/common.js';

// ---- shared helpers (used by the other networking kinds too) ------------------------------

export type Obj = Record<string, unknown>;
export const asObj = (v: unknown): Obj => (isObject(v) ? v : {});
export const asArr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const asStr = (v: unknown): string => (typeof v === 'string' ? v : '');
export const asNum = (v: unknown): number => (typeof v === 'number' ? v : 0);
export const has = (o: Obj, k: string): boolean => o[k] !== undefined && o[k] !== null;

/** Sorted as upstream's sets.List prints them. */
export const supportedPortProtocols = ['SCTP', 'TCP', 'UDP'] as const;

/** Upstream's column descriptions for NAME and AGE. */
export const nameColumn: TableColumn = {
  name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0,
};
export const ageColumn: TableColumn = {
  name: 'Age', type: 'string', priority: 0,
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
};
export const col = (name: string, description: string, priority = 0): TableColumn =>
  ({ name, type: 'string', description, priority });

/** Port number field errors (IsValidPortNum), as field.Invalid at `path`. */
export function validatePortNum(n: unknown, path: string): FieldError[] {
  const v = typeof n === 'number' ? n : 0;
  return isValidPortNum(v).map((m) => invalid(path, v, m));
}

/** ValidateDNS1123Label as a field error list. */
export function validateDNS1123Label(v: string, path: string): FieldError[] {
  return isDNS1123Label(v).map((m) => invalid(path, v, m));
}

/** ValidateQualifiedName as a field error list (appProtocol, loadBalancerClass). */
export function validateQualifiedName(v: string, path: string): FieldError[] {
  return isQualifiedName(v).map((m) => invalid(path, v, m));
}

/** IsValidIP as a field error list. */
export function validateIP(v: string, path: string): FieldError[] {
  return isValidIP(v).map((m) => invalid(path, v, m));
}

/** IsValidCIDR as a field error list. */
export function validateCIDR(v: string, path: string): FieldError[] {
  return isValidCIDR(v).map((m) => invalid(path, v, m));
}

/** IPv4 address bytes, or undefined. */
function v4Bytes(s: string): number[] | undefined {
  if (isIP(s) !== 4) return undefined;
  return s.split('.').map(Number);
}

/** The 16 bytes of an IPv6 address (with embedded IPv4 tails), or undefined. */
export function v6Bytes(s: string): number[] | undefined {
  if (isIP(s) !== 6) return undefined;
  let text = s;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail = v4Bytes(text.slice(lastColon + 1)) ?? [];
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const hs = head ? head.split(':') : [];
  const rs = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const fill = rest === undefined ? 0 : 8 - hs.length - rs.length;
  const groups = [...hs, ...Array<string>(fill).fill('0'), ...rs].map((g) => parseInt(g, 16));
  const bytes = groups.flatMap((g) => [(g >> 8) & 0xff, g & 0xff]);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** Go's net.IP classification of an address given as text (IPv4-mapped IPv6 counts as IPv4). */
function ipClass(s: string): { unspecified: boolean; loopback: boolean; linkLocal: boolean; linkLocalMulticast: boolean } | undefined {
  let b4 = v4Bytes(s);
  const b6 = b4 ? undefined : v6Bytes(s);
  if (b6 && b6.slice(0, 10).every((x) => x === 0) && b6[10] === 0xff && b6[11] === 0xff) b4 = b6.slice(12);
  if (b4) {
    return {
      unspecified: b4.every((x) => x === 0),
      loopback: b4[0] === 127,
      linkLocal: b4[0] === 169 && b4[1] === 254,
      linkLocalMulticast: b4[0] === 224 && b4[1] === 0 && b4[2] === 0,
    };
  }
  if (!b6) return undefined;
  return {
    unspecified: b6.every((x) => x === 0),
    loopback: b6.slice(0, 15).every((x) => x === 0) && b6[15] === 1,
    linkLocal: b6[0] === 0xfe && (b6[1] & 0xc0) === 0x80,
    linkLocalMulticast: b6[0] === 0xff && (b6[1] & 0x0f) === 0x02,
  };
}

/**
 * ValidateNonSpecialIP / ValidateEndpointIP: endpoint and external IPs may not be unspecified,
 * loopback or link-local.
 */
export function validateNonSpecialIP(ip: string, path: string): FieldError[] {
  const c = ipClass(ip);
  if (!c) return [invalid(path, ip, 'must be a valid IP address')];
  const errs: FieldError[] = [];
  if (c.unspecified) errs.push(invalid(path, ip, `may not be unspecified (${ip})`));
  if (c.loopback) errs.push(invalid(path, ip, 'may not be in the loopback range (127.0.0.0/8, ::1/128)'));
  if (c.linkLocal) errs.push(invalid(path, ip, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)'));
  if (c.linkLocalMulticast) errs.push(invalid(path, ip, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)'));
  return errs;
}

/** ValidateNodeName (a DNS-1123 subdomain) messages. */
export const validateNodeNameMsgs = (name: string): string[] => isDNS1123Subdomain(name);

/** The set of load-balancer ingress points, as printers.go's loadBalancerStatusStringer. */
export function loadBalancerStatusString(status: unknown): string {
  const set = new Set<string>();
  for (const ing of asArr(asObj(asObj(status).loadBalancer).ingress)) {
    const i = asObj(ing);
    if (asStr(i.ip)) set.add(asStr(i.ip));
    else if (asStr(i.hostname)) set.add(asStr(i.hostname));
  }
  return [...set].sort().join(',');
}

/** The `hostname` rule shared by Service and Ingress load-balancer status. */
export function validateLBHostname(hostname: string, path: string): FieldError[] {
  const errs = isDNS1123Subdomain(hostname).map((m) => invalid(path, hostname, m));
  if (isIP(hostname) !== 0) errs.push(invalid(path, hostname, 'must be a DNS name, not an IP address'));
  return errs;
}

/** Upstream's FormatLabels: "a=b,c=d" (keys sorted) or "<none>". */
export function formatLabels(m: unknown): string {
  const o = asObj(m);
  const keys = Object.keys(o).sort();
  return keys.length ? keys.map((k) => `${k}=${asStr(o[k])}`).join(',') : '<none>';
}

// ---- Service ---------------------------------------------------------------------------------

const ServiceTypes = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'] as const;
const SessionAffinities = ['ClientIP', 'None'] as const;
const TrafficPolicies = ['Cluster', 'Local'] as const;
const IPFamilies = ['IPv4', 'IPv6'] as const;
const IPFamilyPolicies = ['PreferDualStack', 'RequireDualStack', 'SingleStack'] as const;
const LoadBalancerIPModes = ['Proxy', 'VIP'] as const;
export const DefaultClientIPServiceAffinitySeconds = 10800;
export const MaxClientIPServiceAffinitySeconds = 86400;
const AnnotationTopologyMode = 'service.kubernetes.io/topology-mode';
const DeprecatedAnnotationTopologyAwareHints = 'service.kubernetes.io/topology-aware-hints';
const AnnotationLoadBalancerSourceRanges = 'service.beta.kubernetes.io/load-balancer-source-ranges';

/** Service names are DNS-1035 labels (upstream's ValidateServiceName). */
export const serviceNameValidator: NameValidator = nameIsDNS1035Label;

const specOf = (o: KObject): Obj => {
  if (!isObject(o.spec)) o.spec = {};
  return o.spec as Obj;
};
const typeOf = (spec: Obj): string => asStr(spec.type);
const clusterIPsOf = (spec: Obj): string[] => asArr(spec.clusterIPs).map(asStr);

const isHeadless = (spec: Obj): boolean => {
  const ips = clusterIPsOf(spec);
  return ips.length === 1 && ips[0] === 'None';
};
/** apiservice.ExternallyAccessible */
const externallyAccessible = (spec: Obj): boolean =>
  typeOf(spec) === 'LoadBalancer' || typeOf(spec) === 'NodePort' ||
  (typeOf(spec) === 'ClusterIP' && asArr(spec.externalIPs).length > 0);
/** apiservice.NeedsHealthCheck */
const needsHealthCheck = (spec: Obj): boolean =>
  typeOf(spec) === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
const needsClusterIP = (spec: Obj): boolean => typeOf(spec) !== 'ExternalName';
const needsNodePort = (spec: Obj): boolean => typeOf(spec) === 'NodePort' || typeOf(spec) === 'LoadBalancer';

/** SetDefaults_Service (and the LoadBalancer status ipMode default). */
export function defaultService(o: KObject): void {
  const spec = specOf(o);
  if (!spec.sessionAffinity) spec.sessionAffinity = 'None';
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP') {
    const cfg = asObj(spec.sessionAffinityConfig);
    const cip = asObj(cfg.clientIP);
    if (!isObject(spec.sessionAffinityConfig) || !isObject(cfg.clientIP) || !has(cip, 'timeoutSeconds')) {
      spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: DefaultClientIPServiceAffinitySeconds } };
    }
  }
  if (!spec.type) spec.type = 'ClusterIP';
  for (const p of asArr(spec.ports)) {
    if (!isObject(p)) continue;
    if (!p.protocol) p.protocol = 'TCP';
    if (p.targetPort === undefined || p.targetPort === null || p.targetPort === 0 || p.targetPort === '') {
      p.targetPort = p.port;
    }
  }
  if (externallyAccessible(spec) && !spec.externalTrafficPolicy) spec.externalTrafficPolicy = 'Cluster';
  if (!has(spec, 'internalTrafficPolicy') && ['NodePort', 'LoadBalancer', 'ClusterIP'].includes(typeOf(spec))) {
    spec.internalTrafficPolicy = 'Cluster';
  }
  if (typeOf(spec) === 'LoadBalancer') {
    if (!has(spec, 'allocateLoadBalancerNodePorts')) spec.allocateLoadBalancerNodePorts = true;
    for (const ing of asArr(asObj(asObj(o.status).loadBalancer).ingress)) {
      if (isObject(ing) && asStr(ing.ip) && !has(ing, 'ipMode')) ing.ipMode = 'VIP';
    }
  }
}

function validateServicePort(p: Obj, requireName: boolean, names: Set<string>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const name = asStr(p.name);
  if (requireName && !name) {
    errs.push(required(`${path}.name`));
  } else if (name) {
    errs.push(...validateDNS1123Label(name, `${path}.name`));
    if (names.has(name)) errs.push(duplicate(`${path}.name`, name));
    else names.add(name);
  }
  errs.push(...validatePortNum(p.port, `${path}.port`));
  const proto = asStr(p.protocol);
  if (!proto) errs.push(required(`${path}.protocol`));
  else if (!(supportedPortProtocols as readonly string[]).includes(proto)) {
    errs.push(notSupported(`${path}.protocol`, proto, supportedPortProtocols));
  }
  errs.push(...validatePortNumOrName(p.targetPort, `${path}.targetPort`));
  if (has(p, 'appProtocol')) errs.push(...validateQualifiedName(asStr(p.appProtocol), `${path}.appProtocol`));
  return errs;
}

/** ValidatePortNumOrName: an IntOrString port (number 1-65535 or IANA service name). */
export function validatePortNumOrName(v: unknown, path: string): FieldError[] {
  if (typeof v === 'number') return isValidPortNum(v).map((m) => invalid(path, v, m));
  const s = asStr(v);
  return isValidPortName(s).map((m) => invalid(path, s, m));
}

function validateClientIPAffinityConfig(cfg: unknown, path: string): FieldError[] {
  const detail = 'when session affinity type is ClientIP';
  if (!isObject(cfg)) return [required(path, detail)];
  if (!isObject(cfg.clientIP)) return [required(`${path}.clientIP`, detail)];
  const t = cfg.clientIP.timeoutSeconds;
  if (t === undefined || t === null) return [required(`${path}.clientIP.timeoutSeconds`, detail)];
  const n = asNum(t);
  if (n <= 0 || n > MaxClientIPServiceAffinitySeconds) {
    return [invalid(`${path}.clientIP.timeoutSeconds`, t, `must be greater than 0 and less than ${MaxClientIPServiceAffinitySeconds}`)];
  }
  return [];
}

/** Whether a list of IPs holds exactly one of each family (netutils.IsDualStackIPStrings). */
function isDualStack(ips: string[]): boolean {
  const fams = new Set(ips.map((ip) => isIP(ip)));
  return ips.length === 2 && fams.has(4) && fams.has(6);
}

/** An IPv6 address that is not an IPv4-mapped one (netutils.IsIPv6String). */
const isIPv6String = (ip: string): boolean => {
  const b = v6Bytes(ip);
  return !!b && !(b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff);
};

/** ValidateServiceClusterIPsRelatedFields (also the allocator's loose pre-validation). */
export function validateClusterIPsRelated(spec: Obj): FieldError[] {
  if (typeOf(spec) === 'ExternalName') return [];
  const errs: FieldError[] = [];
  const clusterIP = asStr(spec.clusterIP);
  const ips = clusterIPsOf(spec);
  const families = asArr(spec.ipFamilies).map(asStr);
  const ipsPath = 'spec.clusterIPs';
  let hasInvalid = false;
  if (clusterIP) {
    if (ips.length === 0) errs.push(required(ipsPath));
    else if (ips[0] !== clusterIP) errs.push(invalid(ipsPath, ips, 'first value must match `clusterIP`'));
  } else if (ips.length !== 0) {
    errs.push(invalid(ipsPath, ips, 'must be empty when `clusterIP` is not specified'));
  }
  const seen = new Set<string>();
  families.forEach((f, i) => {
    if (!(IPFamilies as readonly string[]).includes(f)) errs.push(notSupported(`spec.ipFamilies[${i}]`, f, IPFamilies));
    if (seen.has(f)) errs.push(duplicate(`spec.ipFamilies[${i}]`, f));
    seen.add(f);
  });
  if (has(spec, 'ipFamilyPolicy') && !(IPFamilyPolicies as readonly string[]).includes(asStr(spec.ipFamilyPolicy))) {
    errs.push(notSupported('spec.ipFamilyPolicy', spec.ipFamilyPolicy, IPFamilyPolicies));
  }
  ips.forEach((ip, i) => {
    if (i === 0 && ip === 'None') {
      if (ips.length > 1) {
        hasInvalid = true;
        errs.push(invalid(ipsPath, ips, "'None' must be the first and only value"));
      }
      return;
    }
    const e = validateIP(ip, `${ipsPath}[${i}]`);
    if (e.length) hasInvalid = true;
    errs.push(...e);
  });
  if (ips.length > 2) errs.push(invalid(ipsPath, ips, 'may only hold up to 2 values'));
  if (hasInvalid) return errs;
  if (ips.length > 1 && !isDualStack(ips)) {
    errs.push(invalid(ipsPath, ips, 'may specify no more than one IP for each IP family'));
  }
  if (!isHeadless(spec) && ips.length > 0 && families.length > 0) {
    for (let i = 0; i < ips.length && i < families.length; i++) {
      if (families[i] === 'IPv4' && isIPv6String(ips[i])) {
        errs.push(invalid(`${ipsPath}[${i}]`, ips[i], `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
      }
      if (families[i] === 'IPv6' && !isIPv6String(ips[i])) {
        errs.push(invalid(`${ipsPath}[${i}]`, ips[i], `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
      }
    }
  }
  return errs;
}

function validateLoadBalancerClass(spec: Obj, oldSpec?: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const path = 'spec.loadBalancerClass';
  const isLB = typeOf(spec) === 'LoadBalancer';
  if (oldSpec && typeOf(oldSpec) === 'LoadBalancer' && isLB &&
      (oldSpec.loadBalancerClass ?? null) !== (spec.loadBalancerClass ?? null)) {
    errs.push(invalid(path, spec.loadBalancerClass ?? null, 'may not change once set'));
  }
  if (has(spec, 'loadBalancerClass')) {
    if (isLB) errs.push(...validateQualifiedName(asStr(spec.loadBalancerClass), path));
    else errs.push(forbidden(path, 'may only be used when `type` is \'LoadBalancer\''));
  }
  return errs;
}

/** ValidateService (without ObjectMeta, which the server validates generically). */
export function validateService(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = asObj(o.spec);
  const ann = o.metadata.annotations ?? {};
  const type = typeOf(spec);
  const headless = isHeadless(spec);

  if (AnnotationTopologyMode in ann && DeprecatedAnnotationTopologyAwareHints in ann &&
      ann[AnnotationTopologyMode] !== ann[DeprecatedAnnotationTopologyAwareHints]) {
    errs.push(invalid(`metadata.annotations[${AnnotationTopologyMode}]`, ann[AnnotationTopologyMode],
      `must match annotations[${DeprecatedAnnotationTopologyAwareHints}] when both are specified`));
  }

  const ports = asArr(spec.ports);
  if (ports.length === 0 && !headless && type !== 'ExternalName') errs.push(required('spec.ports'));
  switch (type) {
    case 'LoadBalancer':
      if (headless) errs.push(invalid('spec.clusterIPs[0]', 'None', "may not be set to 'None' for LoadBalancer services"));
      break;
    case 'NodePort':
      if (headless) errs.push(invalid('spec.clusterIPs[0]', 'None', "may not be set to 'None' for NodePort services"));
      break;
    case 'ExternalName': {
      if (clusterIPsOf(spec).length > 0) errs.push(forbidden('spec.clusterIPs', 'may not be set for ExternalName services'));
      if (asArr(spec.ipFamilies).length > 0) errs.push(forbidden('spec.ipFamilies', 'may not be set for ExternalName services'));
      if (has(spec, 'ipFamilyPolicy')) errs.push(forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
      const cname = asStr(spec.externalName).replace(/\.$/, '');
      if (cname) errs.push(...isDNS1123Subdomain(cname).map((m) => invalid('spec.externalName', cname, m)));
      else errs.push(required('spec.externalName'));
      break;
    }
  }

  const names = new Set<string>();
  ports.forEach((p, i) => errs.push(...validateServicePort(asObj(p), ports.length > 1, names, `spec.ports[${i}]`)));

  if (has(spec, 'selector')) errs.push(...validateLabels(spec.selector, 'spec.selector'));

  const affinity = asStr(spec.sessionAffinity);
  if (!affinity) errs.push(required('spec.sessionAffinity'));
  else if (!(SessionAffinities as readonly string[]).includes(affinity)) {
    errs.push(notSupported('spec.sessionAffinity', affinity, SessionAffinities));
  }
  if (affinity === 'ClientIP') {
    errs.push(...validateClientIPAffinityConfig(spec.sessionAffinityConfig, 'spec.sessionAffinityConfig'));
  } else if (affinity === 'None' && has(spec, 'sessionAffinityConfig')) {
    errs.push(forbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None'));
  }

  errs.push(...validateClusterIPsRelated(spec));

  asArr(spec.externalIPs).forEach((ip, i) => {
    const p = `spec.externalIPs[${i}]`;
    const e = validateIP(asStr(ip), p);
    errs.push(...(e.length ? e : validateNonSpecialIP(asStr(ip), p)));
  });

  if (!type) errs.push(required('spec.type'));
  else if (!(ServiceTypes as readonly string[]).includes(type)) errs.push(notSupported('spec.type', type, ServiceTypes));

  if (type === 'ClusterIP') {
    ports.forEach((p, i) => {
      if (asNum(asObj(p).nodePort) !== 0) {
        errs.push(forbidden(`spec.ports[${i}].nodePort`, "may not be used when `type` is 'ClusterIP'"));
      }
    });
  }
  const nodePorts = new Set<string>();
  ports.forEach((p, i) => {
    const q = asObj(p);
    const np = asNum(q.nodePort);
    if (np === 0) return;
    const key = `${asStr(q.protocol)}/${np}`;
    if (nodePorts.has(key)) errs.push(duplicate(`spec.ports[${i}].nodePort`, np));
    nodePorts.add(key);
  });
  const portKeys = new Set<string>();
  ports.forEach((p, i) => {
    const q = asObj(p);
    const key = `${asStr(q.protocol)}/${asNum(q.port)}`;
    if (portKeys.has(key)) errs.push(duplicate(`spec.ports[${i}]`, { port: asNum(q.port), protocol: asStr(q.protocol) }));
    portKeys.add(key);
  });

  const ranges = asArr(spec.loadBalancerSourceRanges);
  if (ranges.length > 0) {
    // Upstream's field path really is capitalised here.
    const fp = 'spec.LoadBalancerSourceRanges';
    if (type !== 'LoadBalancer') errs.push(forbidden(fp, "may only be used when `type` is 'LoadBalancer'"));
    ranges.forEach((r, i) => errs.push(...validateCIDR(asStr(r).trim(), `${fp}[${i}]`)));
  } else if (AnnotationLoadBalancerSourceRanges in ann) {
    const fp = `metadata.annotations[${AnnotationLoadBalancerSourceRanges}]`;
    if (type !== 'LoadBalancer') errs.push(forbidden(fp, "may only be used when `type` is 'LoadBalancer'"));
    const val = ann[AnnotationLoadBalancerSourceRanges].trim();
    if (val) for (const c of val.split(',')) errs.push(...validateCIDR(c.trim(), fp));
  }

  if (has(spec, 'allocateLoadBalancerNodePorts') && type !== 'LoadBalancer') {
    errs.push(forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (type === 'LoadBalancer' && !has(spec, 'allocateLoadBalancerNodePorts')) {
    // Upstream's path lacks the `spec.` prefix here.
    errs.push(required('allocateLoadBalancerNodePorts'));
  }

  errs.push(...validateLoadBalancerClass(spec));

  // External traffic policy and health-check node port.
  const etp = asStr(spec.externalTrafficPolicy);
  if (!externallyAccessible(spec)) {
    if (etp) errs.push(invalid('spec.externalTrafficPolicy', etp, 'may only be set for externally-accessible services'));
  } else if (!etp) {
    errs.push(required('spec.externalTrafficPolicy'));
  } else if (!(TrafficPolicies as readonly string[]).includes(etp)) {
    errs.push(notSupported('spec.externalTrafficPolicy', etp, TrafficPolicies));
  }
  const hc = asNum(spec.healthCheckNodePort);
  if (!needsHealthCheck(spec)) {
    if (hc !== 0) {
      errs.push(invalid('spec.healthCheckNodePort', hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
    }
  } else if (hc === 0) {
    // The allocator (src/apiserver/services) fills it in before validation runs.
    errs.push(required('spec.healthCheckNodePort'));
  } else {
    errs.push(...validatePortNum(hc, 'spec.healthCheckNodePort'));
  }

  // Internal traffic policy.
  if (!has(spec, 'internalTrafficPolicy')) {
    if (['NodePort', 'LoadBalancer', 'ClusterIP'].includes(type)) errs.push(required('spec.internalTrafficPolicy'));
  } else if (!(TrafficPolicies as readonly string[]).includes(asStr(spec.internalTrafficPolicy))) {
    errs.push(notSupported('spec.internalTrafficPolicy', spec.internalTrafficPolicy, TrafficPolicies));
  }

  if (has(spec, 'trafficDistribution') && spec.trafficDistribution !== 'PreferClose') {
    errs.push(notSupported('spec.trafficDistribution', spec.trafficDistribution, ['PreferClose']));
  }
  return errs;
}

/** validateUpgradeDowngradeClusterIPs */
function validateClusterIPsUpdate(spec: Obj, old: Obj): FieldError[] {
  if (typeOf(spec) === 'ExternalName' || typeOf(old) === 'ExternalName') return [];
  if (isHeadless(spec) && isHeadless(old)) return [];
  const errs: FieldError[] = [];
  const ips = clusterIPsOf(spec);
  const oldIPs = clusterIPsOf(old);
  if (oldIPs.length === ips.length) {
    oldIPs.forEach((ip, i) => {
      if (ip !== ips[i]) errs.push(invalid(`spec.clusterIPs[${i}]`, ips, 'may not change once set'));
    });
  } else if (oldIPs.length > ips.length) {
    if (ips.length === 0) errs.push(invalid('spec.clusterIPs[0]', ips, 'primary clusterIP can not be unset'));
    if (oldIPs.length > 0 && ips.length > 0 && ips[0] !== oldIPs[0]) {
      errs.push(invalid('spec.clusterIPs[0]', ips, 'may not change once set'));
    }
    if (ips.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
      errs.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary clusterIP"));
    }
  } else if (oldIPs.length > 0 && ips[0] !== oldIPs[0]) {
    errs.push(invalid('spec.clusterIPs[0]', ips, 'may not change once set'));
  }
  return errs;
}

/** validateUpgradeDowngradeIPFamilies */
function validateIPFamiliesUpdate(spec: Obj, old: Obj): FieldError[] {
  if (typeOf(spec) === 'ExternalName' || typeOf(old) === 'ExternalName') return [];
  if (isHeadless(spec) !== isHeadless(old) || isHeadless(spec)) return [];
  const errs: FieldError[] = [];
  const fams = asArr(spec.ipFamilies).map(asStr);
  const oldFams = asArr(old.ipFamilies).map(asStr);
  if (oldFams.length === fams.length) {
    oldFams.forEach((f, i) => {
      if (f !== fams[i]) errs.push(invalid('spec.ipFamilies[0]', fams, 'may not change once set'));
    });
  } else if (oldFams.length > fams.length) {
    if (fams.length === 0) errs.push(invalid('spec.ipFamilies[0]', fams, 'primary ipFamily can not be unset'));
    if (oldFams.length > 0 && fams.length > 0 && fams[0] !== oldFams[0]) {
      errs.push(invalid('spec.ipFamilies[0]', fams, 'may not change once set'));
    }
    if (fams.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
      errs.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary ipFamily"));
    }
  } else if (oldFams.length > 0 && fams.length > 0 && fams[0] !== oldFams[0]) {
    errs.push(invalid('spec.ipFamilies[0]', asArr(spec.clusterIPs), 'may not change once set'));
  }
  return errs;
}

/** ValidateServiceUpdate (without ObjectMeta). */
export function validateServiceUpdate(o: KObject, old: KObject): FieldError[] {
  const spec = asObj(o.spec);
  const oldSpec = asObj(old.spec);
  const errs = [
    ...validateClusterIPsUpdate(spec, oldSpec),
    ...validateIPFamiliesUpdate(spec, oldSpec),
    ...validateLoadBalancerClass(spec, oldSpec).filter((e) => e.detail === 'may not change once set'),
  ];
  if (needsHealthCheck(oldSpec) && needsHealthCheck(spec) &&
      asNum(spec.healthCheckNodePort) !== asNum(oldSpec.healthCheckNodePort)) {
    errs.push(forbidden('spec.healthCheckNodePort', 'field is immutable'));
  }
  return [...errs, ...validateService(o)];
}

/** ValidateLoadBalancerStatus, for Service status writes. */
export function validateServiceStatus(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = asObj(o.spec);
  const ingress = asArr(asObj(asObj(o.status).loadBalancer).ingress);
  const path = 'status.loadBalancer.ingress';
  if (typeOf(spec) !== 'LoadBalancer' && ingress.length !== 0) {
    return [forbidden(path, "may only be used when `spec.type` is 'LoadBalancer'")];
  }
  ingress.forEach((x, i) => {
    const ing = asObj(x);
    const p = `${path}[${i}]`;
    const ip = asStr(ing.ip);
    if (ip) errs.push(...validateIP(ip, `${p}.ip`));
    if (!has(ing, 'ipMode')) {
      if (ip) errs.push(required(`${p}.ipMode`, 'must be specified when `ip` is set'));
    } else if (!ip) {
      errs.push(forbidden(`${p}.ipMode`, 'may not be specified when `ip` is not set'));
    } else if (!(LoadBalancerIPModes as readonly string[]).includes(asStr(ing.ipMode))) {
      errs.push(notSupported(`${p}.ipMode`, ing.ipMode, LoadBalancerIPModes));
    }
    const hostname = asStr(ing.hostname);
    if (hostname) errs.push(...validateLBHostname(hostname, `${p}.hostname`));
  });
  return errs;
}

/** NormalizeClusterIPs: keep the singular and plural fields in step. */
function normalizeClusterIPs(spec: Obj, oldSpec?: Obj): void {
  const ip = asStr(spec.clusterIP);
  const ips = clusterIPsOf(spec);
  if (!oldSpec) {
    if (ip && ips.length === 0) spec.clusterIPs = [ip];
    return;
  }
  const oldIP = asStr(oldSpec.clusterIP);
  const oldIPs = clusterIPsOf(oldSpec);
  if (oldIPs.length > 0 && ips.length === 0 && oldIP === ip) {
    spec.clusterIPs = [...oldIPs];
  }
  if (oldIP !== ip) {
    const cur = clusterIPsOf(spec);
    if (oldIP && !ip) {
      if (cur.length === 0 || oldIPs.length === 0 || oldIPs[0] === cur[0]) {
        delete spec.clusterIPs;
        return;
      }
    }
    if (oldIPs.length > 0 && cur.length > 0 && oldIPs[0] === cur[0]) {
      cur[0] = ip;
      spec.clusterIPs = cur;
    }
  }
}

/**
 * patchAllocatedValues: a client that omits allocated values on update (kubectl replace,
 * apply without them) keeps the old ones, so that updates are idempotent.
 */
function patchAllocatedValues(spec: Obj, old: Obj): void {
  if (needsClusterIP(old) && needsClusterIP(spec)) {
    if (!asStr(spec.clusterIP) && asStr(old.clusterIP)) spec.clusterIP = old.clusterIP;
    if (clusterIPsOf(spec).length === 0 && clusterIPsOf(old).length > 0) spec.clusterIPs = [...clusterIPsOf(old)];
  }
  if (needsNodePort(old) && needsNodePort(spec)) {
    const used = (s: Obj) => new Set(asArr(s.ports).map((p) => asNum(asObj(p).nodePort)).filter((n) => n !== 0));
    const newUsed = used(spec);
    const inBoth = new Set([...used(old)].filter((n) => newUsed.has(n)));
    // By port name only, as upstream: the request is not defaulted yet here (protocol unset).
    const key = (p: Obj) => asStr(p.name);
    const byKey = new Map(asArr(old.ports).map((p) => [key(asObj(p)), asNum(asObj(p).nodePort)]));
    for (const p of asArr(spec.ports)) {
      if (!isObject(p) || asNum(p.nodePort) !== 0) continue;
      const v = byKey.get(key(p)) ?? 0;
      if (v && !inBoth.has(v)) p.nodePort = v;
    }
  }
  if (needsHealthCheck(old) && needsHealthCheck(spec) && !asNum(spec.healthCheckNodePort) && asNum(old.healthCheckNodePort)) {
    spec.healthCheckNodePort = old.healthCheckNodePort;
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** dropTypeDependentFields: wipe what no longer applies after a type change, unless the user changed it too. */
function dropTypeDependentFields(o: KObject, spec: Obj, old: Obj): void {
  if (needsClusterIP(old) && !needsClusterIP(spec)) {
    if (same(spec.clusterIP, old.clusterIP) && same(spec.clusterIPs, old.clusterIPs)) {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    if (same(spec.ipFamilies, old.ipFamilies)) delete spec.ipFamilies;
    if (same(spec.ipFamilyPolicy, old.ipFamilyPolicy)) delete spec.ipFamilyPolicy;
  }
  if (needsNodePort(old) && !needsNodePort(spec)) {
    const nps = (s: Obj) => asArr(s.ports).map((p) => asNum(asObj(p).nodePort));
    if (same(nps(spec), nps(old))) for (const p of asArr(spec.ports)) if (isObject(p)) delete p.nodePort;
  }
  if (needsHealthCheck(old) && !needsHealthCheck(spec) && asNum(spec.healthCheckNodePort) === asNum(old.healthCheckNodePort)) {
    delete spec.healthCheckNodePort;
  }
  if (typeOf(old) === 'LoadBalancer' && typeOf(spec) !== 'LoadBalancer') {
    if (has(spec, 'allocateLoadBalancerNodePorts') && has(old, 'allocateLoadBalancerNodePorts') &&
        spec.allocateLoadBalancerNodePorts === old.allocateLoadBalancerNodePorts) {
      delete spec.allocateLoadBalancerNodePorts;
    }
    if (same(spec.loadBalancerClass, old.loadBalancerClass)) delete spec.loadBalancerClass;
    o.status = { ...asObj(o.status), loadBalancer: {} };
  }
  if (externallyAccessible(old) && !externallyAccessible(spec) && same(spec.externalTrafficPolicy, old.externalTrafficPolicy)) {
    delete spec.externalTrafficPolicy;
  }
}

export function prepareServiceForCreate(o: KObject): void {
  o.status = { loadBalancer: {} };
  normalizeClusterIPs(specOf(o));
}

export function prepareServiceForUpdate(o: KObject, old: KObject): void {
  o.status = old.status === undefined ? { loadBalancer: {} } : structuredClone(old.status);
  const spec = specOf(o);
  const oldSpec = asObj(old.spec);
  normalizeClusterIPs(spec, oldSpec);
  dropTypeDependentFields(o, spec, oldSpec);
  patchAllocatedValues(spec, oldSpec);
}

/** printers.go makePortString: "80/TCP,443:30443/TCP". */
export function servicePortsString(ports: unknown): string {
  return asArr(ports).map((x) => {
    const p = asObj(x);
    const np = asNum(p.nodePort);
    return np > 0 ? `${asNum(p.port)}:${np}/${asStr(p.protocol)}` : `${asNum(p.port)}/${asStr(p.protocol)}`;
  }).join(',');
}

/** printers.go getServiceExternalIP (wide, as the server's table conversion uses). */
export function serviceExternalIP(o: KObject): string {
  const spec = asObj(o.spec);
  const ext = asArr(spec.externalIPs).map(asStr);
  switch (typeOf(spec)) {
    case 'ClusterIP':
    case 'NodePort':
      return ext.length ? ext.join(',') : '<none>';
    case 'LoadBalancer': {
      const lb = loadBalancerStatusString(o.status);
      if (ext.length) return [...(lb ? lb.split(',') : []), ...ext].join(',');
      return lb || '<pending>';
    }
    case 'ExternalName':
      return asStr(spec.externalName);
  }
  return '<unknown>';
}

export const services: ResourceType = {
  group: '', version: 'v1', kind: 'Service', plural: 'services', singular: 'service',
  shortNames: ['svc'], categories: ['all'], namespaced: true, model: 'V1Service', nameValidator: serviceNameValidator,
  subresources: { status: true },
  fieldSelectors: {
    'spec.clusterIP': (o) => asStr(asObj(o.spec).clusterIP),
    'spec.type': (o) => asStr(asObj(o.spec).type),
  },
  table: {
    columns: [
      nameColumn,
      col('Type', 'type determines how the Service is exposed.'),
      col('Cluster-IP', 'clusterIP is the IP address of the service and is usually assigned randomly.'),
      col('External-IP', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
      col('Port(s)', 'The list of ports that are exposed by this service.'),
      ageColumn,
      col('Selector', 'Route service traffic to pods with label keys and values matching this selector.', 1),
    ],
    row: (o, now) => {
      const spec = asObj(o.spec);
      const ips = clusterIPsOf(spec);
      return [
        o.metadata.name,
        asStr(spec.type),
        ips.length ? ips[0] : '<none>',
        serviceExternalIP(o),
        servicePortsString(spec.ports) || '<none>',
        ageOf(o, now),
        formatLabels(spec.selector),
      ];
    },
  },
  defaults: defaultService,
  validateCreate: validateService,
  validateUpdate: validateServiceUpdate,
  validateStatusUpdate: validateServiceStatus,
  prepareForCreate: prepareServiceForCreate,
  prepareForUpdate: prepareServiceForUpdate,
};
