// An in-memory model of one nftables table, the operations of a Transaction applied to it with
// the kernel's checks, and readers for the two text forms podnet meets: the `nft -f` script a
// Transaction renders (and the fake dumps), and the listing `nft list table` prints.
//
// The checks are the ones a wrong ruleset generator trips over, each with the errno class the
// kernel returns: a missing table, chain, set, map or jump target (not-found); create of an
// existing object, or add of an element whose value differs (exists); delete of a chain or
// set that is still referenced (busy); a jump to a base chain or a statement in a chain reached
// from a hook where the kernel refuses it — dnat outside nat prerouting/output, masquerade
// outside nat postrouting, reject outside input/forward/output (unsupported); and jump loops.

import {
  joinKey, NftError, priorityValue, type NftChain, type NftElement, type NftFamily, type NftMap, type NftOp,
  type NftRule, type NftSet, opText, parseDuration,
} from './nft.js';

export interface RulesetChain {
  name: string;
  type?: NftChain['type'];
  hook?: NftChain['hook'];
  priority?: number;
  policy?: NftChain['policy'];
  comment?: string;
  rules: NftRule[];
}

export interface RulesetSet {
  name: string;
  isMap: boolean;
  type: string;
  flags: string[];
  timeout?: number;
  comment?: string;
  /** Keyed by the joined key ("10.0.0.1 . tcp . 80"). */
  elements: Map<string, NftElement>;
}

export class Ruleset {
  comment?: string;
  readonly chains = new Map<string, RulesetChain>();
  /** Sets and maps share one namespace in a table. */
  readonly sets = new Map<string, RulesetSet>();
  /** How many rules and map elements jump/goto each chain; how many rules use each @set. */
  readonly chainRefs = new Map<string, number>();
  readonly setRefs = new Map<string, number>();
  private nextHandle = 1;

  constructor(readonly family: NftFamily, readonly table: string) {}

  clone(): Ruleset {
    const r = new Ruleset(this.family, this.table);
    r.comment = this.comment;
    r.nextHandle = this.nextHandle;
    for (const [k, c] of this.chains) r.chains.set(k, { ...c, rules: c.rules.slice() });
    for (const [k, s] of this.sets) r.sets.set(k, { ...s, flags: s.flags.slice(), elements: new Map(s.elements) });
    for (const [k, v] of this.chainRefs) r.chainRefs.set(k, v);
    for (const [k, v] of this.setRefs) r.setRefs.set(k, v);
    return r;
  }

  allocHandle(): number { return this.nextHandle++; }
}

// ---- references in rule text ----------------------------------------------------------------

