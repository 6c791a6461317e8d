// An informer: a local cache of one resource kept current by list + watch, with event
// handlers and indexes — client-go's Reflector + Indexer + SharedInformer in one class.
//
// Life cycle (the reflector's ListAndWatch):
//   1. list in pages (limit + continue); a continue token that expired (410) falls back to
//      one full list. The result is diffed against the cache: adds, updates (resourceVersion
//      changed) and deletes (objects gone — "final state unknown") go to the handlers.
//   2. watch from the list's resourceVersion with bookmarks; every event and bookmark moves
//      the resume point. A watch that ends (server timeout, dropped connection) is reopened
//      from the last resourceVersion, so nothing is missed and nothing is relisted.
//   3. 410 Gone / "Expired" (the resume point was compacted away) → relist from scratch.
//   4. Failures (list errors, watches that cannot be opened or end without delivering
//      anything) back off exponentially with jitter, so a server that is down or overloaded
//      is not stormed by every informer at once. Any delivered event resets the backoff.
//
// Handlers run synchronously on the informer's loop, after the cache has been updated, so a
// handler that reads the cache sees the new state. Keep them short: record what changed and
// enqueue a key (STYLE.md item 1); do the work elsewhere.

import type { KObject, KList, WatchEvent } from '../api/meta.js';
import { StatusError, type Status } from '../api/errors.js';
import type { GVR, ListOptions, WatchOptions, Watch } from './client.js';

/** What an informer needs from the API: ResourceClient satisfies it, and so can a fixture. */
export interface ListWatcher {
  list(opts: ListOptions): Promise<KList<KObject>>;
  watch(opts: WatchOptions): Watch<KObject>;
}

/** The read side of an informer: what components should depend on (STYLE.md item 6). */
export interface Lister<T> {
  get(namespace: string | undefined, name: string): T | undefined;
  list(): T[];
  byIndex(index: string, value: string): T[];
  hasSynced(): boolean;
}

export interface EventHandlers<T> {
  /** `initialList` is true for adds produced by the very first list. */
  onAdd?(obj: T, initialList: boolean): void;
  /** Also called with (old, old) on periodic resync. */
  onUpdate?(oldObj: T, newObj: T): void;
  /**
   * `finalStateUnknown` is true when the delete was inferred from a relist (the object was
   * gone; `obj` is the last state the cache saw) rather than delivered by a DELETED event.
   */
  onDelete?(obj: T, finalStateUnknown: boolean): void;
}

export interface BackoffOptions {
  /** First delay after a failure (ms). Default 800 (client-go's reflector). */
  initialMs?: number;
  /** Cap (ms). Default 30 000. */
  maxMs?: number;
  /** Growth per consecutive failure. Default 2. */
  factor?: number;
  /** Up to this fraction of the delay is added at random. Default 1.0. */
  jitter?: number;
  /** A failure this long after the previous one starts the backoff afresh. Default 120 000. */
  resetAfterMs?: number;
}

export interface InformerOptions<T> {
  /** For messages. */
  name?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Converts each object on arrival; the cache stores (and handlers get) only the result. */
  transform?: (obj: KObject) => T;
  /** Calls onUpdate(obj, obj) for every cached object this often (ms). 0/undefined = never. */
  resyncMs?: number;
  /** List page size. Default 500. */
  pageSize?: number;
  /** Server-side watch timeout is drawn from [min, 2·min] seconds. Default 300 (client-go). */
  minWatchTimeoutSeconds?: number;
  backoff?: BackoffOptions;
  handlers?: EventHandlers<T>;
  /** Where failures are reported. Default: one line on stderr. */
  onError?: (err: unknown, context: string) => void;
}

interface Entry<T> { obj: T; rv: string }

