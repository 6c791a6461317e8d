// ResourceStorage semantics in-process: an EmbeddedStore in a temp dir, an ApiServer (never
// started: no sockets) with the real kinds, and its storages driven directly.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StatusError } from '../../src/api/errors.js';
import { allKinds } from '../../src/api/kinds/index.js';
import type { KObject } from '../../src/api/meta.js';
import { storedJsonOf, type ResourceStorage } from '../../src/apiserver/rest.js';
import { ApiServer } from '../../src/apiserver/server.js';
import { buildFilter } from '../../src/apiserver/filter.js';
import { EmbeddedStore } from '../../src/apiserver/storage/embedded.js';
import { TooOldError, WatchCache, type WatchSink } from '../../src/apiserver/watchcache.js';
import { crc32, gunzipSync } from 'node:zlib';
import { encodeObject, objectJsonWithRv } from '../../src/apiserver/codec.js';
import { crc32Combine, GzipListWriter, ListPieceCache } from '../../src/apiserver/listgzip.js';
import type { KeyValue } from '../../src/apiserver/storage/types.js';

const CONFLICT = 'the object has been modified; please apply your changes to the latest version and try again';

let dir = '';
let store: EmbeddedStore;
let api: ApiServer;
let cms: ResourceStorage;
let pods: ResourceStorage;
let deploys: ResourceStorage;
let nss: ResourceStorage;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'podnet-rest-'));
  store = await EmbeddedStore.open(dir, { retainRevisions: 0 });
  // tls/tokens are only used by start(), which these tests never call.
  api = new ApiServer({ store, resources: allKinds, tls: { cert: '', key: '' }, tokens: new Map() });
  cms = api.storageFor('', 'configmaps')!;
  pods = api.storageFor('', 'pods')!;
  deploys = api.storageFor('apps', 'deployments')!;
  nss = api.storageFor('', 'namespaces')!;
  for (const ns of ['default', 't1', 'pg', 'sel']) await nss.create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
});

after(async () => {
  await store?.close().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cm = (name: string, data: Record<string, string> = {}, meta: Record<string, unknown> = {}): KObject =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...meta }, data });

const pod = (name: string, spec: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): KObject =>
  ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, ...meta }, spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec } });

const deployment = (name: string, replicas = 1): KObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
  spec: {
    replicas, selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
  },
});

/** Runs `fn` and returns the StatusError it throws (fails when it does not throw one). */
async function statusOf(fn: () => Promise<unknown>): Promise<StatusError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof StatusError) return e;
    throw e;
  }
  assert.fail('expected a StatusError');
}

const names = (objs: KObject[] | undefined) => (objs ?? []).map((o) => o.metadata.name).sort();
const clone = <T>(v: T): T => structuredClone(v);

