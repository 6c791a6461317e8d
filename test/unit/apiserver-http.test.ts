// The API server over real HTTPS on loopback: how request targets are read (the fast split of
// plain paths must mean what the WHATWG parse means), and list encoding negotiation (gzip only
// for clients that ask for it; identity otherwise; both the same JSON).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { startApiServer, type RunningApiServer } from '../../src/apiserver/index.js';
import { requestUrl } from '../../src/apiserver/server.js';
import { loadKubeconfig } from '../../src/client/kubeconfig.js';

describe('requestUrl: the path and query handlers see', () => {
  const targets = [
    '/', '/api', '/api/v1/namespaces/default/pods', '/apis/networking.k8s.io/v1/ingresses?watch=true&resourceVersion=12',
    '/api/v1/pods?labelSelector=app%3Dweb%2Ctier%21%3Dfront&limit=500&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ',
    '/api/v1/namespaces/a/configmaps/x.y_z~1-2', '/api/v1/pods?fieldSelector=spec.nodeName=n1&a=+b&c=%20d',
    // Not plain: left to the WHATWG parser (dot segments, escapes, other characters).
    '/api/v1/namespaces/default/configmaps/../pods', '/api/v1/./pods', '/api/v1/namespaces/a%2Fb/pods',
    '/api/v1/namespaces/default/configmaps/a b', '/api/v1/pods/..', '/api/v1//pods?x=1#frag', '/api/v1/pods?q=a#b',
  ];
  for (const target of targets) {
    it(target, () => {
      const want = new URL(target, 'https://apiserver');
      const got = requestUrl(target);
      assert.equal(got.pathname, want.pathname);
      assert.deepEqual([...got.searchParams], [...want.searchParams]);
    });
  }
});

describe('API server over HTTPS', () => {
  let dir = '';
  let running: RunningApiServer;
  let ca = '';
  let token = '';
  let base: URL;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'podnet-apihttp-'));
    running = await startApiServer({ dataDir: dir, port: 0, bind: '127.0.0.1', controllers: false });
    const cfg = loadKubeconfig(running.kubeconfigPath);
    ca = cfg.ca ?? '';
    token = cfg.token ?? '';
    base = new URL(running.url);
  });

  after(async () => {
    await running?.stop().catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const request = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
      const req = https.request({
        host: base.hostname, port: base.port, method, path, ca,
        headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });

  it('routes plain paths, and paths with dot segments as their normalized form', async () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'one' }, data: { k: 'v' } };
    assert.equal((await request('POST', '/api/v1/namespaces/default/configmaps', {}, JSON.stringify(cm))).status, 201);
    const plain = await request('GET', '/api/v1/namespaces/default/configmaps/one');
    assert.equal(plain.status, 200);
    assert.equal(JSON.parse(plain.body.toString()).data.k, 'v');
    const dotted = await request('GET', '/api/v1/namespaces/default/pods/../configmaps/one');
    assert.equal(dotted.status, 200);
    assert.equal(JSON.parse(dotted.body.toString()).metadata.name, 'one');
    const listed = await request('GET', '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Done');
    assert.deepEqual(JSON.parse(listed.body.toString()).items.map((o: { metadata: { name: string } }) => o.metadata.name), ['one']);
    assert.equal((await request('GET', '/api/v1/namespaces/default/configmaps/one', { Authorization: 'Bearer wrong' })).status, 401);
    assert.equal((await request('GET', '/readyz', { Authorization: '' })).status, 200);
  });

  it('a large list is gzipped only for a client that asks; identity otherwise; the same JSON', async () => {
    // Enough ConfigMaps for a list above the 128 KiB gzip threshold.
    const filler = 'x'.repeat(2000);
    for (let i = 0; i < 100; i++) {
      const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `big-${i}`, namespace: 'kube-public' }, data: { filler } };
      assert.equal((await request('POST', '/api/v1/namespaces/kube-public/configmaps', {}, JSON.stringify(cm))).status, 201);
    }
    for (const path of ['/api/v1/namespaces/kube-public/configmaps', '/api/v1/configmaps', '/api/v1/namespaces/kube-public/configmaps?limit=90']) {
      const identity = await request('GET', path);
      assert.equal(identity.status, 200);
      assert.equal(identity.headers['content-encoding'], undefined, path);
      const gzipped = await request('GET', path, { 'Accept-Encoding': 'gzip' });
      assert.equal(gzipped.headers['content-encoding'], 'gzip', path);
      assert.ok(gzipped.body.length < identity.body.length / 4, path);
      const a = JSON.parse(identity.body.toString());
      const b = JSON.parse(gunzipSync(gzipped.body).toString());
      assert.ok(a.items.length >= 90, path);
      assert.deepEqual(b, a, path);
      // A client that refuses gzip (q=0) gets identity.
      const refused = await request('GET', path, { 'Accept-Encoding': 'gzip;q=0, identity' });
      assert.equal(refused.headers['content-encoding'], undefined, path);
    }
  });
});
