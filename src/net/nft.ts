// A small nftables layer, shaped like knftables: typed objects, a Transaction that renders to
// the text `nft -f` reads, and backends that run it — the real one (`nft -f -`, optionally
// inside a network namespace) and an in-memory fake with the kernel's checks (nft-fake.ts).
//
// Every transaction addresses one table (family + name), so a component can never touch
// anything outside its own table. Rules are kept as nft text ("ip daddr 10.0.0.1 jump x"): the
// fake and the tracer read the few shapes their component emits, and the real kernel parses
// the rest. Comments are allowed on every object, as STYLE.md item 4 asks.

import { spawn } from 'node:child_process';
import { netnsArgv, run, type ExecOptions } from './exec.js';

export type NftFamily = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';
export type Verb = 'add' | 'create' | 'insert' | 'replace' | 'flush' | 'delete' | 'destroy';

export interface NftTable { kind: 'table'; comment?: string }

export interface NftChain {
  kind: 'chain';
  name: string;
  /** Base chains only: type, hook and priority (a number or a name such as "dstnat"). */
  type?: 'filter' | 'nat' | 'route';
  hook?: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress';
  priority?: number | string;
  policy?: 'accept' | 'drop';
  comment?: string;
}

export interface NftRule {
  kind: 'rule';
  chain: string;
  /** The rule body as nft text, without the comment. */
  rule: string;
  comment?: string;
  /** For replace/delete (required) and insert/add (position: the rule is placed relative to it). */
  handle?: number;
}

export interface NftSet {
  kind: 'set';
  name: string;
  /** "ipv4_addr", "ipv4_addr . inet_proto . inet_service", … */
  type: string;
  flags?: string[];
  /** Default element timeout, seconds. */
  timeout?: number;
  comment?: string;
}

export interface NftMap {
  kind: 'map';
  name: string;
  /** "ipv4_addr . inet_proto . inet_service : verdict", or "typeof ip daddr . numgen random mod 1 : ip daddr . th dport" */
  type: string;
  flags?: string[];
  comment?: string;
}

export interface NftElement {
  kind: 'element';
  /** The set or map the element belongs to. */
  set: string;
  key: string[];
  /** Maps only: the value ("goto chain", "drop", "10.0.0.1", …). */
  value?: string;
  comment?: string;
}

export type NftObject = NftTable | NftChain | NftRule | NftSet | NftMap | NftElement;

export interface NftOp { verb: Verb; obj: NftObject }

/** nft's named priorities (for the families podnet uses). */
export const PRIORITY_NAMES: Record<string, number> = {
  raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100,
};

/** "dstnat", "dstnat - 10", "-110", 5 → a number. */
export function priorityValue(p: number | string | undefined): number {
  if (p === undefined) return 0;
  if (typeof p === 'number') return p;
  const m = /^\s*([a-z]+)?\s*(?:([+-])\s*(\d+))?\s*$/.exec(p);
  if (m && m[1] !== undefined) {
    const base = PRIORITY_NAMES[m[1]];
    if (base === undefined) throw new Error(`unknown nftables priority "${p}"`);
    return base + (m[2] ? (m[2] === '-' ? -1 : 1) * Number(m[3]) : 0);
  }
  const n = Number(p);
  if (!Number.isInteger(n)) throw new Error(`bad nftables priority "${p}"`);
  return n;
}

/** Chain, set and map names nft accepts without quoting. */
const NAME_RE = /^[A-Za-z_.][A-Za-z0-9_./-]*$/;
/** Linux's NFT_NAME_MAXLEN minus the terminating NUL. */
export const NAME_LENGTH_MAX = 255;

export function checkName(what: string, name: string): void {
  if (!NAME_RE.test(name)) throw new Error(`invalid nftables ${what} name ${JSON.stringify(name)}`);
  if (name.length > NAME_LENGTH_MAX) throw new Error(`nftables ${what} name too long (${name.length} > ${NAME_LENGTH_MAX}): ${name}`);
}

function quote(comment: string): string {
  // nft strings cannot escape a double quote; comments are ours, so just refuse to break them.
  return `"${comment.replace(/"/g, "'")}"`;
}

