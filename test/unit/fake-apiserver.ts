// A small fake Kubernetes API server for client and informer tests (node:http, loopback only).
// It speaks upstream's REST and watch protocol for any resource path:
//   /api/v1[/namespaces/NS]/RESOURCE[/NAME[/status]] and /apis/G/V[/namespaces/NS]/RESOURCE[...]
// with one cluster-wide resourceVersion counter, an event log that can be compacted (watches
// and continue tokens from before it get 410 Expired, as from a real server), paginated lists,
// streaming watches with bookmarks and timeoutSeconds, and hooks to inject failures and to
// drop every open watch connection.

import * as http from 'node:http';
import * as https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { KObject } from '../../src/api/meta.js';
import {
  StatusError, errAlreadyExists, errBadRequest, errTooManyRequests, errConflict, errGone, errInternal, errNotFound, successStatus,
} from '../../src/api/errors.js';

interface LogEvent { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; res: string; obj: KObject }

export interface RequestRecord {
  method: string; path: string; query: URLSearchParams; watch: boolean; at: number;
  headers: http.IncomingHttpHeaders;
  /** Subject CN of a verified client certificate (HTTPS only). */
  clientCN?: string;
}

interface Route { res: string; namespace?: string; name?: string; sub?: string; apiVersion: string }

export interface FakeOptions {
  /** Send a BOOKMARK this often on watches that allow them (ms). 0 = never. */
  bookmarkMs?: number;
  /** Write each watch event in pieces of this many bytes (exercises chunk boundaries). */
  chunkBytes?: number;
  /** Serve HTTPS with this certificate; client certificates signed by `ca` are requested. */
  tls?: { cert: string; key: string; ca?: string };
}

const kindOf = (res: string) => {
  const r = res.split('/').pop()!;
  const singular = r.endsWith('ies') ? `${r.slice(0, -3)}y` : r.endsWith('s') ? r.slice(0, -1) : r;
  return singular.charAt(0).toUpperCase() + singular.slice(1);
};

export class FakeApiServer {
  readonly server: http.Server;
  rv = 1;
  compactedRV = 0;
  readonly objects = new Map<string, Map<string, KObject>>(); // res → key → obj
  readonly log: LogEvent[] = [];
  readonly requests: RequestRecord[] = [];
  /** Return a status code to fail a request with (a Status body is written), or undefined. */
  inject: ((r: RequestRecord) => number | undefined) | undefined;
  /** Kind names for resources (default derived from the plural). */
  readonly kinds = new Map<string, string>([['configmaps', 'ConfigMap'], ['apps/deployments', 'Deployment']]);
  private readonly watches = new Set<{ res: http.ServerResponse; send: (ev: LogEvent) => void; filter: (ev: LogEvent) => boolean }>();
  private readonly sockets = new Set<import('node:net').Socket>();
  opts: FakeOptions;
  url = '';
  /** TCP connections accepted so far (to check keep-alive reuse). */
  connections = 0;

