// The netpol shell: informers on NetworkPolicies, Pods and Namespaces (stripped on arrival)
// only ask for a sync; a bounded-frequency runner syncs. The syncer finds what changed since the
// last sync: only pods → their elements are recomputed and written (incremental.ts), anything
// else, a periodic resync, or the first sync after an error → the whole table is computed and
// written (as an element diff when only elements differ). Small transactions go through a
// long-lived `nft -i` (NftSession, src/net/nft.ts), big ones through `nft -f`.

import type { KObject } from '../api/meta.js';
import { ApiClient, type GVR } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { NAMESPACES, PODS } from '../client/resources.js';
import { isNftNotFound, NftSession, RealNft, Transaction, type NftBackend, type NftNames } from '../net/nft.js';
import { BoundedFrequencyRunner } from '../proxy/runner.js';
import type { Snapshot } from './match.js';
import { stripNamespace, stripPod, stripPolicy, type NamespaceRecord, type PodRecord, type PolicyRecord } from './model.js';
import { NetpolState } from './incremental.js';
import { DEFAULT_TABLE, type DesiredRules } from './rules.js';
import { planDelta, planFull, planIncremental, planStaleCleanup } from './sync.js';

export { DEFAULT_TABLE } from './rules.js';
export const NETWORKPOLICIES: GVR = { group: 'networking.k8s.io', version: 'v1', resource: 'networkpolicies', namespaced: true };

export interface SyncResult {
  /** full: the whole table computed (and written in full, or as an element diff when only elements differ); incremental: only changed pods' elements computed and written. */
  kind: 'full' | 'incremental';
  ops: number;
  staleDeleted: number;
  /** Why a full computation was made. */
  why?: string;
}

/** More changed pods than this (e.g. after an informer relist) are cheaper computed in full. */
const INCREMENTAL_MAX_PODS = 64;

/** Holds what is installed and turns a snapshot into the next transaction(s) on a backend. */
export class NetpolSyncer {
  /** The desired table as installed (valid while !needFull). */
  private state: NetpolState | undefined;
  private stale = new Map<string, number>();
  private needFull = true;
  private lastFullAt = -Infinity;
  /** A full computation at least this often (ms), also when only pods change. */
  private readonly resyncMs: number;
  constructor(private readonly backend: NftBackend, private readonly nodeName: string, private readonly now: () => number = Date.now,
    opts: { resyncMs?: number } = {}) {
    this.resyncMs = opts.resyncMs ?? 30_000;
  }

  async sync(snap: Snapshot): Promise<SyncResult> {
    const table = this.backend.table;
    const cfg = { table, nodeName: this.nodeName };
    try {
      let kind: SyncResult['kind'] = 'incremental';
      let why: string | undefined;
      let tx: Transaction | undefined;
      let next: NetpolState | undefined;
      if (this.needFull || !this.state) why = this.state ? 'after an error' : 'start';
      else if (this.now() - this.lastFullAt >= this.resyncMs) why = 'periodic resync';
      else {
        const change = this.state.diff(snap);
        if (change.kind === 'none') tx = new Transaction('inet', table);
        else if (change.kind === 'full') why = change.why;
        else if (change.pods.length > INCREMENTAL_MAX_PODS) why = `${change.pods.length} pods changed`;
        else {
          const delta = this.state.applyPods(change.pods);
          if (delta) tx = planDelta(table, delta); else why = 'a group of selecting policies appeared or went';
        }
      }
      if (!tx) {
        kind = 'full';
        next = NetpolState.build(snap, cfg);
        const want = next.rules();
        let plan = !this.needFull && this.state ? planIncremental(table, { rules: this.state.rules(), stale: this.stale }, want) : undefined;
        if (!plan) {
          let existing: NftNames | undefined;
          try { existing = await this.backend.list(); } catch (e) { if (!isNftNotFound(e)) throw e; }
          plan = planFull(table, want, existing, this.now(), { rules: want, stale: this.stale });
        }
        tx = plan.tx;
        this.stale = plan.installed.stale;
      }
      await this.backend.run(tx);
      if (next) { this.state = next; this.lastFullAt = this.now(); }
      this.needFull = false;
      let staleDeleted = 0;
      const clean = planStaleCleanup(table, { stale: this.stale }, this.now());
      if (clean) { await this.backend.run(clean.tx); this.stale = clean.installed.stale; staleDeleted = clean.tx.size; }
      return { kind, ops: tx.size, staleDeleted, ...(why ? { why } : {}) };
    } catch (e) {
      // The state may have taken changes the kernel did not: the next sync computes and writes everything.
      this.needFull = true;
      throw e;
    }
  }

  /** Milliseconds until a flushed chain may be deleted, if any waits. */
  staleDueInMs(): number | undefined {
    const times = [...this.stale.values()];
    return times.length ? Math.max(0, Math.min(...times) + 1000 - this.now()) : undefined;
  }

  /** The desired table as last installed (undefined before the first sync or after a failed one). */
  installed(): DesiredRules | undefined {
    return this.needFull ? undefined : this.state?.rules();
  }
}

