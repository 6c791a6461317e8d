// Shared validation rules, with the same detail messages as upstream's
// k8s.io/apimachinery/pkg/util/validation and pkg/api/validation (ObjectMeta, labels,
// annotations, label selectors). Each is* function returns the list of problems (empty when
// the value is valid); the validate* functions return FieldErrors at a given path.

import { isIP } from 'node:net';
import type { FieldError } from '../errors.js';
import { forbidden, invalid, required, tooLong } from '../errors.js';
import type { ObjectMeta, OwnerReference } from '../meta.js';
import { isObject } from '../meta.js';

// ---- message builders ------------------------------------------------------------------

/** "must be no more than N characters" */
export const maxLenError = (n: number) => `must be no more than ${n} characters`;
export const emptyError = () => 'must be non-empty';
export const inclusiveRangeError = (lo: number, hi: number) => `must be between ${lo} and ${hi}, inclusive`;
export const isNegativeErrorMsg = 'must be greater than or equal to 0';
export const fieldImmutableErrorMsg = 'field is immutable';

/** A regex failure message in upstream's wording: `msg (e.g. 'a',  or 'b', regex used for validation is 're')`. */
export function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`;
  let s = `${msg} (e.g. `;
  examples.forEach((ex, i) => {
    if (i > 0) s += ' or ';
    s += `'${ex}', `;
  });
  return `${s}regex used for validation is '${fmt}')`;
}

const full = (fmt: string) => new RegExp(`^(?:${fmt})$`);

// ---- DNS names --------------------------------------------------------------------------

const dns1123LabelFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123LabelErrMsg =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
export const DNS1123LabelMaxLength = 63;
const dns1123LabelRe = full(dns1123LabelFmt);

const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`;
const dns1123SubdomainErrMsg =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
export const DNS1123SubdomainMaxLength = 253;
const dns1123SubdomainRe = full(dns1123SubdomainFmt);

const dns1035LabelFmt = '[a-z]([-a-z0-9]*[a-z0-9])?';
const dns1035LabelErrMsg =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
export const DNS1035LabelMaxLength = 63;
const dns1035LabelRe = full(dns1035LabelFmt);

export function isDNS1123Label(v: string): string[] {
  const errs: string[] = [];
  if (v.length > DNS1123LabelMaxLength) errs.push(maxLenError(DNS1123LabelMaxLength));
  if (!dns1123LabelRe.test(v)) {
    // A valid subdomain that is not a valid label can only be so because of dots.
    if (dns1123SubdomainRe.test(v)) errs.push('must not contain dots');
    else errs.push(regexError(dns1123LabelErrMsg, dns1123LabelFmt, 'my-name', '123-abc'));
  }
  return errs;
}

export function isDNS1123Subdomain(v: string): string[] {
  const errs: string[] = [];
  if (v.length > DNS1123SubdomainMaxLength) errs.push(maxLenError(DNS1123SubdomainMaxLength));
  if (!dns1123SubdomainRe.test(v)) errs.push(regexError(dns1123SubdomainErrMsg, dns1123SubdomainFmt, 'example.com'));
  return errs;
}

export function isDNS1035Label(v: string): string[] {
  const errs: string[] = [];
  if (v.length > DNS1035LabelMaxLength) errs.push(maxLenError(DNS1035LabelMaxLength));
  if (!dns1035LabelRe.test(v)) errs.push(regexError(dns1035LabelErrMsg, dns1035LabelFmt, 'my-name', 'abc-123'));
  return errs;
}

// ---- name validators for ObjectMeta (upstream's NameIsDNS*; `prefix` is for generateName) ----

export type NameValidator = (name: string, prefix?: boolean) => string[];

/** With generateName a trailing '-' is allowed; upstream masks it before checking. */
function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? `${name.slice(0, name.length - 2)}a` : name;
}
export const nameIsDNSSubdomain: NameValidator = (name, prefix = false) =>
  isDNS1123Subdomain(prefix ? maskTrailingDash(name) : name);
