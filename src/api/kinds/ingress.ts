// networking.k8s.io/v1 Ingress: validation (ValidateIngressCreate/Update/StatusUpdate: rules,
// wildcard hosts, HTTP paths, backends, TLS, class), the strategy (status reset, generation)
// and the `kubectl get ingress` table.

import { isIP } from 'node:net';
import type { FieldError } from '../errors.js';
import { invalid, notSupported, required } from '../errors.js';
import type { KObject } from '../meta.js';
import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import {
  isDNS1123Subdomain, isValidPortName, isValidPortNum, maxLenError, nameIsDNS1035Label, nameIsDNSSubdomain,
  nameIsPathSegment, regexError, DNS1123SubdomainMaxLength,
} from '../validation/common.js';
import {
  ageColumn, asArr, asNum, asObj, asStr, col, has, loadBalancerStatusString, nameColumn, validateIP, validateLBHostname,
} from './service.js';
import { bumpGenerationIfChanged, setGenerationOnCreate } from './networkpolicy.js';

const PathTypes = ['Exact', 'ImplementationSpecific', 'Prefix'] as const;
const invalidPathSequences = ['//', '/./', '/../', '%2f', '%2F'];
const invalidPathSuffixes = ['/..', '/.'];
const annotationIngressClass = 'kubernetes.io/ingress.class';

const dns1123LabelFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const wildcardFmt = `\\*\\.${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`;
const wildcardRe = new RegExp(`^${wildcardFmt}$`);
const wildcardErrMsg =
  "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character";

/** IsWildcardDNS1123Subdomain */
export function isWildcardDNS1123Subdomain(v: string): string[] {
  const errs: string[] = [];
  if (v.length > DNS1123SubdomainMaxLength) errs.push(maxLenError(DNS1123SubdomainMaxLength));
  if (!wildcardRe.test(v)) errs.push(regexError(wildcardErrMsg, wildcardFmt, '*.example.com'));
  return errs;
}

interface Opts { allowInvalidSecretName: boolean; allowInvalidWildcardHostRule: boolean }

function validateBackend(b: Record<string, unknown>, path: string): FieldError[] {
  const hasResource = has(b, 'resource');
  const hasService = has(b, 'service');
  if (hasResource && hasService) return [invalid(path, '', 'cannot set both resource and service backends')];
  const errs: FieldError[] = [];
  if (hasResource) {
    const r = asObj(b.resource);
    const p = `${path}.resource`;
    if (has(r, 'apiGroup')) {
      const g = asStr(r.apiGroup);
      for (const m of isDNS1123Subdomain(g)) errs.push(invalid(`${p}.apiGroup`, g, m));
    }
    for (const f of ['kind', 'name']) {
      const v = asStr(r[f]);
      if (!v) errs.push(required(`${p}.${f}`));
      else for (const m of nameIsPathSegment(v)) errs.push(invalid(`${p}.${f}`, v, m));
    }
    return errs;
  }
  if (hasService) {
    const s = asObj(b.service);
    const name = asStr(s.name);
    if (!name) errs.push(required(`${path}.service.name`));
    else for (const m of nameIsDNS1035Label(name, false)) errs.push(invalid(`${path}.service.name`, name, m));
    const port = asObj(s.port);
    const portName = asStr(port.name);
    const portNum = asNum(port.number);
    if (portName && portNum !== 0) {
      errs.push(invalid(path, '', 'cannot set both port name & port number'));
    } else if (portName) {
      for (const m of isValidPortName(portName)) errs.push(invalid(`${path}.service.port.name`, portName, m));
    } else if (portNum !== 0) {
      for (const m of isValidPortNum(portNum)) errs.push(invalid(`${path}.service.port.number`, portNum, m));
    } else {
      errs.push(required(path, 'port name or number is required'));
    }
    return errs;
  }
  return [invalid(path, '', 'resource or service backend is required')];
}

