// The proxier: holds the stripped Services and EndpointSlices, remembers which Services changed
// since the last sync, and turns them into one nftables transaction per sync — partial when it
// can, full at start, after any error, and every `syncPeriodMs`. A full sync with the nfnetlink
// addon is two: the structure through nft, then every map element in one netlink batch (why
// that is safe: sync.ts); without it, or after netlink failed once, one nft transaction. It
// does no API I/O (index.ts feeds it from informers), so tests drive it with records and a FakeNft.

import { isNftNotFound, NftSession, RealNft, type NftBackend, type NftNames } from '../net/nft.js';
import { NfnetlinkSocket, nfnetlinkUnavailable, type NlBatch } from '../net/nftnl.js';
import { staleUdpFlows } from './conntrack.js';
import type { ServiceRecord, SliceRecord } from './model.js';
import { computeBase, computeService, type BaseRules, type ProxyConfig, type ServicePortInfo, type ServiceRules } from './rules.js';
import { elementBatch, planFull, planPartial, planStaleCleanup, type FullPlan, type Installed, type Plan } from './sync.js';

export interface ProxierOptions {
  config: ProxyConfig;
  backend: NftBackend;
  /** Runs `conntrack ARGS…` (UDP cleanup); omitted = no cleanup. */
  conntrack?: (args: string[]) => Promise<void>;
  /** A full sync at least this often (ms). Default 1 h. */
  syncPeriodMs?: number;
  /** Stale chains are deleted this long after they were flushed (ms). Default 1000. */
  staleChainAgeMs?: number;
  now?: () => number;
  log?: (msg: string) => void;
  /**
   * How full syncs load map elements: through this netlink socket (structure through nft, then
   * every element in one netlink batch: see sync.ts), or false for one nft transaction. Default:
   * a socket in the backend's namespace when the backend is the real nft and the nfnetlink addon
   * is built, unless PODNET_PROXY_NETLINK=0.
   */
  netlink?: NfnetlinkSocket | false;
}

/** Where the last full sync spent its time (ms), for logs and the benchmark. */
export interface FullSyncTimings {
  /** rules for every Service, listing the table, planning */
  computeMs: number;
  listMs: number;
  planMs: number;
  /** the nft transaction: the whole table, or its structure when elements went by netlink (then encoding runs meanwhile) */
  nftMs: number;
  /** encoding the element batch, while nft applies the structure (0 without netlink) */
  encodeMs: number;
  netlinkMs: number;
  elements: number;
  path: 'netlink' | 'nft';
}

export interface SyncResult {
  kind: 'full' | 'partial' | 'none';
  /** Service keys whose rules were (re)computed. */
  services: string[];
  /** Number of nft operations sent. */
  ops: number;
  staleDeleted: number;
}

export class Proxier {
  private config: ProxyConfig;
  private base: BaseRules;
  private readonly services = new Map<string, ServiceRecord>();
  private readonly slices = new Map<string, SliceRecord>();
  /** service key → slice keys */
  private readonly slicesOf = new Map<string, Set<string>>();
  private dirty = new Set<string>();
  private needFull = true;
  private lastFull = -Infinity;
  private installed: Installed | undefined;
  private readonly opts: ProxierOptions;
  private readonly now: () => number;
  /** Set once both informers have synced: never program from a partial view after a restart. */
  ready = false;
  private netlink: NfnetlinkSocket | false;
  private lastFullTimings: FullSyncTimings | undefined;

  constructor(opts: ProxierOptions) {
    this.opts = opts;
    this.config = opts.config;
    this.base = computeBase(opts.config);
    this.now = opts.now ?? Date.now;
    this.netlink = opts.netlink ?? defaultNetlink(opts.backend, opts.log);
  }

  /** Where the last full sync spent its time. */
  get lastFullSyncTimings(): FullSyncTimings | undefined { return this.lastFullTimings; }

  /** Whether full syncs load elements through netlink (false once it failed: logged then). */
  get usesNetlink(): boolean { return this.netlink !== false; }

  get table(): string { return this.config.table; }

  // ---- changes (called from informer handlers: record and return) ----------------------------

  upsertService(svc: ServiceRecord): void {
    const key = `${svc.namespace}/${svc.name}`;
    this.services.set(key, svc);
    this.dirty.add(key);
  }