describe('create', () => {
  it('fills uid, creationTimestamp, resourceVersion; generateName makes a name', async () => {
    const a = await cms.create('default', cm('', { a: '1' }, { generateName: 'gen-' }));
    assert.match(a.metadata.name!, /^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.match(a.metadata.uid!, /^[0-9a-f-]{36}$/);
    assert.match(a.metadata.creationTimestamp!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(a.metadata.namespace, 'default');
    const got = await cms.get('default', a.metadata.name!);
    assert.equal(got.metadata.resourceVersion, a.metadata.resourceVersion);
    assert.equal(got.metadata.uid, a.metadata.uid);
    const dup = await statusOf(() => cms.create('default', cm(a.metadata.name!)));
    assert.equal(dup.code, 409);
    assert.equal(dup.reason, 'AlreadyExists');
  });

  it('the response of a create is its stored encoding: same object as returned and as read back', async () => {
    const a = await cms.create('default', { data: { k: 'v' }, metadata: { name: 'stored-json', labels: { x: 'y' } }, kind: 'ConfigMap', apiVersion: 'v1' });
    const text = storedJsonOf(a);
    assert.ok(text, 'create remembers what it stored');
    assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(a)));
    assert.deepEqual(JSON.parse(text), await cms.get('default', 'stored-json'));
    assert.ok(text.startsWith('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"resourceVersion":'), text);
    // Objects that did not come from create() have none: the response stringifies them.
    assert.equal(storedJsonOf(await cms.get('default', 'stored-json')), undefined);
    const dry = await cms.create('default', cm('stored-json-dry'), { dryRun: true });
    assert.equal(storedJsonOf(dry), undefined);
  });

  it('encodeObject: apiVersion, kind, metadata first and no resourceVersion, whatever the order given', () => {
    const canonical = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}';
    assert.equal(encodeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' }, data: { k: 'v' } }), canonical);
    assert.equal(encodeObject({ data: { k: 'v' }, metadata: { name: 'a' }, kind: 'ConfigMap', apiVersion: 'v1' }), canonical);
    assert.equal(encodeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { resourceVersion: '7', name: 'a' }, data: { k: 'v' } }), canonical);
    assert.equal(encodeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', resourceVersion: undefined }, data: { k: 'v' } }), canonical);
  });

  it('resourceVersions are monotonic and cluster-wide (shared across kinds)', async () => {
    const rvs: number[] = [];
    for (let i = 0; i < 5; i++) {
      rvs.push(Number((await cms.create('default', cm(`mono-${i}`))).metadata.resourceVersion));
      rvs.push(Number((await pods.create('default', pod(`mono-${i}`))).metadata.resourceVersion));
    }
    for (let i = 1; i < rvs.length; i++) assert.ok(rvs[i] > rvs[i - 1], `rv ${rvs[i]} after ${rvs[i - 1]}`);
    assert.equal(String(store.revision), String(rvs[rvs.length - 1]));
  });

  it('table: namespace checks', async () => {
    const missing = await statusOf(() => cms.create('nope', cm('x')));
    assert.equal(missing.code, 404);
    assert.equal(missing.reason, 'NotFound');
    assert.match(missing.message, /namespaces "nope" not found/);

    await nss.create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'dying' } });
    await cms.create('dying', cm('keep'));
    const { deleted } = await nss.delete(undefined, 'dying');
    assert.equal(deleted, false, 'a namespace goes through Terminating');
    const ns = await nss.get(undefined, 'dying');
    assert.equal((ns.status as { phase?: string }).phase, 'Terminating');
    assert.ok(ns.metadata.deletionTimestamp);
    const term = await statusOf(() => cms.create('dying', cm('y')));
    assert.equal(term.code, 403);
    assert.equal(term.reason, 'Forbidden');
    assert.match(term.message, /unable to create new content in namespace dying because it is being terminated/);
    assert.equal(term.status.details?.causes?.[0]?.reason, 'NamespaceTerminating');
    // Updates of existing objects in a terminating namespace are still allowed.
    const k = await cms.get('dying', 'keep');
    k.data = { z: '1' };
    await cms.update('dying', 'keep', k);
  });
});

describe('ordered create (a record the next write depends on)', () => {
  it('returns before the write is durable, with its revision; a later write makes it durable too', async () => {
    const a = cms.create('default', cm('ordered-a'), { ordered: true });
    const b = cms.create('default', cm('ordered-b')); // an ordinary create, issued right after
    const o = await a;
    const rb = await b;
    assert.ok(Number(o.metadata.resourceVersion) < Number(rb.metadata.resourceVersion), 'ordered before the later write');
    // Once the later write is acknowledged, the ordered one is durable and readable.
    assert.equal((await cms.get('default', 'ordered-a')).metadata.resourceVersion, o.metadata.resourceVersion);
    // A name already taken is still refused (once what it conflicts with is durable).
    const dup = await statusOf(() => cms.create('default', cm('ordered-a'), { ordered: true }));
    assert.equal(dup.code, 409);
  });

  it('settled() waits for ordered writes: a read after it sees them', async () => {
    const o = await cms.create('default', cm('ordered-c'), { ordered: true });
    await cms.settled();
    assert.equal((await cms.tryGet('default', 'ordered-c'))?.metadata.resourceVersion, o.metadata.resourceVersion);
  });
});

