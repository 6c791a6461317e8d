// The /openapi/v3 discovery document and the per-group-version OpenAPI 3.0 documents, shaped
// as kube-apiserver serves them. kubectl reads these: `apply` finds the kind's PATCH operation
// by x-kubernetes-group-version-kind, checks it accepts strategic merge patch and a
// fieldValidation parameter, and computes its patch from components.schemas
// (x-kubernetes-patch-strategy / -merge-key); `explain` renders the same schemas.
//
// Documents are built from ResourceType records and schema.ts, cached per resource set, and
// carry a stable content hash for the index's `?hash=` URLs.

import { createHash } from 'node:crypto';
import type { ResourceType } from './registry.js';
import { loadAttrs, schemaFor, schemaName, NAME_TIME } from './schema.js';
import type { Schema } from './schema.js';

export interface OpenAPIV3Index { paths: Record<string, { serverRelativeURL: string }> }

export interface OpenAPIV3Document {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, Schema> };
}

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const NAME_STATUS = `${META}.Status`;
const NAME_DELETE_OPTIONS = `${META}.DeleteOptions`;
const NAME_PATCH = `${META}.Patch`;
const NAME_LIST_META = `${META}.ListMeta`;
const NAME_SCALE = 'io.k8s.api.autoscaling.v1.Scale';

/** `api/v1` or `apis/<group>/<version>`. */
export function groupVersionPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}
const pathOf = (r: ResourceType) => groupVersionPath(r.group, r.version);

// ---- parameters -------------------------------------------------------------------------

interface Param { name: string; in: 'query' | 'path'; description: string; required?: boolean; schema: Schema }
const q = (name: string, description: string, schema: Schema = { type: 'string', uniqueItems: true } as Schema): Param =>
  ({ name, in: 'query', description, schema });
const boolQ = (name: string, description: string) => q(name, description, { type: 'boolean', uniqueItems: true } as Schema);
const intQ = (name: string, description: string) => q(name, description, { type: 'integer', uniqueItems: true } as Schema);

const P = {
  name: (kind: string): Param => ({ name: 'name', in: 'path', description: `name of the ${kind}`, required: true, schema: { type: 'string', uniqueItems: true } as Schema }),
  namespace: { name: 'namespace', in: 'path', description: 'object name and auth scope, such as for teams and projects', required: true, schema: { type: 'string', uniqueItems: true } as Schema } as Param,
  pretty: q('pretty', "If 'true', then the output is pretty printed."),
  dryRun: q('dryRun', 'When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed'),
  fieldManager: q('fieldManager', 'fieldManager is a name associated with the actor or entity that is making these changes.'),
  fieldManagerApply: q('fieldManager', 'fieldManager is a name associated with the actor or entity that is making these changes. Required for apply requests (application/apply-patch) and optional for other patch types.'),
  fieldValidation: q('fieldValidation', 'fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: - Ignore - Warn (the default) - Strict'),
  force: boolQ('force', 'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by other people. Must be unset for non-apply patch requests.'),
  allowWatchBookmarks: boolQ('allowWatchBookmarks', 'allowWatchBookmarks requests watch events with type "BOOKMARK".'),
  continue: q('continue', 'The continue option should be set when retrieving more results from the server.'),
  fieldSelector: q('fieldSelector', 'A selector to restrict the list of returned objects by their fields. Defaults to everything.'),
  labelSelector: q('labelSelector', 'A selector to restrict the list of returned objects by their labels. Defaults to everything.'),
  limit: intQ('limit', 'limit is a maximum number of responses to return for a list call.'),
  resourceVersion: q('resourceVersion', 'resourceVersion sets a constraint on what resource versions a request may be served from.'),
  resourceVersionMatch: q('resourceVersionMatch', 'resourceVersionMatch determines how resourceVersion is applied to list calls.'),
  sendInitialEvents: boolQ('sendInitialEvents', '`sendInitialEvents=true` may be set together with `watch=true`, to begin the watch stream with synthetic events for all existing objects.'),
  timeoutSeconds: intQ('timeoutSeconds', 'Timeout for the list/watch call.'),
  watch: boolQ('watch', 'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.'),
  gracePeriodSeconds: intQ('gracePeriodSeconds', 'The duration in seconds before the object should be deleted.'),
  ignoreStoreReadError: boolQ('ignoreStoreReadErrorWithClusterBreakingPotential', 'if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error.'),
  orphanDependents: boolQ('orphanDependents', 'Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7.'),
  propagationPolicy: q('propagationPolicy', "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'."),
};

