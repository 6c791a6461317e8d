// nf_tables over netlink, for the one job where `nft` is too slow: loading 100,000 map elements.
// nft 1.0.6 spends ~1.6 s of userspace (allocation-bound parsing) on 100,000 concatenated
// elements that the kernel inserts in a fraction of that (docs/benchmarks.md `## proxy`). Here
// the elements are encoded straight into one NFNL batch — one atomic kernel transaction, as an
// `nft -f` file is — and handed to a small native addon (native/nfnetlink) that only opens the
// socket, sends the bytes and reads the acknowledgements back.
//
// Scope, on purpose narrow: add elements to existing sets and maps, flush a set or map, flush a
// chain's rules, delete a set or map. Tables, chains, rules and set definitions stay with nft
// (Transaction in nft.ts), which parses their text. The bytes follow what nft 1.0.6 sends for the
// same commands (captured with `strace -e write=…`; test/unit/nftnl.test.ts holds the captures):
// concatenation parts padded to 4 bytes, addresses and ports in network order, the numgen index
// in host order (it is a register value), element comments as nftnl userdata (type 0, length,
// the string and its NUL), verdicts as NFTA_DATA_VERDICT { code, chain }. Only the set id
// attribute nft adds (its own handle for sets it created in the same batch) is left out: the
// sets here exist, so the kernel finds them by name.

import { endianness } from 'node:os';
import { parseIPv6 } from './cidr.js';
import { loadNativeAddon } from './native.js';

// ---- constants from linux/netfilter/nfnetlink.h and nf_tables.h -----------------------------------

const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLA_F_NESTED = 0x8000;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_DELRULE = 8;
const NFT_MSG_DELSET = 11;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFTA_RULE_TABLE = 1, NFTA_RULE_CHAIN = 2;
const NFTA_SET_TABLE = 1, NFTA_SET_NAME = 2;
const NFTA_SET_ELEM_LIST_TABLE = 1, NFTA_SET_ELEM_LIST_SET = 2, NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1, NFTA_SET_ELEM_DATA = 2, NFTA_SET_ELEM_USERDATA = 6;
const NFTA_DATA_VALUE = 1, NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1, NFTA_VERDICT_CHAIN = 2;
/** libnftnl's NFTNL_UDATA_SET_ELEM_COMMENT: how nft stores an element's comment. */
const UDATA_SET_ELEM_COMMENT = 0;

export const NFPROTO = { inet: 1, ip: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10 } as const;
export type NlFamily = keyof typeof NFPROTO;

const VERDICTS: Record<string, number> = { drop: 0, accept: 1, continue: -1, return: -5, jump: -3, goto: -4 };
const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, icmp: 1, icmpv6: 58 };

/**
 * A nested attribute's length is 16 bits: one message carries at most this many bytes of
 * elements (nft splits its element lists the same way).
 */
const ELEMENTS_PER_MESSAGE_BYTES = 60_000;

// ---- set types ------------------------------------------------------------------------------------

/** One part of a concatenated key or value, by how it is laid out in a register. */
export type PartKind = 'ipv4' | 'ipv6' | 'proto' | 'port' | 'u32-host';
export interface SetLayout { key: PartKind[]; data?: PartKind[] | 'verdict' }

const TYPE_PARTS: Record<string, PartKind> = {
  ipv4_addr: 'ipv4', ipv6_addr: 'ipv6', inet_proto: 'proto', inet_service: 'port', mark: 'u32-host',
};

function typeofPart(expr: string): PartKind {
  if (/^ip (s|d)addr$/.test(expr)) return 'ipv4';
  if (/^ip6 (s|d)addr$/.test(expr)) return 'ipv6';
  if (/^(th|tcp|udp|sctp) (s|d)port$/.test(expr)) return 'port';
  if (expr === 'meta l4proto' || expr === 'ip protocol' || expr === 'ip6 nexthdr') return 'proto';
  // A numgen value is a register in host order; so is meta mark.
  if (/^numgen (random|inc) mod \d+( offset \d+)?$/.test(expr) || expr === 'meta mark') return 'u32-host';
  throw new Error(`nftnl: no netlink layout for "${expr}"`);
}

