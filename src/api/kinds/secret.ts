// core/v1 Secret: type defaults to Opaque, stringData is merged into data (as upstream's
// conversion does) and dropped, keys are config keys, values base64, per-type required keys,
// `immutable` semantics, and `kubectl get secrets`.

import type { FieldError } from '../errors.js';
import { forbidden, invalid, required, tooLong } from '../errors.js';
import type { KObject } from '../meta.js';
import { isObject } from '../meta.js';
import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import { deepEqual, isConfigMapKey, validateImmutableField } from '../validation/common.js';
import type { J } from './pod.js';
import { commonColumns } from './pod.js';

export const MaxSecretSize = 1024 * 1024;
const base64Re = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Folds stringData into data (stringData wins) and removes it. */
export function mergeStringData(o: KObject): void {
  const s = o as J;
  if (isObject(s.stringData)) {
    const data: Record<string, string> = isObject(s.data) ? s.data : {};
    for (const [k, v] of Object.entries(s.stringData)) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
    s.data = data;
  }
  delete s.stringData;
}

function validateSecret(o: KObject): FieldError[] {
  const s = o as J;
  const errs: FieldError[] = [];
  const data: Record<string, unknown> = isObject(s.data) ? s.data : {};
  let total = 0;
  for (const [k, v] of Object.entries(data)) {
    for (const m of isConfigMapKey(k)) errs.push(invalid(`data[${k}]`, k, m));
    if (typeof v !== 'string' || !base64Re.test(v.replace(/[\r\n]/g, ''))) {
      errs.push(invalid(`data[${k}]`, '<secret contents redacted>', 'illegal base64 data'));
      continue;
    }
    total += Buffer.from(v, 'base64').length;
  }
  if (total > MaxSecretSize) errs.push(tooLong('data', MaxSecretSize));
  const has = (k: string) => Object.prototype.hasOwnProperty.call(data, k);
  const bytes = (k: string) => (typeof data[k] === 'string' ? Buffer.from(data[k] as string, 'base64') : Buffer.alloc(0));
  switch (s.type) {
    case 'kubernetes.io/service-account-token':
      if (!o.metadata.annotations?.['kubernetes.io/service-account.name']) {
        errs.push(required('metadata.annotations[kubernetes.io/service-account.name]', ''));
      }
      break;
    case 'kubernetes.io/dockercfg':
    case 'kubernetes.io/dockerconfigjson': {
      const key = s.type === 'kubernetes.io/dockercfg' ? '.dockercfg' : '.dockerconfigjson';
      if (!has(key)) { errs.push(required(`data[${key}]`, '')); break; }
      try {
        const parsed: unknown = JSON.parse(bytes(key).toString('utf8'));
        if (!isObject(parsed)) throw new Error('json: cannot unmarshal into Go value of type map[string]interface {}');
      } catch (e) {
        errs.push(invalid(`data[${key}]`, '<secret contents redacted>', (e as Error).message));
      }
      break;
    }
    case 'kubernetes.io/basic-auth':
      if (!has('username') && !has('password')) {
        errs.push(required('data[username]', ''), required('data[password]', ''));
      }
      break;
    case 'kubernetes.io/ssh-auth':
      if (bytes('ssh-privatekey').length === 0) errs.push(required('data[ssh-privatekey]', ''));
      break;
    case 'kubernetes.io/tls':
      if (!has('tls.crt')) errs.push(required('data[tls.crt]', ''));
      if (!has('tls.key')) errs.push(required('data[tls.key]', ''));
      break;
    default:
  }
  return errs;
}

/** The `immutable: true` rules ConfigMaps and Secrets share. */
export function validateImmutableData(o: J, old: J, fields: string[]): FieldError[] {
  if (old.immutable !== true) return [];
  const errs: FieldError[] = [];
  if (o.immutable !== true) errs.push(forbidden('immutable', 'field is immutable when `immutable` is set'));
  for (const f of fields) {
    if (!deepEqual(o[f] ?? {}, old[f] ?? {})) errs.push(forbidden(f, 'field is immutable when `immutable` is set'));
  }
  return errs;
}

export const secrets: ResourceType = {
  group: '', version: 'v1', kind: 'Secret', plural: 'secrets', singular: 'secret',
  namespaced: true, model: 'V1Secret',
  fieldSelectors: { type: (o) => String((o as J).type ?? '') },
  table: {
    columns: [
      commonColumns.nameCol,
      { name: 'Type', type: 'string', description: 'Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types', priority: 0 },
      { name: 'Data', type: 'string', description: 'Data contains the secret data. Each key must consist of alphanumeric characters, \'-\', \'_\' or \'.\'.', priority: 0 },
      commonColumns.ageCol,
    ],
    row: (o, now) => [o.metadata.name, String((o as J).type ?? ''), Object.keys(isObject((o as J).data) ? (o as J).data : {}).length, ageOf(o, now)],
  },
  defaults(o) {
    const s = o as J;
    if (!s.type) s.type = 'Opaque';
    mergeStringData(o);
  },
  prepareForCreate: mergeStringData,
  prepareForUpdate: (o) => mergeStringData(o),
  validateCreate: validateSecret,
  validateUpdate: (o, old) => [
    ...validateImmutableField((o as J).type, (old as J).type, 'type'),
    ...validateImmutableData(o, old, ['data']),
    ...validateSecret(o),
  ],
};
