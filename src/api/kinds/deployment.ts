// apps/v1 Deployment: defaults (SetDefaults_Deployment), validation (pkg/apis/apps/validation),
// strategy (status kept across spec updates, selector immutable), scale subresource and the
// `kubectl get deployments` columns. The workload-template helpers are shared with ReplicaSets.

import type { FieldError } from '../errors.js';
import { forbidden, invalid, notSupported, required } from '../errors.js';
import type { KObject } from '../meta.js';
import { isObject } from '../meta.js';
import type { TableColumn, ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import { isEmpty, matches, selectorFromLabelSelector, selectorToString } from '../labels.js';
import type { LabelSelectorSpec } from '../labels.js';
import {
  isValidPercent, validateImmutableField, validateLabelSelector, validateNonnegative,
} from '../validation/common.js';
import type { J } from './pod.js';
import { commonColumns, defaultPodSpec, validatePodTemplateSpec } from './pod.js';

const obj = (v: unknown): Record<string, J> => (isObject(v) ? v : {});
const arr = (v: unknown): J[] => (Array.isArray(v) ? v : []);

/** The pod template's spec defaults (templates get PodSpec defaults, not SetDefaults_Pod's). */
export function defaultTemplate(spec: J): void {
  if (!isObject(spec.template)) spec.template = {};
  const tpl = spec.template as J;
  if (!isObject(tpl.metadata)) tpl.metadata = {};
  if (!isObject(tpl.spec)) tpl.spec = {};
  defaultPodSpec(tpl.spec);
}

/** The selector checks Deployments and ReplicaSets share, then ValidatePodTemplateSpecForReplicaSet. */
export function validateSelectorAndTemplate(spec: J, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const sel = spec.selector;
  if (sel == null) {
    errs.push(required(`${path}.selector`, ''));
  } else {
    errs.push(...validateLabelSelector(sel, `${path}.selector`));
    if (Object.keys(obj(obj(sel).matchLabels)).length + arr(obj(sel).matchExpressions).length === 0) {
      errs.push(invalid(`${path}.selector`, sel, 'empty selector is invalid for deployment'));
    }
  }
  const tplPath = `${path}.template`;
  const tpl = spec.template;
  if (!isObject(tpl)) return [...errs, required(tplPath, '')];
  let selector;
  try {
    selector = selectorFromLabelSelector(sel as LabelSelectorSpec | null);
  } catch {
    // As upstream: a selector that does not convert stops validation of the template.
    return [...errs, invalid(`${path}.selector`, sel, 'invalid label selector')];
  }
  const labels = obj(obj(tpl.metadata).labels) as Record<string, string>;
  if (!isEmpty(selector) && !matches(selector, labels)) {
    errs.push(invalid(`${tplPath}.metadata.labels`, labels, '`selector` does not match template `labels`'));
  }
  errs.push(...validatePodTemplateSpec(tpl, tplPath));
  const podSpec = obj(tpl.spec);
  if (podSpec.restartPolicy !== 'Always') {
    errs.push(notSupported(`${tplPath}.spec.restartPolicy`, podSpec.restartPolicy ?? '', ['Always']));
  }
  if (podSpec.activeDeadlineSeconds != null) {
    errs.push(forbidden(`${tplPath}.spec.activeDeadlineSeconds`, 'activeDeadlineSeconds in ReplicaSet is not Supported'));
  }
  return errs;
}

/** LabelSelectorAsSelector(spec.selector).String(), as the SELECTOR column prints it. */
export function selectorString(sel: unknown): string {
  try {
    return selectorToString(selectorFromLabelSelector(sel as LabelSelectorSpec | null));
  } catch {
    return '<error>';
  }
}

/** CONTAINERS and IMAGES cells (layoutContainerCells). */
export function containerCells(o: J): [string, string] {
  const cs = arr(obj(obj(obj(o.spec).template).spec).containers);
  return [cs.map((c) => String(obj(c).name ?? '')).join(','), cs.map((c) => String(obj(c).image ?? '')).join(',')];
}

export const workloadWideColumns: TableColumn[] = [
  { name: 'Containers', type: 'string', description: 'Names of each container in the template.', priority: 1 },
  { name: 'Images', type: 'string', description: 'Images referenced by each container in the template.', priority: 1 },
  { name: 'Selector', type: 'string', description: 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.', priority: 1 },
];

const intOrPercent = (v: unknown): { value: number; percent: boolean } => {
  if (typeof v === 'number') return { value: v, percent: false };
  if (typeof v === 'string' && v.endsWith('%')) return { value: parseInt(v, 10), percent: true };
  if (typeof v === 'string') return { value: parseInt(v, 10), percent: false };
  return { value: 0, percent: false };
};

function validatePositiveIntOrPercent(v: unknown, path: string): FieldError[] {
  if (typeof v === 'string') return isValidPercent(v).map((m) => invalid(path, v, m));
  if (typeof v === 'number') return validateNonnegative(v, path);
  return [];
}

function validateStrategy(strategy: J, path: string): FieldError[] {
  const s = obj(strategy);
  const errs: FieldError[] = [];
  switch (s.type) {
    case 'Recreate':
      if (s.rollingUpdate != null) {
        errs.push(forbidden(`${path}.rollingUpdate`, "may not be specified when strategy `type` is 'Recreate'"));
      }
      break;
    case 'RollingUpdate': {
      if (s.rollingUpdate == null) {
        errs.push(required(`${path}.rollingUpdate`, 'this should be defaulted and never be nil'));
        break;
      }
      const ru = obj(s.rollingUpdate);
      const p = `${path}.rollingUpdate`;
      errs.push(...validatePositiveIntOrPercent(ru.maxUnavailable, `${p}.maxUnavailable`));
      errs.push(...validatePositiveIntOrPercent(ru.maxSurge, `${p}.maxSurge`));
      if (intOrPercent(ru.maxUnavailable).value === 0 && intOrPercent(ru.maxSurge).value === 0) {
        errs.push(invalid(`${p}.maxUnavailable`, ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0'));
      }
      const mu = intOrPercent(ru.maxUnavailable);
      if (mu.percent && mu.value > 100) errs.push(invalid(`${p}.maxUnavailable`, String(ru.maxUnavailable), 'must not be greater than 100%'));
      break;
    }
    default:
      errs.push(notSupported(path, strategy, ['Recreate', 'RollingUpdate']));
  }
  return errs;
}

export function validateDeploymentSpec(spec: J): FieldError[] {
  const s = obj(spec);
  const errs: FieldError[] = [];
  errs.push(...validateNonnegative(s.replicas, 'spec.replicas'));
  errs.push(...validateSelectorAndTemplate(s, 'spec'));
  errs.push(...validateStrategy(s.strategy, 'spec.strategy'));
  errs.push(...validateNonnegative(s.minReadySeconds, 'spec.minReadySeconds'));
  errs.push(...validateNonnegative(s.revisionHistoryLimit, 'spec.revisionHistoryLimit'));
  if (s.progressDeadlineSeconds != null) {
    errs.push(...validateNonnegative(s.progressDeadlineSeconds, 'spec.progressDeadlineSeconds'));
    if (s.progressDeadlineSeconds <= (s.minReadySeconds ?? 0)) {
      errs.push(invalid('spec.progressDeadlineSeconds', s.progressDeadlineSeconds, 'must be greater than minReadySeconds'));
    }
  }
  return errs;
}

export function validateDeploymentStatus(status: J): FieldError[] {
  const st = obj(status);
  const errs: FieldError[] = [];
  for (const f of ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'terminatingReplicas', 'observedGeneration', 'collisionCount']) {
    errs.push(...validateNonnegative(st[f], `status.${f}`));
  }
  const n = (v: unknown) => (typeof v === 'number' ? v : 0);
  if (n(st.updatedReplicas) > n(st.replicas)) errs.push(invalid('status.updatedReplicas', n(st.updatedReplicas), 'cannot be greater than status.replicas'));
  if (n(st.availableReplicas) > n(st.replicas)) errs.push(invalid('status.availableReplicas', n(st.availableReplicas), 'cannot be greater than status.replicas'));
  if (n(st.availableReplicas) > n(st.readyReplicas)) errs.push(invalid('status.availableReplicas', n(st.availableReplicas), 'cannot be greater than readyReplicas'));
  return errs;
}

/** The apps strategies keep the old status on a spec update (status changes only via /status). */
export function keepStatus(o: KObject, old: KObject): void {
  const next = o as J;
  const prev = old as J;
  next.status = structuredClone(prev.status);
}

export const deployments: ResourceType = {
  group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', singular: 'deployment',
  shortNames: ['deploy'], categories: ['all'], namespaced: true, model: 'V1Deployment',
  subresources: { status: true, scale: { specReplicasPath: 'spec.replicas', statusReplicasPath: 'status.replicas', labelSelectorPath: 'spec.selector' } },
  table: {
    columns: [
      commonColumns.nameCol,
      { name: 'Ready', type: 'string', description: 'Number of the pod with ready state', priority: 0 },
      { name: 'Up-to-date', type: 'string', description: 'Total number of non-terminating pods targeted by this deployment that have the desired template spec.', priority: 0 },
      { name: 'Available', type: 'string', description: 'Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.', priority: 0 },
      commonColumns.ageCol,
      ...workloadWideColumns,
    ],
    row(o, now) {
      const d = o as J;
      const st = obj(d.status);
      const [containers, images] = containerCells(d);
      return [
        d.metadata.name, `${st.readyReplicas ?? 0}/${obj(d.spec).replicas ?? 0}`, st.updatedReplicas ?? 0, st.availableReplicas ?? 0,
        ageOf(o, now), containers, images, selectorString(obj(d.spec).selector),
      ];
    },
  },
  defaults(o) {
    const d = o as J;
    if (!isObject(d.spec)) d.spec = {};
    const spec = d.spec as J;
    spec.replicas ??= 1;
    if (!isObject(spec.strategy)) spec.strategy = {};
    if (!spec.strategy.type) spec.strategy.type = 'RollingUpdate';
    if (spec.strategy.type === 'RollingUpdate') {
      if (!isObject(spec.strategy.rollingUpdate)) spec.strategy.rollingUpdate = {};
      spec.strategy.rollingUpdate.maxUnavailable ??= '25%';
      spec.strategy.rollingUpdate.maxSurge ??= '25%';
    }
    spec.revisionHistoryLimit ??= 10;
    spec.progressDeadlineSeconds ??= 600;
    defaultTemplate(spec);
  },
  prepareForCreate(o) {
    (o as J).status = {};
  },
  prepareForUpdate: keepStatus,
  validateCreate: (o) => validateDeploymentSpec((o as J).spec),
  validateUpdate: (o, old) => [
    ...validateDeploymentSpec((o as J).spec),
    ...validateImmutableField(obj((o as J).spec).selector, obj((old as J).spec).selector, 'spec.selector'),
  ],
  validateStatusUpdate: (o) => validateDeploymentStatus((o as J).status),
};