  deleteService(key: string): void {
    if (this.services.delete(key)) this.dirty.add(key);
  }

  upsertSlice(sl: SliceRecord): void {
    const key = `${sl.namespace}/${sl.name}`;
    const old = this.slices.get(key);
    if (old && old.serviceName !== sl.serviceName) this.deleteSlice(key);
    this.slices.set(key, sl);
    const svcKey = `${sl.namespace}/${sl.serviceName}`;
    let s = this.slicesOf.get(svcKey);
    if (!s) { s = new Set(); this.slicesOf.set(svcKey, s); }
    s.add(key);
    this.dirty.add(svcKey);
  }

  deleteSlice(key: string): void {
    const old = this.slices.get(key);
    if (!old) return;
    this.slices.delete(key);
    const svcKey = `${old.namespace}/${old.serviceName}`;
    const s = this.slicesOf.get(svcKey);
    s?.delete(key);
    if (s && s.size === 0) this.slicesOf.delete(svcKey);
    this.dirty.add(svcKey);
  }

  /** New node-level settings (e.g. the node's zone changed): the next sync is full. */
  setConfig(cfg: ProxyConfig): void {
    this.config = cfg;
    this.base = computeBase(cfg);
    this.needFull = true;
  }

  /** Forces the next sync to be full. */
  requestFullSync(): void { this.needFull = true; }

  hasPendingChanges(): boolean { return this.dirty.size > 0 || this.needFull; }

  /** Seconds until stale chains are due, or undefined when there are none. */
  staleDueInMs(): number | undefined {
    if (!this.installed || this.installed.stale.size === 0) return undefined;
    const oldest = Math.min(...this.installed.stale.values());
    return Math.max(0, oldest + (this.opts.staleChainAgeMs ?? 1000) - this.now());
  }

  /** The ports programmed for each Service at the last successful sync. */
  programmed(): Map<string, ServicePortInfo[]> {
    const out = new Map<string, ServicePortInfo[]>();
    for (const [k, r] of this.installed?.services ?? []) out.set(k, r.ports);
    return out;
  }

  /**
   * LoadBalancer Services with externalTrafficPolicy Local and a healthCheckNodePort → that port
   * and the number of this node's ready endpoints (distinct addresses), for the health check
   * servers (upstream's LocalReadyEndpoints).
   */
  healthCheckTargets(): Map<string, { port: number; localEndpoints: number }> {
    const out = new Map<string, { port: number; localEndpoints: number }>();
    for (const [key, svc] of this.services) {
      if (svc.type !== 'LoadBalancer' || !svc.externalTrafficLocal || !svc.healthCheckNodePort) continue;
      const local = new Set<string>();
      for (const sk of this.slicesOf.get(key) ?? []) {
        for (const ep of this.slices.get(sk)?.endpoints ?? []) if (ep.ready && ep.nodeName === this.config.nodeName) local.add(ep.ip);
      }
      out.set(key, { port: svc.healthCheckNodePort, localEndpoints: local.size });
    }
    return out;
  }

  private rulesFor(key: string): ServiceRules | undefined {
    const svc = this.services.get(key);
    if (!svc) return undefined;
    const sl: SliceRecord[] = [];
    for (const k of this.slicesOf.get(key) ?? []) { const x = this.slices.get(k); if (x) sl.push(x); }
    return computeService(svc, sl, this.config);
  }

  // ---- sync -----------------------------------------------------------------------------------