const LIST_PARAMS = [P.allowWatchBookmarks, P.continue, P.fieldSelector, P.labelSelector, P.limit,
  P.resourceVersion, P.resourceVersionMatch, P.sendInitialEvents, P.timeoutSeconds, P.watch];
const WRITE_PARAMS = [P.dryRun, P.fieldManager, P.fieldValidation];
const PATCH_PARAMS = [P.dryRun, P.fieldManagerApply, P.fieldValidation, P.force];
const DELETE_PARAMS = [P.dryRun, P.gracePeriodSeconds, P.ignoreStoreReadError, P.orphanDependents, P.propagationPolicy];
const DELETE_COLLECTION_PARAMS = [P.continue, P.dryRun, P.fieldSelector, P.gracePeriodSeconds, P.ignoreStoreReadError,
  P.labelSelector, P.limit, P.orphanDependents, P.propagationPolicy, P.resourceVersion, P.resourceVersionMatch,
  P.sendInitialEvents, P.timeoutSeconds];

// ---- operations -------------------------------------------------------------------------

const $ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const MEDIA = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];
const WATCH_MEDIA = ['application/json;stream=watch', 'application/vnd.kubernetes.protobuf;stream=watch'];

function content(name: string, media = MEDIA): Record<string, { schema: Schema }> {
  const out: Record<string, { schema: Schema }> = {};
  for (const m of media) out[m] = { schema: $ref(name) };
  return out;
}
const ok = (name: string, media = MEDIA) => ({ description: 'OK', content: content(name, media) });
const created = (name: string) => ({ description: 'Created', content: content(name) });
const accepted = (name: string) => ({ description: 'Accepted', content: content(name) });
const unauthorized = { description: 'Unauthorized' };

/** `networking.k8s.io` → `Networking`, `` → `Core`, `rbac.authorization.k8s.io` → `RbacAuthorization`. */
function groupId(group: string): string {
  if (!group) return 'Core';
  return group.replace(/\.k8s\.io$/, '').split('.').map((s) => s.charAt(0).toUpperCase() + s.slice(1)).join('');
}
const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
function tagOf(r: ResourceType): string {
  const g = r.group ? r.group.replace(/\.k8s\.io$/, '').replace(/\./g, '_') : 'core';
  return `${g}_${r.version}`;
}

const hasVerb = (r: ResourceType, v: string) => !r.verbs || r.verbs.includes(v);

/** The model of a kind's list type (`V1Pod` → `V1PodList`), when client-node has one. */
function listModelOf(r: ResourceType): string | undefined {
  const m = `${r.model}List`;
  return loadAttrs(m) ? m : undefined;
}

function listSchema(r: ResourceType, itemName: string): Schema {
  return {
    description: `${r.kind}List is a list of ${r.kind} objects.`,
    type: 'object',
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
      items: { type: 'array', description: `List of ${r.plural}.`, items: { allOf: [$ref(itemName)], default: {} } },
      kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
      metadata: { allOf: [$ref(NAME_LIST_META)], default: {}, description: "Standard list metadata." },
    },
    required: ['items'],
    'x-kubernetes-group-version-kind': [{ group: r.group, kind: `${r.kind}List`, version: r.version }],
  };
}

