// The generic REST semantics every resource shares, over the etcd-shaped Store: create with
// generateName, optimistic concurrency, the status subresource, generation, finalizers,
// graceful deletion, propagation policies, and list with selectors and pagination. Kind-specific
// behaviour comes from the ResourceType records (defaults, validation, strategies).

import { randomUUID } from 'node:crypto';
import {
  errAlreadyExists, errBadRequest, errConflict, errForbidden, errGone, errInvalid, errNotFound,
  errTimeout, forbidden, notSupported, StatusError, type FieldError,
} from '../api/errors.js';
import { deepClone, type KObject, apiVersionOf, isObject } from '../api/meta.js';
import type { ResourceType } from '../api/registry.js';
import { validateObjectMeta, validateObjectMetaUpdate } from '../api/validation/common.js';
import { decodeFor, encodeFor, jsonWithResourceVersion, listPrefix, objectKey } from './codec.js';
import { buildFilter, matchesFilter, type ObjectFilter } from './filter.js';
import { CompactedError, FutureRevisionError, type KeyValue, type Store } from './storage/types.js';
import { WatchCache } from './watchcache.js';

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  orphanDependents?: boolean;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

export interface WriteOptions {
  dryRun?: boolean;
  /**
   * Create only: return once the write succeeded and has its place in the store's order,
   * before it is durable. For a record that a later write of the caller depends on (a
   * Service's IPAddress): the later write becomes durable only after this one, so the pair
   * costs one fsync wait. A failed write is still reported only once what it conflicted with
   * is durable. The caller must not report success to anyone before its later write is durable.
   */
  ordered?: boolean;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string | null;
  fieldSelector?: string | null;
  limit?: number;
  continue?: string | null;
  resourceVersion?: string | null;
  resourceVersionMatch?: string | null;
}

