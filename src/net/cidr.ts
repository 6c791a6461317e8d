// IP address and CIDR arithmetic on bigints, plus bitmap-backed allocators for subnets of a
// range (node pod CIDRs) and addresses of a subnet (pod and Service IPs). Pure: no I/O.
//
// Parsing is strict, as Go's net.ParseIP / netip: dotted-quad IPv4 without leading zeros,
// RFC 4291 IPv6 text (with an optional trailing dotted quad), no zones. Formatting is
// canonical: IPv4 dotted quad, IPv6 per RFC 5952 (lower case, longest run of two or more
// zero groups compressed, the first such run on a tie), IPv4-mapped IPv6 as ::ffff:a.b.c.d.

export type IPFamily = 'IPv4' | 'IPv6';

/** An address: its family and its value as an unsigned integer (32 or 128 bits). */
export interface IP {
  family: IPFamily;
  value: bigint;
}

/** A prefix in canonical form: `addr` is the network address (host bits zero). */
export interface Cidr {
  family: IPFamily;
  addr: bigint;
  prefix: number;
}

export const bitsOf = (family: IPFamily): number => (family === 'IPv4' ? 32 : 128);
const maxOf = (family: IPFamily): bigint => (1n << BigInt(bitsOf(family))) - 1n;

// ---- addresses -----------------------------------------------------------------------------

/** Parses a dotted quad; undefined when invalid. */
export function parseIPv4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

