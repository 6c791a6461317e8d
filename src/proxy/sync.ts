// From desired rules to nftables transactions (STYLE.md items 1 and 5), still without I/O.
//
// - planFull: what (re)writes the whole table — add + flush every chain and dispatch map, then
//   fill them. It is what runs at start (adopting a table a previous process left, so
//   established connections and affinity entries survive), after any error, and periodically.
//   It comes in two halves (FullPlan): `structure` (table, sets and maps declared, chains added,
//   flushed and refilled: a few dozen objects) and `elements` (every map flushed and refilled,
//   chains no longer wanted flushed, sets no longer wanted deleted: 110,000 elements at 10,000
//   Services). The proxier applies them as two kernel transactions — the structure through nft,
//   the elements as one nf_tables netlink batch (src/net/nftnl.ts), because nft 1.0.6 spends
//   ~1.6 s of its own parsing 100,000 concatenated elements that the kernel adds in ~0.2 s — or,
//   without netlink, as the single nft transaction `tx` (both halves in the same order).
//
//   Why the state between the two transactions is safe: the structure transaction only adds
//   and refills. It flushes no map and deletes or empties no chain, so every element installed
//   before it (by this process or the one before) still points at a chain that exists: wanted
//   chains are refilled in the same transaction (a shared chain's rules depend only on its name,
//   so they are the rules it had; an affinity Service's own chains get its new endpoints, whose
//   chains the same transaction creates), and chains no longer wanted keep their rules until
//   the batch. Services that worked keep working; new chains are unreachable until elements
//   point at them. The element batch is then one atomic transaction: the maps are flushed and
//   refilled, so every Service appears, changes or goes at once, and only after that are the
//   unwanted chains flushed and the unwanted sets (which only those chains' rules may still
//   use) deleted. If the batch fails the kernel keeps the table as the structure left it, and
//   the proxier applies `tx` instead (and uses nft from then on).
// - planPartial: one transaction for the Services that changed since the last sync: only their
//   chains that differ are rewritten, only their map elements that differ are deleted/added.
// - Chains no longer wanted are flushed (and their map elements removed) at once, but deleted
//   only by planStaleCleanup in a later transaction, a second on: kernels before 6.2 notice a
//   chain is unreferenced only a moment after the last map element pointing at it went.
//
// Map elements are keyed globally (two Services may claim one external IP:port): the first
// claimant in key order wins, and the element moves to the next claimant when the winner goes.
// Shared chains (dnat-cluster-3-v4, …: the same content for every Service that uses them) are
// claimed the same way: created with their first claimant, retired with their last.

import { joinKey, type NftNames, Transaction, type NftChain, planStaleChainCleanup } from '../net/nft.js';
import { NlBatch } from '../net/nftnl.js';
import type { BaseRules, ChainSpec, ElementSpec, ServiceRules, SetSpec } from './rules.js';

export interface Installed {
  base: BaseRules;
  services: Map<string, ServiceRules>;
  /** element id ("set|key") → the element installed for it */
  elements: Map<string, ElementSpec>;
  /** element id → keys of the Services claiming it, sorted (lists may be shared: replace, never change in place) */
  claims: Map<string, string[]>;
  /** shared chain name → keys of the Services claiming it, sorted */
  chainClaims: Map<string, string[]>;
  /** chains flushed and awaiting deletion → when they were flushed (ms) */
  stale: Map<string, number>;
}

export interface Plan { tx: Transaction; installed: Installed; changedServices: string[] }

export const elementId = (e: ElementSpec) => `${e.set}|${joinKey(e.key)}`;

const sameChain = (a: ChainSpec | undefined, b: ChainSpec) =>
  !!a && a.comment === b.comment && a.rules.length === b.rules.length && a.rules.every((r, i) => r.rule === b.rules[i]!.rule && r.comment === b.rules[i]!.comment);
const sameSet = (a: SetSpec | undefined, b: SetSpec) =>
  !!a && a.kind === b.kind && a.type === b.type && a.timeout === b.timeout && a.comment === b.comment && (a.flags ?? []).join() === (b.flags ?? []).join();
const sameElement = (a: ElementSpec | undefined, b: ElementSpec | undefined) =>
  a === b || (!!a && !!b && a.value === b.value && a.comment === b.comment);

