// The incremental recompute (src/netpol/incremental.ts) against the full one: over many random
// pod arrivals, label changes, moves between nodes, address reuse and departures (and now and then
// a policy or namespace change, which takes the full path), the state updated pod by pod must
// hold exactly the table computed from scratch — and the syncer's element transactions, applied
// to the kernel model, must leave exactly the table a full sync writes.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeNft } from '../../src/net/nft-fake.js';
import { NetpolSyncer } from '../../src/netpol/index.js';
import { NetpolState } from '../../src/netpol/incremental.js';
import type { Snapshot } from '../../src/netpol/match.js';
import type { PodRecord, PolicyRecord } from '../../src/netpol/model.js';
import { computeRules, DEFAULT_TABLE, elementId, type DesiredRules } from '../../src/netpol/rules.js';
import { planFull } from '../../src/netpol/sync.js';
import { makeNamespace, makePod, makePolicy, model } from './netpol-fixtures.js';
import { CASES } from './netpol-cases.js';

const NODE = 'node-1';
const cfg = { table: DEFAULT_TABLE, nodeName: NODE };

/** A deterministic generator (the same sequence on every run; the seed is in the test name). */
function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)]! };
}

/** The table in a form where element order does not matter. */
function canonical(r: DesiredRules): string {
  const els = r.elements.map((e) => `${elementId(e)} = ${e.value ?? ''} # ${e.comment ?? ''}`).sort();
  return JSON.stringify({ comment: r.comment, chains: r.chains, sets: r.sets, els });
}

const LABELS: Array<Record<string, string>> = [{ pod: 'a' }, { pod: 'b' }, { pod: 'c' }, { pod: 'a', app: 'web' }, { app: 'web' }, {}];
const NSS = ['x', 'y', 'z'];

function randomPod(g: ReturnType<typeof rng>, name: string): PodRecord {
  const ns = g.pick(NSS);
  const h = 40 + g.int(12); // a small range: addresses get reused
  const v6 = g.next() < 0.5;
  return makePod(ns, name, (o) => {
    o.metadata.labels = { ...g.pick(LABELS) };
    o.spec.nodeName = g.pick(['node-1', 'node-1', 'node-2']);
    o.status.podIP = `10.244.1.${h}`;
    o.status.podIPs = v6 ? [{ ip: `10.244.1.${h}` }, { ip: `fd00:10:244:1::${h}` }] : [{ ip: `10.244.1.${h}` }];
    if (g.next() < 0.1) o.spec.hostNetwork = true;
    if (g.next() < 0.1) { o.status.phase = 'Pending'; o.status.podIPs = []; delete o.status.podIP; }
    if (g.next() < 0.3) o.spec.containers[0].ports = [{ name: 'serve-80-tcp', containerPort: 8080 + g.int(3), protocol: 'TCP' }, { name: 'serve-81-tcp', containerPort: 8080 + g.int(3), protocol: 'TCP' }];
  });
}

/** Every policy of the shared cases, renamed apart, plus some of our own. */
function policyPool(): PolicyRecord[] {
  const pool = CASES.flatMap((c, i) => c.policies.map((p) => ({ ...p, name: `${p.name}-${i}` })));
  pool.push(makePolicy('x', 'web-named', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress', 'Egress'],
    ingress: [{ from: [{ podSelector: {} , namespaceSelector: {} }], ports: [{ port: 'serve-80-tcp' }, { port: 'serve-81-tcp' }] }],
    egress: [{ to: [{ podSelector: { matchLabels: { pod: 'a' } } }, { ipBlock: { cidr: '10.244.1.0/24', except: ['10.244.1.44/30'] } }], ports: [{ port: 'serve-81-tcp' }, { port: 53, protocol: 'UDP' }, { port: 9000, endPort: 9100, protocol: 'SCTP' }] }] }));
  return pool;
}

