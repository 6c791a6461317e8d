// host-local-style IPAM for podnet's CNI plugin.
//
// Configuration: `ranges` is a list of range sets; one address is allocated from each set, so a
// dual-stack node has two sets (its IPv4 and its IPv6 podCIDR). A range is a subnet with an
// optional rangeStart / rangeEnd / gateway; the gateway defaults to the subnet's first address
// and is never handed out, nor are the subnet address and the subnet's last address.
//
// Store: one directory per network, `<dataDir>/<network>/`, holding
//   - one file per allocated address, named by the address, containing "<containerID>\n<ifname>";
//   - `last_reserved_ip.<set index>`: the cursor; the next allocation starts after it, so freed
//     addresses are reused only after the rest of the range has been tried (as host-local does);
//   - `lock`: held (O_EXCL create, with the holder's pid) around every read-modify-write.
//
// The address arithmetic and the choice of the next address are pure functions (exported for the
// unit tests); only IpamStore touches the filesystem.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { GCAttachment, IpamConfig, IpamRange } from './spec.js';
import { CniError, ErrorCode } from './spec.js';

// ---------------------------------------------------------------- addresses

export type IpFamily = 4 | 6;

export interface IpAddr {
  family: IpFamily;
  value: bigint;
}

const BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255 || (p.length > 1 && p.startsWith('0'))) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (s.includes('%')) return undefined;
  let head = s;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    // an embedded dotted quad stands for the last two groups
    const v4 = parseV4(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    head = `${s.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const dbl = head.split('::');
  if (dbl.length > 2) return undefined;
  const toGroups = (x: string): string[] | undefined => (x === '' ? [] : x.split(':'));
  const left = toGroups(dbl[0]!);
  const right = dbl.length === 2 ? toGroups(dbl[1]!) : [];
  if (!left || !right) return undefined;
  let groups: string[];
  if (dbl.length === 2) {
    const fill = 8 - left.length - right.length;
    if (fill < 1) return undefined;
    groups = [...left, ...Array<string>(fill).fill('0'), ...right];
  } else {
    groups = left;
  }
  if (groups.length !== 8) return undefined;
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  return v;
}

/** Parse an IPv4 or IPv6 address (no prefix). */
export function parseIp(s: string): IpAddr {
  const t = s.trim();
  const v = t.includes(':') ? parseV6(t) : parseV4(t);
  if (v === undefined) throw new Error(`invalid IP address ${JSON.stringify(s)}`);
  return { family: t.includes(':') ? 6 : 4, value: v };
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed). */
export function formatIp(a: IpAddr): string {
  if (a.family === 4) {
    const v = a.value;
    return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
  }
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((a.value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Re-format an address in canonical text. */
export function canonicalIp(s: string): string {
  return formatIp(parseIp(s));
}

export interface Cidr {
  family: IpFamily;
  /** The network address (host bits cleared). */
  network: bigint;
  prefix: number;
}

export function parseCidr(s: string): Cidr {
  const i = s.indexOf('/');
  if (i < 0) throw new Error(`invalid CIDR ${JSON.stringify(s)}: no prefix length`);
  const a = parseIp(s.slice(0, i));
  const p = s.slice(i + 1);
  const prefix = Number(p);
  if (!/^\d{1,3}$/.test(p) || prefix > BITS[a.family]) throw new Error(`invalid CIDR ${JSON.stringify(s)}: bad prefix length`);
  return { family: a.family, network: a.value & maskOf(a.family, prefix), prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.network })}/${c.prefix}`;
}

function maskOf(family: IpFamily, prefix: number): bigint {
  const bits = BigInt(BITS[family]);
  const all = (1n << bits) - 1n;
  return (all >> BigInt(BITS[family] - prefix)) << BigInt(BITS[family] - prefix) & all;
}

export function lastAddr(c: Cidr): bigint {
  return c.network | (((1n << BigInt(BITS[c.family])) - 1n) ^ maskOf(c.family, c.prefix));
}

export function cidrContains(c: Cidr, a: IpAddr): boolean {
  return a.family === c.family && (a.value & maskOf(c.family, c.prefix)) === c.network;
}

