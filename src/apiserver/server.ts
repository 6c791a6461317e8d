// The API server: HTTPS, bearer-token authentication, routing of the Kubernetes REST paths to
// ResourceStorage, watch streaming, discovery, OpenAPI v3, Table output, health and metrics.

import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  errBadRequest, errMethodNotAllowed, errNotAcceptable, errNotFound, errUnauthorized, failure, StatusError,
  successStatus, errInvalid,
} from '../api/errors.js';
import { type KObject, apiVersionOf, isObject, splitApiVersion } from '../api/meta.js';
import { defaultTable, type ResourceType } from '../api/registry.js';
import { selectorFromLabelSelector, selectorToString } from '../api/labels.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PatchError } from '../api/patch.js';
import { patchMetaFor } from '../api/schema.js';
import { checkFields } from '../api/strict.js';
import { openapiV3DocumentJSON, openapiV3Index } from '../api/openapi.js';
import { Registry as MetricsRegistry } from '../util/metrics.js';
import { aggregatedDiscovery, apiGroupDoc, apiGroupList, apiResourceList, apiVersions } from './discovery.js';
import { buildFilter } from './filter.js';
import {
  acceptsGzip, GZIP_LEVEL, GZIP_MIN_BYTES, negotiate, parseAccept, parseBody, readBody, sendBody, writeError, writeJson, writeShaped, type ResponseShape,
} from './http.js';
import { GzipListWriter, ListPieceCache } from './listgzip.js';
import { namespaceTerminatingError, ResourceStorage, storedJsonOf, type DeleteOptions, type StorageHost } from './rest.js';
import type { KeyValue, Store } from './storage/types.js';
import { decodeFor, objectJsonWithRv, objectsJsonBuffer } from './codec.js';
import { TooOldError, type CachedEvent } from './watchcache.js';
import { pruneUnknownFields } from './prune.js';

export interface ApiServerOptions {
  store: Store;
  resources: ResourceType[];
  tls: { cert: string; key: string };
  /** token → identity; requests without one of these get 401. */
  tokens: Map<string, { user: string; uid: string; groups: string[] }>;
  host?: string;
  port?: number;
  /** More addresses to serve on, same port (e.g. the host's address on a cluster's node network). */
  extraHosts?: string[];
  /** Interval between BOOKMARK events on watches that allow them. */
  bookmarkIntervalMs?: number;
  /** Bearer token for the nodes' kubelet API (pods/log is proxied there). */
  kubeletToken?: string;
  /** Version reported by /version. */
  version?: { major: string; minor: string; gitVersion: string };
}

interface Route {
  rt: ResourceType;
  storage: ResourceStorage;
  namespace?: string;
  name?: string;
  subresource?: string;
}

const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version', '/healthz/ping', '/livez/ping', '/readyz/ping']);

/** How long a watch lasts when the client does not say: 30–60 minutes, as upstream. */
const defaultWatchTimeout = () => 1800 + Math.floor(Math.random() * 1800);

/** Writes to a response, resolving when it may be written again (backpressure). */
function writerTo(res: ServerResponse): (chunk: string | Buffer) => Promise<void> {
  return (chunk) => new Promise<void>((resolve, reject) => {
    if (res.destroyed) { reject(new Error('client went away')); return; }
    if (res.write(chunk)) resolve();
    else {
      const done = () => { res.off('close', gone); resolve(); };
      const gone = () => { res.removeListener('drain', done); reject(new Error('client went away')); };
      res.once('drain', done);
      res.once('close', gone);
    }
  });
}