export const nameIsDNSLabel: NameValidator = (name, prefix = false) =>
  isDNS1123Label(prefix ? maskTrailingDash(name) : name);
export const nameIsDNS1035Label: NameValidator = (name, prefix = false) =>
  isDNS1035Label(prefix ? maskTrailingDash(name) : name);

/** ValidatePathSegmentName: any name usable as one URL path segment. */
export const nameIsPathSegment: NameValidator = (name, prefix = false) => {
  const errs: string[] = [];
  if (!prefix) {
    if (name === '.' || name === '..') errs.push(`may not be '${name}'`);
  }
  for (const bad of ['/', '%']) if (name.includes(bad)) errs.push(`may not contain '${bad}'`);
  return errs;
};

// ---- qualified names, label values -------------------------------------------------------

const qnameCharFmt = '[A-Za-z0-9]';
const qnameExtCharFmt = '[-A-Za-z0-9_.]';
const qualifiedNameFmt = `(${qnameCharFmt}${qnameExtCharFmt}*)?${qnameCharFmt}`;
const qualifiedNameErrMsg =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const qualifiedNameMaxLength = 63;
const qualifiedNameRe = full(qualifiedNameFmt);

/** A label key, annotation key or finalizer: `[prefix/]name`. */
export function isQualifiedName(v: string): string[] {
  const errs: string[] = [];
  const parts = v.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0];
  } else if (parts.length === 2) {
    const prefix = parts[0];
    name = parts[1];
    if (prefix.length === 0) errs.push(`prefix part ${emptyError()}`);
    else for (const m of isDNS1123Subdomain(prefix)) errs.push(`prefix part ${m}`);
  } else {
    return [
      `a qualified name ${regexError(qualifiedNameErrMsg, qualifiedNameFmt, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name.length === 0) errs.push(`name part ${emptyError()}`);
  else if (name.length > qualifiedNameMaxLength) errs.push(`name part ${maxLenError(qualifiedNameMaxLength)}`);
  if (!qualifiedNameRe.test(name)) {
    errs.push(`name part ${regexError(qualifiedNameErrMsg, qualifiedNameFmt, 'MyName', 'my.name', '123-abc')}`);
  }
  return errs;
}

const labelValueFmt = `(${qualifiedNameFmt})?`;
const labelValueErrMsg =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const labelValueMaxLength = 63;
const labelValueRe = full(labelValueFmt);

export function isValidLabelValue(v: string): string[] {
  const errs: string[] = [];
  if (v.length > labelValueMaxLength) errs.push(maxLenError(labelValueMaxLength));
  if (!labelValueRe.test(v)) errs.push(regexError(labelValueErrMsg, labelValueFmt, 'MyValue', 'my_value', '12345'));
  return errs;
}

// ---- ports, IPs, percents, keys -----------------------------------------------------------

export function isValidPortNum(n: number): string[] {
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? [] : [inclusiveRangeError(1, 65535)];
}

/** IANA_SVC_NAME (RFC 6335): what a named container or service port may be called. */
export function isValidPortName(s: string): string[] {
  const errs: string[] = [];
  if (s.length > 15) errs.push(maxLenError(15));
  if (!/^[-a-z0-9]+$/.test(s)) errs.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!/[a-z]/.test(s)) errs.push('must contain at least one letter (a-z)');
  if (s.includes('--')) errs.push('must not contain consecutive hyphens');
  if (s.length > 0 && (s.startsWith('-') || s.endsWith('-'))) errs.push('must not begin or end with a hyphen');
  return errs;
}

export function isValidIP(s: string): string[] {
  return isIP(s) === 0 ? ['must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'] : [];
}

export function isValidCIDR(s: string): string[] {
  const msg = 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)';
  const i = s.indexOf('/');
  if (i < 0) return [msg];
  const fam = isIP(s.slice(0, i));
  const bits = s.slice(i + 1);
  if (fam === 0 || !/^[0-9]{1,3}$/.test(bits)) return [msg];
  if (Number(bits) > (fam === 4 ? 32 : 128)) return [msg];
  return [];
}

const percentFmt = '[0-9]+%';
export function isValidPercent(s: string): string[] {
  return full(percentFmt).test(s)
    ? []
    : [regexError("a valid percent string must be a numeric string followed by an ending '%'", percentFmt, '1%', '93%')];
}

const configMapKeyFmt = '[-._a-zA-Z0-9]+';
const configMapKeyErrMsg = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
/** Keys of ConfigMap/Secret data (they become file names in volumes). */
export function isConfigMapKey(v: string): string[] {
  const errs: string[] = [];
  if (v.length > DNS1123SubdomainMaxLength) errs.push(maxLenError(DNS1123SubdomainMaxLength));
  if (!full(configMapKeyFmt).test(v)) errs.push(regexError(configMapKeyErrMsg, configMapKeyFmt, 'key.name', 'KEY_NAME', 'key-name'));
  if (v === '.') errs.push("must not be '.'");
  else if (v === '..') errs.push("must not be '..'");
  else if (v.startsWith('..')) errs.push("must not start with '..'");
  return errs;
}

const cIdentifierFmt = '[A-Za-z_][A-Za-z0-9_]*';
export function isCIdentifier(v: string): string[] {
  return full(cIdentifierFmt).test(v)
    ? []
    : [regexError("a valid C identifier must start with alphabetic character or '_', followed by a string of alphanumeric characters or '_'", cIdentifierFmt, 'my_name', 'MY_NAME', 'MyName')];
}

// ---- labels, annotations, selectors --------------------------------------------------------

export function validateLabelName(key: string, path: string): FieldError[] {
  return isQualifiedName(key).map((m) => invalid(path, key, m));
}

export function validateLabels(labels: unknown, path: string): FieldError[] {
  if (labels === undefined || labels === null) return [];
  if (!isObject(labels)) return [invalid(path, labels, 'must be a map of string keys to string values')];
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels)) {
    errs.push(...validateLabelName(k, path));
    if (typeof v !== 'string') { errs.push(invalid(path, v, 'must be a string')); continue; }
    for (const m of isValidLabelValue(v)) errs.push(invalid(path, v, m));
  }
  return errs;
}

export const TotalAnnotationSizeLimitB = 256 * 1024;

export function validateAnnotations(annotations: unknown, path: string): FieldError[] {
  if (annotations === undefined || annotations === null) return [];
  if (!isObject(annotations)) return [invalid(path, annotations, 'must be a map of string keys to string values')];
  const errs: FieldError[] = [];
  let total = 0;
  for (const [k, v] of Object.entries(annotations)) {
    for (const m of isQualifiedName(k.toLowerCase())) errs.push(invalid(path, k, m));
    total += Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : 0);
  }
  if (total > TotalAnnotationSizeLimitB) errs.push(tooLong(path, TotalAnnotationSizeLimitB));
  return errs;
}

/** metav1.LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist). */
export function validateLabelSelector(sel: unknown, path: string): FieldError[] {
  if (sel === undefined || sel === null) return [];
  if (!isObject(sel)) return [invalid(path, sel, 'must be a label selector object')];
  const errs = validateLabels(sel.matchLabels, `${path}.matchLabels`);
  const exprs = sel.matchExpressions;
  if (exprs === undefined || exprs === null) return errs;
  if (!Array.isArray(exprs)) return [...errs, invalid(`${path}.matchExpressions`, exprs, 'must be a list')];
  exprs.forEach((e: unknown, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    const r = isObject(e) ? e : {};
    const values = Array.isArray(r.values) ? (r.values as unknown[]) : [];
    switch (r.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) errs.push(required(`${p}.values`, "must be specified when `operator` is 'In' or 'NotIn'"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) errs.push(forbidden(`${p}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        break;
      default:
        errs.push(invalid(`${p}.operator`, r.operator ?? '', 'not a valid selector operator'));
    }
    errs.push(...validateLabelName(typeof r.key === 'string' ? r.key : '', `${p}.key`));
    values.forEach((v, j) => {
      const s = typeof v === 'string' ? v : String(v);
      for (const m of isValidLabelValue(s)) errs.push(invalid(`${p}.values[${j}]`, s, m));
    });
  });
  return errs;
}

