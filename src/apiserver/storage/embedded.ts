// The embedded, durable store behind the API server: an etcd-v3-shaped MVCC key-value store
// kept in memory and made durable by a write-ahead log plus snapshots in one data directory.
//
// Files, all under DIR/store/ (directory 0700, files 0600):
//   LOCK                      the owning process's PID; a lock left by a dead PID is taken over
//   wal-<firstRev>.log        write-ahead log segments, one record per committed transaction
//   snapshot-<rev>.snap       the whole state (and retained history) as of revision <rev>
// Every record in both kinds of file is framed as [u32 length][u32 crc32][payload], little
// endian. A torn or corrupt tail of the last WAL segment (a crash in mid-write) is cut off at
// open; corruption anywhere else fails open with a message naming the file and offset.
//
// Writes (group commit): txn() checks preconditions and assigns the next revision against a
// *pending* view (published state + not-yet-durable writes), encodes one WAL record and queues
// it. A single commit loop appends everything queued since its last round in one write and
// one fdatasync, then publishes the batch in revision order: applies it to the readable state,
// delivers watch events, resolves the txn promises. Reads and watches therefore only ever see
// durable writes, and txns that arrive while an fsync is in flight share the next one. A
// caller may learn that its txn succeeded as soon as it is ordered (TxnOptions.onOrdered).
//
// History: each key keeps its versions (oldest first; version 0 marks a deletion), and a log
// of events per revision feeds watch replay. Compaction to revision R drops what no read at a
// revision >= R can see; automatic compaction keeps `retainRevisions` of history in memory.
// Checkpoints (explicit compact(), or automatic once the WAL outgrows both maxWalBytes and half
// the last snapshot) write a new snapshot through tmp + fsync + rename + directory fsync, after
// switching new writes to a fresh WAL segment; older segments and snapshots are then deleted.
// Disk use stays below about 2.5 x (live data + retained history) + maxWalBytes, and a reopen
// replays at most half a snapshot's worth of WAL.
//
// Memory: values are kept as the strings they were written as (never parsed). At open, the
// values of each snapshot block are slices of one decoded string per block (see loadSnapshot).
// KeyValue and StoreEvent objects handed out are frozen and shared: callers must not mutate them.
//
// Key index: sorted blocks of key records (at most 512 per block, split when full), searched by
// binary search over blocks then within one. Inserting is O(log n + 512) with no rebalancing
// logic to get wrong, and listing a prefix is a binary search plus a sequential walk — simpler
// than a B-tree, and unlike one sorted array it does not move 100k pointers per new key.
// Keys are ordered by JavaScript string comparison (UTF-16 code units), which matches etcd's
// byte order for the ASCII keys the API server uses.

import { mkdir, open, readdir, rename, unlink, readFile, chmod, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { writeSync } from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import {
  CompactedError, FutureRevisionError,
  type KeyValue, type Op, type Precondition, type RangeOptions, type RangeResult, type Store,
  type StoreEvent, type TxnOptions, type TxnResult, type WatchOptions, type Watcher,
} from './types.js';

export interface EmbeddedStoreOptions {
  /**
   * Automatic compaction keeps at least this many revisions of history: once history spans
   * twice this many revisions it is compacted back to this many. 0 turns it off. Default 10,000.
   */
  retainRevisions?: number;
  /**
   * Write a snapshot (and drop older WAL segments) once the current WAL segment is larger than
   * both this and half the last snapshot. Default 64 MiB.
   */
  maxWalBytes?: number;
  /** Where errors of background work (automatic checkpoints) go. Default: console.error. */
  onBackgroundError?: (err: Error) => void;
}

// ---------------------------------------------------------------------------------------------
// Record framing and encoding

const nativeCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE), from node:zlib where available (Node ≥ 20.15), else a table. */
export function crc32(data: Uint8Array): number {
  if (nativeCrc32) return nativeCrc32(data) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const HEADER = 8;
const MIN_PAYLOAD = 1;
const MAX_PAYLOAD = 1 << 30;

const REC_TXN = 1;
const REC_SNAP_HEADER = 10;
const REC_SNAP_BLOCK = 11;
const REC_SNAP_FOOTER = 12;
const SNAP_FORMAT = 1;
/** A snapshot block holds up to this many keys, or about this many characters of values. */
const BLOCK_KEYS = 512;
const BLOCK_CHARS = 1 << 20;
const SNAPSHOT_SYNC_BYTES = 8 << 20;
const OP_PUT = 1;
const OP_DELETE = 2;

class Encoder {
  private buf: Buffer;
  pos = 0;
  constructor(capacity: number) { this.buf = Buffer.allocUnsafe(Math.max(64, capacity)); }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void { this.room(1); this.buf[this.pos++] = v; }
  u32(v: number): void { this.room(4); this.buf.writeUInt32LE(v, this.pos); this.pos += 4; }
  u48(v: number): void { this.room(6); this.buf.writeUIntLE(v, this.pos, 6); this.pos += 6; }
  str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.u32(n);
    this.room(n);
    this.buf.write(s, this.pos, n, 'utf8');
    this.pos += n;
  }
  /** The UTF-8 bytes of `s`, without a length. */
  raw(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.room(n);
    this.buf.write(s, this.pos, n, 'utf8');
    this.pos += n;
  }
  patchU32(at: number, v: number): void { this.buf.writeUInt32LE(v, at); }
  /** Starts a framed record; returns its start for end(). */
  begin(): number { this.room(HEADER); const at = this.pos; this.pos += HEADER; return at; }
  end(at: number): void {
    const len = this.pos - at - HEADER;
    this.buf.writeUInt32LE(len, at);
    this.buf.writeUInt32LE(crc32(this.buf.subarray(at + HEADER, this.pos)), at + 4);
  }
  /** The bytes written so far (a view: valid until the next write or reset). */
  view(): Buffer { return this.buf.subarray(0, this.pos); }
  reset(): void { this.pos = 0; }
}

