// Encoded cluster answers, kept for as long as the index they were computed from is unchanged.
// Almost every query a cluster DNS server sees repeats one it answered a moment ago (the same
// few Service names, asked by every pod), and the answer only changes when a Service,
// EndpointSlice, Pod or Namespace does. So the bytes of an answer are kept under the question
// (name lower-cased, type, class), the header flags a response echoes (RD, CD), and what limits
// its size (EDNS or not, DO, the UDP size, TCP); a repeat is a copy with the client's message ID
// and the client's spelling of the question patched in. Every index change clears the whole
// cache (the index's generation number), so an answer never outlives the data it came from.
//
// Only plain queries are keyed (one question, no compression pointer in it, at most an OPT
// record, EDNS version 0): everything else takes the full parse, whose verdicts (FORMERR,
// BADVERS, NOTIMP, …) are never cached. The key is read straight from the bytes into a hash and
// compared byte by byte on a hit: no string is built per query (that was a tenth of the CPU time
// of a repeat).

import { TYPE, udpLimit } from './wire.js';

/** One kept answer, and what the metrics need to count a repeat without reading it again. */
export interface CachedAnswer {
  /** The whole response as first sent; never modified (a repeat is a copy). */
  readonly buf: Buffer;
  /** Where the question ends (same for every spelling of the name: case does not change length). */
  readonly qEnd: number;
  /** The `plugin` label of coredns_dns_responses_total for this answer. */
  readonly plugin: string;
  /** Per-(protocol, family) metric series, filled in by the server on first use. */
  stats?: unknown[];
}

interface Entry {
  answer: CachedAnswer;
  /** The question as keyed: name lower-cased, TYPE, CLASS; then what else the key holds. */
  question: Buffer;
  echoed: number;
  size: number;
}

const MAX_NAME_WIRE = 255;

/**
 * What answerKey() read from the last query it accepted (one scratch object instead of an
 * allocation per query; the cache is used from one thread, synchronously).
 */
const plain = { qEnd: 0, echoed: 0, size: 0 };

const lower = (c: number) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);

/**
 * The hash of a plain query's key (see the top of this file), or -1 when the query is not
 * plain and must go through the full parse. Reads only the bytes and allocates nothing; the
 * rest of the key is left in `plain` for the lookup to compare.
 */
export function answerKey(msg: Buffer, tcp: boolean): number {
  const len = msg.length;
  // Header: a QUERY (QR 0, opcode 0), one question, nothing in answer or authority, ≤ 1 additional.
  if (len < 17 || (msg[2] & 0xf8) !== 0 || msg[4] !== 0 || msg[5] !== 1 || msg[6] !== 0 || msg[7] !== 0 ||
      msg[8] !== 0 || msg[9] !== 0 || msg[10] !== 0 || msg[11] > 1) return -1;
  // FNV-1a over the name, lower-cased (only the name: TYPE and CLASS bytes may look like letters).
  let h = 0x811c9dc5;
  let p = 12;
  for (;;) {
    const l = msg[p];
    if (l === 0) break;
    if (l > 63 || p + 1 + l >= len) return -1; // a pointer, a reserved label type, or past the end
    h = Math.imul(h ^ l, 0x01000193);
    for (let i = p + 1; i <= p + l; i++) h = Math.imul(h ^ lower(msg[i]), 0x01000193);
    p += 1 + l;
    if (p - 12 >= MAX_NAME_WIRE) return -1;
  }
  const qEnd = p + 5; // the root label, QTYPE, QCLASS
  if (qEnd > len) return -1;
  for (let i = p + 1; i < qEnd; i++) h = Math.imul(h ^ msg[i], 0x01000193);
  let size: number;
  let dnssecOk = 0;
  if (msg[11] === 0) {
    if (qEnd !== len) return -1;
    size = tcp ? 65535 : 512;
  } else {
    // The OPT record: root owner, TYPE OPT, CLASS = UDP size, TTL = ext-rcode, version, flags.
    if (qEnd + 11 > len || msg[qEnd] !== 0 || msg.readUInt16BE(qEnd + 1) !== TYPE.OPT || msg[qEnd + 6] !== 0) return -1;
    const rdEnd = qEnd + 11 + msg.readUInt16BE(qEnd + 9);
    if (rdEnd !== len) return -1;
    for (let o = qEnd + 11; o < rdEnd;) { // options must be well formed (they are not echoed)
      if (o + 4 > rdEnd) return -1;
      o += 4 + msg.readUInt16BE(o + 2);
      if (o > rdEnd) return -1;
    }
    dnssecOk = msg[qEnd + 7] & 0x80 ? 1 : 0;
    size = tcp ? 65535 : udpLimit({ udpSize: msg.readUInt16BE(qEnd + 3), version: 0, do: dnssecOk === 1 });
  }
  // Flags a response echoes: RD (byte 2, bit 0) and CD (byte 3, bit 4); then DO and EDNS itself.
  const echoed = (msg[2] & 0x01) | ((msg[3] & 0x10) >> 3) | (dnssecOk << 2) | (msg[11] << 3);
  plain.qEnd = qEnd; plain.echoed = echoed; plain.size = size;
  h = Math.imul(h ^ echoed, 0x01000193);
  h = Math.imul(h ^ size, 0x01000193);
  return h >>> 0;
}