// ---- small field helpers ---------------------------------------------------------------------

export function validateNonnegative(value: unknown, path: string): FieldError[] {
  return typeof value === 'number' && value < 0 ? [invalid(path, value, isNegativeErrorMsg)] : [];
}

/** Deep, key-order-independent equality of JSON values (upstream's Semantic.DeepEqual, roughly). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

export function validateImmutableField(newV: unknown, oldV: unknown, path: string): FieldError[] {
  return deepEqual(newV, oldV) ? [] : [invalid(path, newV ?? null, fieldImmutableErrorMsg)];
}

// ---- ObjectMeta -------------------------------------------------------------------------------

const standardFinalizers = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

function validateOwnerReferences(refs: unknown, path: string): FieldError[] {
  if (refs === undefined || refs === null) return [];
  if (!Array.isArray(refs)) return [invalid(path, refs, 'must be a list')];
  const errs: FieldError[] = [];
  let controllerName = '';
  // Upstream reports each reference's fields at the list's path, without an index.
  for (const r of refs as unknown[]) {
    const ref = (isObject(r) ? r : {}) as Partial<OwnerReference>;
    const apiVersion = ref.apiVersion ?? '';
    const version = apiVersion.includes('/') ? apiVersion.slice(apiVersion.indexOf('/') + 1) : apiVersion;
    if (!version) errs.push(invalid(`${path}.apiVersion`, apiVersion, 'version must not be empty'));
    if (!ref.kind) errs.push(invalid(`${path}.kind`, ref.kind ?? '', 'kind must not be empty'));
    if (!ref.name) errs.push(invalid(`${path}.name`, ref.name ?? '', 'name must not be empty'));
    if (!ref.uid) errs.push(invalid(`${path}.uid`, ref.uid ?? '', 'uid must not be empty'));
    if (ref.controller === true) {
      const cur = `${ref.kind ?? ''}/${ref.name ?? ''}`;
      if (controllerName) {
        errs.push(invalid(path, refs,
          `Only one reference can have Controller set to true. Found "true" in references for ${controllerName} and ${cur}`));
      } else {
        controllerName = cur;
      }
    }
  }
  return errs;
}

/** apimachinery's ValidateFinalizers: qualified names (at the list's path), orphan vs foreground. */
function validateFinalizers(finalizers: unknown, path: string): FieldError[] {
  if (finalizers === undefined || finalizers === null) return [];
  if (!Array.isArray(finalizers)) return [invalid(path, finalizers, 'must be a list')];
  const errs: FieldError[] = [];
  for (const f of finalizers) {
    const s = typeof f === 'string' ? f : String(f);
    for (const m of isQualifiedName(s)) errs.push(invalid(path, s, m));
  }
  if (finalizers.includes('orphan') && finalizers.includes('foregroundDeletion')) {
    errs.push(invalid(path, finalizers, 'finalizer orphan and foregroundDeletion cannot be both set'));
  }
  return errs;
}