/** Parses IPv6 text (with `::` and an optional trailing dotted quad); undefined when invalid. */
export function parseIPv6(s: string): bigint | undefined {
  if (s.length === 0 || s.length > 45 || s.includes('%')) return undefined;
  let tail: bigint | undefined;
  let text = s;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) > 0) {
    tail = parseIPv4(s.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    text = s.slice(0, lastColon + 1) + '0:0'; // stand-in groups, replaced below
  }
  const dbl = text.indexOf('::');
  if (dbl >= 0 && text.indexOf('::', dbl + 1) >= 0) return undefined;
  const group = /^[0-9a-fA-F]{1,4}$/;
  const parseGroups = (t: string): number[] | undefined => {
    if (t === '') return [];
    const out: number[] = [];
    for (const g of t.split(':')) {
      if (!group.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const head = parseGroups(text.slice(0, dbl));
    const rest = parseGroups(text.slice(dbl + 2));
    if (!head || !rest || head.length + rest.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  } else {
    const all = parseGroups(text);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (tail !== undefined) v = (v & ~0xffffffffn) | tail;
  return v;
}

/** Parses an address of either family; undefined when invalid. */
export function parseIP(s: string): IP | undefined {
  if (s.includes(':')) {
    const v = parseIPv6(s);
    return v === undefined ? undefined : { family: 'IPv6', value: v };
  }
  const v = parseIPv4(s);
  return v === undefined ? undefined : { family: 'IPv4', value: v };
}

/** As parseIP, but throws `invalid IP address "s"`. */
export function mustParseIP(s: string): IP {
  const ip = parseIP(s);
  if (!ip) throw new Error(`invalid IP address ${JSON.stringify(s)}`);
  return ip;
}

export function formatIPv4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((sh) => String((v >> sh) & 0xffn)).join('.');
}

export function formatIPv6(v: bigint): string {
  if (v >> 32n === 0xffffn) return `::ffff:${formatIPv4(v & 0xffffffffn)}`;
  const groups: number[] = [];
  for (let sh = 112n; sh >= 0n; sh -= 16n) groups.push(Number((v >> sh) & 0xffffn));
  // Longest run of zero groups (length ≥ 2); the first one wins a tie.
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

export function formatIP(ip: IP): string {
  return ip.family === 'IPv4' ? formatIPv4(ip.value) : formatIPv6(ip.value);
}

/** The family of an address or CIDR string; undefined when it is neither. */
export function ipFamilyOf(s: string): IPFamily | undefined {
  if (s.includes('/')) return parseCIDR(s)?.family;
  return parseIP(s)?.family;
}

export const isIPv4 = (s: string): boolean => ipFamilyOf(s) === 'IPv4';
export const isIPv6 = (s: string): boolean => ipFamilyOf(s) === 'IPv6';

/** Canonical text of an address string (`FD00::0001` → `fd00::1`); throws when invalid. */
export function canonicalIP(s: string): string {
  return formatIP(mustParseIP(s));
}

// ---- prefixes ------------------------------------------------------------------------------

const hostMask = (family: IPFamily, prefix: number): bigint => (1n << BigInt(bitsOf(family) - prefix)) - 1n;
const netMask = (family: IPFamily, prefix: number): bigint => maxOf(family) ^ hostMask(family, prefix);

export interface ParsedCidr extends Cidr {
  /** The address as written (may have host bits set: `10.0.0.1/24`). */
  ip: bigint;
}

/**
 * Parses `addr/prefix`. The result's `addr` is the network address (host bits cleared, as
 * Go's net.ParseCIDR returns the IPNet); `ip` keeps the address as written. Undefined when
 * invalid (bad address, prefix out of range or with leading zeros).
 */
export function parseCIDR(s: string): ParsedCidr | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > bitsOf(ip.family)) return undefined;
  return { family: ip.family, addr: ip.value & netMask(ip.family, prefix), prefix, ip: ip.value };
}

/** As parseCIDR, but throws `invalid CIDR address: s`; with `strict`, also when host bits are set. */
export function mustParseCIDR(s: string, opts: { strict?: boolean } = {}): Cidr {
  const c = parseCIDR(s);
  if (!c) throw new Error(`invalid CIDR address: ${s}`);
  if (opts.strict && c.ip !== c.addr) {
    throw new Error(`invalid CIDR address: ${s} (host bits set; did you mean ${formatCIDR(c)}?)`);
  }
  return { family: c.family, addr: c.addr, prefix: c.prefix };
}

export function formatCIDR(c: Cidr): string {
  return `${formatIP({ family: c.family, value: c.addr })}/${c.prefix}`;
}

/** Canonical text of a CIDR string (`10.244.1.7/16` → `10.244.0.0/16`); throws when invalid. */
export function canonicalCIDR(s: string): string {
  return formatCIDR(mustParseCIDR(s));
}

/** Number of addresses in the prefix. */
export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(bitsOf(c.family) - c.prefix);
}

export function firstIP(c: Cidr): IP { return { family: c.family, value: c.addr }; }
export function lastIP(c: Cidr): IP { return { family: c.family, value: c.addr | hostMask(c.family, c.prefix) }; }

/** Whether `c` contains the address (an IP, or address text). Families must match. */
export function cidrContains(c: Cidr, ip: IP | string): boolean {
  const a = typeof ip === 'string' ? parseIP(ip) : ip;
  if (!a || a.family !== c.family) return false;
  return (a.value & netMask(c.family, c.prefix)) === c.addr;
}

/** Whether `outer` contains all of `inner`. */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.prefix >= outer.prefix &&
    (inner.addr & netMask(outer.family, outer.prefix)) === outer.addr;
}

/** Whether the two prefixes share any address (one then contains the other). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrContainsCidr(a, b) || cidrContainsCidr(b, a);
}

export function cidrEqual(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.prefix === b.prefix && a.addr === b.addr;
}

/** How many /newPrefix subnets `c` has. */
export function subnetCount(c: Cidr, newPrefix: number): bigint {
  checkSubnetPrefix(c, newPrefix);
  return 1n << BigInt(newPrefix - c.prefix);
}

function checkSubnetPrefix(c: Cidr, newPrefix: number): void {
  if (!Number.isInteger(newPrefix) || newPrefix < c.prefix || newPrefix > bitsOf(c.family)) {
    throw new Error(`cannot split ${formatCIDR(c)} into /${newPrefix} subnets`);
  }
}

