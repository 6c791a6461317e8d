// ClusterIP allocation over the cluster's ServiceCIDRs, as upstream's MetaAllocator with the
// MultiCIDRServiceAllocator design: the networking.k8s.io/v1 IPAddress object named after the
// address *is* the allocation record. Creating it is the reservation (its name is unique in
// the store, so two Services can never get the same address); deleting it is the release.
//
// In memory there is one pure IPRangeAllocator per ServiceCIDR range, an index of which
// addresses the store holds (fed by our own writes and by the IPAddress watch), used only to
// pick candidates quickly. The store stays the arbiter: a stale index costs a retry, never a
// duplicate.

import { StatusError } from '../../api/errors.js';
import { type KObject, isObject } from '../../api/meta.js';
import { AllocatorError, IPRangeAllocator } from '../../net/allocator.js';
import { type IPFamily, canonicalIP, formatIP, ipFamilyOf, mustParseCIDR, parseIP } from '../../net/cidr.js';

export const LABEL_IP_FAMILY = 'ipaddress.kubernetes.io/ip-family';
export const LABEL_MANAGED_BY = 'ipaddress.kubernetes.io/managed-by';
export const IPALLOCATOR_MANAGER = 'ipallocator.k8s.io';
/** IPv6 Service CIDRs must be at least this long a prefix (upstream's allocator limit). */
export const MIN_IPV6_PREFIX = 64;

export interface ServiceRef { namespace: string; name: string }

export const refKey = (r: ServiceRef): string => `${r.namespace}/${r.name}`;

/** The IPAddress object that records `ip` as allocated to a Service. */
export function ipAddressFor(ip: string, family: IPFamily, svc: ServiceRef): KObject {
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'IPAddress',
    metadata: { name: ip, labels: { [LABEL_IP_FAMILY]: family, [LABEL_MANAGED_BY]: IPALLOCATOR_MANAGER } },
    spec: { parentRef: { resource: 'services', namespace: svc.namespace, name: svc.name } },
  };
}

/** The Service an IPAddress names as its parent, if it is one. */
export function parentService(o: KObject): ServiceRef | undefined {
  const ref = isObject(o.spec) && isObject(o.spec.parentRef) ? o.spec.parentRef : undefined;
  if (!ref || (ref.group ?? '') !== '' || ref.resource !== 'services') return undefined;
  return { namespace: String(ref.namespace ?? ''), name: String(ref.name ?? '') };
}

export const isManagedIPAddress = (o: KObject): boolean => o.metadata.labels?.[LABEL_MANAGED_BY] === IPALLOCATOR_MANAGER;

/** The narrow view of the IPAddress storage the allocator writes through. */
export interface IPAddressWriter {
  /** Creates the object; throws a 409 StatusError when the name is taken. */
  create(obj: KObject): Promise<void>;
  get(name: string): Promise<KObject | undefined>;
  /** Deletes the object if it still has this uid; NotFound and conflicts are not errors. */
  delete(name: string, uid?: string): Promise<void>;
}

interface Range {
  cidr: string;
  alloc: IPRangeAllocator;
  /** ServiceCIDR objects naming this range. */
  owners: Set<string>;
  /** Allocatable: at least one owner is ready and not being deleted. */
  ready: boolean;
  /** Owned by the default ServiceCIDR (tried first). */
  isDefault: boolean;
}

/** Whether a ServiceCIDR may hand out addresses: not being deleted, and not marked not-Ready. */
export function serviceCIDRReady(o: KObject): boolean {
  if (o.metadata.deletionTimestamp) return false;
  const conds = isObject(o.status) && Array.isArray(o.status.conditions) ? o.status.conditions : [];
  for (const c of conds) if (isObject(c) && c.type === 'Ready') return c.status === 'True';
  return true; // no condition yet: ready, as upstream assumes when no controller has set one
}

export const cidrsOfServiceCIDR = (o: KObject): string[] =>
  isObject(o.spec) && Array.isArray(o.spec.cidrs) ? o.spec.cidrs.map(String) : [];

