// The DNS wire format (RFC 1035, EDNS0 per RFC 6891), as much as a cluster DNS server needs:
// strict parsing of queries (anything malformed becomes FORMERR or is dropped, never an
// exception that escapes), encoding of responses with name compression and truncation to the
// client's size, and a record walker used to age TTLs in cached upstream answers.
//
// Why not an npm codec: dns-packet (the obvious choice) decodes labels as UTF-8 text, so a
// query with binary or dotted labels cannot be echoed back byte for byte (clients then reject
// the answer), it never compresses names (answers truncate far sooner than CoreDNS's), and it
// accepts count mismatches and trailing garbage that must be FORMERR. The tests use it as an
// independent decoder of what this module writes.
//
// Names are presentation text without the trailing dot ('' is the root): labels joined by '.',
// with '.' and '\' inside a label escaped as '\.' and '\\', and bytes outside printable ASCII
// as '\DDD'. That keeps every query name exact (case included) through decode and encode.

import { formatIPv6, parseIPv6 } from '../net/cidr.js';

export const TYPE = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, HINFO: 13, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41,
  IXFR: 251, AXFR: 252, ANY: 255,
} as const;
export const CLASS_IN = 1;
export const CLASS_ANY = 255;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;
export const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 16: 'BADVERS',
};
const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(TYPE).map(([k, v]) => [v, k]));
export const typeName = (t: number): string => TYPE_NAMES[t] ?? `TYPE${t}`;

/** Largest UDP answer this server sends, whatever the client offers (BIND's max-udp-size). */
export const MAX_UDP_SIZE = 4096;
/** The buffer size this server advertises in its own OPT record (DNS flag day 2020). */
export const ADVERTISED_UDP_SIZE = 1232;
const MAX_NAME_WIRE = 255;
const MAX_LABEL = 63;

export class WireError extends Error {}

// ---- names ---------------------------------------------------------------------------------

/** Lower-cases ASCII letters only (DNS case folding, RFC 4343). */
export function foldCase(name: string): string {
  return /[A-Z]/.test(name) ? name.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : name;
}

function labelToText(buf: Buffer, start: number, end: number): string {
  let plain = true;
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c <= 0x20 || c >= 0x7f || c === 0x2e || c === 0x5c) { plain = false; break; }
  }
  if (plain) return buf.toString('latin1', start, end);
  let s = '';
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c === 0x2e || c === 0x5c) s += '\\' + String.fromCharCode(c);
    else if (c <= 0x20 || c >= 0x7f) s += '\\' + String(c).padStart(3, '0');
    else s += String.fromCharCode(c);
  }
  return s;
}

/** Splits presentation text into label byte arrays; throws WireError when it is not a valid name. */
export function nameToLabels(name: string): Buffer[] {
  if (name === '' || name === '.') return [];
  const n = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  const labels: Buffer[] = [];
  if (!n.includes('\\')) {
    for (const l of n.split('.')) {
      if (l.length === 0 || l.length > MAX_LABEL) throw new WireError(`bad label in ${JSON.stringify(name)}`);
      labels.push(Buffer.from(l, 'latin1'));
    }
  } else {
    let cur: number[] = [];
    for (let i = 0; i < n.length; i++) {
      const ch = n.charCodeAt(i);
      if (ch === 0x5c) {
        const d = n.slice(i + 1, i + 4);
        if (/^[0-9]{3}$/.test(d) && Number(d) <= 255) { cur.push(Number(d)); i += 3; continue; }
        if (i + 1 >= n.length) throw new WireError(`dangling escape in ${JSON.stringify(name)}`);
        cur.push(n.charCodeAt(++i) & 0xff);
      } else if (ch === 0x2e) {
        if (cur.length === 0 || cur.length > MAX_LABEL) throw new WireError(`bad label in ${JSON.stringify(name)}`);
        labels.push(Buffer.from(cur)); cur = [];
      } else cur.push(ch & 0xff);
    }
    if (cur.length === 0 || cur.length > MAX_LABEL) throw new WireError(`bad label in ${JSON.stringify(name)}`);
    labels.push(Buffer.from(cur));
  }
  let wire = 1;
  for (const l of labels) wire += l.length + 1;
  if (wire > MAX_NAME_WIRE) throw new WireError(`name too long: ${JSON.stringify(name)}`);
  return labels;
}

/**
 * Reads a (possibly compressed) name at `off`. Returns the name and the offset just after
 * it in the message. Pointers must point strictly backwards, which also rules out loops.
 */