describe('netpol incremental recompute', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`equals the full recompute after every one of 150 random changes (seed ${seed})`, () => {
      const g = rng(seed);
      const pool = policyPool();
      const base = model();
      let snap: Snapshot = { ...base, policies: pool.filter(() => g.next() < 0.25) };
      let state = NetpolState.build(snap, cfg);
      let podChanges = 0, incremental = 0, rebuilds = 0;
      for (let step = 0; step < 150; step++) {
        const r = g.next();
        const pods = [...snap.pods];
        if (r < 0.08) {
          // A policy or namespace change: the full path.
          if (g.next() < 0.5) {
            const p = g.pick(pool);
            const has = snap.policies.includes(p);
            snap = { ...snap, policies: has ? snap.policies.filter((x) => x !== p) : [...snap.policies, p] };
          } else {
            const ns = new Map(snap.namespaces);
            const n = g.pick(NSS);
            ns.set(n, makeNamespace(n, g.next() < 0.5 ? { team: 'blue' } : {}));
            snap = { ...snap, namespaces: ns };
          }
          const change = state.diff(snap);
          assert.equal(change.kind, 'full');
          state = NetpolState.build(snap, cfg);
          rebuilds++;
        } else {
          // 1-3 pod changes at once.
          for (let k = 1 + g.int(3); k > 0; k--) {
            const q = g.next();
            if (q < 0.35 || pods.length < 4) pods.push(randomPod(g, `p${step}-${k}`));
            else if (q < 0.65) { const i = g.int(pods.length); pods[i] = { ...randomPod(g, pods[i]!.name), namespace: pods[i]!.namespace }; }
            else if (q < 0.8) { const i = g.int(pods.length); pods[i] = { ...pods[i]!, labels: { ...g.pick(LABELS) } }; }
            else pods.splice(g.int(pods.length), 1);
          }
          snap = { ...snap, pods };
          const change = state.diff(snap);
          assert.notEqual(change.kind, 'full');
          if (change.kind === 'pods') {
            podChanges++;
            if (state.applyPods(change.pods)) incremental++;
            else { state = NetpolState.build(snap, cfg); rebuilds++; }
          }
        }
        assert.equal(canonical(state.rules()), canonical(computeRules(snap, cfg)), `step ${step}`);
      }
      assert.ok(incremental > podChanges / 3, `mostly incremental (${incremental} of ${podChanges} pod changes; ${rebuilds} rebuilds)`);
    });
  }

  it('the syncer writes element-only transactions that leave the table a full sync writes', async () => {
    const g = rng(42);
    const pool = policyPool();
    let snap: Snapshot = { ...model(), policies: pool.filter((_, i) => i % 3 === 0) };
    const nft = new FakeNft('inet', DEFAULT_TABLE);
    let clock = 0;
    const syncer = new NetpolSyncer(nft, NODE, () => clock, { resyncMs: 1e9 });
    const first = await syncer.sync(snap);
    assert.equal(first.kind, 'full');
    const kinds = new Map<string, number>();
    for (let step = 0; step < 60; step++) {
      const pods = [...snap.pods];
      if (g.next() < 0.5) pods.push(randomPod(g, `q${step}`)); else pods.splice(g.int(pods.length), 1);
      snap = { ...snap, pods };
      clock += 10;
      const r = await syncer.sync(snap);
      kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
      // A chain a full sync retired is flushed now and deleted a second later (sync.ts).
      if (syncer.staleDueInMs() !== undefined) { clock += 1000; assert.equal((await syncer.sync(snap)).ops, 0); }
      const fresh = new FakeNft('inet', DEFAULT_TABLE);
      fresh.runSync(planFull(DEFAULT_TABLE, computeRules(snap, cfg), undefined, 0).tx);
      assert.equal(nft.dump(), fresh.dump(), `step ${step} (${r.kind}${r.why ? `: ${r.why}` : ''})`);
    }
    assert.ok((kinds.get('incremental') ?? 0) > 30, JSON.stringify([...kinds]));
    // Nothing changed: nothing written.
    assert.equal((await syncer.sync(snap)).ops, 0);
  });

  it('a new pod on this node is a handful of element operations, and the periodic resync recomputes in full', async () => {
    const nft = new FakeNft('inet', DEFAULT_TABLE);
    let clock = 0;
    const syncer = new NetpolSyncer(nft, NODE, () => clock, { resyncMs: 30_000 });
    const snap0 = model([makePolicy('x', 'a-from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 'serve-80-tcp' }] }] })]);
    await syncer.sync(snap0);
    clock = 1000;
    const extra = makePod('x', 'a2', (o) => { o.metadata.labels = { pod: 'a' }; o.status.podIP = '10.244.1.50'; o.status.podIPs = [{ ip: '10.244.1.50' }]; });
    const r = await syncer.sync({ ...snap0, pods: [...snap0.pods, extra] });
    assert.equal(r.kind, 'incremental');
    assert.ok(r.ops > 0 && r.ops <= 6, `${r.ops} ops`);
    clock = 40_000;
    const again = await syncer.sync({ ...snap0, pods: [...snap0.pods, extra] });
    assert.deepEqual([again.kind, again.why, again.ops], ['full', 'periodic resync', 0]);
  });
});
