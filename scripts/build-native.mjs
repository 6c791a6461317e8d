#!/usr/bin/env node
// Builds podnet's optional native parts at `npm ci`: the addons (native/<name>/binding.gyp) with
// node-gyp, and the native programs (native/agnhost: agnhost's netexec) with the C compiler.
// Each only speeds a path up; podnet works without it (the code falls back and says so), so
// a machine without a compiler gets a warning here, not a failed install. CI has one, and the
// tests check that the native parts are there (PODNET_REQUIRE_NATIVE=1).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
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

// Native programs: plain C, one compiler run each. Built under a temporary name and renamed, as
// pods may be running the previous build (writing over it in place fails with ETXTBSY).
const PROGRAMS = [{ dir: 'agnhost', out: 'agnhost-netexec', what: "agnhost's netexec" }];
const cc = (process.env.CC || 'cc').split(/\s+/).filter(Boolean);
for (const p of PROGRAMS) {
  const dir = join(nativeDir, p.dir);
  if (!existsSync(dir)) continue;
  const sources = readdirSync(dir).filter((f) => f.endsWith('.c')).sort();
  const final = join(dir, 'build', p.out);
  const tmp = `${final}.tmp-${process.pid}`;
  mkdirSync(join(dir, 'build'), { recursive: true });
  const args = ['-std=c11', '-D_GNU_SOURCE', '-O2', '-Wall', '-Wextra', '-pthread', '-o', tmp, ...sources];
  const r = spawnSync(cc[0], [...cc.slice(1), ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status === 0) {
    renameSync(tmp, final);
    if (r.stderr) process.stderr.write(r.stderr);
    process.stdout.write(`podnet: built native program ${p.out}\n`);
  } else {
    failed++;
    rmSync(tmp, { force: true });
    rmSync(final, { force: true }); // no stale build of older sources
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').slice(-15).join('\n') + '\n');
    process.stderr.write(`podnet: warning: native program ${p.out} did not build (${r.error?.message ?? `exit ${r.status}`}); ${p.what} will run on Node.js (slower to start, more memory). Install a C compiler (gcc or clang) and run \`npm rebuild\` to get it.\n`);
  }
}
if (failed > 0 && process.env.PODNET_REQUIRE_NATIVE === '1') process.exit(1);