export class ApiServer implements StorageHost {
  readonly storages = new Map<ResourceType, ResourceStorage>();
  private byPath = new Map<string, ResourceType>(); // "group/version/plural"
  private server?: Server;
  private extraServers: Server[] = [];
  readonly metrics = new MetricsRegistry();
  private requests = this.metrics.counter('apiserver_request_total', 'Counter of apiserver requests broken out for each verb, group, version, resource, subresource and HTTP response code.', ['verb', 'group', 'version', 'resource', 'subresource', 'code']);
  private latency = this.metrics.histogram('apiserver_request_duration_seconds', 'Response latency distribution in seconds for each verb, group, version, resource and subresource.',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 5, 10, 30, 60], ['verb', 'group', 'version', 'resource', 'subresource']);
  private watchers = this.metrics.gauge('apiserver_registered_watchers', 'Number of currently registered watchers for a given resource.', ['group', 'version', 'kind']);
  private openWatches = new Set<ServerResponse>();
  /** Compressed runs of objects that full lists are assembled from (see listgzip.ts). */
  private readonly listPieces = new ListPieceCache(64 << 20, GZIP_LEVEL);
  private ready = false;
  private advanceTimer?: NodeJS.Timeout;

  constructor(readonly opts: ApiServerOptions) {
    for (const rt of opts.resources) {
      const s = new ResourceStorage(rt, opts.store, this);
      this.storages.set(rt, s);
      this.byPath.set(`${rt.group}/${rt.version}/${rt.plural}`, rt);
    }
    this.watchers.collect(() => [...this.storages.values()].map((s) => [
      { group: s.rt.group, version: s.rt.version, kind: s.rt.kind }, s.cache.watcherCount]));
    this.metrics.gauge('apiserver_storage_revision', 'The store\'s current revision.').collect(() => [[{}, opts.store.revision]]);
  }

  storageFor(group: string, plural: string): ResourceStorage | undefined {
    for (const [rt, s] of this.storages) if (rt.group === group && rt.plural === plural) return s;
    return undefined;
  }

  private namespacesStorage?: ResourceStorage;
  private get namespaces(): ResourceStorage { return (this.namespacesStorage ??= this.storageFor('', 'namespaces')!); }

  /**
   * Whether a stored Namespace is terminating, by its stored value: the store's KeyValues are
   * immutable and shared, and any change to a namespace (deletion, termination) is a new one,
   * so an entry can never be stale; entries go with the values they describe.
   */
  private readonly namespaceTerminating = new WeakMap<KeyValue, boolean>();

  async checkNamespaceWritable(ns: string, rt: ResourceType, name: string): Promise<void> {
    const kv = await this.namespaces.getStored(undefined, ns);
    if (!kv) throw errNotFound({ group: '', resource: 'namespaces' }, ns);
    let terminating = this.namespaceTerminating.get(kv);
    if (terminating === undefined) {
      const obj = decodeFor(this.namespaces.rt, kv);
      terminating = !!obj.metadata.deletionTimestamp || (obj.status as { phase?: string } | undefined)?.phase === 'Terminating';
      this.namespaceTerminating.set(kv, terminating);
    }
    if (terminating) throw namespaceTerminatingError(rt, name, ns);
  }

  /** Starts the watch caches and the system namespaces, then listens. */
  async start(): Promise<{ url: string; port: number }> {
    for (const s of this.storages.values()) s.cache.start();
    // Keep every cache's revision current for bookmarks even when only other kinds change.
    this.advanceTimer = setInterval(() => {
      for (const s of this.storages.values()) s.cache.advance(this.opts.store.revision);
    }, 1000);
    this.advanceTimer.unref();
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      try {
        await this.namespaces.create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      } catch (e) {
        if (!(e instanceof StatusError && e.code === 409)) throw e;
      }
    }
    const serve = async (host: string, port: number): Promise<Server> => {
      const server = createHttpsServer({ cert: this.opts.tls.cert, key: this.opts.tls.key, keepAliveTimeout: 65_000, requestTimeout: 0 },
        (req, res) => { void this.handle(req, res); });
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => { void this.handleUpgrade(req, socket, head); });
      server.headersTimeout = 60_000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
      return server;
    };
    this.server = await serve(this.opts.host ?? '127.0.0.1', this.opts.port ?? 6443);
    const addr = this.server.address() as AddressInfo;
    for (const h of this.opts.extraHosts ?? []) this.extraServers.push(await serve(h, addr.port));
    this.ready = true;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    return { url: `https://${host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host}:${addr.port}`, port: addr.port };
  }

  async stop(): Promise<void> {
    this.ready = false;
    clearInterval(this.advanceTimer);
    for (const s of this.storages.values()) s.cache.stop();
    for (const res of this.openWatches) res.end();
    await Promise.all([this.server, ...this.extraServers].map((server) => new Promise<void>((resolve) => {
      if (!server) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    })));
  }

  // ---- request entry ---------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = requestUrl(req.url ?? '/');
    const labels = { verb: req.method ?? '', group: '', version: '', resource: '', subresource: '' };
    let code = 200;
    try {
      if (!PUBLIC_PATHS.has(url.pathname) && !this.authenticate(req)) throw errUnauthorized();
      code = await this.route(req, res, url, labels);
    } catch (e) {
      code = writeError(res, e);
      if (!(e instanceof StatusError)) console.error(`apiserver: ${req.method} ${req.url}: ${(e as Error).stack ?? e}`);
    } finally {
      const secs = Number(process.hrtime.bigint() - started) / 1e9;
      this.requests.inc({ ...labels, code: String(code) });
      if (labels.verb !== 'WATCH') this.latency.observe(labels, secs);
    }
  }

  private authenticate(req: IncomingMessage): boolean {
    const h = req.headers.authorization;
    if (!h || !h.startsWith('Bearer ')) return false;
    return this.opts.tokens.has(h.slice(7).trim());
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: RequestUrl, labels: Record<string, string>): Promise<number> {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const accept = parseAccept(req.headers.accept);
    switch (path) {
      case '/healthz': case '/livez': case '/readyz': case '/healthz/ping': case '/livez/ping': case '/readyz/ping': {
        const ok = path.startsWith('/readyz') ? this.ready : true;
        res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
        res.end(ok ? 'ok' : 'not ready');
        return ok ? 200 : 500;
      }
      case '/version': {
        const v = this.opts.version ?? { major: '1', minor: '32', gitVersion: 'v1.32.0+podnet' };
        writeJson(res, 200, { ...v, gitCommit: 'podnet', gitTreeState: 'clean', buildDate: '2026-01-01T00:00:00Z',
          goVersion: `node${process.versions.node}`, compiler: 'tsc', platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}` });
        return 200;
      }
      case '/metrics':
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(this.metrics.render());
        return 200;
      case '/openapi/v3':
        writeJson(res, 200, openapiV3Index(this.opts.resources));
        return 200;
      case '/openapi/v2':
        throw errNotFound({ group: '', resource: 'openapi' }, 'v2');
      case '/api': {
        const agg = this.aggregatedVersion(accept);
        if (agg) return this.writeAggregated(res, agg, true);
        const host = req.headers.host ?? '127.0.0.1:6443';
        writeJson(res, 200, apiVersions(host));
        return 200;
      }
      case '/apis': {
        const agg = this.aggregatedVersion(accept);
        if (agg) return this.writeAggregated(res, agg, false);
        writeJson(res, 200, apiGroupList(this.opts.resources));
        return 200;
      }
    }
    if (path.startsWith('/openapi/v3/')) {
      const doc = openapiV3DocumentJSON(path.slice('/openapi/v3/'.length), this.opts.resources);
      if (!doc) throw notFoundPath(path);
      await sendBody(req, res, 200, 'application/json', doc.json, { ETag: `"${doc.hash}"`,
        'Cache-Control': url.searchParams.has('hash') ? 'public, immutable' : 'no-cache, private' });
      return 200;
    }
    const seg = path.split('/').slice(1).map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (seg[0] === 'api' && seg.length >= 2) { group = ''; version = seg[1]; rest = seg.slice(2); }
    else if (seg[0] === 'apis' && seg.length >= 2) {
      group = seg[1];
      if (seg.length === 2) {
        const g = apiGroupDoc(this.opts.resources, group);
        if (!g) throw errNotFound({ group: '', resource: '' }, path);
        writeJson(res, 200, g);
        return 200;
      }
      version = seg[2]; rest = seg.slice(3);
    } else {
      throw notFoundPath(path);
    }
    labels.group = group; labels.version = version;
    if (rest.length === 0) {
      const list = apiResourceList(this.opts.resources, group, version);
      if (!list) throw notFoundPath(path);
      writeJson(res, 200, list);
      return 200;
    }
    // Legacy watch paths: /api/v1/watch/namespaces/ns/pods
    let watchPath = false;
    if (rest[0] === 'watch') { watchPath = true; rest = rest.slice(1); }
    const route = this.resolve(group, version, rest);
    if (!route) throw notFoundPath(path);
    labels.resource = route.rt.plural;
    labels.subresource = route.subresource ?? '';
    const q = url.searchParams;
    const isWatch = watchPath || q.get('watch') === 'true' || q.get('watch') === '1';
    if (isWatch) {
      if (method !== 'GET') throw errMethodNotAllowed(`${method} is not allowed on watch`);
      labels.verb = 'WATCH';
      return this.serveWatch(req, res, route, q, accept);
    }
    labels.verb = method === 'GET' ? (route.name ? 'GET' : 'LIST') : method;
    if (route.subresource === 'log') {
      if (method !== 'GET') throw errMethodNotAllowed(`${method} is not allowed on pods/log`);
      return this.serveLogs(req, res, route, q);
    }
    return this.serveResource(req, res, route, q, accept, method);
  }

  private aggregatedVersion(accept: ReturnType<typeof parseAccept>): 'v2' | 'v2beta1' | undefined {
    for (const m of accept) {
      if (m.params.g === 'apidiscovery.k8s.io' && m.params.as === 'APIGroupDiscoveryList') {
        if (m.params.v === 'v2' || m.params.v === 'v2beta1') return m.params.v;
      }
      if (m.type === 'application/json' && !m.params.as) return undefined;
    }
    return undefined;
  }

  private writeAggregated(res: ServerResponse, v: 'v2' | 'v2beta1', legacy: boolean): number {
    const body = aggregatedDiscovery(this.opts.resources, legacy, v);
    writeJson(res, 200, body, `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`);
    return 200;
  }

  /** Maps the path after /api/v1 or /apis/G/V to a resource, namespace, name, subresource. */
  private resolve(group: string, version: string, rest: string[]): Route | undefined {
    const lookup = (plural: string) => this.byPath.get(`${group}/${version}/${plural}`);
    let namespace: string | undefined;
    let parts = rest;
    if (parts[0] === 'namespaces' && parts.length >= 3 && lookup(parts[2])?.namespaced) {
      namespace = parts[1];
      parts = parts.slice(2);
    }
    const rt = lookup(parts[0]);
    if (!rt || parts.length > 3) return undefined;
    if (rt.namespaced && namespace === undefined && parts.length > 1) return undefined; // namespaced object without a namespace
    const storage = this.storages.get(rt)!;
    const route: Route = { rt, storage, namespace, name: parts[1], subresource: parts[2] };
    if (route.subresource) {
      const ok = (route.subresource === 'status' && rt.subresources?.status)
        || (route.subresource === 'scale' && rt.subresources?.scale)
        || (route.subresource === 'finalize' && rt.kind === 'Namespace')
        || (route.subresource === 'log' && rt.kind === 'Pod' && rt.group === '');
      if (!ok) return undefined;
    }
    return route;
  }

  // ---- CRUD ------------------------------------------------------------------------------

  private async serveResource(req: IncomingMessage, res: ServerResponse, r: Route, q: URLSearchParams,
                              accept: ReturnType<typeof parseAccept>, method: string): Promise<number> {
    const { rt, storage } = r;
    const shape = negotiate(accept, method === 'GET' && r.subresource !== 'scale');
    if (!shape) throw errNotAcceptable('only the following media types are accepted: application/json, application/yaml');
    const dryRun = q.getAll('dryRun').includes('All');
    const warnings: string[] = [];
    const fieldValidation = (q.get('fieldValidation') ?? 'Warn') as 'Strict' | 'Warn' | 'Ignore';
    if (!['Strict', 'Warn', 'Ignore'].includes(fieldValidation)) {
      throw errBadRequest(`fieldValidation must be one of "Ignore", "Warn", or "Strict"`);
    }

    if (method === 'GET') {
      if (r.name) {
        let obj = await storage.get(r.namespace, r.name);
        if (r.subresource === 'scale') obj = toScale(rt, obj);
        return this.writeObject(res, 200, obj, shape, rt, q, warnings);
      }
      const listOpts = {
        namespace: r.namespace, labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector'),
        limit: Number(q.get('limit') ?? 0) || 0, continue: q.get('continue'),
        resourceVersion: q.get('resourceVersion'), resourceVersionMatch: q.get('resourceVersionMatch'),
      };
      if (shape.kind === 'json' && await this.streamJsonList(req, res, rt, storage, listOpts)) return 200;
      const list = await storage.list(listOpts, shape.kind === 'table' || shape.kind === 'partial');
      const meta: Record<string, unknown> = { resourceVersion: list.resourceVersion };
      if (list.continue) meta.continue = list.continue;
      if (list.remainingItemCount !== undefined) meta.remainingItemCount = list.remainingItemCount;
      if (shape.kind === 'table') {
        writeShaped(res, 200, this.table(rt, list.objects ?? [], shape.version, q.get('includeObject'), meta, true), shape);
      } else if (shape.kind === 'partial') {
        writeShaped(res, 200, {
          kind: 'PartialObjectMetadataList', apiVersion: `meta.k8s.io/${shape.version}`, metadata: meta,
          items: (list.objects ?? []).map((o) => partial(o, shape.version)),
        }, shape);
      } else {
        const head = JSON.stringify({ kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt.group, rt.version), metadata: meta });
        if (shape.kind === 'json' && list.kvs) {
          let size = 0;
          for (const kv of list.kvs) size += kv.value.length;
          if (size >= GZIP_MIN_BYTES && acceptsGzip(req)) {
            // A large page, gzipped as a full list is: mostly from cached compressed runs.
            res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Content-Encoding': 'gzip' });
            const gz = new GzipListWriter(this.listPieces, writerTo(res));
            await gz.begin(`${head.slice(0, -1)},"items":[`);
            await gz.addKvs(list.kvs);
            await gz.end(']}');
            res.end();
          } else {
            const body = Buffer.concat([Buffer.from(`${head.slice(0, -1)},"items":[`), objectsJsonBuffer(list.kvs, false), Buffer.from(']}')]);
            await sendBody(req, res, 200, 'application/json', body);
          }
        } else {
          const items = list.kvs ? list.kvs.map(objectJsonWithRv) : list.items;
          writeShaped(res, 200, `${head.slice(0, -1)},"items":[${items.join(',')}]}`, shape);
        }
      }
      return 200;
    }

    if (method === 'DELETE') {
      let body: unknown = {};
      const buf = await readBody(req);
      if (buf.length && buf.toString('utf8').trim()) body = parseBody(buf, req.headers['content-type']);
      const o = deleteOptions(body, q);
      if (!r.name) {
        const deleted = await storage.deleteCollection({ namespace: r.namespace, labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector') }, o, { dryRun });
        writeShaped(res, 200, { kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt.group, rt.version), metadata: {}, items: deleted }, shape);
        return 200;
      }
      if (r.subresource) throw errMethodNotAllowed(`DELETE is not allowed on ${rt.plural}/${r.subresource}`);
      const { obj, deleted } = await storage.delete(r.namespace, r.name, o, { dryRun });
      if (deleted && rt.kind !== 'Pod' && rt.kind !== 'Service') {
        writeJson(res, 200, successStatus({ name: r.name, group: rt.group || undefined, kind: rt.plural, uid: obj.metadata.uid }));
      } else {
        writeShaped(res, 200, obj, shape);
      }
      return 200;
    }

    const buf = await readBody(req);
    const input = parseBody(buf, req.headers['content-type']);

    if (method === 'POST') {
      if (r.name) throw errMethodNotAllowed(`POST is not allowed on a named ${rt.singular}`);
      const obj = this.decode(rt, input, fieldValidation, warnings);
      const created = await storage.create(r.namespace, obj, { dryRun });
      return this.writeObject(res, 201, created, shape, rt, q, warnings);
    }

    if (!r.name) throw errMethodNotAllowed(`${method} is not allowed on a collection`);

    if (method === 'PUT') {
      if (r.subresource === 'scale') {
        const scale = input as KObject;
        const replicas = (scale?.spec as { replicas?: unknown } | undefined)?.replicas;
        const updated = await this.writeScale(r, replicas, scale?.metadata?.resourceVersion, dryRun);
        return this.writeObject(res, 200, updated, shape, rt, q, warnings);
      }
      const obj = this.decode(rt, input, fieldValidation, warnings);
      let updated: KObject;
      if (r.subresource === 'finalize') {
        updated = await storage.guaranteedUpdate(r.namespace, r.name, () => obj,
          { dryRun, subresource: 'finalize', precondition: obj.metadata?.resourceVersion });
      } else {
        updated = await storage.update(r.namespace, r.name, obj, { dryRun, subresource: r.subresource });
      }
      return this.writeObject(res, 200, updated, shape, rt, q, warnings);
    }

    if (method === 'PATCH') {
      const ct = (req.headers['content-type'] ?? '').split(';')[0].trim();
      const applyPatch = (target: KObject, model: string): KObject => {
        try {
          switch (ct) {
            case 'application/json-patch+json': return applyJsonPatch(target, input as never) as KObject;
            case 'application/merge-patch+json': return applyMergePatch(target, input) as KObject;
            case 'application/strategic-merge-patch+json': return applyStrategicMergePatch(target, input, patchMetaFor(model)) as KObject;
            case 'application/apply-patch+yaml':
              throw failure(415, 'UnsupportedMediaType', 'server-side apply is not supported by podnet yet: use client-side `kubectl apply` (the default)');
            default:
              throw failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`);
          }
        } catch (e) {
          if (e instanceof StatusError) throw e;
          throw errInvalidPatch(e as Error);
        }
      };
      if (r.subresource === 'scale') {
        const cur = toScale(rt, await storage.get(r.namespace, r.name));
        const patched = applyPatch(cur, 'V1Scale');
        const replicas = (patched.spec as { replicas?: unknown } | undefined)?.replicas;
        const rv = patched.metadata?.resourceVersion !== cur.metadata.resourceVersion ? patched.metadata?.resourceVersion : undefined;
        const updated = await this.writeScale(r, replicas, rv, dryRun);
        return this.writeObject(res, 200, updated, shape, rt, q, warnings);
      }
      const updated = await storage.guaranteedUpdate(r.namespace, r.name, (cur) => {
        const rvBefore = cur.metadata.resourceVersion;
        const patched = applyPatch(cur, rt.model);
        if (!isObject(patched)) throw errBadRequest('the patch did not produce an object');
        const obj = this.decode(rt, patched, fieldValidation, warnings, 'patch');
        // A patch that does not set resourceVersion is not a precondition.
        if (obj.metadata.resourceVersion === rvBefore) delete obj.metadata.resourceVersion;
        return obj;
      }, { dryRun, subresource: r.subresource });
      return this.writeObject(res, 200, updated, shape, rt, q, warnings);
    }
    throw errMethodNotAllowed(`${method} is not supported`);
  }

  /**
   * Writes a whole JSON list as it is read from the store, batch by batch, waiting for the
   * socket to drain between batches: memory stays flat however long the list is. Gzipped when
   * the client takes it (lists this size always pass kube-apiserver's threshold), from cached
   * compressed runs of unchanged objects (listgzip.ts).
   */
  private async streamJsonList(req: IncomingMessage, res: ServerResponse, rt: ResourceType, storage: ResourceStorage,
                               opts: Parameters<ResourceStorage['list']>[0]): Promise<boolean> {
    const send = writerTo(res);
    const gz = acceptsGzip(req) ? new GzipListWriter(this.listPieces, send) : undefined;
    let first = true;
    let started: Promise<void> = Promise.resolve();
    try {
      const streamed = await storage.streamList(opts, (rv) => {
        const headers: Record<string, string> = { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' };
        if (gz) headers['Content-Encoding'] = 'gzip';
        res.writeHead(200, headers);
        const head = JSON.stringify({ kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt.group, rt.version), metadata: { resourceVersion: rv } });
        started = gz ? gz.begin(`${head.slice(0, -1)},"items":[`) : send(`${head.slice(0, -1)},"items":[`);
      }, async (items) => {
        await started;
        if (gz) {
          if (typeof items[0] === 'string') await gz.addTexts(items as string[]);
          else await gz.addKvs(items as KeyValue[]);
          return;
        }
        await send(typeof items[0] === 'string'
          ? (first ? '' : ',') + (items as string[]).join(',')
          : objectsJsonBuffer(items as KeyValue[], !first));
        first = false;
      });
      if (!streamed) return false;
      await started;
      if (gz) { await gz.end(']}'); res.end(); } else res.end(']}');
      return true;
    } catch (e) {
      if (res.headersSent) { res.destroy(); return true; }
      throw e;
    }
  }

  /** Checks apiVersion/kind and unknown fields of an incoming object, as the decoder does. */
  private decode(rt: ResourceType, input: unknown, fieldValidation: 'Strict' | 'Warn' | 'Ignore', warnings: string[], mode?: 'patch'): KObject {
    const want = apiVersionOf(rt.group, rt.version);
    const cannot = (detail: string) => errBadRequest(`${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: ${detail}`);
    if (!isObject(input)) throw cannot('the object provided is not a JSON object');
    const obj = input as KObject;
    if (obj.apiVersion !== undefined && obj.apiVersion !== want) {
      const { group } = splitApiVersion(String(obj.apiVersion));
      if (group !== rt.group || mode !== 'patch') {
        throw errBadRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${want})`);
      }
    }
    if (obj.kind !== undefined && obj.kind !== rt.kind) {
      throw errBadRequest(`the kind in the data (${String(obj.kind)}) does not match the expected kind (${rt.kind})`);
    }
    if (obj.metadata !== undefined && !isObject(obj.metadata)) throw cannot('json: cannot unmarshal into Go struct field .metadata of type v1.ObjectMeta');
    const { unknown, typeErrors, decodeError } = checkFields(rt.model, obj) as ReturnType<typeof checkFields> & { decodeError?: string };
    if (decodeError) throw cannot(decodeError);
    if (typeErrors.length) throw errInvalid(rt.kind, rt.group, String((obj.metadata as { name?: string } | undefined)?.name ?? ''), typeErrors);
    if (unknown.length) {
      if (fieldValidation === 'Strict') {
        throw cannot(`strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(', ')}`);
      }
      if (fieldValidation === 'Warn') for (const u of unknown) warnings.push(`unknown field "${u}"`);
      pruneUnknownFields(obj, unknown);
    }
    if (!isObject(obj.metadata)) obj.metadata = {};
    return obj;
  }

  private async writeScale(r: Route, replicas: unknown, rv: string | undefined, dryRun: boolean): Promise<KObject> {
    const spec = r.rt.subresources!.scale!;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw errInvalid('Scale', 'autoscaling', r.name!, [{ type: 'FieldValueInvalid', field: 'spec.replicas', value: replicas, detail: 'must be greater than or equal to 0' }]);
    }
    const updated = await r.storage.guaranteedUpdate(r.namespace, r.name!, (cur) => {
      setPath(cur, spec.specReplicasPath, replicas);
      return cur;
    }, { dryRun, precondition: rv });
    return toScale(r.rt, updated);
  }

  private writeObject(res: ServerResponse, code: number, obj: KObject, shape: ResponseShape, rt: ResourceType,
                      q: URLSearchParams, warnings: string[]): number {
    if (shape.kind === 'table') writeShaped(res, code, this.table(rt, [obj], shape.version, q.get('includeObject'), { resourceVersion: obj.metadata.resourceVersion }, true), shape, warnings);
    else if (shape.kind === 'partial') writeShaped(res, code, partial(obj, shape.version), shape, warnings);
    else if (shape.kind === 'json') writeJson(res, code, storedJsonOf(obj) ?? obj, 'application/json', warnings);
    else writeShaped(res, code, obj, shape, warnings);
    return code;
  }

  /** A meta.k8s.io Table, as kubectl get asks for it. */
  private table(rt: ResourceType, objs: KObject[], version: string, includeObject: string | null,
                metadata: Record<string, unknown>, withColumns: boolean): Record<string, unknown> {
    const conv = rt.table ?? defaultTable;
    const now = new Date();
    const include = includeObject ?? 'Metadata';
    const rows = objs.map((o) => {
      let cells: unknown[];
      try { cells = conv.row(o, now); } catch { cells = [o.metadata.name, ...conv.columns.slice(1).map(() => '<error>')]; }
      const row: Record<string, unknown> = { cells };
      if (include === 'Object') row.object = o;
      else if (include === 'Metadata') row.object = partial(o, version);
      return row;
    });
    const t: Record<string, unknown> = { kind: 'Table', apiVersion: `meta.k8s.io/${version}`, metadata };
    if (withColumns) t.columnDefinitions = conv.columns;
    t.rows = rows;
    return t;
  }

  // ---- pods/exec (WebSocket) -------------------------------------------------------------

  /**
   * `kubectl exec`: after checking the token, the pod and the container, the WebSocket upgrade
   * is passed through to the kubelet API of the pod's node, which completes it and runs the
   * command (v5/v4.channel.k8s.io). The API server then just relays bytes both ways.
   */
  private async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const reject = (e: unknown) => {
      const st = e instanceof StatusError ? e.status : { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: String((e as Error)?.message ?? e), reason: 'InternalError', code: 500 };
      const body = JSON.stringify(st);
      socket.end(`HTTP/1.1 ${st.code} ${st.reason ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    };
    socket.on('error', () => undefined);
    try {
      if (!this.authenticate(req)) throw errUnauthorized();
      const url = new URL(req.url ?? '/', 'https://apiserver');
      const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
      if (!m) throw notFoundPath(url.pathname);
      if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
        throw errBadRequest('podnet serves exec over WebSockets only (the v5.channel.k8s.io protocol kubectl 1.30+ uses), not SPDY');
      }
      const rt = this.opts.resources.find((x) => x.group === '' && x.plural === 'pods')!;
      const route: Route = { rt, storage: this.storages.get(rt)!, namespace: decodeURIComponent(m[1]), name: decodeURIComponent(m[2]), subresource: 'exec' };
      const t = await this.kubeletTarget(route, url.searchParams);
      const q = new URLSearchParams();
      for (const k of ['command', 'stdin', 'stdout', 'stderr', 'tty', 'input', 'output', 'error']) for (const v of url.searchParams.getAll(k)) q.append(k, v);
      const path = `/exec/${encodeURIComponent(route.namespace!)}/${encodeURIComponent(route.name!)}/${encodeURIComponent(t.container)}?${q}`;
      const upstream = connect({ host: t.address, port: t.port });
      upstream.on('error', (e) => reject(errBadRequest(`cannot reach the kubelet of node ${t.nodeName}: ${e.message}`)));
      upstream.on('connect', () => {
        const h = req.headers;
        const lines = [`GET ${path} HTTP/1.1`, `Host: ${t.address}:${t.port}`, 'Connection: Upgrade', 'Upgrade: websocket',
          `Sec-WebSocket-Key: ${h['sec-websocket-key'] ?? ''}`, `Sec-WebSocket-Version: ${h['sec-websocket-version'] ?? '13'}`,
          `Authorization: Bearer ${this.opts.kubeletToken ?? ''}`];
        if (h['sec-websocket-protocol']) lines.push(`Sec-WebSocket-Protocol: ${h['sec-websocket-protocol']}`);
        upstream.write(lines.join('\r\n') + '\r\n\r\n');
        if (head.length) upstream.write(head);
        upstream.removeAllListeners('error');
        upstream.on('error', () => socket.destroy());
        socket.on('close', () => upstream.destroy());
        upstream.on('close', () => socket.destroy());
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
    } catch (e) {
      reject(e);
    }
  }

  // ---- pods/log --------------------------------------------------------------------------

  /** The container a logs/exec request means, and where its node's kubelet API listens. */
  private async kubeletTarget(r: Route, q: URLSearchParams): Promise<{ container: string; address: string; port: number; nodeName: string }> {
    const pod = await r.storage.get(r.namespace, r.name!);
    const spec = (pod.spec ?? {}) as { containers?: { name: string }[]; initContainers?: { name: string }[]; nodeName?: string };
    const names = (spec.containers ?? []).map((c) => c.name);
    const all = [...names, ...(spec.initContainers ?? []).map((c) => c.name)];
    let container = q.get('container') ?? '';
    if (!container) {
      if (names.length !== 1) throw errBadRequest(`a container name must be specified for pod ${r.name}, choose one of: [${names.join(' ')}]`);
      container = names[0];
    } else if (!all.includes(container)) {
      throw errBadRequest(`container ${container} is not valid for pod ${r.name}`);
    }
    if (!spec.nodeName) throw errBadRequest(`pod ${r.name} does not have a host assigned`);
    const node = await this.storageFor('', 'nodes')?.tryGet(undefined, spec.nodeName);
    if (!node) throw errBadRequest(`node "${spec.nodeName}" of pod ${r.name} not found`);
    const st = (node.status ?? {}) as { addresses?: { type: string; address: string }[]; daemonEndpoints?: { kubeletEndpoint?: { Port?: number } } };
    const address = node.metadata.annotations?.['podnet.io/kubelet-address'] ?? st.addresses?.find((a) => a.type === 'InternalIP')?.address;
    const port = st.daemonEndpoints?.kubeletEndpoint?.Port;
    if (!address || !port) throw errBadRequest(`node "${spec.nodeName}" does not publish a kubelet endpoint`);
    return { container, address, port, nodeName: spec.nodeName };
  }

  /** `kubectl logs`: proxied to the kubelet API of the pod's node, as kube-apiserver does. */
  private async serveLogs(req: IncomingMessage, res: ServerResponse, r: Route, q: URLSearchParams): Promise<number> {
    const { container, address, port, nodeName } = await this.kubeletTarget(r, q);
    const params = new URLSearchParams();
    for (const k of ['follow', 'previous', 'timestamps', 'tailLines', 'limitBytes', 'sinceSeconds']) {
      const v = q.get(k);
      if (v !== null) params.set(k, v);
    }
    const host = address.includes(':') ? `[${address}]` : address;
    const path = `/containerLogs/${encodeURIComponent(r.namespace ?? '')}/${encodeURIComponent(r.name!)}/${encodeURIComponent(container)}?${params}`;
    const { request } = await import('node:http');
    return new Promise<number>((resolve, reject) => {
      const up = request({ host: address, port, path, method: 'GET', headers: { Authorization: `Bearer ${this.opts.kubeletToken ?? ''}` } }, (kres) => {
        if (kres.statusCode !== 200) {
          let body = '';
          kres.on('data', (d) => { body += d; });
          kres.on('end', () => reject(errBadRequest(body.trim() || `the kubelet of node ${nodeName} answered ${kres.statusCode}`)));
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
        kres.pipe(res);
        kres.on('end', () => resolve(200));
        kres.on('error', () => { res.destroy(); resolve(200); });
      });
      up.on('error', (e) => reject(errBadRequest(`cannot reach the kubelet of node ${nodeName} at ${host}:${port}: ${e.message}`)));
      req.on('close', () => up.destroy());
      up.end();
    });
  }

  // ---- watch -----------------------------------------------------------------------------

  private async serveWatch(req: IncomingMessage, res: ServerResponse, r: Route, q: URLSearchParams,
                           accept: ReturnType<typeof parseAccept>): Promise<number> {
    const { rt, storage } = r;
    const shape = negotiate(accept, true);
    if (!shape || shape.kind === 'yaml') throw errNotAcceptable('watch supports only application/json');
    let fieldSelector = q.get('fieldSelector');
    if (r.name) fieldSelector = fieldSelector ? `${fieldSelector},metadata.name=${r.name}` : `metadata.name=${r.name}`;
    const filter = buildFilter(rt, r.namespace, q.get('labelSelector'), fieldSelector);
    const rvParam = q.get('resourceVersion') ?? '';
    const sendInitial = q.get('sendInitialEvents');
    const bookmarks = q.get('allowWatchBookmarks') === 'true';
    if (sendInitial === 'true' && q.get('resourceVersionMatch') !== 'NotOlderThan') {
      throw errInvalid('ListOptions', 'meta.k8s.io', '', [{ type: 'FieldValueForbidden', field: 'resourceVersionMatch', detail: 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan' }]);
    }
    if (sendInitial === 'true' && !bookmarks) {
      throw errInvalid('ListOptions', 'meta.k8s.io', '', [{ type: 'FieldValueForbidden', field: 'allowWatchBookmarks', detail: 'allowWatchBookmarks must be set to true when sendInitialEvents is set' }]);
    }
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? 0) || defaultWatchTimeout();
    const cache = storage.cache;

    let from: number;
    let initial: KObject[] = [];
    const wantsInitial = sendInitial === 'true' || (sendInitial === null && (rvParam === '' || rvParam === '0'));
    if (rvParam !== '' && rvParam !== '0') {
      from = Number(rvParam);
      if (!Number.isInteger(from) || from < 0) throw errBadRequest(`invalid resource version: ${rvParam}`);
      if (from > cache.revision && !(await cache.waitFor(from))) {
        throw failure(504, 'Timeout', `Too large resource version: ${from}, current: ${cache.revision}`,
          { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
      }
    } else {
      from = await cache.currentRevision();
    }
    if (wantsInitial) {
      const at = sendInitial === 'true' && rvParam !== '' && rvParam !== '0' ? Math.max(from, await cache.currentRevision()) : from;
      initial = await storage.snapshot(filter, at);
      from = at;
    }

    res.writeHead(200, {
      'Content-Type': shape.kind === 'table' ? `application/json;as=Table;v=${shape.version};g=meta.k8s.io` : 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    res.flushHeaders();
    this.openWatches.add(res);

    let columnsSent = false;
    let lastRv = from;
    const encode = (type: string, object: KObject, ev?: CachedEvent): string => {
      if (shape.kind === 'table') {
        const t = this.table(rt, [object], shape.version, q.get('includeObject'), { resourceVersion: object.metadata.resourceVersion }, !columnsSent);
        columnsSent = true;
        return JSON.stringify({ type, object: t }) + '\n';
      }
      if (shape.kind === 'partial') return JSON.stringify({ type, object: partial(object, shape.version) }) + '\n';
      if (ev) return (ev.line ??= JSON.stringify({ type, object }) + '\n');
      return JSON.stringify({ type, object }) + '\n';
    };
    // A watcher whose connection cannot keep up is cut off rather than buffered without bound.
    const HIGH_WATER = 16 * 1024 * 1024;
    let closed = false;
    let unregister = () => {};
    // `cutOff`: the watcher fell behind; its connection is dropped so whatever is buffered
    // for it is freed at once, rather than ended politely behind that backlog.
    const finish = (cutOff = false) => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      clearInterval(bookmarkTimer);
      unregister();
      this.openWatches.delete(res);
      if (cutOff) res.destroy(); else res.end();
    };
    const sendBookmark = (annotations?: Record<string, string>) => {
      const metadata: Record<string, unknown> = { resourceVersion: String(lastRv) };
      if (annotations) metadata.annotations = annotations;
      res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: rt.kind, apiVersion: apiVersionOf(rt.group, rt.version), metadata } }) + '\n');
    };
    const timer = setTimeout(() => finish(), timeoutSeconds * 1000);
    const bookmarkTimer = bookmarks ? setInterval(() => {
      lastRv = Math.max(lastRv, cache.revision);
      sendBookmark();
    }, this.opts.bookmarkIntervalMs ?? 60_000) : undefined;
    req.on('close', () => finish());
    res.on('error', () => finish());

    for (const o of initial) res.write(encode('ADDED', o));
    if (sendInitial === 'true') sendBookmark({ 'k8s.io/initial-events-end': 'true' });
    try {
      unregister = cache.watch(from, filter, {
        send: (type, object, ev) => {
          if (closed) return true;
          lastRv = Number(object.metadata.resourceVersion) || lastRv;
          res.write(encode(type, object, ev));
          return res.writableLength < HIGH_WATER;
        },
        progress: (rev) => { lastRv = Math.max(lastRv, rev); },
        close: () => finish(true),
      });
    } catch (e) {
      if (e instanceof TooOldError) {
        res.write(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
          message: `too old resource version: ${e.requested} (${e.oldest})`, reason: 'Expired', code: 410 } }) + '\n');
        finish();
        return 200;
      }
      finish();
      throw e;
    }
    if (closed) unregister();
    return 200;
  }
}

