// ApiClient and kubeconfig loading, against the fake API server on loopback.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { ApiClient, statusErrorFrom } from '../../src/client/client.js';
import { loadKubeconfig, loadInClusterConfig } from '../../src/client/kubeconfig.js';
import { kubeconfigJson, kubeconfigYaml } from '../../src/apiserver/certs.js';
import { StatusError } from '../../src/api/errors.js';
import type { KObject, WatchEvent } from '../../src/api/meta.js';
import { FakeApiServer, cm, CONFIGMAPS, DEPLOYMENTS } from './fake-apiserver.js';

const tmp = mkdtempSync(join(tmpdir(), 'podnet-client-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function collect<T>(it: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) { out.push(v); if (out.length >= n) break; }
  return out;
}

describe('kubeconfig', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const write = (name: string, text: string) => { const p = join(tmp, name); writeFileSync(p, text); return p; };

  test('current-context, inline data, token', () => {
    const p = write('kc1', `
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: ${b64('CA-PEM')}
- name: c2
  cluster:
    server: https://other:443
    insecure-skip-tls-verify: true
users:
- name: u1
  user:
    token: tok-1
- name: u2
  user:
    client-certificate-data: ${b64('CERT-PEM')}
    client-key-data: ${b64('KEY-PEM')}
contexts:
- name: dev
  context: {cluster: c1, user: u1, namespace: team-a}
- name: ops
  context: {cluster: c2, user: u2}
`);
    assert.deepEqual(loadKubeconfig(p), { server: 'https://10.0.0.1:6443', ca: 'CA-PEM', token: 'tok-1', namespace: 'team-a' });
    assert.deepEqual(loadKubeconfig(p, 'ops'), { server: 'https://other:443', insecure: true, cert: 'CERT-PEM', key: 'KEY-PEM' });
    assert.throws(() => loadKubeconfig(p, 'nope'), /context "nope" does not exist/);
  });

  test('file references resolve relative to the kubeconfig; KUBECONFIG lists merge, first wins', () => {
    const dir = mkdtempSync(join(tmp, 'kc-'));
    writeFileSync(join(dir, 'ca.crt'), 'CA-FILE');
    writeFileSync(join(dir, 'client.crt'), 'CERT-FILE');
    writeFileSync(join(dir, 'client.key'), 'KEY-FILE');
    const a = join(dir, 'a.yaml');
    writeFileSync(a, `
current-context: x
contexts: [{name: x, context: {cluster: cx, user: ux}}]
clusters: [{name: cx, cluster: {server: 'https://a:1', certificate-authority: ca.crt}}]
`);
    const b = join(dir, 'b.yaml');
    writeFileSync(b, `
current-context: ignored
clusters: [{name: cx, cluster: {server: 'https://b:2'}}]
users: [{name: ux, user: {client-certificate: client.crt, client-key: ${join(dir, 'client.key')}}}]
`);
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = `${a}:${join(dir, 'missing')}:${b}`;
    try {
      assert.deepEqual(loadKubeconfig(), { server: 'https://a:1', ca: 'CA-FILE', cert: 'CERT-FILE', key: 'KEY-FILE' });
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG; else process.env.KUBECONFIG = saved;
    }
  });

  test('tokenFile and exec credential plugins', () => {
    const dir = mkdtempSync(join(tmp, 'kc-exec-'));
    writeFileSync(join(dir, 'tok'), 'file-token\n');
    const cred = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'exec-token' } });
    const p = join(dir, 'config');
    writeFileSync(p, `
current-context: f
contexts:
- {name: f, context: {cluster: c, user: file}}
- {name: e, context: {cluster: c, user: exec}}
clusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]
users:
- {name: file, user: {tokenFile: tok}}
- name: exec
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: sh
      args: ['-c', 'test -n "$KUBERNETES_EXEC_INFO" && test "$FOO" = bar && echo "$0"', '${cred.replace(/'/g, "''")}']
      env: [{name: FOO, value: bar}]
`);
    assert.deepEqual(loadKubeconfig(p), { server: 'http://127.0.0.1:1', token: 'file-token', tokenFile: join(dir, 'tok') });
    assert.deepEqual(loadKubeconfig(p, 'e'), { server: 'http://127.0.0.1:1', token: 'exec-token' });
  });

  test('JSON kubeconfigs (as podnet writes for its pods) are read without loading the YAML parser', () => {
    const ca = '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n';
    const json = write('kc.json', kubeconfigJson({ name: 'pnm', server: 'https://10.96.0.1:443', caCert: ca, token: 'tok' }));
    const yaml = write('kc.yaml', kubeconfigYaml({ name: 'pnm', server: 'https://10.96.0.1:443', caCert: ca, token: 'tok' }));
    const expected = { server: 'https://10.96.0.1:443', ca, token: 'tok' };
    assert.deepEqual(loadKubeconfig(json), expected);
    assert.deepEqual(loadKubeconfig(yaml), expected);
    // A YAML flow mapping starts like JSON but is not JSON: still read.
    assert.deepEqual(loadKubeconfig(write('kc-flow', `{current-context: x, contexts: [{name: x, context: {cluster: c}}], clusters: [{name: c, cluster: {server: 'https://c:1'}}]}`)),
      { server: 'https://c:1' });
    // In a fresh process: does loading each file pull in the `yaml' package?
    const kubeconfigModule = new URL('../../src/client/kubeconfig.js', import.meta.url).href;
    const yamlLoaded = (file: string) => execFileSync(process.execPath, ['--input-type=module', '-e', `
      import { createRequire } from 'node:module';
      const { loadKubeconfig } = await import(${JSON.stringify(kubeconfigModule)});
      loadKubeconfig(${JSON.stringify(file)});
      const cache = Object.keys(createRequire(import.meta.url).cache);
      process.stdout.write(String(cache.some((k) => k.includes('/node_modules/yaml/'))));`], { encoding: 'utf8' });
    assert.equal(yamlLoaded(json), 'false');
    assert.equal(yamlLoaded(yaml), 'true');
  });

  test('in-cluster configuration', () => {
    const sa = mkdtempSync(join(tmp, 'sa-'));
    writeFileSync(join(sa, 'token'), 'sa-token\n');
    writeFileSync(join(sa, 'ca.crt'), 'SA-CA');
    writeFileSync(join(sa, 'namespace'), 'kube-system');
    const saved = { h: process.env.KUBERNETES_SERVICE_HOST, p: process.env.KUBERNETES_SERVICE_PORT };
    process.env.KUBERNETES_SERVICE_HOST = 'fd00:10:96::1';
    process.env.KUBERNETES_SERVICE_PORT = '443';
    try {
      assert.deepEqual(loadInClusterConfig(sa), {
        server: 'https://[fd00:10:96::1]:443', token: 'sa-token', tokenFile: join(sa, 'token'), ca: 'SA-CA', namespace: 'kube-system',
      });
      delete process.env.KUBERNETES_SERVICE_HOST;
      assert.throws(() => loadInClusterConfig(sa), /KUBERNETES_SERVICE_HOST/);
    } finally {
      for (const [k, v] of [['KUBERNETES_SERVICE_HOST', saved.h], ['KUBERNETES_SERVICE_PORT', saved.p]] as const) {
        if (v === undefined) delete process.env[k]; else process.env[k] = v;
      }
    }
  });
});

