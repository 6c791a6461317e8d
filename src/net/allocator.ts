// Pure allocators for Service ClusterIPs and NodePorts (kube-apiserver's ipallocator and
// portallocator). No I/O: the API server keeps one per range as an index of what the store
// holds, and the store stays the arbiter of who owns what.
//
// Memory is flat in the size of the range: allocated values are kept in a sparse set, never a
// bitmap of the range, so a /12 or a /64 costs what a /24 costs. A range is split as upstream
// (KEP-3070) into a lower "static" band, kept for addresses or ports that users ask for by
// value, and the upper "dynamic" band that AllocateNext draws from first, starting at a random
// point and probing forward; only when the upper band is full does it fall back to the lower.

import { type Cidr, type IP, type IPFamily, bitsOf, cidrSize, formatCIDR, formatIP, mustParseCIDR, parseIP } from './cidr.js';

export type AllocatorErrorKind = 'Full' | 'Allocated' | 'NotInRange';

/** Upstream's allocator errors (ErrFull, ErrAllocated, ErrNotInRange), with their messages. */
export class AllocatorError extends Error {
  constructor(readonly kind: AllocatorErrorKind, message: string) { super(message); }
}

export const isAllocatorError = (e: unknown, kind?: AllocatorErrorKind): e is AllocatorError =>
  e instanceof AllocatorError && (kind === undefined || e.kind === kind);

/** A source of random offsets in [0, n). Injectable so tests are deterministic. */
export type RandomOffset = (n: bigint) => bigint;

export const defaultRandom: RandomOffset = (n) => {
  if (n <= 0n) return 0n;
  if (n <= BigInt(Number.MAX_SAFE_INTEGER)) return BigInt(Math.floor(Math.random() * Number(n)));
  // Wider than a double: draw 64-bit words until the value is wide enough, then reduce.
  let v = 0n;
  for (let bits = 0n; (1n << bits) < n * 2n; bits += 32n) v = (v << 32n) | BigInt(Math.floor(Math.random() * 2 ** 32));
  return v % n;
};

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const key = (i: bigint): number | bigint => (i <= SAFE ? Number(i) : i);

/**
 * The set core shared by both allocators: offsets [0, size), the first `staticSize` of them
 * the static band. Offsets are bigints so a 2^64-sized range works.
 */
class BandedSet {
  /** Taken offsets; stored as numbers when they fit (small integers cost far less than bigints). */
  private readonly used = new Set<number | bigint>();
  private usedStatic = 0n;

  constructor(readonly size: bigint, readonly staticSize: bigint, private readonly random: RandomOffset) {}

  get count(): number { return this.used.size; }
  has(i: bigint): boolean { return this.used.has(key(i)); }

  /** Marks `i`; false when it was already taken. */
  take(i: bigint): boolean {
    const k = key(i);
    if (this.used.has(k)) return false;
    this.used.add(k);
    if (i < this.staticSize) this.usedStatic++;
    return true;
  }

  /** Frees `i`; false when it was not taken. */
  free(i: bigint): boolean {
    if (!this.used.delete(key(i))) return false;
    if (i < this.staticSize) this.usedStatic--;
    return true;
  }

  /** A free offset, upper band first (not marked); undefined when the range is full. */
  pick(): bigint | undefined {
    const dynSize = this.size - this.staticSize;
    const usedDynamic = BigInt(this.used.size) - this.usedStatic;
    if (usedDynamic < dynSize) return this.probe(this.staticSize, dynSize);
    if (this.usedStatic < this.staticSize) return this.probe(0n, this.staticSize);
    return undefined;
  }

  /** Linear probe from a random point of [base, base+n), which is known to have a free slot. */
  private probe(base: bigint, n: bigint): bigint | undefined {
    const start = this.random(n);
    for (let k = 0n; k < n; k++) {
      const i = base + ((start + k) % n);
      if (!this.used.has(key(i))) return i;
    }
    return undefined;
  }

  *values(): IterableIterator<bigint> { for (const k of this.used) yield BigInt(k); }
  clear(): void { this.used.clear(); this.usedStatic = 0n; }
}

// ---- IP ranges --------------------------------------------------------------------------------

/**
 * Upstream's calculateRangeOffset for Service CIDRs: min(max(16, size/16), 256), and no static
 * band at all when the CIDR holds 16 addresses or fewer. `size` counts every address of the CIDR.
 */
