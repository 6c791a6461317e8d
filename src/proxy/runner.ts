// A bounded-frequency runner (kube-proxy's async.BoundedFrequencyRunner): run() asks for a run
// as soon as allowed — at most `burst` runs back to back, then one per `minIntervalMs` — and a
// run happens at least every `maxIntervalMs` anyway. Runs never overlap; a request during a run
// becomes one more run after it. retryAfter() schedules a run after a failure.

export interface RunnerOptions {
  minIntervalMs: number;
  maxIntervalMs: number;
  burst?: number;
  onError?: (e: unknown) => void;
}

export class BoundedFrequencyRunner {
  private tokens: number;
  private lastRefill = Date.now();
  private running = false;
  private pending = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private periodic: NodeJS.Timeout | undefined;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly fn: () => Promise<void>, private readonly opts: RunnerOptions) {
    this.tokens = opts.burst ?? 2;
  }

  start(): void {
    this.periodic = setInterval(() => this.run(), this.opts.maxIntervalMs);
    this.periodic.unref?.();
    this.run();
  }

  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.periodic) clearInterval(this.periodic);
    return this.whenIdle();
  }

  /** Resolves once no run is in progress. */
  whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private refill(): void {
    const burst = this.opts.burst ?? 2;
    const now = Date.now();
    const add = (now - this.lastRefill) / Math.max(1, this.opts.minIntervalMs);
    if (add > 0) { this.tokens = Math.min(burst, this.tokens + add); this.lastRefill = now; }
  }

  /** Requests a run. */
  run(): void {
    if (this.stopped) return;
    if (this.running) { this.pending = true; return; }
    this.refill();
    if (this.tokens >= 1) { this.tokens -= 1; void this.exec(); return; }
    this.schedule(Math.ceil((1 - this.tokens) * this.opts.minIntervalMs));
  }

  /** Requests a run after `ms` (unless one happens earlier). */
  retryAfter(ms: number): void { this.schedule(ms); }

  private schedule(ms: number): void {
    if (this.stopped) return;
    const at = Date.now() + ms;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => { this.timer = undefined; this.timerAt = Infinity; this.run(); }, ms);
    this.timer.unref?.();
  }

  private async exec(): Promise<void> {
    this.running = true;
    try {
      await this.fn();
    } catch (e) {
      this.opts.onError?.(e);
    } finally {
      this.running = false;
      const w = this.idleWaiters; this.idleWaiters = [];
      for (const f of w) f();
      if (this.pending && !this.stopped) { this.pending = false; this.run(); }
    }
  }
}