export function readName(buf: Buffer, off: number): { name: string; next: number } {
  const parts: string[] = [];
  let wire = 1;
  let next = -1;
  let pos = off;
  let lowest = off; // every pointer must go below the start of the part that contains it
  for (let hops = 0; ; hops++) {
    if (pos >= buf.length) throw new WireError('name runs past the end of the message');
    const len = buf[pos];
    if (len === 0) { if (next < 0) next = pos + 1; break; }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new WireError('name pointer runs past the end');
      const target = ((len & 0x3f) << 8) | buf[pos + 1];
      if (target >= lowest || hops > 127) throw new WireError('bad compression pointer');
      if (next < 0) next = pos + 2;
      pos = target; lowest = target;
      continue;
    }
    if (kind !== 0) throw new WireError('unsupported label type');
    if (pos + 1 + len > buf.length) throw new WireError('label runs past the end');
    wire += len + 1;
    if (wire > MAX_NAME_WIRE) throw new WireError('name too long');
    parts.push(labelToText(buf, pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return { name: parts.join('.'), next };
}

// ---- parsed queries ------------------------------------------------------------------------

export interface Question { name: string; type: number; class: number }

export interface Edns {
  /** The client's UDP payload size (at least 512 when used). */
  udpSize: number;
  version: number;
  do: boolean;
}

export interface Query {
  id: number;
  opcode: number;
  rd: boolean;
  cd: boolean;
  question: Question;
  edns?: Edns;
}

export type Parsed =
  | { kind: 'query'; query: Query }
  /** Answer with only a header (and the question when it could be read) carrying `rcode`. */
  | { kind: 'error'; id: number; opcode: number; rd: boolean; rcode: number; question?: Question; edns?: Edns; reason: string }
  /** Not worth an answer: too short for a header, or a response rather than a query. */
  | { kind: 'drop'; reason: string };

function readQuestion(buf: Buffer, off: number): { q: Question; next: number } {
  const { name, next } = readName(buf, off);
  if (next + 4 > buf.length) throw new WireError('question runs past the end');
  return { q: { name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2) }, next: next + 4 };
}

/**
 * Parses a query strictly. The header's counts must describe the message exactly: one
 * question, records that fit, nothing after them (miekg/dns's default accept rules, which
 * CoreDNS applies: more than one question, answer or authority record is FORMERR).
 */
export function parseQuery(buf: Buffer): Parsed {
  if (buf.length < 12) return { kind: 'drop', reason: 'shorter than a header' };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) return { kind: 'drop', reason: 'a response, not a query' };
  const opcode = (flags >> 11) & 0xf;
  const rd = (flags & 0x0100) !== 0;
  const cd = (flags & 0x0010) !== 0;
  const qd = buf.readUInt16BE(4), an = buf.readUInt16BE(6), ns = buf.readUInt16BE(8), ar = buf.readUInt16BE(10);
  const fail = (rcode: number, reason: string, question?: Question, edns?: Edns): Parsed =>
    ({ kind: 'error', id, opcode, rd, rcode, question, edns, reason });
  let question: Question | undefined;
  let edns: Edns | undefined;
  try {
    let off = 12;
    if (qd === 1) ({ q: question, next: off } = readQuestion(buf, off));
    if (opcode !== 0) return fail(RCODE.NOTIMP, `opcode ${opcode} is not QUERY`, question);
    if (qd !== 1) return fail(RCODE.FORMERR, `${qd} questions`);
    if (an > 1 || ns > 1 || ar > 2) return fail(RCODE.FORMERR, 'too many records for a query', question);
    for (let i = 0; i < an + ns + ar; i++) {
      const rr = readRecordHeader(buf, off);
      if (rr.type === TYPE.OPT) {
        if (i < an + ns) return fail(RCODE.FORMERR, 'OPT outside the additional section', question);
        if (edns) return fail(RCODE.FORMERR, 'more than one OPT record', question);
        if (rr.name !== '') return fail(RCODE.FORMERR, 'OPT owner is not the root', question);
        edns = { udpSize: Math.max(512, rr.class), version: (rr.ttl >>> 16) & 0xff, do: (rr.ttl & 0x8000) !== 0 };
        checkOptions(buf, rr.rdataOffset, rr.rdataOffset + rr.rdlength);
      }
      off = rr.rdataOffset + rr.rdlength;
    }
    if (off !== buf.length) return fail(RCODE.FORMERR, `${buf.length - off} bytes after the last record`, question, edns);
  } catch (e) {
    return fail(RCODE.FORMERR, e instanceof WireError ? e.message : `unreadable: ${(e as Error).message}`, question, edns);
  }
  if (edns && edns.version !== 0) return fail(RCODE.BADVERS, `EDNS version ${edns.version}`, question, edns);
  return { kind: 'query', query: { id, opcode, rd, cd, question: question!, edns } };
}

