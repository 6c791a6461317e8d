// A small Kubernetes REST client: JSON over node:http(s) with a keep-alive agent, upstream's
// URL layout, StatusError on every non-2xx, and streaming watches parsed line by line.

import * as http from 'node:http';
import * as https from 'node:https';
import { readFileSync } from 'node:fs';
import type { KObject, KList, WatchEvent } from '../api/meta.js';
import { isObject } from '../api/meta.js';
import { StatusError, type Status, type StatusReason } from '../api/errors.js';
import { loadKubeconfig, type ClientConfig } from './kubeconfig.js';

/** Group/version/resource plus scope: everything needed to build a URL. */
export interface GVR {
  group: string;
  version: string;
  /** Plural resource name: `pods`, `endpointslices`. */
  resource: string;
  namespaced: boolean;
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'NotOlderThan' | 'Exact';
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

export interface WatchOptions {
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  resourceVersionMatch?: 'NotOlderThan' | 'Exact';
  allowWatchBookmarks?: boolean;
  /** Server-side timeout; the server ends the stream cleanly after it. */
  timeoutSeconds?: number;
  sendInitialEvents?: boolean;
  /** Aborting it stops the watch (the iterator then ends without error). */
  signal?: AbortSignal;
}

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string;
  fieldValidation?: 'Ignore' | 'Warn' | 'Strict';
}

export type PatchType = 'merge' | 'json' | 'strategic' | 'apply';