/** namespace/name, or name for cluster-scoped objects (client-go's MetaNamespaceKeyFunc). */
export function keyOf(obj: KObject): string {
  const m = obj.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name ?? ''}` : (m.name ?? '');
}

const keyFor = (namespace: string | undefined, name: string) => (namespace ? `${namespace}/${name}` : name);

export const NAMESPACE_INDEX = 'namespace';

function isGone(e: unknown): boolean {
  return e instanceof StatusError && (e.code === 410 || e.reason === 'Expired' || e.reason === 'Gone');
}

function isGoneStatus(s: Partial<Status> | undefined): boolean {
  return !!s && (s.code === 410 || s.reason === 'Expired' || s.reason === 'Gone' ||
    /too old resource version|has been compacted/i.test(s.message ?? ''));
}

/** Errors worth retrying the watch for, without relisting: network trouble, 429, 5xx. */
function isTransient(e: unknown): boolean {
  if (e instanceof StatusError) return e.code === 429 || e.code >= 500;
  return true;
}

class StoppedError extends Error {}

type WatchOutcome = 'stopped' | 'ended' | 'gone' | 'error-retry-watch' | 'error-relist';

export class Informer<T extends KObject = KObject> implements Lister<T> {
  readonly name: string;
  private readonly source: ListWatcher;
  private readonly opts: InformerOptions<T>;
  private readonly transform: (obj: KObject) => T;
  private readonly cache = new Map<string, Entry<T>>();
  private readonly indexers = new Map<string, (obj: T) => string[]>();
  /** index name → value → keys */
  private readonly indices = new Map<string, Map<string, Set<string>>>();
  private readonly handlers = new Set<EventHandlers<T>>();
  private synced = false;
  private syncWaiters: ((ok: boolean) => void)[] = [];
  private lastRV = '';
  private stopCtrl = new AbortController();
  private running: Promise<void> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private lastFailureAt = 0;
  private currentWatch: Watch<KObject> | undefined;

  constructor(source: ListWatcher, opts: InformerOptions<T> = {}) {
    this.source = source;
    this.opts = opts;
    this.name = opts.name ?? 'informer';
    this.transform = opts.transform ?? ((o: KObject) => o as T);
    if (opts.handlers) this.handlers.add(opts.handlers);
    this.addIndex(NAMESPACE_INDEX, (o) => [o.metadata?.namespace ?? '']);
  }

  // ---- read side ------------------------------------------------------------------------

  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(keyFor(namespace, name))?.obj;
  }

  getByKey(key: string): T | undefined { return this.cache.get(key)?.obj; }

  list(): T[] { return Array.from(this.cache.values(), (e) => e.obj); }

  listKeys(): string[] { return Array.from(this.cache.keys()); }

  /** Objects in one namespace (a built-in index). */
  listNamespace(namespace: string): T[] { return this.byIndex(NAMESPACE_INDEX, namespace); }

  get size(): number { return this.cache.size; }

  hasSynced(): boolean { return this.synced; }

  /** The resourceVersion the next watch would resume from. */
  lastSyncResourceVersion(): string { return this.lastRV; }

  /** Resolves true once the first list has been applied, false if stopped before. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.stopCtrl.signal.aborted || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean) => { signal?.removeEventListener('abort', onAbort); resolve(ok); };
      const onAbort = () => { this.syncWaiters = this.syncWaiters.filter((w) => w !== done); resolve(false); };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(done);
    });
  }

  // ---- indexes --------------------------------------------------------------------------

  /** Adds an index; may be called before or after start (existing objects are indexed). */
  addIndex(name: string, fn: (obj: T) => string[]): void {
    if (this.indexers.has(name)) throw new Error(`${this.name}: index "${name}" already exists`);
    this.indexers.set(name, fn);
    const idx = new Map<string, Set<string>>();
    this.indices.set(name, idx);
    for (const [key, e] of this.cache) for (const v of fn(e.obj)) addTo(idx, v, key);
  }

  byIndex(name: string, value: string): T[] {
    const idx = this.indices.get(name);
    if (!idx) throw new Error(`${this.name}: no index "${name}"`);
    const keys = idx.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) { const e = this.cache.get(k); if (e) out.push(e.obj); }
    return out;
  }

  /** Keys whose objects index to `value` under index `name`. */
  indexKeys(name: string, value: string): string[] {
    return Array.from(this.indices.get(name)?.get(value) ?? []);
  }

  private indexRemove(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indices.get(name)!;
      for (const v of fn(obj)) {
        const s = idx.get(v);
        if (s) { s.delete(key); if (s.size === 0) idx.delete(v); }
      }
    }
  }

  private indexAdd(key: string, obj: T): void {
    for (const [name, fn] of this.indexers) { const idx = this.indices.get(name)!; for (const v of fn(obj)) addTo(idx, v, key); }
  }

  private store(key: string, e: Entry<T>): T | undefined {
    const old = this.cache.get(key);
    if (old) this.indexRemove(key, old.obj);
    this.cache.set(key, e);
    this.indexAdd(key, e.obj);
    return old?.obj;
  }

  private remove(key: string): T | undefined {
    const old = this.cache.get(key);
    if (!old) return undefined;
    this.indexRemove(key, old.obj);
    this.cache.delete(key);
    return old.obj;
  }

  // ---- handlers -------------------------------------------------------------------------

  /**
   * Registers handlers; returns a function that removes them. Registered after the cache has
   * synced, they first get onAdd for every cached object (as client-go's AddEventHandler).
   */
  addEventHandler(h: EventHandlers<T>): () => void {
    this.handlers.add(h);
    if (this.synced) for (const e of this.cache.values()) this.call(() => h.onAdd?.(e.obj, true));
    return () => { this.handlers.delete(h); };
  }

  private call(f: () => void): void {
    try { f(); } catch (e) { this.report(e, 'event handler'); }
  }

  private emitAdd(obj: T, initial: boolean) { for (const h of this.handlers) this.call(() => h.onAdd?.(obj, initial)); }
  private emitUpdate(o: T, n: T) { for (const h of this.handlers) this.call(() => h.onUpdate?.(o, n)); }
  private emitDelete(obj: T, unknown: boolean) { for (const h of this.handlers) this.call(() => h.onDelete?.(obj, unknown)); }

  private report(err: unknown, context: string): void {
    if (this.opts.onError) { this.opts.onError(err, context); return; }
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${this.name}: ${context}: ${msg}\n`);
  }

  // ---- running --------------------------------------------------------------------------

  /** Starts list + watch in the background (idempotent). */
  start(): this {
    if (this.running || this.stopCtrl.signal.aborted) return this;
    this.running = this.loop().catch((e) => { if (!(e instanceof StoppedError)) this.report(e, 'informer loop'); });
    if (this.opts.resyncMs && this.opts.resyncMs > 0) {
      this.resyncTimer = setInterval(() => this.resync(), this.opts.resyncMs);
      this.resyncTimer.unref?.();
    }
    return this;
  }

  /** Stops the informer; resolves when its loop has exited. The cache stays readable. */
  async stop(): Promise<void> {
    if (!this.stopCtrl.signal.aborted) this.stopCtrl.abort();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.currentWatch?.stop();
    const w = this.syncWaiters; this.syncWaiters = [];
    for (const f of w) f(false);
    await this.running;
  }

  private get stopped(): boolean { return this.stopCtrl.signal.aborted; }

  private resync(): void {
    if (!this.synced || this.stopped) return;
    for (const e of this.cache.values()) this.emitUpdate(e.obj, e.obj);
  }

  /** Waits out the backoff for one more consecutive failure. */
  private async backoff(): Promise<void> {
    const b = this.opts.backoff ?? {};
    const initial = b.initialMs ?? 800, max = b.maxMs ?? 30_000, factor = b.factor ?? 2;
    const jitter = b.jitter ?? 1.0, resetAfter = b.resetAfterMs ?? 120_000;
    const now = Date.now();
    if (this.failures > 0 && now - this.lastFailureAt > resetAfter) this.failures = 0;
    this.failures++;
    this.lastFailureAt = now;
    const base = Math.min(max, initial * factor ** (this.failures - 1));
    await this.sleep(base + base * jitter * Math.random());
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.stopped) { reject(new StoppedError()); return; }
      const onAbort = () => { clearTimeout(t); reject(new StoppedError()); };
      const t = setTimeout(() => { this.stopCtrl.signal.removeEventListener('abort', onAbort); resolve(); }, ms);
      this.stopCtrl.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async loop(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      if (needList) {
        try {
          await this.listAndReplace();
          needList = false;
        } catch (e) {
          if (this.stopped) return;
          this.report(e, 'list');
          await this.backoff();
          continue;
        }
      }
      const outcome = await this.watchOnce();
      switch (outcome) {
        case 'stopped': return;
        case 'ended': break; // reopen from lastRV right away
        case 'gone': needList = true; await this.backoff(); break;
        case 'error-retry-watch': await this.backoff(); break;
        case 'error-relist': needList = true; await this.backoff(); break;
      }
    }
  }

  private selectors(): Pick<ListOptions, 'labelSelector' | 'fieldSelector'> {
    const s: Pick<ListOptions, 'labelSelector' | 'fieldSelector'> = {};
    if (this.opts.labelSelector) s.labelSelector = this.opts.labelSelector;
    if (this.opts.fieldSelector) s.fieldSelector = this.opts.fieldSelector;
    return s;
  }

  /** Lists everything (paged), then diffs it into the cache and tells the handlers. */
  private async listAndReplace(): Promise<void> {
    const signal = this.stopCtrl.signal;
    const pageSize = this.opts.pageSize ?? 500;
    const items = new Map<string, Entry<T>>();
    let rv = '';
    let cont: string | undefined;
    for (;;) {
      let page: KList<KObject>;
      try {
        page = await this.source.list({ ...this.selectors(), limit: pageSize, continue: cont, signal });
      } catch (e) {
        if (cont === undefined || !isGone(e)) throw e;
        // The continue token expired mid-list: start over with one unpaginated list.
        items.clear();
        page = await this.source.list({ ...this.selectors(), signal });
        cont = undefined;
        this.absorb(page, items);
        rv = page.metadata?.resourceVersion ?? '';
        break;
      }
      this.absorb(page, items);
      rv = page.metadata?.resourceVersion ?? rv;
      cont = page.metadata?.continue || undefined;
      if (!cont) break;
    }
    if (this.stopped) throw new StoppedError();
    this.replace(items, rv);
  }

  private absorb(page: KList<KObject>, into: Map<string, Entry<T>>): void {
    // Upstream omits kind/apiVersion on list items; restore them so objects look the same
    // whether they arrived by list or by watch.
    const kind = page.kind?.endsWith('List') ? page.kind.slice(0, -4) : undefined;
    for (const item of page.items ?? []) {
      if (kind && !item.kind) item.kind = kind;
      if (page.apiVersion && !item.apiVersion) item.apiVersion = page.apiVersion;
      into.set(keyOf(item), { obj: this.transform(item), rv: item.metadata?.resourceVersion ?? '' });
    }
  }

  private replace(items: Map<string, Entry<T>>, rv: string): void {
    const initial = !this.synced;
    for (const [key, e] of items) {
      const old = this.cache.get(key);
      if (!old) { this.store(key, e); this.emitAdd(e.obj, initial); }
      else if (old.rv !== e.rv || old.rv === '') { this.store(key, e); this.emitUpdate(old.obj, e.obj); }
    }
    for (const key of Array.from(this.cache.keys())) {
      if (!items.has(key)) { const old = this.remove(key)!; this.emitDelete(old, true); }
    }
    this.lastRV = rv;
    if (!this.synced) {
      this.synced = true;
      const w = this.syncWaiters; this.syncWaiters = [];
      for (const f of w) f(true);
    }
  }

  /** One watch from lastRV, applied to the cache until it ends. */
  private async watchOnce(): Promise<WatchOutcome> {
    const minT = this.opts.minWatchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.floor(minT * (1 + Math.random()));
    const w = this.source.watch({
      ...this.selectors(), resourceVersion: this.lastRV, allowWatchBookmarks: true, timeoutSeconds,
      signal: this.stopCtrl.signal,
    });
    this.currentWatch = w;
    // Guard against a half-open connection the server never closes.
    const guard = setTimeout(() => w.stop(), (timeoutSeconds + 60) * 1000);
    guard.unref?.();
    let delivered = 0;
    const startedAt = Date.now();
    try {
      for await (const ev of w) {
        if (this.stopped) return 'stopped';
        const r = this.apply(ev);
        if (r) return r;
        delivered++;
        this.failures = 0;
      }
      if (this.stopped) return 'stopped';
      // A clean end (server timeout). A very short one that delivered nothing is suspicious
      // (client-go's "very short watch"): back off before reopening.
      return delivered > 0 || Date.now() - startedAt >= 1000 ? 'ended' : 'error-retry-watch';
    } catch (e) {
      if (this.stopped) return 'stopped';
      if (isGone(e)) return 'gone';
      if (delivered > 0) return 'ended'; // a dropped connection after progress: resume at once
      this.report(e, 'watch');
      return isTransient(e) ? 'error-retry-watch' : 'error-relist';
    } finally {
      clearTimeout(guard);
      w.stop();
      this.currentWatch = undefined;
    }
  }

  /** Applies one event; returns an outcome when the watch must end. */
  private apply(ev: WatchEvent<KObject>): WatchOutcome | undefined {
    const obj = ev.object;
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED': {
        const key = keyOf(obj);
        const rv = obj.metadata?.resourceVersion ?? '';
        const e: Entry<T> = { obj: this.transform(obj), rv };
        const old = this.store(key, e);
        if (rv) this.lastRV = rv;
        if (old === undefined) this.emitAdd(e.obj, false);
        else this.emitUpdate(old, e.obj);
        return undefined;
      }
      case 'DELETED': {
        const key = keyOf(obj);
        const rv = obj.metadata?.resourceVersion ?? '';
        this.remove(key);
        if (rv) this.lastRV = rv;
        this.emitDelete(this.transform(obj), false);
        return undefined;
      }
      case 'BOOKMARK': {
        const rv = obj?.metadata?.resourceVersion;
        if (rv) this.lastRV = rv;
        return undefined;
      }
      case 'ERROR': {
        const s = obj as unknown as Partial<Status>;
        if (isGoneStatus(s)) return 'gone';
        this.report(new Error(`watch error event: ${s.message ?? JSON.stringify(s)}`), 'watch');
        return 'error-relist';
      }
      default:
        this.report(new Error(`unknown watch event type ${JSON.stringify((ev as { type: unknown }).type)}`), 'watch');
        return 'error-relist';
    }
  }
}