/**
 * The layout of a set or map from its nft type ("ipv4_addr . inet_service : verdict", or
 * "typeof ip daddr . th dport . numgen random mod 1 : ip daddr . tcp dport"); throws for what
 * this encoder does not know (the caller then uses nft).
 */
export function setLayout(type: string): SetLayout {
  const isTypeof = type.startsWith('typeof ');
  const body = isTypeof ? type.slice('typeof '.length) : type;
  const [keyText, dataText, extra] = body.split(' : ');
  if (extra !== undefined || !keyText) throw new Error(`nftnl: cannot read set type "${type}"`);
  const part = (p: string): PartKind => {
    if (isTypeof) return typeofPart(p.trim());
    const k = TYPE_PARTS[p.trim()];
    if (!k) throw new Error(`nftnl: no netlink layout for type "${p.trim()}"`);
    return k;
  };
  const key = keyText.split(' . ').map(part);
  if (dataText === undefined) return { key };
  if (dataText.trim() === 'verdict') return { key, data: 'verdict' };
  return { key, data: dataText.split(' . ').map(part) };
}

// ---- the batch writer -----------------------------------------------------------------------------

export interface NlElement { key: readonly string[]; value?: string; comment?: string }

/** What one message of a batch does, to name a refused message in an error. */
export interface NlMessageInfo { seq: number; what: string }

const HOST_LE = endianness() === 'LE';

/**
 * Builds one NFNL batch (BATCH_BEGIN … BATCH_END) of nf_tables messages into a growing buffer.
 * Every message between begin and end asks for an acknowledgement (unless `ack` is false), so
 * the sender knows how many replies to expect and which message the kernel refused.
 */
export class NlBatch {
  private buf: Buffer;
  private at = 0;
  private seq: number;
  readonly messages: NlMessageInfo[] = [];
  private ended = false;
  private readonly ack: boolean;
  private readonly beginSeq: number;
  /** each distinct verdict's encoded data attribute (a few dozen for 100,000 elements) */
  private readonly verdicts = new Map<string, Buffer>();

  constructor(readonly family: NlFamily, readonly table: string, opts: { firstSeq?: number; ack?: boolean; sizeHint?: number } = {}) {
    this.seq = opts.firstSeq ?? 1;
    this.beginSeq = this.seq;
    this.ack = opts.ack ?? true;
    this.buf = Buffer.allocUnsafe(Math.max(4096, opts.sizeHint ?? 1 << 20));
    this.header(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES);
  }

  /** Messages that expect an acknowledgement. */
  get expectedReplies(): number { return this.ack ? this.messages.length : 0; }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  /** nlmsghdr + nfgenmsg; returns the message's offset (its length is patched by finish()). */
  private header(type: number, flags: number, family: number, resId: number): number {
    this.room(20);
    const start = this.at;
    const b = this.buf;
    b.writeUInt32LE(0, start);
    b.writeUInt16LE(type, start + 4);
    b.writeUInt16LE(flags, start + 6);
    b.writeUInt32LE(this.seq++, start + 8);
    b.writeUInt32LE(0, start + 12);
    b[start + 16] = family;
    b[start + 17] = 0; // NFNETLINK_V0
    b.writeUInt16BE(resId, start + 18);
    this.at = start + 20;
    if (type === NFNL_MSG_BATCH_BEGIN || type === NFNL_MSG_BATCH_END) this.finish(start);
    return start;
  }

  private finish(start: number): void {
    this.buf.writeUInt32LE(this.at - start, start);
  }

  private message(type: number, flags: number, what: string): number {
    const seq = this.seq;
    const start = this.header((NFNL_SUBSYS_NFTABLES << 8) | type, flags | (this.ack ? NLM_F_ACK : 0), NFPROTO[this.family], 0);
    this.messages.push({ seq, what });
    return start;
  }

  private attrStart(type: number): number {
    this.room(4);
    const start = this.at;
    this.buf.writeUInt16LE(type, start + 2);
    this.at += 4;
    return start;
  }

