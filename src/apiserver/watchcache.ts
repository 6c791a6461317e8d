// The watch cache of one resource, after kube-apiserver's cacher: a single store watch per
// resource keeps each event in a bounded ring (decoded once, when first needed), and fans it
// out to every API watcher.
// A watcher may start from any revision still in the ring; older ones get 410 Gone (and
// relist), as upstream's "too old resource version". Slow watchers are cut off, never
// buffered without bound.

import { apiVersionOf, type KObject } from '../api/meta.js';
import type { ResourceType } from '../api/registry.js';
import { decodeFor, resourcePrefix } from './codec.js';
import { matchesFilter, type ObjectFilter } from './filter.js';
import type { KeyValue, Store, StoreEvent, Watcher } from './storage/types.js';

export interface CachedEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  revision: number;
  object: KObject;
  prevObject?: KObject;
  namespace: string;
  /** `{"type":…,"object":…}` serialized once, shared by every watcher that sends it unchanged. */
  line?: string;
  /** Approximate memory this event holds (object, previous object, serialized line). */
  bytes: number;
}

export interface WatchSink {
  /** Deliver one event (already filtered); returns false when the sink is overloaded. */
  send(type: CachedEvent['type'], object: KObject, ev?: CachedEvent): boolean;
  /** The cache's revision advanced (for bookmarks). */
  progress?(revision: number): void;
  /** The watcher is being terminated (overload, shutdown). */
  close(reason: string): void;
}

interface CacheWatcher {
  filter: ObjectFilter;
  sink: WatchSink;
  /** Deliver only events after this revision. */
  after: number;
  closed?: boolean;
}

export class TooOldError extends Error {
  constructor(readonly requested: number, readonly oldest: number) {
    super(`too old resource version: ${requested} (${oldest})`);
  }
}

export class WatchCache {
  /** Recent events, oldest first, from index `head` on (slots before it are released). */
  private ring: (CachedEvent | undefined)[] = [];
  private head = 0;
  /** Sum of `bytes` of the events held. */
  private bytes = 0;
  /** The cache holds every event with revision > windowStart. */
  private windowStart = 0;
  /** Highest revision the cache has processed. */
  revision = 0;
  private watchers = new Set<CacheWatcher>();
  private storeWatch?: Watcher;
  private readonly prefix: string;

  /**
   * Holds at most `capacity` events and, so that large objects cannot make it grow without
   * bound, at most about `maxBytes` of them (always at least the newest event).
   */
  constructor(private readonly store: Store, readonly rt: ResourceType, private readonly capacity = 10_000,
              private readonly maxBytes = 64 * 1024 * 1024) {
    this.prefix = resourcePrefix(rt);
  }

  /** Starts following the store, replaying the history it still holds. */
  start(): void {
    const from = this.store.compactedRevision + 1;
    this.windowStart = from - 1;
    this.revision = Math.max(this.store.revision, this.windowStart);
    this.storeWatch = this.store.watch(this.prefix, { prefix: true, startRevision: Math.max(from, 1) },
      (events) => this.onStoreEvents(events),
      (err) => this.onStoreError(err));
  }

  stop(): void {
    this.storeWatch?.cancel();
    for (const w of this.watchers) w.sink.close('server shutting down');
    this.watchers.clear();
  }

  get size(): number { return this.ring.length - this.head; }
  get watcherCount(): number { return this.watchers.size; }

  /**
   * Resolves once the cache has seen every event up to revision `rev` (false after
   * `timeoutMs`). Writes to other resources move the store's revision without events here,
   * so the store's own revision, once its deliveries have run, also counts.
   */
  async waitFor(rev: number, timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.revision >= rev) return true;
      if (this.store.revision >= rev) {
        await new Promise((r) => setImmediate(r)); // let the store's pending deliveries run
        this.advance(this.store.revision);
        return true;
      }
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The revision a new watcher or list should start from: everything up to it is cached. */
  async currentRevision(): Promise<number> {
    await this.waitFor(this.store.revision);
    return this.revision;
  }

  private onStoreError(err: Error): void {
    // The store compacted past us (should not happen: we follow it live). Restart cleanly:
    // every watcher must relist.
    for (const w of this.watchers) w.sink.close(`watch cache reset: ${err.message}`);
    this.watchers.clear();
    this.ring = [];
    this.head = 0;
    this.bytes = 0;
    this.storeWatch?.cancel();
    this.windowStart = this.store.revision;
    this.revision = this.store.revision;
    this.storeWatch = this.store.watch(this.prefix, { prefix: true, startRevision: this.store.revision + 1 },
      (events) => this.onStoreEvents(events), (e) => this.onStoreError(e));
  }

  private onStoreEvents(events: StoreEvent[]): void {
    for (const e of events) {
      const ev = this.toCachedEvent(e);
      if (!ev) continue;
      this.push(ev);
      for (const w of this.watchers) this.deliver(w, ev);
    }
    const last = events[events.length - 1];
    if (last && last.kv.modRevision > this.revision) this.revision = last.kv.modRevision;
  }

