// Drops the fields strict decoding reported as unknown, as Go's JSON decoding into typed
// structs does: what the schema does not know is not stored.

import { isObject } from '../api/meta.js';

/** Splits `spec.containers[0].imagee` into ['spec', 'containers', 0, 'imagee']. */
export function parseFieldPath(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const part of path.split('.')) {
    const m = /^([^[]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) { out.push(part); continue; }
    if (m[1]) out.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

export function pruneUnknownFields(obj: Record<string, unknown>, paths: string[]): void {
  for (const path of paths) {
    const segs = parseFieldPath(path);
    let cur: unknown = obj;
    for (let i = 0; i < segs.length - 1 && cur !== undefined; i++) {
      const s = segs[i];
      cur = typeof s === 'number' ? (Array.isArray(cur) ? cur[s] : undefined) : isObject(cur) ? cur[s] : undefined;
    }
    const last = segs[segs.length - 1];
    if (isObject(cur) && typeof last === 'string') delete cur[last];
  }
}