/** What the handlers use of a request's URL. */
export interface RequestUrl { pathname: string; searchParams: URLSearchParams }

/** Paths made only of these, with no "." or ".." segment, are the same after WHATWG parsing. */
const PLAIN_PATH = /^\/[A-Za-z0-9._~\-/]*$/;
const DOT_SEGMENT = /\/\.\.?(\/|$)/;

/**
 * The request target's path and query. A plain path (every API path kubectl and client-go
 * send) is split as is, which is what `new URL` would make of it, without the cost of a full
 * WHATWG parse on every request; anything else (dot segments, escapes, other characters) is
 * parsed and normalized by `new URL`.
 */
export function requestUrl(target: string): RequestUrl {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  if (PLAIN_PATH.test(path) && !DOT_SEGMENT.test(path)) {
    const hash = target.indexOf('#', q);
    const query = q < 0 ? '' : target.slice(q + 1, hash < 0 ? undefined : hash);
    return { pathname: path, searchParams: new URLSearchParams(query) };
  }
  return new URL(target, 'https://apiserver');
}

const notFoundPath = (path: string) => failure(404, 'NotFound', 'the server could not find the requested resource',
  { causes: [{ reason: 'UnexpectedServerResponse', message: `404 page not found: ${path}` }] });

function errInvalidPatch(e: Error): StatusError {
  const code = e instanceof PatchError ? e.code : 422;
  const reason = code === 400 ? 'BadRequest' : code === 500 ? 'InternalError' : 'Invalid';
  return failure(code, reason, code === 422 ? `the server rejected our request due to an error in our request: ${e.message}` : e.message);
}