/** PATCH body types; strategic merge patch only for kinds with a typed schema (as upstream for CRDs). */
function patchBody(strategic: boolean) {
  const body: Record<string, { schema: Schema }> = {};
  const types = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json'];
  if (strategic) types.push('application/strategic-merge-patch+json');
  for (const m of types) {
    body[m] = { schema: $ref(NAME_PATCH) };
  }
  return { content: body, required: true };
}

/**
 * Definition name of a kind: upstream's for client-node models; for kinds client-node lacks
 * (Gateway API), the reversed-group name upstream gives CRDs (io.k8s.networking.gateway.v1.Gateway).
 */
export function kindSchemaName(r: ResourceType): string {
  if (loadAttrs(r.model)) return schemaName(r.model);
  const rev = (r.group || 'core').split('.').reverse().join('.');
  return `${rev}.${r.version}.${r.kind}`;
}

/** Schema for a kind without a client-node model: any object, as a CRD without a schema. */
function untypedKind(r: ResourceType): Schema {
  return {
    description: `${r.kind} (${r.group || 'core'}/${r.version}); no typed schema is published for this kind.`,
    type: 'object',
    'x-kubernetes-preserve-unknown-fields': true,
    'x-kubernetes-group-version-kind': [{ group: r.group, kind: r.kind, version: r.version }],
  };
}