/** Whether `e` was keyed by the question answerKey() just read from `msg`. */
function sameKey(e: Entry, msg: Buffer): boolean {
  const q = e.question;
  if (q.length !== plain.qEnd - 12 || e.echoed !== plain.echoed || e.size !== plain.size) return false;
  const nameEnd = q.length - 4;
  for (let i = 0; i < q.length; i++) {
    const c = msg[12 + i];
    if ((i < nameEnd ? lower(c) : c) !== q[i]) return false;
  }
  return true;
}

export class AnswerCache {
  private readonly entries = new Map<number, Entry>();
  private generation = NaN;

  /** `capacity` bounds memory: past it the oldest entry goes (Map order is insertion order). */
  constructor(readonly capacity = 10_000) {}

  get size(): number { return this.entries.size; }

  /**
   * The answer kept for `msg` under index generation `generation` (a new generation clears
   * all). `key` is answerKey(msg), called just before.
   */
  get(key: number, msg: Buffer, generation: number): CachedAnswer | undefined {
    if (generation !== this.generation) { this.entries.clear(); this.generation = generation; return undefined; }
    const e = this.entries.get(key);
    return e && sameKey(e, msg) ? e.answer : undefined;
  }

  /** Keeps `answer` for `msg`; `key` is answerKey(msg), called just before. A hash collision replaces. */
  put(key: number, msg: Buffer, generation: number, answer: CachedAnswer): void {
    if (generation !== this.generation) { this.entries.clear(); this.generation = generation; }
    if (this.entries.size >= this.capacity && !this.entries.has(key)) {
      this.entries.delete(this.entries.keys().next().value as number);
    }
    const question = Buffer.from(msg.subarray(12, plain.qEnd));
    for (let i = 0; i < question.length - 4; i++) question[i] = lower(question[i]);
    this.entries.set(key, { answer, question, echoed: plain.echoed, size: plain.size });
  }

  /**
   * A copy of `a` for the client that sent `query`: its message ID and its spelling of the
   * question (owner names in the answer point at the question, so they follow it).
   */
  static reply(a: CachedAnswer, query: Buffer): Buffer {
    const out = Buffer.allocUnsafe(a.buf.length);
    AnswerCache.replyInto(a, query, out, 0);
    return out;
  }

  /** reply() written into `out` at `at` (a send buffer with room for a.buf.length bytes); returns the length. */
  static replyInto(a: CachedAnswer, query: Buffer, out: Buffer, at: number): number {
    a.buf.copy(out, at);
    out[at] = query[0]; out[at + 1] = query[1];
    query.copy(out, at + 12, 12, a.qEnd);
    return a.buf.length;
  }
}