class Decoder {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  u8(): number { this.need(1); return this.buf[this.pos++]; }
  u32(): number { this.need(4); const v = this.buf.readUInt32LE(this.pos); this.pos += 4; return v; }
  u48(): number { this.need(6); const v = this.buf.readUIntLE(this.pos, 6); this.pos += 6; return v; }
  str(): string { return this.utf8(this.u32()); }
  utf8(n: number): string {
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  done(): boolean { return this.pos === this.buf.length; }
  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error('record shorter than its contents');
  }
}

interface ReadResult {
  /** File offset just past the last valid record. */
  validEnd: number;
  size: number;
  /** Bytes after validEnd could not be read as a whole, checksummed record. */
  torn: boolean;
}

const READ_CHUNK = 8 << 20;

/**
 * Calls onRecord for each valid framed record of a file, in order, reading it in chunks so a
 * large snapshot never sits in memory whole. `payload` is only valid during the call.
 */
async function readRecords(fh: FileHandle, onRecord: (payload: Buffer, offset: number) => void): Promise<ReadResult> {
  const { size } = await fh.stat();
  let buf = Buffer.alloc(0);
  let p = 0; // position in buf of the next record
  let len = 0; // valid bytes in buf
  let filePos = 0; // file offset of buf[len]
  const ensure = async (n: number): Promise<boolean> => {
    if (len - p >= n) return true;
    if (filePos >= size) return false;
    const keep = len - p;
    const cap = Math.max(n, Math.min(READ_CHUNK, keep + size - filePos));
    const next = cap <= buf.length ? buf : Buffer.allocUnsafe(cap);
    buf.copy(next, 0, p, len);
    buf = next;
    p = 0;
    len = keep;
    while (len < buf.length && filePos < size) {
      const { bytesRead } = await fh.read(buf, len, buf.length - len, filePos);
      if (bytesRead === 0) break;
      len += bytesRead;
      filePos += bytesRead;
    }
    return len - p >= n;
  };
  for (;;) {
    const offset = filePos - (len - p);
    if (!(await ensure(HEADER))) return { validEnd: offset, size, torn: offset < size };
    const plen = buf.readUInt32LE(p);
    const sum = buf.readUInt32LE(p + 4);
    if (plen < MIN_PAYLOAD || plen > MAX_PAYLOAD) return { validEnd: offset, size, torn: true };
    if (!(await ensure(HEADER + plen))) return { validEnd: offset, size, torn: true };
    const payload = buf.subarray(p + HEADER, p + HEADER + plen);
    if (crc32(payload) !== sum) return { validEnd: offset, size, torn: true };
    onRecord(payload, offset);
    p += HEADER + plen;
  }
}

// ---------------------------------------------------------------------------------------------
// In-memory state

interface KeyRecord {
  key: string;
  /** Oldest first, ascending modRevision; `version === 0` marks a deletion (tombstone). */
  versions: KeyValue[];
}

const BLOCK_MAX = 512;

/** Key records in key order: sorted blocks of at most BLOCK_MAX records. */
class KeyIndex {
  private blocks: KeyRecord[][] = [];
  size = 0;

  /** Loads records already in ascending key order. */
  static fromSorted(recs: KeyRecord[]): KeyIndex {
    const idx = new KeyIndex();
    for (let i = 0; i < recs.length; i += BLOCK_MAX / 2) idx.blocks.push(recs.slice(i, i + BLOCK_MAX / 2));
    idx.size = recs.length;
    return idx;
  }