describe('ApiClient', () => {
  const fake = new FakeApiServer();
  let client: ApiClient;
  before(async () => { client = new ApiClient({ server: await fake.start(), token: 'secret' }); });
  after(async () => { client.close(); await fake.close(); });

  test('CRUD with upstream URLs, auth header and keep-alive', async () => {
    const cms = client.resource(CONFIGMAPS, 'ns1');
    const connsBefore = fake.connections;
    const created = await cms.create(cm('ns1', 'a', { k: 'v' }));
    assert.equal(created.metadata.name, 'a');
    assert.ok(created.metadata.resourceVersion);
    const got = await cms.get('a');
    assert.deepEqual(got.data, { k: 'v' });
    got.data = { k: 'v2' };
    const updated = await cms.update(got);
    assert.deepEqual(updated.data, { k: 'v2' });
    const patched = await cms.patch('a', 'merge', { data: { extra: 'x' }, metadata: { labels: { app: 'web' } } });
    assert.deepEqual(patched.data, { k: 'v2', extra: 'x' });
    const withStatus = await cms.updateStatus({ ...patched, status: { ok: true } });
    assert.deepEqual(withStatus.status, { ok: true });
    const list = await cms.list({ labelSelector: 'app=web' });
    assert.equal(list.kind, 'ConfigMapList');
    assert.deepEqual(list.items.map((o) => o.metadata.name), ['a']);
    const del = await cms.delete('a', { gracePeriodSeconds: 0, propagationPolicy: 'Background' });
    assert.equal((del as { status?: string }).status, 'Success');

    const deploys = client.resource(DEPLOYMENTS);
    await deploys.list();
    await client.resource(CONFIGMAPS).list({ limit: 10, resourceVersion: '0', resourceVersionMatch: 'NotOlderThan' });

    const last9 = fake.requests.slice(-9);
    assert.deepEqual(last9.map((r) => `${r.method} ${r.path}${r.query.size ? `?${r.query}` : ''}`), [
      'POST /api/v1/namespaces/ns1/configmaps',
      'GET /api/v1/namespaces/ns1/configmaps/a',
      'PUT /api/v1/namespaces/ns1/configmaps/a',
      'PATCH /api/v1/namespaces/ns1/configmaps/a',
      'PUT /api/v1/namespaces/ns1/configmaps/a/status',
      'GET /api/v1/namespaces/ns1/configmaps?labelSelector=app%3Dweb',
      'DELETE /api/v1/namespaces/ns1/configmaps/a',
      'GET /apis/apps/v1/deployments',
      'GET /api/v1/configmaps?limit=10&resourceVersion=0&resourceVersionMatch=NotOlderThan',
    ]);
    assert.equal(last9[3]!.headers['content-type'], 'application/merge-patch+json');
    assert.equal(last9[0]!.headers.authorization, 'Bearer secret');
    assert.ok(fake.connections - connsBefore <= 1, `expected one reused connection, got ${fake.connections - connsBefore}`);
  });

  test('patch content types and delete options body', async () => {
    const cms = client.resource(CONFIGMAPS, 'ns1');
    await cms.create(cm('ns1', 'p'));
    await assert.rejects(cms.patch('p', 'strategic', { data: {} }), (e: unknown) => e instanceof StatusError && e.code === 415);
    assert.equal(fake.requests.at(-1)!.headers['content-type'], 'application/strategic-merge-patch+json');
    await assert.rejects(cms.patch('p', 'json', [{ op: 'add', path: '/data/x', value: '1' }]));
    assert.equal(fake.requests.at(-1)!.headers['content-type'], 'application/json-patch+json');
    await assert.rejects(cms.patch('p', 'apply', {}), /fieldManager/);
    await assert.rejects(cms.patch('p', 'apply', {}, { fieldManager: 'podnet', force: true }));
    const applyReq = fake.requests.at(-1)!;
    assert.equal(applyReq.headers['content-type'], 'application/apply-patch+yaml');
    assert.equal(applyReq.query.get('fieldManager'), 'podnet');
    assert.equal(applyReq.query.get('force'), 'true');
    await assert.rejects(cms.delete('p', { preconditions: { resourceVersion: '1' } }),
      (e: unknown) => e instanceof StatusError && e.code === 409 && e.reason === 'Conflict' && /Precondition failed/.test(e.message));
    await cms.delete('p');
  });

  test('non-2xx becomes StatusError carrying the server Status', async () => {
    const cms = client.resource(CONFIGMAPS, 'ns1');
    await assert.rejects(cms.get('missing'), (e: unknown) => {
      assert.ok(e instanceof StatusError);
      assert.equal(e.code, 404);
      assert.equal(e.reason, 'NotFound');
      assert.equal(e.message, 'configmaps "missing" not found');
      assert.equal(e.status.details?.name, 'missing');
      return true;
    });
    await cms.create(cm('ns1', 'dup'));
    await assert.rejects(cms.create(cm('ns1', 'dup')), (e: unknown) => e instanceof StatusError && e.reason === 'AlreadyExists');
    const stale = await cms.get('dup');
    await cms.update(stale);
    await assert.rejects(cms.update(stale), (e: unknown) => e instanceof StatusError && e.code === 409 && e.reason === 'Conflict');
    await assert.rejects(client.resource(CONFIGMAPS).get('x'), /namespace is required/);
  });

  test('non-Status error bodies are synthesized like apimachinery; network errors propagate', async () => {
    const e = statusErrorFrom(503, 'upstream down');
    assert.equal(e.code, 503);
    assert.equal(e.reason, 'InternalError');
    assert.match(e.message, /status code 503 .*upstream down/);
    assert.equal(statusErrorFrom(404, '').reason, 'NotFound');

    const srv = http.createServer((_, res) => { res.writeHead(500, { 'Content-Type': 'text/plain' }); res.end('boom'); });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    const c = new ApiClient({ server: `http://127.0.0.1:${port}` });
    await assert.rejects(c.request('GET', '/api/v1/pods'), (err: unknown) => err instanceof StatusError && err.code === 500 && /boom/.test(err.message));
    c.close();
    await new Promise<void>((r) => srv.close(() => r()));
    const dead = new ApiClient({ server: `http://127.0.0.1:${port}` });
    await assert.rejects(dead.request('GET', '/api/v1/pods'), (err: unknown) => !(err instanceof StatusError) && (err as NodeJS.ErrnoException).code === 'ECONNREFUSED');
    dead.close();
  });

  test('listPages pages with limit + continue, and falls back to a full list when the token expires', async () => {
    const cms = client.resource(CONFIGMAPS, 'pages');
    for (let i = 0; i < 5; i++) await cms.create(cm('pages', `p${i}`));
    const sizes: number[] = [];
    for await (const page of cms.listPages({}, 2)) sizes.push(page.items.length);
    assert.deepEqual(sizes, [2, 2, 1]);
    let first = true;
    fake.inject = (r) => {
      if (r.query.has('continue') && first) { first = false; fake.upsert('secrets', cm('x', 'y')); fake.compact(); }
      return undefined;
    };
    const got: string[][] = [];
    try {
      for await (const page of cms.listPages({}, 2)) got.push(page.items.map((o) => o.metadata.name!));
    } finally { fake.inject = undefined; }
    assert.deepEqual(got, [['p0', 'p1'], ['p0', 'p1', 'p2', 'p3', 'p4']]);
    assert.equal(fake.requests.at(-1)!.query.has('limit'), false);
  });

  test('429 with Retry-After is retried, a bounded number of times', async () => {
    const cms = client.resource(CONFIGMAPS, 'ns1');
    let n = 0;
    fake.inject = () => (++n <= 2 ? 429 : undefined);
    const list = await cms.list();
    assert.equal(list.kind, 'ConfigMapList');
    assert.equal(n, 3);
    n = 0;
    fake.inject = () => (++n, 429);
    await assert.rejects(cms.list(), (e: unknown) => e instanceof StatusError && e.code === 429 && e.reason === 'TooManyRequests');
    assert.equal(n, 6, 'first try + 5 retries');
    fake.inject = undefined;
  });

  test('raw request', async () => {
    const body = await client.request<{ kind: string }>('GET', '/api/v1/namespaces/ns1/configmaps');
    assert.equal(body.kind, 'ConfigMapList');
    const created = await client.request<KObject>('POST', '/api/v1/namespaces/ns1/configmaps', cm('ns1', 'raw'), { 'X-Test': '1' });
    assert.equal(created.metadata.name, 'raw');
    assert.equal(fake.requests.at(-1)!.headers['x-test'], '1');
  });
});

