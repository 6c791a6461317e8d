// The storage interface the API server is written against. It is shaped like etcd's v3 API
// (one cluster-wide revision counter, range reads at a revision, watch from a revision,
// compaction, transactions conditioned on a key's mod revision) so that an etcd backend can
// be dropped in later without touching the API server.

export interface KeyValue {
  key: string;
  /** The serialized object (JSON text). */
  value: string;
  /** Revision at which the key was created (etcd create_revision). */
  createRevision: number;
  /** Revision of the last write to the key (etcd mod_revision); the object's resourceVersion. */
  modRevision: number;
  /** Number of writes since the key was created (etcd version). */
  version: number;
}

export interface RangeOptions {
  /** Treat `key` as a prefix and return every key under it, in key order. */
  prefix?: boolean;
  /** Start strictly after this key (used for limit/continue pagination). */
  after?: string;
  /** At most this many results; `more` tells whether there were others. 0 = no limit. */
  limit?: number;
  /** Read as of this revision (must be ≥ the compacted revision); 0/undefined = latest. */
  revision?: number;
  /** Only count, don't return values. */
  countOnly?: boolean;
  /**
   * Stop counting this many keys past the last one returned: `count` is then -1 (unknown).
   * Lets a paginated walk of a large prefix cost O(page) per page instead of O(rest).
   */
  countLimit?: number;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** True when `limit` cut the result short. */
  more: boolean;
  /** Number of keys in the range (all of them, not only the returned ones); -1 when
   *  `countLimit` stopped the count. */
  count: number;
  /** The store's revision the read was served at. */
  revision: number;
}

/** A condition on a key, as etcd's Compare on mod_revision. 0 means "the key must not exist". */
export interface Precondition {
  key: string;
  modRevision: number;
}

export type Op =
  | { type: 'put'; key: string; value: string }
  | { type: 'delete'; key: string };

export interface TxnResult {
  /** False when a precondition failed; nothing was written then. */
  succeeded: boolean;
  /** The store revision after the transaction (unchanged when it failed). */
  revision: number;
  /** The current value of each precondition key (for building a Conflict/NotFound error). */
  current: (KeyValue | undefined)[];
  /** For each op, the previous value of its key. */
  prev: (KeyValue | undefined)[];
}

export interface TxnOptions {
  /**
   * Called synchronously, before txn() returns, when the transaction succeeded and its writes
   * have their place in the store's order (their revision), but are not yet durable. Every
   * later write becomes durable only after this one (the log is written in order), so a caller
   * whose next write depends on this one may issue it at once and wait only for the last:
   * one fsync instead of two on its path. A store may not support it (then it is not called).
   */
  onOrdered?: (revision: number) => void;
}

export type StoreEventType = 'put' | 'delete';

export interface StoreEvent {
  type: StoreEventType;
  /** For put: the new value; for delete: key and the deletion's modRevision, value empty. */
  kv: KeyValue;
  /** The value before this event, if the key existed. */
  prevKv?: KeyValue;
}

export interface WatchOptions {
  prefix?: boolean;
  /** Deliver every event with revision ≥ startRevision; 0/undefined = only new events. */
  startRevision?: number;
}

/** Thrown (or passed to the watch callback) when a revision has been compacted away. */
export class CompactedError extends Error {
  constructor(readonly requested: number, readonly compacted: number) {
    super(`required revision ${requested} has been compacted (compacted revision ${compacted})`);
  }
}

/** Thrown when a revision is in the future. */
export class FutureRevisionError extends Error {
  constructor(readonly requested: number, readonly current: number) {
    super(`required revision ${requested} is a future revision (current ${current})`);
  }
}

export interface Watcher {
  cancel(): void;
}

export interface Store {
  /** Current revision: the revision of the last committed write (0 when empty). */
  readonly revision: number;
  /** Every revision below this one has been compacted away. */
  readonly compactedRevision: number;

  get(key: string, revision?: number): Promise<KeyValue | undefined>;
  range(key: string, opts?: RangeOptions): Promise<RangeResult>;
  /**
   * Apply `ops` atomically, only if every precondition holds. Resolves once the write is
   * durable (fsynced): an acknowledged write survives `kill -9` of the process.
   * Every op in one transaction gets the same new revision (as in etcd).
   */
  txn(preconditions: Precondition[], ops: Op[], opts?: TxnOptions): Promise<TxnResult>;
  /**
   * Watch a key or prefix. Events arrive in revision order, once each. Starting below the
   * compacted revision calls `onError` with a CompactedError (and nothing else is delivered).
   */
  watch(key: string, opts: WatchOptions, onEvents: (events: StoreEvent[]) => void,
        onError: (err: Error) => void): Watcher;
  /** Discard history below `revision` (keeps the latest value of every key). */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}