export interface NetpolOptions {
  kubeconfig: string;
  /** A client to share (a node daemon's); the component then neither creates nor closes its own. */
  client?: ApiClient;
  nodeName: string;
  /** The node's network namespace (the table is programmed there). */
  netns?: string;
  table?: string;
  minSyncPeriodMs?: number;
  syncPeriodMs?: number;
  /** Another backend (tests). */
  backend?: NftBackend;
  log?: (msg: string) => void;
}

export interface RunningNetpol {
  /** Resolves after a sync that started after this call has finished. */
  synced(): Promise<void>;
  stop(): Promise<void>;
}

interface Held<T> extends KObject { rec?: T; error?: string }

function hold<T>(strip: (o: unknown) => { ok: true; rec: T } | { ok: false; error: string }) {
  return (o: KObject): Held<T> => {
    const md = o.metadata ?? {};
    const r = strip(o);
    return { metadata: { name: md.name, namespace: md.namespace, resourceVersion: md.resourceVersion }, ...(r.ok ? { rec: r.rec } : { error: r.error }) };
  };
}
const ok = <T>(f: (o: unknown) => T) => (o: unknown) => ({ ok: true as const, rec: f(o) });

export async function startNetpol(opts: NetpolOptions): Promise<RunningNetpol> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`podnet netpol: ${m}\n`));
  // A long-lived `nft -i` for the small per-pod transactions (NftSession); `nft -f` for full ones.
  const session = opts.backend ? undefined : new NftSession('inet', opts.table ?? DEFAULT_TABLE, opts.netns);
  const backend = opts.backend ?? session!;
  const syncer = new NetpolSyncer(backend, opts.nodeName, Date.now, { resyncMs: opts.syncPeriodMs ?? 30_000 });
  const client = opts.client ?? new ApiClient(loadKubeconfig(opts.kubeconfig), { userAgent: `podnet-netpol/${opts.nodeName}` });

  let runner: BoundedFrequencyRunner | undefined;
  let ready = false;
  const kick = () => { if (ready) runner?.run(); };
  const handlers = { onAdd: kick, onUpdate: kick, onDelete: kick };
  const policies = new Informer<Held<PolicyRecord>>(client.resource(NETWORKPOLICIES), { name: 'netpol policies', transform: hold(stripPolicy), handlers });
  const pods = new Informer<Held<PodRecord>>(client.resource(PODS), { name: 'netpol pods', transform: hold(ok(stripPod)), handlers });
  const namespaces = new Informer<Held<NamespaceRecord>>(client.resource(NAMESPACES), { name: 'netpol namespaces', transform: hold(ok(stripNamespace)), handlers });

  const reported = new Set<string>();
  const snapshot = (): Snapshot => {
    const pols: PolicyRecord[] = [];
    for (const h of policies.list()) {
      if (h.rec) { pols.push(h.rec); continue; }
      const id = `${h.error}@${h.metadata?.resourceVersion}`;
      // A policy that cannot be read is left out (it would otherwise allow or deny by guesswork); said once per version.
      if (h.error && !reported.has(id)) { reported.add(id); log(`ignoring ${h.error}`); }
    }
    return {
      namespaces: new Map(namespaces.list().flatMap((h) => (h.rec ? [[h.rec.name, h.rec] as const] : []))),
      pods: pods.list().flatMap((h) => (h.rec ? [h.rec] : [])),
      policies: pols,
    };
  };

  let waiting: (() => void)[] = [];
  let retryMs = 1000;
  runner = new BoundedFrequencyRunner(async () => {
    const mine = waiting; waiting = [];
    try {
      const r = await syncer.sync(snapshot());
      if (r.ops > 0 || r.staleDeleted > 0) log(`${r.kind} sync${r.why ? ` (${r.why})` : ''}: ${r.ops} op(s)${r.staleDeleted ? `, ${r.staleDeleted} stale chain(s) deleted` : ''}`);
      const due = syncer.staleDueInMs();
      if (due !== undefined) runner!.retryAfter(due + 50);
      retryMs = 1000;
      for (const f of mine) f();
    } catch (e) {
      waiting.push(...mine);
      log(`sync failed (next sync is full, in ${retryMs} ms): ${(e as Error).message}`);
      runner!.retryAfter(retryMs);
      retryMs = Math.min(retryMs * 2, 30_000);
    }
  }, { minIntervalMs: opts.minSyncPeriodMs ?? 1000, maxIntervalMs: Math.min(opts.syncPeriodMs ?? 30_000, 30_000), burst: 2 });

  policies.start(); pods.start(); namespaces.start();
  const synced = (await Promise.all([policies.waitForSync(), pods.waitForSync(), namespaces.waitForSync()])).every(Boolean);
  if (!synced) throw new Error('informers stopped before they synced');
  ready = true;
  runner.start();

  return {
    synced: () => new Promise<void>((resolve) => { waiting.push(resolve); runner!.run(); }),
    stop: async () => {
      await runner!.stop();
      await Promise.all([policies.stop(), pods.stop(), namespaces.stop()]);
      await session?.close();
      if (!opts.client) client.close();
      for (const f of waiting) f();
    },
  };
}

/** `--cleanup`: removes the netpol table from the node's namespace. */
export async function cleanupNetpol(opts: { netns?: string; table?: string }): Promise<void> {
  const backend = new RealNft('inet', opts.table ?? DEFAULT_TABLE, opts.netns);
  const tx = backend.newTransaction();
  tx.destroy({ kind: 'table' });
  await backend.run(tx);
}
