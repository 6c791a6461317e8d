// Informer (list + watch cache) against the fake API server, and the work queue.
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { ApiClient } from '../../src/client/client.js';
import { Informer, InformerFactory, keyOf, type EventHandlers } from '../../src/client/informer.js';
import {
  WorkQueue, ItemExponentialRateLimiter, BucketRateLimiter, MaxOfRateLimiter, defaultControllerRateLimiter, runWorkers,
} from '../../src/client/workqueue.js';
import type { KObject } from '../../src/api/meta.js';
import { FakeApiServer, cm, CONFIGMAPS } from './fake-apiserver.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Records handler calls as readable strings. */
function recorder() {
  const events: string[] = [];
  const name = (o: KObject) => keyOf(o);
  const h: EventHandlers<KObject> = {
    onAdd: (o, initial) => events.push(`add ${name(o)}${initial ? ' (initial)' : ''}`),
    onUpdate: (a, b) => events.push(`update ${name(b)}${a === b ? ' (resync)' : ''}`),
    onDelete: (o, unknown) => events.push(`delete ${name(o)}${unknown ? ' (final state unknown)' : ''}`),
  };
  return { events, h };
}

/** The fake's objects of a resource as name → data, for convergence checks. */
const serverState = (fake: FakeApiServer) =>
  Object.fromEntries(Array.from(fake.objects.get('configmaps')?.values() ?? [], (o) => [keyOf(o), JSON.stringify(o.data)]).sort());
const cacheState = (inf: Informer) =>
  Object.fromEntries(inf.list().map((o) => [keyOf(o), JSON.stringify(o.data)]).sort());

const FAST = { initialMs: 10, maxMs: 100, jitter: 0.2 };