function validateHTTPPath(p: Record<string, unknown>, path: string): FieldError[] {
  if (!has(p, 'pathType')) return [required(`${path}.pathType`, 'pathType must be specified')];
  const errs: FieldError[] = [];
  const pt = asStr(p.pathType);
  const value = asStr(p.path);
  switch (pt) {
    case 'Exact':
    case 'Prefix':
      if (!value.startsWith('/')) errs.push(invalid(`${path}.path`, value, 'must be an absolute path'));
      if (value.length > 0) {
        for (const seq of invalidPathSequences) {
          if (value.includes(seq)) errs.push(invalid(`${path}.path`, value, `must not contain '${seq}'`));
        }
        for (const suf of invalidPathSuffixes) {
          if (value.endsWith(suf)) errs.push(invalid(`${path}.path`, value, `cannot end with '${suf}'`));
        }
      }
      break;
    case 'ImplementationSpecific':
      if (value.length > 0 && !value.startsWith('/')) errs.push(invalid(`${path}.path`, value, 'must be an absolute path'));
      break;
    default:
      errs.push(notSupported(`${path}.pathType`, pt, PathTypes));
  }
  errs.push(...validateBackend(asObj(p.backend), `${path}.backend`));
  return errs;
}

function validateRuleValue(rule: Record<string, unknown>, path: string): FieldError[] {
  if (!has(rule, 'http')) return [];
  const http = asObj(rule.http);
  const errs: FieldError[] = [];
  const paths = asArr(http.paths);
  if (paths.length === 0) errs.push(required(`${path}.http.paths`));
  paths.forEach((p, i) => errs.push(...validateHTTPPath(asObj(p), `${path}.http.paths[${i}]`)));
  return errs;
}

function validateSpec(o: KObject, opts: Opts): FieldError[] {
  const spec = asObj(o.spec);
  const errs: FieldError[] = [];
  const rules = asArr(spec.rules);
  if (rules.length === 0 && !has(spec, 'defaultBackend')) {
    errs.push(invalid('spec', rules, 'either `defaultBackend` or `rules` must be specified'));
  }
  if (has(spec, 'defaultBackend')) errs.push(...validateBackend(asObj(spec.defaultBackend), 'spec.defaultBackend'));
  rules.forEach((x, i) => {
    const rule = asObj(x);
    const p = `spec.rules[${i}]`;
    const host = asStr(rule.host);
    let wildcard = false;
    if (host) {
      if (isIP(host) !== 0) errs.push(invalid(`${p}.host`, host, 'must be a DNS name, not an IP address'));
      if (host.includes('*')) {
        for (const m of isWildcardDNS1123Subdomain(host)) errs.push(invalid(`${p}.host`, host, m));
        wildcard = true;
      } else {
        for (const m of isDNS1123Subdomain(host)) errs.push(invalid(`${p}.host`, host, m));
      }
    }
    if (!wildcard || !opts.allowInvalidWildcardHostRule) errs.push(...validateRuleValue(rule, p));
  });
  asArr(spec.tls).forEach((x, i) => {
    const tls = asObj(x);
    const p = `spec.tls[${i}]`;
    asArr(tls.hosts).forEach((h, j) => {
      const host = asStr(h);
      const msgs = host.includes('*') ? isWildcardDNS1123Subdomain(host) : isDNS1123Subdomain(host);
      for (const m of msgs) errs.push(invalid(`${p}.hosts[${j}]`, host, m));
    });
    const secret = asStr(tls.secretName);
    if (!opts.allowInvalidSecretName && secret) {
      for (const m of nameIsDNSSubdomain(secret, false)) errs.push(invalid(`${p}.secretName`, secret, m));
    }
  });
  if (has(spec, 'ingressClassName')) {
    const c = asStr(spec.ingressClassName);
    for (const m of nameIsDNSSubdomain(c, false)) errs.push(invalid('spec.ingressClassName', c, m));
  }
  return errs;
}

