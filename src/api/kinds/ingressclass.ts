// networking.k8s.io/v1 IngressClass (cluster-scoped): defaulting (parameters.scope),
// validation (controller: required, domain-prefixed path, immutable; parameters) and the table.

import type { FieldError } from '../errors.js';
import { forbidden, invalid, notSupported, required, tooLong } from '../errors.js';
import type { KObject } from '../meta.js';
import { isObject } from '../meta.js';
import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import {
  isDNS1123Subdomain, nameIsDNSLabel, nameIsPathSegment, regexError, validateImmutableField,
} from '../validation/common.js';
import { ageColumn, asObj, asStr, col, has, nameColumn } from './service.js';
import { bumpGenerationIfChanged, setGenerationOnCreate } from './networkpolicy.js';

const maxLenIngressClassController = 250;
const Scopes = ['Cluster', 'Namespace'] as const;
const httpPathFmt = "[A-Za-z0-9/\\-._~%!$&'()*+,;=:]+";
const httpPathRe = new RegExp(`^${httpPathFmt}$`);

/** SetDefaults_IngressClass: parameters.scope defaults to Cluster. */
export function defaultIngressClass(o: KObject): void {
  const params = asObj(o.spec).parameters;
  if (isObject(params) && !has(params, 'scope')) params.scope = 'Cluster';
}

/** IsDomainPrefixedPath: "acme.io/foo". */
export function validateDomainPrefixedPath(v: string, path: string): FieldError[] {
  if (!v) return [required(path)];
  const i = v.indexOf('/');
  if (i <= 0 || i === v.length - 1) return [invalid(path, v, 'must be a domain-prefixed path (such as "acme.io/foo")')];
  const host = v.slice(0, i);
  const rest = v.slice(i + 1);
  const errs = isDNS1123Subdomain(host).map((m) => invalid(path, host, m));
  if (!httpPathRe.test(rest)) errs.push(invalid(path, rest, regexError('Invalid path', httpPathFmt)));
  return errs;
}

function validateParameters(p: Record<string, unknown>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (has(p, 'apiGroup')) {
    const g = asStr(p.apiGroup);
    for (const m of isDNS1123Subdomain(g)) errs.push(invalid(`${path}.apiGroup`, g, m));
  }
  for (const f of ['kind', 'name']) {
    const v = asStr(p[f]);
    if (!v) errs.push(required(`${path}.${f}`));
    else for (const m of nameIsPathSegment(v)) errs.push(invalid(`${path}.${f}`, v, m));
  }
  if (!has(p, 'scope')) {
    errs.push(required(`${path}.scope`));
    return errs;
  }
  const scope = asStr(p.scope);
  if (!(Scopes as readonly string[]).includes(scope)) {
    errs.push(notSupported(`${path}.scope`, scope, Scopes));
  } else if (scope === 'Namespace') {
    if (!has(p, 'namespace')) errs.push(required(`${path}.namespace`, "`parameters.scope` is set to 'Namespace'"));
    else {
      const ns = asStr(p.namespace);
      for (const m of nameIsDNSLabel(ns, false)) errs.push(invalid(`${path}.namespace`, ns, m));
    }
  } else if (has(p, 'namespace')) {
    errs.push(forbidden(`${path}.namespace`, "`parameters.scope` is set to 'Cluster'"));
  }
  return errs;
}

/** ValidateIngressClass (without ObjectMeta). */
export function validateIngressClass(o: KObject): FieldError[] {
  const spec = asObj(o.spec);
  const errs: FieldError[] = [];
  const controller = asStr(spec.controller);
  if (!controller) {
    errs.push(required('spec.controller'));
  } else {
    if (controller.length > maxLenIngressClassController) errs.push(tooLong('spec.controller', maxLenIngressClassController));
    errs.push(...validateDomainPrefixedPath(controller, 'spec.controller'));
  }
  if (isObject(spec.parameters)) errs.push(...validateParameters(spec.parameters, 'spec.parameters'));
  return errs;
}

export function validateIngressClassUpdate(o: KObject, old: KObject): FieldError[] {
  return [
    ...validateImmutableField(asStr(asObj(o.spec).controller), asStr(asObj(old.spec).controller), 'spec.controller'),
    ...validateIngressClass(o),
  ];
}

/** printers.go printIngressClass PARAMETERS: "Kind.group/name" or "<none>". */
export function formatIngressClassParameters(o: KObject): string {
  const p = asObj(o.spec).parameters;
  if (!isObject(p)) return '<none>';
  let s = asStr(p.kind);
  if (typeof p.apiGroup === 'string') s += `.${p.apiGroup}`;
  return `${s}/${asStr(p.name)}`;
}

export const ingressClasses: ResourceType = {
  group: 'networking.k8s.io', version: 'v1', kind: 'IngressClass', plural: 'ingressclasses', singular: 'ingressclass',
  namespaced: false, model: 'V1IngressClass',
  table: {
    columns: [
      { ...nameColumn, description: 'Name must be unique within a namespace.' },
      col('Controller', 'Controller that is responsible for handling this class'),
      col('Parameters', 'A reference to a resource with additional parameters'),
      ageColumn,
    ],
    row: (o, now) => [o.metadata.name, asStr(asObj(o.spec).controller), formatIngressClassParameters(o), ageOf(o, now)],
  },
  defaults: defaultIngressClass,
  validateCreate: validateIngressClass,
  validateUpdate: validateIngressClassUpdate,
  prepareForCreate: setGenerationOnCreate,
  prepareForUpdate: (o, old) => bumpGenerationIfChanged(o, old),
};