function partial(o: KObject, version: string): Record<string, unknown> {
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: o.metadata };
}

function getPath(o: unknown, path: string): unknown {
  let cur: unknown = o;
  for (const p of path.split('.')) {
    if (!isObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

function setPath(o: Record<string, unknown>, path: string, v: unknown): void {
  const parts = path.split('.');
  let cur = o;
  for (const p of parts.slice(0, -1)) {
    if (!isObject(cur[p])) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]] = v;
}

/** The autoscaling/v1 Scale view of an object with a scale subresource. */
function toScale(rt: ResourceType, o: KObject): KObject {
  const s = rt.subresources!.scale!;
  const sel = getPath(o, s.labelSelectorPath);
  let selector = '';
  if (typeof sel === 'string') selector = sel;
  else if (isObject(sel)) {
    try { selector = selectorToString(selectorFromLabelSelector(sel as never)); } catch { selector = ''; }
  }
  const m = o.metadata;
  return {
    kind: 'Scale', apiVersion: 'autoscaling/v1',
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp },
    spec: { replicas: Number(getPath(o, s.specReplicasPath) ?? 0) },
    status: { replicas: Number(getPath(o, s.statusReplicasPath) ?? 0), selector },
  };
}

function deleteOptions(body: unknown, q: URLSearchParams): DeleteOptions {
  const o: DeleteOptions = {};
  if (isObject(body)) {
    if (body.kind !== undefined && body.kind !== 'DeleteOptions') throw errBadRequest(`expected DeleteOptions, got ${String(body.kind)}`);
    if (typeof body.gracePeriodSeconds === 'number') o.gracePeriodSeconds = body.gracePeriodSeconds;
    if (typeof body.propagationPolicy === 'string') o.propagationPolicy = body.propagationPolicy as DeleteOptions['propagationPolicy'];
    if (typeof body.orphanDependents === 'boolean') o.orphanDependents = body.orphanDependents;
    if (isObject(body.preconditions)) o.preconditions = body.preconditions as DeleteOptions['preconditions'];
  }
  if (q.has('gracePeriodSeconds')) o.gracePeriodSeconds = Number(q.get('gracePeriodSeconds'));
  if (q.has('propagationPolicy')) o.propagationPolicy = q.get('propagationPolicy') as DeleteOptions['propagationPolicy'];
  if (q.has('orphanDependents')) o.orphanDependents = q.get('orphanDependents') === 'true';
  if (o.propagationPolicy && !['Orphan', 'Background', 'Foreground'].includes(o.propagationPolicy)) {
    throw errInvalid('DeleteOptions', 'meta.k8s.io', '', [{ type: 'FieldValueNotSupported', field: 'propagationPolicy', value: o.propagationPolicy, detail: 'supported values: "Foreground", "Background", "Orphan", nil' }]);
  }
  if (o.propagationPolicy && o.orphanDependents !== undefined) {
    throw errInvalid('DeleteOptions', 'meta.k8s.io', '', [{ type: 'FieldValueInvalid', field: 'propagationPolicy', value: o.propagationPolicy, detail: 'orphanDependents and deletionPropagation cannot be both set' }]);
  }
  if (o.gracePeriodSeconds !== undefined && (!Number.isFinite(o.gracePeriodSeconds))) throw errBadRequest('gracePeriodSeconds must be a number');
  return o;
}