describe('update', () => {
  it('stale update → 409 Conflict; unconditional update; no-op keeps resourceVersion', async () => {
    const a = await cms.create('t1', cm('u1', { a: '1' }));
    const b1 = clone(a); b1.data = { a: '2' };
    const b = await cms.update('t1', 'u1', b1);
    assert.ok(Number(b.metadata.resourceVersion) > Number(a.metadata.resourceVersion));

    const stale = clone(a); stale.data = { a: 'stale' };
    const e = await statusOf(() => cms.update('t1', 'u1', stale));
    assert.equal(e.code, 409);
    assert.equal(e.reason, 'Conflict');
    assert.equal(e.message, `Operation cannot be fulfilled on configmaps "u1": ${CONFLICT}`);
    assert.deepEqual((await cms.get('t1', 'u1') as { data?: unknown }).data, { a: '2' });

    const unconditional = clone(a); delete unconditional.metadata.resourceVersion; unconditional.data = { a: '3' };
    const c = await cms.update('t1', 'u1', unconditional);
    assert.ok(Number(c.metadata.resourceVersion) > Number(b.metadata.resourceVersion));
    assert.equal(c.metadata.uid, a.metadata.uid, 'uid kept');
    assert.equal(c.metadata.creationTimestamp, a.metadata.creationTimestamp);

    const revBefore = store.revision;
    const same = await cms.update('t1', 'u1', clone(c));
    assert.equal(same.metadata.resourceVersion, c.metadata.resourceVersion, 'no-op update keeps resourceVersion');
    assert.equal(store.revision, revBefore, 'no-op update writes nothing');
  });

  it('a uid in the body is a precondition: an update meant for a deleted predecessor → 409', async () => {
    const first = await cms.create('t1', cm('reborn', { gen: '1' }));
    await cms.delete('t1', 'reborn');
    const second = await cms.create('t1', cm('reborn', { gen: '2' }));
    const stale = clone(first); delete stale.metadata.resourceVersion; stale.data = { gen: 'overwritten' };
    const e = await statusOf(() => cms.update('t1', 'reborn', stale));
    assert.equal(e.code, 409);
    assert.equal(e.reason, 'Conflict');
    assert.equal(e.message, `Operation cannot be fulfilled on configmaps "reborn": Precondition failed: UID in precondition: ${first.metadata.uid}, UID in object meta: ${second.metadata.uid}`);
    assert.deepEqual((await cms.get('t1', 'reborn')).data, { gen: '2' });
    const ok = clone(second); delete ok.metadata.resourceVersion; ok.data = { gen: '3' };
    assert.deepEqual((await cms.update('t1', 'reborn', ok)).data, { gen: '3' });
  });

  it('update of a missing object → 404; name mismatch → 400', async () => {
    assert.equal((await statusOf(() => cms.update('t1', 'ghost', cm('ghost')))).code, 404);
    assert.equal((await statusOf(() => cms.update('t1', 'u1', cm('other')))).code, 400);
  });

  it('generation is bumped on spec changes only (Deployment)', async () => {
    const d = await deploys.create('t1', deployment('gen'));
    assert.equal(d.metadata.generation, 1);
    const spec = clone(d); (spec.spec as { replicas: number }).replicas = 3;
    const d2 = await deploys.update('t1', 'gen', spec);
    assert.equal(d2.metadata.generation, 2);
    const lbl = clone(d2); lbl.metadata.labels = { x: 'y' };
    const d3 = await deploys.update('t1', 'gen', lbl);
    assert.equal(d3.metadata.generation, 2, 'label change keeps generation');
    assert.ok(Number(d3.metadata.resourceVersion) > Number(d2.metadata.resourceVersion));
    const st = clone(d3); st.status = { replicas: 3, observedGeneration: 2 };
    const d4 = await deploys.update('t1', 'gen', st, { subresource: 'status' });
    assert.equal(d4.metadata.generation, 2, 'status change keeps generation');
    // ConfigMaps do not track generation.
    assert.equal((await cms.get('t1', 'u1')).metadata.generation, undefined);
  });

  it('an update that only reorders fields is a no-op (no write, same generation)', async () => {
    const d = await deploys.create('t1', deployment('order'));
    const { selector, template, ...rest } = d.spec as Record<string, unknown>;
    const reordered: KObject = { kind: d.kind, spec: { template, ...rest, selector }, apiVersion: d.apiVersion, metadata: { ...d.metadata } };
    const u = await deploys.update('t1', 'order', reordered);
    assert.equal(u.metadata.generation, 1);
    assert.equal(u.metadata.resourceVersion, d.metadata.resourceVersion);
    const c = await cms.create('t1', cm('order', { x: '1', y: '2' }, { labels: { a: '1', b: '2' } }));
    const c2 = await cms.update('t1', 'order', { data: { y: '2', x: '1' }, apiVersion: 'v1', kind: 'ConfigMap', metadata: { labels: { b: '2', a: '1' }, name: 'order' } });
    assert.equal(c2.metadata.resourceVersion, c.metadata.resourceVersion);
  });

  it('status subresource: spec updates keep status; status updates keep spec', async () => {
    const d = await deploys.create('t1', deployment('st', 1));
    const s1 = clone(d); s1.status = { replicas: 1, observedGeneration: 1 };
    (s1.spec as { replicas: number }).replicas = 9; // must be ignored by a status update
    s1.metadata.labels = { ignored: 'yes' };
    const afterStatus = await deploys.update('t1', 'st', s1, { subresource: 'status' });
    assert.equal((afterStatus.spec as { replicas: number }).replicas, 1);
    assert.equal(afterStatus.metadata.labels, undefined);
    assert.deepEqual(afterStatus.status, { replicas: 1, observedGeneration: 1 });
    const s2 = clone(afterStatus); s2.status = { replicas: 42 };
    (s2.spec as { replicas: number }).replicas = 2;
    const afterSpec = await deploys.update('t1', 'st', s2);
    assert.equal((afterSpec.spec as { replicas: number }).replicas, 2);
    assert.deepEqual(afterSpec.status, { replicas: 1, observedGeneration: 1 });
    const stored = await deploys.get('t1', 'st');
    assert.deepEqual(stored.status, { replicas: 1, observedGeneration: 1 });
    assert.equal((stored.spec as { replicas: number }).replicas, 2);
  });

  it('guaranteedUpdate retries on a concurrent write unless a precondition was given', async () => {
    await cms.create('t1', cm('gu', { n: '0' }));
    let first = true;
    const out = await cms.guaranteedUpdate('t1', 'gu', async (cur) => {
      if (first) {
        first = false;
        const other = await cms.get('t1', 'gu');
        other.data = { n: 'other' };
        await cms.update('t1', 'gu', other);
      }
      cur.data = { ...(cur.data as Record<string, string>), mine: '1' };
      return cur;
    });
    assert.deepEqual(out.data, { n: 'other', mine: '1' });
    // A stale precondition, or a stale resourceVersion set by the mutation, is a Conflict.
    const pre = await statusOf(() => cms.guaranteedUpdate('t1', 'gu', (c) => c, { precondition: '1' }));
    assert.equal(pre.code, 409);
    const explicit = await statusOf(() => cms.guaranteedUpdate('t1', 'gu', (c) => { c.metadata.resourceVersion = '1'; c.data = {}; return c; }));
    assert.equal(explicit.code, 409);
    assert.deepEqual((await cms.get('t1', 'gu')).data, { n: 'other', mine: '1' });
  });
});