/** "a . b . c" as nft joins concatenated keys. */
export const joinKey = (key: readonly string[]): string => key.join(' . ');

export function elementText(e: NftElement, withValue: boolean): string {
  let s = joinKey(e.key);
  if (e.comment !== undefined && withValue) s += ` comment ${quote(e.comment)}`;
  if (withValue && e.value !== undefined) s += ` : ${e.value}`;
  return s;
}

function specBlock(parts: string[]): string {
  return parts.length ? ` { ${parts.map((p) => `${p} ;`).join(' ')} }` : '';
}

/** One op as the single line `nft -f` reads. `destroy` is rendered as add + delete (nft < 1.0.8 has no destroy). */
export function opText(op: NftOp, family: NftFamily, table: string): string {
  const t = `${family} ${table}`;
  const { verb, obj } = op;
  switch (obj.kind) {
    case 'table': {
      if (verb === 'destroy') return `add table ${t}\ndelete table ${t}`;
      const spec = verb === 'add' || verb === 'create' ? specBlock(obj.comment !== undefined ? [`comment ${quote(obj.comment)}`] : []) : '';
      return `${verb} table ${t}${spec}`;
    }
    case 'chain': {
      if (verb === 'destroy') return `add chain ${t} ${obj.name}\ndelete chain ${t} ${obj.name}`;
      if (verb !== 'add' && verb !== 'create') return `${verb} chain ${t} ${obj.name}`;
      const parts: string[] = [];
      if (obj.type) {
        parts.push(`type ${obj.type} hook ${obj.hook} priority ${obj.priority ?? 0}`);
        if (obj.policy) parts.push(`policy ${obj.policy}`);
      }
      if (obj.comment !== undefined) parts.push(`comment ${quote(obj.comment)}`);
      return `${verb} chain ${t} ${obj.name}${specBlock(parts)}`;
    }
    case 'rule': {
      const c = obj.comment !== undefined ? ` comment ${quote(obj.comment)}` : '';
      switch (verb) {
        case 'add':
        case 'insert':
          return `${verb} rule ${t} ${obj.chain}${obj.handle !== undefined ? ` handle ${obj.handle}` : ''} ${obj.rule}${c}`;
        case 'replace':
          return `replace rule ${t} ${obj.chain} handle ${obj.handle} ${obj.rule}${c}`;
        case 'delete':
        case 'destroy':
          return `${verb} rule ${t} ${obj.chain} handle ${obj.handle}`;
        default:
          throw new Error(`nft: cannot ${verb} a rule`);
      }
    }
    case 'set':
    case 'map': {
      if (verb === 'destroy') return `add ${obj.kind} ${t} ${obj.name} { type ${obj.type} ; }\ndelete ${obj.kind} ${t} ${obj.name}`;
      if (verb !== 'add' && verb !== 'create') return `${verb} ${obj.kind} ${t} ${obj.name}`;
      const parts = [obj.type.startsWith('typeof ') ? obj.type : `type ${obj.type}`];
      if (obj.flags?.length) parts.push(`flags ${obj.flags.join(',')}`);
      if (obj.kind === 'set' && obj.timeout !== undefined) parts.push(`timeout ${obj.timeout}s`);
      if (obj.comment !== undefined) parts.push(`comment ${quote(obj.comment)}`);
      return `${verb} ${obj.kind} ${t} ${obj.name}${specBlock(parts)}`;
    }
    case 'element': {
      const withValue = verb === 'add' || verb === 'create';
      return `${verb} element ${t} ${obj.set} { ${elementText(obj, withValue)} }`;
    }
  }
}