const CHAIN_REF = /(?:^|[\s{,:])(?:jump|goto)\s+([A-Za-z_.][\w./-]*)/g;
const SET_REF = /@([A-Za-z_.][\w./-]*)/g;

export function chainRefsOf(text: string): string[] {
  return Array.from(text.matchAll(CHAIN_REF), (m) => m[1]!);
}
export function setRefsOf(text: string): string[] {
  return Array.from(text.matchAll(SET_REF), (m) => m[1]!);
}
const elementChainRef = (e: NftElement): string | undefined => (e.value ? /^(?:jump|goto)\s+(\S+)$/.exec(e.value)?.[1] : undefined);

function bump(m: Map<string, number>, k: string, d: number): void {
  const v = (m.get(k) ?? 0) + d;
  if (v === 0) m.delete(k); else m.set(k, v);
}

// ---- applying operations -------------------------------------------------------------------

const notFound = (what: string) => new NftError(`Could not process rule: No such file or directory: ${what}`, 'not-found');
const exists = (what: string) => new NftError(`Could not process rule: File exists: ${what}`, 'exists');
const busy = (what: string) => new NftError(`Could not process rule: Device or resource busy: ${what}`, 'busy');
const unsupported = (what: string) => new NftError(`Could not process rule: Operation not supported: ${what}`, 'unsupported');

/** One table's state: its identity, and its contents while it exists. */
export interface TableState { readonly family: NftFamily; readonly table: string; rs: Ruleset | undefined }

export function cloneTableState(st: TableState): TableState {
  return { family: st.family, table: st.table, rs: st.rs?.clone() };
}

/** The number of parts of a set's or map's key ("typeof a . b : c" and "type_a . type_b : c" alike). */
export function keyArity(type: string): number {
  return type.replace(/^typeof\s+/, '').split(':')[0]!.split(' . ').length;
}

/** `dnat … to KEY map @M` and `KEY @S` lookups with a concatenated key: [key expression, set name]. */
const MAP_LOOKUP = /\bto\s+(.+?)\s+map\s+@([A-Za-z_.][\w./-]*)/;
const CONCAT_SET_LOOKUP = /((?:[\w-]+ [\w-]+ \. )+[\w-]+ [\w-]+) @([A-Za-z_.][\w./-]*)/;

function addRuleRefs(rs: Ruleset, r: NftRule, d: number): void {
  for (const c of chainRefsOf(r.rule)) bump(rs.chainRefs, c, d);
  for (const s of setRefsOf(r.rule)) bump(rs.setRefs, s, d);
}

function checkRuleRefs(rs: Ruleset, r: NftRule): void {
  for (const c of chainRefsOf(r.rule)) {
    const target = rs.chains.get(c);
    if (!target) throw notFound(`jump target chain "${c}" (rule in ${r.chain}: ${r.rule})`);
    if (target.hook) throw unsupported(`jump to base chain "${c}" (rule in ${r.chain})`);
  }
  for (const s of setRefsOf(r.rule)) if (!rs.sets.has(s)) throw notFound(`set or map "${s}" (rule in ${r.chain}: ${r.rule})`);
  // A lookup's key must have the set's shape (nft refuses a mismatch: "datatype mismatch").
  const lookups: Array<[string, string, boolean]> = [];
  const ml = MAP_LOOKUP.exec(r.rule);
  if (ml) lookups.push([ml[1]!, ml[2]!, true]);
  const sl = CONCAT_SET_LOOKUP.exec(r.rule);
  if (sl && !ml) lookups.push([sl[1]!, sl[2]!, false]);
  for (const [key, name, isMap] of lookups) {
    const set = rs.sets.get(name)!;
    if (set.isMap !== isMap) throw new NftError(`Error: ${name} is not a ${isMap ? 'map' : 'set'} (rule in ${r.chain}: ${r.rule})`, 'invalid');
    const parts = key.split(' . ').length;
    if (parts !== keyArity(set.type)) throw new NftError(`Error: datatype mismatch: key "${key}" has ${parts} parts, ${name} (${set.type}) has ${keyArity(set.type)} (rule in ${r.chain})`, 'invalid');
  }
}

/** Applies one op to `st` (mutating it), or throws an NftError naming the op. */
export function applyOp(st: TableState, op: NftOp): void {
  const { verb, obj } = op;
  if (obj.kind === 'table') {
    switch (verb) {
      case 'add': if (!st.rs) { st.rs = new Ruleset(st.family, st.table); st.rs.comment = obj.comment; } return;
      case 'create': if (st.rs) throw exists(`table ${st.table}`); st.rs = new Ruleset(st.family, st.table); st.rs.comment = obj.comment; return;
      case 'delete': if (!st.rs) throw notFound('table'); st.rs = undefined; return;
      case 'destroy': st.rs = undefined; return;
      case 'flush':
        if (!st.rs) throw notFound('table');
        for (const c of st.rs.chains.values()) { for (const r of c.rules) addRuleRefs(st.rs, r, -1); c.rules = []; }
        return;
      default: throw new NftError(`cannot ${verb} a table`, 'invalid');
    }
  }
  const rs = st.rs;
  if (!rs) throw notFound(`table ${st.family} ${st.table} (${opText(op, st.family, st.table).split('\n')[0]})`);
  switch (obj.kind) {
    case 'chain': return applyChain(rs, verb, obj);
    case 'rule': return applyRule(rs, verb, obj);
    case 'set': case 'map': return applySet(rs, verb, obj);
    case 'element': return applyElement(rs, verb, obj);
  }
}

function sameBase(a: RulesetChain, b: NftChain): boolean {
  return (a.type ?? '') === (b.type ?? '') && (a.hook ?? '') === (b.hook ?? '') &&
    (a.type === undefined || a.priority === priorityValue(b.priority));
}

function applyChain(rs: Ruleset, verb: NftOp['verb'], c: NftChain): void {
  const cur = rs.chains.get(c.name);
  switch (verb) {
    case 'add':
    case 'create':
      if (cur) {
        if (verb === 'create') throw exists(`chain ${c.name}`);
        if (!sameBase(cur, c)) throw unsupported(`chain ${c.name} exists with a different type/hook/priority`);
        if (c.policy && c.type) cur.policy = c.policy;
        return;
      }
      rs.chains.set(c.name, {
        name: c.name, rules: [], comment: c.comment,
        ...(c.type ? { type: c.type, hook: c.hook, priority: priorityValue(c.priority), policy: c.policy ?? 'accept' } : {}),
      });
      return;
    case 'flush':
      if (!cur) throw notFound(`chain ${c.name}`);
      for (const r of cur.rules) addRuleRefs(rs, r, -1);
      cur.rules = [];
      return;
    case 'delete':
    case 'destroy':
      if (!cur) { if (verb === 'destroy') return; throw notFound(`chain ${c.name}`); }
      if ((rs.chainRefs.get(c.name) ?? 0) > 0) throw busy(`chain ${c.name} is still referenced (${rs.chainRefs.get(c.name)} jumps/gotos)`);
      for (const r of cur.rules) addRuleRefs(rs, r, -1);
      rs.chains.delete(c.name);
      return;
    default:
      throw new NftError(`cannot ${verb} a chain`, 'invalid');
  }
}

function applyRule(rs: Ruleset, verb: NftOp['verb'], r: NftRule): void {
  const chain = rs.chains.get(r.chain);
  if (!chain) {
    if (verb === 'destroy') return;
    throw notFound(`chain ${r.chain} (rule: ${r.rule})`);
  }
  const at = r.handle === undefined ? -1 : chain.rules.findIndex((x) => x.handle === r.handle);
  if (r.handle !== undefined && at < 0 && verb !== 'destroy') throw notFound(`rule handle ${r.handle} in chain ${r.chain}`);
  switch (verb) {
    case 'add':
    case 'insert': {
      checkRuleRefs(rs, r);
      const rule: NftRule = { kind: 'rule', chain: r.chain, rule: r.rule, comment: r.comment, handle: rs.allocHandle() };
      if (verb === 'add') chain.rules.splice(at < 0 ? chain.rules.length : at + 1, 0, rule);
      else chain.rules.splice(at < 0 ? 0 : at, 0, rule);
      addRuleRefs(rs, rule, +1);
      return;
    }
    case 'replace': {
      checkRuleRefs(rs, r);
      addRuleRefs(rs, chain.rules[at]!, -1);
      const rule: NftRule = { kind: 'rule', chain: r.chain, rule: r.rule, comment: r.comment, handle: r.handle };
      chain.rules[at] = rule;
      addRuleRefs(rs, rule, +1);
      return;
    }
    case 'delete':
    case 'destroy':
      if (at < 0) return;
      addRuleRefs(rs, chain.rules[at]!, -1);
      chain.rules.splice(at, 1);
      return;
    default:
      throw new NftError(`cannot ${verb} a rule`, 'invalid');
  }
}

function applySet(rs: Ruleset, verb: NftOp['verb'], s: NftSet | NftMap): void {
  const cur = rs.sets.get(s.name);
  const isMap = s.kind === 'map';
  switch (verb) {
    case 'add':
    case 'create':
      if (cur) {
        if (verb === 'create') throw exists(`${s.kind} ${s.name}`);
        if (cur.isMap !== isMap || cur.type !== s.type) throw exists(`${s.kind} ${s.name} exists with type ${cur.type}`);
        return;
      }
      // nft 1.0.6 rebuilds a typeof map's value from the kernel for every later command and fails
      // on a transport header there ("conflicting protocols specified: ip vs. th").
      if (/^typeof\s/.test(s.type) && /:.*\bth\b/.test(s.type)) throw unsupported(`${s.kind} ${s.name}: typeof value "${s.type.split(':')[1]!.trim()}" cannot be read back by nft 1.0.6: name a protocol (tcp dport)`);
      rs.sets.set(s.name, {
        name: s.name, isMap, type: s.type, flags: s.flags?.slice() ?? [], comment: s.comment, elements: new Map(),
        ...(s.kind === 'set' && s.timeout !== undefined ? { timeout: s.timeout } : {}),
      });
      return;
    case 'flush':
      if (!cur || cur.isMap !== isMap) throw notFound(`${s.kind} ${s.name}`);
      for (const e of cur.elements.values()) { const c = elementChainRef(e); if (c) bump(rs.chainRefs, c, -1); }
      cur.elements.clear();
      return;
    case 'delete':
    case 'destroy':
      if (!cur || cur.isMap !== isMap) { if (verb === 'destroy') return; throw notFound(`${s.kind} ${s.name}`); }
      if ((rs.setRefs.get(s.name) ?? 0) > 0) throw busy(`${s.kind} ${s.name} is still used by ${rs.setRefs.get(s.name)} rule(s)`);
      for (const e of cur.elements.values()) { const c = elementChainRef(e); if (c) bump(rs.chainRefs, c, -1); }
      rs.sets.delete(s.name);
      return;
    default:
      throw new NftError(`cannot ${verb} a ${s.kind}`, 'invalid');
  }
}

function applyElement(rs: Ruleset, verb: NftOp['verb'], e: NftElement): void {
  const set = rs.sets.get(e.set);
  if (!set) throw notFound(`set or map ${e.set}`);
  const k = joinKey(e.key);
  const cur = set.elements.get(k);
  switch (verb) {
    case 'add':
    case 'create': {
      if (e.key.length !== keyArity(set.type)) throw new NftError(`element ${k} does not match the type of ${e.set} (${set.type})`, 'invalid');
      if (set.isMap && e.value === undefined) throw new NftError(`element ${k} of map ${e.set} has no value`, 'invalid');
      if (!set.isMap && e.value !== undefined) throw new NftError(`element ${k} of set ${e.set} has a value`, 'invalid');
      const target = elementChainRef(e);
      if (target) {
        const c = rs.chains.get(target);
        if (!c) throw notFound(`chain ${target} (element ${k} of ${e.set})`);
        if (c.hook) throw unsupported(`verdict to base chain ${target}`);
      }
      if (cur) {
        if (verb === 'create') throw exists(`element ${k} in ${e.set}`);
        if (cur.value !== e.value) throw exists(`element ${k} in ${e.set} has value "${cur.value}", not "${e.value}"`);
        return;
      }
      set.elements.set(k, { kind: 'element', set: e.set, key: e.key.slice(), value: e.value, comment: e.comment });
      if (target) bump(rs.chainRefs, target, +1);
      return;
    }
    case 'delete':
      if (!cur) throw notFound(`element ${k} in ${e.set}`);
      set.elements.delete(k);
      { const c = elementChainRef(cur); if (c) bump(rs.chainRefs, c, -1); }
      return;
    default:
      throw new NftError(`cannot ${verb} an element`, 'invalid');
  }
}

// ---- whole-table checks (the kernel's chain validation) ---------------------------------------

interface HookCtx { type: string; hook: string }

/** Statements the kernel allows only from some hooks. */
function statementProblem(rule: string, ctx: HookCtx): string | undefined {
  const words = new Set(rule.split(/\s+/));
  // The dnat/redirect statement, not the `ct status dnat` match.
  if (/(?:^|\s)(?:dnat\s+(?:ip6?\s+)?to|redirect)\b/.test(rule) && !(ctx.type === 'nat' && (ctx.hook === 'prerouting' || ctx.hook === 'output'))) {
    return 'dnat is only allowed in nat chains on the prerouting and output hooks';
  }
  if ((words.has('masquerade') || words.has('snat')) && !(ctx.type === 'nat' && (ctx.hook === 'postrouting' || ctx.hook === 'input'))) {
    return 'masquerade/snat is only allowed in nat chains on the postrouting hook';
  }
  if (words.has('reject') && !['input', 'forward', 'output'].includes(ctx.hook)) {
    return 'reject is only allowed on the input, forward and output hooks';
  }
  if (words.has('fib') && !['prerouting', 'input', 'forward', 'output'].includes(ctx.hook)) {
    return 'fib is only allowed on the prerouting, input, forward and output hooks';
  }
  return undefined;
}

/** The chains a chain's rules can continue in: jump/goto targets, including through @verdict maps. */
export function successors(rs: Ruleset, chain: RulesetChain): string[] {
  const out: string[] = [];
  for (const r of chain.rules) {
    out.push(...chainRefsOf(r.rule));
    for (const s of setRefsOf(r.rule)) {
      const set = rs.sets.get(s);
      if (set?.isMap) for (const e of set.elements.values()) { const c = elementChainRef(e); if (c) out.push(c); }
    }
  }
  return out;
}

/** Throws like the kernel does at commit: loops (ELOOP) and statements used from the wrong hook. */
export function validateRuleset(rs: Ruleset): void {
  const checked = new Set<string>();
  for (const base of rs.chains.values()) {
    if (!base.hook || !base.type) continue;
    const ctx: HookCtx = { type: base.type, hook: base.hook };
    const onPath = new Set<string>();
    const visit = (c: RulesetChain) => {
      if (onPath.has(c.name)) throw new NftError(`Could not process rule: Too many links: jump loop through chain ${c.name}`, 'loop');
      const key = `${ctx.type}/${ctx.hook}/${c.name}`;
      if (checked.has(key)) return;
      onPath.add(c.name);
      for (const r of c.rules) {
        const p = statementProblem(r.rule, ctx);
        if (p) throw unsupported(`chain ${c.name} is reached from ${base.name} (${ctx.type} ${ctx.hook}): ${p}: ${r.rule}`);
      }
      for (const n of successors(rs, c)) { const next = rs.chains.get(n); if (next) visit(next); }
      onPath.delete(c.name);
      checked.add(key);
    };
    visit(base);
  }
}

// ---- dumping ------------------------------------------------------------------------------------

/**
 * The table as an `nft -f` script (sorted: chains, then sets and maps, each with its contents),
 * the way knftables' fake dumps. Loading it into an empty fake gives the same table back; base
 * chains' rules may jump to chains declared later, so the dump declares every chain first.
 */
export function dumpRuleset(rs: Ruleset | undefined): string {
  if (!rs) return '';
  const t = { family: rs.family, table: rs.table };
  const lines: string[] = [];
  const line = (op: NftOp) => lines.push(opText(op, t.family, t.table));
  line({ verb: 'add', obj: { kind: 'table', comment: rs.comment } });
  const chains = [...rs.chains.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const sets = [...rs.sets.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const c of chains) line({ verb: 'add', obj: chainObj(c) });
  for (const s of sets) {
    line({ verb: 'add', obj: setObj(s) });
    for (const k of [...s.elements.keys()].sort()) line({ verb: 'add', obj: s.elements.get(k)! });
  }
  for (const c of chains) for (const r of c.rules) line({ verb: 'add', obj: { kind: 'rule', chain: r.chain, rule: r.rule, comment: r.comment } });
  return lines.join('\n') + '\n';
}

export function chainObj(c: RulesetChain): NftChain {
  return {
    kind: 'chain', name: c.name,
    ...(c.type ? { type: c.type, hook: c.hook, priority: c.priority, ...(c.policy && c.policy !== 'accept' ? { policy: c.policy } : {}) } : {}),
    ...(c.comment !== undefined ? { comment: c.comment } : {}),
  };
}

export function setObj(s: RulesetSet): NftSet | NftMap {
  const common = { name: s.name, type: s.type, ...(s.flags.length ? { flags: s.flags } : {}), ...(s.comment !== undefined ? { comment: s.comment } : {}) };
  return s.isMap ? { kind: 'map', ...common } : { kind: 'set', ...common, ...(s.timeout !== undefined ? { timeout: s.timeout } : {}) };
}

// ---- reading text -------------------------------------------------------------------------------

/** Splits on `sep` outside quotes and braces. */
function splitTop(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0, q = false, cur = '';
  for (const ch of s) {
    if (ch === '"') q = !q;
    else if (!q && ch === '{') depth++;
    else if (!q && ch === '}') depth--;
    if (!q && depth === 0 && ch === sep) { out.push(cur); cur = ''; continue; }
    cur += ch;
  }
  if (cur.trim() !== '') out.push(cur);
  return out.map((x) => x.trim()).filter((x) => x !== '');
}

/** Takes a trailing `comment "…"` off `s`. */
function takeComment(s: string): { rest: string; comment?: string } {
  const m = /^(.*?)\s*\bcomment\s+"([^"]*)"\s*$/.exec(s);
  return m ? { rest: m[1]!, comment: m[2]! } : { rest: s };
}