describe('delete', () => {
  it('finalizers: delete sets deletionTimestamp; removing the last finalizer deletes', async () => {
    const a = await cms.create('t1', cm('fin', {}, { finalizers: ['example.com/a', 'example.com/b'] }));
    const r = await cms.delete('t1', 'fin');
    assert.equal(r.deleted, false);
    assert.ok(r.obj.metadata.deletionTimestamp);
    const cur = await cms.get('t1', 'fin');
    assert.ok(cur.metadata.deletionTimestamp);
    assert.equal(cur.metadata.uid, a.metadata.uid);
    // A second delete changes nothing.
    const again = await cms.delete('t1', 'fin');
    assert.equal(again.deleted, false);
    assert.equal(again.obj.metadata.resourceVersion, cur.metadata.resourceVersion);
    const one = clone(cur); one.metadata.finalizers = ['example.com/b'];
    const kept = await cms.update('t1', 'fin', one);
    assert.deepEqual(kept.metadata.finalizers, ['example.com/b']);
    assert.equal(kept.metadata.deletionTimestamp, cur.metadata.deletionTimestamp, 'deletionTimestamp cannot be changed');
    const none = clone(kept); delete none.metadata.finalizers;
    await cms.update('t1', 'fin', none);
    assert.equal(await cms.tryGet('t1', 'fin'), undefined);
  });

  it('graceful pod deletion: scheduled pods wait; grace 0 removes; unscheduled pods go at once', async () => {
    await pods.create('t1', pod('sched', { nodeName: 'node-1' }));
    const first = await pods.delete('t1', 'sched', { gracePeriodSeconds: 30 });
    assert.equal(first.deleted, false);
    const held = await pods.get('t1', 'sched');
    assert.ok(held.metadata.deletionTimestamp);
    assert.equal(held.metadata.deletionGracePeriodSeconds, 30);
    const dt = Date.parse(held.metadata.deletionTimestamp!);
    assert.ok(dt > Date.now() + 20_000, 'deletionTimestamp is now + grace');
    // A longer grace never extends a shorter one.
    await pods.delete('t1', 'sched', { gracePeriodSeconds: 60 });
    assert.equal((await pods.get('t1', 'sched')).metadata.deletionGracePeriodSeconds, 30);
    const second = await pods.delete('t1', 'sched', { gracePeriodSeconds: 0 });
    assert.equal(second.deleted, true);
    assert.equal(await pods.tryGet('t1', 'sched'), undefined);

    await pods.create('t1', pod('unsched'));
    const u = await pods.delete('t1', 'unsched');
    assert.equal(u.deleted, true);
    assert.equal(await pods.tryGet('t1', 'unsched'), undefined);

    // Default grace for a scheduled pod comes from terminationGracePeriodSeconds.
    await pods.create('t1', pod('dflt', { nodeName: 'node-1', terminationGracePeriodSeconds: 7 }));
    await pods.delete('t1', 'dflt');
    assert.equal((await pods.get('t1', 'dflt')).metadata.deletionGracePeriodSeconds, 7);
    await pods.delete('t1', 'dflt', { gracePeriodSeconds: 0 });
  });

  it('table: preconditions', async () => {
    const o = await cms.create('t1', cm('pre'));
    const cases: { pre: { uid?: string; resourceVersion?: string }; msg: RegExp }[] = [
      { pre: { uid: 'not-the-uid' }, msg: /Precondition failed: UID in precondition: not-the-uid, UID in object meta: / },
      { pre: { resourceVersion: '1' }, msg: /Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: \d+/ },
    ];
    for (const c of cases) {
      const e = await statusOf(() => cms.delete('t1', 'pre', { preconditions: c.pre }));
      assert.equal(e.code, 409, JSON.stringify(c.pre));
      assert.equal(e.reason, 'Conflict');
      assert.match(e.message, c.msg);
    }
    assert.ok(await cms.tryGet('t1', 'pre'));
    const ok = await cms.delete('t1', 'pre', { preconditions: { uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion } });
    assert.equal(ok.deleted, true);
    assert.equal((await statusOf(() => cms.delete('t1', 'pre'))).code, 404);
  });
});