function validateOp(op: NftOp): void {
  const { verb, obj } = op;
  switch (obj.kind) {
    case 'table':
      if (verb === 'insert' || verb === 'replace') throw new Error(`nft: cannot ${verb} a table`);
      break;
    case 'chain':
      checkName('chain', obj.name);
      if (verb === 'insert' || verb === 'replace') throw new Error(`nft: cannot ${verb} a chain`);
      if (obj.type && !obj.hook) throw new Error(`nft: base chain ${obj.name} needs a hook`);
      break;
    case 'rule':
      checkName('chain', obj.chain);
      if (verb === 'flush' || verb === 'create') throw new Error(`nft: cannot ${verb} a rule`);
      if ((verb === 'replace' || verb === 'delete' || verb === 'destroy') && obj.handle === undefined) {
        throw new Error(`nft: ${verb} rule needs a handle`);
      }
      if (/[\n;]/.test(obj.rule)) throw new Error(`nft: a rule is one statement list on one line: ${JSON.stringify(obj.rule)}`);
      break;
    case 'set':
    case 'map':
      checkName(obj.kind, obj.name);
      if (verb === 'insert' || verb === 'replace') throw new Error(`nft: cannot ${verb} a ${obj.kind}`);
      if (obj.kind === 'map' && !obj.type.includes(':')) throw new Error(`nft: map ${obj.name} type needs "key : value"`);
      break;
    case 'element':
      checkName('set', obj.set);
      if (verb !== 'add' && verb !== 'create' && verb !== 'delete' && verb !== 'destroy') throw new Error(`nft: cannot ${verb} an element`);
      if (verb === 'destroy') throw new Error('nft: destroy element is not supported (nft < 1.0.8): use delete');
      if (obj.key.length === 0) throw new Error(`nft: element of ${obj.set} has no key`);
      break;
  }
}

/**
 * A list of operations on one table, applied atomically by a backend. Methods return the
 * transaction so calls chain. Invalid combinations (insert a chain, replace without a handle, …)
 * throw at once, naming the op.
 */
export class Transaction {
  readonly ops: NftOp[] = [];
  constructor(readonly family: NftFamily, readonly table: string) {}

  private push(verb: Verb, obj: NftObject): this {
    const op = { verb, obj };
    validateOp(op);
    this.ops.push(op);
    return this;
  }

  /** Creates the object if missing (an existing one is kept); a rule or element is appended/added. */
  add(obj: NftObject): this { return this.push('add', obj); }
  /** Like add, but fails if the object already exists. */
  create(obj: Exclude<NftObject, NftRule>): this { return this.push('create', obj); }
  /** Prepends a rule (or inserts it before the rule with `handle`). */
  insert(rule: NftRule): this { return this.push('insert', rule); }
  /** Replaces the rule with `rule.handle`. */
  replace(rule: NftRule): this { return this.push('replace', rule); }
  /** Removes a chain's rules, a set's or map's elements, or every chain's rules of the table. */
  flush(obj: NftTable | NftChain | NftSet | NftMap): this { return this.push('flush', obj); }
  /** Deletes the object; fails if it does not exist (or, for a chain/set, is still referenced). */
  delete(obj: NftObject): this { return this.push('delete', obj); }
  /** Deletes the object if it exists. */
  destroy(obj: NftTable | NftChain | NftSet | NftMap | NftRule): this { return this.push('destroy', obj); }

  /**
   * Adds elements to one set: the set name is checked once, each element only for a key. For
   * the bulk of a full sync (100,000 endpoint elements), where per-op checks are measurable.
   */
  addElements(set: string, elements: Iterable<{ key: string[]; value?: string; comment?: string }>): this {
    checkName('set', set);
    for (const e of elements) {
      if (e.key.length === 0) throw new Error(`nft: element of ${set} has no key`);
      const obj: NftElement = e.comment !== undefined
        ? { kind: 'element', set, key: e.key, value: e.value, comment: e.comment }
        : { kind: 'element', set, key: e.key, value: e.value };
      this.ops.push({ verb: 'add', obj });
    }
    return this;
  }

  get size(): number { return this.ops.length; }

  /**
   * The `nft -f` input. Consecutive element ops of one verb on one set become one command
   * (`add element T S { a, b, … }`): nft 1.0.6 spends ~100 µs per command, so a full sync with
   * 100,000 endpoints costs seconds more as one command per element.
   */
  text(): string {
    const lines: string[] = [];
    for (let i = 0; i < this.ops.length;) {
      const op = this.ops[i]!;
      const o = op.obj;
      if (o.kind === 'element') {
        const withValue = op.verb === 'add' || op.verb === 'create';
        const items: string[] = [];
        let j = i;
        for (; j < this.ops.length && items.length < ELEMENTS_PER_COMMAND; j++) {
          const n = this.ops[j]!;
          if (n.verb !== op.verb || n.obj.kind !== 'element' || n.obj.set !== o.set) break;
          items.push(elementText(n.obj, withValue));
        }
        lines.push(`${op.verb} element ${this.family} ${this.table} ${o.set} { ${items.join(', ')} }`);
        i = j;
        continue;
      }
      lines.push(opText(op, this.family, this.table));
      i++;
    }
    return lines.join('\n') + (lines.length ? '\n' : '');
  }
}