/** One element as nft prints or reads it: `key [timeout …] [expires …] [comment "…"] [: value]`. */
export function parseElement(set: string, text: string, isMap: boolean): NftElement {
  let keyPart = text, value: string | undefined;
  if (isMap) {
    const i = text.lastIndexOf(' : ');
    if (i < 0) throw new Error(`map element without value: ${text}`);
    keyPart = text.slice(0, i);
    value = text.slice(i + 3).trim();
  }
  const { rest, comment } = takeComment(keyPart.replace(/\s+(?:timeout|expires)\s+\S+/g, ''));
  const key = rest.split(' . ').map((k) => k.trim());
  return { kind: 'element', set, key, ...(value !== undefined ? { value } : {}), ...(comment !== undefined ? { comment } : {}) };
}

function parseSpec(inner: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of splitTop(inner, ';')) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(part);
    if (!m) continue;
    if (m[1] === 'typeof') { out.type = `typeof ${m[2]!.trim()}`; continue; }
    if (m[1] === 'type' && /\bhook\b/.test(m[2]!)) {
      const h = /^(\w+)\s+hook\s+(\w+)\s+priority\s+(.+)$/.exec(m[2]!);
      if (h) { out.type = h[1]!; out.hook = h[2]!; out.priority = h[3]!.trim(); }
      continue;
    }
    out[m[1]!] = m[2]!.trim();
  }
  return out;
}

