// A TTL-bounded cache of upstream answers, positive and negative (RFC 2308), as CoreDNS's cache
// plugin in front of forward. Entries are the upstream's bytes; a hit is served with the
// client's id and question spelling and with every TTL lowered by the entry's age.
//
// Only forwarded answers are cached: cluster answers are computed from the index on every query,
// so they follow API changes at once instead of after a cache TTL.

import { RCODE, summarize, TYPE } from './wire.js';

export interface CacheOptions {
  /** Cap on the TTL of positive entries (s). CoreDNS's `cache 30` in kubeadm's Corefile. */
  maxTtl: number;
  /** Cap on the TTL of negative entries (s). */
  maxNegativeTtl: number;
  /** Entries at most (per kind), as CoreDNS's default capacity. */
  capacity: number;
  /** Clock (ms), for tests. */
  now?: () => number;
}

interface Entry {
  msg: Buffer;
  storedAt: number;
  expiresAt: number;
  ttlOffsets: number[];
  negative: boolean;
}

export type CacheKind = 'success' | 'denial';

export class DnsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private counts = { success: 0, denial: 0 };

  constructor(private readonly opts: CacheOptions) {
    this.now = opts.now ?? Date.now;
  }

  static key(qname: string, qtype: number, qclass: number, dnssecOk: boolean, cd: boolean): string {
    return `${qname.toLowerCase()}\u0000${qtype}\u0000${qclass}\u0000${dnssecOk ? 1 : 0}${cd ? 1 : 0}`;
  }

  get size(): { success: number; denial: number } { return { ...this.counts }; }

  /**
   * The cached answer for `key` rewritten for a client: its id, its question section (same
   * length: the names differ at most in case), TTLs aged. Undefined on a miss.
   */
  get(key: string, id: number, questionBytes: Buffer): { msg: Buffer; kind: CacheKind } | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const now = this.now();
    if (now >= e.expiresAt) { this.delete(key, e); return undefined; }
    // Served TTLs count down from the upstream's, and never outlive the entry (its TTL was capped).
    const age = Math.floor((now - e.storedAt) / 1000);
    const remaining = Math.ceil((e.expiresAt - now) / 1000);
    const msg = Buffer.from(e.msg);
    msg.writeUInt16BE(id, 0);
    if (questionBytes.length > 0 && 12 + questionBytes.length <= msg.length) questionBytes.copy(msg, 12);
    for (const off of e.ttlOffsets) msg.writeUInt32BE(Math.max(0, Math.min(msg.readUInt32BE(off) - age, remaining)), off);
    return { msg, kind: e.negative ? 'denial' : 'success' };
  }

  /** Stores an upstream answer if it may be cached; returns whether it was. */
  put(key: string, msg: Buffer): boolean {
    let s;
    try { s = summarize(msg); } catch { return false; }
    if (s.tc || (s.rcode !== RCODE.NOERROR && s.rcode !== RCODE.NXDOMAIN)) return false;
    const answers = s.records.filter((r) => r.section === 0);
    const negative = s.rcode === RCODE.NXDOMAIN || answers.length === 0;
    let ttl: number;
    if (negative) {
      // RFC 2308 §5: the negative TTL is the SOA's minimum, bounded by the SOA's own TTL.
      const soa = s.records.find((r) => r.section === 1 && r.type === TYPE.SOA);
      if (!soa || soa.rdlength < 20) return false;
      const minimum = msg.readUInt32BE(soa.rdataOffset + soa.rdlength - 4);
      ttl = Math.min(soa.ttl, minimum, this.opts.maxNegativeTtl);
    } else {
      ttl = Math.min(this.opts.maxTtl, ...s.records.filter((r) => r.section < 2 && r.type !== TYPE.OPT).map((r) => r.ttl));
    }
    if (!(ttl > 0)) return false;
    const old = this.entries.get(key);
    if (old) this.delete(key, old);
    const kind: CacheKind = negative ? 'denial' : 'success';
    if (this.counts[kind] >= this.opts.capacity) this.evictOne(negative);
    const now = this.now();
    this.entries.set(key, {
      msg: Buffer.from(msg), storedAt: now, expiresAt: now + ttl * 1000, negative,
      ttlOffsets: s.records.filter((r) => r.type !== TYPE.OPT).map((r) => r.ttlOffset),
    });
    this.counts[kind]++;
    return true;
  }

  private delete(key: string, e: Entry): void {
    this.entries.delete(key);
    this.counts[e.negative ? 'denial' : 'success']--;
  }

  /** Drops the oldest entry of one kind (Map order is insertion order). */
  private evictOne(negative: boolean): void {
    for (const [k, e] of this.entries) if (e.negative === negative) { this.delete(k, e); return; }
  }
}
