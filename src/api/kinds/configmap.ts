// core/v1 ConfigMap: keys of data and binaryData are config keys and may not repeat across the
// two, the total size is at most 1 MiB, and `immutable: true` freezes the contents.
import type { FieldError } from '../errors.js';
import { invalid, tooLong } from '../errors.js';
import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import type { KObject } from '../meta.js';
import { isObject } from '../meta.js';
import { isConfigMapKey } from '../validation/common.js';
import { MaxSecretSize, validateImmutableData } from './secret.js';

function validateConfigMap(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const data: Record<string, unknown> = isObject(o.data) ? o.data : {};
  const bin: Record<string, unknown> = isObject(o.binaryData) ? o.binaryData : {};
  let total = 0;
  for (const [k, v] of Object.entries(data)) {
    for (const m of isConfigMapKey(k)) errs.push(invalid(`data[${k}]`, k, m));
    if (Object.prototype.hasOwnProperty.call(bin, k)) errs.push(invalid(`data[${k}]`, k, 'duplicate of key present in binaryData'));
    total += typeof v === 'string' ? Buffer.byteLength(v) : 0;
  }
  for (const [k, v] of Object.entries(bin)) {
    for (const m of isConfigMapKey(k)) errs.push(invalid(`binaryData[${k}]`, k, m));
    if (Object.prototype.hasOwnProperty.call(data, k)) errs.push(invalid(`binaryData[${k}]`, k, 'duplicate of key present in data'));
    total += typeof v === 'string' ? Buffer.from(v, 'base64').length : 0;
  }
  // Upstream reports this on the empty path: the whole object is too large.
  if (total > MaxSecretSize) errs.push(tooLong('', MaxSecretSize));
  return errs;
}

export const configMaps: ResourceType = {
  group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', singular: 'configmap',
  shortNames: ['cm'], namespaced: true, model: 'V1ConfigMap',
  table: {
    columns: [
      { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
      { name: 'Data', type: 'integer', description: 'Number of keys in data and binaryData.', priority: 0 },
      { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
    ],
    row: (o: KObject, now) => [
      o.metadata.name,
      Object.keys((o.data as object) ?? {}).length + Object.keys((o.binaryData as object) ?? {}).length,
      ageOf(o, now),
    ],
  },
  validateCreate: validateConfigMap,
  validateUpdate: (o, old) => [...validateImmutableData(o, old, ['data', 'binaryData']), ...validateConfigMap(o)],
};