function chainObj(c: ChainSpec): NftChain {
  return { kind: 'chain', name: c.name, ...(c.base ?? {}), ...(c.comment !== undefined ? { comment: c.comment } : {}) };
}
function setObj(s: SetSpec) {
  return s.kind === 'map'
    ? { kind: 'map' as const, name: s.name, type: s.type, ...(s.flags ? { flags: s.flags } : {}), ...(s.comment !== undefined ? { comment: s.comment } : {}) }
    : { kind: 'set' as const, name: s.name, type: s.type, ...(s.flags ? { flags: s.flags } : {}), ...(s.timeout !== undefined ? { timeout: s.timeout } : {}), ...(s.comment !== undefined ? { comment: s.comment } : {}) };
}
function elementObj(e: ElementSpec) {
  return { kind: 'element' as const, set: e.set, key: e.key, ...(e.value !== undefined ? { value: e.value } : {}), ...(e.comment !== undefined ? { comment: e.comment } : {}) };
}
function addRules(tx: Transaction, c: ChainSpec): void {
  for (const r of c.rules) tx.add({ kind: 'rule', chain: c.name, rule: r.rule, ...(r.comment !== undefined ? { comment: r.comment } : {}) });
}

function sortedKeys<T>(m: Map<string, T>): string[] {
  return [...m.keys()].sort();
}

/**
 * The element half of a full sync, applied after `structure` (see planFull): in this order,
 * flush every fixed set and map, add the fixed and the Services' elements, flush the chains no
 * longer wanted, delete the sets and maps no longer wanted. Over netlink it is one kernel
 * transaction (elementBatch); through nft it is the tail of the single full transaction.
 */
export interface ElementLoad {
  flushSets: SetSpec[];
  /** Per set or map, in name order: its definition (for the element layout) and its elements. */
  add: Array<{ set: SetSpec; elements: ElementSpec[] }>;
  flushChains: string[];
  deleteSets: Array<{ kind: 'set' | 'map'; name: string }>;
  /** Number of elements in `add`. */
  elements: number;
}

export interface FullPlan extends Plan {
  /**
   * Chains, rules, sets and maps (definitions only): everything nft parses quickly. It never
   * flushes a map nor removes a chain or set, so every element installed before it still points
   * at a chain that exists, and Services keep working until `elements` replaces their elements.
   */
  structure: Transaction;
  elements: ElementLoad;
}

/**
 * What makes the table exactly `base` + `services`: `structure` then `elements`, or `tx`, the two
 * as one nft transaction (built on first use). `existing` lists what the table holds now
 * (undefined: no table); chains and sets in it that are not wanted are flushed (chains, deleted
 * later) or deleted (sets). `prev` carries stale-chain times across.
 *
 * One pass over the Services in key order claims shared chains and elements (first claimant
 * wins) and groups the winning elements by set, so each set's elements go out as few batched
 * commands without sorting the 100,000 element ids of a large table; elements are added
 * without per-element checks (rules.ts made them, and their set names are checked once).
 */