// ---------------------------------------------------------------- ranges

/** A range with defaults filled in and everything parsed. */
export interface ResolvedRange {
  subnet: Cidr;
  start: bigint;
  end: bigint;
  gateway: bigint;
}

export function resolveRange(r: IpamRange): ResolvedRange {
  if (!r || typeof r.subnet !== 'string') throw new Error('range has no subnet');
  const subnet = parseCidr(r.subnet);
  const fam = subnet.family;
  const first = subnet.network + 1n;
  const last = lastAddr(subnet) - 1n;
  if (last < first) throw new Error(`subnet ${r.subnet} is too small to allocate from`);
  const inSubnet = (name: string, s: string): bigint => {
    const a = parseIp(s);
    if (!cidrContains(subnet, a)) throw new Error(`${name} ${s} is not in subnet ${r.subnet}`);
    return a.value;
  };
  const start = r.rangeStart ? inSubnet('rangeStart', r.rangeStart) : first;
  const end = r.rangeEnd ? inSubnet('rangeEnd', r.rangeEnd) : last;
  if (start > end) throw new Error(`rangeStart ${r.rangeStart} is after rangeEnd ${r.rangeEnd ?? formatIp({ family: fam, value: last })}`);
  const gateway = r.gateway ? inSubnet('gateway', r.gateway) : first;
  return { subnet, start, end, gateway };
}

/** Validate and resolve the ranges of an IPAM config: every set non-empty, one family per set, no overlaps. */
export function resolveRangeSets(cfg: IpamConfig): ResolvedRange[][] {
  if (!cfg || !Array.isArray(cfg.ranges) || cfg.ranges.length === 0) {
    throw new CniError(ErrorCode.InvalidConfig, 'ipam.ranges: at least one range set is required');
  }
  const all: ResolvedRange[] = [];
  const sets = cfg.ranges.map((set, i) => {
    if (!Array.isArray(set) || set.length === 0) throw new CniError(ErrorCode.InvalidConfig, `ipam.ranges[${i}]: a range set is a non-empty list of ranges`);
    return set.map((r, j) => {
      let rr: ResolvedRange;
      try {
        rr = resolveRange(r);
      } catch (e) {
        throw new CniError(ErrorCode.InvalidConfig, `ipam.ranges[${i}][${j}]: ${(e as Error).message}`);
      }
      if (rr.subnet.family !== resolveRangeFamily(set[0]!)) {
        throw new CniError(ErrorCode.InvalidConfig, `ipam.ranges[${i}]: all ranges of a set must be of one IP family`);
      }
      for (const o of all) {
        if (o.subnet.family === rr.subnet.family && rr.start <= o.end && o.start <= rr.end) {
          throw new CniError(ErrorCode.InvalidConfig, `ipam.ranges[${i}][${j}]: ${r.subnet} overlaps ${formatCidr(o.subnet)}`);
        }
      }
      all.push(rr);
      return rr;
    });
  });
  return sets;
}

function resolveRangeFamily(r: IpamRange): IpFamily {
  return parseCidr(r.subnet).family;
}

/** Which range of a set holds `a`, or -1. */
export function rangeIndexOf(set: readonly ResolvedRange[], a: IpAddr): number {
  return set.findIndex((r) => r.subnet.family === a.family && a.value >= r.start && a.value <= r.end);
}

/**
 * Pick the next free address of a range set, starting after `lastReserved` (when it is inside the
 * set) and wrapping around, host-local style. `isTaken` says whether an address (canonical text) is
 * allocated. Skips each range's gateway. Returns undefined when the set is full.
 *
 * Bounded: at most (takenCount + 2) steps per range, since that many consecutive addresses of a
 * range must include a free one if the range has one; so a /64 costs no more than a /24.
 */
