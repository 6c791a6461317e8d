// An in-memory nftables backend for tests and the tracer (knftables' Fake, with stricter
// checks): a transaction is applied to a copy of the table with the kernel's checks
// (nft-ruleset.ts) and the copy replaces the table only if every op and the final validation
// pass — all or nothing, as `nft -f` is.

import { Transaction, type NftBackend, type NftFamily, type NftNames, NftError } from './nft.js';
import {
  applyOp, cloneTableState, dumpRuleset, parseListing, parseScript, validateRuleset, type Ruleset, type TableState,
} from './nft-ruleset.js';

export interface FakeNftOptions {
  /** Check jump loops and per-hook statements after every transaction (default true). */
  validate?: boolean;
}

export class FakeNft implements NftBackend {
  private state: TableState;
  /** Every transaction that was run successfully, for assertions on what a sync sent. */
  readonly history: Transaction[] = [];
  private readonly validate: boolean;

  constructor(readonly family: NftFamily, readonly table: string, opts: FakeNftOptions = {}) {
    this.state = { family, table, rs: undefined };
    this.validate = opts.validate ?? true;
  }

  newTransaction(): Transaction { return new Transaction(this.family, this.table); }

  /** The current table (undefined if there is none). Read only: change it through run(). */
  get ruleset(): Ruleset | undefined { return this.state.rs; }

  async run(tx: Transaction): Promise<void> { this.runSync(tx); }

  /** run(), synchronously. */
  runSync(tx: Transaction): void {
    if (tx.family !== this.family || tx.table !== this.table) {
      throw new NftError(`transaction for ${tx.family} ${tx.table} run on ${this.family} ${this.table}`, 'invalid');
    }
    const next = cloneTableState(this.state);
    tx.ops.forEach((op, i) => {
      try {
        applyOp(next, op);
      } catch (e) {
        if (e instanceof NftError) throw new NftError(`op ${i + 1} of ${tx.size} failed: ${e.message}`, e.kind);
        throw e;
      }
    });
    if (this.validate && next.rs) validateRuleset(next.rs);
    this.state = next;
    this.history.push(tx);
  }

  async list(): Promise<NftNames> {
    const rs = this.state.rs;
    if (!rs) throw new NftError(`No such file or directory: table ${this.family} ${this.table}`, 'not-found');
    const sets = [...rs.sets.values()];
    return { chains: [...rs.chains.keys()], sets: sets.filter((s) => !s.isMap).map((s) => s.name), maps: sets.filter((s) => s.isMap).map((s) => s.name) };
  }

  async listing(): Promise<string> { return this.dump(); }

  /** The table as a sorted `nft -f` script ('' when there is no table). */
  dump(): string { return dumpRuleset(this.state.rs); }

  /** Replaces the table with a dump (or a transaction's text), as if loaded into an empty kernel. */
  load(script: string): void {
    const st: TableState = { family: this.family, table: this.table, rs: undefined };
    if (script.trim() !== '') {
      const { family, table, ops } = parseScript(script);
      if (family !== this.family || table !== this.table) throw new Error(`script is for ${family} ${table}, not ${this.family} ${this.table}`);
      for (const op of ops) applyOp(st, op);
      if (this.validate && st.rs) validateRuleset(st.rs);
    }
    this.state = st;
  }

  /** Replaces the table with what `nft list table` printed (e.g. read back from a node). */
  loadListing(listing: string): void {
    const rs = parseListing(listing);
    if (rs && (rs.family !== this.family || rs.table !== this.table)) throw new Error(`listing is for ${rs.family} ${rs.table}`);
    this.state = { family: this.family, table: this.table, rs };
  }
}