export function planFull(table: string, base: BaseRules, services: Map<string, ServiceRules>, existing: NftNames | undefined,
  now: number, prev?: Installed): FullPlan {
  const structure = new Transaction('inet', table);
  structure.add({ kind: 'table', comment: base.comment });
  const keys = sortedKeys(services);
  const allSets: SetSpec[] = [...base.sets];
  const allChains: ChainSpec[] = [...base.chains];
  const sharedChains = new Map<string, ChainSpec>();
  const chainClaims = new Map<string, string[]>();
  const elements = new Map<string, ElementSpec>();
  const claims = new Map<string, string[]>();
  const bySet = new Map<string, ElementSpec[]>();
  for (const key of keys) {
    const s = services.get(key)!;
    for (const x of s.sets) allSets.push(x);
    for (const c of s.chains) allChains.push(c);
    for (const c of s.sharedChains) {
      const k = chainClaims.get(c.name);
      if (k) { if (k[k.length - 1] !== key) k.push(key); continue; }
      chainClaims.set(c.name, [key]);
      sharedChains.set(c.name, c);
    }
    // One claimant list per Service, shared by all its elements (claim lists are never changed
    // in place: planPartial and a second claimant here replace them), so 100,000 elements do not
    // cost 100,000 arrays.
    const mine = [key];
    for (const e of s.elements) {
      const id = elementId(e);
      const c = claims.get(id);
      if (c) { if (c[c.length - 1] !== key) claims.set(id, [...c, key]); continue; }
      claims.set(id, mine);
      elements.set(id, e);
      const list = bySet.get(e.set);
      if (list) list.push(e); else bySet.set(e.set, [e]);
    }
  }
  allChains.push(...[...sharedChains.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
  for (const s of allSets) structure.add(setObj(s));
  for (const c of allChains) { structure.add(chainObj(c)); structure.flush(chainObj(c)); }
  for (const c of allChains) addRules(structure, c);

  const setsByName = new Map(allSets.map((s) => [s.name, s]));
  const add: ElementLoad['add'] = [];
  let count = 0;
  const baseBySet = new Map<string, ElementSpec[]>();
  for (const e of base.elements) {
    const list = baseBySet.get(e.set);
    if (list) list.push(e); else baseBySet.set(e.set, [e]);
  }
  for (const [name, list] of baseBySet) { add.push({ set: setSpecFor(setsByName, name), elements: list }); count += list.length; }
  for (const name of [...bySet.keys()].sort()) {
    const list = bySet.get(name)!;
    add.push({ set: setSpecFor(setsByName, name), elements: list });
    count += list.length;
  }

  const stale = new Map<string, number>();
  const flushChains: string[] = [];
  const deleteSets: ElementLoad['deleteSets'] = [];
  if (existing) {
    const wantChains = new Set(allChains.map((c) => c.name));
    for (const name of existing.chains.slice().sort()) {
      if (wantChains.has(name)) continue;
      flushChains.push(name);
      stale.set(name, prev?.stale.get(name) ?? now);
    }
    for (const name of existing.sets.slice().sort()) if (!setsByName.has(name)) deleteSets.push({ kind: 'set', name });
    for (const name of existing.maps.slice().sort()) if (!setsByName.has(name)) deleteSets.push({ kind: 'map', name });
  }
  const load: ElementLoad = { flushSets: base.sets, add, flushChains, deleteSets, elements: count };
  let tx: Transaction | undefined;
  return {
    structure,
    elements: load,
    get tx() { return (tx ??= fullTransaction(structure, load)); },
    installed: { base, services: new Map(services), elements, claims, chainClaims, stale },
    changedServices: keys,
  };
}

function setSpecFor(sets: Map<string, SetSpec>, name: string): SetSpec {
  const s = sets.get(name);
  if (!s) throw new Error(`proxy: element for ${name}, which is no set or map of the table`);
  return s;
}

/** `structure` and `load` as one nft transaction (the path without netlink). */
function fullTransaction(structure: Transaction, load: ElementLoad): Transaction {
  const tx = new Transaction(structure.family, structure.table);
  tx.ops.push(...structure.ops);
  for (const s of load.flushSets) tx.flush(setObj(s));
  for (const { set, elements } of load.add) tx.addElements(set.name, elements);
  for (const name of load.flushChains) tx.flush({ kind: 'chain', name });
  for (const { kind, name } of load.deleteSets) tx.delete(kind === 'set' ? { kind, name, type: '' } : { kind, name, type: ':' });
  return tx;
}

/**
 * `load` as one nf_tables netlink batch (one kernel transaction), in the same order as
 * fullTransaction. Throws if a set's type has no netlink layout (the caller then uses nft).
 */
export function elementBatch(table: string, load: ElementLoad, firstSeq = 1): NlBatch {
  // ~90 bytes per element: one allocation for the whole batch in the common case.
  const batch = new NlBatch('inet', table, { firstSeq, sizeHint: 4096 + load.elements * 96 });
  for (const s of load.flushSets) batch.flushSet(s.name);
  for (const { set, elements } of load.add) batch.addElements(set.name, set.type, elements);
  for (const name of load.flushChains) batch.flushChain(name);
  for (const { name } of load.deleteSets) batch.deleteSet(name);
  return batch;
}

/**
 * The transaction for the Services in `changes` (key → new rules, or undefined when the
 * Service is gone or ignored), relative to what `prev` says is installed.
 *
 * `prev` is consumed: its maps are updated in place and returned in the plan, because copying
 * them (a claim and an element per endpoint: 100,000 entries at 10,000 Services) would make every
 * partial sync cost time in proportion to the table. After a failed transaction the caller must
 * not reuse `prev` for another partial plan (the proxier's next sync is a full one).
 */
export function planPartial(table: string, prev: Installed, changes: Map<string, ServiceRules | undefined>, now: number): Plan {
  const tx = new Transaction('inet', table);
  const { services, claims, chainClaims, elements, stale } = prev;
  const sharedAffected = new Map<string, ChainSpec | undefined>();
  // Whether each shared chain touched here was claimed before this plan.
  const wasClaimed = new Map<string, boolean>();

  const toFlush: string[] = [];
  const toCreate: ChainSpec[] = [];
  const toFill: ChainSpec[] = [];
  const setDeletes: SetSpec[] = [];
  const setAdds: SetSpec[] = [];
  const newlyStale: string[] = [];
  const affected = new Set<string>();
  const changed: string[] = [];

  for (const key of sortedKeys(changes)) {
    const next = changes.get(key);
    const old = services.get(key);
    if (!old && !next) continue;
    changed.push(key);
    const oldChains = new Map((old?.chains ?? []).map((c) => [c.name, c]));
    const nextChains = new Map((next?.chains ?? []).map((c) => [c.name, c]));
    for (const c of nextChains.values()) {
      const was = oldChains.get(c.name);
      if (sameChain(was, c)) continue;
      if (was || stale.has(c.name)) { toFlush.push(c.name); stale.delete(c.name); }
      else toCreate.push(c);
      toFill.push(c);
    }
    for (const name of oldChains.keys()) if (!nextChains.has(name)) { toFlush.push(name); newlyStale.push(name); }
    const oldSets = new Map((old?.sets ?? []).map((s) => [s.name, s]));
    const nextSets = new Map((next?.sets ?? []).map((s) => [s.name, s]));
    for (const s of nextSets.values()) {
      const was = oldSets.get(s.name);
      if (sameSet(was, s)) continue;
      if (was) setDeletes.push(was);
      setAdds.push(s);
    }
    for (const s of oldSets.values()) if (!nextSets.has(s.name)) setDeletes.push(s);

    for (const c of [...(old?.sharedChains ?? []), ...(next?.sharedChains ?? [])]) if (!wasClaimed.has(c.name)) wasClaimed.set(c.name, chainClaims.has(c.name));
    for (const c of old?.sharedChains ?? []) {
      if (!sharedAffected.has(c.name)) sharedAffected.set(c.name, undefined);
      const k = (chainClaims.get(c.name) ?? []).filter((x) => x !== key);
      if (k.length) chainClaims.set(c.name, k); else chainClaims.delete(c.name);
    }
    for (const c of next?.sharedChains ?? []) {
      sharedAffected.set(c.name, c);
      const k = chainClaims.get(c.name) ?? [];
      if (!k.includes(key)) chainClaims.set(c.name, [...k, key].sort());
    }
    for (const e of old?.elements ?? []) {
      const id = elementId(e);
      affected.add(id);
      const c = (claims.get(id) ?? []).filter((k) => k !== key);
      if (c.length) claims.set(id, c); else claims.delete(id);
    }
    for (const e of next?.elements ?? []) {
      const id = elementId(e);
      affected.add(id);
      const c = claims.get(id) ?? [];
      if (!c.includes(key)) claims.set(id, [...c, key].sort()); // a new list: lists are shared (planFull)
    }
    if (next) services.set(key, next); else services.delete(key);
  }

  // Shared chains: created with their first claimant, retired with their last (their content
  // depends only on their name, so a claimed chain never needs rewriting).
  for (const name of [...sharedAffected.keys()].sort()) {
    const was = wasClaimed.get(name) ?? false;
    const spec = sharedAffected.get(name);
    const now_ = chainClaims.has(name);
    if (now_ && !was && spec) {
      if (stale.has(name)) { toFlush.push(name); stale.delete(name); } else toCreate.push(spec);
      toFill.push(spec);
    } else if (!now_ && was) {
      toFlush.push(name);
      newlyStale.push(name);
    }
  }

  // Order matters within the transaction: references must go before what they point at, and
  // new targets must exist before anything points at them.
  for (const name of toFlush) tx.flush({ kind: 'chain', name });
  for (const s of setDeletes) tx.delete(setObj(s));
  for (const s of setAdds) tx.add(setObj(s));
  for (const c of toCreate) tx.add(chainObj(c));
  for (const c of toFill) addRules(tx, c);

  const elementDeletes: ElementSpec[] = [];
  const elementAdds: ElementSpec[] = [];
  for (const id of [...affected].sort()) {
    const owner = claims.get(id)?.[0];
    const want = owner ? services.get(owner)!.elements.find((e) => elementId(e) === id) : undefined;
    const have = elements.get(id);
    if (sameElement(have, want)) continue;
    if (have) elementDeletes.push(have);
    if (want) elementAdds.push(want);
    if (want) elements.set(id, want); else elements.delete(id);
  }
  for (const e of elementDeletes) tx.delete({ kind: 'element', set: e.set, key: e.key });
  for (const e of elementAdds) tx.add(elementObj(e));
  for (const name of newlyStale) stale.set(name, now);

  return { tx, installed: prev, changedServices: changed };
}

/** Deletes chains flushed at least `minAgeMs` ago; undefined when none is due. */
export const planStaleCleanup = (table: string, installed: Installed, now: number, minAgeMs = 1000) =>
  planStaleChainCleanup(table, installed, now, minAgeMs);
