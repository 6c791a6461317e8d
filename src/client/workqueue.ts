// A rate-limited work queue with client-go's semantics (util/workqueue):
//  - a key is queued at most once however often it is added ("dirty" set);
//  - a key being processed is never handed to a second worker: re-adding it while it is
//    processed marks it dirty, and done() puts it back in the queue;
//  - addAfter() delays an add (the earliest pending time wins);
//  - addRateLimited() delays by the rate limiter: per-key exponential backoff combined (max)
//    with an overall token bucket; forget() clears a key's backoff once it succeeded;
//  - shutDown() stops accepting adds; get() keeps returning what is queued, then undefined.

/** Decides how long to wait before retrying a key (client-go's RateLimiter). */
export interface RateLimiter<K> {
  when(key: K): number;
  forget(key: K): void;
  numRequeues(key: K): number;
}

/** base · 2^failures, capped at max (ms). */
export class ItemExponentialRateLimiter<K> implements RateLimiter<K> {
  private readonly failures = new Map<K, number>();
  constructor(readonly baseMs = 5, readonly maxMs = 1_000_000) {}
  when(key: K): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const d = this.baseMs * 2 ** n;
    return Number.isFinite(d) && d < this.maxMs ? d : this.maxMs;
  }
  forget(key: K): void { this.failures.delete(key); }
  numRequeues(key: K): number { return this.failures.get(key) ?? 0; }
}

/**
 * A token bucket shared by all keys (golang.org/x/time/rate's Reserve: tokens may go
 * negative, and the wait is the time until the reservation's token has been refilled).
 */
export class BucketRateLimiter<K> implements RateLimiter<K> {
  private tokens: number;
  private last: number;
  constructor(readonly qps = 10, readonly burst = 100, private readonly now: () => number = () => performance.now()) {
    this.tokens = burst;
    this.last = now();
  }
  when(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.qps);
    this.last = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }
  forget(): void { /* shared bucket: nothing per key */ }
  numRequeues(): number { return 0; }
}

/** The longest delay of several limiters (client-go's MaxOfRateLimiter). */
export class MaxOfRateLimiter<K> implements RateLimiter<K> {
  private readonly limiters: RateLimiter<K>[];
  constructor(...limiters: RateLimiter<K>[]) { this.limiters = limiters; }
  when(key: K): number { return Math.max(0, ...this.limiters.map((l) => l.when(key))); }
  forget(key: K): void { for (const l of this.limiters) l.forget(key); }
  numRequeues(key: K): number { return Math.max(0, ...this.limiters.map((l) => l.numRequeues(key))); }
}

/** client-go's DefaultControllerRateLimiter: 5 ms … 1000 s per key, max'ed with 10 qps / burst 100. */
export function defaultControllerRateLimiter<K>(): RateLimiter<K> {
  return new MaxOfRateLimiter<K>(new ItemExponentialRateLimiter<K>(5, 1_000_000), new BucketRateLimiter<K>(10, 100));
}

export interface WorkQueueOptions<K> {
  rateLimiter?: RateLimiter<K>;
  /** For logs/metrics. */
  name?: string;
}

export class WorkQueue<K = string> {
  readonly name: string;
  private readonly rateLimiter: RateLimiter<K>;
  private queue: K[] = [];
  private head = 0;
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly waiting = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  private readonly getters: ((k: K | undefined) => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  private shutting = false;

  constructor(opts: WorkQueueOptions<K> = {}) {
    this.rateLimiter = opts.rateLimiter ?? defaultControllerRateLimiter<K>();
    this.name = opts.name ?? '';
  }

  /** Queues `key` unless it is already queued; if it is being processed, after done(). */
  add(key: K): void {
    if (this.shutting || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.push(key);
  }

  private push(key: K): void {
    const g = this.getters.shift();
    if (g) {
      this.dirty.delete(key);
      this.processing.add(key);
      g(key);
      return;
    }
    this.queue.push(key);
  }

  /** Resolves with the next key (now marked processing), or undefined once shut down and drained. */
  get(): Promise<K | undefined> {
    if (this.head < this.queue.length) {
      const key = this.queue[this.head]!;
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.queue.length) { this.queue = this.queue.slice(this.head); this.head = 0; }
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    if (this.shutting) return Promise.resolve(undefined);
    return new Promise((r) => this.getters.push(r));
  }

  /** Marks `key` finished; if it was re-added meanwhile, queues it again. */
  done(key: K): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) this.push(key); // re-added while processing (before any shutdown)
    if (this.processing.size === 0) { const w = this.drainWaiters; this.drainWaiters = []; for (const f of w) f(); }
  }

  /** Adds `key` after `ms` (immediately if ms ≤ 0). A pending earlier add wins over a later one. */
  addAfter(key: K, ms: number): void {
    if (this.shutting) return;
    if (ms <= 0) { this.add(key); return; }
    const at = performance.now() + ms;
    const prev = this.waiting.get(key);
    if (prev) {
      if (prev.at <= at) return;
      clearTimeout(prev.timer);
    }
    const timer = setTimeout(() => { this.waiting.delete(key); this.add(key); }, ms);
    this.waiting.set(key, { at, timer });
  }

  /** Adds `key` once the rate limiter allows it (per-key backoff, max'ed with the shared bucket). */
  addRateLimited(key: K): void { this.addAfter(key, this.rateLimiter.when(key)); }

  /** Clears `key`'s backoff (call after it was processed successfully). */
  forget(key: K): void { this.rateLimiter.forget(key); }

  numRequeues(key: K): number { return this.rateLimiter.numRequeues(key); }

  /** Keys queued and not yet handed out. */
  len(): number { return this.queue.length - this.head; }

  isShuttingDown(): boolean { return this.shutting; }

  /**
   * Stops accepting adds and cancels delayed adds; get() hands out what is queued and then
   * resolves undefined. A key re-added before the shutdown while it was processed is still
   * handed out again after done().
   */
  shutDown(): void {
    if (this.shutting) return;
    this.shutting = true;
    for (const w of this.waiting.values()) clearTimeout(w.timer);
    this.waiting.clear();
    const gs = this.getters.splice(0);
    for (const g of gs) g(undefined);
  }

  /** shutDown(), then resolves once every key being processed is done(). */
  async shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return;
    await new Promise<void>((r) => this.drainWaiters.push(r));
  }
}

export interface RunWorkersOptions {
  /** Give up on a key after this many rate-limited retries (forget it). Default: never. */
  maxRetries?: number;
  onError?: (key: unknown, err: unknown, retries: number) => void;
}

/**
 * Runs `n` workers that take keys from `queue` and call `handler`. Success → forget(key);
 * failure → addRateLimited(key). Resolves when the queue is shut down and the workers exit.
 */
export async function runWorkers<K>(queue: WorkQueue<K>, n: number, handler: (key: K) => Promise<void> | void,
  opts: RunWorkersOptions = {}): Promise<void> {
  const worker = async () => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        await handler(key);
        queue.forget(key);
      } catch (err) {
        const retries = queue.numRequeues(key);
        opts.onError?.(key, err, retries);
        if (opts.maxRetries !== undefined && retries >= opts.maxRetries) queue.forget(key);
        else queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, n) }, worker));
}