  private attrEnd(start: number): void {
    const len = this.at - start;
    if (len > 0xffff) throw new Error('nftnl: attribute longer than 64 KiB');
    this.buf.writeUInt16LE(len, start);
    this.pad();
  }

  private pad(): void {
    const to = (this.at + 3) & ~3;
    this.room(to - this.at);
    while (this.at < to) this.buf[this.at++] = 0;
  }

  private attrString(type: number, s: string): void {
    const start = this.attrStart(type);
    const n = Buffer.byteLength(s);
    this.room(n + 1);
    this.buf.write(s, this.at, 'utf8');
    this.at += n;
    this.buf[this.at++] = 0;
    this.attrEnd(start);
  }

  private attrU32BE(type: number, v: number): void {
    const start = this.attrStart(type);
    this.room(4);
    this.buf.writeInt32BE(v | 0, this.at);
    this.at += 4;
    this.attrEnd(start);
  }

  /**
   * Writes one concatenation part at `o` from text[start, end) and returns the offset after it
   * (each part takes a multiple of 4 bytes). Parses in place, without splitting strings: a full
   * sync encodes 100,000 elements, and allocation is what costs there.
   */
  private part(kind: PartKind, text: string, start: number, end: number, o: number): number {
    const b = this.buf;
    switch (kind) {
      case 'ipv4': {
        let octet = 0, digits = 0, dots = 0;
        for (let i = start; i < end; i++) {
          const c = text.charCodeAt(i);
          if (c >= 48 && c <= 57 && digits < 3) { octet = octet * 10 + c - 48; digits++; continue; }
          if (c === 46 && digits > 0 && octet <= 255 && dots < 3) { b[o + dots++] = octet; octet = 0; digits = 0; continue; }
          throw new Error(`nftnl: bad IPv4 address "${text.slice(start, end)}"`);
        }
        if (dots !== 3 || digits === 0 || octet > 255) throw new Error(`nftnl: bad IPv4 address "${text.slice(start, end)}"`);
        b[o + 3] = octet;
        return o + 4;
      }
      case 'ipv6': {
        const v = parseIPv6(text.slice(start, end));
        if (v === undefined) throw new Error(`nftnl: bad IPv6 address "${text.slice(start, end)}"`);
        b.writeBigUInt64BE(v >> 64n, o);
        b.writeBigUInt64BE(v & 0xffffffffffffffffn, o + 8);
        return o + 16;
      }
      case 'proto': {
        const c = text.charCodeAt(start);
        const p = c >= 48 && c <= 57 ? decimal(text, start, end, 255, 'protocol') : PROTOCOLS[text.slice(start, end)];
        if (p === undefined) throw new Error(`nftnl: unknown protocol "${text.slice(start, end)}"`);
        b[o] = p; b[o + 1] = 0; b[o + 2] = 0; b[o + 3] = 0;
        return o + 4;
      }
      case 'port': {
        const v = decimal(text, start, end, 65535, 'port');
        b[o] = v >> 8; b[o + 1] = v & 255; b[o + 2] = 0; b[o + 3] = 0;
        return o + 4;
      }
      case 'u32-host': {
        const v = decimal(text, start, end, 0xffffffff, 'integer');
        if (HOST_LE) b.writeUInt32LE(v, o); else b.writeUInt32BE(v, o);
        return o + 4;
      }
    }
  }

