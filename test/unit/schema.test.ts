// OpenAPI v3 schemas (schema.ts), the /openapi/v3 documents (openapi.ts) and strict field
// checking (strict.ts). ResourceType records here are small literals, not the real kinds.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  schemaFor, schemaName, patchMetaFor, shapeOf, resolveSchema, groupVersionOfName, definition, REF_PREFIX,
} from '../../src/api/schema.js';
import type { Schema } from '../../src/api/schema.js';
import { openapiV3Index, openapiV3Document, openapiV3DocumentJSON } from '../../src/api/openapi.js';
import { checkFields, strictDecodingMessage, cannotBeHandledMessage, validateFields, QUANTITY_ERROR } from '../../src/api/strict.js';
import type { ResourceType } from '../../src/api/registry.js';

const CORE = 'io.k8s.api.core.v1';
const APPS = 'io.k8s.api.apps.v1';
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';

const rt = (r: Partial<ResourceType> & Pick<ResourceType, 'group' | 'version' | 'kind' | 'plural' | 'model'>): ResourceType => ({
  singular: r.kind.toLowerCase(), namespaced: true, ...r,
});
const PODS = rt({ group: '', version: 'v1', kind: 'Pod', plural: 'pods', model: 'V1Pod', subresources: { status: true } });
const NODES = rt({ group: '', version: 'v1', kind: 'Node', plural: 'nodes', model: 'V1Node', namespaced: false, subresources: { status: true } });
const SERVICES = rt({ group: '', version: 'v1', kind: 'Service', plural: 'services', model: 'V1Service', subresources: { status: true } });
const EVENTS = rt({ group: '', version: 'v1', kind: 'Event', plural: 'events', model: 'CoreV1Event' });
const DEPLOYMENTS = rt({
  group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', model: 'V1Deployment',
  subresources: { status: true, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' } },
});
const NETPOLS = rt({ group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', plural: 'networkpolicies', model: 'V1NetworkPolicy' });
const SLICES = rt({ group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', model: 'V1EndpointSlice' });
const LEASES = rt({ group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', model: 'V1Lease', verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] });
const ALL = [PODS, NODES, SERVICES, EVENTS, DEPLOYMENTS, NETPOLS, SLICES, LEASES];

const prop = (defs: Record<string, Schema>, def: string, field: string): Schema => {
  const d = defs[def];
  assert.ok(d, `definition ${def}`);
  const p = d.properties?.[field];
  assert.ok(p, `${def}.${field}`);
  return p;
};

describe('schema names', () => {
  test('client-node models map to upstream definition names', () => {
    assert.equal(schemaName('V1Pod'), `${CORE}.Pod`);
    assert.equal(schemaName('V1ObjectMeta'), `${META}.ObjectMeta`);
    assert.equal(schemaName('V1Deployment'), `${APPS}.Deployment`);
    assert.equal(schemaName('V1RollingUpdateDeployment'), `${APPS}.RollingUpdateDeployment`);
    assert.equal(schemaName('V1PodTemplateSpec'), `${CORE}.PodTemplateSpec`);
    assert.equal(schemaName('V1NetworkPolicy'), 'io.k8s.api.networking.v1.NetworkPolicy');
    assert.equal(schemaName('V1EndpointSlice'), 'io.k8s.api.discovery.v1.EndpointSlice');
    assert.equal(schemaName('V1Endpoints'), `${CORE}.Endpoints`);
    assert.equal(schemaName('V1EndpointAddress'), `${CORE}.EndpointAddress`);
    assert.equal(schemaName('DiscoveryV1EndpointPort'), 'io.k8s.api.discovery.v1.EndpointPort');
    assert.equal(schemaName('CoreV1EndpointPort'), `${CORE}.EndpointPort`);
    assert.equal(schemaName('V1Lease'), 'io.k8s.api.coordination.v1.Lease');
    assert.equal(schemaName('EventsV1Event'), 'io.k8s.api.events.v1.Event');
    assert.equal(schemaName('CoreV1Event'), `${CORE}.Event`);
    assert.equal(schemaName('V1IPAddress'), 'io.k8s.api.networking.v1.IPAddress');
    assert.equal(schemaName('V1ServiceCIDR'), 'io.k8s.api.networking.v1.ServiceCIDR');
    assert.equal(schemaName('V1Scale'), 'io.k8s.api.autoscaling.v1.Scale');
    assert.equal(schemaName('IntOrString'), 'io.k8s.apimachinery.pkg.util.intstr.IntOrString');
    assert.deepEqual(groupVersionOfName('io.k8s.api.networking.v1.Ingress'), { group: 'networking.k8s.io', version: 'v1' });
    assert.deepEqual(groupVersionOfName(`${APPS}.Deployment`), { group: 'apps', version: 'v1' });
  });
});

describe('component schemas', () => {
  test('Pod: top-level kind with GVK, refs wrapped in allOf, descriptions and required', () => {
    const defs = schemaFor('V1Pod');
    const pod = defs[`${CORE}.Pod`];
    assert.equal(pod.type, 'object');
    assert.deepEqual(pod['x-kubernetes-group-version-kind'], [{ group: '', kind: 'Pod', version: 'v1' }]);
    assert.match(pod.description ?? '', /collection of containers/);
    assert.deepEqual(prop(defs, `${CORE}.Pod`, 'spec').allOf, [{ $ref: `${REF_PREFIX}${CORE}.PodSpec` }]);
    assert.deepEqual(prop(defs, `${CORE}.Pod`, 'metadata').default, {});
    assert.deepEqual(defs[`${CORE}.PodSpec`].required, ['containers']);
    assert.deepEqual(defs[`${CORE}.Container`].required, ['name']);
    const containers = prop(defs, `${CORE}.PodSpec`, 'containers');
    assert.equal(containers.type, 'array');
    assert.deepEqual(containers.items, { allOf: [{ $ref: `${REF_PREFIX}${CORE}.Container` }], default: {} });
    assert.match(containers.description ?? '', /List of containers/);
    // Scalars, maps, formats.
    assert.deepEqual(prop(defs, `${CORE}.ContainerPort`, 'containerPort').type, 'integer');
    assert.equal(prop(defs, `${CORE}.ContainerPort`, 'containerPort').format, 'int32');
    assert.equal(prop(defs, `${CORE}.PodSpec`, 'activeDeadlineSeconds').format, 'int64');
    assert.equal(prop(defs, `${META}.ObjectMeta`, 'labels').type, 'object');
    assert.deepEqual(prop(defs, `${META}.ObjectMeta`, 'labels').additionalProperties, { type: 'string', default: '' });
    assert.deepEqual(prop(defs, `${META}.ObjectMeta`, 'creationTimestamp').allOf, [{ $ref: `${REF_PREFIX}${META}.Time` }]);
    assert.deepEqual(defs[`${META}.Time`], { description: defs[`${META}.Time`].description, type: 'string', format: 'date-time' });
    // Special leaf types, upstream's v3 shapes.
    assert.equal(defs['io.k8s.apimachinery.pkg.util.intstr.IntOrString'].format, 'int-or-string');
    assert.deepEqual(defs['io.k8s.apimachinery.pkg.util.intstr.IntOrString'].oneOf, [{ type: 'integer' }, { type: 'string' }]);
    const limits = prop(defs, `${CORE}.ResourceRequirements`, 'limits');
    assert.deepEqual(limits.additionalProperties, { $ref: `${REF_PREFIX}io.k8s.apimachinery.pkg.api.resource.Quantity` });
    assert.ok(defs['io.k8s.apimachinery.pkg.api.resource.Quantity']);
    assert.deepEqual(prop(defs, `${CORE}.TCPSocketAction`, 'port').allOf, [{ $ref: `${REF_PREFIX}io.k8s.apimachinery.pkg.util.intstr.IntOrString` }]);
    assert.deepEqual(prop(defs, `${META}.ManagedFieldsEntry`, 'fieldsV1').allOf, [{ $ref: `${REF_PREFIX}${META}.FieldsV1` }]);
  });

  test('every $ref in a closure resolves inside it', () => {
    for (const m of ['V1Pod', 'V1Deployment', 'V1Service', 'V1Node', 'V1Namespace', 'V1NetworkPolicy', 'V1EndpointSlice',
      'V1Lease', 'EventsV1Event', 'CoreV1Event', 'V1IPAddress', 'V1ServiceCIDR', 'V1ConfigMap', 'V1Secret', 'V1PodList']) {
      const defs = schemaFor(m);
      assert.ok(defs[schemaName(m)], m);
      const refs = [...JSON.stringify(defs).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((x) => x[1]);
      for (const r of refs) assert.ok(defs[r], `${m}: ${r} unresolved`);
    }
  });

  test('Deployment and Service shapes', () => {
    const d = schemaFor('V1Deployment');
    assert.deepEqual(d[`${APPS}.Deployment`]['x-kubernetes-group-version-kind'], [{ group: 'apps', kind: 'Deployment', version: 'v1' }]);
    assert.deepEqual(prop(d, `${APPS}.DeploymentSpec`, 'template').allOf, [{ $ref: `${REF_PREFIX}${CORE}.PodTemplateSpec` }]);
    assert.deepEqual(prop(d, `${APPS}.DeploymentSpec`, 'selector').allOf, [{ $ref: `${REF_PREFIX}${META}.LabelSelector` }]);
    assert.equal(d[`${META}.LabelSelector`]['x-kubernetes-map-type'], 'atomic');
    assert.deepEqual(d[`${APPS}.DeploymentSpec`].required, ['selector', 'template']);
    const s = schemaFor('V1Service');
    assert.deepEqual(s[`${CORE}.Service`]['x-kubernetes-group-version-kind'], [{ group: '', kind: 'Service', version: 'v1' }]);
    assert.equal(prop(s, `${CORE}.ServicePort`, 'port').type, 'integer');
    assert.deepEqual(s[`${CORE}.ServicePort`].required, ['port']);
    const ev = schemaFor('EventsV1Event');
    assert.deepEqual(ev['io.k8s.api.events.v1.Event']['x-kubernetes-group-version-kind'], [{ group: 'events.k8s.io', kind: 'Event', version: 'v1' }]);
    assert.deepEqual(prop(ev, 'io.k8s.api.events.v1.Event', 'eventTime').allOf, [{ $ref: `${REF_PREFIX}${META}.MicroTime` }]);
  });

  test('strategic merge patch and list-type extensions', () => {
    const p = schemaFor('V1Pod');
    const ext = (defs: Record<string, Schema>, def: string, field: string) => {
      const s = prop(defs, def, field);
      return {
        ps: s['x-kubernetes-patch-strategy'], mk: s['x-kubernetes-patch-merge-key'],
        lt: s['x-kubernetes-list-type'], keys: s['x-kubernetes-list-map-keys'],
      };
    };
    assert.deepEqual(ext(p, `${CORE}.PodSpec`, 'containers'), { ps: 'merge', mk: 'name', lt: 'map', keys: ['name'] });
    assert.deepEqual(ext(p, `${CORE}.PodSpec`, 'initContainers'), { ps: 'merge', mk: 'name', lt: 'map', keys: ['name'] });
    assert.deepEqual(ext(p, `${CORE}.PodSpec`, 'volumes'), { ps: 'merge,retainKeys', mk: 'name', lt: 'map', keys: ['name'] });
    assert.deepEqual(ext(p, `${CORE}.PodSpec`, 'hostAliases'), { ps: 'merge', mk: 'ip', lt: 'map', keys: ['ip'] });
    assert.deepEqual(ext(p, `${CORE}.PodSpec`, 'tolerations'), { ps: undefined, mk: undefined, lt: 'atomic', keys: undefined });
    assert.deepEqual(ext(p, `${CORE}.PodSpec`, 'topologySpreadConstraints'),
      { ps: 'merge', mk: 'topologyKey', lt: 'map', keys: ['topologyKey', 'whenUnsatisfiable'] });
    assert.deepEqual(ext(p, `${CORE}.Container`, 'ports'), { ps: 'merge', mk: 'containerPort', lt: 'map', keys: ['containerPort', 'protocol'] });
    assert.deepEqual(ext(p, `${CORE}.Container`, 'env'), { ps: 'merge', mk: 'name', lt: 'map', keys: ['name'] });
    assert.deepEqual(ext(p, `${CORE}.Container`, 'volumeMounts'), { ps: 'merge', mk: 'mountPath', lt: 'map', keys: ['mountPath'] });
    assert.deepEqual(ext(p, `${CORE}.PodStatus`, 'conditions'), { ps: 'merge', mk: 'type', lt: 'map', keys: ['type'] });
    assert.deepEqual(ext(p, `${CORE}.PodStatus`, 'podIPs'), { ps: 'merge', mk: 'ip', lt: 'map', keys: ['ip'] });
    assert.deepEqual(ext(p, `${META}.ObjectMeta`, 'finalizers'), { ps: 'merge', mk: undefined, lt: 'set', keys: undefined });
    assert.deepEqual(ext(p, `${META}.ObjectMeta`, 'ownerReferences'), { ps: 'merge', mk: 'uid', lt: 'map', keys: ['uid'] });
    const s = schemaFor('V1Service');
    assert.deepEqual(ext(s, `${CORE}.ServiceSpec`, 'ports'), { ps: 'merge', mk: 'port', lt: 'map', keys: ['port', 'protocol'] });
    assert.equal(ext(s, `${CORE}.ServiceSpec`, 'ipFamilies').lt, 'atomic');
    const n = schemaFor('V1Node');
    assert.deepEqual(ext(n, `${CORE}.NodeStatus`, 'addresses'), { ps: 'merge', mk: 'type', lt: 'map', keys: ['type'] });
    assert.deepEqual(ext(n, `${CORE}.NodeStatus`, 'conditions'), { ps: 'merge', mk: 'type', lt: 'map', keys: ['type'] });
    const d = schemaFor('V1Deployment');
    assert.equal(ext(d, `${APPS}.DeploymentSpec`, 'strategy').ps, 'retainKeys');
    assert.deepEqual(prop(d, `${APPS}.DeploymentSpec`, 'strategy').allOf, [{ $ref: `${REF_PREFIX}${APPS}.DeploymentStrategy` }]);
    assert.equal(ext(d, `${APPS}.DeploymentStatus`, 'conditions').mk, 'type');
  });
});

describe('patchMetaFor', () => {
  test('follows refs through spec, template and containers', () => {
    const pod = patchMetaFor('V1Pod');
    const spec = pod.field('spec');
    assert.equal(spec?.type, 'object');
    assert.deepEqual(spec?.strategies, []);
    const containers = spec?.elem?.field('containers');
    assert.equal(containers?.type, 'array');
    assert.equal(containers?.mergeKey, 'name');
    assert.deepEqual(containers?.strategies, ['merge']);
    const ports = containers?.elem?.field('ports');
    assert.equal(ports?.mergeKey, 'containerPort');
    assert.equal(containers?.elem?.field('image')?.type, 'primitive');
    assert.deepEqual(spec?.elem?.field('volumes')?.strategies, ['merge', 'retainKeys']);
    assert.equal(spec?.elem?.field('tolerations')?.mergeKey, undefined);
    assert.deepEqual(spec?.elem?.field('tolerations')?.strategies, []);
    assert.equal(spec?.elem?.field('nope'), undefined);
    const labels = pod.field('metadata')?.elem?.field('labels');
    assert.equal(labels?.type, 'map');
    assert.equal(labels?.elem, undefined);
    assert.equal(pod.field('metadata')?.elem?.field('ownerReferences')?.mergeKey, 'uid');
    // A map of structs: elem describes the values.
    const limits = containers?.elem?.field('resources')?.elem?.field('limits');
    assert.equal(limits?.type, 'map');

    const dep = patchMetaFor('V1Deployment');
    const dspec = dep.field('spec')?.elem;
    assert.deepEqual(dspec?.field('strategy')?.strategies, ['retainKeys']);
    const env = dspec?.field('template')?.elem?.field('spec')?.elem?.field('containers')?.elem?.field('env');
    assert.equal(env?.mergeKey, 'name');
    const svc = patchMetaFor('V1Service');
    assert.equal(svc.field('spec')?.elem?.field('ports')?.mergeKey, 'port');
    assert.equal(svc.field('spec')?.elem?.field('selector')?.type, 'map');
    assert.equal(patchMetaFor('NoSuchModel').field('spec'), undefined);
  });

  test('definition() builds one definition by upstream name', () => {
    assert.equal(definition('io.k8s.api.coordination.v1.LeaseSpec')?.type, 'object');
    assert.ok(definition('io.k8s.api.events.v1.Event')?.properties?.eventTime);
    assert.equal(definition('io.k8s.api.core.v1.NoSuchThing'), undefined);
  });

  test('resolveSchema follows allOf and $ref', () => {
    const defs = schemaFor('V1Pod');
    const r = resolveSchema(prop(defs, `${CORE}.Pod`, 'spec'), defs);
    assert.equal(r, defs[`${CORE}.PodSpec`]);
  });
});

describe('openapi v3 documents', () => {
  test('index lists each group version with a stable content hash', () => {
    const idx = openapiV3Index(ALL);
    assert.deepEqual(Object.keys(idx.paths).sort(), [
      'api/v1', 'apis/apps/v1', 'apis/coordination.k8s.io/v1', 'apis/discovery.k8s.io/v1', 'apis/networking.k8s.io/v1',
    ]);
    const url = idx.paths['apis/apps/v1'].serverRelativeURL;
    assert.match(url, /^\/openapi\/v3\/apis\/apps\/v1\?hash=[0-9A-F]{128}$/);
    // Stable across calls and across equal but distinct resource arrays, in any order.
    assert.deepEqual(openapiV3Index([...ALL].reverse().map((r) => ({ ...r }))), idx);
    // Content-addressed: changing the apps resources changes only the apps hash.
    const other = openapiV3Index([...ALL.filter((r) => r !== DEPLOYMENTS), { ...DEPLOYMENTS, subresources: { status: true } }]);
    assert.notEqual(other.paths['apis/apps/v1'].serverRelativeURL, url);
    assert.equal(other.paths['api/v1'].serverRelativeURL, idx.paths['api/v1'].serverRelativeURL);
    const j = openapiV3DocumentJSON('apis/apps/v1', ALL);
    assert.ok(j && url.endsWith(j.hash));
    assert.deepEqual(JSON.parse(j.json), openapiV3Document('apis/apps/v1', ALL));
    assert.equal(openapiV3Index(ALL, '/x/').paths['api/v1'].serverRelativeURL.startsWith('/x/api/v1?hash='), true);
  });

  test('apps/v1 document: paths, actions, GVK, PATCH with fieldValidation and patch types', () => {
    const doc = openapiV3Document('apis/apps/v1', ALL);
    assert.ok(doc);
    assert.equal(doc.openapi, '3.0.0');
    assert.deepEqual(Object.keys(doc.paths).sort(), [
      '/apis/apps/v1/deployments',
      '/apis/apps/v1/namespaces/{namespace}/deployments',
      '/apis/apps/v1/namespaces/{namespace}/deployments/{name}',
      '/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale',
      '/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status',
    ]);
    type Op = { operationId: string; parameters?: { name: string; in: string }[]; requestBody?: { content: Record<string, unknown> };
      'x-kubernetes-action': string; 'x-kubernetes-group-version-kind': unknown };
    const item = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'] as Record<string, Op>;
    const gvk = { group: 'apps', kind: 'Deployment', version: 'v1' };
    for (const [m, action] of [['get', 'get'], ['put', 'put'], ['patch', 'patch'], ['delete', 'delete']]) {
      assert.equal(item[m]['x-kubernetes-action'], action);
      assert.deepEqual(item[m]['x-kubernetes-group-version-kind'], gvk);
    }
    const patch = item.patch;
    assert.equal(patch.operationId, 'patchAppsV1NamespacedDeployment');
    const names = (op: Op) => (op.parameters ?? []).map((p) => p.name);
    for (const n of ['dryRun', 'fieldManager', 'fieldValidation', 'force']) assert.ok(names(patch).includes(n), n);
    assert.deepEqual(Object.keys(patch.requestBody?.content ?? {}).sort(), [
      'application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json',
    ]);
    for (const n of ['dryRun', 'fieldManager', 'fieldValidation']) assert.ok(names(item.put).includes(n), n);
    const coll = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments'] as Record<string, Op>;
    assert.equal(coll.get['x-kubernetes-action'], 'list');
    assert.equal(coll.post['x-kubernetes-action'], 'post');
    assert.equal(coll.delete['x-kubernetes-action'], 'deletecollection');
    for (const n of ['dryRun', 'fieldManager', 'fieldValidation']) assert.ok(names(coll.post).includes(n), n);
    const pathParams = (doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'].parameters as { name: string }[]).map((p) => p.name);
    assert.deepEqual(pathParams, ['name', 'namespace', 'pretty']);
    const all = doc.paths['/apis/apps/v1/deployments'] as Record<string, Op>;
    assert.equal(all.get.operationId, 'listAppsV1DeploymentForAllNamespaces');
    const scale = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'] as Record<string, Op>;
    assert.deepEqual(scale.patch['x-kubernetes-group-version-kind'], { group: 'autoscaling', kind: 'Scale', version: 'v1' });
    const status = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status'] as Record<string, Op>;
    assert.deepEqual(status.patch['x-kubernetes-group-version-kind'], gvk);
    // Components: the kind, its list, meta types, Scale; all refs resolve.
    const schemas = doc.components.schemas;
    for (const n of [`${APPS}.Deployment`, `${APPS}.DeploymentList`, `${META}.Status`, `${META}.DeleteOptions`, `${META}.Patch`,
      `${META}.ListMeta`, 'io.k8s.api.autoscaling.v1.Scale', `${CORE}.PodSpec`]) assert.ok(schemas[n], n);
    assert.deepEqual(schemas[`${APPS}.DeploymentList`]['x-kubernetes-group-version-kind'], [{ group: 'apps', kind: 'DeploymentList', version: 'v1' }]);
    assert.deepEqual(schemas[`${META}.DeleteOptions`]['x-kubernetes-group-version-kind'],
      [{ group: '', kind: 'DeleteOptions', version: 'v1' }, { group: 'apps', kind: 'DeleteOptions', version: 'v1' }]);
    const refs = new Set([...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((x) => x[1]));
    for (const r of refs) assert.ok(schemas[r], `unresolved ${r}`);
    // kubectl apply's lookup: the schema carrying the kind's GVK has the merge keys.
    const withGvk = Object.entries(schemas).filter(([, s]) =>
      JSON.stringify(s['x-kubernetes-group-version-kind']) === JSON.stringify([gvk]));
    assert.equal(withGvk.length, 1);
    assert.equal(withGvk[0][0], `${APPS}.Deployment`);
  });

  test('kinds without a client-node model are served untyped, without strategic merge patch', () => {
    const GATEWAYS = rt({ group: 'gateway.networking.k8s.io', version: 'v1', kind: 'Gateway', plural: 'gateways', model: 'V1Gateway' });
    const doc = openapiV3Document('apis/gateway.networking.k8s.io/v1', [...ALL, GATEWAYS]);
    assert.ok(doc);
    const name = 'io.k8s.networking.gateway.v1.Gateway';
    assert.deepEqual(doc.components.schemas[name]['x-kubernetes-group-version-kind'], [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', version: 'v1' }]);
    assert.equal(doc.components.schemas[name]['x-kubernetes-preserve-unknown-fields'], true);
    assert.ok(doc.components.schemas[`${name}List`]);
    const patch = doc.paths['/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/gateways/{name}'].patch as { requestBody: { content: object } };
    assert.deepEqual(Object.keys(patch.requestBody.content).sort(),
      ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json']);
    const refs = new Set([...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((x) => x[1]));
    for (const r of refs) assert.ok(doc.components.schemas[r], `unresolved ${r}`);
  });

  test('core/v1 document: cluster-scoped and namespaced kinds, verbs honoured', () => {
    const doc = openapiV3Document('api/v1', ALL);
    assert.ok(doc);
    assert.ok(doc.paths['/api/v1/nodes/{name}']);
    assert.ok(doc.paths['/api/v1/nodes/{name}/status']);
    assert.equal(doc.paths['/api/v1/nodes'] && (doc.paths['/api/v1/nodes'].get as { operationId: string }).operationId, 'listCoreV1Node');
    assert.ok(doc.paths['/api/v1/namespaces/{namespace}/pods/{name}/status']);
    assert.ok(doc.paths['/api/v1/pods']);
    assert.equal(doc.paths['/api/v1/namespaces/{namespace}/pods/{name}/scale'], undefined);
    assert.ok(doc.components.schemas[`${CORE}.EventList`]);
    const lease = openapiV3Document('apis/coordination.k8s.io/v1', ALL);
    assert.ok(lease);
    const coll = lease.paths['/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases'];
    assert.ok(coll.get && coll.post);
    assert.equal(coll.delete, undefined, 'deletecollection not in verbs');
    assert.equal(openapiV3Document('apis/batch/v1', ALL), undefined);
    assert.ok(openapiV3Document('/openapi/v3/api/v1', ALL));
  });
});

describe('strict field checking', () => {
  const pod = () => ({
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web' }, creationTimestamp: null },
    spec: {
      containers: [{
        name: 'web', image: 'nginx', ports: [{ containerPort: 80, protocol: 'TCP' }],
        env: [{ name: 'A', value: 'b' }], resources: { limits: { cpu: '100m', memory: '1Gi' }, requests: { cpu: 1 } },
        readinessProbe: { httpGet: { path: '/', port: 'http' }, periodSeconds: 5 },
      }],
      restartPolicy: 'Always',
    },
    status: { phase: 'Pending', startTime: '2024-01-01T00:00:00Z' },
  });

  test('a valid Pod passes', () => {
    assert.deepEqual(checkFields('V1Pod', pod()), { unknown: [], typeErrors: [] });
  });

  test('unknown fields are listed with upstream paths', () => {
    const p = pod() as Record<string, any>;
    p.spec.containers[0].imagee = 'x';
    p.spec.foo = 1;
    p.metadata.Labels = {};
    p.extra = true;
    p.spec.containers[0].ports[0].hostPortt = 1;
    const r = checkFields('V1Pod', p);
    assert.deepEqual(r.unknown, ['metadata.Labels', 'spec.containers[0].ports[0].hostPortt', 'spec.containers[0].imagee', 'spec.foo', 'extra']);
    assert.deepEqual(r.typeErrors, []);
    assert.equal(r.decodeError, undefined);
    assert.equal(strictDecodingMessage('Pod', 'v1', ['spec.foo', 'extra']),
      'Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.foo", unknown field "extra"');
    // Labels values and annotations are free-form keys, not fields.
    assert.deepEqual(checkFields('V1Pod', { metadata: { labels: { anything: 'x' }, annotations: { 'a/b': 'c' } } }).unknown, []);
    const d = checkFields('V1Deployment', { spec: { template: { spec: { containers: [{ name: 'a' }, { name: 'b', imagee: 'x' }] } }, replicass: 2 } });
    assert.deepEqual(d.unknown, ['spec.template.spec.containers[1].imagee', 'spec.replicass']);
  });

  test('type errors read like encoding/json', () => {
    const r = checkFields('V1Deployment', { spec: { replicas: '3', template: { spec: { containers: [{ name: 'x', image: 5, stdin: 'yes' }] } } } });
    assert.equal(r.decodeError, 'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32');
    assert.deepEqual(r.typeErrors.map((e) => e.field), ['spec.replicas', 'spec.template.spec.containers[0].image', 'spec.template.spec.containers[0].stdin']);
    assert.equal(r.typeErrors[1].detail, 'json: cannot unmarshal number into Go struct field Container.spec.template.spec.containers.image of type string');
    assert.equal(r.typeErrors[2].detail, 'json: cannot unmarshal string into Go struct field Container.spec.template.spec.containers.stdin of type bool');
    assert.equal(r.typeErrors[0].type, 'FieldValueTypeInvalid');
    assert.equal(cannotBeHandledMessage('Deployment', 'v1', r.decodeError!),
      'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32');
    assert.equal(checkFields('V1Deployment', { spec: { replicas: 1.5 } }).decodeError,
      'json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32');
    assert.equal(checkFields('V1Deployment', { spec: { replicas: 3e9 } }).decodeError,
      'json: cannot unmarshal number 3000000000 into Go struct field DeploymentSpec.spec.replicas of type int32');
    assert.equal(checkFields('V1Pod', { spec: 'x' }).decodeError, 'json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec');
    assert.equal(checkFields('V1Pod', { spec: { containers: {} } }).decodeError,
      'json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container');
    assert.equal(checkFields('V1Pod', { metadata: { labels: { a: 1 } } }).decodeError,
      'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string');
    assert.equal(checkFields('V1Pod', { metadata: { labels: [] } }).decodeError,
      'json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string');
    assert.equal(checkFields('V1Service', { spec: { ports: [{ port: 80, targetPort: { x: 1 } }] } }).decodeError,
      'json: cannot unmarshal object into Go struct field ServicePort.spec.ports.targetPort of type int32');
    assert.equal(checkFields('V1Service', { spec: { ports: [{ port: 80, targetPort: 'http' }, { port: 81, targetPort: 8080 }] } }).decodeError, undefined);
    assert.equal(checkFields('V1Pod', { spec: { containers: [{ name: 'x', resources: { limits: { cpu: 'lots' } } }] } }).decodeError, QUANTITY_ERROR);
    assert.match(checkFields('V1Pod', { metadata: { creationTimestamp: 'yesterday' } }).decodeError ?? '', /^parsing time "yesterday"/);
    assert.equal(checkFields('V1Secret', { data: { k: 'aGVsbG8=' } }).decodeError, undefined);
    assert.match(checkFields('V1Secret', { data: { k: 'not base64!' } }).decodeError ?? '', /^illegal base64 data at input byte \d+$/);
    // null decodes to the zero value anywhere.
    assert.deepEqual(checkFields('V1Pod', { spec: { containers: null, nodeName: null }, metadata: { labels: { a: null } } }), { unknown: [], typeErrors: [] });
  });

  test('validateFields applies fieldValidation modes', () => {
    const obj = { spec: { replicas: 1, foo: 1 } };
    assert.deepEqual(validateFields('V1Deployment', 'Deployment', 'v1', obj, 'Ignore'), { warnings: [] });
    assert.deepEqual(validateFields('V1Deployment', 'Deployment', 'v1', obj), { warnings: ['unknown field "spec.foo"'] });
    assert.deepEqual(validateFields('V1Deployment', 'Deployment', 'v1', obj, 'Strict'), {
      error: 'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo"', warnings: [],
    });
    assert.equal(validateFields('V1Deployment', 'Deployment', 'v1', { spec: { replicas: 'x', foo: 1 } }, 'Ignore').error,
      'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32');
  });

  test('never throws, whatever the input', () => {
    const cyclic: Record<string, unknown> = { metadata: {} };
    cyclic.spec = cyclic;
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 50000; i++) { const n = {}; deep.a = n; deep = n; }
    const inputs: unknown[] = [
      null, undefined, 0, 'x', true, [], [1, 2], () => 1, Symbol('s'), 10n, new Map(), new Date(), Object.create(null),
      cyclic, { metadata: { annotations: root } }, { spec: { containers: [root] } }, { spec: { containers: [[[]]] } },
      { spec: { containers: [{ name: 'x', ports: [{ containerPort: 10n }] }] } }, { spec: { activeDeadlineSeconds: NaN } },
      { __proto__: { a: 1 }, constructor: 1, spec: { toString: 1 } },
    ];
    for (const v of inputs) {
      const r = checkFields('V1Pod', v);
      assert.ok(Array.isArray(r.unknown) && Array.isArray(r.typeErrors));
    }
    assert.deepEqual(checkFields('NoSuchModel', { a: 1 }), { unknown: [], typeErrors: [] });
    assert.deepEqual(checkFields('V1Pod', Object.create(null)), { unknown: [], typeErrors: [] });
    assert.equal(checkFields('V1Pod', [1]).decodeError, 'json: cannot unmarshal array into Go value of type v1.Pod');
    // Huge arrays are walked, and reports are capped.
    const many = checkFields('V1Pod', { spec: { containers: Array.from({ length: 5000 }, () => ({ name: 'x', bad: 1 })) } });
    assert.equal(many.unknown.length, 1000);
    assert.equal(many.unknown[999], 'spec.containers[999].bad');
  });

  test('fast: a Pod check is well under 0.1 ms', () => {
    const p = pod();
    checkFields('V1Pod', p);
    // Best of several rounds, so a loaded machine does not make this flaky.
    let per = Infinity;
    for (let round = 0; round < 10; round++) {
      const n = 500;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) checkFields('V1Pod', p);
      per = Math.min(per, (performance.now() - t0) / n);
    }
    assert.ok(per < 0.1, `${per.toFixed(4)} ms per Pod`);
  });

  test('shapes load lazily and are shared', () => {
    const a = shapeOf('V1Pod');
    assert.equal(a, shapeOf('V1Pod'));
    assert.equal(a?.k, 'struct');
    assert.equal(shapeOf('NoSuchModel'), undefined);
  });
});
