// networking.k8s.io/v1 ServiceCIDR (cluster-scoped): spec.cidrs holds one or two CIDRs (one
// per family) in canonical form; they may not change, except that a single-stack range may
// gain its second family. Table NAME CIDRS AGE.

import { isIP } from 'node:net';
import type { FieldError } from '../errors.js';
import { invalid, required } from '../errors.js';
import type { KObject } from '../meta.js';
import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import { fieldImmutableErrorMsg, isValidCIDR } from '../validation/common.js';
import { ageColumn, asArr, asObj, asStr, col, nameColumn, v6Bytes } from './service.js';
import { canonicalIP } from './ipaddress.js';

/** The canonical form of a CIDR (network address, RFC 5952), or undefined if it is not one. */
export function canonicalCIDR(s: string): string | undefined {
  if (isValidCIDR(s).length) return undefined;
  const [addr, bitsText] = s.split('/');
  const bits = Number(bitsText);
  const fam = isIP(addr);
  const bytes = fam === 4 ? addr.split('.').map(Number) : v6Bytes(addr);
  if (!bytes) return undefined;
  const masked = bytes.map((b, i) => {
    const take = Math.max(0, Math.min(8, bits - i * 8));
    return take === 0 ? 0 : b & ((0xff << (8 - take)) & 0xff);
  });
  let text: string | undefined;
  if (fam === 4) {
    text = masked.join('.');
  } else {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((masked[i] << 8) | masked[i + 1]).toString(16));
    text = canonicalIP(groups.join(':'));
  }
  return text === undefined ? undefined : `${text}/${bits}`;
}

const familyOf = (cidr: string): number => isIP(cidr.split('/')[0]);

function validateCIDRs(cidrs: unknown[]): FieldError[] {
  const path = 'spec.cidrs';
  if (cidrs.length === 0) return [required(path, 'at least one CIDR required')];
  if (cidrs.length > 2) return [invalid(path, cidrs, 'may only hold up to 2 values')];
  const errs: FieldError[] = [];
  cidrs.forEach((x, i) => {
    const c = asStr(x);
    const msgs = isValidCIDR(c);
    if (msgs.length) {
      for (const m of msgs) errs.push(invalid(`${path}[${i}]`, c, m));
      return;
    }
    const canon = canonicalCIDR(c);
    if (canon !== c) errs.push(invalid(`${path}[${i}]`, c, `must be in canonical form (${JSON.stringify(canon ?? c)})`));
  });
  if (cidrs.length === 2) {
    const f0 = familyOf(asStr(cidrs[0]));
    if (f0 !== 0 && f0 === familyOf(asStr(cidrs[1]))) {
      errs.push(invalid(path, cidrs, 'may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64'));
    }
  }
  return errs;
}

export const validateServiceCIDR = (o: KObject): FieldError[] => validateCIDRs(asArr(asObj(o.spec).cidrs));

/** ValidateServiceCIDRUpdate */
export function validateServiceCIDRUpdate(o: KObject, old: KObject): FieldError[] {
  const cidrs = asArr(asObj(o.spec).cidrs).map(asStr);
  const oldCIDRs = asArr(asObj(old.spec).cidrs).map(asStr);
  const errs: FieldError[] = [];
  if (cidrs.length === oldCIDRs.length) {
    oldCIDRs.forEach((c, i) => {
      if (c !== cidrs[i]) errs.push(invalid(`spec.cidrs[${i}]`, cidrs[i], fieldImmutableErrorMsg));
    });
  } else if (oldCIDRs.length === 1 && cidrs.length === 2) {
    if (cidrs[0] !== oldCIDRs[0]) errs.push(invalid('spec.cidrs[0]', cidrs[0], fieldImmutableErrorMsg));
    errs.push(...validateCIDRs(cidrs));
  } else {
    errs.push(invalid('spec.cidrs', cidrs, fieldImmutableErrorMsg));
  }
  return errs;
}

export const serviceCIDRs: ResourceType = {
  group: 'networking.k8s.io', version: 'v1', kind: 'ServiceCIDR', plural: 'servicecidrs', singular: 'servicecidr',
  namespaced: false, model: 'V1ServiceCIDR',
  subresources: { status: true },
  table: {
    columns: [
      nameColumn,
      col('CIDRs', 'list of IP blocks in CIDR notation (e.g. "192.168.0.0/24" or "2001:db8::/64") from which to assign service cluster IPs.'),
      ageColumn,
    ],
    row: (o, now) => [o.metadata.name, asArr(asObj(o.spec).cidrs).map(asStr).join(','), ageOf(o, now)],
  },
  validateCreate: validateServiceCIDR,
  validateUpdate: validateServiceCIDRUpdate,
  validateStatusUpdate: () => [],
  prepareForCreate: (o) => {
    o.status = {};
  },
  prepareForUpdate: (o, old) => {
    o.status = old.status === undefined ? {} : structuredClone(old.status);
  },
};
