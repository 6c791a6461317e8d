// The proxier: holds the stripped Services and EndpointSlices, remembers which Services changed
// since the last sync, and turns them into one nftables transaction per sync — partial when it
// can, full at start, after any error, and every `syncPeriodMs`. It does no API I/O (index.ts
// feeds it from informers), so tests drive it with records and a FakeNft.

import { isNftNotFound, type NftBackend, type NftNames } from '../net/nft.js';
import { staleUdpFlows } from './conntrack.js';
import type { ServiceRecord, SliceRecord } from './model.js';
import { computeBase, computeService, type BaseRules, type ProxyConfig, type ServicePortInfo, type ServiceRules } from './rules.js';
import { planFull, planPartial, planStaleCleanup, type Installed } from './sync.js';

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

  constructor(opts: ProxierOptions) {
    this.opts = opts;
    this.config = opts.config;
    this.base = computeBase(opts.config);
    this.now = opts.now ?? Date.now;
  }

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
    const sl = [...(this.slicesOf.get(key) ?? [])].map((k) => this.slices.get(k)!).filter(Boolean);
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
      let plan;
      let ran = false;
      if (full) {
        const all = new Map<string, ServiceRules>();
        for (const key of this.services.keys()) { const r = this.rulesFor(key); if (r) all.set(key, r); }
        let existing: NftNames | undefined;
        try { existing = await backend.list(); } catch (e) { if (!isNftNotFound(e)) throw e; }
        plan = planFull(this.table, this.base, all, existing, now, this.installed);
        if (!hadInstalled && existing && plan.tx.size > 0) {
          try {
            await backend.run(plan.tx);
          } catch (e) {
            // A table this process cannot adopt (left by a build whose maps had other types):
            // replace it whole in one transaction. Established flows keep their conntrack NAT;
            // only affinity entries are lost.
            this.opts.log?.(`adopting the existing table failed (${(e as Error).message.split('\n')[0]}); replacing it atomically`);
            plan = planFull(this.table, this.base, all, undefined, now, undefined);
            const replace = backend.newTransaction();
            replace.destroy({ kind: 'table' });
            replace.ops.push(...plan.tx.ops);
            plan = { ...plan, tx: replace };
            await backend.run(replace);
          }
          ran = true;
        }
      } else {
        const changes = new Map<string, ServiceRules | undefined>();
        for (const key of dirty) changes.set(key, this.rulesFor(key));
        plan = planPartial(this.table, this.installed!, changes, now);
      }
      if (!ran && plan.tx.size > 0) await backend.run(plan.tx);
      this.installed = plan.installed;
      this.needFull = false;
      if (full) this.lastFull = now;
      if (hadInstalled) await this.cleanConntrack(before, plan.installed, full ? undefined : dirty);
      return { kind: full ? 'full' : 'partial', services: full ? plan.changedServices : [...dirty].sort(), ops: plan.tx.size, staleDeleted };
    } catch (e) {
      for (const k of dirty) this.dirty.add(k);
      this.needFull = true;
      // A partial plan may have updated the installed state before its transaction failed; only
      // the stale-chain times are still read from it, by the full sync that comes next.
      throw e;
    }
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

  /** Removes the table (`--cleanup`). */
  async cleanup(): Promise<void> {
    const tx = this.opts.backend.newTransaction();
    tx.destroy({ kind: 'table' });
    await this.opts.backend.run(tx);
    this.installed = undefined;
    this.needFull = true;
  }
}