/** Elements per batched element command in Transaction.text(). */
const ELEMENTS_PER_COMMAND = 10_000;

/** The errno-style class of an nft failure, as far as the message tells. */
export type NftErrorKind = 'not-found' | 'exists' | 'busy' | 'invalid' | 'loop' | 'unsupported' | 'other';

export class NftError extends Error {
  constructor(message: string, readonly kind: NftErrorKind = 'other') {
    super(message);
    this.name = 'NftError';
  }
}

export function nftErrorKind(message: string): NftErrorKind {
  if (/No such file or directory|does not exist/i.test(message)) return 'not-found';
  if (/File exists/i.test(message)) return 'exists';
  if (/Device or resource busy/i.test(message)) return 'busy';
  if (/Too many links/i.test(message)) return 'loop';
  if (/Operation not supported/i.test(message)) return 'unsupported';
  if (/syntax error|Error:/i.test(message)) return 'invalid';
  return 'other';
}

export const isNftNotFound = (e: unknown): boolean => e instanceof NftError && e.kind === 'not-found';

/** The names of one table's objects. */
export interface NftNames { chains: string[]; sets: string[]; maps: string[] }

/** What a component needs from nftables: run a transaction, list its objects, dump the table. */
export interface NftBackend {
  readonly family: NftFamily;
  readonly table: string;
  newTransaction(): Transaction;
  /** Applies the transaction atomically; rejects with NftError and changes nothing on failure. */
  run(tx: Transaction): Promise<void>;
  /** The table's chains, sets and maps; rejects with a not-found NftError if there is no table. */
  list(): Promise<NftNames>;
  /** The table as `nft list table` prints it (without handles); '' if there is no table. */
  listing(): Promise<string>;
}

/** Runs the real `nft` (inside `netns` when given). */
export class RealNft implements NftBackend {
  constructor(readonly family: NftFamily, readonly table: string, readonly netns?: string,
    private readonly execOpts: Omit<ExecOptions, 'netns' | 'input' | 'allowFailure'> = {}) {
    checkName('table', table);
  }

  newTransaction(): Transaction { return new Transaction(this.family, this.table); }

  async run(tx: Transaction): Promise<void> {
    if (tx.family !== this.family || tx.table !== this.table) throw new Error(`nft: transaction for ${tx.family} ${tx.table} run on ${this.family} ${this.table}`);
    if (tx.size === 0) return;
    const r = await run('nft', ['-f', '-'], { ...this.execOpts, netns: this.netns, input: tx.text(), allowFailure: true });
    if (r.code !== 0) {
      const msg = r.stderr.trim() || `nft exited with code ${r.code}`;
      throw new NftError(`nft -f failed on table ${this.family} ${this.table}: ${msg}`, nftErrorKind(msg));
    }
  }

  async list(): Promise<NftNames> {
    const r = await run('nft', ['-j', 'list', 'table', this.family, this.table], { ...this.execOpts, netns: this.netns, allowFailure: true });
    if (r.code !== 0) {
      const msg = r.stderr.trim();
      throw new NftError(`nft list table ${this.family} ${this.table}: ${msg}`, nftErrorKind(msg));
    }
    const out: NftNames = { chains: [], sets: [], maps: [] };
    const doc = JSON.parse(r.stdout) as { nftables?: Record<string, { name?: string }>[] };
    for (const item of doc.nftables ?? []) {
      if (item.chain?.name) out.chains.push(item.chain.name);
      if (item.set?.name) out.sets.push(item.set.name);
      if (item.map?.name) out.maps.push(item.map.name);
    }
    return out;
  }

