import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, appendFile, truncate } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { EmbeddedStore, type EmbeddedStoreOptions } from '../../src/apiserver/storage/embedded.js';
import { CompactedError, FutureRevisionError, type StoreEvent } from '../../src/apiserver/storage/types.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'podnet-store-'));
  dirs.push(d);
  return d;
}

async function openNew(opts?: EmbeddedStoreOptions): Promise<{ s: EmbeddedStore; dir: string }> {
  const dir = await tempDir();
  return { s: await EmbeddedStore.open(dir, opts), dir };
}

const put = (key: string, value: string) => ({ type: 'put' as const, key, value });
const del = (key: string) => ({ type: 'delete' as const, key });

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const n of await readdir(dir)) {
    total += (await stat(path.join(dir, n)).catch(() => ({ size: 0 }))).size; // may be renamed meanwhile
  }
  return total;
}

/** Collects watch batches; `until(n)` waits for n events. */
function collector() {
  const batches: StoreEvent[][] = [];
  const errors: Error[] = [];
  let waiters: (() => void)[] = [];
  const count = () => batches.reduce((a, b) => a + b.length, 0);
  return {
    batches, errors,
    events: () => batches.flat(),
    onEvents: (evs: StoreEvent[]) => { batches.push(evs); for (const w of waiters) w(); },
    onError: (err: Error) => { errors.push(err); for (const w of waiters) w(); },
    until: (n: number) => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out with ${count()} of ${n} events`)), 5000);
      const check = () => { if (count() >= n || errors.length) { clearTimeout(timer); resolve(); } };
      waiters.push(check);
      check();
    }),
    reset: () => { waiters = []; },
  };
}

describe('EmbeddedStore basics', () => {
  it('puts, gets and versions keys', async () => {
    const { s } = await openNew();
    assert.equal(s.revision, 0);
    const r1 = await s.txn([], [put('/a', '1')]);
    assert.deepEqual([r1.succeeded, r1.revision, r1.prev], [true, 1, [undefined]]);
    const r2 = await s.txn([], [put('/a', '2')]);
    assert.equal(r2.prev[0]?.value, '1');
    const kv = await s.get('/a');
    assert.deepEqual(kv, { key: '/a', value: '2', createRevision: 1, modRevision: 2, version: 2 });
    assert.equal((await s.get('/a', 1))?.value, '1');
    assert.equal(await s.get('/missing'), undefined);
    await s.close();
  });

  it('gives all ops of one txn the same revision', async () => {
    const { s } = await openNew();
    const r = await s.txn([], [put('/x/1', 'a'), put('/x/2', 'b'), put('/x/3', 'c')]);
    assert.equal(r.revision, 1);
    const res = await s.range('/x/', { prefix: true });
    assert.deepEqual(res.kvs.map((k) => k.modRevision), [1, 1, 1]);
    await assert.rejects(s.txn([], [put('/d', '1'), put('/d', '2')]), /duplicate key/);
    await s.close();
  });

  it('checks preconditions and reports conflicts with current values', async () => {
    const { s } = await openNew();
    const created = await s.txn([{ key: '/p', modRevision: 0 }], [put('/p', 'v1')]);
    assert.equal(created.succeeded, true);
    const again = await s.txn([{ key: '/p', modRevision: 0 }], [put('/p', 'v2')]);
    assert.equal(again.succeeded, false);
    assert.equal(again.revision, 1);
    assert.equal(again.current[0]?.value, 'v1');
    const stale = await s.txn([{ key: '/p', modRevision: 7 }], [put('/p', 'v2')]);
    assert.equal(stale.succeeded, false);
    const ok = await s.txn([{ key: '/p', modRevision: 1 }], [put('/p', 'v2')]);
    assert.deepEqual([ok.succeeded, ok.revision], [true, 2]);
    const missing = await s.txn([{ key: '/nope', modRevision: 3 }], [del('/nope')]);
    assert.deepEqual([missing.succeeded, missing.current], [false, [undefined]]);
    assert.equal((await s.get('/p'))?.value, 'v2');
    await s.close();
  });

  it('deletes, recreates, and does not bump the revision for no-op txns', async () => {
    const { s } = await openNew();
    await s.txn([], [put('/k', 'a')]); // 1
    const d = await s.txn([{ key: '/k', modRevision: 1 }], [del('/k')]); // 2
    assert.deepEqual([d.succeeded, d.revision, d.prev[0]?.value], [true, 2, 'a']);
    assert.equal(await s.get('/k'), undefined);
    assert.equal((await s.get('/k', 1))?.value, 'a');
    const noop = await s.txn([], [del('/k')]);
    assert.deepEqual([noop.succeeded, noop.revision], [true, 2]);
    const empty = await s.txn([], []);
    assert.deepEqual([empty.succeeded, empty.revision], [true, 2]);
    await s.txn([], [put('/k', 'b')]); // 3
    assert.deepEqual(await s.get('/k'), { key: '/k', value: 'b', createRevision: 3, modRevision: 3, version: 1 });
    await s.close();
  });

  it('ranges by prefix with pagination, counts, and past revisions', async () => {
    const { s } = await openNew();
    for (let i = 0; i < 25; i++) await s.txn([], [put(`/r/ns/${String(i).padStart(2, '0')}`, `v${i}`)]);
    await s.txn([], [put('/r/other', 'x'), put('/rz', 'y')]);
    const all = await s.range('/r/ns/', { prefix: true });
    assert.equal(all.count, 25);
    assert.equal(all.kvs.length, 25);
    assert.equal(all.more, false);
    assert.deepEqual(all.kvs.map((k) => k.key), [...all.kvs.map((k) => k.key)].sort());

    const seen: string[] = [];
    let afterKey: string | undefined;
    for (;;) {
      const page = await s.range('/r/ns/', { prefix: true, limit: 10, after: afterKey });
      seen.push(...page.kvs.map((k) => k.key));
      if (!page.more) break;
      assert.equal(page.count - page.kvs.length > 0, true);
      afterKey = page.kvs[page.kvs.length - 1].key;
    }
    assert.deepEqual(seen, all.kvs.map((k) => k.key));

    const counted = await s.range('/r/', { prefix: true, countOnly: true });
    assert.deepEqual([counted.count, counted.kvs.length], [26, 0]);
    const past = await s.range('/r/ns/', { prefix: true, revision: 10 });
    assert.deepEqual([past.count, past.revision], [10, 10]);
    const exact = await s.range('/r/ns/03');
    assert.deepEqual(exact.kvs.map((k) => k.value), ['v3']);
    await assert.rejects(s.range('/r/', { prefix: true, revision: 99 }), FutureRevisionError);
    await s.close();
  });

  it('keeps keys in order through random inserts, deletes, compaction and reopen', async () => {
    const { s, dir } = await openNew({ retainRevisions: 0 });
    const keys = new Set<string>();
    let seed = 42;
    const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed; };
    while (keys.size < 3000) keys.add(`/i/${rand().toString(36)}`);
    const list = [...keys];
    for (let i = 0; i < list.length; i += 100) {
      await Promise.all(list.slice(i, i + 100).map((k) => s.txn([], [put(k, k)])));
    }
    const sorted = [...list].sort();
    const check = async (store: EmbeddedStore, expected: string[]) => {
      const all = await store.range('/i/', { prefix: true });
      assert.deepEqual(all.kvs.map((kv) => kv.key), expected);
      const paged: string[] = [];
      let afterKey: string | undefined;
      for (;;) {
        const page = await store.range('/i/', { prefix: true, limit: 97, after: afterKey });
        assert.equal(page.count, expected.length - paged.length);
        paged.push(...page.kvs.map((kv) => kv.key));
        if (!page.more) break;
        afterKey = paged[paged.length - 1];
      }
      assert.deepEqual(paged, expected);
    };
    await check(s, sorted);
    const removed = new Set(list.filter((_, i) => i % 3 === 0));
    await Promise.all([...removed].map((k) => s.txn([], [del(k)])));
    const remaining = sorted.filter((k) => !removed.has(k));
    await check(s, remaining);
    const beforeDeletes = s.revision - removed.size;
    assert.equal((await s.range('/i/', { prefix: true, revision: beforeDeletes })).count, 3000);
    await s.compact(s.revision);
    await check(s, remaining);
    await s.close();
    const s2 = await EmbeddedStore.open(dir);
    await check(s2, remaining);
    await s2.close();
  });

  it('serves concurrent txns with group commit, in order', async () => {
    const { s } = await openNew();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      s.txn([{ key: `/c/${i}`, modRevision: 0 }], [put(`/c/${i}`, 'x'.repeat(100))])));
    assert.deepEqual(results.map((r) => r.revision).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1));
    // Conflicting creates of one key: exactly one wins.
    const racing = await Promise.all(Array.from({ length: 10 }, () => s.txn([{ key: '/one', modRevision: 0 }], [put('/one', 'v')])));
    assert.equal(racing.filter((r) => r.succeeded).length, 1);
    assert.equal(s.revision, 201);
    await s.close();
  });
});

describe('EmbeddedStore watch', () => {
  it('replays history from a revision, then continues live, batched per revision', async () => {
    const { s } = await openNew();
    await s.txn([], [put('/w/a', '1')]); // 1
    await s.txn([], [put('/w/b', '1'), put('/w/c', '1')]); // 2
    await s.txn([], [put('/other', '1')]); // 3
    const c = collector();
    const w = s.watch('/w/', { prefix: true, startRevision: 2 }, c.onEvents, c.onError);
    await s.txn([], [del('/w/a')]); // 4
    await c.until(3);
    assert.deepEqual(c.batches.map((b) => b.map((e) => `${e.type} ${e.kv.key} ${e.kv.modRevision}`)), [
      ['put /w/b 2', 'put /w/c 2'],
      ['delete /w/a 4'],
    ]);
    assert.equal(c.batches[1][0].prevKv?.value, '1');
    w.cancel();
    await s.txn([], [put('/w/z', '1')]);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(c.events().length, 3);
    await s.close();
  });

  it('watches an exact key from now, and survives a throwing callback', async () => {
    const { s } = await openNew({ onBackgroundError: () => undefined });
    await s.txn([], [put('/k', '0')]);
    const bad = s.watch('/k', {}, () => { throw new Error('boom'); }, () => undefined);
    const c = collector();
    s.watch('/k', {}, c.onEvents, c.onError);
    await s.txn([], [put('/k', '1')]);
    await s.txn([], [put('/k2', '1')]);
    await s.txn([], [put('/k', '2')]);
    await c.until(2);
    assert.deepEqual(c.events().map((e) => e.kv.value), ['1', '2']);
    bad.cancel();
    await s.close();
  });

  it('fails watches and reads below the compacted revision', async () => {
    const { s } = await openNew();
    for (let i = 0; i < 10; i++) await s.txn([], [put('/k', String(i))]);
    await s.compact(6);
    assert.equal(s.compactedRevision, 6);
    await assert.rejects(s.get('/k', 5), CompactedError);
    assert.equal((await s.get('/k', 6))?.value, '5');
    const c = collector();
    s.watch('/k', { startRevision: 3 }, c.onEvents, c.onError);
    await c.until(1);
    assert.ok(c.errors[0] instanceof CompactedError);
    assert.equal(c.events().length, 0);
    const ok = collector();
    s.watch('/k', { startRevision: 6 }, ok.onEvents, ok.onError);
    await ok.until(5);
    assert.deepEqual(ok.events().map((e) => e.kv.value), ['5', '6', '7', '8', '9']);
    await s.close();
  });
});

describe('EmbeddedStore durability', () => {
  it('reopens with every key, the history and the revision', async () => {
    const { s, dir } = await openNew();
    for (let i = 0; i < 50; i++) await s.txn([], [put(`/re/${i % 10}`, `v${i}`)]);
    await s.txn([], [del('/re/3')]);
    await s.compact(20);
    for (let i = 0; i < 5; i++) await s.txn([], [put(`/re/new${i}`, 'n')]);
    const before = await s.range('/re/', { prefix: true });
    const old = await s.range('/re/', { prefix: true, revision: 25 });
    await s.close();

    const s2 = await EmbeddedStore.open(dir);
    assert.equal(s2.revision, 56);
    assert.equal(s2.compactedRevision, 20);
    assert.deepEqual(await s2.range('/re/', { prefix: true }), before);
    assert.deepEqual(await s2.range('/re/', { prefix: true, revision: 25 }), old);
    const c = collector();
    s2.watch('/re/', { prefix: true, startRevision: 50 }, c.onEvents, c.onError);
    await c.until(7);
    assert.deepEqual(c.events().map((e) => e.kv.modRevision), [50, 51, 52, 53, 54, 55, 56]);
    assert.equal(c.events()[1].type, 'delete');
    const r = await s2.txn([], [put('/re/after', 'x')]);
    assert.equal(r.revision, 57);
    await s2.close();
  });

  it('cuts a torn last record at open', async () => {
    const { s, dir } = await openNew();
    await s.txn([], [put('/t/1', 'one')]);
    await s.txn([], [put('/t/2', 'two')]);
    await s.close();
    const storeDir = path.join(dir, 'store');
    const wal = (await readdir(storeDir)).filter((n) => n.startsWith('wal-')).sort().pop()!;
    const file = path.join(storeDir, wal);
    const size = (await stat(file)).size;
    // A half-written record: a length promising more bytes than were written.
    await appendFile(file, Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 5, 6]));
    let s2 = await EmbeddedStore.open(dir);
    assert.equal(s2.revision, 2);
    assert.equal((await stat(file)).size, size);
    await s2.txn([], [put('/t/3', 'three')]);
    await s2.close();
    // A record cut in the middle of its payload, and one with a bad checksum.
    const full = (await stat(file)).size;
    await truncate(file, full - 3);
    s2 = await EmbeddedStore.open(dir);
    assert.equal(s2.revision, 2);
    assert.equal(await s2.get('/t/3'), undefined);
    await s2.txn([], [put('/t/3', 'three')]);
    await s2.close();
    await appendFile(file, Buffer.from([4, 0, 0, 0, 9, 9, 9, 9, 1, 2, 3, 4]));
    s2 = await EmbeddedStore.open(dir);
    assert.equal(s2.revision, 3);
    assert.equal((await s2.get('/t/3'))?.value, 'three');
    await s2.close();
    // Zeros where the file system extended the file but never wrote the data.
    await appendFile(file, Buffer.alloc(4096));
    s2 = await EmbeddedStore.open(dir);
    assert.equal(s2.revision, 3);
    await s2.close();
  });

  it('fails open clearly on a corrupt snapshot, and releases the lock', async () => {
    const { s, dir } = await openNew();
    for (let i = 0; i < 20; i++) await s.txn([], [put(`/c/${i}`, 'v'.repeat(100))]);
    await s.compact(20);
    await s.close();
    const storeDir = path.join(dir, 'store');
    const snap = (await readdir(storeDir)).find((n) => n.startsWith('snapshot-'))!;
    const file = path.join(storeDir, snap);
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    await writeFile(file, bytes);
    await assert.rejects(EmbeddedStore.open(dir), /snapshot-0+20\.snap is incomplete or corrupt/);
    await assert.rejects(EmbeddedStore.open(dir), /corrupt/); // not "locked"
  });

  it('keeps disk use bounded under a stream of updates to the same keys', async () => {
    const { s, dir } = await openNew({ retainRevisions: 100, maxWalBytes: 256 << 10 });
    const value = 'x'.repeat(2048);
    let peak = 0;
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => s.txn([], [put(`/b/${i % 10}`, value + round)])));
      peak = Math.max(peak, await dirBytes(path.join(dir, 'store')));
    }
    assert.equal(s.revision, 2000);
    assert.ok(s.compactedRevision >= 1700, `compacted ${s.compactedRevision}`);
    await s.compact(s.revision);
    const final = await dirBytes(path.join(dir, 'store'));
    assert.ok(final < 64 << 10, `after compaction ${final} bytes`);
    assert.ok(peak < 2 << 20, `peak ${peak} bytes for 4 MiB written`);
    const names = await readdir(path.join(dir, 'store'));
    assert.equal(names.filter((n) => n.startsWith('snapshot-')).length, 1);
    assert.equal(names.filter((n) => n.startsWith('wal-')).length, 1);
    await s.close();
    const s2 = await EmbeddedStore.open(dir);
    assert.equal(s2.revision, 2000);
    assert.equal((await s2.get('/b/3'))?.value, value + 19);
    await s2.close();
  });

  it('refuses a directory locked by a live process and takes over a stale lock', async () => {
    const { s, dir } = await openNew();
    await assert.rejects(EmbeddedStore.open(dir), /locked by running process/);
    await s.close();
    // A pid that cannot be alive (beyond pid_max).
    await writeFile(path.join(dir, 'store', 'LOCK'), '4194305\n');
    const s2 = await EmbeddedStore.open(dir);
    await s2.close();
  });

  it('creates owner-only files', async () => {
    const { s, dir } = await openNew();
    await s.txn([], [put('/secret', 's')]);
    await s.compact(1);
    const storeDir = path.join(dir, 'store');
    assert.equal((await stat(storeDir)).mode & 0o777, 0o700);
    for (const n of await readdir(storeDir)) assert.equal((await stat(path.join(storeDir, n))).mode & 0o777, 0o600, n);
    await s.close();
  });
});
