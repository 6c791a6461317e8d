// A small Prometheus text-format registry: counters, gauges and histograms with labels.
// Each component owns its own Registry (no global state), as kindnet's agents do.

type Labels = Record<string, string>;

const labelKey = (names: readonly string[], labels: Labels) => names.map((n) => labels[n] ?? '').join('\u0000');

function renderLabels(names: readonly string[], key: string, extra?: string): string {
  const values = key.split('\u0000');
  const parts = names.map((n, i) => `${n}="${(values[i] ?? '').replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
}

interface Metric { render(): string }

export class Counter implements Metric {
  private values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[] = []) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(this.labelNames, labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number { return this.values.get(labelKey(this.labelNames, labels)) ?? 0; }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${renderLabels(this.labelNames, k)} ${v}`);
    return lines.join('\n');
  }
}

export class Gauge implements Metric {
  private values = new Map<string, number>();
  private collector?: () => Array<[Labels, number]>;
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[] = []) {}
  set(labels: Labels, v: number): void { this.values.set(labelKey(this.labelNames, labels), v); }
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(this.labelNames, labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  dec(labels: Labels = {}, by = 1): void { this.inc(labels, -by); }
  /** Compute values at scrape time instead of tracking them. */
  collect(fn: () => Array<[Labels, number]>): this { this.collector = fn; return this; }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    const entries: Array<[string, number]> = this.collector
      ? this.collector().map(([l, v]) => [labelKey(this.labelNames, l), v])
      : [...this.values];
    for (const [k, v] of entries) lines.push(`${this.name}${renderLabels(this.labelNames, k)} ${v}`);
    return lines.join('\n');
  }
}

export class Histogram implements Metric {
  private series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[],
              readonly labelNames: readonly string[] = []) {}
  observe(labels: Labels, v: number): void {
    const k = labelKey(this.labelNames, labels);
    let s = this.series.get(k);
    if (!s) { s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }; this.series.set(k, s); }
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) s.counts[i]++;
    s.sum += v;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${renderLabels(this.labelNames, k, `le="${b}"`)} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${renderLabels(this.labelNames, k, 'le="+Inf"')} ${s.count}`);
      lines.push(`${this.name}_sum${renderLabels(this.labelNames, k)} ${s.sum}`);
      lines.push(`${this.name}_count${renderLabels(this.labelNames, k)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export const exponentialBuckets = (start: number, factor: number, count: number) =>
  Array.from({ length: count }, (_, i) => start * factor ** i);

export class Registry {
  private metrics: Metric[] = [];
  register<M extends Metric>(m: M): M { this.metrics.push(m); return m; }
  counter(name: string, help: string, labels: readonly string[] = []) { return this.register(new Counter(name, help, labels)); }
  gauge(name: string, help: string, labels: readonly string[] = []) { return this.register(new Gauge(name, help, labels)); }
  histogram(name: string, help: string, buckets: readonly number[], labels: readonly string[] = []) {
    return this.register(new Histogram(name, help, buckets, labels));
  }
  /** Prometheus text exposition format 0.0.4. */
  render(): string { return this.metrics.map((m) => m.render()).join('\n') + '\n'; }
}