  /** The store's revision moved on without events for us (writes to other resources). */
  advance(rev: number): void {
    if (rev <= this.revision) return;
    this.revision = rev;
    for (const w of this.watchers) w.sink.progress?.(rev);
  }

  /**
   * The cached form of a store event. Objects are decoded when first needed (a watcher's
   * filter or its send), not on arrival: most writes are watched by few or none, and decoding
   * each write's new and previous value was a good part of a create's cost.
   */
  private toCachedEvent(e: StoreEvent): CachedEvent | undefined {
    const rt = this.rt;
    const kv = e.type === 'delete' ? e.prevKv : e.kv;
    if (!kv) return undefined;
    const revision = e.kv.modRevision;
    // Keys are <prefix><namespace>/<name> for namespaced kinds (codec.objectKey).
    const namespace = rt.namespaced ? kv.key.slice(this.prefix.length, kv.key.indexOf('/', this.prefix.length)) : '';
    const decode = (v: KeyValue): KObject => {
      try {
        return decodeFor(rt, v);
      } catch {
        // Never written by us (corruption): a stub, so one bad value never blocks the others.
        const name = v.key.slice(v.key.lastIndexOf('/') + 1);
        return { apiVersion: apiVersionOf(rt.group, rt.version), kind: rt.kind, metadata: { name, namespace: namespace || undefined, resourceVersion: String(v.modRevision) } };
      }
    };
    const prevKv = e.prevKv;
    let object: KObject | undefined;
    let prevObject: KObject | undefined;
    const ev: CachedEvent = {
      type: e.type === 'delete' ? 'DELETED' : prevKv ? 'MODIFIED' : 'ADDED',
      revision, namespace,
      bytes: e.type === 'delete' ? 3 * kv.value.length : 2 * kv.value.length + (prevKv?.value.length ?? 0),
      get object(): KObject {
        if (!object) {
          object = decode(kv);
          // A deletion shows the last state at the deletion's revision.
          if (e.type === 'delete') object.metadata.resourceVersion = String(revision);
        }
        return object;
      },
      get prevObject(): KObject | undefined {
        if (!prevKv) return undefined;
        return (prevObject ??= decode(prevKv));
      },
    };
    return ev;
  }

  private push(ev: CachedEvent): void {
    this.ring.push(ev);
    this.bytes += ev.bytes;
    while (this.size > this.capacity || (this.bytes > this.maxBytes && this.size > 1)) {
      const evicted = this.ring[this.head]!;
      this.ring[this.head++] = undefined;
      this.bytes -= evicted.bytes;
      this.windowStart = evicted.revision;
    }
    // Drop the released slots once they are most of the array (amortized O(1) per event).
    if (this.head >= 1024 && this.head * 2 >= this.ring.length) {
      this.ring = this.ring.slice(this.head);
      this.head = 0;
    }
  }

  private *eventsAfter(rev: number): Generator<CachedEvent> {
    const end = this.ring.length;
    for (let i = this.head; i < end; i++) {
      const ev = this.ring[i];
      if (ev && ev.revision > rev) yield ev;
    }
  }

  private deliver(w: CacheWatcher, ev: CachedEvent): void {
    if (ev.revision <= w.after) return;
    const f = w.filter;
    if (f.namespace !== undefined && ev.namespace !== f.namespace) return;
    const curMatch = ev.type !== 'DELETED' && matchesFilter(this.rt, f, ev.object);
    const prevMatch = ev.type !== 'ADDED' && (f.everything && f.namespace === undefined ? true : matchesFilter(this.rt, f, ev.prevObject!));
    let type: CachedEvent['type'] | undefined;
    if (ev.type === 'DELETED') type = prevMatch ? 'DELETED' : undefined;
    else if (curMatch) type = prevMatch ? 'MODIFIED' : 'ADDED';
    else if (prevMatch) type = 'DELETED';
    if (!type) return;
    const ok = w.sink.send(type, ev.object, type === ev.type ? ev : undefined);
    if (!ok) {
      this.watchers.delete(w);
      w.closed = true;
      w.sink.close('watcher is too slow: its buffer is full');
    }
  }

  /**
   * Registers a watcher for events after `fromRevision`. Throws TooOldError when that revision
   * has left the window (the client must relist).
   */
  watch(fromRevision: number, filter: ObjectFilter, sink: WatchSink): () => void {
    if (fromRevision < this.windowStart) throw new TooOldError(fromRevision, this.windowStart + 1);
    const w: CacheWatcher = { filter, sink, after: fromRevision };
    for (const ev of this.eventsAfter(fromRevision)) {
      this.deliver(w, ev);
      if (w.closed) return () => {};
    }
    this.watchers.add(w);
    return () => { this.watchers.delete(w); w.closed = true; };
  }
}