  /** The first block whose last key is >= key (the last block when there is none). */
  private blockFor(key: string): number {
    let lo = 0;
    let hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const b = this.blocks[mid];
      if (b[b.length - 1].key < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(rec: KeyRecord): void {
    this.size++;
    if (this.blocks.length === 0) { this.blocks.push([rec]); return; }
    const bi = this.blockFor(rec.key);
    const b = this.blocks[bi];
    b.splice(lowerBound(b, rec.key), 0, rec);
    if (b.length > BLOCK_MAX) this.blocks.splice(bi + 1, 0, b.splice(BLOCK_MAX / 2));
  }

  remove(key: string): void {
    if (this.blocks.length === 0) return;
    const bi = this.blockFor(key);
    const b = this.blocks[bi];
    const i = lowerBound(b, key);
    if (i < b.length && b[i].key === key) {
      b.splice(i, 1);
      this.size--;
      if (b.length === 0) this.blocks.splice(bi, 1);
    }
  }

  /** Visits records with key >= from (> from when exclusive), in order, while fn returns true. */
  scan(from: string, exclusive: boolean, fn: (rec: KeyRecord) => boolean): void {
    if (this.blocks.length === 0) return;
    let bi = this.blockFor(from);
    let b = this.blocks[bi];
    let i = lowerBound(b, from);
    if (exclusive && i < b.length && b[i].key === from) i++;
    for (; bi < this.blocks.length; bi++, i = 0) {
      b = this.blocks[bi];
      for (; i < b.length; i++) if (!fn(b[i])) return;
    }
  }
}

function lowerBound(b: KeyRecord[], key: string): number {
  let lo = 0;
  let hi = b.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (b[mid].key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The version of a key visible at `rev` (tombstones included), if any. */
function versionAt(rec: KeyRecord, rev: number): KeyValue | undefined {
  const vs = rec.versions;
  const last = vs[vs.length - 1];
  if (last.modRevision <= rev) return last;
  let lo = 0;
  let hi = vs.length; // first index with modRevision > rev
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (vs[mid].modRevision <= rev) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 ? vs[lo - 1] : undefined;
}

function live(kv: KeyValue | undefined): KeyValue | undefined {
  return kv && kv.version > 0 ? kv : undefined;
}

/** The new version of a key written at `rev`; `value` undefined means delete. */
function makeVersion(key: string, value: string | undefined, rev: number, prev: KeyValue | undefined): KeyValue {
  if (value === undefined) return Object.freeze({ key, value: '', createRevision: 0, modRevision: rev, version: 0 });
  return Object.freeze({
    key, value,
    createRevision: prev ? prev.createRevision : rev,
    modRevision: rev,
    version: prev ? prev.version + 1 : 1,
  });
}

function makeEvent(kv: KeyValue, prev: KeyValue | undefined): StoreEvent {
  const ev: StoreEvent = prev
    ? { type: kv.version === 0 ? 'delete' : 'put', kv, prevKv: prev }
    : { type: kv.version === 0 ? 'delete' : 'put', kv };
  return Object.freeze(ev);
}

interface LogEntry { rev: number; events: StoreEvent[] }

interface WatchState {
  key: string;
  prefix: boolean;
  onEvents: (events: StoreEvent[]) => void;
  onError: (err: Error) => void;
  /** The first revision not yet delivered. */
  nextRev: number;
  /** False until history replay has run; live events wait for it. */
  ready: boolean;
  cancelled: boolean;
}

type QueueItem =
  | {
    kind: 'txn';
    /** Revision assigned; 0 for txns that write nothing (failed or empty). */
    rev: number;
    record?: Buffer;
    changes?: KeyValue[];
    events?: StoreEvent[];
    result: Omit<TxnResult, 'revision'>;
    resolve: (r: TxnResult) => void;
    reject: (e: Error) => void;
  }
  | { kind: 'control'; run: () => Promise<void>; resolve: () => void; reject: (e: Error) => void };

interface Captured {
  rev: number;
  compacted: number;
  recs: KeyRecord[];
  versions: KeyValue[][];
  lens: number[];
}

const pad = (n: number): string => String(n).padStart(16, '0');
const walName = (start: number): string => `wal-${pad(start)}.log`;
const snapName = (rev: number): string => `snapshot-${pad(rev)}.snap`;
const WAL_RE = /^wal-(\d{16})\.log$/;
const SNAP_RE = /^snapshot-(\d{16})\.snap$/;

// ---------------------------------------------------------------------------------------------

export class EmbeddedStore implements Store {
  private rev = 0;
  private compacted = 0;
  /** Highest revision handed out to a txn (>= rev; the difference is not yet durable). */
  private assigned = 0;
  private readonly keys = new Map<string, KeyRecord>();
  private index = new KeyIndex();
  /** Latest not-yet-durable version of each key written by queued txns. */
  private readonly pending = new Map<string, KeyValue>();
  /** Records written since the last trim: the only ones that can hold compactable history. */
  private touched = new Set<KeyRecord>();
  /** Events of every revision >= compacted, ascending. */
  private log: LogEntry[] = [];
  private readonly watchers = new Set<WatchState>();

  private queue: QueueItem[] = [];
  private loop: Promise<void> = Promise.resolve();
  private running = false;
  private failure: Error | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  private wal!: FileHandle; // set by recover()
  private walStart = 1;
  private walBytes = 0;
  private lastSnapshotBytes = 0;
  private checkpointChain: Promise<unknown> = Promise.resolve();
  private autoCheckpoint = false;

  private readonly retain: number;
  private readonly maxWalBytes: number;
  private readonly onBackgroundError: (err: Error) => void;

  private constructor(private readonly dir: string, opts: EmbeddedStoreOptions) {
    this.retain = opts.retainRevisions ?? 10_000;
    this.maxWalBytes = opts.maxWalBytes ?? 64 << 20;
    this.onBackgroundError = opts.onBackgroundError ?? ((err) => console.error(`podnet store: ${err.message}`));
  }

  /** Opens (creating if needed) the store kept in `dir`/store. */
  static async open(dir: string, opts: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
    const storeDir = path.join(dir, 'store');
    await mkdir(storeDir, { recursive: true, mode: 0o700 });
    await chmod(storeDir, 0o700);
    await acquireLock(storeDir);
    const s = new EmbeddedStore(storeDir, opts);
    try {
      await s.recover();
      s.maybeCheckpoint();
    } catch (err) {
      await (s.wal as FileHandle | undefined)?.close().catch(() => undefined);
      await unlink(path.join(storeDir, 'LOCK')).catch(() => undefined);
      throw err;
    }
    return s;
  }

  get revision(): number { return this.rev; }
  get compactedRevision(): number { return this.compacted; }

  // ---- reads -------------------------------------------------------------------------------

  private readRevision(revision: number | undefined): number {
    if (!revision || revision <= 0) return this.rev;
    if (revision < this.compacted) throw new CompactedError(revision, this.compacted);
    if (revision > this.rev) throw new FutureRevisionError(revision, this.rev);
    return revision;
  }

  async get(key: string, revision?: number): Promise<KeyValue | undefined> {
    const rev = this.readRevision(revision);
    const rec = this.keys.get(key);
    return rec && live(versionAt(rec, rev));
  }

  /** `revision` in the result is the revision the read was served at. */
  async range(key: string, opts: RangeOptions = {}): Promise<RangeResult> {
    const rev = this.readRevision(opts.revision);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const kvs: KeyValue[] = [];
    let count = 0;
    let more = false;
    let extra = 0;
    const countLimit = opts.countLimit ?? Infinity;
    /** Returns false once counting should stop (countLimit reached). */
    const take = (kv: KeyValue): boolean => {
      count++;
      if (opts.countOnly) return true;
      if (kvs.length < limit) { kvs.push(kv); return true; }
      more = true;
      if (++extra > countLimit) { count = -1; return false; }
      return true;
    };
    if (!opts.prefix) {
      const rec = this.keys.get(key);
      const kv = rec && live(versionAt(rec, rev));
      if (kv && (opts.after === undefined || key > opts.after)) take(kv);
    } else {
      const useAfter = opts.after !== undefined && opts.after >= key;
      this.index.scan(useAfter ? opts.after! : key, useAfter, (rec) => {
        if (!rec.key.startsWith(key)) return false;
        const kv = live(versionAt(rec, rev));
        return kv ? take(kv) : true;
      });
    }
    return { kvs, more, count, revision: rev };
  }

  // ---- writes ------------------------------------------------------------------------------

  /** The latest version of a key including not-yet-durable writes (tombstones included). */
  private latestPending(key: string): KeyValue | undefined {
    const p = this.pending.get(key);
    if (p) return p;
    const rec = this.keys.get(key);
    return rec && rec.versions[rec.versions.length - 1];
  }

  txn(preconditions: Precondition[], ops: Op[], opts?: TxnOptions): Promise<TxnResult> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    if (this.failure) return Promise.reject(this.failure);
    const seen = new Set<string>();
    for (const op of ops) {
      if (seen.has(op.key)) return Promise.reject(new Error(`duplicate key ${op.key} in one transaction`));
      seen.add(op.key);
      if (op.type === 'put' && typeof op.value !== 'string') {
        return Promise.reject(new TypeError(`value of ${op.key} is not a string`));
      }
    }
    const current = preconditions.map((p) => live(this.latestPending(p.key)));
    const prev = ops.map((op) => live(this.latestPending(op.key)));
    const succeeded = preconditions.every((p, i) => (current[i]?.modRevision ?? 0) === p.modRevision);

    const rev = this.assigned + 1;
    const changes: KeyValue[] = [];
    const events: StoreEvent[] = [];
    if (succeeded) {
      ops.forEach((op, i) => {
        if (op.type === 'delete' && !prev[i]) return; // deleting nothing changes nothing
        const kv = makeVersion(op.key, op.type === 'put' ? op.value : undefined, rev, prev[i]);
        changes.push(kv);
        events.push(makeEvent(kv, prev[i]));
      });
    }
    return new Promise<TxnResult>((resolve, reject) => {
      const result = { succeeded, current, prev };
      if (changes.length === 0) {
        // Writes nothing; but what it read may be pending, so answer after that is durable.
        if (this.assigned === this.rev) {
          resolve({ ...result, revision: this.rev });
        } else {
          this.queue.push({ kind: 'txn', rev: 0, result, resolve, reject });
          this.kick();
        }
        return;
      }
      this.assigned = rev;
      for (const kv of changes) this.pending.set(kv.key, kv);
      this.queue.push({ kind: 'txn', rev, record: encodeTxn(rev, changes), changes, events, result, resolve, reject });
      this.kick();
      opts?.onOrdered?.(rev);
    });
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.commitLoop();
  }

  /** Writes and fsyncs whatever is queued, then publishes it; repeats until the queue is empty. */
  private async commitLoop(): Promise<void> {
    // Let every txn issued in this turn of the event loop (e.g. by clients whose previous write
    // was just acknowledged) join the first batch.
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (;;) {
      if (this.queue.length === 0) {
        // Cleared in the same synchronous step that saw the queue empty, so that an item
        // queued from here on starts a new loop instead of being stranded.
        this.running = false;
        return;
      }
      try {
        await this.commitStep();
      } catch (err) {
        this.fail(err as Error, []);
      }
    }
  }

  /** Runs the control item at the head of the queue, or commits every txn before the next one. */
  private async commitStep(): Promise<void> {
    let n = 0;
    while (n < this.queue.length && this.queue[n].kind === 'txn') n++;
    if (n === 0) {
      const ctl = this.queue.shift() as Extract<QueueItem, { kind: 'control' }>;
      try {
        await ctl.run();
        ctl.resolve();
      } catch (err) {
        ctl.reject(err as Error);
      }
      return;
    }
    const batch = this.queue.splice(0, n) as Extract<QueueItem, { kind: 'txn' }>[];
    const records = batch.filter((b) => b.record).map((b) => b.record!);
    try {
      if (records.length > 0) {
        const data = records.length === 1 ? records[0] : Buffer.concat(records);
        // Appending to the page cache is a memory copy: done inline, saving a thread-pool
        // round trip; only the fsync waits on the disk.
        for (let off = 0; off < data.length;) off += writeSync(this.wal.fd, data, off, data.length - off);
        await this.wal.datasync();
        this.walBytes += data.length;
      }
    } catch (err) {
      this.fail(err as Error, batch);
      return;
    }
    for (const item of batch) this.publish(item);
    this.afterPublish();
  }

  /** A write or fsync failed: nothing queued can be acknowledged; the store refuses writes. */
  private fail(err: Error, batch: QueueItem[]): void {
    this.failure = new Error(`store write failed, store is read-only until reopened: ${err.message}`);
    for (const item of [...batch, ...this.queue.splice(0)]) item.reject(this.failure);
    this.pending.clear();
    this.assigned = this.rev;
  }

  private publish(item: Extract<QueueItem, { kind: 'txn' }>): void {
    if (item.changes && item.events) {
      this.apply(item.rev, item.changes, item.events);
      for (const kv of item.changes) if (this.pending.get(kv.key) === kv) this.pending.delete(kv.key);
      this.deliver(this.log[this.log.length - 1]);
    }
    item.resolve({ ...item.result, revision: this.rev });
  }

  /** Makes one revision's changes readable. */
  private apply(rev: number, changes: KeyValue[], events: StoreEvent[]): void {
    for (const kv of changes) {
      let rec = this.keys.get(kv.key);
      if (!rec) {
        rec = { key: kv.key, versions: [] };
        this.keys.set(kv.key, rec);
        this.index.insert(rec);
      }
      rec.versions.push(kv);
      this.touched.add(rec);
    }
    this.rev = rev;
    this.log.push({ rev, events });
  }

  private afterPublish(): void {
    if (this.retain > 0 && this.rev - this.compacted >= 2 * this.retain) this.trim(this.rev - this.retain);
    this.maybeCheckpoint();
  }

  /**
   * Checkpoints once the WAL outgrows both maxWalBytes and half the last snapshot: that bounds
   * the WAL replayed at open by the snapshot's size, and costs at most two snapshot bytes
   * written per WAL byte.
   */
  private maybeCheckpoint(): void {
    if (!this.autoCheckpoint && !this.closed && this.walBytes > Math.max(this.maxWalBytes, this.lastSnapshotBytes / 2)) {
      this.autoCheckpoint = true;
      this.checkpoint(this.compacted)
        .catch((err: Error) => this.onBackgroundError(err))
        .finally(() => { this.autoCheckpoint = false; });
    }
  }

  // ---- watch -------------------------------------------------------------------------------

  watch(key: string, opts: WatchOptions, onEvents: (events: StoreEvent[]) => void,
        onError: (err: Error) => void): Watcher {
    const start = opts.startRevision ?? 0;
    const w: WatchState = {
      key, prefix: !!opts.prefix, onEvents, onError,
      nextRev: start > 0 ? start : this.rev + 1,
      ready: start <= 0 || start > this.rev,
      cancelled: false,
    };
    this.watchers.add(w);
    if (!w.ready) queueMicrotask(() => this.replay(w));
    return { cancel: () => { w.cancelled = true; this.watchers.delete(w); } };
  }

  private replay(w: WatchState): void {
    if (w.cancelled) return;
    if (w.nextRev < this.compacted) {
      w.cancelled = true;
      this.watchers.delete(w);
      try { w.onError(new CompactedError(w.nextRev, this.compacted)); } catch { /* the watcher's problem */ }
      return;
    }
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.log[mid].rev < w.nextRev) lo = mid + 1;
      else hi = mid;
    }
    const end = this.log.length;
    for (let i = lo; i < end && !w.cancelled; i++) this.deliverTo(w, this.log[i]);
    w.ready = true;
  }

  private deliver(entry: LogEntry): void {
    for (const w of this.watchers) if (w.ready) this.deliverTo(w, entry);
  }

  private deliverTo(w: WatchState, entry: LogEntry): void {
    if (w.cancelled || entry.rev < w.nextRev) return;
    w.nextRev = entry.rev + 1;
    // Every resource's watch cache sees every revision: most see nothing of theirs, so no
    // array is made until an event matches.
    let evs: StoreEvent[] | undefined;
    for (const e of entry.events) {
      if (w.prefix ? e.kv.key.startsWith(w.key) : e.kv.key === w.key) (evs ??= []).push(e);
    }
    if (!evs) return;
    try {
      w.onEvents(evs);
    } catch (err) {
      this.onBackgroundError(new Error(`watch callback threw: ${(err as Error)?.message ?? err}`));
    }
  }

  // ---- compaction and checkpoints ----------------------------------------------------------

  /**
   * Discards history below `revision` and rewrites the snapshot, dropping older WAL segments.
   * Resolves once the new snapshot is durable. A revision at or below the compacted one is a
   * no-op compaction (the snapshot is still rewritten).
   */
  async compact(revision: number): Promise<void> {
    if (this.closed) throw new Error('store is closed');
    if (revision > this.rev) throw new FutureRevisionError(revision, this.rev);
    await this.checkpoint(revision);
  }

  /** Drops versions and events that no read at a revision >= target can see. Synchronous. */
  private trim(target: number): void {
    if (target <= this.compacted) return;
    const still = new Set<KeyRecord>();
    for (const rec of this.touched) {
      const vs = rec.versions;
      let i = vs.length - 1;
      while (i > 0 && vs[i].modRevision > target) i--;
      // vs[i] is the version visible at target (or the oldest one, newer than target).
      if (vs[i].modRevision <= target && vs[i].version === 0 && vs[i].modRevision < target) i++;
      if (i > 0) rec.versions = vs.slice(i); // never mutate: a snapshot writer may hold `vs`
      if (rec.versions.length === 0) {
        this.keys.delete(rec.key);
        this.index.remove(rec.key);
      } else if (rec.versions.length > 1 || rec.versions[0].version === 0) {
        still.add(rec);
      }
    }
    this.touched = still;
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.log[mid].rev < target) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) this.log = this.log.slice(lo);
    this.compacted = target;
  }

  /** Runs `fn` in the commit loop, between batches (when every assigned write is published). */
  private inLoop(fn: () => Promise<void>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ kind: 'control', run: fn, resolve, reject });
      this.kick();
    });
  }

  private checkpoint(target: number): Promise<void> {
    const run = async (): Promise<void> => {
      let captured: Captured | undefined;
      await this.inLoop(async () => {
        if (this.failure) throw this.failure;
        this.trim(target);
        captured = this.capture();
        await this.rotate();
      });
      await this.writeSnapshot(captured!);
      await this.removeObsolete(captured!.rev);
    };
    const p = this.checkpointChain.then(run);
    this.checkpointChain = p.catch(() => undefined);
    return p;
  }

  private capture(): Captured {
    const c: Captured = { rev: this.rev, compacted: this.compacted, recs: [], versions: [], lens: [] };
    this.index.scan('', false, (rec) => {
      c.recs.push(rec);
      c.versions.push(rec.versions);
      c.lens.push(rec.versions.length);
      return true;
    });
    return c;
  }

  /** Starts a new WAL segment at the next revision. Called between batches only. */
  private async rotate(): Promise<void> {
    const start = this.rev + 1;
    if (start === this.walStart) return; // nothing written to the current segment
    const fh = await open(path.join(this.dir, walName(start)), 'a', 0o600);
    await fsyncDir(this.dir);
    const old = this.wal;
    this.wal = fh;
    this.walStart = start;
    this.walBytes = 0;
    await old.close();
  }

  private async writeSnapshot(c: Captured): Promise<void> {
    const final = path.join(this.dir, snapName(c.rev));
    const tmp = `${final}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    let size = 0;
    let synced = 0;
    try {
      const enc = new Encoder(1 << 20);
      const flush = async (): Promise<void> => {
        const data = enc.view();
        let off = 0;
        while (off < data.length) off += (await fh.write(data, off, data.length - off)).bytesWritten;
        size += data.length;
        enc.reset();
        // Flushing as we go keeps one huge writeback at the end from stalling WAL fsyncs.
        if (size - synced >= SNAPSHOT_SYNC_BYTES) {
          await fh.datasync();
          synced = size;
        }
      };
      let at = enc.begin();
      enc.u8(REC_SNAP_HEADER); enc.u8(SNAP_FORMAT); enc.u48(c.rev); enc.u48(c.compacted);
      enc.end(at);
      // Blocks of keys: their versions' metadata, then all their values as one UTF-8 text, so
      // that loading decodes one string per block and slices the values out of it.
      for (let i = 0; i < c.recs.length;) {
        let end = i;
        for (let chars = 0; end < c.recs.length && end - i < BLOCK_KEYS && chars < BLOCK_CHARS; end++) {
          for (let j = 0; j < c.lens[end]; j++) chars += c.versions[end][j].value.length;
        }
        at = enc.begin();
        enc.u8(REC_SNAP_BLOCK);
        enc.u32(end - i);
        for (let r = i; r < end; r++) {
          const vs = c.versions[r];
          enc.str(c.recs[r].key);
          enc.u32(c.lens[r]);
          for (let j = 0; j < c.lens[r]; j++) {
            const kv = vs[j];
            enc.u48(kv.modRevision); enc.u48(kv.createRevision); enc.u32(kv.version); enc.u32(kv.value.length);
          }
        }
        const lenAt = enc.pos;
        enc.u32(0);
        const blobStart = enc.pos;
        for (let r = i; r < end; r++) for (let j = 0; j < c.lens[r]; j++) enc.raw(c.versions[r][j].value);
        enc.patchU32(lenAt, enc.pos - blobStart);
        enc.end(at);
        if (enc.pos >= 1 << 20) await flush();
        i = end;
      }
      at = enc.begin();
      enc.u8(REC_SNAP_FOOTER); enc.u32(c.recs.length);
      enc.end(at);
      await flush();
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, final);
    await fsyncDir(this.dir);
    this.lastSnapshotBytes = size;
  }

  /** Deletes WAL segments and snapshots that the snapshot at `rev` makes unnecessary. */
  private async removeObsolete(rev: number): Promise<void> {
    for (const name of await readdir(this.dir)) {
      const w = WAL_RE.exec(name);
      const s = SNAP_RE.exec(name);
      if ((w && Number(w[1]) <= rev && Number(w[1]) !== this.walStart) || (s && Number(s[1]) < rev)) {
        await unlink(path.join(this.dir, name)).catch(() => undefined);
      }
    }
    await fsyncDir(this.dir);
  }

  // ---- open --------------------------------------------------------------------------------

  private async recover(): Promise<void> {
    const names = await readdir(this.dir);
    for (const n of names) if (n.endsWith('.tmp')) await unlink(path.join(this.dir, n));
    const snaps = names.map((n) => SNAP_RE.exec(n)).filter((m) => m).map((m) => Number(m![1])).sort((a, b) => a - b);
    const segs = names.map((n) => WAL_RE.exec(n)).filter((m) => m).map((m) => Number(m![1])).sort((a, b) => a - b);

    if (snaps.length > 0) await this.loadSnapshot(snaps[snaps.length - 1]);
    const snapRev = this.rev;

    for (let i = 0; i < segs.length; i++) {
      const file = path.join(this.dir, walName(segs[i]));
      const last = i === segs.length - 1;
      const fh = await open(file, 'r+');
      try {
        const res = await readRecords(fh, (payload, offset) => {
          const { rev, changes } = decodeTxn(payload, `${file} at ${offset}`);
          if (rev <= this.rev) return; // already in the snapshot
          if (rev !== this.rev + 1) {
            throw new Error(`store: ${file} at ${offset}: revision ${rev} follows ${this.rev}; a WAL segment is missing`);
          }
          this.replayTxn(rev, changes);
        });
        if (res.torn) {
          if (!last) throw new Error(`store: ${file} is corrupt at offset ${res.validEnd} (not the last segment)`);
          // A crash in mid-write: the unacknowledged tail is cut off.
          await fh.truncate(res.validEnd);
          await fh.sync();
        }
      } finally {
        await fh.close();
      }
    }
    this.assigned = this.rev;

    // Segments wholly covered by the snapshot (a crash before their removal) go now.
    let first = 0;
    while (first + 1 < segs.length && segs[first + 1] <= snapRev + 1) first++;
    for (let i = 0; i < first; i++) await unlink(path.join(this.dir, walName(segs[i])));
    for (const s of snaps.slice(0, -1)) await unlink(path.join(this.dir, snapName(s)));

    if (segs.length > 0) {
      this.walStart = segs[segs.length - 1];
      if (this.walStart > this.rev + 1) {
        throw new Error(`store: ${walName(this.walStart)} starts at revision ${this.walStart} but the data before it ends at ${this.rev}`);
      }
      const file = path.join(this.dir, walName(this.walStart));
      this.wal = await open(file, 'a', 0o600);
      this.walBytes = (await this.wal.stat()).size;
    } else {
      this.walStart = this.rev + 1;
      this.wal = await open(path.join(this.dir, walName(this.walStart)), 'a', 0o600);
      this.walBytes = 0;
    }
    await fsyncDir(this.dir);
  }

  private replayTxn(rev: number, ops: { key: string; value?: string }[]): void {
    const changes: KeyValue[] = [];
    const events: StoreEvent[] = [];
    for (const op of ops) {
      const rec = this.keys.get(op.key);
      const prev = rec && live(rec.versions[rec.versions.length - 1]);
      if (op.value === undefined && !prev) continue;
      const kv = makeVersion(op.key, op.value, rev, prev);
      changes.push(kv);
      events.push(makeEvent(kv, prev));
    }
    this.apply(rev, changes, events);
    if (this.retain > 0 && this.rev - this.compacted >= 2 * this.retain) this.trim(this.rev - this.retain);
  }

  private async loadSnapshot(rev: number): Promise<void> {
    const file = path.join(this.dir, snapName(rev));
    const fh = await open(file, 'r');
    const recs: KeyRecord[] = [];
    let header = false;
    let footer = false;
    let sorted = true;
    try {
      const res = await readRecords(fh, (payload, offset) => {
        const d = new Decoder(payload);
        const type = d.u8();
        if (!header) {
          if (type !== REC_SNAP_HEADER || d.u8() !== SNAP_FORMAT) throw new Error(`store: ${file}: not a snapshot`);
          this.rev = d.u48();
          this.compacted = d.u48();
          header = true;
          return;
        }
        if (footer) throw new Error(`store: ${file}: data after the end at ${offset}`);
        if (type === REC_SNAP_FOOTER) {
          if (d.u32() !== recs.length) throw new Error(`store: ${file}: key count mismatch`);
          footer = true;
          return;
        }
        if (type !== REC_SNAP_BLOCK) throw new Error(`store: ${file}: unknown record at ${offset}`);
        const nkeys = d.u32();
        const meta: number[] = [];
        const keys: string[] = [];
        const counts: number[] = [];
        for (let r = 0; r < nkeys; r++) {
          keys.push(d.str());
          const n = d.u32();
          counts.push(n);
          for (let j = 0; j < n; j++) meta.push(d.u48(), d.u48(), d.u32(), d.u32());
        }
        // Values are slices of the block's text: no per-value copy, and most of the text sits
        // in V8's large-object space, which the young-generation collector never copies. A
        // block stays in memory until every value sliced from it has been replaced.
        const blob = d.utf8(d.u32());
        let m = 0;
        let off = 0;
        for (let r = 0; r < nkeys; r++) {
          const key = keys[r];
          const versions: KeyValue[] = new Array(counts[r]);
          for (let j = 0; j < counts[r]; j++, m += 4) {
            const len = meta[m + 3];
            const value = blob.slice(off, off + len);
            off += len;
            versions[j] = Object.freeze({ key, value, createRevision: meta[m + 1], modRevision: meta[m], version: meta[m + 2] });
          }
          if (recs.length > 0 && recs[recs.length - 1].key >= key) sorted = false;
          recs.push({ key, versions });
        }
        if (off !== blob.length || !d.done()) throw new Error(`store: ${file}: malformed block at ${offset}`);
      });
      if (res.torn || !header || !footer) throw new Error(`store: ${file} is incomplete or corrupt at offset ${res.validEnd}`);
    } finally {
      await fh.close();
    }
    if (!sorted) recs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    this.index = KeyIndex.fromSorted(recs);
    const events: [number, StoreEvent][] = [];
    for (const rec of recs) {
      this.keys.set(rec.key, rec);
      const vs = rec.versions;
      if (vs.length > 1 || vs[0].version === 0) this.touched.add(rec);
      for (let j = 0; j < vs.length; j++) {
        if (vs[j].modRevision >= this.compacted) events.push([vs[j].modRevision, makeEvent(vs[j], j > 0 ? live(vs[j - 1]) : undefined)]);
      }
    }
    events.sort((a, b) => a[0] - b[0]);
    for (const [r, ev] of events) {
      const lastEntry = this.log[this.log.length - 1];
      if (lastEntry && lastEntry.rev === r) lastEntry.events.push(ev);
      else this.log.push({ rev: r, events: [ev] });
    }
    this.lastSnapshotBytes = (await stat(file)).size;
  }

  // ---- close -------------------------------------------------------------------------------

  /** Waits for queued writes and a running checkpoint, then closes files and the lock. */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.closed = true; // refuse new writes; queued ones still complete
    while (this.running) await this.loop;
    await this.checkpointChain;
    while (this.running) await this.loop;
    this.watchers.clear();
    await this.wal.close();
    await unlink(path.join(this.dir, 'LOCK')).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------

function encodeTxn(rev: number, changes: KeyValue[]): Buffer {
  let estimate = HEADER + 16;
  for (const kv of changes) estimate += 9 + kv.key.length + kv.value.length;
  const enc = new Encoder(estimate);
  const at = enc.begin();
  enc.u8(REC_TXN);
  enc.u48(rev);
  enc.u32(changes.length);
  for (const kv of changes) {
    if (kv.version === 0) {
      enc.u8(OP_DELETE);
      enc.str(kv.key);
    } else {
      enc.u8(OP_PUT);
      enc.str(kv.key);
      enc.str(kv.value);
    }
  }
  enc.end(at);
  return enc.view();
}

function decodeTxn(payload: Buffer, where: string): { rev: number; changes: { key: string; value?: string }[] } {
  const d = new Decoder(payload);
  if (d.u8() !== REC_TXN) throw new Error(`store: ${where}: unknown WAL record`);
  const rev = d.u48();
  const n = d.u32();
  const changes: { key: string; value?: string }[] = [];
  for (let i = 0; i < n; i++) {
    const op = d.u8();
    const key = d.str();
    if (op === OP_PUT) changes.push({ key, value: d.str() });
    else if (op === OP_DELETE) changes.push({ key });
    else throw new Error(`store: ${where}: unknown op ${op}`);
  }
  if (!d.done()) throw new Error(`store: ${where}: trailing bytes in WAL record`);
  return { rev, changes };
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes DIR/LOCK for this process. A lock naming a live process (this one included) fails;
 * one naming a dead process is taken over. (Two processes taking over the same stale lock at
 * the same instant can race; podnet starts one API server per data dir.)
 */
async function acquireLock(dir: string): Promise<void> {
  const file = path.join(dir, 'LOCK');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.sync();
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const text = await readFile(file, 'utf8').catch(() => '');
    const pid = Number.parseInt(text.trim(), 10);
    if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) {
      throw new Error(`store ${dir} is locked by running process ${pid}${pid === process.pid ? ' (this one)' : ''}`);
    }
    await unlink(file).catch(() => undefined); // stale: its process is gone
  }
  throw new Error(`store ${dir}: could not take the lock ${file}`);
}