  /** One sync: one transaction (plus one deleting stale chains, when some are due). Throws on failure; the next sync is then full. */
  async sync(): Promise<SyncResult> {
    if (!this.ready) return { kind: 'none', services: [], ops: 0, staleDeleted: 0 };
    const now = this.now();
    const backend = this.opts.backend;
    let staleDeleted = 0;

    if (this.installed && !this.needFull) {
      const cleanup = planStaleCleanup(this.table, this.installed, now, this.opts.staleChainAgeMs ?? 1000);
      if (cleanup) {
        try {
          await backend.run(cleanup.tx);
          this.installed = cleanup.installed;
          staleDeleted = cleanup.tx.size;
        } catch (e) {
          // They will be listed and flushed again by the full sync.
          this.needFull = true;
          this.opts.log?.(`deleting stale chains failed, doing a full sync: ${(e as Error).message}`);
        }
      }
    }

    const full = this.needFull || !this.installed || now - this.lastFull >= (this.opts.syncPeriodMs ?? 3_600_000);
    const dirty = this.dirty;
    this.dirty = new Set();
    // What was programmed for the Services this sync may change, for conntrack cleanup (a partial
    // plan updates the installed state in place).
    const before = new Map<string, ServicePortInfo[]>();
    for (const key of full ? this.installed?.services.keys() ?? [] : dirty) {
      const ports = this.installed?.services.get(key)?.ports;
      if (ports) before.set(key, ports);
    }
    const hadInstalled = this.installed !== undefined;
    try {
      let plan: Plan;
      let ran = false;
      let ops = 0;
      if (full) {
        const t0 = performance.now();
        // nft lists the table in its own process while the rules are computed here.
        if (backend instanceof NftSession) void backend.warmUp();
        const listing = this.listTable();
        listing.catch(() => undefined); // awaited below; not unhandled meanwhile
        await new Promise<void>((resolve) => setImmediate(resolve)); // let `nft list` start first
        const all = new Map<string, ServiceRules>();
        for (const key of this.services.keys()) { const r = this.rulesFor(key); if (r) all.set(key, r); }
        const t1 = performance.now();
        const existing: NftNames | undefined = await listing;
        const t2 = performance.now();
        const full_ = planFull(this.table, this.base, all, existing, now, this.installed);
        const t3 = performance.now();
        const timings: FullSyncTimings = { computeMs: t1 - t0, listMs: t2 - t1, planMs: t3 - t2, nftMs: 0, encodeMs: 0, netlinkMs: 0, elements: full_.elements.elements, path: 'nft' };
        plan = await this.applyFull(full_, !hadInstalled && existing !== undefined, all, now, timings);
        this.lastFullTimings = timings;
        ops = fullOps(full_);
        ran = true;
      } else {
        const changes = new Map<string, ServiceRules | undefined>();
        for (const key of dirty) changes.set(key, this.rulesFor(key));
        plan = planPartial(this.table, this.installed!, changes, now);
      }
      if (!ran) { ops = plan.tx.size; if (ops > 0) await backend.run(plan.tx); }
      this.installed = plan.installed;
      this.needFull = false;
      if (full) this.lastFull = now;
      if (hadInstalled) await this.cleanConntrack(before, plan.installed, full ? undefined : dirty);
      return { kind: full ? 'full' : 'partial', services: full ? plan.changedServices : [...dirty].sort(), ops, staleDeleted };
    } catch (e) {
      for (const k of dirty) this.dirty.add(k);
      this.needFull = true;
      // A partial plan may have updated the installed state before its transaction failed; only
      // the stale-chain times are still read from it, by the full sync that comes next.
      throw e;
    }
  }

  /**
   * The table's chains, sets and maps (undefined: no table). Over netlink when full syncs use it
   * (no elements are fetched), else through nft (which fetches every element first: seconds for
   * a big table); a netlink failure here only falls back to nft.
   */
  private async listTable(): Promise<NftNames | undefined> {
    if (this.netlink) {
      try {
        return await this.netlink.listNames('inet', this.table);
      } catch (e) {
        this.opts.log?.(`listing the table over netlink failed, asking nft: ${(e as Error).message}`);
      }
    }
    try {
      return await this.opts.backend.list();
    } catch (e) {
      if (isNftNotFound(e)) return undefined;
      throw e;
    }
  }