describe('watch', () => {
  const fake = new FakeApiServer({ chunkBytes: 3, bookmarkMs: 30 });
  let client: ApiClient;
  before(async () => { client = new ApiClient({ server: await fake.start() }); });
  after(async () => { client.close(); await fake.close(); });

  test('streams events split at arbitrary byte boundaries (multi-byte text too), then stop()', async () => {
    const cms = client.resource(CONFIGMAPS, 'w');
    fake.upsert('configmaps', cm('w', 'pre', { t: 'x' }));
    const list = await cms.list();
    const w = cms.watch({ resourceVersion: list.metadata.resourceVersion });
    const text = 'héllo ✓ 日本語 🚀'.repeat(20);
    setTimeout(() => {
      fake.upsert('configmaps', cm('w', 'a', { text }));
      fake.upsert('configmaps', cm('w', 'a', { text: `${text}!` }));
      fake.remove('configmaps', 'w', 'a');
    }, 20);
    const evs: WatchEvent<KObject>[] = [];
    for await (const ev of w) {
      evs.push(ev);
      if (ev.type === 'DELETED') w.stop();
    }
    assert.deepEqual(evs.map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED a', 'MODIFIED a', 'DELETED a']);
    assert.equal((evs[0]!.object.data as { text: string }).text, text);
    assert.equal(evs[0]!.object.kind, 'ConfigMap');
    const q = fake.requests.at(-1)!.query;
    assert.equal(q.get('watch'), 'true');
    assert.equal(q.get('resourceVersion'), list.metadata.resourceVersion);
    for (let i = 0; i < 200 && fake.openWatches > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(fake.openWatches, 0);
  });

  test('bookmarks, timeoutSeconds end the stream cleanly, abort signal', async () => {
    const cms = client.resource(CONFIGMAPS);
    const rv = String(fake.rv);
    const w = cms.watch({ resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 1 });
    const evs: WatchEvent<KObject>[] = [];
    for await (const ev of w) evs.push(ev); // ends when the server times the watch out
    assert.ok(evs.length >= 5, `bookmarks: ${evs.length}`);
    assert.ok(evs.every((e) => e.type === 'BOOKMARK' && e.object.metadata.resourceVersion === rv));
    assert.equal(fake.requests.at(-1)!.query.get('allowWatchBookmarks'), 'true');

    const ac = new AbortController();
    const w2 = cms.watch({ resourceVersion: rv, allowWatchBookmarks: true, signal: ac.signal });
    let got = 0;
    for await (const _ of w2) { got++; ac.abort(); } // aborting ends the iteration cleanly
    assert.equal(got, 1);
  });

  test('410 on open, ERROR event for compacted history, dropped connection', async () => {
    const cms = client.resource(CONFIGMAPS);
    fake.inject = (r) => (r.watch ? 410 : undefined);
    await assert.rejects(collect(cms.watch({ resourceVersion: '1' }), 1), (e: unknown) => e instanceof StatusError && e.code === 410 && e.reason === 'Expired');
    fake.inject = undefined;

    fake.upsert('configmaps', cm('w', 'b'));
    fake.compact();
    const [ev] = await collect(cms.watch({ resourceVersion: '1' }), 1);
    assert.equal(ev!.type, 'ERROR');
    assert.equal((ev!.object as unknown as { code: number }).code, 410);
    assert.equal((ev!.object as unknown as { reason: string }).reason, 'Expired');

    const w = cms.watch({ resourceVersion: String(fake.rv) });
    setTimeout(() => fake.dropWatches(), 30);
    await assert.rejects(collect(w, 1000), (e: unknown) => !(e instanceof StatusError));
  });
});

describe('TLS', () => {
  let pem: { cert: string; key: string } | undefined;
  before(() => {
    try {
      const dir = mkdtempSync(join(tmp, 'tls-'));
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=podnet-test',
        '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
      pem = { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
    } catch { pem = undefined; }
  });

  test('verifies the server against the CA, presents the client certificate, honours insecure', async (t) => {
    if (!pem) { t.skip('openssl not available'); return; }
    const fake = new FakeApiServer({ tls: { ...pem, ca: pem.cert } });
    const server = await fake.start();
    try {
      const good = new ApiClient({ server, ca: pem.cert, cert: pem.cert, key: pem.key });
      await good.resource(CONFIGMAPS).list();
      assert.equal(fake.requests.at(-1)!.clientCN, 'podnet-test');
      good.close();
      const noCa = new ApiClient({ server });
      await assert.rejects(noCa.resource(CONFIGMAPS).list(), /self[- ]signed/i);
      noCa.close();
      const insecure = new ApiClient({ server, insecure: true });
      await insecure.resource(CONFIGMAPS).list();
      insecure.close();
    } finally {
      await fake.close();
    }
  });
});