export function ipRangeOffset(c: Cidr): bigint {
  const size = cidrSize(c);
  if (size <= 16n) return 0n;
  const offset = size / 16n;
  if (offset < 16n) return 16n;
  if (offset > 256n) return 256n;
  return offset;
}

/**
 * Hands out the addresses of one Service CIDR. The network address is never used; for IPv4
 * the broadcast address is not either (IPv6 has none), as upstream.
 */
export class IPRangeAllocator {
  readonly cidr: Cidr;
  readonly family: IPFamily;
  /** First and last usable address values. */
  readonly first: bigint;
  readonly last: bigint;
  /** Number of usable addresses. */
  readonly size: bigint;
  /** Number of addresses in the static (lower) band. */
  readonly rangeOffset: bigint;
  private readonly set: BandedSet;

  constructor(cidr: Cidr | string, opts: { random?: RandomOffset } = {}) {
    this.cidr = typeof cidr === 'string' ? mustParseCIDR(cidr) : cidr;
    this.family = this.cidr.family;
    const total = cidrSize(this.cidr);
    const hostBits = bitsOf(this.family) - this.cidr.prefix;
    this.first = this.cidr.addr + 1n;
    this.last = this.cidr.addr + total - 1n - (this.family === 'IPv4' ? 1n : 0n);
    this.size = hostBits === 0 || this.last < this.first ? 0n : this.last - this.first + 1n;
    this.rangeOffset = ipRangeOffset(this.cidr);
    if (this.rangeOffset > this.size) this.rangeOffset = 0n;
    this.set = new BandedSet(this.size, this.rangeOffset, opts.random ?? defaultRandom);
  }

  get cidrText(): string { return formatCIDR(this.cidr); }
  /** Addresses taken. */
  get used(): number { return this.set.count; }
  /** Addresses still free (a bigint: a /64 has more than a double holds exactly). */
  get free(): bigint { return this.size - BigInt(this.set.count); }

  private offsetOf(ip: IP | string): bigint | undefined {
    const a = typeof ip === 'string' ? parseIP(ip) : ip;
    if (!a || a.family !== this.family || a.value < this.first || a.value > this.last) return undefined;
    return a.value - this.first;
  }

  /** Whether the address is one this range can hand out (not the network or broadcast address). */
  contains(ip: IP | string): boolean { return this.offsetOf(ip) !== undefined; }

  /** Reserves a given address. Throws NotInRange or Allocated. */
  allocate(ip: IP | string): void {
    const i = this.offsetOf(ip);
    const text = typeof ip === 'string' ? ip : formatIP(ip);
    if (i === undefined) {
      throw new AllocatorError('NotInRange', `the provided IP (${text}) is not in the valid range. The range of valid IPs is ${this.cidrText}`);
    }
    if (!this.set.take(i)) throw new AllocatorError('Allocated', 'provided IP is already allocated');
  }

  /** Marks an address taken if it is in range; returns whether it was newly marked. For indexing. */
  mark(ip: IP | string): boolean {
    const i = this.offsetOf(ip);
    return i !== undefined && this.set.take(i);
  }

  /** Picks a free address, upper band first, without reserving it; undefined when full. */
  peekNext(): IP | undefined {
    const i = this.set.pick();
    return i === undefined ? undefined : { family: this.family, value: this.first + i };
  }

  /** Reserves a free address, upper band first. Throws Full. */
  allocateNext(): IP {
    const i = this.set.pick();
    if (i === undefined) throw new AllocatorError('Full', 'range is full');
    this.set.take(i);
    return { family: this.family, value: this.first + i };
  }

  /** Frees an address; releasing one that is not taken, or out of range, is a no-op (false). */
  release(ip: IP | string): boolean {
    const i = this.offsetOf(ip);
    return i !== undefined && this.set.free(i);
  }

  has(ip: IP | string): boolean {
    const i = this.offsetOf(ip);
    return i !== undefined && this.set.has(i);
  }

  *allocated(): IterableIterator<IP> {
    for (const i of this.set.values()) yield { family: this.family, value: this.first + i };
  }

  clear(): void { this.set.clear(); }
}

// ---- port ranges ------------------------------------------------------------------------------

export interface PortRange { base: number; size: number }

/** Parses `A-B` (or a single port `A`), as net.ParsePortRange. Throws with the reason. */
export function parsePortRange(s: string): PortRange {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(s);
  if (!m) throw new Error(`"${s}" is not a port range: write it as LOW-HIGH, e.g. 30000-32767`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < 0 || lo > 65535 || hi < 0 || hi > 65535) throw new Error(`"${s}" has a port outside 0-65535`);
  if (hi < lo) throw new Error(`"${s}" ends before it starts: write it as LOW-HIGH`);
  return { base: lo, size: hi - lo + 1 };
}

