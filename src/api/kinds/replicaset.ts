// apps/v1 ReplicaSet: defaults, validation (ValidateReplicaSetSpec), strategy and columns.

import type { FieldError } from '../errors.js';
import { invalid } from '../errors.js';
import { isObject } from '../meta.js';
import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import { validateImmutableField, validateNonnegative } from '../validation/common.js';
import type { J } from './pod.js';
import { commonColumns } from './pod.js';
import { containerCells, defaultTemplate, keepStatus, selectorString, validateSelectorAndTemplate, workloadWideColumns } from './deployment.js';

const obj = (v: unknown): Record<string, J> => (isObject(v) ? v : {});

export function validateReplicaSetSpec(spec: J): FieldError[] {
  const s = obj(spec);
  return [
    ...validateNonnegative(s.replicas, 'spec.replicas'),
    ...validateNonnegative(s.minReadySeconds, 'spec.minReadySeconds'),
    ...validateSelectorAndTemplate(s, 'spec'),
  ];
}

export function validateReplicaSetStatus(status: J): FieldError[] {
  const st = obj(status);
  const errs: FieldError[] = [];
  for (const f of ['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'terminatingReplicas', 'observedGeneration']) {
    errs.push(...validateNonnegative(st[f], `status.${f}`));
  }
  const n = (v: unknown) => (typeof v === 'number' ? v : 0);
  const more = 'cannot be greater than the number of replicas';
  if (n(st.fullyLabeledReplicas) > n(st.replicas)) errs.push(invalid('status.fullyLabeledReplicas', n(st.fullyLabeledReplicas), more));
  if (n(st.readyReplicas) > n(st.replicas)) errs.push(invalid('status.readyReplicas', n(st.readyReplicas), more));
  if (n(st.availableReplicas) > n(st.replicas)) errs.push(invalid('status.availableReplicas', n(st.availableReplicas), more));
  if (n(st.availableReplicas) > n(st.readyReplicas)) errs.push(invalid('status.availableReplicas', n(st.availableReplicas), 'cannot be greater than readyReplicas'));
  return errs;
}

export const replicaSets: ResourceType = {
  group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', singular: 'replicaset',
  shortNames: ['rs'], categories: ['all'], namespaced: true, model: 'V1ReplicaSet',
  subresources: { status: true, scale: { specReplicasPath: 'spec.replicas', statusReplicasPath: 'status.replicas', labelSelectorPath: 'spec.selector' } },
  table: {
    columns: [
      commonColumns.nameCol,
      { name: 'Desired', type: 'integer', description: 'Replicas is the number of desired pods.', priority: 0 },
      { name: 'Current', type: 'integer', description: 'Replicas is the most recently observed number of non-terminating pods.', priority: 0 },
      { name: 'Ready', type: 'integer', description: 'The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.', priority: 0 },
      commonColumns.ageCol,
      ...workloadWideColumns,
    ],
    row(o, now) {
      const rs = o as J;
      const st = obj(rs.status);
      const [containers, images] = containerCells(rs);
      return [
        rs.metadata.name, obj(rs.spec).replicas ?? 0, st.replicas ?? 0, st.readyReplicas ?? 0, ageOf(o, now),
        containers, images, selectorString(obj(rs.spec).selector),
      ];
    },
  },
  defaults(o) {
    const rs = o as J;
    if (!isObject(rs.spec)) rs.spec = {};
    (rs.spec as J).replicas ??= 1;
    defaultTemplate(rs.spec);
  },
  prepareForCreate(o) {
    (o as J).status = { replicas: 0 };
  },
  prepareForUpdate: keepStatus,
  validateCreate: (o) => validateReplicaSetSpec((o as J).spec),
  validateUpdate: (o, old) => [
    ...validateReplicaSetSpec((o as J).spec),
    ...validateImmutableField(obj((o as J).spec).selector, obj((old as J).spec).selector, 'spec.selector'),
  ],
  validateStatusUpdate: (o) => validateReplicaSetStatus((o as J).status),
};