/** The n-th (0-based) /newPrefix subnet of `c`: subnet(10.244.0.0/16, 24, 3) = 10.244.3.0/24. */
export function subnet(c: Cidr, newPrefix: number, n: number | bigint): Cidr {
  const count = subnetCount(c, newPrefix);
  const i = BigInt(n);
  if (i < 0n || i >= count) throw new Error(`${formatCIDR(c)} has no /${newPrefix} subnet number ${i} (it has ${count})`);
  return { family: c.family, addr: c.addr + (i << BigInt(bitsOf(c.family) - newPrefix)), prefix: newPrefix };
}

/** The index of `sub` among the /sub.prefix subnets of `c` (the inverse of subnet()); undefined if not one. */
export function subnetIndex(c: Cidr, sub: Cidr): bigint | undefined {
  if (!cidrContainsCidr(c, sub)) return undefined;
  return (sub.addr - c.addr) >> BigInt(bitsOf(c.family) - sub.prefix);
}

/**
 * The k-th address of `c` (0 = the network address). A negative k counts from the end
 * (-1 = the last address, the IPv4 broadcast address). Throws when out of range.
 */
export function addressAt(c: Cidr, k: number | bigint): IP {
  const size = cidrSize(c);
  let i = BigInt(k);
  if (i < 0n) i += size;
  if (i < 0n || i >= size) throw new Error(`${formatCIDR(c)} has no address number ${k}`);
  return { family: c.family, value: c.addr + i };
}

/** The offset of `ip` in `c` (inverse of addressAt); undefined when `c` does not contain it. */
export function addressIndex(c: Cidr, ip: IP | string): bigint | undefined {
  const a = typeof ip === 'string' ? parseIP(ip) : ip;
  if (!a || !cidrContains(c, a)) return undefined;
  return a.value - c.addr;
}

// ---- allocators ----------------------------------------------------------------------------

/**
 * A bitmap over the integers [0, size): allocate the next free one (round robin from after
 * the last allocation, as kube-controller-manager's cidrset does, so a released value is not
 * handed out again at once), allocate a given one, release, and snapshot/restore as a string.
 */
export class BitmapAllocator {
  private bits: Uint8Array;
  private used = 0;
  private next = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 0 || size > 1 << 24) throw new Error(`bitmap size ${size} out of range [0, 2^24]`);
    this.bits = new Uint8Array(Math.ceil(size / 8));
  }

  has(i: number): boolean {
    return i >= 0 && i < this.size && (this.bits[i >> 3] & (1 << (i & 7))) !== 0;
  }

  /** Number allocated. */
  get count(): number { return this.used; }
  get free(): number { return this.size - this.used; }

  /** Allocates the next free value; undefined when full. */
  allocateNext(): number | undefined {
    if (this.used >= this.size) return undefined;
    for (let k = 0; k < this.size; k++) {
      const i = (this.next + k) % this.size;
      if (!this.has(i)) {
        this.set(i);
        this.next = (i + 1) % this.size;
        return i;
      }
    }
    return undefined;
  }

  /** Allocates `i`; false when it was taken already. Throws when out of range. */
  allocate(i: number): boolean {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) throw new Error(`value ${i} out of range [0, ${this.size})`);
    if (this.has(i)) return false;
    this.set(i);
    return true;
  }

  /** Releases `i`; false when it was not allocated (or out of range). */
  release(i: number): boolean {
    if (!this.has(i)) return false;
    this.bits[i >> 3] &= ~(1 << (i & 7));
    this.used--;
    return true;
  }

  private set(i: number): void {
    this.bits[i >> 3] |= 1 << (i & 7);
    this.used++;
  }

  /** Allocated values in increasing order. */
  *values(): IterableIterator<number> {
    for (let i = 0; i < this.size; i++) if (this.has(i)) yield i;
  }

  /** `SIZE:BASE64` of the bitmap (bit i of byte i>>3 is value i). */
  snapshot(): string {
    return `${this.size}:${Buffer.from(this.bits).toString('base64')}`;
  }

  /** Replaces the state with a snapshot() of an allocator of the same size. */
  restore(snap: string): void {
    const m = /^(\d+):([A-Za-z0-9+/]*={0,2})$/.exec(snap);
    if (!m || Number(m[1]) !== this.size) throw new Error(`snapshot does not fit a bitmap of size ${this.size}`);
    const bytes = Buffer.from(m[2], 'base64');
    if (bytes.length !== this.bits.length) throw new Error('snapshot length does not match the bitmap');
    const spare = this.size % 8;
    if (spare && bytes.length && (bytes[bytes.length - 1] >> spare) !== 0) throw new Error('snapshot has bits beyond the range');
    this.bits = new Uint8Array(bytes);
    this.used = 0;
    for (const b of this.bits) for (let x = b; x; x &= x - 1) this.used++;
    this.next = 0;
  }
}

