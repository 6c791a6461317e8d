// core/v1 ConfigMap: an example of a kind described declaratively.
import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import type { KObject } from '../meta.js';

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
};