function addPaths(doc: OpenAPIV3Document, r: ResourceType, listName: string, typed: boolean): void {
  const base = `/${pathOf(r)}`;
  const gvkObj = { group: r.group, kind: r.kind, version: r.version };
  const objName = kindSchemaName(r);
  const id = `${groupId(r.group)}${cap(r.version)}`;
  const ns = r.namespaced ? 'Namespaced' : '';
  const tags = [tagOf(r)];
  const coll = r.namespaced ? `${base}/namespaces/{namespace}/${r.plural}` : `${base}/${r.plural}`;
  const item = `${coll}/{name}`;
  const scopeParams = r.namespaced ? [P.namespace] : [];
  const op = (action: string, operationId: string, description: string, extra: Record<string, unknown>, g: object = gvkObj) => ({
    tags, description, operationId, ...extra,
    'x-kubernetes-action': action, 'x-kubernetes-group-version-kind': g,
  });

  const collOps: Record<string, unknown> = {};
  if (hasVerb(r, 'list')) {
    collOps.get = op('list', `list${id}${ns}${r.kind}`, `list or watch objects of kind ${r.kind}`, {
      parameters: LIST_PARAMS, responses: { 200: ok(listName, [...MEDIA, ...WATCH_MEDIA]), 401: unauthorized },
    });
  }
  if (hasVerb(r, 'create')) {
    collOps.post = op('post', `create${id}${ns}${r.kind}`, `create a ${r.kind}`, {
      parameters: WRITE_PARAMS, requestBody: { content: { '*/*': { schema: $ref(objName) } }, required: true },
      responses: { 200: ok(objName), 201: created(objName), 202: accepted(objName), 401: unauthorized },
    });
  }
  if (hasVerb(r, 'deletecollection')) {
    collOps.delete = op('deletecollection', `delete${id}Collection${ns}${r.kind}`, `delete collection of ${r.kind}`, {
      parameters: DELETE_COLLECTION_PARAMS, requestBody: { content: { '*/*': { schema: $ref(NAME_DELETE_OPTIONS) } } },
      responses: { 200: ok(NAME_STATUS), 401: unauthorized },
    });
  }
  if (Object.keys(collOps).length) doc.paths[coll] = { ...collOps, parameters: [...scopeParams, P.pretty] };

  const itemOps: Record<string, unknown> = {};
  if (hasVerb(r, 'get')) {
    itemOps.get = op('get', `read${id}${ns}${r.kind}`, `read the specified ${r.kind}`, {
      responses: { 200: ok(objName), 401: unauthorized },
    });
  }
  if (hasVerb(r, 'update')) {
    itemOps.put = op('put', `replace${id}${ns}${r.kind}`, `replace the specified ${r.kind}`, {
      parameters: WRITE_PARAMS, requestBody: { content: { '*/*': { schema: $ref(objName) } }, required: true },
      responses: { 200: ok(objName), 201: created(objName), 401: unauthorized },
    });
  }
  if (hasVerb(r, 'delete')) {
    itemOps.delete = op('delete', `delete${id}${ns}${r.kind}`, `delete a ${r.kind}`, {
      parameters: DELETE_PARAMS, requestBody: { content: { '*/*': { schema: $ref(NAME_DELETE_OPTIONS) } } },
      responses: { 200: ok(objName), 202: accepted(objName), 401: unauthorized },
    });
  }
  if (hasVerb(r, 'patch')) {
    itemOps.patch = op('patch', `patch${id}${ns}${r.kind}`, `partially update the specified ${r.kind}`, {
      parameters: PATCH_PARAMS, requestBody: patchBody(typed),
      responses: { 200: ok(objName), 201: created(objName), 401: unauthorized },
    });
  }
  const itemParams = [P.name(r.kind), ...scopeParams, P.pretty];
  if (Object.keys(itemOps).length) doc.paths[item] = { ...itemOps, parameters: itemParams };

  if (r.namespaced && hasVerb(r, 'list')) {
    doc.paths[`${base}/${r.plural}`] = {
      get: op('list', `list${id}${r.kind}ForAllNamespaces`, `list or watch objects of kind ${r.kind}`, {
        responses: { 200: ok(listName, [...MEDIA, ...WATCH_MEDIA]), 401: unauthorized },
      }),
      parameters: [...LIST_PARAMS, P.pretty],
    };
  }

  const sub = (name: string, subName: string, g: object, verbsOk: boolean) => {
    if (!verbsOk) return;
    const S = cap(name);
    doc.paths[`${item}/${name}`] = {
      get: op('get', `read${id}${ns}${r.kind}${S}`, `read ${name} of the specified ${r.kind}`, {
        responses: { 200: ok(subName), 401: unauthorized },
      }, g),
      put: op('put', `replace${id}${ns}${r.kind}${S}`, `replace ${name} of the specified ${r.kind}`, {
        parameters: WRITE_PARAMS, requestBody: { content: { '*/*': { schema: $ref(subName) } }, required: true },
        responses: { 200: ok(subName), 201: created(subName), 401: unauthorized },
      }, g),
      patch: op('patch', `patch${id}${ns}${r.kind}${S}`, `partially update ${name} of the specified ${r.kind}`, {
        parameters: PATCH_PARAMS, requestBody: patchBody(typed),
        responses: { 200: ok(subName), 201: created(subName), 401: unauthorized },
      }, g),
      parameters: itemParams,
    };
  };
  sub('status', objName, gvkObj, !!r.subresources?.status);
  sub('scale', NAME_SCALE, { group: 'autoscaling', kind: 'Scale', version: 'v1' }, !!r.subresources?.scale);
}

// ---- documents --------------------------------------------------------------------------

interface Built { doc: OpenAPIV3Document; json: string; hash: string }

const docCache = new Map<string, Built>();

function resourceKey(r: ResourceType): string {
  return [r.group, r.version, r.kind, r.plural, r.model, r.namespaced ? 'n' : 'c',
    r.subresources?.status ? 's' : '', r.subresources?.scale ? 'S' : '', (r.verbs ?? []).join(',')].join('|');
}