  async listing(): Promise<string> {
    const r = await run('nft', ['list', 'table', this.family, this.table], { ...this.execOpts, netns: this.netns, allowFailure: true });
    if (r.code !== 0) {
      if (nftErrorKind(r.stderr) === 'not-found') return '';
      throw new NftError(`nft list table ${this.family} ${this.table}: ${r.stderr.trim()}`, nftErrorKind(r.stderr));
    }
    return r.stdout;
  }
}

/** Seconds from nft's duration syntax ("3h", "1d2h3m4s", "10800s", "500ms" → 0.5). */
export function parseDuration(s: string): number {
  let total = 0;
  const re = /(\d+)(ms|d|h|m|s)/g;
  let m: RegExpExecArray | null;
  let seen = '';
  while ((m = re.exec(s)) !== null) {
    seen += m[0];
    const n = Number(m[1]);
    total += m[2] === 'd' ? n * 86400 : m[2] === 'h' ? n * 3600 : m[2] === 'm' ? n * 60 : m[2] === 's' ? n : n / 1000;
  }
  if (seen !== s) throw new Error(`bad nft duration "${s}"`);
  return total;
}

/**
 * The second step of retiring chains (proxy and netpol flush a chain they no longer want at once
 * and delete it a while later, when no rule of an earlier transaction can still jump to it):
 * one transaction deleting the chains flushed at least `minAgeMs` ago, and the state without
 * them; undefined when none is due.
 */
export function planStaleChainCleanup<S extends { stale: Map<string, number> }>(table: string, installed: S, now: number,
  minAgeMs = 1000): { tx: Transaction; installed: S } | undefined {
  const due = [...installed.stale].filter(([, t]) => now - t >= minAgeMs).map(([n]) => n).sort();
  if (due.length === 0) return undefined;
  const tx = new Transaction('inet', table);
  for (const name of due) tx.delete({ kind: 'chain', name });
  const stale = new Map(installed.stale);
  for (const name of due) stale.delete(name);
  return { tx, installed: { ...installed, stale } };
}

/** Transactions longer than this (characters of nft text) go through `nft -f` even in a session. */
export const SESSION_TEXT_MAX = 64 * 1024;

/**
 * A real backend that keeps one `nft -i` running (in `netns`) for small transactions. With nft
 * 1.0.6 a new `nft -f` (and `ip netns exec`) costs 10-30 ms before it does anything; the session
 * pays that once. nft still reloads its cache of the table for every transaction (our own commit
 * changes the ruleset generation), so the table must stay small in what that cache holds — chains
 * and sets — for a transaction to stay cheap.
 *
 * Protocol: one transaction is its commands joined by "; " on ONE line, which nft runs as one
 * batch, all or nothing as with `nft -f`. After it goes a fence line that is no command; nft
 * answers it on stderr, without touching netlink, with a syntax error quoting it, so everything
 * on stderr before that answer is what the transaction said. Big transactions (full syncs) use
 * `nft -f`. A session that died or hung fails its transaction (whether nft applied it is
 * unknown, so the caller's next sync is a full one) and the next transaction starts a new one;
 * after close() everything goes through `nft -f`. Used by the proxy and by netpol.
 */
