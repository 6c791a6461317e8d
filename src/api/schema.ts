// OpenAPI v3 component schemas for the served kinds, named as upstream names them
// (`io.k8s.api.core.v1.Pod`), built lazily from the @kubernetes/client-node model files.
//
// The client-node models give field names, JSON types and formats (attributeTypeMap in each
// model's .js) and descriptions and required fields (JSDoc and `?` in each .d.ts). They do not
// carry the Go package of a type, the strategic-merge-patch / list-type extensions, or which
// string maps hold Quantities; those come from the small declarative tables below, checked
// against upstream's api/openapi-spec/v3 documents.
//
// Three consumers:
//   - schemaFor(model): the component schemas for a model and everything it references
//     (served in /openapi/v3 documents, read by kubectl apply and kubectl explain);
//   - patchMetaFor(model): strategic merge patch metadata (src/api/patchmeta.ts) over them;
//   - shapeOf(model): a compiled structural walker used by strict field checking (strict.ts).
// Model files are read as text (never imported: the package root takes ~700 ms to load) and
// everything is cached per process.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FieldPatchMeta, PatchMeta } from './patchmeta.js';

// ---- JSON schema shape ------------------------------------------------------------------

export interface Schema {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  allOf?: Schema[];
  oneOf?: Schema[];
  $ref?: string;
  default?: unknown;
  uniqueItems?: boolean;
  [extension: `x-${string}`]: unknown;
}

export interface GroupVersionKind { group: string; version: string; kind: string }

export const REF_PREFIX = '#/components/schemas/';

// ---- reading client-node models ----------------------------------------------------------

interface Attr { name: string; baseName: string; type: string; format: string }
interface ModelInfo {
  attrs: Attr[];
  description?: string;
  docs: Map<string, string>;
  required: string[];
}

let modelsDir: string | undefined;
function modelDir(): string {
  if (modelsDir) return modelsDir;
  let entry: string;
  try {
    entry = fileURLToPath(import.meta.resolve('@kubernetes/client-node'));
  } catch {
    entry = createRequire(import.meta.url).resolve('@kubernetes/client-node');
  }
  modelsDir = join(dirname(entry), 'gen', 'models');
  return modelsDir;
}

const modelCache = new Map<string, ModelInfo | null>();

