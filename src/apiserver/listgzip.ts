// Gzipped JSON lists assembled from cached, separately compressed runs of objects.
//
// A full list of 100,000 pods is ~290 MiB of JSON; compressing it in one zlib stream takes
// over a second of one core on every list, although almost none of the objects changed since
// the last one. Deflate lets independently compressed pieces be concatenated: each piece is
// raw deflate ended by a sync flush (byte-aligned, no final block), and the last piece ends
// the stream. So a list is sent as one ordinary gzip member (header, the pieces, CRC-32 and
// length), and a run of unchanged objects costs a cache lookup instead of a compression.
//
// Runs are cut where a key's hash says so (content-defined), not every N objects, so an
// inserted or deleted object changes only its own run: the runs after it keep their cached
// pieces. A run is identified by its keys and their mod revisions, which fix its bytes exactly
// (a key's value at a given mod revision never changes). Pieces that miss the cache are
// compressed in zlib's thread pool, a few at a time, written out in order.

import { constants, crc32, deflateRaw, deflateRawSync } from 'node:zlib';
import { objectsJsonBuffer } from './codec.js';
import type { KeyValue } from './storage/types.js';

/** One compressed piece of a list: raw deflate, and the CRC-32 and length of what it holds. */
export interface Piece { data: Buffer; crc: number; len: number }

// ---- CRC-32 of a concatenation (GF(2) polynomial arithmetic, reflected bit order) -----------

const CRC_POLY = 0xedb88320;