/** The core group's extra finalizer check (validateKubeFinalizerName), per index. */
export function validateKubeFinalizers(finalizers: unknown, path: string): FieldError[] {
  if (!Array.isArray(finalizers)) return [];
  const errs: FieldError[] = [];
  finalizers.forEach((f, i) => {
    const s = typeof f === 'string' ? f : String(f);
    for (const m of isQualifiedName(s)) errs.push(invalid(`${path}[${i}]`, s, m));
    if (!s.includes('/') && !standardFinalizers.has(s)) {
      errs.push(invalid(`${path}[${i}]`, s, 'name is neither a standard finalizer name nor is it fully qualified'));
    }
  });
  return errs;
}

export interface ObjectMetaOptions {
  namespaced: boolean;
  /** The kind's name rule; DNS-1123 subdomain when omitted. `prefix` is true for generateName. */
  nameValidator?: (name: string, prefix?: boolean) => string[];
}

/** Upstream's ValidateObjectMeta (apimachinery + the core finalizer check). */
export function validateObjectMeta(meta: ObjectMeta, opts: ObjectMetaOptions, path = 'metadata'): FieldError[] {
  const errs: FieldError[] = [];
  const nameFn = opts.nameValidator ?? nameIsDNSSubdomain;
  if (meta.generateName) {
    for (const m of nameFn(meta.generateName, true)) errs.push(invalid(`${path}.generateName`, meta.generateName, m));
  }
  if (!meta.name) {
    errs.push(required(`${path}.name`, 'name or generateName is required'));
  } else {
    for (const m of nameFn(meta.name, false)) errs.push(invalid(`${path}.name`, meta.name, m));
  }
  if (opts.namespaced) {
    if (!meta.namespace) errs.push(required(`${path}.namespace`));
    else for (const m of isDNS1123Label(meta.namespace)) errs.push(invalid(`${path}.namespace`, meta.namespace, m));
  } else if (meta.namespace) {
    errs.push(forbidden(`${path}.namespace`, 'not allowed on this type'));
  }
  errs.push(...validateNonnegative(meta.generation, `${path}.generation`));
  errs.push(...validateLabels(meta.labels, `${path}.labels`));
  errs.push(...validateAnnotations(meta.annotations, `${path}.annotations`));
  errs.push(...validateOwnerReferences(meta.ownerReferences, `${path}.ownerReferences`));
  errs.push(...validateFinalizers(meta.finalizers, `${path}.finalizers`));
  errs.push(...validateKubeFinalizers(meta.finalizers, `${path}.finalizers`));
  return errs;
}

