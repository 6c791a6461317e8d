// coordination.k8s.io/v1 Lease: validation (ValidateLeaseSpec) and `kubectl get leases`.

import type { FieldError } from '../errors.js';
import { invalid, notSupported, forbidden } from '../errors.js';
import { isObject } from '../meta.js';
import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import { validateNonnegative } from '../validation/common.js';
import type { J } from './pod.js';
import { commonColumns } from './pod.js';

function validateLeaseSpec(spec: J): FieldError[] {
  const s: J = isObject(spec) ? spec : {};
  const errs: FieldError[] = [];
  if (s.leaseDurationSeconds != null && s.leaseDurationSeconds <= 0) {
    errs.push(invalid('spec.leaseDurationSeconds', s.leaseDurationSeconds, 'must be greater than 0'));
  }
  errs.push(...validateNonnegative(s.leaseTransitions, 'spec.leaseTransitions'));
  if (s.strategy != null && s.strategy !== 'OldestEmulationVersion') {
    errs.push(notSupported('spec.strategy', s.strategy, ['OldestEmulationVersion']));
  }
  if (s.preferredHolder && !s.strategy) {
    errs.push(forbidden('spec.preferredHolder', 'may only be specified if `strategy` is defined'));
  }
  return errs;
}

export const leases: ResourceType = {
  group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', singular: 'lease',
  namespaced: true, model: 'V1Lease',
  table: {
    columns: [
      commonColumns.nameCol,
      { name: 'Holder', type: 'string', description: 'holderIdentity contains the identity of the holder of a current lease.', priority: 0 },
      commonColumns.ageCol,
    ],
    row: (o, now) => [o.metadata.name, String((o as J).spec?.holderIdentity ?? ''), ageOf(o, now)],
  },
  validateCreate: (o) => validateLeaseSpec((o as J).spec),
  validateUpdate: (o) => validateLeaseSpec((o as J).spec),
};