const unquote = (s: string | undefined) => (s === undefined ? undefined : s.replace(/^"(.*)"$/, '$1'));

/** Parses the single-line commands a Transaction renders (and the fake dumps) into ops. */
export function parseScript(text: string): { family: NftFamily; table: string; ops: NftOp[] } {
  let family: NftFamily | undefined, table: string | undefined;
  const ops: NftOp[] = [];
  for (const raw of text.split('\n')) {
    const lineText = raw.trim();
    if (lineText === '' || lineText.startsWith('#')) continue;
    const m = /^(add|create|insert|replace|flush|delete|destroy)\s+(table|chain|rule|set|map|element)\s+(\w+)\s+(\S+)\s*(.*)$/.exec(lineText);
    if (!m) throw new Error(`cannot parse nft command: ${lineText}`);
    const verb = m[1] as NftOp['verb'], kind = m[2]!, fam = m[3] as NftFamily, tbl = m[4]!;
    let rest = m[5]!;
    if (family === undefined) { family = fam; table = tbl; }
    else if (family !== fam || table !== tbl) throw new Error(`nft script addresses several tables (${family} ${table}, ${fam} ${tbl})`);
    const block = () => { const b = /^(\S+)\s*(?:\{([\s\S]*)\})?$/.exec(rest); return { name: b?.[1] ?? rest, spec: parseSpec(b?.[2] ?? '') }; };
    switch (kind) {
      case 'table': {
        const spec = parseSpec(/\{([\s\S]*)\}/.exec(rest)?.[1] ?? '');
        ops.push({ verb, obj: { kind: 'table', ...(spec.comment ? { comment: unquote(spec.comment) } : {}) } });
        break;
      }
      case 'chain': {
        const { name, spec } = block();
        ops.push({ verb, obj: {
          kind: 'chain', name,
          ...(spec.type ? { type: spec.type as NftChain['type'], hook: spec.hook as NftChain['hook'], priority: spec.priority } : {}),
          ...(spec.policy ? { policy: spec.policy as NftChain['policy'] } : {}),
          ...(spec.comment ? { comment: unquote(spec.comment) } : {}),
        } });
        break;
      }
      case 'set':
      case 'map': {
        const { name, spec } = block();
        ops.push({ verb, obj: {
          kind, name, type: spec.type ?? '',
          ...(spec.flags ? { flags: spec.flags.split(',').map((f) => f.trim()) } : {}),
          ...(kind === 'set' && spec.timeout ? { timeout: parseDuration(spec.timeout) } : {}),
          ...(spec.comment ? { comment: unquote(spec.comment) } : {}),
        } as NftSet | NftMap });
        break;
      }
      case 'rule': {
        const r = /^(\S+)(?:\s+handle\s+(\d+))?\s*(.*)$/.exec(rest)!;
        const { rest: body, comment } = takeComment(r[3]!);
        ops.push({ verb, obj: { kind: 'rule', chain: r[1]!, rule: body, ...(comment !== undefined ? { comment } : {}), ...(r[2] ? { handle: Number(r[2]) } : {}) } });
        break;
      }
      case 'element': {
        const e = /^(\S+)\s*\{([\s\S]*)\}$/.exec(rest);
        if (!e) throw new Error(`cannot parse element command: ${lineText}`);
        for (const item of splitTop(e[2]!, ',')) {
          const isMap = / : /.test(item);
          ops.push({ verb, obj: parseElement(e[1]!, item, isMap) });
        }
        break;
      }
    }
    rest = '';
  }
  if (family === undefined || table === undefined) throw new Error('empty nft script');
  return { family, table, ops };
}

