// Which objects a list or watch selects: namespace, label selector and field selector, with
// the field set each kind supports (metadata.name and metadata.namespace for every kind).

import { errBadRequest } from '../api/errors.js';
import { fieldSelectorFields, matchesFields, parseFieldSelector, unsupportedFieldError, exactMatch } from '../api/fields.js';
import { matches, parseLabelSelector } from '../api/labels.js';
import type { KObject } from '../api/meta.js';
import type { ResourceType } from '../api/registry.js';

export interface ObjectFilter {
  namespace?: string;
  labels?: ReturnType<typeof parseLabelSelector>;
  fields?: ReturnType<typeof parseFieldSelector>;
  /** metadata.name=X, when the field selector pins a single name. */
  name?: string;
  /** True when nothing but the namespace restricts the result. */
  everything: boolean;
}

export function fieldValue(rt: ResourceType, obj: KObject, field: string): string | undefined {
  if (field === 'metadata.name') return obj.metadata.name ?? '';
  if (field === 'metadata.namespace') return obj.metadata.namespace ?? '';
  const get = rt.fieldSelectors?.[field];
  return get ? get(obj) : undefined;
}

export function buildFilter(rt: ResourceType, namespace: string | undefined, labelSelector?: string | null,
                            fieldSelector?: string | null): ObjectFilter {
  const f: ObjectFilter = { namespace: rt.namespaced ? namespace || undefined : undefined, everything: true };
  if (labelSelector) {
    try {
      f.labels = parseLabelSelector(labelSelector);
    } catch (e) {
      throw errBadRequest(`unable to parse requirement: ${(e as Error).message}`.replace(/^unable to parse requirement: unable to parse requirement: /, 'unable to parse requirement: '));
    }
    f.everything = false;
  }
  if (fieldSelector) {
    try {
      f.fields = parseFieldSelector(fieldSelector);
    } catch (e) {
      throw errBadRequest((e as Error).message);
    }
    for (const field of fieldSelectorFields(f.fields)) {
      if (field !== 'metadata.name' && field !== 'metadata.namespace' && !rt.fieldSelectors?.[field]) {
        throw unsupportedFieldError(field);
      }
    }
    f.name = exactMatch(f.fields, 'metadata.name');
    const ns = exactMatch(f.fields, 'metadata.namespace');
    if (ns !== undefined && rt.namespaced && !f.namespace) f.namespace = ns;
    f.everything = false;
  }
  return f;
}

export function matchesFilter(rt: ResourceType, f: ObjectFilter, obj: KObject): boolean {
  if (f.namespace !== undefined && obj.metadata.namespace !== f.namespace) return false;
  if (f.labels && !matches(f.labels, obj.metadata.labels)) return false;
  if (f.fields && !matchesFields(f.fields, (field) => fieldValue(rt, obj, field))) return false;
  return true;
}