/** a(x)·b(x) modulo the CRC polynomial. */
function mulModP(a: number, b: number): number {
  let p = 0;
  for (let m = 0x80000000; m !== 0; m >>>= 1) {
    if (a & m) p ^= b;
    b = b & 1 ? (b >>> 1) ^ CRC_POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X_POW_2N[k] = x^(2^k) modulo the polynomial. */
const X_POW_2N: number[] = (() => {
  const t: number[] = [];
  let p = 0x40000000; // x^1
  for (let k = 0; k < 32; k++) { t.push(p); p = mulModP(p, p); }
  return t;
})();

/** x^(8·bytes) modulo the polynomial: the shift that appending `bytes` bytes applies. */
function shiftFor(bytes: number): number {
  let p = 0x80000000; // x^0
  let k = 3; // 8 = 2^3 bits per byte
  for (let n = bytes; n > 0; n = Math.floor(n / 2), k++) if (n % 2) p = mulModP(X_POW_2N[k & 31], p);
  return p;
}

/** CRC-32 of A+B from CRC-32(A), CRC-32(B) and B's length. */
export function crc32Combine(crcA: number, crcB: number, lenB: number): number {
  return (mulModP(shiftFor(lenB), crcA) ^ crcB) >>> 0;
}

// ---- pieces ---------------------------------------------------------------------------------

const syncFlushed = (data: Buffer, level: number): Piece =>
  ({ data: deflateRawSync(data, { level, finishFlush: constants.Z_SYNC_FLUSH }), crc: crc32(data), len: data.length });

function compress(data: Buffer, level: number): Promise<Piece> {
  const crc = crc32(data);
  return new Promise((resolve, reject) => deflateRaw(data, { level, finishFlush: constants.Z_SYNC_FLUSH },
    (err, out) => (err ? reject(err) : resolve({ data: out, crc, len: data.length }))));
}

/**
 * Cut a run after a key whose hash is 0 modulo this: runs of ~128 objects on average, small
 * enough that a page of 500 is mostly whole runs (cached), big enough to compress as well as
 * one stream (zlib's window is 32 KiB: a few objects).
 */
const RUN_CUT_MODULUS = 128;
/** … and after this many objects whatever the hashes say. */
const RUN_MAX_ITEMS = 1024;
/** Pieces compressed at the same time (zlib's pool has 4 threads; this machine often 2 cores). */
const MAX_INFLIGHT = 3;

function keyHash(key: string): number {
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Compressed runs of objects, least recently used first, bounded in bytes. */
export class ListPieceCache {
  private readonly pieces = new Map<string, Piece>();
  private bytes = 0;
  constructor(readonly maxBytes = 64 << 20, readonly level = 1) {}

  get size(): number { return this.pieces.size; }
  get byteSize(): number { return this.bytes; }

  get(sig: string): Piece | undefined {
    const p = this.pieces.get(sig);
    if (p) { this.pieces.delete(sig); this.pieces.set(sig, p); }
    return p;
  }

  set(sig: string, p: Piece): void {
    const old = this.pieces.get(sig);
    if (old) { this.bytes -= old.data.length; this.pieces.delete(sig); }
    if (p.data.length > this.maxBytes / 4) return;
    this.pieces.set(sig, p);
    this.bytes += p.data.length;
    for (const [k, v] of this.pieces) {
      if (this.bytes <= this.maxBytes) break;
      this.pieces.delete(k);
      this.bytes -= v.data.length;
    }
  }
}

const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);

/**
 * Writes one gzip member made of pieces: `begin` with the list's head, then batches of items
 * (stored objects, which are cut into cached runs, or JSON texts, compressed as they come),
 * then `end`. `out` writes bytes to the response and resolves when it may be written again.
 */
export class GzipListWriter {
  private crc = 0;
  private len = 0;
  private readonly queue: Promise<Piece>[] = [];
  private run: KeyValue[] = [];
  private wroteItem = false;
  private readonly comma: Piece;

  constructor(private readonly cache: ListPieceCache, private readonly out: (b: Buffer) => Promise<void>) {
    this.comma = syncFlushed(Buffer.from(','), cache.level);
  }

  async begin(head: string): Promise<void> {
    await this.out(GZIP_HEADER);
    await this.push(Promise.resolve(syncFlushed(Buffer.from(head), this.cache.level)));
  }

  /** Stored objects, in key order; they are written as runs, each cached by its content. */
  async addKvs(kvs: readonly KeyValue[]): Promise<void> {
    for (const kv of kvs) {
      this.run.push(kv);
      if (this.run.length >= RUN_MAX_ITEMS || keyHash(kv.key) % RUN_CUT_MODULUS === 0) await this.flushRun();
    }
  }

  /** Objects as JSON texts (filtered or converted lists): compressed, not cached. */
  async addTexts(items: readonly string[]): Promise<void> {
    if (!items.length) return;
    await this.flushRun();
    if (this.wroteItem) await this.push(Promise.resolve(this.comma));
    this.wroteItem = true;
    await this.push(compress(Buffer.from(items.join(',')), this.cache.level));
  }

  async end(tail: string): Promise<void> {
    await this.flushRun();
    while (this.queue.length) await this.writeHead();
    const t = Buffer.from(tail);
    const last = deflateRawSync(t, { level: this.cache.level }); // ends the deflate stream
    this.account({ data: last, crc: crc32(t), len: t.length });
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc, 0);
    trailer.writeUInt32LE(this.len % 0x100000000, 4);
    await this.out(Buffer.concat([last, trailer]));
  }

  private async flushRun(): Promise<void> {
    const run = this.run;
    if (!run.length) return;
    this.run = [];
    if (this.wroteItem) await this.push(Promise.resolve(this.comma));
    this.wroteItem = true;
    let sig = '';
    for (const kv of run) sig += `${kv.key} ${kv.modRevision}\n`;
    const hit = this.cache.get(sig);
    if (hit) { await this.push(Promise.resolve(hit)); return; }
    const p = compress(objectsJsonBuffer(run, false), this.cache.level);
    p.then((piece) => this.cache.set(sig, piece), () => undefined);
    await this.push(p);
  }

  private async push(p: Promise<Piece>): Promise<void> {
    p.catch(() => undefined); // awaited in order below; no unhandled rejection meanwhile
    this.queue.push(p);
    while (this.queue.length > MAX_INFLIGHT) await this.writeHead();
  }

  private async writeHead(): Promise<void> {
    const piece = await this.queue.shift()!;
    this.account(piece);
    await this.out(piece.data);
  }

  private account(p: Piece): void {
    this.crc = this.len === 0 ? p.crc : crc32Combine(this.crc, p.crc, p.len);
    this.len += p.len;
  }
}