export class ClusterIPAllocator {
  private ranges = new Map<string, Range>();
  /** IPAddress names the store holds, as far as we know; value: managed by the allocator. */
  private readonly known = new Map<string, boolean>();
  /** Addresses with a reservation whose Service write has not finished. */
  private readonly inflight = new Map<string, number>();
  /** Addresses reserved or released since each open repair epoch began. */
  private readonly epochs = new Set<Set<string>>();
  /** Records we are deleting (so their watch events are not taken for someone else's). */
  private readonly releasing = new Set<string>();

  constructor(private readonly store: IPAddressWriter, readonly families: IPFamily[],
              private readonly defaultServiceCIDR = 'kubernetes', private readonly log: (m: string) => void = () => {}) {}

  // ---- configuration and index ------------------------------------------------------------

  /** Rebuilds the set of ranges from the ServiceCIDR objects, keeping what is indexed. */
  setServiceCIDRs(objs: KObject[]): void {
    const next = new Map<string, Range>();
    for (const o of objs) {
      for (const text of cidrsOfServiceCIDR(o)) {
        let c;
        try { c = mustParseCIDR(text); } catch { continue; }
        if (!this.families.includes(c.family)) continue; // families this server is not configured for
        if (c.family === 'IPv6' && c.prefix < MIN_IPV6_PREFIX) {
          this.log(`ServiceCIDR ${o.metadata.name}: ${text} is shorter than /${MIN_IPV6_PREFIX}; no addresses are allocated from it`);
          continue;
        }
        let r = next.get(text);
        if (!r) {
          const old = this.ranges.get(text);
          r = old ? { ...old, owners: new Set(), ready: false, isDefault: false } : this.newRange(text);
          next.set(text, r);
        }
        r.owners.add(o.metadata.name!);
        if (serviceCIDRReady(o)) r.ready = true;
        if (o.metadata.name === this.defaultServiceCIDR) r.isDefault = true;
      }
    }
    this.ranges = next;
  }

  private newRange(cidr: string): Range {
    const alloc = new IPRangeAllocator(cidr);
    for (const ip of this.known.keys()) alloc.mark(ip);
    return { cidr, alloc, owners: new Set(), ready: false, isDefault: false };
  }

  /** Records that the store holds (or no longer holds) the IPAddress `name`. */
  observe(name: string, present: boolean, managed = true): void {
    if (present) {
      this.known.set(name, managed);
      for (const r of this.containing(name)) r.alloc.mark(name);
    } else {
      this.known.delete(name);
      for (const r of this.containing(name)) r.alloc.release(name);
    }
  }

  /** Replaces the index with a full listing of IPAddress objects. */
  resetKnown(objs: KObject[]): void {
    this.known.clear();
    for (const r of this.ranges.values()) r.alloc.clear();
    for (const o of objs) this.observe(o.metadata.name!, true, isManagedIPAddress(o));
  }

  isKnown(name: string): boolean { return this.known.has(name); }
  knownNames(): string[] { return [...this.known.keys()]; }
  /** Whether we are deleting this record ourselves right now. */
  isReleasing(name: string): boolean { return this.releasing.has(name); }

  /** Managed IPAddress names indexed, for the ServiceCIDR deletion check. */
  *managedAddresses(): IterableIterator<string> {
    for (const [name, managed] of this.known) if (managed) yield name;
  }

  private containing(ip: string): Range[] {
    const a = parseIP(ip);
    if (!a) return [];
    return [...this.ranges.values()].filter((r) => r.alloc.contains(a));
  }

  /** The allocatable ranges of a family, in the order dynamic allocation tries them. */
  readyRanges(family: IPFamily): string[] {
    return this.ordered(family).map((r) => r.cidr);
  }

  private ordered(family: IPFamily): Range[] {
    return [...this.ranges.values()].filter((r) => r.ready && r.alloc.family === family)
      .sort((a, b) => Number(b.isDefault) - Number(a.isDefault) || a.alloc.cidr.prefix - b.alloc.cidr.prefix || a.cidr.localeCompare(b.cidr));
  }

  /** Free and used counts of a family's allocatable ranges (overlaps counted once per range). */
  stats(family: IPFamily): { used: number; free: bigint } {
    let used = 0;
    let free = 0n;
    for (const r of this.ordered(family)) { used += r.alloc.used; free += r.alloc.free; }
    return { used, free };
  }