/**
 * Parses `nft list table FAMILY NAME` output (as nft 1.0 prints it) into a Ruleset. Rule text
 * is kept as printed (nft normalises it, e.g. `0x4000` → `0x00004000`); handles are dropped.
 */
export function parseListing(text: string): Ruleset | undefined {
  const lines = text.split('\n').map((l) => l.replace(/\s+# handle \d+\s*$/, '').trim());
  let i = 0;
  while (i < lines.length && lines[i] === '') i++;
  if (i >= lines.length) return undefined;
  const head = /^table\s+(\w+)\s+(\S+)\s*\{$/.exec(lines[i]!);
  if (!head) throw new Error(`not an nft table listing: ${lines[i]}`);
  const rs = new Ruleset(head[1] as NftFamily, head[2]!);
  i++;
  for (; i < lines.length; i++) {
    const l = lines[i]!;
    if (l === '' || l === '}') continue;
    const cm = /^comment\s+"([^"]*)"$/.exec(l);
    if (cm) { rs.comment = cm[1]; continue; }
    const obj = /^(chain|set|map)\s+(\S+)\s*\{$/.exec(l);
    if (!obj) throw new Error(`unexpected line in nft listing: ${l}`);
    const kind = obj[1]!, name = obj[2]!;
    if (kind === 'chain') {
      const c: RulesetChain = { name, rules: [] };
      for (i++; i < lines.length && lines[i] !== '}'; i++) {
        const b = lines[i]!;
        if (b === '') continue;
        const base = /^type\s+(\w+)\s+hook\s+(\w+)(?:\s+device\s+\S+)?\s+priority\s+([^;]+);(?:\s*policy\s+(\w+);)?$/.exec(b);
        if (base) {
          c.type = base[1] as RulesetChain['type']; c.hook = base[2] as RulesetChain['hook'];
          c.priority = priorityValue(base[3]!.trim()); c.policy = (base[4] ?? 'accept') as RulesetChain['policy'];
          continue;
        }
        const ccm = /^comment\s+"([^"]*)"$/.exec(b);
        if (ccm && c.rules.length === 0) { c.comment = ccm[1]; continue; }
        const { rest, comment } = takeComment(b);
        c.rules.push({ kind: 'rule', chain: name, rule: rest, ...(comment !== undefined ? { comment } : {}), handle: rs.allocHandle() });
      }
      rs.chains.set(name, c);
    } else {
      const s: RulesetSet = { name, isMap: kind === 'map', type: '', flags: [], elements: new Map() };
      for (i++; i < lines.length && lines[i] !== '}'; i++) {
        const b = lines[i]!;
        let m: RegExpExecArray | null;
        if ((m = /^type\s+(.+)$/.exec(b))) s.type = m[1]!.trim();
        else if ((m = /^typeof\s+(.+)$/.exec(b))) s.type = `typeof ${m[1]!.trim()}`;
        else if ((m = /^flags\s+(.+)$/.exec(b))) s.flags = m[1]!.split(',').map((f) => f.trim());
        else if ((m = /^timeout\s+(\S+)$/.exec(b))) s.timeout = parseDuration(m[1]!);
        else if ((m = /^comment\s+"([^"]*)"$/.exec(b))) s.comment = m[1];
        else if (/^elements\s*=\s*\{/.test(b)) {
          let body = b.replace(/^elements\s*=\s*\{/, '');
          while (!/\}\s*$/.test(body) && i + 1 < lines.length) body += ' ' + lines[++i];
          body = body.replace(/\}\s*$/, '');
          for (const item of splitTop(body, ',')) {
            const e = parseElement(name, item, s.isMap);
            s.elements.set(joinKey(e.key), e);
          }
        }
      }
      rs.sets.set(name, s);
    }
  }
  // Reference counts, so a listed table can be loaded into the fake and changed further.
  for (const c of rs.chains.values()) for (const r of c.rules) addRuleRefs(rs, r, +1);
  for (const s of rs.sets.values()) for (const e of s.elements.values()) { const c = elementChainRef(e); if (c) bump(rs.chainRefs, c, +1); }
  return rs;
}
