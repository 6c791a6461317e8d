// core/v1 Namespace: the kubernetes.io/metadata.name label, the `kubernetes` finalizer and
// phase Active on create (as the namespace strategy), DNS-1123 label names, `kubectl get ns`.

import type { FieldError } from '../errors.js';
import { invalid } from '../errors.js';
import { isObject } from '../meta.js';
import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import { isQualifiedName, nameIsDNSLabel } from '../validation/common.js';
import type { J } from './pod.js';
import { commonColumns } from './pod.js';

const standardFinalizers = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

function validateNamespaceFinalizers(ns: J): FieldError[] {
  const errs: FieldError[] = [];
  const fs = Array.isArray(ns.spec?.finalizers) ? ns.spec.finalizers : [];
  for (const f of fs) {
    const s = String(f);
    for (const m of isQualifiedName(s)) errs.push(invalid('spec.finalizers', s, m));
    if (!s.includes('/') && !standardFinalizers.has(s)) {
      errs.push(invalid('spec.finalizers', s, 'name is neither a standard finalizer name nor is it fully qualified'));
    }
  }
  return errs;
}

export const namespaces: ResourceType = {
  group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', singular: 'namespace', shortNames: ['ns'],
  namespaced: false, model: 'V1Namespace', subresources: { status: true }, nameValidator: nameIsDNSLabel,
  fieldSelectors: { 'status.phase': (o) => String((o as J).status?.phase ?? '') },
  table: {
    columns: [
      commonColumns.nameCol,
      { name: 'Status', type: 'string', description: 'The status of the namespace', priority: 0 },
      commonColumns.ageCol,
    ],
    row: (o, now) => [o.metadata.name, String((o as J).status?.phase ?? ''), ageOf(o, now)],
  },
  defaults(o) {
    const ns = o as J;
    if (o.metadata.name) o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name };
    if (!isObject(ns.status)) ns.status = {};
    if (!ns.status.phase) ns.status.phase = 'Active';
  },
  prepareForCreate(o) {
    const ns = o as J;
    ns.status = { phase: 'Active' };
    if (!isObject(ns.spec)) ns.spec = {};
    const fs: string[] = Array.isArray(ns.spec.finalizers) ? ns.spec.finalizers : [];
    if (!fs.includes('kubernetes')) fs.push('kubernetes');
    ns.spec.finalizers = fs;
  },
  prepareForUpdate(o, old) {
    const ns = o as J;
    ns.spec = { ...(isObject(ns.spec) ? ns.spec : {}), finalizers: structuredClone((old as J).spec?.finalizers) };
    if (ns.spec.finalizers === undefined) delete ns.spec.finalizers;
    ns.status = structuredClone((old as J).status);
  },
  validateCreate: (o) => validateNamespaceFinalizers(o),
  validateUpdate: (o) => validateNamespaceFinalizers(o),
  validateStatusUpdate(o) {
    const phase = (o as J).status?.phase;
    if (!o.metadata.deletionTimestamp) {
      return phase === 'Active' ? [] : [invalid('status.Phase', phase ?? '', "may only be 'Active' if `deletionTimestamp` is empty")];
    }
    return phase === 'Terminating' ? [] : [invalid('status.Phase', phase ?? '', "may only be 'Terminating' if `deletionTimestamp` is not empty")];
  },
};
