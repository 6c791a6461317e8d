// core/v1 ServiceAccount: `kubectl get serviceaccounts` (NAME SECRETS AGE).

import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import type { J } from './pod.js';
import { commonColumns } from './pod.js';

export const serviceAccounts: ResourceType = {
  group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', singular: 'serviceaccount',
  shortNames: ['sa'], namespaced: true, model: 'V1ServiceAccount',
  table: {
    columns: [
      commonColumns.nameCol,
      { name: 'Secrets', type: 'string', description: 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.', priority: 0 },
      commonColumns.ageCol,
    ],
    row: (o, now) => [o.metadata.name, Array.isArray((o as J).secrets) ? (o as J).secrets.length : 0, ageOf(o, now)],
  },
};