  /**
   * Applies a full plan: structure through nft and elements through netlink when it can (two
   * kernel transactions, see sync.ts), else the whole plan as one nft transaction. A table this
   * process cannot adopt is replaced whole, through nft.
   */
  private async applyFull(plan: FullPlan, adopting: boolean, all: Map<string, ServiceRules>, now: number, timings: FullSyncTimings): Promise<Plan> {
    const backend = this.opts.backend;
    const replaceWhole = async (e: unknown): Promise<Plan> => {
      // A table this process cannot adopt (left by a build whose maps had other types):
      // replace it whole in one transaction. Established flows keep their conntrack NAT;
      // only affinity entries are lost.
      this.opts.log?.(`adopting the existing table failed (${(e as Error).message.split('\n')[0]}); replacing it atomically`);
      const fresh = planFull(this.table, this.base, all, undefined, now, undefined);
      const replace = backend.newTransaction();
      replace.destroy({ kind: 'table' });
      replace.ops.push(...fresh.tx.ops);
      const t = performance.now();
      await backend.run(replace);
      timings.nftMs += performance.now() - t;
      timings.path = 'nft';
      return { ...fresh, tx: replace };
    };
    const netlink = this.netlink;
    if (netlink) {
      const t = performance.now();
      // nft parses the structure in its own process while the element batch is encoded here.
      const structure = backend.run(plan.structure);
      structure.catch(() => undefined); // awaited below
      await new Promise<void>((resolve) => setImmediate(resolve));
      let batch: NlBatch | undefined;
      let encodeError: unknown;
      const te = performance.now();
      try { batch = elementBatch(this.table, plan.elements); } catch (e) { encodeError = e; }
      timings.encodeMs = performance.now() - te;
      try {
        await structure;
      } catch (e) {
        timings.nftMs = performance.now() - t;
        if (adopting) return replaceWhole(e);
        throw e;
      }
      timings.nftMs = performance.now() - t;
      try {
        if (!batch) throw encodeError;
        const t1 = performance.now();
        await netlink.send(batch);
        timings.netlinkMs = performance.now() - t1;
        timings.path = 'netlink';
        return plan;
      } catch (e) {
        // The structure is in and harmless (see sync.ts); load everything through nft instead,
        // from now on.
        this.netlink = false;
        netlink.close();
        this.opts.log?.(`loading map elements over netlink failed, using nft from now on: ${(e as Error).message}`);
      }
    }
    const t = performance.now();
    try {
      if (plan.tx.size > 0) await backend.run(plan.tx);
    } catch (e) {
      timings.nftMs += performance.now() - t;
      if (adopting) return replaceWhole(e);
      throw e;
    }
    timings.nftMs += performance.now() - t;
    timings.path = 'nft';
    return plan;
  }

  private async cleanConntrack(before: Map<string, ServicePortInfo[]>, after: Installed, only: Set<string> | undefined): Promise<void> {
    const run = this.opts.conntrack;
    if (!run) return;
    const keys = only ?? new Set(before.keys());
    for (const key of keys) {
      const flows = staleUdpFlows(before.get(key) ?? [], after.services.get(key)?.ports ?? []);
      for (const args of flows) {
        try { await run(args); } catch (e) { this.opts.log?.(`conntrack cleanup for ${key}: ${(e as Error).message}`); }
      }
    }
  }

  /** Closes the netlink socket (the proxier stays usable: it reopens on the next full sync). */
  close(): void { if (this.netlink) this.netlink.close(); }

  /** Removes the table (`--cleanup`). */
  async cleanup(): Promise<void> {
    const tx = this.opts.backend.newTransaction();
    tx.destroy({ kind: 'table' });
    await this.opts.backend.run(tx);
    this.installed = undefined;
    this.needFull = true;
  }
}

/** "110000 map elements via netlink: rules 450 ms, …": for the proxy's log line of a full sync. */
export function describeFullSync(t: FullSyncTimings): string {
  const r = (v: number) => Math.round(v);
  return `${t.elements} map elements via ${t.path}: rules ${r(t.computeMs)} ms, list ${r(t.listMs)} ms, plan ${r(t.planMs)} ms, nft ${r(t.nftMs)} ms` +
    (t.path === 'netlink' ? ` (encoding ${r(t.encodeMs)} ms meanwhile), netlink batch ${r(t.netlinkMs)} ms` : '');
}

/** The number of nft operations a full plan stands for (without building its single transaction). */
const fullOps = (p: FullPlan) =>
  p.structure.size + p.elements.flushSets.length + p.elements.elements + p.elements.flushChains.length + p.elements.deleteSets.length;

let netlinkUnavailableLogged = false;

function defaultNetlink(backend: NftBackend, log: ((msg: string) => void) | undefined): NfnetlinkSocket | false {
  if (!(backend instanceof RealNft || backend instanceof NftSession)) return false;
  if (process.env.PODNET_PROXY_NETLINK === '0') return false;
  const why = nfnetlinkUnavailable();
  if (why) {
    if (!netlinkUnavailableLogged) log?.(`full syncs load map elements through nft (slower): ${why}`);
    netlinkUnavailableLogged = true;
    return false;
  }
  return new NfnetlinkSocket(backend.netns);
}