const unescapeDoc = (s: string) => s.replace(/\\(['"\\])/g, '$1');

// One JSDoc block followed by a member declaration: `/** ... */ 'name'?: Type;`.
const MEMBER_RE = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*'([^']+)'(\?)?:|^\s{4}'([^']+)'(\?)?:/gm;
const CLASS_RE = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*export declare class /;

const docText = (raw: string) =>
  unescapeDoc(raw.split('\n').map((l) => l.trim().replace(/^\* ?/, '')).join('\n').trim());

interface Docs { description?: string; docs: Map<string, string>; required: string[] }

function parseDts(text: string): Docs {
  const docs = new Map<string, string>();
  const required: string[] = [];
  const classAt = text.indexOf('export declare class ');
  if (classAt < 0) return { docs, required };
  const head = CLASS_RE.exec(text.slice(Math.max(0, text.lastIndexOf('/**', classAt)), classAt + 21));
  const description = head ? docText(head[1]) : undefined;
  const body = text.slice(text.indexOf('{', classAt));
  MEMBER_RE.lastIndex = 0;
  for (let m = MEMBER_RE.exec(body); m; m = MEMBER_RE.exec(body)) {
    const name = m[2] ?? m[4];
    const optional = m[2] !== undefined ? m[3] : m[5];
    if (m[1] !== undefined) docs.set(name, docText(m[1]));
    if (!optional) required.push(name);
  }
  return { description, docs, required };
}

const attrCache = new Map<string, Attr[] | null>();

/** A model's attributeTypeMap (from its .js only), or undefined if there is no such model. */
export function loadAttrs(model: string): Attr[] | undefined {
  const hit = attrCache.get(model);
  if (hit !== undefined) return hit ?? undefined;
  let attrs: Attr[] | null = null;
  if (/^[A-Za-z0-9]+$/.test(model)) {
    try {
      const js = readFileSync(join(modelDir(), `${model}.js`), 'utf8');
      const at = js.indexOf('.attributeTypeMap = [');
      if (at >= 0) {
        const start = js.indexOf('[', at);
        const end = js.indexOf('\n];', start);
        attrs = JSON.parse(js.slice(start, end + 2)) as Attr[];
      }
    } catch {
      attrs = null;
    }
  }
  attrCache.set(model, attrs);
  return attrs ?? undefined;
}

/** The attribute map and documentation of a client-node model, or undefined if there is none. */
export function loadModel(model: string): ModelInfo | undefined {
  const hit = modelCache.get(model);
  if (hit !== undefined) return hit ?? undefined;
  const attrs = loadAttrs(model);
  let info: ModelInfo | null = null;
  if (attrs) {
    let dts: Docs = { docs: new Map(), required: [] };
    try { dts = parseDts(readFileSync(join(modelDir(), `${model}.d.ts`), 'utf8')); } catch { /* docs are optional */ }
    info = { attrs, description: dts.description, docs: dts.docs, required: dts.required };
  }
  modelCache.set(model, info);
  return info ?? undefined;
}

// ---- upstream names ----------------------------------------------------------------------

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
export const NAME_TIME = `${META}.Time`;
export const NAME_MICROTIME = `${META}.MicroTime`;
export const NAME_FIELDSV1 = `${META}.FieldsV1`;
export const NAME_INTORSTRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
export const NAME_QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
export const NAME_RAWEXTENSION = 'io.k8s.apimachinery.pkg.runtime.RawExtension';

/** Client-node model name prefixes that name their API group. */
const PREFIX_PACKAGE: Record<string, string> = {
  Core: 'io.k8s.api.core', Events: 'io.k8s.api.events', Discovery: 'io.k8s.api.discovery',
  Storage: 'io.k8s.api.storage', Rbac: 'io.k8s.api.rbac', Flowcontrol: 'io.k8s.api.flowcontrol',
  Resource: 'io.k8s.api.resource', Authentication: 'io.k8s.api.authentication',
  Authorization: 'io.k8s.api.authorization', Autoscaling: 'io.k8s.api.autoscaling',
  Admissionregistration: 'io.k8s.api.admissionregistration', Networking: 'io.k8s.api.networking',
  Apiextensions: 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions',
  Apiregistration: 'io.k8s.kube-aggregator.pkg.apis.apiregistration',
};

/** metav1 types (the client-node models name them V1Xxx like core types). */
const META_TYPES = new Set([
  'ObjectMeta', 'ListMeta', 'LabelSelector', 'LabelSelectorRequirement', 'ManagedFieldsEntry',
  'OwnerReference', 'Status', 'StatusDetails', 'StatusCause', 'DeleteOptions', 'Preconditions',
  'Condition', 'APIResource', 'APIResourceList', 'APIGroup', 'APIGroupList', 'APIVersions',
  'GroupVersionForDiscovery', 'ServerAddressByClientCIDR', 'WatchEvent', 'Time', 'MicroTime',
  'FieldsV1', 'Patch',
]);

/** Unprefixed V1 types that live outside core/v1, by package. Everything else is core. */
const V1_GROUPS: [string, RegExp][] = [
  ['io.k8s.api.apps.v1', /^(Deployment|ReplicaSet|StatefulSet|DaemonSet|ControllerRevision|RollingUpdate)/],
  ['io.k8s.api.networking.v1', /^(NetworkPolicy|Ingress|HTTPIngress|IPBlock|IPAddress|ParentReference|ServiceBackendPort|ServiceCIDR)/],
  ['io.k8s.api.discovery.v1', /^(EndpointSlice|Endpoint|EndpointConditions|EndpointHints|ForNode|ForZone)(List)?$/],
  ['io.k8s.api.coordination.v1', /^Lease(Spec|List)?$/],
  ['io.k8s.api.autoscaling.v1', /^(Scale(Spec|Status)?|HorizontalPodAutoscaler\w*|CrossVersionObjectReference)$/],
  ['io.k8s.api.batch.v1', /^(Job|CronJob|PodFailurePolicy|SuccessPolicy|UncountedTerminatedPods)/],
  ['io.k8s.api.policy.v1', /^(PodDisruptionBudget|Eviction)/],
  ['io.k8s.api.rbac.v1', /^(Role|ClusterRole|PolicyRule|Subject|AggregationRule)/],
  ['io.k8s.api.scheduling.v1', /^PriorityClass/],
  ['io.k8s.api.node.v1', /^(RuntimeClass|Overhead|Scheduling)$/],
  ['io.k8s.api.storage.v1', /^(StorageClass|CSIDriver|CSINode|CSIStorageCapacity|VolumeAttachment|VolumeAttributesClass|VolumeNodeResources|TokenRequest)/],
  ['io.k8s.api.certificates.v1', /^CertificateSigningRequest/],
];

const nameCache = new Map<string, string>();

/** Upstream definition name of a client-node model: V1Pod → io.k8s.api.core.v1.Pod. */
export function schemaName(model: string): string {
  const hit = nameCache.get(model);
  if (hit) return hit;
  let name: string;
  if (model === 'IntOrString') name = NAME_INTORSTRING;
  else if (model === 'V1MicroTime') name = NAME_MICROTIME;
  else {
    const m = /^([A-Z][a-z]+)?(V\d+(?:alpha\d+|beta\d+)?)([A-Z]\w*)$/.exec(model);
    if (!m) name = model;
    else {
      const [, prefix, ver, type] = m;
      const version = ver[0].toLowerCase() + ver.slice(1);
      if (prefix) name = `${PREFIX_PACKAGE[prefix] ?? `io.k8s.api.${prefix.toLowerCase()}`}.${version}.${type}`;
      else if (version === 'v1' && META_TYPES.has(type)) name = `${META}.${type}`;
      else {
        let pkg = `io.k8s.api.core.${version}`;
        if (version === 'v1') {
          for (const [p, re] of V1_GROUPS) if (re.test(type)) { pkg = p; break; }
        }
        name = `${pkg}.${type}`;
      }
    }
  }
  nameCache.set(model, name);
  return name;
}

const API_GROUP: Record<string, string> = {
  core: '', apps: 'apps', batch: 'batch', policy: 'policy', autoscaling: 'autoscaling',
};

/** API group/version of an upstream definition name (io.k8s.api.apps.v1.X → apps, v1). */
export function groupVersionOfName(name: string): { group: string; version: string } | undefined {
  const m = /^io\.k8s\.api\.([a-z0-9]+)\.(v\d+(?:alpha\d+|beta\d+)?)\.[A-Z]\w*$/.exec(name);
  if (!m) {
    if (name.startsWith(`${META}.`)) return { group: '', version: 'v1' };
    return undefined;
  }
  const pkg = m[1];
  let group = API_GROUP[pkg];
  if (group === undefined) group = pkg === 'flowcontrol' ? 'flowcontrol.apiserver.k8s.io'
    : pkg === 'rbac' ? 'rbac.authorization.k8s.io' : `${pkg}.k8s.io`;
  return { group, version: m[2] };
}

const shortName = (name: string) => name.slice(name.lastIndexOf('.') + 1);

// ---- declarative tables: extensions upstream has but client-node lacks --------------------

/** Per-field extensions: strategic merge patch strategy/key and list/map types. */
interface FieldExt {
  /** x-kubernetes-patch-strategy. */
  ps?: string;
  /** x-kubernetes-patch-merge-key. */
  mk?: string;
  /** x-kubernetes-list-type. */
  lt?: 'atomic' | 'set' | 'map';
  /** x-kubernetes-list-map-keys. */
  keys?: string[];
  /** x-kubernetes-map-type. */
  mt?: 'atomic' | 'granular';
}

// Shorthands for the common shapes.
const mergeMap = (key: string, ...more: string[]): FieldExt => ({ ps: 'merge', mk: key, lt: 'map', keys: [key, ...more] });
const atomic: FieldExt = { lt: 'atomic' };
const set: FieldExt = { lt: 'set' };
const condMap = mergeMap('type');

const CORE = 'io.k8s.api.core.v1';
const APPS = 'io.k8s.api.apps.v1';
const NET = 'io.k8s.api.networking.v1';
const DISC = 'io.k8s.api.discovery.v1';

const containerExt: Record<string, FieldExt> = {
  args: atomic, command: atomic, env: mergeMap('name'), envFrom: atomic,
  ports: { ps: 'merge', mk: 'containerPort', lt: 'map', keys: ['containerPort', 'protocol'] },
  resizePolicy: atomic, restartPolicyRules: atomic,
  volumeMounts: mergeMap('mountPath'), volumeDevices: mergeMap('devicePath'),
};

/** Field extensions keyed by `<definition>.<field>`. */
const FIELD_EXT: Record<string, FieldExt> = {
  // metav1
  [`${META}.ObjectMeta.finalizers`]: { ps: 'merge', lt: 'set' },
  [`${META}.ObjectMeta.ownerReferences`]: mergeMap('uid'),
  [`${META}.ObjectMeta.managedFields`]: atomic,
  [`${META}.LabelSelector.matchExpressions`]: atomic,
  [`${META}.LabelSelectorRequirement.values`]: atomic,
  [`${META}.StatusDetails.causes`]: atomic,
  [`${META}.DeleteOptions.dryRun`]: atomic,
  // core/v1 Pod
  ...Object.fromEntries(Object.entries(containerExt).map(([f, e]) => [`${CORE}.Container.${f}`, e])),
  ...Object.fromEntries(Object.entries(containerExt).map(([f, e]) => [`${CORE}.EphemeralContainer.${f}`, e])),
  [`${CORE}.PodSpec.volumes`]: { ps: 'merge,retainKeys', mk: 'name', lt: 'map', keys: ['name'] },
  [`${CORE}.PodSpec.initContainers`]: mergeMap('name'),
  [`${CORE}.PodSpec.containers`]: mergeMap('name'),
  [`${CORE}.PodSpec.ephemeralContainers`]: mergeMap('name'),
  [`${CORE}.PodSpec.imagePullSecrets`]: mergeMap('name'),
  [`${CORE}.PodSpec.hostAliases`]: mergeMap('ip'),
  [`${CORE}.PodSpec.tolerations`]: atomic,
  [`${CORE}.PodSpec.readinessGates`]: atomic,
  [`${CORE}.PodSpec.topologySpreadConstraints`]: { ps: 'merge', mk: 'topologyKey', lt: 'map', keys: ['topologyKey', 'whenUnsatisfiable'] },
  [`${CORE}.PodSpec.schedulingGates`]: mergeMap('name'),
  [`${CORE}.PodSpec.resourceClaims`]: { ps: 'merge,retainKeys', mk: 'name', lt: 'map', keys: ['name'] },
  [`${CORE}.PodSpec.nodeSelector`]: { mt: 'atomic' },
  [`${CORE}.PodStatus.conditions`]: condMap,
  [`${CORE}.PodStatus.podIPs`]: mergeMap('ip'),
  [`${CORE}.PodStatus.hostIPs`]: { ps: 'merge', mk: 'ip', lt: 'atomic' },
  [`${CORE}.PodStatus.initContainerStatuses`]: atomic,
  [`${CORE}.PodStatus.containerStatuses`]: atomic,
  [`${CORE}.PodStatus.ephemeralContainerStatuses`]: atomic,
  [`${CORE}.PodStatus.resourceClaimStatuses`]: { ps: 'merge,retainKeys', mk: 'name', lt: 'map', keys: ['name'] },
  [`${CORE}.ContainerStatus.volumeMounts`]: mergeMap('mountPath'),
  [`${CORE}.ContainerStatus.allocatedResourcesStatus`]: mergeMap('name'),
  [`${CORE}.ResourceStatus.resources`]: { lt: 'map', keys: ['resourceID'] },
  [`${CORE}.PodDNSConfig.nameservers`]: atomic,
  [`${CORE}.PodDNSConfig.searches`]: atomic,
  [`${CORE}.PodDNSConfig.options`]: atomic,
  [`${CORE}.HostAlias.hostnames`]: atomic,
  [`${CORE}.PodSecurityContext.supplementalGroups`]: atomic,
  [`${CORE}.PodSecurityContext.sysctls`]: atomic,
  [`${CORE}.Capabilities.add`]: atomic,
  [`${CORE}.Capabilities.drop`]: atomic,
  [`${CORE}.ExecAction.command`]: atomic,
  [`${CORE}.HTTPGetAction.httpHeaders`]: atomic,
  [`${CORE}.ResourceRequirements.claims`]: { lt: 'map', keys: ['name'] },
  [`${CORE}.NodeSelector.nodeSelectorTerms`]: atomic,
  [`${CORE}.NodeSelectorTerm.matchExpressions`]: atomic,
  [`${CORE}.NodeSelectorTerm.matchFields`]: atomic,
  [`${CORE}.NodeSelectorRequirement.values`]: atomic,
  [`${CORE}.NodeAffinity.preferredDuringSchedulingIgnoredDuringExecution`]: atomic,
  [`${CORE}.PodAffinity.requiredDuringSchedulingIgnoredDuringExecution`]: atomic,
  [`${CORE}.PodAffinity.preferredDuringSchedulingIgnoredDuringExecution`]: atomic,
  [`${CORE}.PodAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution`]: atomic,
  [`${CORE}.PodAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution`]: atomic,
  [`${CORE}.PodAffinityTerm.namespaces`]: atomic,
  [`${CORE}.PodAffinityTerm.matchLabelKeys`]: atomic,
  [`${CORE}.PodAffinityTerm.mismatchLabelKeys`]: atomic,
  [`${CORE}.TopologySpreadConstraint.matchLabelKeys`]: atomic,
  [`${CORE}.ConfigMapVolumeSource.items`]: atomic,
  [`${CORE}.SecretVolumeSource.items`]: atomic,
  [`${CORE}.ConfigMapProjection.items`]: atomic,
  [`${CORE}.SecretProjection.items`]: atomic,
  [`${CORE}.DownwardAPIVolumeSource.items`]: atomic,
  [`${CORE}.DownwardAPIProjection.items`]: atomic,
  [`${CORE}.ProjectedVolumeSource.sources`]: atomic,
  // core/v1 Service
  [`${CORE}.ServiceSpec.ports`]: { ps: 'merge', mk: 'port', lt: 'map', keys: ['port', 'protocol'] },
  [`${CORE}.ServiceSpec.selector`]: { mt: 'atomic' },
  [`${CORE}.ServiceSpec.clusterIPs`]: atomic,
  [`${CORE}.ServiceSpec.externalIPs`]: atomic,
  [`${CORE}.ServiceSpec.loadBalancerSourceRanges`]: atomic,
  [`${CORE}.ServiceSpec.ipFamilies`]: atomic,
  [`${CORE}.ServiceStatus.conditions`]: condMap,
  [`${CORE}.LoadBalancerStatus.ingress`]: atomic,
  [`${CORE}.LoadBalancerIngress.ports`]: atomic,
  // core/v1 Endpoints
  [`${CORE}.Endpoints.subsets`]: atomic,
  [`${CORE}.EndpointSubset.addresses`]: atomic,
  [`${CORE}.EndpointSubset.notReadyAddresses`]: atomic,
  [`${CORE}.EndpointSubset.ports`]: atomic,
  // core/v1 Node, Namespace
  [`${CORE}.NodeSpec.podCIDRs`]: { ps: 'merge', lt: 'set' },
  [`${CORE}.NodeSpec.taints`]: atomic,
  [`${CORE}.NodeStatus.conditions`]: condMap,
  [`${CORE}.NodeStatus.addresses`]: condMap,
  [`${CORE}.NodeStatus.images`]: atomic,
  [`${CORE}.NodeStatus.volumesInUse`]: atomic,
  [`${CORE}.NodeStatus.volumesAttached`]: atomic,
  [`${CORE}.NodeStatus.runtimeHandlers`]: atomic,
  [`${CORE}.ContainerImage.names`]: atomic,
  [`${CORE}.NamespaceSpec.finalizers`]: atomic,
  [`${CORE}.NamespaceStatus.conditions`]: condMap,
  // core/v1 Secret, ConfigMap, ServiceAccount, Event
  [`${CORE}.ServiceAccount.secrets`]: mergeMap('name'),
  [`${CORE}.ServiceAccount.imagePullSecrets`]: atomic,
  // apps/v1
  [`${APPS}.DeploymentSpec.strategy`]: { ps: 'retainKeys' },
  [`${APPS}.DeploymentStatus.conditions`]: condMap,
  [`${APPS}.ReplicaSetStatus.conditions`]: condMap,
  [`${APPS}.StatefulSetStatus.conditions`]: condMap,
  [`${APPS}.DaemonSetStatus.conditions`]: condMap,
  [`${APPS}.StatefulSetSpec.volumeClaimTemplates`]: atomic,
  // networking.k8s.io/v1
  [`${NET}.NetworkPolicySpec.ingress`]: atomic,
  [`${NET}.NetworkPolicySpec.egress`]: atomic,
  [`${NET}.NetworkPolicySpec.policyTypes`]: atomic,
  [`${NET}.NetworkPolicyIngressRule.ports`]: atomic,
  [`${NET}.NetworkPolicyIngressRule.from`]: atomic,
  [`${NET}.NetworkPolicyEgressRule.ports`]: atomic,
  [`${NET}.NetworkPolicyEgressRule.to`]: atomic,
  [`${NET}.IPBlock.except`]: atomic,
  [`${NET}.IngressSpec.tls`]: atomic,
  [`${NET}.IngressSpec.rules`]: atomic,
  [`${NET}.IngressTLS.hosts`]: atomic,
  [`${NET}.HTTPIngressRuleValue.paths`]: atomic,
  [`${NET}.IngressLoadBalancerStatus.ingress`]: atomic,
  [`${NET}.IngressLoadBalancerIngress.ports`]: atomic,
  [`${NET}.ServiceCIDRSpec.cidrs`]: atomic,
  [`${NET}.ServiceCIDRStatus.conditions`]: condMap,
  // discovery.k8s.io/v1
  [`${DISC}.EndpointSlice.endpoints`]: atomic,
  [`${DISC}.EndpointSlice.ports`]: atomic,
  [`${DISC}.Endpoint.addresses`]: set,
  [`${DISC}.EndpointHints.forZones`]: atomic,
  [`${DISC}.EndpointHints.forNodes`]: atomic,
};

/** Struct-level x-kubernetes-map-type: atomic (upstream +structType=atomic). */
const ATOMIC_STRUCTS = new Set([
  `${META}.LabelSelector`, `${CORE}.ObjectReference`, `${CORE}.LocalObjectReference`,
  `${CORE}.ConfigMapKeySelector`, `${CORE}.SecretKeySelector`, `${CORE}.ObjectFieldSelector`,
  `${CORE}.ResourceFieldSelector`, `${CORE}.NodeSelector`, `${CORE}.NodeSelectorTerm`,
  `${CORE}.TypedLocalObjectReference`, `${CORE}.ClientIPConfig`, `${CORE}.SessionAffinityConfig`,
  `${CORE}.FileKeySelector`, `${CORE}.SecretEnvSource`, `${CORE}.ConfigMapEnvSource`,
]);

/** Fields whose client-node type is a plain string (map) but upstream's is a Quantity (map). */
const QUANTITY_FIELDS = new Set([
  `${CORE}.ResourceRequirements.limits`, `${CORE}.ResourceRequirements.requests`,
  `${CORE}.VolumeResourceRequirements.limits`, `${CORE}.VolumeResourceRequirements.requests`,
  `${CORE}.NodeStatus.capacity`, `${CORE}.NodeStatus.allocatable`, `${CORE}.PodSpec.overhead`,
  `${CORE}.ContainerStatus.allocatedResources`, `${CORE}.EmptyDirVolumeSource.sizeLimit`,
  `${CORE}.PersistentVolumeClaimStatus.capacity`, `${CORE}.PersistentVolumeClaimStatus.allocatedResources`,
  `${CORE}.PersistentVolumeSpec.capacity`, `${CORE}.ResourceQuotaSpec.hard`,
  `${CORE}.ResourceQuotaStatus.hard`, `${CORE}.ResourceQuotaStatus.used`,
  `${CORE}.LimitRangeItem.max`, `${CORE}.LimitRangeItem.min`, `${CORE}.LimitRangeItem.default`,
  `${CORE}.LimitRangeItem.defaultRequest`, `${CORE}.LimitRangeItem.maxLimitRequestRatio`,
]);

/** `any`-typed fields with a known upstream type. */
const ANY_FIELDS: Record<string, string> = {
  [`${META}.ManagedFieldsEntry.fieldsV1`]: NAME_FIELDSV1,
  [`${APPS}.ControllerRevision.data`]: NAME_RAWEXTENSION,
};

/** Fields upstream defaults to `{}` in v3 (non-pointer structs) beyond list items. */
const DEFAULT_EMPTY_FIELDS = new Set(['metadata', 'spec', 'status', 'template']);

// Leaf definitions that are not client-node models.
const LEAF_SCHEMAS: Record<string, Schema> = {
  [NAME_TIME]: {
    description: 'Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON. Wrappers are provided for many of the factory methods that the time package offers.',
    type: 'string', format: 'date-time',
  },
  [NAME_MICROTIME]: {
    description: 'MicroTime is version of Time with microsecond level precision.',
    type: 'string', format: 'date-time',
  },
  [NAME_FIELDSV1]: {
    description: 'FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.',
    type: 'object',
  },
  [NAME_RAWEXTENSION]: {
    description: 'RawExtension is used to hold extensions in external versions.',
    type: 'object',
  },
  [NAME_INTORSTRING]: {
    description: 'IntOrString is a type that can hold an int32 or a string. When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.',
    format: 'int-or-string',
    oneOf: [{ type: 'integer' }, { type: 'string' }],
  },
  [NAME_QUANTITY]: {
    description: 'Quantity is a fixed-point representation of a number, written as a decimal with an optional suffix: binary SI (Ki, Mi, Gi, Ti, Pi, Ei), decimal SI (m, k, M, G, T, P, E) or a decimal exponent (e3, E6). For example 100m, 1.5Gi, 2.',
    oneOf: [{ type: 'string' }, { type: 'number' }],
  },
};

// ---- building component schemas ---------------------------------------------------------

const ref = (name: string) => REF_PREFIX + name;

interface Built { name: string; schema: Schema; deps: string[] }

/** Parses a client-node type string into the schema for one value, collecting references. */
function valueSchema(type: string, format: string, deps: string[], key: string | undefined, mapValue: boolean): Schema {
  if (type.startsWith('Array<') && type.endsWith('>')) {
    const inner = valueSchema(type.slice(6, -1), format, deps, key, false);
    const items: Schema = inner.$ref ? { allOf: [inner], default: {} } : inner;
    return { type: 'array', items };
  }
  const mm = /^\{ \[key: string\]: (.*); \}$/.exec(type);
  if (mm) return { type: 'object', additionalProperties: valueSchema(mm[1], format, deps, key, true) };
  switch (type) {
    case 'string':
      if (key && QUANTITY_FIELDS.has(key)) { deps.push(NAME_QUANTITY); return { $ref: ref(NAME_QUANTITY) }; }
      if (format === 'byte') return { type: 'string', format: 'byte' };
      return mapValue ? { type: 'string', default: '' } : { type: 'string' };
    case 'number':
      if (format === 'int32' || format === 'int64') return { type: 'integer', format };
      if (format) return { type: 'number', format };
      return { type: 'number' };
    case 'boolean': return { type: 'boolean' };
    case 'Date': {
      const n = format === 'date-time-micro' ? NAME_MICROTIME : NAME_TIME;
      deps.push(n);
      return { $ref: ref(n) };
    }
    case 'V1MicroTime': deps.push(NAME_MICROTIME); return { $ref: ref(NAME_MICROTIME) };
    case 'IntOrString': deps.push(NAME_INTORSTRING); return { $ref: ref(NAME_INTORSTRING) };
    case 'object': return { type: 'object' };
    case 'any': {
      const n = key ? ANY_FIELDS[key] : undefined;
      if (n) { deps.push(n); return { $ref: ref(n) }; }
      return {};
    }
    default: {
      const n = schemaName(type);
      deps.push(n);
      return { $ref: ref(n) };
    }
  }
}

function applyExt(s: Schema, ext: FieldExt | undefined): void {
  if (!ext) return;
  if (ext.lt) s['x-kubernetes-list-type'] = ext.lt;
  if (ext.keys && ext.lt === 'map') s['x-kubernetes-list-map-keys'] = ext.keys;
  if (ext.mt) s['x-kubernetes-map-type'] = ext.mt;
  if (ext.mk) s['x-kubernetes-patch-merge-key'] = ext.mk;
  if (ext.ps) s['x-kubernetes-patch-strategy'] = ext.ps;
}

/** name → model for every definition reached so far (so deps can be resolved to models). */
const modelOfName = new Map<string, string>();

function isKindModel(info: ModelInfo): boolean {
  let n = 0;
  for (const a of info.attrs) if (a.name === 'apiVersion' || a.name === 'kind' || a.name === 'metadata') n++;
  return n === 3;
}

function buildModel(model: string): Built | undefined {
  const info = loadModel(model);
  if (!info) return undefined;
  const name = schemaName(model);
  const deps: string[] = [];
  const properties: Record<string, Schema> = {};
  for (const a of info.attrs) {
    const key = `${name}.${a.baseName}`;
    const v = valueSchema(a.type, a.format, deps, key, false);
    let doc = info.docs.get(a.name);
    // client-node repeats a leaf type's own description on fields of that type; upstream has
    // a field description there (which client-node lacks), so leave it to the type.
    if (doc && /^(IntOrString|Time|MicroTime|Quantity) is /.test(doc)) doc = undefined;
    let p: Schema;
    if (v.$ref) {
      p = { allOf: [v] };
      if (DEFAULT_EMPTY_FIELDS.has(a.baseName) && !v.$ref.endsWith('.Time')) p.default = {};
    } else p = v;
    if (doc) p.description = doc;
    applyExt(p, FIELD_EXT[key]);
    properties[a.baseName] = p;
  }
  const schema: Schema = {};
  if (info.description) schema.description = info.description;
  schema.type = 'object';
  schema.properties = properties;
  const req = info.required.map((r) => info.attrs.find((a) => a.name === r)?.baseName ?? r);
  if (req.length) schema.required = req;
  if (ATOMIC_STRUCTS.has(name)) schema['x-kubernetes-map-type'] = 'atomic';
  if (isKindModel(info)) {
    const gv = groupVersionOfName(name);
    if (gv) schema['x-kubernetes-group-version-kind'] = [{ group: gv.group, kind: shortName(name), version: gv.version }];
  }
  for (const a of info.attrs) {
    const t = a.type.replace(/^Array<(.*)>$/, '$1').replace(/^\{ \[key: string\]: (.*); \}$/, '$1').replace(/^Array<(.*)>$/, '$1');
    if (/^[A-Z]/.test(t) && t !== 'Date' && t !== 'IntOrString' && t !== 'V1MicroTime') modelOfName.set(schemaName(t), t);
  }
  return { name, schema, deps: [...new Set(deps)] };
}

/** The client-node model for a definition name not reached yet (io.k8s.api.apps.v1.Deployment → V1Deployment). */
function modelForName(name: string): string | undefined {
  const m = /\.([a-z0-9]+)\.(v\d+(?:alpha\d+|beta\d+)?)\.([A-Z]\w*)$/.exec(name);
  if (!m) return undefined;
  const ver = `V${m[2].slice(1)}`;
  const pkg = m[1].charAt(0).toUpperCase() + m[1].slice(1);
  for (const cand of [`${ver}${m[3]}`, `${pkg}${ver}${m[3]}`]) {
    if (schemaName(cand) === name && loadAttrs(cand)) { modelOfName.set(name, cand); return cand; }
  }
  return undefined;
}

const builtCache = new Map<string, Built | null>();

function builtByName(name: string): Built | undefined {
  const hit = builtCache.get(name);
  if (hit !== undefined) return hit ?? undefined;
  let b: Built | null = null;
  const leaf = LEAF_SCHEMAS[name];
  if (leaf) b = { name, schema: leaf, deps: [] };
  else {
    const model = modelOfName.get(name) ?? modelForName(name);
    if (model) b = buildModel(model) ?? null;
  }
  builtCache.set(name, b);
  return b ?? undefined;
}

const closureCache = new Map<string, Record<string, Schema>>();

/**
 * The component schemas for a client-node model and everything it references, keyed by
 * upstream definition name. The root's name is schemaName(model). Cached; treat as read-only.
 */
export function schemaFor(model: string): Record<string, Schema> {
  const hit = closureCache.get(model);
  if (hit) return hit;
  const out: Record<string, Schema> = {};
  const root = schemaName(model);
  if (!modelOfName.has(root) && !LEAF_SCHEMAS[root]) modelOfName.set(root, model);
  const stack = [root];
  while (stack.length) {
    const n = stack.pop()!;
    if (out[n]) continue;
    const b = builtByName(n);
    if (!b) continue;
    out[n] = b.schema;
    for (const d of b.deps) if (!out[d]) stack.push(d);
  }
  closureCache.set(model, out);
  return out;
}

/** The schema of one definition (building its model's closure on demand), or undefined. */
export function definition(name: string): Schema | undefined {
  return builtByName(name)?.schema;
}

// ---- strategic merge patch metadata -------------------------------------------------------

/** Follows `allOf[0]` / `$ref` the way strategicpatch.PatchMetaFromOpenAPIV3 does. */
export function resolveSchema(s: Schema | undefined, defs: Record<string, Schema>, depth = 0): Schema | undefined {
  if (!s || depth > 8) return s;
  if (s.allOf && s.allOf.length > 0) return resolveSchema(s.allOf[0], defs, depth + 1);
  if (s.$ref) {
    const n = s.$ref.startsWith(REF_PREFIX) ? s.$ref.slice(REF_PREFIX.length) : s.$ref;
    return resolveSchema(defs[n] ?? definition(n), defs, depth + 1);
  }
  return s;
}

class SchemaPatchMeta implements PatchMeta {
  private readonly cache = new Map<string, FieldPatchMeta | null>();
  constructor(private readonly schema: Schema, private readonly defs: Record<string, Schema>) {}

  field(name: string): FieldPatchMeta | undefined {
    const hit = this.cache.get(name);
    if (hit !== undefined) return hit ?? undefined;
    const prop = this.schema.properties?.[name];
    const fm = prop ? fieldMeta(prop, this.defs) : undefined;
    this.cache.set(name, fm ?? null);
    return fm;
  }
}

function fieldMeta(prop: Schema, defs: Record<string, Schema>): FieldPatchMeta {
  const ps = prop['x-kubernetes-patch-strategy'];
  const mk = prop['x-kubernetes-patch-merge-key'];
  const strategies = typeof ps === 'string' && ps ? ps.split(',') : [];
  const r = resolveSchema(prop, defs);
  const fm: FieldPatchMeta = { strategies, type: 'unknown' };
  if (typeof mk === 'string' && mk) fm.mergeKey = mk;
  if (!r) return fm;
  if (r.type === 'array') {
    fm.type = 'array';
    const it = resolveSchema(r.items, defs);
    if (it?.properties) fm.elem = new SchemaPatchMeta(it, defs);
  } else if (r.type === 'object' && r.properties) {
    fm.type = 'object';
    fm.elem = new SchemaPatchMeta(r, defs);
  } else if (r.type === 'object' && r.additionalProperties && typeof r.additionalProperties === 'object') {
    fm.type = 'map';
    const v = resolveSchema(r.additionalProperties, defs);
    if (v?.properties) fm.elem = new SchemaPatchMeta(v, defs);
  } else if (r.type === 'object') {
    fm.type = 'unknown';
  } else if (r.type || r.oneOf) {
    fm.type = 'primitive';
  }
  return fm;
}

const patchMetaCache = new Map<string, PatchMeta>();

/** Strategic merge patch metadata for a model's objects, read from its OpenAPI schema. */
export function patchMetaFor(model: string): PatchMeta {
  let pm = patchMetaCache.get(model);
  if (!pm) {
    const defs = schemaFor(model);
    const root = defs[schemaName(model)];
    pm = root ? new SchemaPatchMeta(root, defs) : { field: () => undefined };
    patchMetaCache.set(model, pm);
  }
  return pm;
}

// ---- compiled shapes for fast structural walks ---------------------------------------------

/** Go type name as encoding/json's errors print it. */
export type Shape =
  | { k: 'struct'; go: string; name: string; fields: () => Map<string, Shape> }
  | { k: 'array'; go: string; elem: Shape }
  | { k: 'map'; go: string; elem: Shape }
  | { k: 'string'; go: string }
  | { k: 'int'; go: 'int32' | 'int64'; min: number; max: number }
  | { k: 'float'; go: string }
  | { k: 'bool'; go: string }
  | { k: 'intstr'; go: string }
  | { k: 'quantity'; go: string }
  | { k: 'time'; go: string }
  | { k: 'bytes'; go: string }
  | { k: 'any'; go: string };

const goPkg = (name: string) => {
  if (name === NAME_INTORSTRING) return 'intstr';
  if (name === NAME_QUANTITY) return 'resource';
  if (name === NAME_RAWEXTENSION) return 'runtime';
  const parts = name.split('.');
  return parts[parts.length - 2];
};
const goName = (name: string) => `${goPkg(name)}.${shortName(name)}`;

const S_STRING: Shape = { k: 'string', go: 'string' };
const S_BOOL: Shape = { k: 'bool', go: 'bool' };
const S_INT32: Shape = { k: 'int', go: 'int32', min: -2147483648, max: 2147483647 };
const S_INT64: Shape = { k: 'int', go: 'int64', min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
const S_FLOAT: Shape = { k: 'float', go: 'float64' };
const S_BYTES: Shape = { k: 'bytes', go: '[]uint8' };
const S_ANY: Shape = { k: 'any', go: 'interface {}' };
const S_INTSTR: Shape = { k: 'intstr', go: 'intstr.IntOrString' };
const S_QUANTITY: Shape = { k: 'quantity', go: 'resource.Quantity' };
const S_TIME: Shape = { k: 'time', go: 'v1.Time' };
const S_MICROTIME: Shape = { k: 'time', go: 'v1.MicroTime' };

const shapeCache = new Map<string, Shape>();

function typeShape(type: string, format: string, key: string | undefined): Shape {
  if (type.startsWith('Array<') && type.endsWith('>')) {
    const elem = typeShape(type.slice(6, -1), format, key);
    return { k: 'array', go: `[]${elem.go}`, elem };
  }
  const mm = /^\{ \[key: string\]: (.*); \}$/.exec(type);
  if (mm) {
    const elem = typeShape(mm[1], format, key);
    return { k: 'map', go: `map[string]${elem.go}`, elem };
  }
  switch (type) {
    case 'string':
      if (key && QUANTITY_FIELDS.has(key)) return S_QUANTITY;
      return format === 'byte' ? S_BYTES : S_STRING;
    case 'number':
      if (format === 'int32') return S_INT32;
      if (format === 'int64') return S_INT64;
      return S_FLOAT;
    case 'boolean': return S_BOOL;
    case 'Date': return format === 'date-time-micro' ? S_MICROTIME : S_TIME;
    case 'V1MicroTime': return S_MICROTIME;
    case 'IntOrString': return S_INTSTR;
    case 'object': case 'any': return S_ANY;
    default: return shapeOf(type) ?? S_ANY;
  }
}

/**
 * The compiled structural shape of a model: struct fields resolve lazily (a model file is
 * read only when a walk first reaches it). Undefined for an unknown model.
 */
export function shapeOf(model: string): Shape | undefined {
  const hit = shapeCache.get(model);
  if (hit) return hit;
  if (!loadAttrs(model)) return undefined;
  const name = schemaName(model);
  let fields: Map<string, Shape> | undefined;
  const shape: Shape = {
    k: 'struct', go: goName(name), name: shortName(name),
    fields: () => {
      if (fields) return fields;
      fields = new Map();
      for (const a of loadAttrs(model) ?? []) fields.set(a.baseName, typeShape(a.type, a.format, `${name}.${a.baseName}`));
      return fields;
    },
  };
  shapeCache.set(model, shape);
  return shape;
}
