// networking.k8s.io/v1 IPAddress (cluster-scoped): the name is an IP address in canonical
// form; spec.parentRef is required and immutable. Table NAME PARENTREF.

import { isIP } from 'node:net';
import type { FieldError } from '../errors.js';
import { invalid, required } from '../errors.js';
import type { KObject } from '../meta.js';
import { isObject } from '../meta.js';
import type { ResourceType } from '../registry.js';
import { isDNS1123Subdomain, nameIsPathSegment, validateImmutableField } from '../validation/common.js';
import type { NameValidator } from '../validation/common.js';
import { asObj, asStr, col, nameColumn, v6Bytes } from './service.js';

/** The canonical text of an IP address (RFC 5952 for IPv6, as Go's netip.Addr.String). */
export function canonicalIP(s: string): string | undefined {
  const fam = isIP(s);
  if (fam === 4) {
    const parts = s.split('.');
    if (parts.some((p) => p.length > 1 && p.startsWith('0'))) return undefined;
    return parts.map(Number).join('.');
  }
  if (fam !== 6 || s.includes('%')) return undefined;
  const b = v6Bytes(s);
  if (!b) return undefined;
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return `::ffff:${b.slice(12).join('.')}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  // The longest run (length >= 2) of zero groups becomes "::"; the first on a tie.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** ValidateIPAddressName: a valid IP address, written in canonical form. */
export const ipAddressNameValidator: NameValidator = (name) => {
  if (isIP(name) === 0) return ['must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'];
  const c = canonicalIP(name);
  if (c !== name) return [`must be in canonical form (${JSON.stringify(c ?? name)})`];
  return [];
};

function validateParentRef(ref: unknown): FieldError[] {
  if (!isObject(ref)) return [required('spec.parentRef')];
  const p = 'spec.parentRef';
  const errs: FieldError[] = [];
  const group = asStr(ref.group);
  if (group) for (const m of isDNS1123Subdomain(group)) errs.push(invalid(`${p}.group`, group, m));
  for (const f of ['resource', 'name']) {
    const v = asStr(ref[f]);
    if (!v) errs.push(required(`${p}.${f}`));
    else for (const m of nameIsPathSegment(v)) errs.push(invalid(`${p}.${f}`, v, m));
  }
  const ns = asStr(ref.namespace);
  if (ns) for (const m of nameIsPathSegment(ns)) errs.push(invalid(`${p}.namespace`, ns, m));
  return errs;
}

/** ValidateIPAddress (the name rule included, since it is not the generic DNS-subdomain rule). */
export function validateIPAddress(o: KObject): FieldError[] {
  return validateParentRef(asObj(o.spec).parentRef);
}

export function validateIPAddressUpdate(o: KObject, old: KObject): FieldError[] {
  return validateImmutableField(asObj(o.spec).parentRef ?? null, asObj(old.spec).parentRef ?? null, 'spec.parentRef');
}

/** printers.go printIPAddress PARENTREF: "services/default/kubernetes". */
export function formatParentRef(o: KObject): string {
  const ref = asObj(o.spec).parentRef;
  if (!isObject(ref)) return '<none>';
  const group = asStr(ref.group);
  const resource = asStr(ref.resource);
  let s = (group ? `${resource}.${group}` : resource).toLowerCase();
  if (asStr(ref.namespace)) s += `/${asStr(ref.namespace)}`;
  return `${s}/${asStr(ref.name)}`;
}

export const ipAddresses: ResourceType = {
  group: 'networking.k8s.io', version: 'v1', kind: 'IPAddress', plural: 'ipaddresses', singular: 'ipaddress',
  namespaced: false, model: 'V1IPAddress', nameValidator: ipAddressNameValidator,
  table: {
    columns: [
      nameColumn,
      col('ParentRef', 'ParentRef references the resource that an IPAddress is attached to.'),
    ],
    row: (o) => [o.metadata.name, formatParentRef(o)],
  },
  validateCreate: validateIPAddress,
  validateUpdate: validateIPAddressUpdate,
};
