// The netpol shell: informers on NetworkPolicies, Pods and Namespaces (stripped on arrival)
// only ask for a sync; a bounded-frequency runner syncs: the pure generator computes the
// desired table from the cached records, and the nft backend applies it — element-only when
// just pods came, went or changed labels, a full rewrite otherwise or after any error.

import type { KObject } from '../api/meta.js';
import { ApiClient, type GVR } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { NAMESPACES, PODS } from '../client/resources.js';
import { isNftNotFound, RealNft, type NftBackend, type NftNames } from '../net/nft.js';
import { BoundedFrequencyRunner } from '../proxy/runner.js';
import type { Snapshot } from './match.js';
import { stripNamespace, stripPod, stripPolicy, type NamespaceRecord, type PodRecord, type PolicyRecord } from './model.js';
import { computeRules, DEFAULT_TABLE } from './rules.js';
import { planFull, planIncremental, planStaleCleanup, type Installed } from './sync.js';

export { DEFAULT_TABLE } from './rules.js';
export const NETWORKPOLICIES: GVR = { group: 'networking.k8s.io', version: 'v1', resource: 'networkpolicies', namespaced: true };

export interface SyncResult { kind: 'full' | 'incremental'; ops: number; staleDeleted: number }

/** Holds what is installed and turns a snapshot into the next transaction(s) on a backend. */
export class NetpolSyncer {
  private installed: Installed | undefined;
  private needFull = true;
  constructor(private readonly backend: NftBackend, private readonly nodeName: string, private readonly now: () => number = Date.now) {}

  async sync(snap: Snapshot): Promise<SyncResult> {
    const table = this.backend.table;
    const want = computeRules(snap, { table, nodeName: this.nodeName });
    try {
      let kind: SyncResult['kind'] = 'incremental';
      let plan = !this.needFull && this.installed ? planIncremental(table, this.installed, want) : undefined;
      if (!plan) {
        kind = 'full';
        let existing: NftNames | undefined;
        try { existing = await this.backend.list(); } catch (e) { if (!isNftNotFound(e)) throw e; }
        plan = planFull(table, want, existing, this.now(), this.installed);
      }
      await this.backend.run(plan.tx);
      this.installed = plan.installed;
      this.needFull = false;
      let staleDeleted = 0;
      const clean = planStaleCleanup(table, this.installed, this.now());
      if (clean) { await this.backend.run(clean.tx); this.installed = clean.installed; staleDeleted = clean.tx.size; }
      return { kind, ops: plan.tx.size, staleDeleted };
    } catch (e) {
      this.needFull = true;
      throw e;
    }
  }

  /** Milliseconds until a flushed chain may be deleted, if any waits. */
  staleDueInMs(): number | undefined {
    const times = [...(this.installed?.stale.values() ?? [])];
    return times.length ? Math.max(0, Math.min(...times) + 1000 - this.now()) : undefined;
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
  const backend = opts.backend ?? new RealNft('inet', opts.table ?? DEFAULT_TABLE, opts.netns);
  const syncer = new NetpolSyncer(backend, opts.nodeName);
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
      if (r.ops > 0 || r.staleDeleted > 0) log(`${r.kind} sync: ${r.ops} op(s)${r.staleDeleted ? `, ${r.staleDeleted} stale chain(s) deleted` : ''}`);
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