  /** NFTA_DATA_VALUE of `bytes` parts nested in `type`, from separate strings or one "a . b" string. */
  private value(type: number, kinds: readonly PartKind[], bytes: number, parts: readonly string[] | string, what: string): void {
    this.room(12 + bytes);
    const b = this.buf;
    let o = this.at;
    b.writeUInt16LE(8 + bytes, o);
    b.writeUInt16LE(type | NLA_F_NESTED, o + 2);
    b.writeUInt16LE(4 + bytes, o + 4);
    b.writeUInt16LE(NFTA_DATA_VALUE, o + 6);
    o += 8;
    if (typeof parts === 'string') {
      let start = 0;
      for (let i = 0; i < kinds.length; i++) {
        const sep = i === kinds.length - 1 ? -1 : parts.indexOf(' . ', start);
        if (i < kinds.length - 1 && sep < 0) throw new Error(`nftnl: ${what} "${parts}" has fewer parts than the set's type (${kinds.length})`);
        const end = sep < 0 ? parts.length : sep;
        if (sep < 0 && parts.indexOf(' . ', start) >= 0) throw new Error(`nftnl: ${what} "${parts}" has more parts than the set's type (${kinds.length})`);
        o = this.part(kinds[i]!, parts, start, end, o);
        start = end + 3;
      }
    } else {
      if (parts.length !== kinds.length) throw new Error(`nftnl: ${what} has ${parts.length} parts, the set's type ${kinds.length}`);
      for (let i = 0; i < kinds.length; i++) o = this.part(kinds[i]!, parts[i]!, 0, parts[i]!.length, o);
    }
    this.at = o;
  }

  /** NFTA_SET_ELEM_DATA { NFTA_DATA_VERDICT { code, chain } }, encoded once per distinct verdict. */
  private verdict(text: string): void {
    let enc = this.verdicts.get(text);
    if (!enc) {
      const sp = text.indexOf(' ');
      const word = sp < 0 ? text : text.slice(0, sp);
      const code = VERDICTS[word];
      if (code === undefined) throw new Error(`nftnl: unknown verdict "${text}"`);
      const chain = sp < 0 ? undefined : text.slice(sp + 1).trim();
      if ((code === -3 || code === -4) !== (chain !== undefined && chain !== '')) throw new Error(`nftnl: bad verdict "${text}"`);
      const chainBytes = chain === undefined ? undefined : Buffer.from(`${chain}\0`, 'utf8');
      const chainAttr = chainBytes ? 4 + ((chainBytes.length + 3) & ~3) : 0;
      enc = Buffer.alloc(16 + chainAttr);
      enc.writeUInt16LE(enc.length, 0); enc.writeUInt16LE(NFTA_SET_ELEM_DATA | NLA_F_NESTED, 2);
      enc.writeUInt16LE(enc.length - 4, 4); enc.writeUInt16LE(NFTA_DATA_VERDICT | NLA_F_NESTED, 6);
      enc.writeUInt16LE(8, 8); enc.writeUInt16LE(NFTA_VERDICT_CODE, 10); enc.writeInt32BE(code, 12);
      if (chainBytes) { enc.writeUInt16LE(4 + chainBytes.length, 16); enc.writeUInt16LE(NFTA_VERDICT_CHAIN, 18); chainBytes.copy(enc, 20); }
      this.verdicts.set(text, enc);
    }
    this.room(enc.length);
    enc.copy(this.buf, this.at);
    this.at += enc.length;
  }