describe('list', () => {
  before(async () => {
    const specs: [string, string | undefined, string][] = [
      ['a', 'n1', 'Running'], ['b', 'n1', 'Pending'], ['c', 'n2', 'Running'], ['d', undefined, 'Pending'],
    ];
    for (const [name, node, phase] of specs) {
      const p = await pods.create('sel', pod(name, node ? { nodeName: node } : {}, { labels: { app: name === 'd' ? 'db' : 'web', tier: name } }));
      p.status = { ...(p.status as object), phase };
      await pods.update('sel', name, p, { subresource: 'status' });
    }
  });

  it('table: label and field selectors', async () => {
    const cases: { ls?: string; fs?: string; want: string[] }[] = [
      { want: ['a', 'b', 'c', 'd'] },
      { ls: 'app=web', want: ['a', 'b', 'c'] },
      { ls: 'app!=web', want: ['d'] },
      { ls: 'tier in (a,c)', want: ['a', 'c'] },
      { ls: '!tier', want: [] },
      { fs: 'spec.nodeName=n1', want: ['a', 'b'] },
      { fs: 'spec.nodeName=', want: ['d'] },
      { fs: 'status.phase=Running', want: ['a', 'c'] },
      { fs: 'status.phase!=Running', want: ['b', 'd'] },
      { fs: 'metadata.name=c', want: ['c'] },
      { fs: 'spec.nodeName=n1,status.phase=Running', want: ['a'] },
      { ls: 'app=web', fs: 'spec.nodeName=n2', want: ['c'] },
    ];
    for (const c of cases) {
      for (const limit of [0, 1]) {
        const got: KObject[] = [];
        let cont: string | undefined;
        do {
          const r = await pods.list({ namespace: 'sel', labelSelector: c.ls, fieldSelector: c.fs, limit, continue: cont }, true);
          got.push(...(r.objects ?? []));
          cont = r.continue;
        } while (cont);
        assert.deepEqual(names(got), c.want, `ls=${c.ls} fs=${c.fs} limit=${limit}`);
      }
    }
    // Across namespaces, by metadata.name.
    const all = await pods.list({ fieldSelector: 'metadata.name=a' }, true);
    assert.deepEqual(all.objects?.map((o) => `${o.metadata.namespace}/${o.metadata.name}`), ['sel/a']);
  });

  it('unsupported field selector → 400 field label not supported', async () => {
    const e = await statusOf(() => pods.list({ fieldSelector: 'spec.bogus=1' }));
    assert.equal(e.code, 400);
    assert.equal(e.reason, 'BadRequest');
    assert.equal(e.message, 'field label not supported: spec.bogus');
    const e2 = await statusOf(() => cms.list({ fieldSelector: 'spec.nodeName=x' }));
    assert.equal(e2.code, 400);
  });

  it('pagination walks everything exactly once at one revision, with remainingItemCount', async () => {
    const N = 23;
    for (let i = 0; i < N; i++) await cms.create('pg', cm(`p-${String(i).padStart(2, '0')}`, { i: String(i) }));
    for (const limit of [1, 5, 7, 23, 100]) {
      const seen: string[] = [];
      let cont: string | undefined;
      let rv: string | undefined;
      let page = 0;
      do {
        const r = await cms.list({ namespace: 'pg', limit, continue: cont }, true);
        const items = r.objects ?? [];
        seen.push(...items.map((o) => o.metadata.name!));
        if (rv === undefined) rv = r.resourceVersion; else assert.equal(r.resourceVersion, rv, 'every page at the first page\'s revision');
        assert.ok(items.length <= limit);
        if (r.continue) {
          assert.equal(r.remainingItemCount, N - seen.length, `limit ${limit} page ${page}`);
        } else {
          assert.equal(r.remainingItemCount, undefined);
        }
        cont = r.continue;
        // Writes between pages are not seen by the rest of this walk.
        if (page === 0 && cont) {
          await cms.create('pg', cm(`p-zz-${limit}`));
          await cms.delete('pg', `p-zz-${limit}`);
          const mod = await cms.get('pg', 'p-22'); mod.data = { i: `changed-${limit}` };
          await cms.update('pg', 'p-22', mod);
        }
        page++;
      } while (cont);
      assert.deepEqual(seen, Array.from({ length: N }, (_, i) => `p-${String(i).padStart(2, '0')}`), `limit ${limit}`);
      assert.equal(new Set(seen).size, N);
    }
  });

  it('a continue token older than the compacted revision → 410 Expired', async () => {
    const first = await cms.list({ namespace: 'pg', limit: 2 });
    assert.ok(first.continue);
    await cms.create('pg', cm('compact-me'));
    await store.compact(store.revision);
    const e = await statusOf(() => cms.list({ namespace: 'pg', limit: 2, continue: first.continue }));
    assert.equal(e.code, 410);
    assert.equal(e.reason, 'Expired');
    const bad = await statusOf(() => cms.list({ namespace: 'pg', limit: 2, continue: 'garbage!!' }));
    assert.equal(bad.code, 400);
  });

  it('resourceVersion + resourceVersionMatch=Exact returns the old state', async () => {
    const a = await cms.create('pg', cm('exact', { v: '1' }));
    const at = a.metadata.resourceVersion!;
    const b = clone(a); b.data = { v: '2' };
    await cms.update('pg', 'exact', b);
    await cms.create('pg', cm('exact-later'));
    const old = await cms.list({ namespace: 'pg', resourceVersion: at, resourceVersionMatch: 'Exact' }, true);
    assert.equal(old.resourceVersion, at);
    const ex = old.objects!.find((o) => o.metadata.name === 'exact');
    assert.deepEqual(ex?.data, { v: '1' });
    assert.equal(ex?.metadata.resourceVersion, at);
    assert.equal(old.objects!.some((o) => o.metadata.name === 'exact-later'), false);
    // Single name via field selector at the old revision too.
    const one = await cms.list({ namespace: 'pg', fieldSelector: 'metadata.name=exact', resourceVersion: at, resourceVersionMatch: 'Exact' }, true);
    assert.deepEqual(one.objects?.[0]?.data, { v: '1' });
    // The latest state without it.
    const now = await cms.list({ namespace: 'pg', fieldSelector: 'metadata.name=exact' }, true);
    assert.deepEqual(now.objects?.[0]?.data, { v: '2' });
    // Paging an Exact list stays at that revision.
    const p1 = await cms.list({ namespace: 'pg', limit: 1, resourceVersion: at, resourceVersionMatch: 'Exact' });
    assert.equal(p1.resourceVersion, at);
    // ListOptions validation, as upstream: 422 Invalid on ListOptions.meta.k8s.io.
    const bad: [Parameters<ResourceStorage['list']>[0], string][] = [
      [{ resourceVersionMatch: 'Exact' }, 'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided'],
      [{ resourceVersion: '0', resourceVersionMatch: 'Exact' }, 'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"'],
      [{ resourceVersion: at, resourceVersionMatch: 'Newest' }, 'resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""'],
      [{ resourceVersion: at, resourceVersionMatch: 'NotOlderThan', continue: p1.continue }, 'continue: Forbidden: continue may not be specified with resourceVersionMatch'],
    ];
    for (const [o, msg] of bad) {
      const e = await statusOf(() => cms.list({ namespace: 'pg', ...o }));
      assert.equal(e.code, 422, JSON.stringify(o));
      assert.equal(e.message, `ListOptions.meta.k8s.io "" is invalid: ${msg}`);
    }
    // resourceVersion "0" with NotOlderThan is any recent state.
    const any = await cms.list({ namespace: 'pg', resourceVersion: '0', resourceVersionMatch: 'NotOlderThan' }, true);
    assert.ok(any.objects!.some((o) => o.metadata.name === 'exact-later'));
    const nto = await cms.list({ namespace: 'pg', resourceVersion: at, resourceVersionMatch: 'NotOlderThan' }, true);
    assert.ok(Number(nto.resourceVersion) >= Number(at));
    assert.deepEqual(nto.objects!.find((o) => o.metadata.name === 'exact')?.data, { v: '2' });
    // A compacted revision → 410.
    await store.compact(store.revision);
    const gone = await statusOf(() => cms.list({ namespace: 'pg', resourceVersion: at, resourceVersionMatch: 'Exact' }));
    assert.equal(gone.code, 410);
    assert.equal(gone.reason, 'Expired');
  });
});