/** ValidateIngressCreate (without ObjectMeta). */
export function validateIngress(o: KObject): FieldError[] {
  const errs = validateSpec(o, { allowInvalidSecretName: false, allowInvalidWildcardHostRule: false });
  const ann = o.metadata.annotations ?? {};
  const cls = asObj(o.spec).ingressClassName;
  if (annotationIngressClass in ann && typeof cls === 'string' && ann[annotationIngressClass] !== cls) {
    // Upstream's path really is `annotations.<key>` here.
    errs.push(invalid(`annotations.${annotationIngressClass}`, ann[annotationIngressClass], 'must match `ingressClassName` when both are specified'));
  }
  return errs;
}

/** ValidateIngressUpdate: invalid values already stored stay allowed (as upstream). */
export function validateIngressUpdate(o: KObject, old: KObject): FieldError[] {
  const oldSpec = asObj(old.spec);
  const allowInvalidSecretName = asArr(oldSpec.tls).some((t) => {
    const s = asStr(asObj(t).secretName);
    return s !== '' && nameIsDNSSubdomain(s, false).length > 0;
  });
  const allowInvalidWildcardHostRule = asArr(oldSpec.rules).some((r) =>
    asStr(asObj(r).host).includes('*') && validateRuleValue(asObj(r), '').length > 0);
  return validateSpec(o, { allowInvalidSecretName, allowInvalidWildcardHostRule });
}

/** ValidateIngressStatusUpdate */
export function validateIngressStatus(o: KObject, old: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const oldIPs = new Set(asArr(asObj(asObj(old.status).loadBalancer).ingress).map((i) => asStr(asObj(i).ip)).filter(Boolean));
  asArr(asObj(asObj(o.status).loadBalancer).ingress).forEach((x, i) => {
    const ing = asObj(x);
    const p = `status.loadBalancer.ingress[${i}]`;
    const ip = asStr(ing.ip);
    if (ip && !oldIPs.has(ip)) errs.push(...validateIP(ip, `${p}.ip`));
    const hostname = asStr(ing.hostname);
    if (hostname) errs.push(...validateLBHostname(hostname, `${p}.hostname`));
  });
  return errs;
}

/** printers.go formatHosts */
export function formatIngressHosts(rules: unknown): string {
  const rs = asArr(rules);
  const list: string[] = [];
  const max = 3;
  let more = false;
  for (const r of rs) {
    if (list.length === max) more = true;
    const host = asStr(asObj(r).host);
    if (!more && host) list.push(host);
  }
  if (list.length === 0) return '*';
  const ret = list.join(',');
  return more ? `${ret} + ${rs.length - max} more...` : ret;
}

export const ingresses: ResourceType = {
  group: 'networking.k8s.io', version: 'v1', kind: 'Ingress', plural: 'ingresses', singular: 'ingress',
  shortNames: ['ing'], namespaced: true, model: 'V1Ingress',
  subresources: { status: true },
  table: {
    columns: [
      nameColumn,
      col('Class', 'The name of the IngressClass resource that should be used.'),
      col('Hosts', 'Hosts that incoming requests are matched against before the ingress rule'),
      col('Address', 'Address is a list containing ingress points for the load-balancer'),
      col('Ports', 'Ports of TLS configurations that open'),
      ageColumn,
    ],
    row: (o, now) => {
      const spec = asObj(o.spec);
      return [
        o.metadata.name,
        typeof spec.ingressClassName === 'string' ? spec.ingressClassName : '<none>',
        formatIngressHosts(spec.rules),
        loadBalancerStatusString(o.status),
        asArr(spec.tls).length ? '80, 443' : '80',
        ageOf(o, now),
      ];
    },
  },
  validateCreate: validateIngress,
  validateUpdate: validateIngressUpdate,
  validateStatusUpdate: validateIngressStatus,
  prepareForCreate: (o) => {
    o.status = { loadBalancer: {} };
    setGenerationOnCreate(o);
  },
  prepareForUpdate: (o, old) => {
    o.status = old.status === undefined ? { loadBalancer: {} } : structuredClone(old.status);
    bumpGenerationIfChanged(o, old);
  },
};