function checkOptions(buf: Buffer, start: number, end: number): void {
  let p = start;
  while (p < end) {
    if (p + 4 > end) throw new WireError('truncated EDNS option');
    const len = buf.readUInt16BE(p + 2);
    p += 4 + len;
    if (p > end) throw new WireError('EDNS option runs past its record');
  }
}

export interface RecordHeader {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** Where the TTL is, so cached answers can be aged in place. */
  ttlOffset: number;
  rdlength: number;
  rdataOffset: number;
}

export function readRecordHeader(buf: Buffer, off: number): RecordHeader {
  const { name, next } = readName(buf, off);
  if (next + 10 > buf.length) throw new WireError('record header runs past the end');
  const rdlength = buf.readUInt16BE(next + 8);
  if (next + 10 + rdlength > buf.length) throw new WireError('record data runs past the end');
  return {
    name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2), ttl: buf.readUInt32BE(next + 4),
    ttlOffset: next + 4, rdlength, rdataOffset: next + 10,
  };
}

/** A response from elsewhere (an upstream), read far enough to cache and forward it. */
export interface MessageSummary {
  id: number;
  qr: boolean;
  tc: boolean;
  rcode: number;
  question?: Question;
  /** Sections: 0 answer, 1 authority, 2 additional. */
  records: Array<RecordHeader & { section: 0 | 1 | 2 }>;
}

/** Reads a whole message (header, question, every record header); throws WireError. */
export function summarize(buf: Buffer): MessageSummary {
  if (buf.length < 12) throw new WireError('shorter than a header');
  const flags = buf.readUInt16BE(2);
  const qd = buf.readUInt16BE(4), counts = [buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)];
  let off = 12;
  let question: Question | undefined;
  for (let i = 0; i < qd; i++) {
    const r = readQuestion(buf, off);
    if (i === 0) question = r.q;
    off = r.next;
  }
  const records: MessageSummary['records'] = [];
  let rcode = flags & 0xf;
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s]; i++) {
      const rr = readRecordHeader(buf, off);
      if (rr.type === TYPE.OPT) rcode |= ((rr.ttl >>> 24) & 0xff) << 4;
      records.push({ ...rr, section: s as 0 | 1 | 2 });
      off = rr.rdataOffset + rr.rdlength;
    }
  }
  return { id: buf.readUInt16BE(0), qr: (flags & 0x8000) !== 0, tc: (flags & 0x0200) !== 0, rcode, question, records };
}

// ---- records and responses -----------------------------------------------------------------

interface RRBase { name: string; ttl: number }
export type RR =
  | (RRBase & { type: 'A' | 'AAAA'; address: string })
  | (RRBase & { type: 'CNAME' | 'PTR' | 'NS'; target: string })
  | (RRBase & { type: 'SRV'; priority: number; weight: number; port: number; target: string })
  | (RRBase & { type: 'TXT'; text: string[] })
  | (RRBase & { type: 'SOA'; mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number });

export interface Response {
  id: number;
  opcode: number;
  rcode: number;
  aa: boolean;
  rd: boolean;
  ra: boolean;
  cd?: boolean;
  question?: Question;
  answer: RR[];
  authority: RR[];
  additional: RR[];
  /** Present when the query had an OPT record: the response then carries one too. */
  edns?: { do: boolean };
}

/** Grows on demand; tracks name offsets for compression (exact-case suffix → offset). */
/** Encoding scratch space: encodeResponse is synchronous, so one buffer serves every call. */
let scratch = Buffer.allocUnsafe(65536 + 512);