function build(gvPath: string, resources: ResourceType[]): Built {
  const rs = resources.filter((r) => pathOf(r) === gvPath).sort((a, b) => a.plural.localeCompare(b.plural));
  const key = `${gvPath}\n${rs.map(resourceKey).join('\n')}`;
  const hit = docCache.get(key);
  if (hit) return hit;
  const doc: OpenAPIV3Document = {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'unversioned' },
    paths: {},
    components: { schemas: {} },
  };
  const schemas = doc.components.schemas;
  const addAll = (defs: Record<string, Schema>) => { for (const [n, s] of Object.entries(defs)) if (!schemas[n]) schemas[n] = s; };
  for (const r of rs) {
    const typed = loadAttrs(r.model) !== undefined;
    const objName = kindSchemaName(r);
    if (typed) addAll(schemaFor(r.model));
    else schemas[objName] = untypedKind(r);
    const lm = typed ? listModelOf(r) : undefined;
    let listName: string;
    if (lm) { addAll(schemaFor(lm)); listName = schemaName(lm); }
    else {
      listName = `${objName}List`;
      schemas[listName] = listSchema(r, objName);
      addAll(schemaFor('V1ListMeta'));
    }
    if (r.subresources?.scale) addAll(schemaFor('V1Scale'));
    addPaths(doc, r, listName, typed);
  }
  addAll(schemaFor('V1Status'));
  // DeleteOptions is accepted by every group version; upstream lists them all in its GVK.
  const del = schemaFor('V1DeleteOptions');
  addAll(del);
  const gvks = [{ group: '', kind: 'DeleteOptions', version: 'v1' }];
  const [g, v] = gvPath.startsWith('apis/') ? gvPath.slice(5).split('/') : ['', gvPath.slice(4)];
  if (g) gvks.push({ group: g, kind: 'DeleteOptions', version: v });
  schemas[NAME_DELETE_OPTIONS] = { ...del[NAME_DELETE_OPTIONS], 'x-kubernetes-group-version-kind': gvks };
  schemas[NAME_PATCH] = {
    description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.',
    type: 'object',
  };
  if (!schemas[NAME_TIME]) addAll(schemaFor('V1ObjectMeta'));
  // Stable output: definitions sorted by name.
  const sorted: Record<string, Schema> = {};
  for (const n of Object.keys(schemas).sort()) sorted[n] = schemas[n];
  doc.components.schemas = sorted;
  const json = JSON.stringify(doc);
  const hash = createHash('sha512').update(json).digest('hex').toUpperCase().slice(0, 128);
  const built = { doc, json, hash };
  docCache.set(key, built);
  return built;
}

/** Every group-version path the resources serve (`api/v1`, `apis/apps/v1`, …), sorted. */
export function groupVersionPaths(resources: ResourceType[]): string[] {
  return [...new Set(resources.map(pathOf))].sort();
}

/** The `/openapi/v3` index: one entry per served group version, with content-hash URLs. */
export function openapiV3Index(resources: ResourceType[], serverRelativeBase = '/openapi/v3/'): OpenAPIV3Index {
  const paths: OpenAPIV3Index['paths'] = {};
  for (const p of groupVersionPaths(resources)) {
    paths[p] = { serverRelativeURL: `${serverRelativeBase}${p}?hash=${build(p, resources).hash}` };
  }
  return { paths };
}

/**
 * The OpenAPI 3.0 document for one group version (`api/v1`, `apis/apps/v1`), or undefined
 * when no resource is served there. Cached; treat the result as read-only.
 */
export function openapiV3Document(gvPath: string, resources: ResourceType[]): OpenAPIV3Document | undefined {
  const p = gvPath.replace(/^\/+/, '').replace(/^openapi\/v3\//, '');
  if (!resources.some((r) => pathOf(r) === p)) return undefined;
  return build(p, resources).doc;
}

/** The serialized document and its hash (what the handler sends, with an ETag of the hash). */
export function openapiV3DocumentJSON(gvPath: string, resources: ResourceType[]): { json: string; hash: string } | undefined {
  const p = gvPath.replace(/^\/+/, '').replace(/^openapi\/v3\//, '');
  if (!resources.some((r) => pathOf(r) === p)) return undefined;
  const b = build(p, resources);
  return { json: b.json, hash: b.hash };
}