describe('watch cache window', () => {
  const sink = (got: string[]): WatchSink => ({
    send: (type, o) => { got.push(`${type} ${o.metadata.name}@${o.metadata.resourceVersion}`); return true; },
    close: () => { got.push('CLOSED'); },
  });

  it('keeps at most `capacity` events; older resourceVersions are too old', async () => {
    const rt = allKinds.find((k) => k.kind === 'ConfigMap')!;
    await nss.create(undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'wc' } });
    const cache = new WatchCache(store, rt, 5);
    cache.start();
    try {
      const rvs: number[] = [];
      for (let i = 0; i < 8; i++) rvs.push(Number((await cms.create('wc', cm(`w${i}`))).metadata.resourceVersion));
      await cache.waitFor(rvs[7]);
      assert.equal(cache.size, 5);
      const filter = buildFilter(rt, 'wc');
      assert.throws(() => cache.watch(rvs[1], filter, sink([])), TooOldError);
      const got: string[] = [];
      const stop = cache.watch(rvs[2], filter, sink(got));
      assert.deepEqual(got, [3, 4, 5, 6, 7].map((i) => `ADDED w${i}@${rvs[i]}`));
      stop();
    } finally {
      cache.stop();
    }
  });

  it('keeps at most about `maxBytes` of events, and always the newest one', async () => {
    const rt = allKinds.find((k) => k.kind === 'ConfigMap')!;
    const cache = new WatchCache(store, rt, 10_000, 100 * 1024);
    cache.start();
    try {
      const big = 'x'.repeat(20 * 1024);
      let last = 0;
      for (let i = 0; i < 20; i++) last = Number((await cms.create('wc', cm(`big${i}`, { big }))).metadata.resourceVersion);
      await cache.waitFor(last);
      assert.ok(cache.size >= 1 && cache.size <= 3, `holds ${cache.size} events of ~40 KiB`);
      const huge = Number((await cms.create('wc', cm('huge', { big: 'y'.repeat(200 * 1024) }))).metadata.resourceVersion);
      await cache.waitFor(huge);
      assert.equal(cache.size, 1);
      const got: string[] = [];
      cache.watch(huge - 1, buildFilter(rt, 'wc'), sink(got))();
      assert.deepEqual(got, [`ADDED huge@${huge}`]);
      assert.throws(() => cache.watch(last - 1, buildFilter(rt, 'wc'), sink([])), TooOldError);
    } finally {
      cache.stop();
    }
  });
});

