// From desired rules to transactions, without I/O (STYLE.md items 1 and 5):
// - planFull rewrites the whole table in one transaction (at start, adopting what a previous
//   process left; after an error; when chains or set definitions change).
// - planIncremental, when only set and map elements differ (a pod came, went, or changed
//   labels), deletes and adds exactly those elements — chains and their counters stay.
// - planDelta writes the element delta of an incremental recompute (incremental.ts) without
//   comparing whole tables.
// - Chains no longer wanted are flushed at once and deleted a second later (planStaleCleanup):
//   kernels before 6.2 see a chain as unreferenced only a moment after the last map element
//   pointing at it is gone.

import { joinKey, type NftChain, type NftNames, Transaction, planStaleChainCleanup } from '../net/nft.js';
import type { ChainSpec, ElementSpec, SetSpec } from '../proxy/rules.js';
import type { DesiredRules, ElementDelta } from './rules.js';

export interface Installed {
  rules: DesiredRules;
  /** chains flushed and awaiting deletion → when (ms) */
  stale: Map<string, number>;
}

const elementId = (e: ElementSpec) => `${e.set}|${joinKey(e.key)}`;

function chainObj(c: ChainSpec): NftChain {
  return { kind: 'chain', name: c.name, ...(c.base ?? {}), ...(c.comment !== undefined ? { comment: c.comment } : {}) };
}
function setObj(s: SetSpec) {
  const common = { name: s.name, type: s.type, ...(s.flags ? { flags: s.flags } : {}), ...(s.comment !== undefined ? { comment: s.comment } : {}) };
  return s.kind === 'map' ? { kind: 'map' as const, ...common } : { kind: 'set' as const, ...common };
}
function elementObj(e: ElementSpec) {
  return { kind: 'element' as const, set: e.set, key: e.key, ...(e.value !== undefined ? { value: e.value } : {}), ...(e.comment !== undefined ? { comment: e.comment } : {}) };
}

/** Chains (with rules) and set definitions, as one comparable string. */
export function structureOf(r: DesiredRules): string {
  return JSON.stringify([r.comment, r.chains, r.sets]);
}

export function planFull(table: string, want: DesiredRules, existing: NftNames | undefined, now: number, prev?: Installed): { tx: Transaction; installed: Installed } {
  const tx = new Transaction('inet', table);
  tx.add({ kind: 'table', comment: want.comment });
  for (const s of want.sets) tx.add(setObj(s));
  for (const c of want.chains) { tx.add(chainObj(c)); tx.flush(chainObj(c)); }
  const stale = new Map<string, number>();
  const wantChains = new Set(want.chains.map((c) => c.name));
  const wantSets = new Set(want.sets.map((s) => s.name));
  // Old chains lose their rules before their sets go.
  for (const name of (existing?.chains ?? []).slice().sort()) {
    if (wantChains.has(name)) continue;
    tx.flush({ kind: 'chain', name });
    stale.set(name, prev?.stale.get(name) ?? now);
  }
  for (const c of want.chains) for (const r of c.rules) tx.add({ kind: 'rule', chain: c.name, rule: r.rule, ...(r.comment !== undefined ? { comment: r.comment } : {}) });
  for (const s of want.sets) tx.flush(setObj(s));
  for (const e of want.elements) tx.add(elementObj(e));
  for (const name of (existing?.sets ?? []).slice().sort()) if (!wantSets.has(name)) tx.delete({ kind: 'set', name, type: '' });
  for (const name of (existing?.maps ?? []).slice().sort()) if (!wantSets.has(name)) tx.delete({ kind: 'map', name, type: ':' });
  return { tx, installed: { rules: want, stale } };
}

/** The element-only transaction from `prev` to `want`; undefined when chains or sets differ (a full sync is needed). */
export function planIncremental(table: string, prev: Installed, want: DesiredRules): { tx: Transaction; installed: Installed } | undefined {
  if (structureOf(prev.rules) !== structureOf(want)) return undefined;
  const tx = new Transaction('inet', table);
  const have = new Map(prev.rules.elements.map((e) => [elementId(e), e]));
  const next = new Map(want.elements.map((e) => [elementId(e), e]));
  const adds: ElementSpec[] = [];
  for (const [id, e] of have) {
    const n = next.get(id);
    if (n && n.value === e.value && n.comment === e.comment) continue;
    tx.delete({ kind: 'element', set: e.set, key: e.key });
  }
  for (const [id, e] of next) {
    const h = have.get(id);
    if (h && h.value === e.value && h.comment === e.comment) continue;
    adds.push(e);
  }
  for (const e of adds) tx.add(elementObj(e));
  return { tx, installed: { rules: want, stale: prev.stale } };
}

/** The element transaction of an incremental recompute (a pod came, went or changed): removals, then additions. */
export function planDelta(table: string, delta: ElementDelta): Transaction {
  const tx = new Transaction('inet', table);
  for (const e of delta.remove) tx.delete({ kind: 'element', set: e.set, key: e.key });
  for (const e of delta.add) tx.add(elementObj(e));
  return tx;
}

/** Deletes chains flushed at least `minAgeMs` ago; undefined when none is due. */
export const planStaleCleanup = <S extends { stale: Map<string, number> }>(table: string, installed: S, now: number, minAgeMs = 1000) =>
  planStaleChainCleanup(table, installed, now, minAgeMs);