/** Upstream's ValidateObjectMetaUpdate (without the resourceVersion check, which the server does). */
export function validateObjectMetaUpdate(newMeta: ObjectMeta, oldMeta: ObjectMeta, path = 'metadata'): FieldError[] {
  const errs: FieldError[] = [];
  if (oldMeta.deletionTimestamp) {
    const old = new Set(oldMeta.finalizers ?? []);
    const extra = [...new Set((newMeta.finalizers ?? []).filter((f) => !old.has(f)))].sort();
    if (extra.length) {
      errs.push(forbidden(`${path}.finalizers`,
        `no new finalizers can be added if the object is being deleted, found new finalizers []string{${extra.map((f) => JSON.stringify(f)).join(', ')}}`));
    }
  }
  if ((newMeta.generation ?? 0) < (oldMeta.generation ?? 0)) {
    errs.push(invalid(`${path}.generation`, newMeta.generation ?? 0, 'must not be decremented'));
  }
  errs.push(...validateImmutableField(newMeta.name ?? '', oldMeta.name ?? '', `${path}.name`));
  errs.push(...validateImmutableField(newMeta.namespace ?? '', oldMeta.namespace ?? '', `${path}.namespace`));
  errs.push(...validateImmutableField(newMeta.uid ?? '', oldMeta.uid ?? '', `${path}.uid`));
  errs.push(...validateImmutableField(newMeta.creationTimestamp ?? null, oldMeta.creationTimestamp ?? null, `${path}.creationTimestamp`));
  errs.push(...validateImmutableField(newMeta.deletionTimestamp ?? null, oldMeta.deletionTimestamp ?? null, `${path}.deletionTimestamp`));
  errs.push(...validateImmutableField(newMeta.deletionGracePeriodSeconds ?? null, oldMeta.deletionGracePeriodSeconds ?? null, `${path}.deletionGracePeriodSeconds`));
  errs.push(...validateLabels(newMeta.labels, `${path}.labels`));
  errs.push(...validateAnnotations(newMeta.annotations, `${path}.annotations`));
  errs.push(...validateOwnerReferences(newMeta.ownerReferences, `${path}.ownerReferences`));
  errs.push(...validateKubeFinalizers(newMeta.finalizers, `${path}.finalizers`));
  return errs;
}