class Writer {
  buf: Buffer;
  len = 0;
  private readonly names = new Map<string, number>();
  constructor() { this.buf = scratch; }
  private ensure(n: number) {
    if (this.len + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(b, 0, 0, this.len);
    this.buf = scratch = b;
  }
  u8(v: number) { this.ensure(1); this.buf[this.len++] = v; }
  u16(v: number) { this.ensure(2); this.buf.writeUInt16BE(v & 0xffff, this.len); this.len += 2; }
  u32(v: number) { this.ensure(4); this.buf.writeUInt32BE(v >>> 0, this.len); this.len += 4; }
  bytes(b: Uint8Array) { this.ensure(b.length); this.buf.set(b, this.len); this.len += b.length; }
  /**
   * Writes a name, pointing at an earlier copy of its longest known suffix when `compress`.
   * Suffix keys are presentation text in the original case, so a pointer never changes the
   * case of what a client reads.
   */
  name(name: string, compress: boolean) {
    const n = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
    if (n.includes('\\')) { this.escapedName(n, compress); return; }
    if (n.length + 2 > MAX_NAME_WIRE) throw new WireError(`name too long: ${JSON.stringify(name)}`);
    let pos = 0;
    while (pos < n.length) {
      const suffix = pos === 0 ? n : n.substring(pos);
      if (compress) { const at = this.names.get(suffix); if (at !== undefined) { this.u16(0xc000 | at); return; } }
      if (this.len < 0x3fff && !this.names.has(suffix)) this.names.set(suffix, this.len);
      let dot = n.indexOf('.', pos);
      if (dot < 0) dot = n.length;
      const l = dot - pos;
      if (l === 0 || l > MAX_LABEL) throw new WireError(`bad label in ${JSON.stringify(name)}`);
      this.ensure(l + 1);
      this.buf[this.len++] = l;
      this.len += this.buf.write(l === n.length ? n : n.substring(pos, dot), this.len, 'latin1');
      pos = dot + 1;
    }
    this.u8(0);
  }
  private escapedName(name: string, compress: boolean) {
    const labels = nameToLabels(name);
    const texts = labels.map((l) => labelToText(l, 0, l.length));
    for (let i = 0; i < labels.length; i++) {
      const key = texts.slice(i).join('.');
      const at = compress ? this.names.get(key) : undefined;
      if (at !== undefined) { this.u16(0xc000 | at); return; }
      if (this.len < 0x3fff && !this.names.has(key)) this.names.set(key, this.len);
      this.u8(labels[i].length);
      this.bytes(labels[i]);
    }
    this.u8(0);
  }
  /** Forget names recorded at or after `len` (after rolling back a record that did not fit). */
  rollback(len: number) {
    this.len = len;
    for (const [k, v] of this.names) if (v >= len) this.names.delete(k);
  }
}

function ipv4Bytes(s: string): Uint8Array {
  const p = s.split('.');
  if (p.length !== 4) throw new WireError(`not an IPv4 address: ${s}`);
  const b = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const n = Number(p[i]);
    if (!Number.isInteger(n) || n < 0 || n > 255 || p[i] === '') throw new WireError(`not an IPv4 address: ${s}`);
    b[i] = n;
  }
  return b;
}

function ipv6Bytes(s: string): Uint8Array {
  let v = parseIPv6(s);
  if (v === undefined) throw new WireError(`not an IPv6 address: ${s}`);
  const b = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) { b[i] = Number(v & 0xffn); v >>= 8n; }
  return b;
}

function writeRR(w: Writer, rr: RR): void {
  const code = TYPE[rr.type];
  w.name(rr.name, true);
  w.u16(code); w.u16(CLASS_IN); w.u32(rr.ttl);
  const lenAt = w.len;
  w.u16(0);
  switch (rr.type) {
    case 'A': w.bytes(ipv4Bytes(rr.address)); break;
    case 'AAAA': w.bytes(ipv6Bytes(rr.address)); break;
    case 'CNAME': case 'PTR': case 'NS': w.name(rr.target, true); break;
    // RFC 2782: the SRV target is never compressed.
    case 'SRV': w.u16(rr.priority); w.u16(rr.weight); w.u16(rr.port); w.name(rr.target, false); break;
    case 'TXT':
      for (const t of rr.text) {
        const b = Buffer.from(t, 'utf8');
        if (b.length > 255) throw new WireError('TXT string longer than 255 bytes');
        w.u8(b.length); w.bytes(b);
      }
      break;
    case 'SOA':
      w.name(rr.mname, true); w.name(rr.rname, true);
      w.u32(rr.serial); w.u32(rr.refresh); w.u32(rr.retry); w.u32(rr.expire); w.u32(rr.minimum);
      break;
  }
  w.buf.writeUInt16BE(w.len - lenAt - 2, lenAt);
}

function writeOpt(w: Writer, resp: Response): void {
  w.u8(0); w.u16(TYPE.OPT); w.u16(ADVERTISED_UDP_SIZE);
  w.u8((resp.rcode >> 4) & 0xff); w.u8(0); w.u16(resp.edns?.do ? 0x8000 : 0);
  w.u16(0);
}