export const formatPortRange = (r: PortRange): string => `${r.base}-${r.base + r.size - 1}`;

/** Upstream's port calculateRangeOffset: min(max(16, size/32), 128); none for 16 ports or fewer. */
export function portRangeOffset(size: number): number {
  if (size <= 16) return 0;
  const offset = Math.floor(size / 32);
  if (offset < 16) return 16;
  if (offset > 128) return 128;
  return offset;
}

/** Hands out the ports of a NodePort range (30000-32767 by default). */
export class PortAllocator {
  readonly range: PortRange;
  readonly rangeOffset: number;
  private readonly set: BandedSet;

  constructor(range: PortRange | string = '30000-32767', opts: { random?: RandomOffset } = {}) {
    this.range = typeof range === 'string' ? parsePortRange(range) : range;
    this.rangeOffset = portRangeOffset(this.range.size);
    this.set = new BandedSet(BigInt(this.range.size), BigInt(this.rangeOffset), opts.random ?? defaultRandom);
  }

  get rangeText(): string { return formatPortRange(this.range); }
  get used(): number { return this.set.count; }
  get free(): number { return this.range.size - this.set.count; }

  contains(port: number): boolean {
    return Number.isInteger(port) && port >= this.range.base && port < this.range.base + this.range.size;
  }

  /** Reserves a given port. Throws NotInRange or Allocated. */
  allocate(port: number): void {
    if (!this.contains(port)) {
      throw new AllocatorError('NotInRange', `provided port is not in the valid range. The range of valid ports is ${this.rangeText}`);
    }
    if (!this.set.take(BigInt(port - this.range.base))) throw new AllocatorError('Allocated', 'provided port is already allocated');
  }

  /** Picks a free port, upper band first, without reserving it; undefined when full. */
  peekNext(): number | undefined {
    const i = this.set.pick();
    return i === undefined ? undefined : this.range.base + Number(i);
  }

  /** Reserves a free port, upper band first. Throws Full. */
  allocateNext(): number {
    const i = this.set.pick();
    if (i === undefined) throw new AllocatorError('Full', 'range is full');
    this.set.take(i);
    return this.range.base + Number(i);
  }

  release(port: number): boolean {
    return this.contains(port) && this.set.free(BigInt(port - this.range.base));
  }

  has(port: number): boolean {
    return this.contains(port) && this.set.has(BigInt(port - this.range.base));
  }

  *allocated(): IterableIterator<number> {
    for (const i of this.set.values()) yield this.range.base + Number(i);
  }
}

/**
 * A group of port reservations that is kept or undone as one (upstream's
 * PortAllocationOperation): reservations happen at once (so concurrent requests cannot take
 * the same port); releases are deferred to commit, so a failed request gives nothing up.
 * In a dry run nothing is reserved, but the same errors are reported.
 */
export class PortOperation {
  private readonly allocated: number[] = [];
  private readonly releases: number[] = [];
  private readonly dryTaken = new Set<number>();
  private done = false;

  constructor(private readonly alloc: PortAllocator, private readonly dryRun = false) {}

  allocate(port: number): void {
    if (this.dryRun) {
      if (!this.alloc.contains(port)) this.alloc.allocate(port); // throws NotInRange
      if (this.alloc.has(port) || this.dryTaken.has(port)) throw new AllocatorError('Allocated', 'provided port is already allocated');
      this.dryTaken.add(port);
      return;
    }
    this.alloc.allocate(port);
    this.allocated.push(port);
  }

  allocateNext(): number {
    if (this.dryRun) {
      const p = this.alloc.peekNext();
      if (p === undefined) throw new AllocatorError('Full', 'range is full');
      return p;
    }
    const p = this.alloc.allocateNext();
    this.allocated.push(p);
    return p;
  }

  releaseDeferred(port: number): void { this.releases.push(port); }

  /** Keeps the reservations and performs the deferred releases. */
  commit(): void {
    if (this.done) return;
    this.done = true;
    if (this.dryRun) return;
    for (const p of this.releases) this.alloc.release(p);
  }

  /** Undoes the reservations (no-op after commit). */
  revert(): void {
    if (this.done) return;
    this.done = true;
    if (this.dryRun) return;
    for (const p of this.allocated) this.alloc.release(p);
  }
}