  private comment(text: string): void {
    // As the nft text path writes it (nft.ts quote(): a comment cannot hold a double quote).
    const s = text.includes('"') ? text.replace(/"/g, "'") : text;
    const n = Buffer.byteLength(s, 'utf8');
    if (n + 1 > 255) throw new Error('nftnl: element comment longer than 254 bytes');
    this.room(n + 10);
    const b = this.buf;
    const o = this.at;
    b.writeUInt16LE(4 + 2 + n + 1, o);
    b.writeUInt16LE(NFTA_SET_ELEM_USERDATA, o + 2);
    b[o + 4] = UDATA_SET_ELEM_COMMENT;
    b[o + 5] = n + 1;
    b.write(s, o + 6, n, 'utf8');
    b[o + 6 + n] = 0;
    this.at = o + 7 + n;
    this.pad();
  }

  private elementsMessageStart(set: string, what: string): { msg: number; list: number } {
    const msg = this.message(NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE, what);
    this.attrString(NFTA_SET_ELEM_LIST_TABLE, this.table);
    this.attrString(NFTA_SET_ELEM_LIST_SET, set);
    return { msg, list: this.attrStart(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED) };
  }

  /**
   * Adds `elements` to the set or map `set` whose nft type is `type` (as `add element`: an
   * element already there with the same key and value is no error). As many messages as the
   * 64 KiB limit of one element list needs.
   */
  addElements(set: string, type: string | SetLayout, elements: Iterable<NlElement>): this {
    if (this.ended) throw new Error('nftnl: batch already ended');
    const layout = typeof type === 'string' ? setLayout(type) : type;
    const keyBytes = layoutBytes(layout.key);
    const dataBytes = layout.data && layout.data !== 'verdict' ? layoutBytes(layout.data) : 0;
    let open: { msg: number; list: number } | undefined;
    let count = 0;
    const close = () => {
      if (!open) return;
      this.attrEnd(open.list);
      this.finish(open.msg);
      this.messages[this.messages.length - 1]!.what = `add ${count} element(s) to ${set}`;
      open = undefined;
      count = 0;
    };
    for (const e of elements) {
      if (open && this.at - open.list > ELEMENTS_PER_MESSAGE_BYTES) close();
      if (!open) open = this.elementsMessageStart(set, `add elements to ${set}`);
      // Numbered within the message as libnftnl numbers them (the kernel reads any type here).
      const el = this.attrStart((count + NFTA_LIST_ELEM) | NLA_F_NESTED);
      this.value(NFTA_SET_ELEM_KEY, layout.key, keyBytes, e.key, `key of an element of ${set}`);
      if (layout.data === 'verdict') {
        if (e.value === undefined) throw new Error(`nftnl: element of map ${set} has no value`);
        this.verdict(e.value);
      } else if (layout.data) {
        if (e.value === undefined) throw new Error(`nftnl: element of map ${set} has no value`);
        this.value(NFTA_SET_ELEM_DATA, layout.data, dataBytes, e.value, `value of an element of ${set}`);
      } else if (e.value !== undefined) {
        throw new Error(`nftnl: element of set ${set} has a value`);
      }
      if (e.comment !== undefined) this.comment(e.comment);
      this.buf.writeUInt16LE(this.at - el, el);
      count++;
    }
    close();
    return this;
  }

  /** Removes every element of a set or map (DELSETELEM without elements, as `flush set` / `flush map`). */
  flushSet(set: string): this {
    const msg = this.message(NFT_MSG_DELSETELEM, NLM_F_REQUEST, `flush ${set}`);
    this.attrString(NFTA_SET_ELEM_LIST_SET, set);
    this.attrString(NFTA_SET_ELEM_LIST_TABLE, this.table);
    this.finish(msg);
    return this;
  }

  /** Removes every rule of a chain (DELRULE with a chain and no handle, as `flush chain`). */
  flushChain(chain: string): this {
    const msg = this.message(NFT_MSG_DELRULE, NLM_F_REQUEST, `flush chain ${chain}`);
    this.attrString(NFTA_RULE_TABLE, this.table);
    this.attrString(NFTA_RULE_CHAIN, chain);
    this.finish(msg);
    return this;
  }

  /** Deletes a set or map (fails while a rule still refers to it). */
  deleteSet(set: string): this {
    const msg = this.message(NFT_MSG_DELSET, NLM_F_REQUEST, `delete ${set}`);
    this.attrString(NFTA_SET_TABLE, this.table);
    this.attrString(NFTA_SET_NAME, set);
    this.finish(msg);
    return this;
  }

  /** Ends the batch; the bytes to send. */
  end(): Buffer {
    if (!this.ended) {
      this.header(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES);
      this.ended = true;
    }
    return this.buf.subarray(0, this.at);
  }

  /** The message a reply's sequence number names. */
  describe(seq: number): string {
    const m = this.messages.find((x) => x.seq === seq);
    return m ? m.what : seq === this.beginSeq ? 'the batch' : `message ${seq}`;
  }
}

const PART_BYTES: Record<PartKind, number> = { ipv4: 4, ipv6: 16, proto: 4, port: 4, 'u32-host': 4 };
const layoutBytes = (kinds: readonly PartKind[]) => kinds.reduce((n, k) => n + PART_BYTES[k], 0);

/** A decimal number in text[start, end), at most `max`. */
function decimal(text: string, start: number, end: number, max: number, what: string): number {
  let v = 0;
  if (end <= start || end - start > 10 || (end - start > 1 && text.charCodeAt(start) === 48)) throw new Error(`nftnl: bad ${what} "${text.slice(start, end)}"`);
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) throw new Error(`nftnl: bad ${what} "${text.slice(start, end)}"`);
    v = v * 10 + c - 48;
  }
  if (v > max) throw new Error(`nftnl: bad ${what} "${text.slice(start, end)}"`);
  return v;
}

