// Loading podnet's optional native addons (native/<name>, built by scripts/build-native.mjs at
// `npm ci`). Each only speeds a path up, so a missing or broken addon is not an error here: the
// caller gets undefined and a reason to log, and uses its pure-JavaScript path.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest directory above this module holding package.json and native/ (src/net, dist/src/net, <outDir>/src/net). */
function repoRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** native/<parts…> in this repository (a build output, which may not exist), or undefined outside a checkout. */
export function nativePath(...parts: string[]): string | undefined {
  const root = repoRoot();
  return root ? join(root, 'native', ...parts) : undefined;
}

export interface NativeAddon<T> {
  /** The addon's exports; undefined when it is not built or failed to load. */
  addon?: T;
  /** Why there is no addon ('' when there is). */
  problem: string;
}

const loaded = new Map<string, NativeAddon<unknown>>();

/** native/<name>/build/Release/<name>.node, loaded once per process. */
export function loadNativeAddon<T>(name: string): NativeAddon<T> {
  const seen = loaded.get(name);
  if (seen) return seen as NativeAddon<T>;
  const root = repoRoot();
  const relative = join('native', name, 'build', 'Release', `${name}.node`);
  const path = root ? join(root, relative) : undefined;
  let result: NativeAddon<T>;
  if (!path || !existsSync(path)) {
    result = { problem: `native addon not built (${path ?? relative}): run npm rebuild` };
  } else {
    try {
      result = { addon: createRequire(import.meta.url)(path) as T, problem: '' };
    } catch (e) {
      result = { problem: `native addon ${name} failed to load: ${(e as Error).message}` };
    }
  }
  loaded.set(name, result);
  return result;
}
