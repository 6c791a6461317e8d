// Helpers every benchmark shares.
import { fileURLToPath } from 'node:url';

/** A positive integer from the environment, or the default. */
export function envInt(name: string, dflt: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : dflt;
}

/** dist/bench/*.js → dist/src/cli/main.js (the same file bin/podnet runs). */
export const MAIN_JS = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.now();

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export const percentile = (sorted: number[], p: number): number =>
  (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))]! : NaN);