/** Anything that hands out a ListWatcher per resource: ApiClient, or a fixture. */
export interface ListWatcherSource {
  resource(gvr: GVR, namespace?: string): ListWatcher;
}

export interface SharedInformerKey {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/**
 * Shared informers for a composition root (STYLE.md item 8): one informer per resource
 * and selector, however many components ask for it. Objects are stored as the server sends
 * them; a component that wants stripped records (STYLE.md item 7) builds its own Informer
 * with a transform, or converts in its handlers.
 */
export class InformerFactory {
  private readonly informers = new Map<string, Informer<KObject>>();
  private started = false;

  constructor(private readonly source: ListWatcherSource,
    private readonly defaults: Omit<InformerOptions<KObject>, 'transform' | 'handlers' | 'labelSelector' | 'fieldSelector'> = {}) {}

  /** The shared informer for `gvr` (created on first use; started at once if the factory runs). */
  informerFor(gvr: GVR, key: SharedInformerKey = {}): Informer<KObject> {
    const id = JSON.stringify([gvr.group, gvr.version, gvr.resource, key.namespace ?? '', key.labelSelector ?? '', key.fieldSelector ?? '']);
    let inf = this.informers.get(id);
    if (!inf) {
      const name = `${gvr.group ? `${gvr.resource}.${gvr.group}` : gvr.resource}${key.namespace ? ` in ${key.namespace}` : ''}`;
      inf = new Informer<KObject>(this.source.resource(gvr, key.namespace), {
        name, ...this.defaults, labelSelector: key.labelSelector, fieldSelector: key.fieldSelector,
      });
      this.informers.set(id, inf);
      if (this.started) inf.start();
    }
    return inf;
  }

  start(): void {
    this.started = true;
    for (const inf of this.informers.values()) inf.start();
  }

  /** Resolves true once every informer created so far has synced (false if one was stopped). */
  async waitForSync(signal?: AbortSignal): Promise<boolean> {
    const r = await Promise.all(Array.from(this.informers.values(), (i) => i.waitForSync(signal)));
    return r.every(Boolean);
  }

  async stop(): Promise<void> {
    await Promise.all(Array.from(this.informers.values(), (i) => i.stop()));
  }
}

function addTo(idx: Map<string, Set<string>>, v: string, key: string): void {
  let s = idx.get(v);
  if (!s) { s = new Set(); idx.set(v, s); }
  s.add(key);
}