describe('Informer', () => {
  let fake: FakeApiServer;
  let client: ApiClient;
  let inf: Informer | undefined;
  const errors: string[] = [];
  const onError = (e: unknown, ctx: string) => { errors.push(`${ctx}: ${e instanceof Error ? e.message : String(e)}`); };

  beforeEach(async () => {
    fake = new FakeApiServer();
    client = new ApiClient({ server: await fake.start() });
    errors.length = 0;
  });
  afterEach(async () => {
    await inf?.stop();
    inf = undefined;
    client.close();
    await fake.close();
  });

  const lists = () => fake.requests.filter((r) => r.method === 'GET' && !r.watch);
  const watches = () => fake.requests.filter((r) => r.watch);

  test('initial list is paginated (limit=500 + continue); cache, get, indexes; then watch events', async () => {
    for (let i = 0; i < 1203; i++) fake.upsert('configmaps', cm(`ns${i % 3}`, `cm-${i}`, { i: String(i) }, { app: i % 2 ? 'odd' : 'even' }));
    const rec = recorder();
    inf = new Informer(client.resource(CONFIGMAPS), { handlers: rec.h, onError, backoff: FAST });
    inf.addIndex('app', (o) => [o.metadata.labels?.app ?? '']);
    inf.start();
    assert.equal(await inf.waitForSync(), true);
    assert.equal(inf.hasSynced(), true);
    assert.deepEqual(lists().map((r) => [r.query.get('limit'), r.query.has('continue')]), [['500', false], ['500', true], ['500', true]]);
    assert.equal(inf.size, 1203);
    assert.equal(rec.events.length, 1203);
    assert.ok(rec.events.every((e) => e.endsWith('(initial)')));
    assert.equal(inf.get('ns1', 'cm-1')?.data?.['i' as never], '1');
    assert.equal(inf.get('ns1', 'cm-1')?.kind, 'ConfigMap', 'kind restored on list items');
    assert.equal(inf.byIndex('app', 'odd').length, 601);
    assert.equal(inf.listNamespace('ns2').length, 401);
    assert.equal(inf.lastSyncResourceVersion(), String(fake.rv));

    await until(() => fake.openWatches === 1, 'watch');
    const w = watches()[0]!;
    assert.equal(w.query.get('resourceVersion'), String(fake.rv));
    assert.equal(w.query.get('allowWatchBookmarks'), 'true');
    const ts = Number(w.query.get('timeoutSeconds'));
    assert.ok(ts >= 300 && ts <= 600, `timeoutSeconds ${ts}`);

    rec.events.length = 0;
    fake.upsert('configmaps', cm('ns0', 'new', {}, { app: 'odd' }));
    fake.upsert('configmaps', cm('ns1', 'cm-1', { i: 'changed' }, { app: 'even' }));
    fake.remove('configmaps', 'ns0', 'cm-0');
    await until(() => rec.events.length === 3, 'events');
    assert.deepEqual(rec.events, ['add ns0/new', 'update ns1/cm-1', 'delete ns0/cm-0']);
    assert.equal(inf.byIndex('app', 'odd').length, 601); // +new, -cm-1
    assert.equal(inf.get('ns0', 'cm-0'), undefined);
    assert.deepEqual(cacheState(inf), serverState(fake));
    assert.deepEqual(errors, []);
  });

  test('dropped watches resume from the last resourceVersion without relisting', async () => {
    fake.upsert('configmaps', cm('a', 'x', { v: '1' }));
    fake.upsert('configmaps', cm('a', 'y', { v: '1' }));
    const rec = recorder();
    inf = new Informer(client.resource(CONFIGMAPS), { handlers: rec.h, onError, backoff: FAST });
    inf.start();
    await inf.waitForSync();
    await until(() => fake.openWatches === 1, 'watch');
    fake.upsert('configmaps', cm('a', 'x', { v: '2' }));
    await until(() => rec.events.length === 3, 'update');
    const seen = inf.lastSyncResourceVersion();

    // Cut the connection and keep the watch from reopening while things change.
    fake.inject = (r) => (r.watch ? 503 : undefined);
    fake.dropWatches();
    await until(() => watches().length >= 2, 'a failed reopen');
    fake.remove('configmaps', 'a', 'y');
    fake.upsert('configmaps', cm('a', 'z', { v: '1' }));
    fake.upsert('configmaps', cm('a', 'x', { v: '3' }));
    fake.inject = undefined;

    await until(() => inf!.size === 2 && inf!.get('a', 'x')?.data?.['v' as never] === '3', 'convergence');
    assert.deepEqual(cacheState(inf), serverState(fake));
    assert.equal(lists().length, 1, 'no relist');
    assert.equal(watches().at(-1)!.query.get('resourceVersion'), seen);
    assert.deepEqual(rec.events.slice(3), ['delete a/y', 'add a/z', 'update a/x']);
    assert.ok(errors.some((e) => e.startsWith('watch')));
  });

  test('410 Expired after compaction relists and synthesizes the diff, deletes included', async () => {
    for (const n of ['keep', 'change', 'gone']) fake.upsert('configmaps', cm('d', n, { v: '1' }));
    const rec = recorder();
    inf = new Informer(client.resource(CONFIGMAPS), { handlers: rec.h, onError, backoff: FAST });
    inf.start();
    await inf.waitForSync();
    await until(() => fake.openWatches === 1, 'watch');

    fake.inject = (r) => (r.watch ? 500 : undefined);
    fake.dropWatches();
    await until(() => watches().length >= 2, 'a failed reopen');
    fake.remove('configmaps', 'd', 'gone');
    fake.upsert('configmaps', cm('d', 'change', { v: '2' }));
    fake.upsert('configmaps', cm('d', 'added', { v: '1' }));
    fake.compact(); // history is gone: the resumed watch gets a 410 ERROR event
    fake.inject = undefined;

    await until(() => JSON.stringify(cacheState(inf!)) === JSON.stringify(serverState(fake)), 'convergence by relist');
    assert.equal(lists().length, 2);
    assert.deepEqual(rec.events.slice(3).sort(), ['add d/added', 'delete d/gone (final state unknown)', 'update d/change']);
    assert.equal(lists()[1]!.query.get('resourceVersion'), null, 'relist reads the latest state');
    await until(() => fake.openWatches === 1, 'watch after relist');
    assert.equal(watches().at(-1)!.query.get('resourceVersion'), String(fake.rv));
  });

  test('410 status on watch open also relists', async () => {
    fake.upsert('configmaps', cm('d', 'a'));
    inf = new Informer(client.resource(CONFIGMAPS), { onError, backoff: FAST });
    inf.start();
    await inf.waitForSync();
    await until(() => fake.openWatches === 1, 'watch');
    let once = true;
    fake.inject = (r) => (r.watch && once ? ((once = false), 410) : undefined);
    fake.dropWatches();
    await until(() => lists().length === 2 && fake.openWatches === 1, 'relist + watch');
  });

  test('bookmarks move the resume point past compaction, so no relist is needed', async () => {
    await fake.close();
    fake = new FakeApiServer({ bookmarkMs: 20 });
    client.close();
    client = new ApiClient({ server: await fake.start() });
    fake.upsert('configmaps', cm('b', 'a'));
    inf = new Informer(client.resource(CONFIGMAPS), { onError, backoff: FAST });
    inf.start();
    await inf.waitForSync();
    // Changes in another resource advance the cluster-wide revision only.
    for (let i = 0; i < 5; i++) fake.upsert('secrets', cm('b', `s${i}`));
    await until(() => inf!.lastSyncResourceVersion() === String(fake.rv), 'bookmark');
    fake.compact();
    fake.dropWatches();
    await until(() => watches().length >= 2 && fake.openWatches === 1, 'rewatch');
    await sleep(50);
    assert.equal(lists().length, 1);
  });

  test('an expired continue token falls back to a full list', async () => {
    for (let i = 0; i < 5; i++) fake.upsert('configmaps', cm('p', `o${i}`));
    let compacted = false;
    fake.inject = (r) => {
      if (!r.watch && r.query.has('continue') && !compacted) {
        compacted = true;
        fake.upsert('secrets', cm('p', 'other')); // the revision moves on and is compacted
        fake.compact();
      }
      return undefined;
    };
    inf = new Informer(client.resource(CONFIGMAPS), { onError, pageSize: 2, backoff: FAST });
    inf.start();
    await inf.waitForSync();
    assert.equal(inf.size, 5);
    assert.deepEqual(lists().map((r) => `${r.query.get('limit')} ${r.query.has('continue')}`), ['2 false', '2 true', 'null false']);
  });

  test('relist backoff bounds the request rate while the server fails', async () => {
    fake.inject = () => 500;
    inf = new Informer(client.resource(CONFIGMAPS), {
      onError, backoff: { initialMs: 20, maxMs: 160, factor: 2, jitter: 0.5 },
    });
    inf.start();
    await sleep(1000);
    const n = lists().length;
    // Delays ≥ 20, 40, 80, 160, 160, … ms: at most ~9 attempts in a second; without backoff, hundreds.
    assert.ok(n >= 3 && n <= 10, `list attempts in 1 s: ${n}`);
    const gaps = lists().slice(1).map((r, i) => r.at - lists()[i]!.at);
    assert.ok(gaps.slice(3).every((g) => g >= 150), `gaps ${gaps.join(',')}`);
    assert.equal(inf.hasSynced(), false);

    // Recovery: the server comes back and the informer syncs.
    fake.upsert('configmaps', cm('r', 'a'));
    fake.inject = undefined;
    assert.equal(await inf.waitForSync(), true);
    assert.equal(inf.size, 1);
  });

  test('watch failures back off too, and recover without relisting', async () => {
    inf = new Informer(client.resource(CONFIGMAPS), { onError, backoff: { initialMs: 20, maxMs: 160, jitter: 0 } });
    fake.inject = (r) => (r.watch ? 500 : undefined);
    inf.start();
    await inf.waitForSync();
    await sleep(700);
    const n = watches().length;
    assert.ok(n >= 3 && n <= 8, `watch attempts: ${n}`);
    fake.inject = undefined;
    fake.upsert('configmaps', cm('r', 'b'));
    await until(() => inf!.size === 1, 'event after recovery', 2000);
    assert.equal(lists().length, 1);
  });

  test('transform stores stripped objects; indexes see them; handlers added late replay adds', async () => {
    interface Small extends KObject { value: string }
    fake.upsert('configmaps', cm('t', 'a', { v: 'A' }, { tier: 'web' }));
    fake.upsert('configmaps', cm('t', 'b', { v: 'B' }, { tier: 'db' }));
    const tf = new Informer<Small>(client.resource(CONFIGMAPS), {
      onError,
      transform: (o) => ({ metadata: { namespace: o.metadata.namespace, name: o.metadata.name, labels: o.metadata.labels }, value: (o.data as Record<string, string>).v! }),
    });
    inf = tf as unknown as Informer;
    tf.addIndex('tier', (o) => [o.metadata.labels?.tier ?? '']);
    tf.start();
    await tf.waitForSync();
    assert.deepEqual(tf.get('t', 'a'), { metadata: { namespace: 't', name: 'a', labels: { tier: 'web' } }, value: 'A' });
    assert.deepEqual(tf.byIndex('tier', 'db').map((o) => o.value), ['B']);
    const late: string[] = [];
    tf.addEventHandler({ onAdd: (o, initial) => late.push(`${o.value}${initial ? '*' : ''}`), onUpdate: (_, n) => late.push(`~${n.value}`) });
    assert.deepEqual(late.sort(), ['A*', 'B*']);
    await until(() => fake.openWatches === 1, 'watch');
    fake.upsert('configmaps', cm('t', 'a', { v: 'A2' }, { tier: 'db' }));
    await until(() => late.length === 3, 'update');
    assert.equal(late[2], '~A2');
    assert.deepEqual(tf.byIndex('tier', 'db').map((o) => o.value).sort(), ['A2', 'B']);
    assert.deepEqual(tf.byIndex('tier', 'web'), []);
  });

  test('resync calls onUpdate(old, old); handler errors are contained; stop()', async () => {
    fake.upsert('configmaps', cm('s', 'a'));
    const rec = recorder();
    inf = new Informer(client.resource(CONFIGMAPS), {
      onError, resyncMs: 30,
      handlers: { onAdd: () => { throw new Error('handler bug'); } },
    });
    inf.addEventHandler(rec.h);
    inf.start();
    await inf.waitForSync();
    await until(() => rec.events.filter((e) => e === 'update s/a (resync)').length >= 2, 'resyncs');
    assert.ok(errors.includes('event handler: handler bug'));
    await inf.stop();
    const count = fake.requests.length;
    const evs = rec.events.length;
    await sleep(80);
    assert.equal(fake.requests.length, count);
    assert.equal(rec.events.length, evs);
    assert.equal(fake.openWatches, 0);
  });

  test('InformerFactory shares one informer per resource and selector', async () => {
    fake.upsert('configmaps', cm('f', 'a'));
    fake.upsert('apps/deployments', { metadata: { namespace: 'f', name: 'd' } });
    const factory = new InformerFactory(client, { onError, backoff: FAST });
    const a = factory.informerFor(CONFIGMAPS);
    assert.equal(factory.informerFor(CONFIGMAPS), a);
    assert.notEqual(factory.informerFor(CONFIGMAPS, { namespace: 'f' }), a);
    factory.start();
    const d = factory.informerFor({ group: 'apps', version: 'v1', resource: 'deployments', namespaced: true });
    assert.equal(await factory.waitForSync(), true);
    assert.equal(a.size, 1);
    assert.equal(d.get('f', 'd')?.kind, 'Deployment');
    assert.deepEqual(lists().map((r) => r.path).sort(), ['/api/v1/configmaps', '/api/v1/namespaces/f/configmaps', '/apis/apps/v1/deployments']);
    await factory.stop();
  });

  test('waitForSync resolves false when stopped before syncing', async () => {
    fake.inject = () => 500;
    inf = new Informer(client.resource(CONFIGMAPS), { onError, backoff: FAST });
    inf.start();
    const p = inf.waitForSync();
    await sleep(30);
    await inf.stop();
    assert.equal(await p, false);
  });
});