describe('gzipped lists from cached pieces (listgzip)', () => {
  const kvOf = (i: number, rev: number): KeyValue => ({
    key: `/registry/pods/ns-${i % 7}/pod-${String(i).padStart(6, '0')}`,
    value: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${i}`, namespace: `ns-${i % 7}` }, spec: { nodeName: `n-${i % 5}`, note: 'é✓' } }),
    createRevision: rev, modRevision: rev, version: 1,
  });
  async function render(cache: ListPieceCache, batches: (KeyValue[] | string[])[]): Promise<Buffer> {
    const out: Buffer[] = [];
    const w = new GzipListWriter(cache, async (b) => { out.push(Buffer.from(b)); });
    await w.begin('{"kind":"PodList","items":[');
    for (const b of batches) {
      if (typeof b[0] === 'string') await w.addTexts(b as string[]); else await w.addKvs(b as KeyValue[]);
    }
    await w.end(']}');
    return Buffer.concat(out);
  }
  const expected = (kvs: KeyValue[]) => `{"kind":"PodList","items":[${kvs.map(objectJsonWithRv).join(',')}]}`;

  it('combines CRC-32s as zlib computes them over the concatenation', () => {
    const a = Buffer.from('hello, '), b = Buffer.from('wörld'.repeat(1000));
    assert.equal(crc32Combine(crc32(a), crc32(b), b.length), crc32(Buffer.concat([a, b])));
    assert.equal(crc32Combine(0, crc32(b), b.length), crc32(b));
    assert.equal(crc32Combine(crc32(a), 0, 0), crc32(a));
  });

  it('is one valid gzip member holding exactly the list, cold and from the cache, after changes', async () => {
    const cache = new ListPieceCache();
    let kvs = Array.from({ length: 5000 }, (_, i) => kvOf(i, 10 + i));
    const batches = (l: KeyValue[]) => Array.from({ length: Math.ceil(l.length / 1000) }, (_, i) => l.slice(i * 1000, i * 1000 + 1000));
    const cold = await render(cache, batches(kvs));
    assert.equal(gunzipSync(cold).toString('utf8'), expected(kvs));
    assert.ok(cache.size > 1, `runs cached: ${cache.size}`);
    const warm = await render(cache, batches(kvs));
    assert.deepEqual(warm, cold);
    // One object changed, one deleted, one added: still exact.
    kvs = kvs.filter((_, i) => i !== 2500);
    kvs[100] = { ...kvs[100], modRevision: 99_999, value: kvs[100].value.replace('n-0', 'n-9') };
    kvs.splice(4000, 0, { ...kvOf(100_000, 100_001), key: `${kvs[3999].key}-x` });
    const changed = await render(cache, batches(kvs));
    assert.equal(gunzipSync(changed).toString('utf8'), expected(kvs));
    // Empty lists, and lists of texts (filtered), too.
    assert.equal(gunzipSync(await render(cache, [])).toString('utf8'), '{"kind":"PodList","items":[]}');
    assert.equal(gunzipSync(await render(cache, [['{"a":1}', '{"b":2}'], ['{"c":3}']])).toString('utf8'), '{"kind":"PodList","items":[{"a":1},{"b":2},{"c":3}]}');
  });
});