export class NftSession implements NftBackend {
  private readonly file: RealNft;
  private proc: import('node:child_process').ChildProcessWithoutNullStreams | undefined;
  private stderr = '';
  private waiting: { fence: string; done: (said: string) => void; fail: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Transactions that went through the session, through `nft -f`, session starts, and starts after the first (a session that died or hung). */
  readonly counts = { session: 0, file: 0, starts: 0, restarts: 0 };

  constructor(readonly family: NftFamily, readonly table: string, readonly netns?: string, private readonly timeoutMs = 10_000) {
    this.file = new RealNft(family, table, netns);
  }

  newTransaction(): Transaction { return this.file.newTransaction(); }
  list(): Promise<NftNames> { return this.file.list(); }
  listing(): Promise<string> { return this.file.listing(); }

  /** Transactions run one at a time, in order. */
  run(tx: Transaction): Promise<void> {
    const next = this.queue.then(() => this.runOne(tx));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async runOne(tx: Transaction): Promise<void> {
    if (tx.family !== this.family || tx.table !== this.table) throw new Error(`nft: transaction for ${tx.family} ${tx.table} run on ${this.family} ${this.table}`);
    if (tx.size === 0) return;
    const text = tx.text();
    if (this.closed || text.length > SESSION_TEXT_MAX) {
      // Start the session meanwhile, so its start-up is not in the way of the next small change.
      if (!this.closed) await this.ensureStarted().catch(() => undefined);
      this.counts.file++;
      return this.file.run(tx);
    }
    let said: string;
    try {
      said = await this.exchange(text.trimEnd().split('\n').join('; '));
    } catch (e) {
      // The session died or hung: whether the batch was applied is unknown, so report failure
      // (the proxier's next sync is then a full one, through `nft -f` or a new session).
      throw e instanceof NftError ? e : new NftError(String(e));
    }
    this.counts.session++;
    // Errors start with "Error:", or with a location ("internal:0:0-0: Error: …").
    if (/\bError:/.test(said)) {
      const msg = said.trim();
      throw new NftError(`nft (session) failed on table ${this.family} ${this.table}: ${msg}`, nftErrorKind(msg));
    }
  }

  /**
   * Starts the `nft -i` process now (when not closed), so that a transaction soon after does not
   * wait for its start-up (10-150 ms with `ip netns exec`); the proxy calls it at the start of a
   * full sync, while it computes the rules.
   */
  async warmUp(): Promise<void> {
    if (this.closed) return;
    try { await this.ensureStarted(); } catch { /* the next transaction reports it */ }
  }

  private async ensureStarted(): Promise<import('node:child_process').ChildProcessWithoutNullStreams> {
    // No await before this.proc is set: two callers at once (warmUp, a transaction) share one process.
    if (this.proc) return this.proc;
    const [cmd, ...args] = netnsArgv('nft', ['-i'], this.netns);
    const p = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    if (this.counts.starts++ > 0) this.counts.restarts++;
    this.proc = p;
    this.stderr = '';
    p.stdout.resume(); // transactions print nothing
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => { this.stderr += d; this.answer(); });
    p.stdin.on('error', () => undefined); // reported by 'exit'
    p.on('error', (e) => this.lost(p, new NftError(`nft -i: ${e.message}`)));
    p.on('exit', (code, sig) => this.lost(p, new NftError(`nft -i exited (${code ?? sig})${this.stderr.trim() ? `: ${this.stderr.trim().slice(0, 300)}` : ''}`)));
    return p;
  }

  private lost(p: import('node:child_process').ChildProcessWithoutNullStreams, e: Error): void {
    if (this.proc !== p) return;
    this.proc = undefined;
    const w = this.waiting;
    this.waiting = undefined;
    if (w) { clearTimeout(w.timer); w.fail(e); }
  }

  /** Resolves the waiting transaction once the fence's answer ("…\n<fence>\n<carets>\n") is in. */
  private answer(): void {
    const w = this.waiting;
    if (!w) return;
    const at = this.stderr.indexOf(`\n${w.fence}\n`);
    if (at < 0) return;
    const end = this.stderr.indexOf('\n', at + w.fence.length + 2);
    if (end < 0) return;
    const before = this.stderr.slice(0, at);
    const fenceError = before.lastIndexOf('Error:');
    this.stderr = this.stderr.slice(end + 1);
    this.waiting = undefined;
    clearTimeout(w.timer);
    w.done(fenceError >= 0 ? before.slice(0, fenceError) : before);
  }

  private async exchange(line: string): Promise<string> {
    const p = await this.ensureStarted();
    const fence = `podnet-fence-${++this.seq}`;
    return new Promise<string>((done, fail) => {
      const timer = setTimeout(() => {
        this.lost(p, new NftError(`nft -i did not answer within ${this.timeoutMs} ms`));
        if (p.pid !== undefined) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
      }, this.timeoutMs);
      this.waiting = { fence, done, fail, timer };
      p.stdin.write(`${line}\n${fence}\n`);
    });
  }

  /** Ends the session (nft exits at the end of its input); later transactions use `nft -f`. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const p = this.proc;
    this.proc = undefined;
    if (!p) return;
    await new Promise<void>((done) => {
      const t = setTimeout(() => { if (p.pid !== undefined) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } } done(); }, 2000);
      p.once('exit', () => { clearTimeout(t); done(); });
      p.stdin.end();
    });
  }
}