  constructor(opts: FakeOptions = {}) {
    this.opts = opts;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => { void this.handle(req, res); };
    this.server = opts.tls
      ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, requestCert: !!opts.tls.ca, rejectUnauthorized: false }, handler)
      : http.createServer(handler);
    this.server.on('connection', (s) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.dropWatches();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Abruptly cuts every open watch connection (the socket, not a clean end). */
  dropWatches(): void {
    for (const w of this.watches) w.res.socket?.destroy();
    this.watches.clear();
  }

  /** Forgets history up to now: watches/continues from before get 410 Expired. */
  compact(): void { this.compactedRV = this.rv; }

  get openWatches(): number { return this.watches.size; }

  private bucket(res: string): Map<string, KObject> {
    let b = this.objects.get(res);
    if (!b) { b = new Map(); this.objects.set(res, b); }
    return b;
  }

  private emit(ev: LogEvent): void {
    this.log.push(ev);
    for (const w of this.watches) if (w.filter(ev)) w.send(ev);
  }

  /** Creates or replaces an object directly (as another client would), emitting an event. */
  upsert(res: string, obj: KObject): KObject {
    const b = this.bucket(res);
    const key = keyOf(obj);
    const exists = b.has(key);
    const o = structuredClone(obj);
    o.metadata.resourceVersion = String(++this.rv);
    o.metadata.uid ??= b.get(key)?.metadata.uid ?? `uid-${this.rv}`;
    o.metadata.creationTimestamp ??= new Date().toISOString();
    b.set(key, o);
    this.emit({ rv: this.rv, type: exists ? 'MODIFIED' : 'ADDED', res, obj: o });
    return o;
  }

  /** Deletes an object directly, emitting DELETED. */
  remove(res: string, namespace: string | undefined, name: string): boolean {
    const b = this.bucket(res);
    const key = namespace ? `${namespace}/${name}` : name;
    const o = b.get(key);
    if (!o) return false;
    b.delete(key);
    const d = structuredClone(o);
    d.metadata.resourceVersion = String(++this.rv);
    this.emit({ rv: this.rv, type: 'DELETED', res, obj: d });
    return true;
  }

  private route(path: string): Route | undefined {
    const p = path.split('/').filter(Boolean).map(decodeURIComponent);
    let i: number, group: string, version: string;
    if (p[0] === 'api' && p.length >= 3) { group = ''; version = p[1]!; i = 2; }
    else if (p[0] === 'apis' && p.length >= 4) { group = p[1]!; version = p[2]!; i = 3; }
    else return undefined;
    let namespace: string | undefined;
    if (p[i] === 'namespaces' && p.length >= i + 3) { namespace = p[i + 1]; i += 2; }
    const resource = p[i];
    if (!resource) return undefined;
    return {
      res: group ? `${group}/${resource}` : resource, namespace, name: p[i + 1], sub: p[i + 2],
      apiVersion: group ? `${group}/${version}` : version,
    };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    const q = u.searchParams;
    const rec: RequestRecord = {
      method: req.method ?? 'GET', path: u.pathname, query: q,
      watch: q.get('watch') === 'true' || q.get('watch') === '1', at: Date.now(), headers: req.headers,
    };
    const sock = req.socket as TLSSocket;
    if (typeof sock.getPeerCertificate === 'function' && sock.authorized) rec.clientCN = String(sock.getPeerCertificate().subject?.CN ?? '');
    this.requests.push(rec);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const bodyText = Buffer.concat(chunks).toString('utf8');
    try {
      const code = this.inject?.(rec);
      if (code === 429) {
        res.setHeader('Retry-After', '0');
        throw errTooManyRequests('Too many requests, please try again later.', 0);
      }
      if (code) {
        throw code === 410 ? errGone('injected') : code >= 500 ? errInternal('injected failure') : errBadRequest(`injected ${code}`);
      }
      const r = this.route(u.pathname);
      if (!r) throw errNotFound({ group: '', resource: 'path' }, u.pathname);
      const body = bodyText ? JSON.parse(bodyText) as KObject : undefined;
      if (rec.method === 'GET' && rec.watch) return this.watch(r, q, req, res);
      if (rec.method === 'GET' && !r.name) return this.send(res, 200, this.list(r, q));
      if (rec.method === 'GET') return this.send(res, 200, this.getObj(r));
      if (rec.method === 'POST') return this.send(res, 201, this.create(r, body!));
      if (rec.method === 'PUT') return this.send(res, 200, this.update(r, body!));
      if (rec.method === 'PATCH') return this.send(res, 200, this.patch(r, body!, String(req.headers['content-type'])));
      if (rec.method === 'DELETE') return this.send(res, 200, this.del(r, body));
      throw errBadRequest(`method ${rec.method}`);
    } catch (e) {
      if (e instanceof StatusError) return this.send(res, e.code, e.status);
      return this.send(res, 500, errInternal(String(e)).status);
    }
  }

  private send(res: http.ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private qr(r: Route) { const [g, res] = r.res.includes('/') ? r.res.split('/') : ['', r.res]; return { group: g!, resource: res! }; }

  private withType(r: Route, o: KObject): KObject {
    return { apiVersion: r.apiVersion, kind: this.kinds.get(r.res) ?? kindOf(r.res), ...o };
  }

  private matches(r: Route, q: URLSearchParams, o: KObject): boolean {
    if (r.namespace && o.metadata.namespace !== r.namespace) return false;
    const sel = q.get('labelSelector');
    if (sel) {
      for (const term of sel.split(',')) {
        const [k, v] = term.split('=');
        if ((o.metadata.labels ?? {})[k!] !== v) return false;
      }
    }
    return true;
  }

  private list(r: Route, q: URLSearchParams) {
    const limit = Number(q.get('limit') ?? 0);
    let after = '';
    let rv = this.rv;
    const cont = q.get('continue');
    if (cont) {
      const t = JSON.parse(Buffer.from(cont, 'base64').toString()) as { rv: number; after: string };
      if (t.rv < this.compactedRV) {
        throw errGone('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');
      }
      after = t.after; rv = t.rv;
    }
    const all = Array.from(this.bucket(r.res).entries()).filter(([, o]) => this.matches(r, q, o)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const start = after ? all.findIndex(([k]) => k > after) : 0;
    const rest = start < 0 ? [] : all.slice(start);
    const page = limit > 0 ? rest.slice(0, limit) : rest;
    const more = limit > 0 && rest.length > limit;
    const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
    if (more) {
      metadata.continue = Buffer.from(JSON.stringify({ rv, after: page[page.length - 1]![0] })).toString('base64');
      metadata.remainingItemCount = rest.length - limit;
    }
    // Items without kind/apiVersion, as upstream serves lists.
    return { apiVersion: r.apiVersion, kind: `${this.kinds.get(r.res) ?? kindOf(r.res)}List`, metadata, items: page.map(([, o]) => o) };
  }

  private getObj(r: Route): KObject {
    const o = this.bucket(r.res).get(r.namespace ? `${r.namespace}/${r.name}` : r.name!);
    if (!o) throw errNotFound(this.qr(r), r.name!);
    return this.withType(r, o);
  }

  private create(r: Route, body: KObject): KObject {
    const name = body.metadata?.name;
    if (!name) throw errBadRequest('name required');
    const ns = r.namespace ?? body.metadata.namespace;
    if (this.bucket(r.res).has(ns ? `${ns}/${name}` : name)) throw errAlreadyExists(this.qr(r), name);
    const o = structuredClone(body);
    if (ns) o.metadata.namespace = ns;
    return this.withType(r, this.upsert(r.res, o));
  }

  private update(r: Route, body: KObject): KObject {
    const cur = this.getObj(r);
    const rv = body.metadata?.resourceVersion;
    if (rv && rv !== cur.metadata.resourceVersion) {
      throw errConflict(this.qr(r), r.name!, 'the object has been modified; please apply your changes to the latest version and try again');
    }
    const o = r.sub === 'status' ? { ...cur, status: body.status } : { ...body, status: cur.status };
    o.metadata = { ...o.metadata, namespace: cur.metadata.namespace, name: cur.metadata.name, uid: cur.metadata.uid };
    return this.withType(r, this.upsert(r.res, o as KObject));
  }

  private patch(r: Route, body: unknown, ct: string): KObject {
    if (!ct.startsWith('application/merge-patch+json')) throw new StatusError({ ...errBadRequest('').status, code: 415, reason: 'UnsupportedMediaType', message: `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json` });
    const cur = this.getObj(r);
    return this.withType(r, this.upsert(r.res, mergePatch(cur, body) as KObject));
  }

  private del(r: Route, body: KObject | undefined): unknown {
    const cur = this.getObj(r);
    const pre = (body as { preconditions?: { resourceVersion?: string; uid?: string } } | undefined)?.preconditions;
    if (pre?.resourceVersion && pre.resourceVersion !== cur.metadata.resourceVersion) {
      throw errConflict(this.qr(r), r.name!, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`);
    }
    this.remove(r.res, r.namespace, r.name!);
    return successStatus({ name: r.name, kind: this.qr(r).resource, uid: cur.metadata.uid });
  }

  private watch(r: Route, q: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse): void {
    const from = q.get('resourceVersion') ?? '';
    const bookmarks = q.get('allowWatchBookmarks') === 'true';
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    const write = (ev: unknown) => {
      const buf = Buffer.from(`${JSON.stringify(ev)}\n`);
      const n = this.opts.chunkBytes;
      if (!n) { res.write(buf); return; }
      for (let i = 0; i < buf.length; i += n) res.write(buf.subarray(i, i + n));
    };
    const filter = (ev: LogEvent) => ev.res === r.res && this.matches(r, q, ev.obj);
    const send = (ev: LogEvent) => write({ type: ev.type, object: this.withType(r, ev.obj) });
    if (from === '' || from === '0') {
      for (const o of this.bucket(r.res).values()) if (this.matches(r, q, o)) write({ type: 'ADDED', object: this.withType(r, o) });
    } else {
      const n = Number(from);
      if (n < this.compactedRV) {
        write({ type: 'ERROR', object: errGone(`too old resource version: ${n} (${this.compactedRV})`).status });
        res.end();
        return;
      }
      for (const ev of this.log) if (ev.rv > n && filter(ev)) send(ev);
    }
    const w = { res, send, filter };
    this.watches.add(w);
    const timers: NodeJS.Timeout[] = [];
    if (bookmarks && this.opts.bookmarkMs) {
      timers.push(setInterval(() => write({
        type: 'BOOKMARK', object: { kind: this.kinds.get(r.res) ?? kindOf(r.res), apiVersion: r.apiVersion, metadata: { resourceVersion: String(this.rv) } },
      }), this.opts.bookmarkMs));
    }
    const end = () => { this.watches.delete(w); for (const t of timers) clearInterval(t); };
    if (timeout > 0) timers.push(setTimeout(() => { end(); res.end(); }, timeout * 1000));
    res.on('close', end);
    req.on('close', end);
  }
}

function keyOf(o: KObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name!;
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target)
    ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** A ConfigMap for tests. */
export function cm(namespace: string, name: string, data: Record<string, string> = {}, labels?: Record<string, string>): KObject {
  const o: KObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace, name }, data };
  if (labels) o.metadata.labels = labels;
  return o;
}

export const CONFIGMAPS = { group: '', version: 'v1', resource: 'configmaps', namespaced: true } as const;
export const DEPLOYMENTS = { group: 'apps', version: 'v1', resource: 'deployments', namespaced: true } as const;
