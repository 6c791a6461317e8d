// resource.Quantity read as a number, and the QoS class it gives a pod: used by validation in
// the API server and by the node agent (cgroup limits and levels), which must not load the API
// machinery to read one.

const quantityRe = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const suffixes: Record<string, number> = {
  '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** resource.Quantity as a number, or undefined when it does not parse. */
export function parseQuantity(q: unknown): number | undefined {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string') return undefined;
  const m = quantityRe.exec(q);
  if (!m) return undefined;
  const num = Number(m[1]);
  if (!Number.isFinite(num)) return undefined;
  const suf = m[2]!;
  if (suf in suffixes) return num * suffixes[suf]!;
  const e = /^[eE]([-+]?[0-9]+)$/.exec(suf);
  if (e) return num * 10 ** Number(e[1]);
  return undefined;
}

/** Two quantities equal up to floating-point noise (e.g. "0.5" and "500m"). */
export const sameQuantity = (a: number, b: number): boolean => Math.abs(a - b) <= Math.max(Math.abs(a), Math.abs(b)) * 1e-12;

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

interface ResourcedContainer { resources?: { requests?: unknown; limits?: unknown } }
const entries = (v: unknown): [string, unknown][] => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v) : []);
const list = (v: unknown): ResourcedContainer[] => (Array.isArray(v) ? (v as ResourcedContainer[]) : []);

/**
 * The pod's QoS class, upstream's rules: BestEffort without any cpu or memory request or limit;
 * Guaranteed when every container limits both and the requests equal the limits; else
 * Burstable. The API server sets it in status.qosClass; the agent lays out cgroups by it.
 */
export function podQOSClass(spec: { initContainers?: unknown; containers?: unknown }): QosClass {
  const requests = new Map<string, number>();
  const limits = new Map<string, number>();
  let guaranteed = true;
  const supported = new Set(['cpu', 'memory']);
  for (const c of [...list(spec?.initContainers), ...list(spec?.containers)]) {
    for (const [k, v] of entries(c?.resources?.requests)) {
      const q = parseQuantity(v);
      if (!supported.has(k) || q === undefined || q <= 0) continue;
      requests.set(k, (requests.get(k) ?? 0) + q);
    }
    const found = new Set<string>();
    for (const [k, v] of entries(c?.resources?.limits)) {
      const q = parseQuantity(v);
      if (!supported.has(k) || q === undefined || q <= 0) continue;
      found.add(k);
      limits.set(k, (limits.get(k) ?? 0) + q);
    }
    if (!found.has('cpu') || !found.has('memory')) guaranteed = false;
  }
  if (requests.size === 0 && limits.size === 0) return 'BestEffort';
  if (guaranteed) {
    for (const [k, q] of requests) {
      const l = limits.get(k);
      if (l === undefined || !sameQuantity(l, q)) { guaranteed = false; break; }
    }
  }
  return guaranteed && requests.size === limits.size ? 'Guaranteed' : 'Burstable';
}