export interface ListResult {
  /** Items as JSON text (resourceVersion spliced in), for lists that had to parse them. */
  items: string[];
  /** Parsed items, when the caller asked for them. */
  objects?: KObject[];
  /** When nothing needed parsing: the stored values themselves (items is then empty). */
  kvs?: KeyValue[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

const GENERATE_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
const randomSuffix = (n = 5) => Array.from({ length: n }, () => GENERATE_CHARS[Math.floor(Math.random() * GENERATE_CHARS.length)]).join('');

/**
 * The stored JSON of each object create() returned, so the response is the stored text with
 * its resourceVersion spliced in instead of a second JSON.stringify of the same object.
 */
const storedValues = new WeakMap<KObject, string>();

/** `obj` as JSON from the encoding create() stored for it, or undefined when there is none. */
export function storedJsonOf(obj: KObject): string | undefined {
  const value = storedValues.get(obj);
  const rv = obj.metadata?.resourceVersion;
  return value === undefined || !rv ? undefined : jsonWithResourceVersion(value, rv);
}

const qr = (rt: ResourceType) => ({ group: rt.group, resource: rt.plural });
/** Timestamps have whole seconds (as upstream's metav1.Time): formatted once per second. */
let isoSecond = -1;
let isoText = '';
const nowIso = () => {
  const sec = Math.floor(Date.now() / 1000);
  if (sec !== isoSecond) { isoSecond = sec; isoText = new Date(sec * 1000).toISOString().replace('.000Z', 'Z'); }
  return isoText;
};

/** Kinds whose metadata.generation tracks spec changes (as their upstream strategies do). */
const TRACKS_GENERATION = new Set(['Deployment', 'ReplicaSet', 'NetworkPolicy', 'Ingress', 'IngressClass', 'EndpointSlice', 'Pod']);

/**
 * Pages count the items after them for remainingItemCount only this far; past it the field is
 * left out (it is optional upstream too), so walking a huge list stays linear.
 */
const REMAINING_COUNT_LIMIT = 10_000;

/** Kinds whose status writes may not change labels (their status strategies reset them). */
const STATUS_KEEPS_LABELS = new Set(['Deployment', 'ReplicaSet']);

/** Kinds for which PUT of a missing object creates it (upstream's AllowCreateOnUpdate). */
const CREATE_ON_UPDATE = new Set(['Endpoints', 'Event', 'Lease']);

interface ContinueToken { v: string; rv: number; start: string }

function encodeContinue(rv: number, lastKey: string, prefix: string): string {
  const t: ContinueToken = { v: 'meta.k8s.io/v1', rv, start: lastKey.slice(prefix.length) + '\u0000' };
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

function decodeContinue(token: string, prefix: string): { rv: number; after: string } {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as ContinueToken;
    if (t.v !== 'meta.k8s.io/v1' || typeof t.rv !== 'number' || typeof t.start !== 'string') throw new Error('bad');
    if (t.start.includes('/..') || t.start.startsWith('..')) throw new Error('bad');
    const start = t.start.endsWith('\u0000') ? t.start.slice(0, -1) : t.start;
    return { rv: t.rv, after: prefix + start };
  } catch {
    throw errBadRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}

const expiredContinue = () => errGone(
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');

/**
 * JSON with every object's keys sorted, so that semantically equal objects compare equal
 * whatever order a client sent their fields in (upstream compares with semantic DeepEqual).
 */
const canonical = (v: unknown): string => JSON.stringify(v, (_k, val: unknown) =>
  isObject(val) ? Object.fromEntries(Object.keys(val).sort().map((k) => [k, val[k]])) : val);

/** Everything but metadata and status: what a generation bump looks at. */
function specPart(o: KObject): string {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return canonical(rest);
}

/** Comparable form for no-op detection: the object without its resourceVersion. */
const comparable = (o: KObject) => canonical({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });

/** Called once a hooked write is over: `success` says whether it was stored. */
export type FinishWrite = (success: boolean) => Promise<void> | void;

/**
 * Per-resource hooks around writes, as upstream's generic store has them (BeginCreate,
 * BeginUpdate, AfterDelete). The begin hooks run after defaulting and before validation, may
 * change the object and throw StatusErrors; what they return is told how the write ended, so
 * side effects (allocations) are kept or undone. afterDelete runs once an object is gone.
 * Status and finalize writes do not run them.
 */
export interface StorageHooks {
  beginCreate?(obj: KObject, opts: WriteOptions): Promise<FinishWrite | void>;
  beginUpdate?(obj: KObject, old: KObject, opts: WriteOptions): Promise<FinishWrite | void>;
  afterDelete?(obj: KObject, opts: WriteOptions): Promise<void>;
}

async function finishing<T>(finish: FinishWrite | void, write: () => Promise<T>): Promise<T> {
  if (!finish) return write();
  let ok = false;
  try {
    const out = await write();
    ok = true;
    return out;
  } finally {
    await finish(ok);
  }
}

export class ResourceStorage {
  readonly cache: WatchCache;
  /** Kind-specific write hooks (set by the component that owns the kind's side effects). */
  hooks?: StorageHooks;
  constructor(readonly rt: ResourceType, private readonly store: Store, private readonly server: StorageHost) {
    this.cache = new WatchCache(store, rt);
  }

  private key(ns: string | undefined, name: string) { return objectKey(this.rt, ns, name); }

  private async current(ns: string | undefined, name: string): Promise<{ kv: KeyValue; obj: KObject } | undefined> {
    const kv = await this.store.get(this.key(ns, name));
    return kv ? { kv, obj: decodeFor(this.rt, kv) } : undefined;
  }

  async get(ns: string | undefined, name: string): Promise<KObject> {
    const cur = await this.current(ns, name);
    if (!cur) throw errNotFound(qr(this.rt), name);
    return cur.obj;
  }

  /**
   * Resolves once every write the store has ordered so far is durable, and so readable: a read
   * after it sees the `ordered` creates made before it.
   */
  async settled(): Promise<void> {
    await this.store.txn([], []);
  }

  async tryGet(ns: string | undefined, name: string): Promise<KObject | undefined> {
    return (await this.current(ns, name))?.obj;
  }

  // ---- list ------------------------------------------------------------------------------

  async list(opts: ListOptions, parse = false): Promise<ListResult> {
    const filter = buildFilter(this.rt, opts.namespace, opts.labelSelector, opts.fieldSelector);
    const prefix = listPrefix(this.rt, filter.namespace);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    // ListOptions validation, as upstream's (422 Invalid): resourceVersionMatch needs a
    // resourceVersion, "0" only with NotOlderThan, and never with continue.
    const match = opts.resourceVersionMatch ?? '';
    const optErrs: FieldError[] = [];
    if (match && !opts.resourceVersion) optErrs.push(forbidden('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided'));
    if (match && match !== 'Exact' && match !== 'NotOlderThan') optErrs.push(notSupported('resourceVersionMatch', match, ['Exact', 'NotOlderThan', '']));
    if (match === 'Exact' && opts.resourceVersion === '0') optErrs.push(forbidden('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'));
    if (match && opts.continue) optErrs.push(forbidden('continue', 'continue may not be specified with resourceVersionMatch'));
    if (optErrs.length) throw errInvalid('ListOptions', 'meta.k8s.io', '', optErrs);
    let revision = 0;
    let after: string | undefined;
    if (opts.continue) {
      if (opts.resourceVersion && opts.resourceVersion !== '0' && opts.resourceVersion !== '') {
        throw errBadRequest('specifying resource version is not allowed when using continue');
      }
      const c = decodeContinue(opts.continue, prefix);
      revision = c.rv;
      after = c.after;
      if (revision < this.store.compactedRevision) throw expiredContinue();
    } else if (opts.resourceVersion && opts.resourceVersion !== '0') {
      const rv = Number(opts.resourceVersion);
      if (!Number.isInteger(rv) || rv < 0) throw errBadRequest(`invalid resource version: ${opts.resourceVersion}`);
      if (opts.resourceVersionMatch === 'Exact') {
        revision = rv;
      } else if (rv > this.store.revision) {
        // NotOlderThan a revision we have not reached: wait briefly, as upstream does.
        if (!(await this.cache.waitFor(rv))) throw errTimeout(`Too large resource version: ${rv}, current: ${this.store.revision}`);
      }
    }

    const items: string[] = [];
    const objects: KObject[] = [];
    // Objects stored in another resource's shape are converted, so they are always parsed.
    const needParse = parse || !filter.everything || !!this.rt.storedAs;
    let more = false;
    let lastKey = '';
    let atRevision = revision;
    try {
      if (filter.name !== undefined && !limit) {
        // A field selector pinned to one name: read just that key.
        const ns = filter.namespace;
        if (this.rt.namespaced && !ns) {
          // name across namespaces: fall through to a scan
        } else {
          const kv = await this.store.get(this.key(ns, filter.name), revision || undefined);
          atRevision = revision || this.store.revision;
          if (kv) {
            const o = decodeFor(this.rt, kv);
            if (matchesFilter(this.rt, filter, o)) { items.push(JSON.stringify(o)); objects.push(o); }
          }
          return { items, objects: parse ? objects : undefined, resourceVersion: String(atRevision) };
        }
      }
      let cursor = after;
      let remaining: number | undefined;
      const rawKvs: KeyValue[] = [];
      const taken = () => items.length + rawKvs.length;
      const rest = (count: number, used: number) => (count < 0 ? -1 : Math.max(count - used, 0));
      for (;;) {
        const batch = limit ? Math.max(limit - taken(), 1) * (filter.everything ? 1 : 2) : 0;
        const r = await this.store.range(prefix, { prefix: true, after: cursor, limit: batch, revision: atRevision || undefined,
          countLimit: limit ? REMAINING_COUNT_LIMIT : undefined });
        atRevision = r.revision;
        for (let i = 0; i < r.kvs.length; i++) {
          const kv = r.kvs[i];
          if (limit && taken() >= limit) { more = true; remaining = rest(r.count, i); break; }
          lastKey = kv.key;
          if (needParse) {
            const o = decodeFor(this.rt, kv);
            if (!matchesFilter(this.rt, filter, o)) continue;
            items.push(JSON.stringify(o));
            if (parse) objects.push(o);
          } else {
            rawKvs.push(kv);
          }
        }
        if (more || !r.more || !limit) {
          if (!more && r.more && limit) more = true;
          if (more && remaining === undefined) remaining = rest(r.count, r.kvs.length);
          break;
        }
        cursor = r.kvs[r.kvs.length - 1]?.key ?? cursor;
        if (taken() >= limit) { more = true; remaining = rest(r.count, r.kvs.length); break; }
      }
      const result: ListResult = { items, objects: parse ? objects : undefined, resourceVersion: String(atRevision) };
      if (!needParse) result.kvs = rawKvs;
      if (more && lastKey) {
        result.continue = encodeContinue(atRevision, lastKey, prefix);
        if (filter.everything && remaining !== undefined && remaining >= 0) result.remainingItemCount = remaining;
      }
      return result;
    } catch (e) {
      if (e instanceof CompactedError) {
        if (opts.continue) throw expiredContinue();
        throw errGone(`The resourceVersion for the provided list is too old.`);
      }
      if (e instanceof FutureRevisionError) throw errTimeout(`Too large resource version: ${revision}, current: ${this.store.revision}`);
      throw e;
    }
  }

  /**
   * An unpaginated list streamed in batches straight from the store at one revision, so a
   * list of 100,000 objects never sits in memory whole: `begin` gets the revision once, then
   * `write` each batch of items as JSON text (awaited: the caller applies backpressure).
   * Returns false, having written nothing, when the request needs list()'s other paths
   * (limit, continue, a single-name lookup).
   */
  async streamList(opts: ListOptions, begin: (resourceVersion: string) => void,
                   write: (items: string[] | KeyValue[]) => Promise<void>): Promise<boolean> {
    if ((opts.limit && opts.limit > 0) || opts.continue) return false;
    const filter = buildFilter(this.rt, opts.namespace, opts.labelSelector, opts.fieldSelector);
    if (filter.name !== undefined) return false;
    if (opts.resourceVersionMatch || (opts.resourceVersion && opts.resourceVersion !== '0')) return false;
    const prefix = listPrefix(this.rt, filter.namespace);
    const revision = this.store.revision;
    begin(String(revision));
    const BATCH = 1000;
    let after: string | undefined;
    for (;;) {
      const r = await this.store.range(prefix, { prefix: true, after, limit: BATCH, revision: revision || undefined, countLimit: 0 });
      if (filter.everything && !this.rt.storedAs) {
        if (r.kvs.length) await write(r.kvs); // passed through unparsed
      } else {
        const items: string[] = [];
        for (const kv of r.kvs) {
          const o = decodeFor(this.rt, kv);
          if (matchesFilter(this.rt, filter, o)) items.push(JSON.stringify(o));
        }
        if (items.length) await write(items);
      }
      if (!r.more || !r.kvs.length) return true;
      after = r.kvs[r.kvs.length - 1].key;
    }
  }

  // ---- create ----------------------------------------------------------------------------

  async create(ns: string | undefined, obj: KObject, opts: WriteOptions = {}): Promise<KObject> {
    const rt = this.rt;
    if (!isObject(obj.metadata)) obj.metadata = {};
    const meta = obj.metadata;
    if (rt.namespaced) {
      if (meta.namespace && ns && meta.namespace !== ns) {
        throw errBadRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = ns ?? meta.namespace;
    } else {
      delete meta.namespace;
    }
    obj.apiVersion = apiVersionOf(rt.group, rt.version);
    obj.kind = rt.kind;
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.selfLink;
    delete meta.managedFields;
    meta.uid = randomUUID();
    meta.creationTimestamp = nowIso();
    let generated = false;
    if (!meta.name && meta.generateName) {
      meta.name = meta.generateName + randomSuffix();
      generated = true;
    }
    rt.prepareForCreate?.(obj);
    rt.defaults?.(obj);
    if (TRACKS_GENERATION.has(rt.kind)) meta.generation = 1;
    else delete meta.generation;
    // Kind-specific hooks (ClusterIP/NodePort allocation) run between defaulting and
    // validation and learn whether the write went through, as upstream's BeginCreate.
    const finish = await this.hooks?.beginCreate?.(obj, opts);
    return finishing(finish, async () => {
      const errs: FieldError[] = [
        ...validateObjectMeta(meta, { namespaced: rt.namespaced, nameValidator: rt.nameValidator }),
        ...(rt.validateCreate?.(obj) ?? []),
      ];
      if (errs.length) throw errInvalid(rt.kind, rt.group, meta.name ?? meta.generateName ?? '', errs);
      if (rt.namespaced) await this.server.checkNamespaceWritable(meta.namespace!, rt, meta.name!);
      await this.server.admit?.(rt, obj, undefined);
      if (opts.dryRun) return obj;
      const key = this.key(meta.namespace, meta.name!);
      let orderedAt = 0;
      const value = encodeFor(this.rt, obj);
      const durable = this.store.txn([{ key, modRevision: 0 }], [{ type: 'put', key, value }],
        opts.ordered ? { onOrdered: (rev) => { orderedAt = rev; } } : undefined);
      if (orderedAt) {
        // A failed fsync fails every later write too (the store turns read-only), so the
        // caller's dependent write reports it.
        durable.catch(() => undefined);
        meta.resourceVersion = String(orderedAt);
        return obj;
      }
      const r = await durable;
      if (!r.succeeded) {
        const err = errAlreadyExists(qr(rt), meta.name!);
        if (generated) err.status.message += ', the server was not able to generate a unique name for the object';
        throw err;
      }
      meta.resourceVersion = String(r.revision);
      if (!rt.storedAs) storedValues.set(obj, value);
      return obj;
    });
  }

  /** The stored value of an object, unparsed (frozen and shared: a change is a new KeyValue). */
  async getStored(ns: string | undefined, name: string): Promise<KeyValue | undefined> {
    return this.store.get(this.key(ns, name));
  }

  // ---- update ----------------------------------------------------------------------------

  /**
   * Replaces an object. `subresource` 'status' changes only status; 'main' keeps old status
   * (for kinds with a status subresource). Conflicts when the body's resourceVersion is stale.
   */
  async update(ns: string | undefined, name: string, obj: KObject, opts: WriteOptions & { subresource?: string } = {}): Promise<KObject> {
    const rt = this.rt;
    if (!isObject(obj.metadata)) obj.metadata = {};
    if (obj.metadata.name && obj.metadata.name !== name) {
      throw errBadRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    }
    obj.metadata.name = name;
    if (rt.namespaced) {
      if (obj.metadata.namespace && ns && obj.metadata.namespace !== ns) {
        throw errBadRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      obj.metadata.namespace = ns;
    } else delete obj.metadata.namespace;
    const cur = await this.current(ns, name);
    if (!cur) {
      if (CREATE_ON_UPDATE.has(rt.kind) && !opts.subresource) return this.create(ns, obj, opts);
      throw errNotFound(qr(rt), name);
    }
    const wantRv = obj.metadata.resourceVersion;
    if (wantRv && wantRv !== String(cur.kv.modRevision)) {
      throw errConflict(qr(rt), name, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    // A uid in the body is a precondition (upstream's defaultUpdatedObjectInfo.Preconditions):
    // a PUT meant for an earlier object of the same name must not overwrite its successor.
    const wantUid = obj.metadata.uid;
    if (wantUid && wantUid !== cur.obj.metadata.uid) {
      throw errConflict(qr(rt), name, `Precondition failed: UID in precondition: ${wantUid}, UID in object meta: ${cur.obj.metadata.uid}`);
    }
    return this.replace(cur.kv, cur.obj, obj, opts);
  }

  /** The shared tail of update and patch: strategy, defaults, validation, conditional write. */
  private async replace(curKv: KeyValue, old: KObject, input: KObject, opts: WriteOptions & { subresource?: string }): Promise<KObject> {
    const rt = this.rt;
    let next: KObject;
    let finish: FinishWrite | void = undefined;
    if (opts.subresource === 'status') {
      // A status write changes status, and may change labels and annotations (upstream's
      // status strategies reset spec; workloads also keep their labels).
      next = deepClone(old);
      if (input.status !== undefined) next.status = input.status; else delete next.status;
      const im = isObject(input.metadata) ? input.metadata : {};
      if (im.annotations !== undefined) next.metadata.annotations = im.annotations as Record<string, string>;
      if (im.labels !== undefined && !STATUS_KEEPS_LABELS.has(rt.kind)) next.metadata.labels = im.labels as Record<string, string>;
    } else if (opts.subresource === 'finalize') {
      // namespaces/finalize changes spec.finalizers only (the namespace controller's exit).
      next = deepClone(old);
      const fins = (input.spec as { finalizers?: unknown } | undefined)?.finalizers;
      next.spec = { ...(isObject(old.spec) ? old.spec : {}), finalizers: Array.isArray(fins) ? fins : [] };
    } else {
      next = input;
      next.apiVersion = apiVersionOf(rt.group, rt.version);
      next.kind = rt.kind;
      const m = next.metadata;
      m.uid = old.metadata.uid;
      m.creationTimestamp = old.metadata.creationTimestamp;
      m.namespace = old.metadata.namespace;
      if (old.metadata.deletionTimestamp) m.deletionTimestamp = old.metadata.deletionTimestamp; else delete m.deletionTimestamp;
      if (old.metadata.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds;
      else delete m.deletionGracePeriodSeconds;
      delete m.managedFields;
      delete m.selfLink;
      if (rt.subresources?.status) {
        if (old.status !== undefined) next.status = deepClone(old.status); else delete next.status;
      }
      rt.prepareForUpdate?.(next, old);
      rt.defaults?.(next);
      if (TRACKS_GENERATION.has(rt.kind)) {
        const g = old.metadata.generation ?? 1;
        // Deployments also count annotation changes (upstream's rollback annotations).
        const annotationsChanged = rt.kind === 'Deployment' && canonical(m.annotations ?? {}) !== canonical(old.metadata.annotations ?? {});
        m.generation = specPart(next) !== specPart(old) || annotationsChanged ? g + 1 : g;
      } else delete m.generation;
      finish = await this.hooks?.beginUpdate?.(next, old, opts);
    }
    return finishing(finish, async () => {
      // An object being deleted whose last finalizer was just removed is deleted now
      // (upstream's shouldDeleteDuringUpdate); graceful deletions wait for their DELETE.
      if (old.metadata.deletionTimestamp && old.metadata.finalizers?.length && !next.metadata.finalizers?.length
          && !((old.metadata.deletionGracePeriodSeconds ?? 0) > 0)) {
        if (opts.dryRun) return next;
        const r = await this.store.txn([{ key: curKv.key, modRevision: curKv.modRevision }], [{ type: 'delete', key: curKv.key }]);
        if (!r.succeeded) throw errConflict(qr(rt), old.metadata.name!, 'the object has been modified; please apply your changes to the latest version and try again');
        next.metadata.resourceVersion = String(r.revision);
        await this.hooks?.afterDelete?.(next, opts);
        return next;
      }
      const errs: FieldError[] = opts.subresource === 'status' || opts.subresource === 'finalize'
        ? (opts.subresource === 'status' ? rt.validateStatusUpdate?.(next, old) ?? [] : [])
        : [
          ...validateObjectMetaUpdate(next.metadata, old.metadata, 'metadata'),
          ...(rt.validateUpdate?.(next, old) ?? []),
        ];
      if (errs.length) throw errInvalid(rt.kind, rt.group, old.metadata.name!, errs);
      await this.server.admit?.(rt, next, old);
      next.metadata.resourceVersion = String(curKv.modRevision);
      if (comparable(next) === comparable(old)) return old; // no-op: no write, same resourceVersion
      if (opts.dryRun) return next;
      const r = await this.store.txn([{ key: curKv.key, modRevision: curKv.modRevision }],
        [{ type: 'put', key: curKv.key, value: encodeFor(this.rt, next) }]);
      if (!r.succeeded) {
        if (!r.current[0]) throw errNotFound(qr(rt), old.metadata.name!);
        throw errConflict(qr(rt), old.metadata.name!, 'the object has been modified; please apply your changes to the latest version and try again');
      }
      next.metadata.resourceVersion = String(r.revision);
      return next;
    });
  }

  /**
   * Read-modify-write with retries on conflict: `mutate` gets a fresh copy each attempt.
   * Used by patch, scale and finalize. `mutate` may throw StatusErrors.
   */
  async guaranteedUpdate(ns: string | undefined, name: string, mutate: (cur: KObject) => KObject | Promise<KObject>,
                         opts: WriteOptions & { subresource?: string; precondition?: string } = {}): Promise<KObject> {
    for (let attempt = 0; ; attempt++) {
      const cur = await this.current(ns, name);
      if (!cur) throw errNotFound(qr(this.rt), name);
      if (opts.precondition && opts.precondition !== String(cur.kv.modRevision)) {
        throw errConflict(qr(this.rt), name, 'the object has been modified; please apply your changes to the latest version and try again');
      }
      const next = await mutate(deepClone(cur.obj));
      // The copy handed to `mutate` carries the current resourceVersion: returning it unchanged
      // is not a precondition (else a concurrent write would fail instead of being retried).
      const rvOut = next.metadata?.resourceVersion;
      const explicitRv = rvOut && rvOut !== String(cur.kv.modRevision) ? rvOut : undefined;
      if (explicitRv) {
        throw errConflict(qr(this.rt), name, 'the object has been modified; please apply your changes to the latest version and try again');
      }
      if (!isObject(next.metadata)) next.metadata = {};
      if (next.metadata.name !== undefined && next.metadata.name !== name) {
        throw errBadRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`);
      }
      next.metadata.name = name;
      try {
        return await this.replace(cur.kv, cur.obj, next, opts);
      } catch (e) {
        if (e instanceof StatusError && e.reason === 'Conflict' && !explicitRv && !opts.precondition && attempt < 8) continue;
        throw e;
      }
    }
  }

  // ---- delete ----------------------------------------------------------------------------

  async delete(ns: string | undefined, name: string, o: DeleteOptions = {}, opts: WriteOptions = {}): Promise<{ obj: KObject; deleted: boolean }> {
    const rt = this.rt;
    for (let attempt = 0; ; attempt++) {
      const cur = await this.current(ns, name);
      if (!cur) throw errNotFound(qr(rt), name);
      const obj = cur.obj;
      const pre = o.preconditions;
      if (pre?.uid && pre.uid !== obj.metadata.uid) {
        throw errConflict(qr(rt), name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
        throw errConflict(qr(rt), name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`);
      }
      const next = deepClone(obj);
      const m = next.metadata;
      let finalizers = [...(m.finalizers ?? [])];
      const policy = o.propagationPolicy ?? (o.orphanDependents === true ? 'Orphan' : o.orphanDependents === false ? 'Background' : undefined);
      const mutable = !m.deletionTimestamp || finalizers.length > 0;
      if (policy === 'Foreground' && mutable) {
        finalizers = finalizers.filter((f) => f !== 'orphan');
        if (!finalizers.includes('foregroundDeletion')) finalizers.push('foregroundDeletion');
      } else if (policy === 'Orphan' && mutable) {
        finalizers = finalizers.filter((f) => f !== 'foregroundDeletion');
        if (!finalizers.includes('orphan')) finalizers.push('orphan');
      } else if (policy === 'Background' && mutable) {
        finalizers = finalizers.filter((f) => f !== 'orphan' && f !== 'foregroundDeletion');
      }
      if (finalizers.length) m.finalizers = finalizers; else delete m.finalizers;

      // Namespaces go through Terminating: the namespace controller empties them first.
      let hold = false;
      if (rt.kind === 'Namespace') {
        const specFinalizers = ((next.spec as { finalizers?: string[] } | undefined)?.finalizers) ?? [];
        if (!m.deletionTimestamp || specFinalizers.length) {
          hold = true;
          next.status = { ...(isObject(next.status) ? next.status : {}), phase: 'Terminating' };
        }
      }
      // Graceful deletion (pods): the object stays until its node finishes it.
      let grace = 0;
      if (rt.gracePeriodSeconds) {
        const dflt = rt.gracePeriodSeconds(obj);
        grace = o.gracePeriodSeconds ?? dflt ?? 0;
        if (dflt === undefined) grace = 0; // unscheduled or finished: nothing to wait for
        if (grace < 0) grace = 0;
        const existing = m.deletionGracePeriodSeconds;
        if (m.deletionTimestamp && existing !== undefined && grace >= existing) grace = existing;
        if (grace > 0) hold = true;
      }
      if (finalizers.length) hold = true;
      if (hold) {
        if (!m.deletionTimestamp || (rt.gracePeriodSeconds && grace !== m.deletionGracePeriodSeconds)) {
          m.deletionTimestamp = new Date(Math.floor(Date.now() / 1000) * 1000 + grace * 1000).toISOString().replace('.000Z', 'Z');
          m.deletionGracePeriodSeconds = grace;
        }
        if (comparable(next) === comparable(obj)) return { obj, deleted: false };
        if (opts.dryRun) return { obj: next, deleted: false };
        const r = await this.store.txn([{ key: cur.kv.key, modRevision: cur.kv.modRevision }],
          [{ type: 'put', key: cur.kv.key, value: encodeFor(this.rt, next) }]);
        if (!r.succeeded) { if (attempt < 8) continue; throw errConflict(qr(rt), name, 'the object has been modified; please apply your changes to the latest version and try again'); }
        m.resourceVersion = String(r.revision);
        return { obj: next, deleted: false };
      }
      if (opts.dryRun) return { obj, deleted: true };
      const r = await this.store.txn([{ key: cur.kv.key, modRevision: cur.kv.modRevision }], [{ type: 'delete', key: cur.kv.key }]);
      if (!r.succeeded) { if (attempt < 8) continue; throw errConflict(qr(rt), name, 'the object has been modified; please apply your changes to the latest version and try again'); }
      await this.hooks?.afterDelete?.(obj, opts);
      return { obj, deleted: true };
    }
  }

  async deleteCollection(opts: ListOptions, del: DeleteOptions, w: WriteOptions = {}): Promise<KObject[]> {
    const { objects = [] } = await this.list({ ...opts, limit: 0, continue: null }, true);
    const out: KObject[] = [];
    for (const o of objects) {
      try {
        out.push((await this.delete(o.metadata.namespace, o.metadata.name!, del, w)).obj);
      } catch (e) {
        if (!(e instanceof StatusError && e.code === 404)) throw e;
      }
    }
    return out;
  }

  /** Initial state for a watch without a resourceVersion: every matching object, as ADDED. */
  async snapshot(filter: ObjectFilter, revision: number): Promise<KObject[]> {
    const r = await this.store.range(listPrefix(this.rt, filter.namespace), { prefix: true, revision });
    const out: KObject[] = [];
    for (const kv of r.kvs) {
      const o = decodeFor(this.rt, kv);
      if (matchesFilter(this.rt, filter, o)) out.push(o);
    }
    return out;
  }
}

/** What ResourceStorage needs from the server around it. */
export interface StorageHost {
  /** Throws NotFound for a missing namespace and Forbidden for a terminating one. */
  checkNamespaceWritable(ns: string, rt: ResourceType, name: string): Promise<void>;
  /** Cross-object admission (e.g. ClusterIP allocation in a later issue). */
  admit?(rt: ResourceType, obj: KObject, old: KObject | undefined): Promise<void>;
}

export function namespaceTerminatingError(rt: ResourceType, name: string, ns: string): StatusError {
  const e = errForbidden(`${rt.plural}${rt.group ? '.' + rt.group : ''} "${name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`);
  e.status.details = { name, group: rt.group || undefined, kind: rt.plural, causes: [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }] };
  return e;
}