/** Upstream's limit on cluster mask vs. node mask (nodeipam's clusterSubnetMaxDiff). */
export const MAX_SUBNET_BITS = 16;

/** Hands out the /subnetPrefix subnets of a range (kube-controller-manager's cidrset). */
export class SubnetAllocator {
  readonly range: Cidr;
  private readonly map: BitmapAllocator;

  constructor(range: Cidr | string, readonly subnetPrefix: number) {
    this.range = typeof range === 'string' ? mustParseCIDR(range) : range;
    if (subnetPrefix < this.range.prefix) {
      throw new Error(`subnet mask size /${subnetPrefix} is smaller than the range ${formatCIDR(this.range)}`);
    }
    if (subnetPrefix > bitsOf(this.range.family)) throw new Error(`subnet mask size /${subnetPrefix} is too large for ${this.range.family}`);
    if (subnetPrefix - this.range.prefix > MAX_SUBNET_BITS) {
      throw new Error(`subnet mask size /${subnetPrefix} and range ${formatCIDR(this.range)} differ by more than ${MAX_SUBNET_BITS} bits`);
    }
    this.map = new BitmapAllocator(Number(subnetCount(this.range, subnetPrefix)));
  }

  get family(): IPFamily { return this.range.family; }
  get size(): number { return this.map.size; }
  get free(): number { return this.map.free; }
  get count(): number { return this.map.count; }

  /** The next free subnet; undefined when the range is exhausted. */
  allocateNext(): Cidr | undefined {
    const i = this.map.allocateNext();
    return i === undefined ? undefined : subnet(this.range, this.subnetPrefix, i);
  }

  private indexOf(sub: Cidr | string): number {
    const c = typeof sub === 'string' ? mustParseCIDR(sub) : sub;
    const i = c.prefix === this.subnetPrefix ? subnetIndex(this.range, c) : undefined;
    if (i === undefined) throw new Error(`${formatCIDR(c)} is not a /${this.subnetPrefix} subnet of ${formatCIDR(this.range)}`);
    return Number(i);
  }

  /** Whether `sub` is one of this range's subnets. */
  fits(sub: Cidr | string): boolean {
    const c = typeof sub === 'string' ? parseCIDR(sub) : sub;
    return !!c && c.prefix === this.subnetPrefix && cidrContainsCidr(this.range, c);
  }

  /** Marks `sub` used; false when it was already. Throws when it is not a subnet of the range. */
  allocate(sub: Cidr | string): boolean { return this.map.allocate(this.indexOf(sub)); }

  /** Frees `sub`; false when it was not allocated. Throws when it is not a subnet of the range. */
  release(sub: Cidr | string): boolean { return this.map.release(this.indexOf(sub)); }

  has(sub: Cidr | string): boolean { return this.fits(sub) && this.map.has(this.indexOf(sub)); }

  *allocated(): IterableIterator<Cidr> {
    for (const i of this.map.values()) yield subnet(this.range, this.subnetPrefix, i);
  }