export interface PatchOptions extends WriteOptions {
  subresource?: string;
  /** Server-side apply only: take ownership of conflicting fields. */
  force?: boolean;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface ApiClientOptions {
  userAgent?: string;
  /** Timeout for ordinary (non-watch) requests, in ms. 0 = none. Default 60 s. */
  timeoutMs?: number;
  /** Sockets per host kept by the agent. Default unlimited (watches hold one each). */
  maxSockets?: number;
  /** Retries of a 429 (any verb) or 5xx (GET) that carries Retry-After. Default 5. */
  maxRetries?: number;
}

/** A stream of JSON values; `stop()` ends it (iteration then finishes cleanly). */
export interface JsonStream<V> extends AsyncIterable<V> {
  stop(): void;
}

/** A running watch: iterate it for events; `stop()` ends it. */
export type Watch<T = KObject> = JsonStream<WatchEvent<T>>;

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** Reason for a non-Status error body, as apimachinery's NewGenericServerResponse picks it. */
function reasonFor(code: number): StatusReason {
  switch (code) {
    case 400: return 'BadRequest';
    case 401: return 'Unauthorized';
    case 403: return 'Forbidden';
    case 404: return 'NotFound';
    case 405: return 'MethodNotAllowed';
    case 406: return 'NotAcceptable';
    case 409: return 'Conflict';
    case 410: return 'Gone';
    case 413: return 'RequestEntityTooLarge';
    case 415: return 'UnsupportedMediaType';
    case 422: return 'Invalid';
    case 429: return 'TooManyRequests';
    case 504: return 'Timeout';
    default: return code >= 500 ? 'InternalError' : '';
  }
}

/** Builds the StatusError for a non-2xx response, preferring the server's own Status body. */
export function statusErrorFrom(code: number, body: string, method = '', path = ''): StatusError {
  try {
    const parsed: unknown = JSON.parse(body);
    if (isObject(parsed) && parsed.kind === 'Status') {
      const s = parsed as unknown as Status;
      if (typeof s.code !== 'number' || s.code === 0) s.code = code;
      return new StatusError(s);
    }
  } catch { /* not JSON: synthesize below */ }
  const text = body.trim().slice(0, 1024);
  const message = text
    ? `the server responded with the status code ${code} but did not return more information: ${text}`
    : `the server responded with the status code ${code} but did not return more information${method ? ` (${method} ${path})` : ''}`;
  return new StatusError({
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code, reason: reasonFor(code), message,
  });
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export class ApiClient {
  readonly config: ClientConfig;
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly mod: typeof http | typeof https;
  private readonly opts: Required<Pick<ApiClientOptions, 'timeoutMs'>> & ApiClientOptions;
  private token: string | undefined;
  private tokenReadAt = 0;

  constructor(config: ClientConfig, opts: ApiClientOptions = {}) {
    this.config = config;
    this.base = new URL(config.server);
    this.opts = { timeoutMs: 60_000, ...opts };
    this.token = config.token;
    this.tokenReadAt = Date.now();
    const secure = this.base.protocol === 'https:';
    this.mod = secure ? https : http;
    const common = { keepAlive: true, keepAliveMsecs: 30_000, maxSockets: opts.maxSockets ?? Infinity };
    this.agent = secure
      ? new https.Agent({
        ...common,
        ca: config.ca,
        cert: config.cert,
        key: config.key,
        rejectUnauthorized: !config.insecure,
        servername: config.tlsServerName,
      })
      : new http.Agent(common);
  }

  /** A client for a kubeconfig (see loadKubeconfig for the defaults). */
  static fromKubeconfig(path?: string, context?: string, opts?: ApiClientOptions): ApiClient {
    return new ApiClient(loadKubeconfig(path, context), opts);
  }

  /** A handle on one resource, optionally in one namespace (all namespaces when omitted). */
  resource<T extends KObject = KObject>(gvr: GVR, namespace?: string): ResourceClient<T> {
    return new ResourceClient<T>(this, gvr, gvr.namespaced ? namespace : undefined);
  }

  /** Closes idle keep-alive sockets. In-flight requests and watches are not affected. */
  close(): void { this.agent.destroy(); }

  private authHeader(): string | undefined {
    const { tokenFile, username, password } = this.config;
    if (tokenFile && Date.now() - this.tokenReadAt > 60_000) {
      // Bound service-account tokens rotate; client-go re-reads the file about once a minute.
      try { this.token = readFileSync(tokenFile, 'utf8').trim(); } catch { /* keep the old one */ }
      this.tokenReadAt = Date.now();
    }
    if (this.token) return `Bearer ${this.token}`;
    if (username !== undefined) return `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`;
    return undefined;
  }

  /** Starts a request; resolves with the response once headers arrive. */
  private send(method: string, path: string, body: string | undefined, headers: Record<string, string>,
    signal: AbortSignal | undefined, timeoutMs: number): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
    const basePath = this.base.pathname.replace(/\/+$/, '');
    const h: Record<string, string> = { Accept: 'application/json', ...headers };
    const auth = this.authHeader();
    if (auth) h.Authorization = auth;
    if (this.opts.userAgent) h['User-Agent'] = this.opts.userAgent;
    if (body !== undefined) {
      h['Content-Type'] ??= 'application/json';
      h['Content-Length'] = String(Buffer.byteLength(body));
    }
    return new Promise((resolvePromise, reject) => {
      if (signal?.aborted) { reject(abortError(signal)); return; }
      const req = this.mod.request({
        protocol: this.base.protocol,
        hostname: this.base.hostname.replace(/^\[|\]$/g, ''),
        port: this.base.port || undefined,
        method,
        path: basePath + path,
        headers: h,
        agent: this.agent,
        signal,
      });
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: timed out after ${timeoutMs} ms`)));
      }
      req.once('response', (res) => resolvePromise({ req, res }));
      req.once('error', (e) => reject(Object.assign(e, { reusedSocket: req.reusedSocket })));
      req.end(body);
    });
  }

  /**
   * Raw request: sends `body` (objects are JSON-encoded) and returns the parsed JSON response
   * (or the text, for non-JSON responses). Non-2xx → StatusError; network errors propagate.
   */
  async request<R = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {},
    signal?: AbortSignal): Promise<R> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const maxRetries = this.opts.maxRetries ?? 5;
    for (let attempt = 0; ; attempt++) {
      let res: http.IncomingMessage;
      try {
        ({ res } = await this.send(method, path, payload, headers, signal, this.opts.timeoutMs));
      } catch (e) {
        // A kept-alive socket the server closed meanwhile: the request never reached it.
        // Retry reads once on a fresh socket (as Node's docs advise); writes are not retried.
        const err = e as NodeJS.ErrnoException & { reusedSocket?: boolean };
        if (!(err.reusedSocket && err.code === 'ECONNRESET' && (method === 'GET' || method === 'HEAD'))) throw e;
        ({ res } = await this.send(method, path, payload, headers, signal, this.opts.timeoutMs));
      }
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      const code = res.statusCode ?? 0;
      if (code < 200 || code > 299) {
        // As client-go: a 429 (or a 5xx on a read) with Retry-After is retried after that wait.
        const wait = retryAfterMs(res.headers['retry-after']);
        if (wait !== undefined && attempt < maxRetries && (code === 429 || (code >= 500 && method === 'GET'))) {
          await delay(Math.min(wait, 10_000), signal);
          continue;
        }
        throw statusErrorFrom(code, text, method, path);
      }
      const ct = String(res.headers['content-type'] ?? '');
      if (text === '') return undefined as R;
      if (ct.includes('json') || ct === '') {
        try { return JSON.parse(text) as R; } catch (e) { if (ct.includes('json')) throw e; }
      }
      return text as R;
    }
  }

  /**
   * Opens a streaming GET and yields one parsed JSON value per line (the watch protocol:
   * upstream writes each event as a JSON object followed by a newline). Non-2xx → StatusError
   * from the first `next()`. Stopping (or aborting `signal`) ends the iteration cleanly; a
   * dropped connection makes `next()` reject with the network error.
   */
  stream<E = unknown>(path: string, signal?: AbortSignal, headers: Record<string, string> = {}): JsonStream<E> {
    const ctrl = new AbortController();
    const onAbort = () => stop();
    if (signal) {
      if (signal.aborted) ctrl.abort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
    const queue: E[] = [];
    let ended = false;
    let failure: unknown;
    let wake: (() => void) | undefined;
    let res: http.IncomingMessage | undefined;
    const HIGH_WATER = 256;
    const notify = () => { const w = wake; wake = undefined; w?.(); };
    const stop = () => { ctrl.abort(); res?.destroy(); queue.length = 0; finish(); };
    const finish = (err?: unknown) => {
      if (ended) return;
      ended = true;
      if (err !== undefined && !ctrl.signal.aborted) failure = err;
      signal?.removeEventListener('abort', onAbort);
      notify();
    };

    this.send('GET', path, undefined, headers, ctrl.signal, 0).then(async ({ res: r }) => {
      res = r;
      const code = r.statusCode ?? 0;
      if (code < 200 || code > 299) {
        const chunks: Buffer[] = [];
        for await (const c of r) chunks.push(c as Buffer);
        finish(statusErrorFrom(code, Buffer.concat(chunks).toString('utf8'), 'GET', path));
        return;
      }
      r.setEncoding('utf8'); // a StringDecoder: multi-byte characters split across chunks survive
      let partial = '';
      r.on('data', (chunk: string) => {
        let start = 0;
        let nl = chunk.indexOf('\n');
        while (nl >= 0) {
          const line = (partial ? partial + chunk.slice(start, nl) : chunk.slice(start, nl)).trim();
          partial = '';
          if (line) {
            try { queue.push(JSON.parse(line) as E); } catch (e) { r.destroy(); finish(e); return; }
          }
          start = nl + 1;
          nl = chunk.indexOf('\n', start);
        }
        partial += chunk.slice(start);
        if (queue.length >= HIGH_WATER) r.pause();
        notify();
      });
      r.on('end', () => {
        const line = partial.trim();
        if (line) { try { queue.push(JSON.parse(line) as E); } catch (e) { finish(e); return; } }
        finish();
      });
      r.on('error', (e) => finish(e));
      r.on('aborted', () => finish(new Error(`watch ${path}: connection aborted`)));
      r.on('close', () => { if (!r.complete) finish(new Error(`watch ${path}: connection closed`)); });
    }, (e) => finish(e));

    return {
      stop,
      [Symbol.asyncIterator](): AsyncIterator<E> {
        return {
          next: async (): Promise<IteratorResult<E>> => {
            for (;;) {
              if (queue.length > 0) {
                const v = queue.shift()!;
                if (queue.length < HIGH_WATER / 2 && res?.isPaused()) res.resume();
                return { value: v, done: false };
              }
              if (ended) {
                if (failure !== undefined) { const f = failure; failure = undefined; throw f; }
                return { value: undefined, done: true };
              }
              await new Promise<void>((r) => { wake = r; });
            }
          },
          return: async () => { stop(); return { value: undefined, done: true }; },
        };
      },
    };
  }
}

/** Retry-After in ms: delta-seconds only (what the API server sends). */
function retryAfterMs(h: string | string[] | undefined): number | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v.trim()) * 1000;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(abortError(signal)); return; }
    const onAbort = () => { clearTimeout(t); reject(abortError(signal!)); };
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
}

/** Typed operations on one resource (in one namespace, or across all of them). */
export class ResourceClient<T extends KObject = KObject> {
  constructor(readonly client: ApiClient, readonly gvr: GVR, readonly namespace?: string,
              /** list and watch ask for PartialObjectMetadata: only kind, apiVersion and metadata. */
              readonly metadataOnly = false) {}

  /** The same resource in another namespace. */
  inNamespace(namespace: string | undefined): ResourceClient<T> {
    return new ResourceClient<T>(this.client, this.gvr, this.gvr.namespaced ? namespace : undefined, this.metadataOnly);
  }

  /**
   * The same resource, listed and watched as metadata only (as client-go's metadata informers
   * do): far less to send and parse for controllers that look only at metadata.
   */
  asMetadata(): ResourceClient<T> {
    return new ResourceClient<T>(this.client, this.gvr, this.namespace, true);
  }

  private acceptHeaders(list: boolean): Record<string, string> {
    if (!this.metadataOnly) return {};
    const as = list ? 'PartialObjectMetadataList' : 'PartialObjectMetadata';
    return { Accept: `application/json;as=${as};v=v1;g=meta.k8s.io,application/json` };
  }

  /** Collection path: /api/v1[/namespaces/NS]/RESOURCE or /apis/G/V[/namespaces/NS]/RESOURCE. */
  collectionPath(namespace = this.namespace): string {
    const { group, version, resource, namespaced } = this.gvr;
    const root = group ? `/apis/${group}/${version}` : `/api/${version}`;
    const ns = namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `${root}${ns}/${resource}`;
  }

  itemPath(name: string, namespace = this.namespace, subresource?: string): string {
    if (!name) throw new Error(`${this.gvr.resource}: a name is required`);
    if (this.gvr.namespaced && !namespace) throw new Error(`${this.gvr.resource} "${name}": a namespace is required`);
    return `${this.collectionPath(namespace)}/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ''}`;
  }

  private nsOf(obj: KObject): string | undefined {
    return this.gvr.namespaced ? (this.namespace ?? obj.metadata?.namespace) : undefined;
  }

  private writeQuery(o: WriteOptions = {}, extra: Record<string, string | boolean | undefined> = {}): string {
    return query({ dryRun: o.dryRun ? 'All' : undefined, fieldManager: o.fieldManager, fieldValidation: o.fieldValidation, ...extra });
  }

  async get(name: string, opts: { resourceVersion?: string; signal?: AbortSignal } = {}): Promise<T> {
    return this.client.request<T>('GET', this.itemPath(name) + query({ resourceVersion: opts.resourceVersion }),
      undefined, {}, opts.signal);
  }

  async list(opts: ListOptions = {}): Promise<KList<T>> {
    const { signal, ...q } = opts;
    return this.client.request<KList<T>>('GET', this.collectionPath() + query({ ...q }), undefined, this.acceptHeaders(true), signal);
  }

  /**
   * Lists in pages of `pageSize` (limit + continue), yielding each page. If the continue
   * token expires mid-way (410), falls back to one unpaginated list, as client-go's pager does.
   */
  async *listPages(opts: Omit<ListOptions, 'limit' | 'continue'> = {}, pageSize = 500): AsyncGenerator<KList<T>> {
    let cont: string | undefined;
    let first = true;
    for (;;) {
      let page: KList<T>;
      try {
        page = await this.list({ ...opts, limit: pageSize, continue: cont,
          // resourceVersion applies to the first page only; the token pins the rest.
          resourceVersion: first ? opts.resourceVersion : undefined,
          resourceVersionMatch: first ? opts.resourceVersionMatch : undefined });
      } catch (e) {
        if (!first && e instanceof StatusError && e.code === 410) {
          yield await this.list({ ...opts });
          return;
        }
        throw e;
      }
      first = false;
      cont = page.metadata?.continue || undefined;
      yield page;
      if (!cont) return;
    }
  }

  async create(obj: T, opts?: WriteOptions): Promise<T> {
    return this.client.request<T>('POST', this.collectionPath(this.nsOf(obj)) + this.writeQuery(opts), obj);
  }

  async update(obj: T, opts?: WriteOptions): Promise<T> {
    return this.client.request<T>('PUT', this.itemPath(obj.metadata.name ?? '', this.nsOf(obj)) + this.writeQuery(opts), obj);
  }

  async updateStatus(obj: T, opts?: WriteOptions): Promise<T> {
    return this.client.request<T>('PUT', this.itemPath(obj.metadata.name ?? '', this.nsOf(obj), 'status') + this.writeQuery(opts), obj);
  }

  async patch(name: string, type: PatchType, body: unknown, opts: PatchOptions = {}): Promise<T> {
    if (type === 'apply' && !opts.fieldManager) throw new Error('server-side apply needs a fieldManager');
    const path = this.itemPath(name, this.namespace, opts.subresource) +
      this.writeQuery(opts, { force: type === 'apply' && opts.force ? true : undefined });
    return this.client.request<T>('PATCH', path, typeof body === 'string' ? body : JSON.stringify(body),
      { 'Content-Type': PATCH_CONTENT_TYPE[type] });
  }

  /** DELETE; resolves with what the server returns (the object while finalizers run, or a Status). */
  async delete(name: string, opts: DeleteOptions = {}): Promise<T | Status> {
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.preconditions) body.preconditions = opts.preconditions;
    if (opts.dryRun) body.dryRun = ['All'];
    return this.client.request<T | Status>('DELETE', this.itemPath(name), body);
  }

  /** DELETE on the collection (deletecollection), filtered by selectors. */
  async deleteCollection(opts: { labelSelector?: string; fieldSelector?: string } & DeleteOptions = {}): Promise<KList<T> | Status> {
    const { labelSelector, fieldSelector, ...d } = opts;
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1', ...d };
    if (d.dryRun) body.dryRun = ['All'];
    return this.client.request('DELETE', this.collectionPath() + query({ labelSelector, fieldSelector }), body);
  }

  /** Starts a watch (`?watch=true`). Events come as parsed; ERROR events carry a Status. */
  watch(opts: WatchOptions = {}): Watch<T> {
    const { signal, ...q } = opts;
    return this.client.stream<WatchEvent<T>>(this.collectionPath() + query({ watch: true, ...q }), signal, this.acceptHeaders(false));
  }
}