  // ---- reservations --------------------------------------------------------------------------

  /** Opens a repair epoch: collects every address reserved or released until closed. */
  openEpoch(): Set<string> {
    const s = new Set<string>();
    this.epochs.add(s);
    return s;
  }

  closeEpoch(s: Set<string>): void { this.epochs.delete(s); }

  /** Addresses whose Service write is under way. */
  inflightAddresses(): string[] { return [...this.inflight.keys()]; }

  private touch(ip: string): void {
    for (const e of this.epochs) e.add(ip);
  }

  private hold(ip: string): void {
    this.inflight.set(ip, (this.inflight.get(ip) ?? 0) + 1);
    this.touch(ip);
  }

  /** The Service write that reserved `ip` has finished (either way). */
  settle(ip: string): void {
    const n = (this.inflight.get(ip) ?? 0) - 1;
    if (n > 0) this.inflight.set(ip, n); else this.inflight.delete(ip);
  }

  /**
   * Reserves a requested address for `svc`. Throws AllocatorError NotInRange or Allocated.
   * A dry run checks without writing. A successful reservation stays in flight until settle().
   */
  async allocate(ipText: string, svc: ServiceRef, dryRun: boolean): Promise<string> {
    const ip = canonicalIP(ipText);
    const family = ipFamilyOf(ip)!;
    if (!this.containing(ip).some((r) => r.ready)) {
      const valid = this.readyRanges(family);
      throw new AllocatorError('NotInRange',
        `the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${valid.length ? valid.join(', ') : `<none for ${family}>`}`);
    }
    if (dryRun) {
      if (this.known.has(ip)) throw new AllocatorError('Allocated', 'provided IP is already allocated');
      return ip;
    }
    await this.reserve(ip, family, svc, true);
    return ip;
  }

  /** Reserves a free address of `family` for `svc`, from the allocatable ranges. Throws Full. */
  async allocateNext(family: IPFamily, svc: ServiceRef, dryRun: boolean): Promise<string> {
    for (const r of this.ordered(family)) {
      for (;;) {
        const cand = r.alloc.peekNext();
        if (!cand) break;
        const ip = formatIP(cand);
        if (dryRun) return ip;
        if (await this.reserve(ip, family, svc, false)) return ip;
        // Someone else's already (the index was behind): it is indexed now; try another.
      }
    }
    throw new AllocatorError('Full', 'range is full');
  }

  /**
   * Creates the IPAddress. Returns false when the name was taken (and `strict` is false);
   * throws Allocated when it was taken and `strict`, or the store's error otherwise.
   */
  private async reserve(ip: string, family: IPFamily, svc: ServiceRef, strict: boolean): Promise<boolean> {
    // Index first, so a concurrent request cannot pick the same candidate meanwhile.
    const fresh = !this.known.has(ip);
    this.observe(ip, true);
    this.hold(ip);
    try {
      await this.store.create(ipAddressFor(ip, family, svc));
      return true;
    } catch (e) {
      this.settle(ip);
      if (e instanceof StatusError && e.code === 409) {
        if (strict) throw new AllocatorError('Allocated', 'provided IP is already allocated');
        return false;
      }
      if (fresh) this.observe(ip, false);
      throw e;
    }
  }

  /**
   * Releases `ip`: deletes its IPAddress when it belongs to `svc` (or to anyone, when no
   * Service is named). Failures are logged: the repair pass removes what is left over.
   */
  async release(ipText: string, svc?: ServiceRef): Promise<void> {
    let ip: string;
    try { ip = canonicalIP(ipText); } catch { return; }
    this.touch(ip);
    try {
      const cur = await this.store.get(ip);
      if (!cur) { this.observe(ip, false); return; }
      const parent = parentService(cur);
      if (svc && (!parent || refKey(parent) !== refKey(svc))) return; // not ours to free
      this.releasing.add(ip);
      await this.store.delete(ip, cur.metadata.uid);
      this.observe(ip, false);
    } catch (e) {
      this.log(`releasing ClusterIP ${ip}: ${(e as Error).message}`);
    } finally {
      this.releasing.delete(ip);
    }
  }
}