describe('WorkQueue', () => {
  test('dedups, never hands a key to two workers, requeues a key re-added while processing', async () => {
    const q = new WorkQueue<string>();
    q.add('a'); q.add('b'); q.add('a');
    assert.equal(q.len(), 2);
    assert.equal(await q.get(), 'a');
    q.add('a'); // being processed: dirty, not queued
    assert.equal(q.len(), 1);
    assert.equal(await q.get(), 'b');
    q.add('a');
    assert.equal(q.len(), 0);
    q.done('b');
    q.done('a');
    assert.equal(q.len(), 1);
    assert.equal(await q.get(), 'a');
    q.done('a');
    // A waiting get() is served by the next add.
    const p = q.get();
    q.add('c');
    assert.equal(await p, 'c');
  });

  test('addAfter delays; the earliest pending time wins', async () => {
    const q = new WorkQueue<string>();
    const t0 = performance.now();
    q.addAfter('x', 200);
    q.addAfter('x', 30);
    q.addAfter('x', 100);
    assert.equal(q.len(), 0);
    assert.equal(await q.get(), 'x');
    const dt = performance.now() - t0;
    assert.ok(dt >= 25 && dt < 150, `waited ${dt}`);
    q.done('x');
    await sleep(200);
    assert.equal(q.len(), 0, 'later duplicates were dropped');
    q.shutDown();
  });

  test('rate limiters: per-item exponential, token bucket, max of both, forget', () => {
    const item = new ItemExponentialRateLimiter<string>(5, 1_000_000);
    assert.deepEqual([1, 2, 3, 4].map(() => item.when('k')), [5, 10, 20, 40]);
    assert.equal(item.numRequeues('k'), 4);
    for (let i = 0; i < 40; i++) item.when('k');
    assert.equal(item.when('k'), 1_000_000);
    item.forget('k');
    assert.equal(item.when('k'), 5);

    let now = 0;
    const bucket = new BucketRateLimiter<string>(10, 3, () => now);
    assert.deepEqual([1, 2, 3, 4, 5].map(() => bucket.when()), [0, 0, 0, 100, 200]);
    now = 1000; // 10 tokens refilled, capped at the burst
    assert.deepEqual([1, 2, 3, 4].map(() => Math.round(bucket.when())), [0, 0, 0, 100]);
    now = 1050; // half a token: the next one is 150 ms away
    assert.equal(Math.round(bucket.when()), 150);

    const both = new MaxOfRateLimiter<string>(new ItemExponentialRateLimiter<string>(50, 1000), new BucketRateLimiter<string>(1000, 1, () => 0));
    assert.deepEqual([both.when('a'), both.when('b'), both.when('a')], [50, 50, 100]);
    assert.equal(both.numRequeues('a'), 2);
    both.forget('a');
    assert.equal(both.numRequeues('a'), 0);

    const def = defaultControllerRateLimiter<string>();
    assert.deepEqual([def.when('z'), def.when('z'), def.when('z')], [5, 10, 20]);
  });

  test('addRateLimited timing with small delays', async () => {
    const q = new WorkQueue<string>({ rateLimiter: new ItemExponentialRateLimiter<string>(20, 1000) });
    const times: number[] = [];
    let t = performance.now();
    for (let i = 0; i < 3; i++) {
      q.addRateLimited('k');
      const k = await q.get();
      const now = performance.now();
      times.push(now - t);
      t = now;
      q.done(k!);
    }
    assert.equal(q.numRequeues('k'), 3);
    assert.ok(times[0]! >= 15 && times[1]! >= 35 && times[2]! >= 75, `delays ${times.map(Math.round)}`);
    q.forget('k');
    assert.equal(q.numRequeues('k'), 0);
    q.shutDown();
  });

  test('shutDown: drains what is queued, then get() returns undefined; adds are ignored', async () => {
    const q = new WorkQueue<string>();
    const waiting = q.get();
    q.shutDown();
    assert.equal(await waiting, undefined);

    const q2 = new WorkQueue<string>();
    q2.add('a'); q2.add('b');
    q2.addAfter('later', 10);
    q2.shutDown();
    q2.add('c');
    assert.equal(await q2.get(), 'a');
    assert.equal(await q2.get(), 'b');
    assert.equal(await q2.get(), undefined);
    await sleep(20);
    assert.equal(q2.len(), 0);
    assert.equal(q2.isShuttingDown(), true);

    const q3 = new WorkQueue<string>();
    q3.add('x');
    const k = await q3.get();
    let drained = false;
    const p = q3.shutDownWithDrain().then(() => { drained = true; });
    await sleep(10);
    assert.equal(drained, false);
    q3.done(k!);
    await p;
    assert.equal(drained, true);
  });

  test('runWorkers: retries failures with rate limiting, forgets on success, exits on shutdown', async () => {
    const q = new WorkQueue<string>({ rateLimiter: new ItemExponentialRateLimiter<string>(5, 100) });
    const attempts = new Map<string, number>();
    let concurrent = 0, maxConcurrent = 0;
    const errs: string[] = [];
    const run = runWorkers(q, 3, async (key) => {
      concurrent++; maxConcurrent = Math.max(maxConcurrent, concurrent);
      await sleep(5);
      concurrent--;
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      if (key === 'flaky' && n < 3) throw new Error(`fail ${n}`);
      if (key === 'broken') throw new Error('always');
    }, { maxRetries: 2, onError: (k, e) => errs.push(`${String(k)}: ${(e as Error).message}`) });
    for (const k of ['a', 'b', 'flaky', 'broken', 'c']) q.add(k);
    await until(() => attempts.get('flaky') === 3 && attempts.get('broken') === 3, 'retries');
    await sleep(30);
    assert.equal(attempts.get('a'), 1);
    assert.equal(attempts.get('broken'), 3, 'gave up after maxRetries');
    assert.equal(q.numRequeues('flaky'), 0);
    assert.equal(q.numRequeues('broken'), 0);
    assert.ok(maxConcurrent <= 3 && maxConcurrent >= 2);
    assert.deepEqual(errs.filter((e) => e.startsWith('flaky')), ['flaky: fail 1', 'flaky: fail 2']);
    q.shutDown();
    await run;
  });
});