/**
 * Encodes a response in at most `maxSize` bytes. When the answer or authority records do not
 * all fit, as many as fit are kept and TC is set (the client retries over TCP); additional
 * records are optional and are dropped silently, as CoreDNS's Scrub does.
 */
export function encodeResponse(resp: Response, maxSize = 65535): Buffer {
  const w = new Writer();
  let flags = 0x8000 | ((resp.opcode & 0xf) << 11) | (resp.rcode & 0xf);
  if (resp.aa) flags |= 0x0400;
  if (resp.rd) flags |= 0x0100;
  if (resp.ra) flags |= 0x0080;
  if (resp.cd) flags |= 0x0010;
  w.u16(resp.id); w.u16(flags); w.u16(resp.question ? 1 : 0); w.u16(0); w.u16(0); w.u16(0);
  if (resp.question) { w.name(resp.question.name, true); w.u16(resp.question.type); w.u16(resp.question.class); }
  const optSize = resp.edns ? 11 : 0;
  const counts = [0, 0, 0];
  let truncated = false;
  const sections: Array<[RR[], number]> = [[resp.answer, 0], [resp.authority, 1], [resp.additional, 2]];
  outer: for (const [rrs, s] of sections) {
    for (const rr of rrs) {
      const before = w.len;
      writeRR(w, rr);
      if (w.len + optSize > maxSize) {
        w.rollback(before);
        if (s < 2) truncated = true;
        break outer;
      }
      counts[s]++;
    }
  }
  if (resp.edns) { writeOpt(w, resp); counts[2]++; }
  if (truncated) w.buf.writeUInt16BE(flags | 0x0200, 2);
  w.buf.writeUInt16BE(counts[0], 6); w.buf.writeUInt16BE(counts[1], 8); w.buf.writeUInt16BE(counts[2], 10);
  return Buffer.from(w.buf.subarray(0, w.len));
}

/** Whether an encoded message has TC set. */
export const isTruncated = (buf: Buffer): boolean => buf.length >= 4 && (buf[2] & 0x02) !== 0;

/** Encodes a plain query (the loop probe, and tests). */
export function encodeQuery(id: number, name: string, type: number, opts: { rd?: boolean; edns?: number } = {}): Buffer {
  const w = new Writer();
  w.u16(id); w.u16(opts.rd === false ? 0 : 0x0100); w.u16(1); w.u16(0); w.u16(0); w.u16(opts.edns ? 1 : 0);
  w.name(name, false); w.u16(type); w.u16(CLASS_IN);
  if (opts.edns) { w.u8(0); w.u16(TYPE.OPT); w.u16(opts.edns); w.u32(0); w.u16(0); }
  return Buffer.from(w.buf.subarray(0, w.len));
}

/** The UDP size limit for answering `edns` (512 without EDNS; the client's size, capped). */
export function udpLimit(edns: Edns | undefined): number {
  if (!edns) return 512;
  return Math.min(MAX_UDP_SIZE, Math.max(512, edns.udpSize));
}

/**
 * The A, AAAA, CNAME and TXT records of a message's answer section as RRs (others are
 * skipped): what is appended after an ExternalName's CNAME when its target was resolved upstream.
 */
export function answerRecords(buf: Buffer): RR[] {
  const s = summarize(buf);
  const out: RR[] = [];
  for (const r of s.records) {
    if (r.section !== 0) continue;
    const base = { name: r.name, ttl: r.ttl };
    if (r.type === TYPE.A && r.rdlength === 4) {
      out.push({ ...base, type: 'A', address: Array.from(buf.subarray(r.rdataOffset, r.rdataOffset + 4)).join('.') });
    } else if (r.type === TYPE.AAAA && r.rdlength === 16) {
      let v = 0n;
      for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(buf[r.rdataOffset + i]);
      out.push({ ...base, type: 'AAAA', address: formatIPv6(v) });
    } else if (r.type === TYPE.CNAME) {
      out.push({ ...base, type: 'CNAME', target: readName(buf, r.rdataOffset).name });
    } else if (r.type === TYPE.TXT) {
      const text: string[] = [];
      for (let p = r.rdataOffset; p < r.rdataOffset + r.rdlength;) {
        const n = buf[p];
        text.push(buf.toString('utf8', p + 1, Math.min(p + 1 + n, r.rdataOffset + r.rdlength)));
        p += 1 + n;
      }
      out.push({ ...base, type: 'TXT', text });
    }
  }
  return out;
}
