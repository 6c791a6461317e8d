// A long-lived `nft -i` for small transactions (issue 7). With nft 1.0.6 every `nft -f` process
// costs ~20 ms before it does anything (start-up, then the set cache it loads for element
// commands: ~100 KB of set definitions for the 1,000-pod, 500-policy bench table); a session
// started once pays the start-up once, so a pod's element transaction takes ~4 ms instead of
// ~25 (docs/benchmarks.md `## netpol`). The set cache is still reloaded per transaction, because
// our own commit changes the ruleset generation; it is what remains of the time.
//
// Protocol: one transaction = its commands joined by "; " on ONE line, which nft runs as one
// batch — all or nothing, as with `nft -f` (an error in any command aborts the whole line).
// After it we write a fence line that is not a command ("podnet-fence-N"): nft answers it, on
// stderr and without touching netlink, with a syntax error that quotes it, and everything on
// stderr before that answer is what the transaction said. Errors start with "Error:".
//
// Big transactions (full syncs: thousands of operations) and listings use `nft -f` / `nft list`
// as before (RealNft). Own module rather than a change to src/net/nft.ts, which another piece of
// work owns: it implements the same NftBackend interface.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { netnsArgv } from '../net/exec.js';
import { NftError, nftErrorKind, RealNft, type NftBackend, type NftFamily, type NftNames, type Transaction } from '../net/nft.js';

/** Transactions longer than this (characters of nft text) go through `nft -f`. */
export const SESSION_MAX_TEXT = 64 * 1024;

interface Pending { tag: string; resolve: (stderr: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }

export class NftSession implements NftBackend {
  private readonly inner: RealNft;
  private proc: ChildProcessWithoutNullStreams | undefined;
  private stderr = '';
  private pending: Pending | undefined;
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private started = false;
  /** How many transactions went through the session and how many through `nft -f` (for logs and the bench). */
  readonly counts = { session: 0, file: 0, restarts: 0 };

  constructor(readonly family: NftFamily, readonly table: string, readonly netns?: string, private readonly timeoutMs = 10_000) {
    this.inner = new RealNft(family, table, netns);
  }

  newTransaction(): Transaction { return this.inner.newTransaction(); }
  list(): Promise<NftNames> { return this.inner.list(); }
  listing(): Promise<string> { return this.inner.listing(); }

  run(tx: Transaction): Promise<void> {
    const next = this.queue.then(() => this.runNow(tx));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async runNow(tx: Transaction): Promise<void> {
    if (tx.family !== this.family || tx.table !== this.table) throw new Error(`nft: transaction for ${tx.family} ${tx.table} run on ${this.family} ${this.table}`);
    if (tx.size === 0) return;
    const text = tx.text();
    // Started at the first transaction, even one that goes through `nft -f` (the first full
    // sync), so that nft's own start-up (~20 ms, far more on a busy machine) is not in the way
    // of the first pod.
    if (!this.closed) this.ensureStarted();
    if (this.closed || text.length > SESSION_MAX_TEXT) {
      this.counts.file++;
      return this.inner.run(tx);
    }
    const line = text.trimEnd().split('\n').join('; ');
    const said = await this.exchange(line);
    this.counts.session++;
    if (/^Error:/m.test(said)) {
      const msg = said.trim();
      throw new NftError(`nft (session) failed on table ${this.family} ${this.table}: ${msg}`, nftErrorKind(msg));
    }
  }

  private start(): ChildProcessWithoutNullStreams {
    const [cmd, ...args] = netnsArgv('nft', ['-i'], this.netns);
    const p = spawn(cmd!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.stderr = '';
    p.stdout.resume(); // nothing we send prints to stdout
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => { this.stderr += d; this.check(); });
    p.stdin.on('error', () => undefined); // an exited nft: reported by 'exit'
    p.on('error', (e) => this.fail(p, new NftError(`nft -i: ${e.message}`)));
    p.on('exit', (code, sig) => this.fail(p, new NftError(`nft -i exited (${code ?? sig})${this.stderr ? `: ${this.stderr.trim().slice(0, 300)}` : ''}`)));
    return p;
  }

  private fail(p: ChildProcessWithoutNullStreams, e: Error): void {
    if (this.proc !== p) return;
    this.proc = undefined;
    const w = this.pending;
    this.pending = undefined;
    if (w) { clearTimeout(w.timer); w.reject(e); }
  }

  private check(): void {
    const w = this.pending;
    if (!w) return;
    // The fence's answer: "Error: syntax error, …\n<tag>\n<spaces and carets>\n".
    const at = this.stderr.indexOf(`\n${w.tag}\n`);
    if (at < 0) return;
    const end = this.stderr.indexOf('\n', at + w.tag.length + 2);
    if (end < 0) return;
    const head = this.stderr.slice(0, at);
    const said = head.slice(0, head.lastIndexOf('Error:') >= 0 ? head.lastIndexOf('Error:') : head.length);
    this.stderr = this.stderr.slice(end + 1);
    this.pending = undefined;
    clearTimeout(w.timer);
    w.resolve(said);
  }

  private ensureStarted(): ChildProcessWithoutNullStreams {
    if (!this.proc) {
      if (this.started) this.counts.restarts++;
      this.started = true;
      this.proc = this.start();
    }
    return this.proc;
  }

  private exchange(line: string): Promise<string> {
    const p = this.ensureStarted();
    const tag = `podnet-fence-${++this.seq}`;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Unknown whether it was applied: the caller's next sync is a full one; a new session then.
        this.fail(p, new NftError(`nft -i did not answer within ${this.timeoutMs} ms`));
        p.kill('SIGKILL');
      }, this.timeoutMs);
      this.pending = { tag, resolve, reject, timer };
      p.stdin.write(`${line}\n${tag}\n`);
    });
  }

  /** Ends the session (nft exits at the end of its input). Later transactions use `nft -f`. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const p = this.proc;
    this.proc = undefined;
    if (!p) return;
    await new Promise<void>((done) => {
      const t = setTimeout(() => { p.kill('SIGKILL'); done(); }, 2000);
      p.once('exit', () => { clearTimeout(t); done(); });
      p.stdin.end();
    });
  }
}
