// Kills a writing process with SIGKILL at random moments and checks, after each reopen, that
// every write it acknowledged is there with the revision it was acknowledged at.

import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedStore } from '../../src/apiserver/storage/embedded.js';

const moduleUrl = new URL('../../src/apiserver/storage/embedded.js', import.meta.url).href;

// The writer: 8 concurrent clients create new keys (2 KiB values) and bump a shared counter
// with compare-and-swap; a small WAL limit makes checkpoints happen while it runs. Each
// acknowledged write is printed as "create <rev> <key>" or "counter <rev> <value>".
const writer = `
const { EmbeddedStore } = await import(process.env.STORE_MODULE);
const s = await EmbeddedStore.open(process.env.STORE_DIR, { maxWalBytes: 512 << 10, retainRevisions: 500 });
const round = process.env.ROUND;
const pad = 'p'.repeat(2048);
process.stdout.write('ready\\n');
async function client(c) {
  for (let n = 0; ; n++) {
    const key = '/crash/' + round + '/' + c + '/' + n;
    const r = await s.txn([{ key, modRevision: 0 }], [{ type: 'put', key, value: key + pad }]);
    if (!r.succeeded) throw new Error('create failed ' + key);
    process.stdout.write('create ' + r.revision + ' ' + key + '\\n');
    if (n % 4 === c % 4) {
      for (;;) {
        const cur = await s.get('/crash/counter');
        const next = cur ? Number(cur.value) + 1 : 1;
        const u = await s.txn([{ key: '/crash/counter', modRevision: cur ? cur.modRevision : 0 }],
          [{ type: 'put', key: '/crash/counter', value: String(next) }]);
        if (u.succeeded) { process.stdout.write('counter ' + u.revision + ' ' + next + '\\n'); break; }
      }
    }
  }
}
await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(client));
`;

let dir: string | undefined;
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Acked { creates: Map<string, number>; counter: { rev: number; value: number } }

function runAndKill(storeDir: string, round: number, acked: Acked): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', writer], {
      env: { ...process.env, STORE_DIR: storeDir, STORE_MODULE: moduleUrl, ROUND: String(round) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => { err += d; });
    child.stdout.on('data', (d: string) => {
      out += d;
      if (!timer && out.startsWith('ready\n')) {
        timer = setTimeout(() => child.kill('SIGKILL'), 150 + Math.floor(Math.random() * 500));
      }
    });
    child.on('error', reject);
    // 'close' comes after the process is reaped and its output fully read.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') {
        reject(new Error(`writer exited early (${code}, ${signal}): ${err}`));
        return;
      }
      const lines = out.split('\n');
      lines.pop(); // a line cut short by the kill
      for (const line of lines) {
        const [kind, rev, what] = line.split(' ');
        if (kind === 'create') acked.creates.set(what, Number(rev));
        if (kind === 'counter' && Number(rev) > acked.counter.rev) acked.counter = { rev: Number(rev), value: Number(what) };
      }
      resolve();
    });
  });
}

it('keeps every acknowledged write across SIGKILL', { timeout: 60_000 }, async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'podnet-store-crash-'));
  const acked: Acked = { creates: new Map(), counter: { rev: 0, value: 0 } };
  let lastRevision = 0;
  for (let round = 0; round < 4; round++) {
    const before = acked.creates.size;
    await runAndKill(dir, round, acked);
    assert.ok(acked.creates.size > before + 20, `round ${round}: only ${acked.creates.size - before} writes acknowledged`);

    const s = await EmbeddedStore.open(dir, { maxWalBytes: 512 << 10, retainRevisions: 500 });
    try {
      const maxAcked = Math.max(...acked.creates.values(), acked.counter.rev);
      assert.ok(s.revision >= maxAcked, `revision ${s.revision} < acknowledged ${maxAcked}`);
      assert.ok(s.revision >= lastRevision, 'the revision went backwards');
      lastRevision = s.revision;
      const all = await s.range('/crash/', { prefix: true });
      const byKey = new Map(all.kvs.map((kv) => [kv.key, kv]));
      for (const [key, rev] of acked.creates) {
        const kv = byKey.get(key);
        assert.ok(kv, `acknowledged ${key} at ${rev} is missing`);
        assert.equal(kv.modRevision, rev, key);
        assert.equal(kv.value.startsWith(key), true);
      }
      const counter = await s.get('/crash/counter');
      assert.ok(Number(counter?.value ?? 0) >= acked.counter.value, 'an acknowledged counter bump was lost');
      // Revisions are dense: each key and counter write took exactly one.
      assert.ok(all.kvs.length >= acked.creates.size);
    } finally {
      await s.close();
    }
  }
});
