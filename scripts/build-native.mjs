#!/usr/bin/env node
// Builds podnet's optional native addons (native/<name>/binding.gyp) with node-gyp, at `npm ci`.
// Each addon only speeds a path up; podnet works without it (the code falls back and says so), so
// a machine without a compiler gets a warning here, not a failed install. CI has one, and the
// tests check that the addons loaded there (PODNET_REQUIRE_NATIVE=1).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const addons = existsSync(nativeDir)
  ? readdirSync(nativeDir).filter((d) => existsSync(join(nativeDir, d, 'binding.gyp'))).sort()
  : [];
// npm hands install scripts the path of its bundled node-gyp; outside npm, use one on PATH.
const gyp = process.env.npm_config_node_gyp;
const [cmd, pre] = gyp ? [process.execPath, [gyp]] : ['node-gyp', []];
// Build against the headers installed with this Node (no download: CI reaches only registries).
const headers = join(dirname(dirname(process.execPath)), 'include', 'node');
const nodedir = !process.env.npm_config_nodedir && existsSync(join(headers, 'node_api.h')) ? [`--nodedir=${dirname(dirname(headers))}`] : [];
let failed = 0;
for (const name of addons) {
  const r = spawnSync(cmd, [...pre, 'rebuild', '--release', ...nodedir], { cwd: join(nativeDir, name), stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status === 0) {
    process.stdout.write(`podnet: built native addon ${name}\n`);
  } else {
    failed++;
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').slice(-15).join('\n') + '\n');
    process.stderr.write(`podnet: warning: native addon ${name} did not build (${r.error?.message ?? `exit ${r.status}`}); podnet will use its slower pure-JavaScript path. Install python3, make and g++ and run \`npm rebuild\` to get it.\n`);
  }
}
if (failed > 0 && process.env.PODNET_REQUIRE_NATIVE === '1') process.exit(1);
