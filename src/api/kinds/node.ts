// core/v1 Node (cluster-scoped): validation of taints, pod CIDRs and addresses, the node
// strategy (status only through /status; podCIDRs and providerID set once) and `kubectl get nodes`.

import type { FieldError } from '../errors.js';
import { duplicate, forbidden, invalid, notSupported, required, tooMany } from '../errors.js';
import { isObject } from '../meta.js';
import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import { deepEqual, isQualifiedName, isValidCIDR, isValidLabelValue } from '../validation/common.js';
import type { J } from './pod.js';
import { commonColumns } from './pod.js';

const obj = (v: unknown): Record<string, J> => (isObject(v) ? v : {});
const arr = (v: unknown): J[] => (Array.isArray(v) ? v : []);
const taintEffects = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

function validateTaints(taints: J, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  arr(taints).forEach((t0, i) => {
    const t = obj(t0);
    const p = `${path}[${i}]`;
    if (!t.key) errs.push(required(`${p}.key`, ''));
    else for (const m of isQualifiedName(t.key)) errs.push(invalid(`${p}.key`, t.key, m));
    if (t.value) for (const m of isValidLabelValue(String(t.value))) errs.push(invalid(`${p}.value`, t.value, m));
    if (!t.effect) errs.push(required(`${p}.effect`, ''));
    else if (!taintEffects.includes(t.effect)) errs.push(notSupported(`${p}.effect`, t.effect, taintEffects));
    const k = `${String(t.key)}:${String(t.effect)}`;
    if (seen.has(k)) errs.push(duplicate(p, t0));
    seen.add(k);
  });
  return errs;
}

function validateNodeSpec(spec: J): FieldError[] {
  const s = obj(spec);
  const errs = validateTaints(s.taints, 'spec.taints');
  const cidrs = arr(s.podCIDRs);
  cidrs.forEach((c, i) => {
    for (const m of isValidCIDR(String(c))) errs.push(invalid(`spec.podCIDRs[${i}]`, c, m));
  });
  if (cidrs.length > 2) errs.push(tooMany('spec.podCIDRs', cidrs.length, 2));
  if (cidrs.length === 2 && String(cidrs[0]).includes(':') === String(cidrs[1]).includes(':')) {
    errs.push(invalid('spec.podCIDRs', cidrs, 'may specify no more than one CIDR for each IP family'));
  }
  if (s.podCIDR && cidrs.length && s.podCIDR !== cidrs[0]) {
    errs.push(invalid('spec.podCIDR', s.podCIDR, 'must match the first element of podCIDRs'));
  }
  return errs;
}

/** printNode's STATUS: Ready/NotReady/Unknown, plus SchedulingDisabled. */
export function nodeStatus(n: J): string {
  const status: string[] = [];
  const ready = arr(obj(n.status).conditions).find((c) => obj(c).type === 'Ready');
  if (ready) status.push(obj(ready).status === 'True' ? 'Ready' : 'NotReady');
  else status.push('Unknown');
  if (obj(n.spec).unschedulable === true) status.push('SchedulingDisabled');
  return status.join(',');
}

/** findNodeRoles: node-role.kubernetes.io/<role> labels and kubernetes.io/role. */
export function nodeRoles(n: J): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(obj(obj(n.metadata).labels))) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const r = k.slice('node-role.kubernetes.io/'.length);
      if (r) roles.add(r);
    } else if (k === 'kubernetes.io/role' && v) {
      roles.add(String(v));
    }
  }
  return [...roles].sort().join(',') || '<none>';
}

const address = (n: J, type: string) =>
  String(obj(arr(obj(n.status).addresses).find((a) => obj(a).type === type)).address ?? '<none>');

export const nodes: ResourceType = {
  group: '', version: 'v1', kind: 'Node', plural: 'nodes', singular: 'node', shortNames: ['no'],
  namespaced: false, model: 'V1Node', subresources: { status: true },
  fieldSelectors: { 'spec.unschedulable': (o) => String(obj((o as J).spec).unschedulable === true) },
  table: {
    columns: [
      commonColumns.nameCol,
      { name: 'Status', type: 'string', description: 'The status of the node', priority: 0 },
      { name: 'Roles', type: 'string', description: 'The roles of the node', priority: 0 },
      commonColumns.ageCol,
      { name: 'Version', type: 'string', description: 'Kubelet Version reported by the node.', priority: 0 },
      { name: 'Internal-IP', type: 'string', description: 'List of addresses reachable to the node. Queried from cloud provider, if available.', priority: 1 },
      { name: 'External-IP', type: 'string', description: 'List of addresses reachable to the node. Queried from cloud provider, if available.', priority: 1 },
      { name: 'OS-Image', type: 'string', description: 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', priority: 1 },
      { name: 'Kernel-Version', type: 'string', description: "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", priority: 1 },
      { name: 'Container-Runtime', type: 'string', description: 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', priority: 1 },
    ],
    row(o, now) {
      const n = o as J;
      const info = obj(obj(n.status).nodeInfo);
      return [
        o.metadata.name, nodeStatus(n), nodeRoles(n), ageOf(o, now), String(info.kubeletVersion ?? ''),
        address(n, 'InternalIP'), address(n, 'ExternalIP'),
        String(info.osImage || '<unknown>'), String(info.kernelVersion || '<unknown>'), String(info.containerRuntimeVersion || '<unknown>'),
      ];
    },
  },
  defaults(o) {
    const st = (o as J).status;
    if (isObject(st) && st.allocatable === undefined && isObject(st.capacity)) st.allocatable = structuredClone(st.capacity);
  },
  prepareForUpdate(o, old) {
    (o as J).status = structuredClone((old as J).status);
  },
  validateCreate: (o) => validateNodeSpec((o as J).spec),
  validateUpdate(o, old) {
    const errs = validateNodeSpec((o as J).spec);
    const s = obj((o as J).spec);
    const os = obj((old as J).spec);
    if (arr(os.podCIDRs).length && !deepEqual(arr(os.podCIDRs), arr(s.podCIDRs))) {
      errs.push(forbidden('spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid'));
    }
    if (os.providerID && s.providerID !== os.providerID) {
      errs.push(forbidden('spec.providerID', 'node updates may only set providerID if it is empty'));
    }
    return errs;
  },
  validateStatusUpdate(o) {
    const errs: FieldError[] = [];
    arr(obj((o as J).status).addresses).forEach((a, i) => {
      if (!obj(a).type) errs.push(required(`status.addresses[${i}].type`, ''));
    });
    return errs;
  },
};