export function nextFree(
  set: readonly ResolvedRange[],
  isTaken: (ip: string) => boolean,
  takenCount: number,
  lastReserved?: string,
): { ip: string; range: ResolvedRange } | undefined {
  if (set.length === 0) return undefined;
  const family = set[0]!.subnet.family;
  let ri = 0;
  let cur: bigint | undefined;
  if (lastReserved) {
    let a: IpAddr | undefined;
    try {
      a = parseIp(lastReserved);
    } catch {
      a = undefined;
    }
    if (a) {
      const i = rangeIndexOf(set, a);
      if (i >= 0) {
        ri = i;
        cur = a.value;
      }
    }
  }
  // Visit ranges ri, ri+1, …, wrapping, then the start of range ri again (the part before the cursor).
  for (let pass = 0; pass <= set.length; pass++) {
    const r = set[(ri + pass) % set.length]!;
    let from: bigint;
    let to = r.end;
    if (pass === 0) {
      from = cur !== undefined ? cur + 1n : r.start;
    } else if (pass === set.length) {
      if (cur === undefined) break;
      from = r.start;
      to = cur; // includes the cursor itself, which may have been freed
    } else {
      from = r.start;
    }
    if (from > to) continue;
    const span = to - from + 1n;
    const bound = BigInt(takenCount) + 2n;
    const steps = span < bound ? span : bound;
    for (let k = 0n; k < steps; k++) {
      const v = from + k;
      if (v === r.gateway) continue;
      const ip = formatIp({ family, value: v });
      if (!isTaken(ip)) return { ip, range: r };
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- store

export interface Allocation {
  /** Canonical address text (no prefix). */
  ip: string;
  containerID: string;
  ifname: string;
}

export interface AllocatedIP {
  /** "addr/prefix" of the range's subnet. */
  address: string;
  gateway: string;
  family: IpFamily;
}

const LOCK_TIMEOUT_MS = 10_000;

/** Per store directory: the tail of this process's queue of lock holders. */
const localQueues = new Map<string, Promise<void>>();

/** Per store directory: file name → the allocation it held when this process last read or wrote it. */
const contentCache = new Map<string, Map<string, Allocation>>();

/** The on-disk store of one network. */
export class IpamStore {
  constructor(readonly dir: string) {}

  private file(ip: string): string {
    return path.join(this.dir, ip);
  }

  /**
   * Run fn holding the network's lock file (created O_EXCL; a lock whose pid is gone is broken).
   * Callers in this process queue in memory first: a long-lived runtime that runs the plugin
   * in-process (podnet's agent) starts many pods at once, and polling the lock file every 10 ms
   * from each of them costs more than the allocations themselves.
   */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const prev = localQueues.get(this.dir) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => { release = r; });
    const tail = prev.then(() => mine);
    localQueues.set(this.dir, tail);
    await prev;
    try {
      return await this.withFileLock(fn);
    } finally {
      release();
      if (localQueues.get(this.dir) === tail) localQueues.delete(this.dir);
    }
  }

  private async withFileLock<T>(fn: () => Promise<T>): Promise<T> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o755 });
    const lock = path.join(this.dir, 'lock');
    const deadline = Date.now() + LOCK_TIMEOUT_MS;
    for (;;) {
      try {
        const h = await fs.open(lock, 'wx', 0o644);
        await h.writeFile(String(process.pid));
        await h.close();
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const holder = Number((await fs.readFile(lock, 'utf8').catch(() => '')).trim());
        const age = Date.now() - ((await fs.stat(lock).catch(() => undefined))?.mtimeMs ?? Date.now());
        // a dead holder, or a holder that died between creating the file and writing its pid
        if ((holder > 0 && !pidAlive(holder)) || (!(holder > 0) && age > LOCK_TIMEOUT_MS)) {
          await fs.unlink(lock).catch(() => undefined);
          continue;
        }
        if (Date.now() > deadline) {
          throw new CniError(ErrorCode.TryAgainLater, `IPAM store ${this.dir} is locked by pid ${holder || '?'}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    try {
      return await fn();
    } finally {
      await fs.unlink(lock).catch(() => undefined);
    }
  }

  /**
   * All allocations (call under the lock for a consistent view). The directory is listed every
   * time; a file's content is read only the first time this process sees its name (a cache per
   * store, kept up to date by reserve/release here): a node's runtime runs the plugin in-process,
   * and re-reading every allocation on each ADD made a burst of pod starts O(pods²). A file
   * another process released and re-created under the same name in between would show stale
   * content, which is why callers that act on an entry's owner re-read it (`confirm`).
   */
  async list(): Promise<Allocation[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') { contentCache.delete(this.dir); return []; }
      throw e;
    }
    const known = contentCache.get(this.dir) ?? new Map<string, Allocation>();
    const seen = new Map<string, Allocation>();
    const out: Allocation[] = [];
    for (const n of names) {
      let a = known.get(n);
      if (!a) {
        let ip: string;
        try {
          ip = canonicalIp(n);
        } catch {
          continue; // lock, cursors, anything else
        }
        a = await this.read(n, ip);
        if (!a) continue;
      }
      seen.set(n, a);
      out.push(a);
    }
    contentCache.set(this.dir, seen);
    return out;
  }

  private async read(name: string, ip: string): Promise<Allocation | undefined> {
    const text = await fs.readFile(this.file(name), 'utf8').catch(() => undefined);
    if (text === undefined) return undefined;
    const [containerID = '', ifname = ''] = text.split(/\r?\n/);
    return { ip, containerID: containerID.trim(), ifname: ifname.trim() };
  }

  /** The entries whose files still hold the same owner, read from disk (see `list`). */
  async confirm(entries: readonly Allocation[]): Promise<Allocation[]> {
    const out: Allocation[] = [];
    for (const a of entries) {
      const now = await this.read(a.ip, a.ip);
      if (now) contentCache.get(this.dir)?.set(a.ip, now);
      if (now && now.containerID === a.containerID && now.ifname === a.ifname) out.push(a);
    }
    return out;
  }

  /** Reserve an address; false when it is already taken. */
  async reserve(ip: string, containerID: string, ifname: string): Promise<boolean> {
    try {
      await fs.writeFile(this.file(ip), `${containerID}\n${ifname}`, { flag: 'wx', mode: 0o644 });
      contentCache.get(this.dir)?.set(ip, { ip, containerID, ifname });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  }

  async release(ip: string): Promise<void> {
    contentCache.get(this.dir)?.delete(ip);
    await fs.unlink(this.file(ip)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  async lastReserved(set: number): Promise<string | undefined> {
    const t = await fs.readFile(path.join(this.dir, `last_reserved_ip.${set}`), 'utf8').catch(() => undefined);
    return t?.trim() || undefined;
  }

  async setLastReserved(set: number, ip: string): Promise<void> {
    await fs.writeFile(path.join(this.dir, `last_reserved_ip.${set}`), ip);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The IPAM of one network: allocate / release / GC over an IpamStore. */
export class HostLocalIpam {
  readonly sets: ResolvedRange[][];
  readonly store: IpamStore;

  /** @param storeDir the directory holding all networks' stores (a subdirectory per network). */
  constructor(cfg: IpamConfig, network: string, storeDir: string) {
    this.sets = resolveRangeSets(cfg);
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(network)) throw new CniError(ErrorCode.InvalidConfig, `invalid network name ${JSON.stringify(network)}`);
    this.store = new IpamStore(path.join(cfg.dataDir ?? storeDir, network));
  }

  private toAllocated(ip: string, r: ResolvedRange): AllocatedIP {
    return {
      address: `${ip}/${r.subnet.prefix}`,
      gateway: formatIp({ family: r.subnet.family, value: r.gateway }),
      family: r.subnet.family,
    };
  }

  /** The range of some set that holds ip. */
  private locate(ip: string): { set: number; range: ResolvedRange } | undefined {
    const a = parseIp(ip);
    for (let s = 0; s < this.sets.length; s++) {
      const i = rangeIndexOf(this.sets[s]!, a);
      if (i >= 0) return { set: s, range: this.sets[s]![i]! };
    }
    return undefined;
  }

  /**
   * One address per range set for (containerID, ifname). Idempotent: addresses this attachment
   * already holds are returned again. All-or-nothing: a set with no free address releases what
   * this call reserved and fails with NoAddressesAvailable.
   */
  async allocate(containerID: string, ifname: string): Promise<AllocatedIP[]> {
    return this.store.withLock(async () => {
      const existing = await this.store.list();
      const taken = new Set(existing.map((a) => a.ip));
      const out: AllocatedIP[] = [];
      const reservedNow: string[] = [];
      const cursorsBefore = new Map<number, string | undefined>();
      try {
        for (let s = 0; s < this.sets.length; s++) {
          const set = this.sets[s]!;
          const [mine] = await this.store.confirm(existing.filter((a) => a.containerID === containerID && a.ifname === ifname && this.locate(a.ip)?.set === s).slice(0, 1));
          if (mine) {
            out.push(this.toAllocated(mine.ip, this.locate(mine.ip)!.range));
            continue;
          }
          const cursor = await this.store.lastReserved(s);
          cursorsBefore.set(s, cursor);
          let got: AllocatedIP | undefined;
          // A file may appear between list() and reserve() only if another process ignored the
          // lock; retry a few times rather than trust the snapshot blindly.
          for (let attempt = 0; attempt < 8 && !got; attempt++) {
            const next = nextFree(set, (ip) => taken.has(ip), taken.size, cursor);
            if (!next) break;
            if (await this.store.reserve(next.ip, containerID, ifname)) {
              reservedNow.push(next.ip);
              await this.store.setLastReserved(s, next.ip);
              got = this.toAllocated(next.ip, next.range);
            }
            taken.add(next.ip);
          }
          if (!got) {
            const desc = set.map((r) => formatCidr(r.subnet)).join(', ');
            throw new CniError(ErrorCode.NoAddressesAvailable, `no IP addresses available in range set ${desc}`);
          }
          out.push(got);
        }
      } catch (e) {
        for (const ip of reservedNow) await this.store.release(ip);
        for (const [s, c] of cursorsBefore) if (c !== undefined) await this.store.setLastReserved(s, c);
        throw e;
      }
      return out;
    });
  }

  /** Release every address held by (containerID, ifname). Returns the released addresses. */
  async release(containerID: string, ifname: string): Promise<string[]> {
    return this.store.withLock(async () => {
      const mine = await this.store.confirm((await this.store.list()).filter((a) => a.containerID === containerID && a.ifname === ifname));
      for (const a of mine) await this.store.release(a.ip);
      return mine.map((a) => a.ip);
    });
  }

  /** The addresses held by (containerID, ifname). */
  async lookup(containerID: string, ifname: string): Promise<AllocatedIP[]> {
    const mine = await this.store.confirm((await this.store.list()).filter((a) => a.containerID === containerID && a.ifname === ifname));
    const out: AllocatedIP[] = [];
    for (const a of mine) {
      const l = this.locate(a.ip);
      if (l) out.push(this.toAllocated(a.ip, l.range));
    }
    return out;
  }

  async allocations(): Promise<Allocation[]> {
    return this.store.list();
  }

  /** Release every allocation whose (containerID, ifname) is not in `valid`. Returns the released ones. */
  async gc(valid: readonly GCAttachment[]): Promise<Allocation[]> {
    const keep = new Set(valid.map((v) => `${v.containerID}\u0000${v.ifname}`));
    return this.store.withLock(async () => {
      const stale = await this.store.confirm((await this.store.list()).filter((a) => !keep.has(`${a.containerID}\u0000${a.ifname}`)));
      for (const a of stale) await this.store.release(a.ip);
      return stale;
    });
  }

  /** Whether each range set still has a free address (for STATUS). */
  async hasFree(): Promise<boolean[]> {
    const existing = await this.store.list();
    const taken = new Set(existing.map((a) => a.ip));
    return this.sets.map((set) => nextFree(set, (ip) => taken.has(ip), taken.size) !== undefined);
  }

  /** "gateway/prefix" of the first range of each set: the addresses the node bridge carries. */
  gatewayCidrs(): string[] {
    return this.sets.map((set) => {
      const r = set[0]!;
      return `${formatIp({ family: r.subnet.family, value: r.gateway })}/${r.subnet.prefix}`;
    });
  }
}