  /** `RANGE/SUBNETPREFIX|SIZE:BASE64`, for persistence. */
  snapshot(): string {
    return `${formatCIDR(this.range)}/${this.subnetPrefix}|${this.map.snapshot()}`;
  }

  restore(snap: string): void {
    const bar = snap.indexOf('|');
    const head = `${formatCIDR(this.range)}/${this.subnetPrefix}`;
    if (bar < 0 || snap.slice(0, bar) !== head) throw new Error(`snapshot is not of ${head}`);
    this.map.restore(snap.slice(bar + 1));
  }
}

export interface AddressAllocatorOptions {
  /** Keep the network address (offset 0) out. Default true for IPv4 and IPv6. */
  reserveNetwork?: boolean;
  /** Keep the last address (IPv4 broadcast) out. Default true for IPv4, false for IPv6. */
  reserveLast?: boolean;
  /** Offsets to keep out as well (e.g. 1 for a gateway). */
  reserved?: number[];
  /** Use at most this many addresses from the start of the subnet. Default 65536. */
  maxSize?: number;
}

/** Hands out addresses of a subnet (pod IPs of a node, Service IPs). */
export class AddressAllocator {
  readonly range: Cidr;
  private readonly map: BitmapAllocator;
  private readonly reserved = new Set<number>();

  constructor(range: Cidr | string, opts: AddressAllocatorOptions = {}) {
    this.range = typeof range === 'string' ? mustParseCIDR(range) : range;
    const total = cidrSize(this.range);
    const max = BigInt(opts.maxSize ?? 65536);
    const size = Number(total < max ? total : max);
    this.map = new BitmapAllocator(size);
    const v4 = this.range.family === 'IPv4';
    if ((opts.reserveNetwork ?? true) && size > 2) this.reserved.add(0);
    if ((opts.reserveLast ?? v4) && size > 2 && BigInt(size) === total) this.reserved.add(size - 1);
    for (const r of opts.reserved ?? []) if (r >= 0 && r < size) this.reserved.add(r);
    for (const r of this.reserved) this.map.allocate(r);
  }

  get family(): IPFamily { return this.range.family; }
  /** Addresses that can be handed out. */
  get size(): number { return this.map.size - this.reserved.size; }
  get free(): number { return this.map.free; }

  allocateNext(): IP | undefined {
    const i = this.map.allocateNext();
    return i === undefined ? undefined : addressAt(this.range, i);
  }

  private indexOf(ip: IP | string): number {
    const i = addressIndex(this.range, ip);
    if (i === undefined || i >= BigInt(this.map.size)) {
      throw new Error(`${typeof ip === 'string' ? ip : formatIP(ip)} is not in the range ${formatCIDR(this.range)}`);
    }
    return Number(i);
  }

  /** Allocates `ip`; false when taken or reserved. Throws when outside the range. */
  allocate(ip: IP | string): boolean { return this.map.allocate(this.indexOf(ip)); }

  release(ip: IP | string): boolean {
    const i = this.indexOf(ip);
    return this.reserved.has(i) ? false : this.map.release(i);
  }

  has(ip: IP | string): boolean {
    const i = addressIndex(this.range, ip);
    return i !== undefined && i < BigInt(this.map.size) && !this.reserved.has(Number(i)) && this.map.has(Number(i));
  }

  *allocated(): IterableIterator<IP> {
    for (const i of this.map.values()) if (!this.reserved.has(i)) yield addressAt(this.range, i);
  }

  snapshot(): string { return `${formatCIDR(this.range)}|${this.map.snapshot()}`; }

  restore(snap: string): void {
    const bar = snap.indexOf('|');
    const head = formatCIDR(this.range);
    if (bar < 0 || snap.slice(0, bar) !== head) throw new Error(`snapshot is not of ${head}`);
    this.map.restore(snap.slice(bar + 1));
    for (const r of this.reserved) this.map.allocate(r);
  }
}