// ---- the addon ------------------------------------------------------------------------------------

interface Addon {
  open(netnsPath: string | null): number;
  send(fd: number, batch: Buffer, expectedReplies: number, timeoutMs?: number): Promise<{ replies: number; errno: number; seq: number; socketErrno: number; failedCall?: string }>;
  dump(fd: number, request: Buffer, timeoutMs?: number): Promise<Buffer>;
  close(fd: number): void;
}

/** The addon, or undefined (the reason in nfnetlinkUnavailable()) when it is not built or does not load. */
export function loadNfnetlink(): Addon | undefined {
  return loadNativeAddon<Addon>('nfnetlink').addon;
}

export const nfnetlinkUnavailable = (): string => loadNativeAddon<Addon>('nfnetlink').problem;

export class NetlinkError extends Error {
  constructor(message: string, readonly errno: number, readonly seq?: number) {
    super(message);
    this.name = 'NetlinkError';
  }
}

/**
 * A NETLINK_NETFILTER socket (inside the network namespace `netns`, named as `ip netns` names
 * them, when given). Opened on first use; one batch at a time.
 */
export class NfnetlinkSocket {
  private fd: number | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly netns?: string, private readonly timeoutMs = 60_000) {}

  private open(): number {
    if (this.fd !== undefined) return this.fd;
    const a = loadNfnetlink();
    if (!a) throw new NetlinkError(`nfnetlink: ${nfnetlinkUnavailable()}`, 0);
    this.fd = a.open(this.netns ? `/run/netns/${this.netns}` : null);
    return this.fd;
  }

  /** Sends the ended batch; resolves once the kernel committed it, rejects with NetlinkError naming the refused message. */
  send(batch: NlBatch): Promise<void> {
    const next = this.queue.then(() => this.sendOne(batch));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async sendOne(batch: NlBatch): Promise<void> {
    const fd = this.open();
    const bytes = batch.end();
    const r = await loadNfnetlink()!.send(fd, bytes, batch.expectedReplies, this.timeoutMs);
    if (r.socketErrno) {
      // The socket's state is unknown (a reply may be pending): start over with a new one.
      this.close();
      throw new NetlinkError(`nfnetlink: ${r.failedCall ?? 'socket'} failed: errno ${r.socketErrno} (${errnoName(r.socketErrno)}) after ${r.replies} of ${batch.expectedReplies} replies`, r.socketErrno);
    }
    if (r.errno) {
      throw new NetlinkError(`nfnetlink: the kernel refused ${batch.describe(r.seq)} (table ${batch.family} ${batch.table}): errno ${r.errno} (${errnoName(r.errno)})`, r.errno, r.seq);
    }
  }

  /**
   * The names of one table's chains, sets and maps, from two netlink dumps (chains, sets) that
   * carry no elements; undefined when the table has none (no table). `nft list table` fetches
   * every element first: 2-3 s for 100,000 of them.
   */
  listNames(family: NlFamily, table: string): Promise<{ chains: string[]; sets: string[]; maps: string[] } | undefined> {
    const next = this.queue.then(async () => {
      const fd = this.open();
      const a = loadNfnetlink()!;
      const chains: string[] = [], sets: string[] = [], maps: string[] = [];
      const chainReplies = await a.dump(fd, dumpRequest(NFT_MSG_GETCHAIN, family, NFTA_CHAIN_TABLE, table), this.timeoutMs);
      for (const attrs of replyAttributes(chainReplies)) {
        if (attrs.get(NFTA_CHAIN_TABLE) === table) chains.push(attrs.get(NFTA_CHAIN_NAME)!);
      }
      let setReplies: Buffer;
      try {
        setReplies = await a.dump(fd, dumpRequest(NFT_MSG_GETSET, family, NFTA_SET_TABLE, table), this.timeoutMs);
      } catch (e) {
        // The kernel narrows a set dump to the table, and answers ENOENT when there is none.
        if ((e as { errno?: number }).errno === 2) return undefined;
        throw e;
      }
      for (const attrs of replyAttributes(setReplies, new Set([NFTA_SET_FLAGS]))) {
        if (attrs.get(NFTA_SET_TABLE) !== table) continue;
        const flags = attrs.get(NFTA_SET_FLAGS) ?? '0';
        if (Number(flags) & NFT_SET_ANONYMOUS) continue;
        (Number(flags) & NFT_SET_MAP ? maps : sets).push(attrs.get(NFTA_SET_NAME)!);
      }
      return chains.length + sets.length + maps.length ? { chains, sets, maps } : undefined;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    if (this.fd !== undefined) { loadNfnetlink()?.close(this.fd); this.fd = undefined; }
  }
}

const NFT_MSG_GETCHAIN = 4, NFT_MSG_GETSET = 10;
const NLM_F_DUMP = 0x300;
const NFTA_CHAIN_TABLE = 1, NFTA_CHAIN_NAME = 3, NFTA_SET_FLAGS = 3;
const NFT_SET_ANONYMOUS = 0x1, NFT_SET_MAP = 0x8;

/** One NLM_F_DUMP request of nf_tables message `type`, narrowed to `table` where the kernel supports it. */
function dumpRequest(type: number, family: NlFamily, tableAttr: number, table: string): Buffer {
  const name = Buffer.from(`${table}\0`, 'utf8');
  const attrLen = 4 + name.length;
  const b = Buffer.alloc(20 + ((attrLen + 3) & ~3));
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE((NFNL_SUBSYS_NFTABLES << 8) | type, 4);
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  b.writeUInt32LE(1, 8);
  b[16] = NFPROTO[family];
  b.writeUInt16LE(attrLen, 20);
  b.writeUInt16LE(tableAttr, 22);
  name.copy(b, 24);
  return b;
}

/**
 * The top-level attributes of each reply message: NUL-terminated strings without their NUL,
 * and the `numeric` ones (32-bit, network order) as decimal text. What listNames needs.
 */
export function replyAttributes(replies: Buffer, numeric: ReadonlySet<number> = new Set()): Array<Map<number, string>> {
  const out: Array<Map<number, string>> = [];
  for (let at = 0; at + 20 <= replies.length;) {
    const len = replies.readUInt32LE(at);
    if (len < 20 || at + len > replies.length) break;
    const attrs = new Map<number, string>();
    for (let a = at + 20; a + 4 <= at + len;) {
      const alen = replies.readUInt16LE(a), type = replies.readUInt16LE(a + 2) & 0x3fff;
      if (alen < 4) break;
      const body = replies.subarray(a + 4, a + alen);
      if (numeric.has(type)) { if (body.length === 4) attrs.set(type, String(body.readUInt32BE(0))); }
      else if (body.length > 0 && body[body.length - 1] === 0) attrs.set(type, body.subarray(0, body.length - 1).toString('utf8'));
      a += (alen + 3) & ~3;
    }
    out.push(attrs);
    at += (len + 3) & ~3;
  }
  return out;
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 12: 'ENOMEM', 16: 'EBUSY', 17: 'EEXIST', 22: 'EINVAL', 34: 'ERANGE', 75: 'EOVERFLOW', 90: 'EMSGSIZE',
  95: 'EOPNOTSUPP', 105: 'ENOBUFS', 110: 'ETIMEDOUT',
};
const errnoName = (n: number) => ERRNO_NAMES[n] ?? `errno ${n}`;
