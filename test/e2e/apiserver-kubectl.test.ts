// End to end: unmodified kubectl against a real `podnet apiserver` process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually, haveKubectl, TestApiServer } from './harness.js';

const skip = haveKubectl() ? false : 'kubectl is not installed on this machine';

const deployment = (name: string, image: string, replicas = 2, extra = '') => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels: {app: ${name}}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: main
        image: ${image}
        ports:
        - containerPort: 8080
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
${extra}`;

describe('kubectl against podnet apiserver', { skip, concurrency: false }, () => {
  const srv = new TestApiServer();
  before(async () => { await srv.start(); });
  after(async () => { await srv.destroy(); });

  it('writes an owner-only kubeconfig and PKI, and refuses requests without a token', async () => {
    assert.equal(statSync(srv.kubeconfig).mode & 0o777, 0o600);
    assert.equal(statSync(join(srv.dataDir, 'pki', 'ca.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(srv.dataDir, 'pki', 'tokens.csv')).mode & 0o777, 0o600);
    const r = await srv.request('GET', '/api/v1/namespaces', undefined, { token: null });
    assert.equal(r.status, 401);
    const body = JSON.parse(r.body);
    assert.equal(body.kind, 'Status');
    assert.equal(body.reason, 'Unauthorized');
    const bad = await srv.request('GET', '/api/v1/namespaces', undefined, { token: 'nope' });
    assert.equal(bad.status, 401);
  });

  it('serves version, api-versions and api-resources', () => {
    assert.match(srv.k(['version']), /Server Version: v1\.32/);
    const versions = srv.k(['api-versions']);
    for (const gv of ['v1', 'apps/v1', 'discovery.k8s.io/v1', 'networking.k8s.io/v1', 'coordination.k8s.io/v1', 'events.k8s.io/v1']) {
      assert.ok(versions.split('\n').includes(gv), `api-versions lacks ${gv}`);
    }
    const res = srv.k(['api-resources']);
    for (const r of ['pods', 'services', 'deployments', 'replicasets', 'endpointslices', 'networkpolicies', 'ingresses', 'ingressclasses', 'ipaddresses', 'servicecidrs', 'leases', 'events', 'namespaces', 'nodes', 'configmaps', 'secrets', 'serviceaccounts', 'endpoints']) {
      assert.match(res, new RegExp(`^${r}\\s`, 'm'), `api-resources lacks ${r}`);
    }
  });

  it('has the system namespaces with their metadata.name label', () => {
    const out = srv.k(['get', 'ns', '-o', 'json']);
    const names = JSON.parse(out).items.map((n: { metadata: { name: string; labels: Record<string, string> } }) => {
      assert.equal(n.metadata.labels['kubernetes.io/metadata.name'], n.metadata.name);
      return n.metadata.name;
    });
    for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) assert.ok(names.includes(ns));
  });

  it('apply creates, re-apply patches by strategic merge, get shows upstream columns', () => {
    srv.k(['create', 'namespace', 'e2e']);
    const f = srv.writeFile('web.yaml', deployment('web', 'nginx:1.25'));
    assert.match(srv.k(['apply', '-n', 'e2e', '-f', f]), /deployment.apps\/web created/);
    // Change the image and drop env B: kubectl computes a strategic merge patch from OpenAPI.
    const f2 = srv.writeFile('web2.yaml', deployment('web', 'nginx:1.26').replace(/        - \{name: B, value: "2"\}\n/, ''));
    assert.match(srv.k(['apply', '-n', 'e2e', '-f', f2]), /deployment.apps\/web configured/);
    const d = JSON.parse(srv.k(['get', 'deploy', 'web', '-n', 'e2e', '-o', 'json']));
    assert.equal(d.spec.template.spec.containers[0].image, 'nginx:1.26');
    assert.deepEqual(d.spec.template.spec.containers[0].env, [{ name: 'A', value: '1' }]);
    assert.equal(d.metadata.generation, 2);
    assert.equal(d.spec.strategy.type, 'RollingUpdate'); // defaulted
    const table = srv.k(['get', 'deploy', '-n', 'e2e']);
    assert.match(table, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE/m);
    const wide = srv.k(['get', 'deploy', '-n', 'e2e', '-o', 'wide']);
    assert.match(wide, /CONTAINERS\s+IMAGES\s+SELECTOR/);
    assert.match(wide, /nginx:1\.26\s+app=web/);
    assert.match(srv.k(['apply', '-n', 'e2e', '-f', f2]), /unchanged/);
  });

  it('create subcommands, label and field selectors, -A', () => {
    srv.k(['create', 'configmap', 'cfg', '-n', 'e2e', '--from-literal=a=1']);
    srv.k(['create', 'secret', 'generic', 'sec', '-n', 'e2e', '--from-literal=password=s3cret']);
    srv.k(['create', 'service', 'clusterip', 'svc1', '-n', 'e2e', '--tcp=80:8080']);
    srv.k(['create', 'deployment', 'd2', '-n', 'e2e', '--image=registry.k8s.io/e2e-test-images/agnhost:2.53', '--replicas=3']);
    const sec = JSON.parse(srv.k(['get', 'secret', 'sec', '-n', 'e2e', '-o', 'json']));
    assert.equal(Buffer.from(sec.data.password, 'base64').toString(), 's3cret');
    assert.equal(sec.type, 'Opaque');
    srv.k(['label', 'cm', 'cfg', '-n', 'e2e', 'tier=backend']);
    assert.match(srv.k(['get', 'cm', '-n', 'e2e', '-l', 'tier=backend']), /^cfg\s/m);
    assert.match(srv.k(['get', 'cm', '-n', 'e2e', '-l', 'tier in (backend,x),!missing']), /^cfg\s/m);
    assert.doesNotMatch(srv.k(['get', 'cm', '-n', 'e2e', '-l', 'tier!=backend']), /^cfg\s/m);
    assert.match(srv.k(['get', 'cm', '-A', '--field-selector', 'metadata.name=cfg']), /^e2e\s+cfg\s/m);
    const bad = srv.kubectl(['get', 'pods', '-A', '--field-selector', 'spec.bogus=1']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /field label not supported: spec\.bogus/);
    srv.k(['annotate', 'cm', 'cfg', '-n', 'e2e', 'note=hello']);
    assert.equal(srv.k(['get', 'cm', 'cfg', '-n', 'e2e', '-o', 'jsonpath={.metadata.annotations.note}']), 'hello');
  });

  it('patch with merge, json and strategic types; scale through the scale subresource', () => {
    srv.k(['patch', 'deploy', 'web', '-n', 'e2e', '--type=merge', '-p', '{"spec":{"paused":true}}']);
    srv.k(['patch', 'deploy', 'web', '-n', 'e2e', '--type=json', '-p', '[{"op":"add","path":"/spec/minReadySeconds","value":5}]']);
    srv.k(['patch', 'deploy', 'web', '-n', 'e2e', '--type=strategic', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}']);
    const d = JSON.parse(srv.k(['get', 'deploy', 'web', '-n', 'e2e', '-o', 'json']));
    assert.equal(d.spec.paused, true);
    assert.equal(d.spec.minReadySeconds, 5);
    assert.deepEqual(d.spec.template.spec.containers.map((c: { name: string }) => c.name).sort(), ['main', 'side']);
    srv.k(['scale', 'deploy', 'web', '-n', 'e2e', '--replicas=5']);
    assert.equal(srv.k(['get', 'deploy', 'web', '-n', 'e2e', '-o', 'jsonpath={.spec.replicas}']), '5');
    const bad = srv.kubectl(['patch', 'deploy', 'web', '-n', 'e2e', '--type=json', '-p', '[{"op":"test","path":"/spec/replicas","value":1}]']);
    assert.notEqual(bad.code, 0);
  });

  it('rejects invalid objects with 422 and field causes, unknown fields with 400', async () => {
    const r = await srv.request('POST', '/api/v1/namespaces/e2e/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'Bad_Name' }, spec: { ports: [{ port: 70000 }] } });
    assert.equal(r.status, 422);
    const s = JSON.parse(r.body);
    assert.equal(s.reason, 'Invalid');
    assert.equal(s.details.kind, 'Service');
    const fields = s.details.causes.map((c: { field: string }) => c.field);
    assert.ok(fields.includes('metadata.name'), r.body);
    assert.ok(fields.includes('spec.ports[0].port'), r.body);
    const k = srv.kubectl(['create', '-n', 'e2e', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, dataa: {} }));
    assert.notEqual(k.code, 0);
    assert.match(k.stderr, /strict decoding error: unknown field "dataa"/);
    const malformed = await srv.request('POST', '/api/v1/namespaces/e2e/configmaps', '{"apiVersion": "v1", "kind": ', {});
    assert.equal(malformed.status, 400);
    const deep = await srv.request('POST', '/api/v1/namespaces/e2e/configmaps', '['.repeat(100_000) + ']'.repeat(100_000));
    assert.equal(deep.status, 400);
    const huge = await srv.request('POST', '/api/v1/namespaces/e2e/configmaps', JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'huge' }, data: { a: 'x'.repeat(4 << 20) } }));
    assert.equal(huge.status, 413);
    assert.equal(JSON.parse(huge.body).reason, 'RequestEntityTooLarge');
    // The server is still fine.
    assert.match(srv.k(['get', 'ns', 'e2e']), /e2e\s+Active/);
  });

  it('detects conflicting updates with 409', async () => {
    const cm = JSON.parse(srv.k(['get', 'cm', 'cfg', '-n', 'e2e', '-o', 'json']));
    cm.data.b = '2';
    const ok = await srv.request('PUT', '/api/v1/namespaces/e2e/configmaps/cfg', cm);
    assert.equal(ok.status, 200);
    cm.data.c = '3'; // still carries the old resourceVersion
    const stale = await srv.request('PUT', '/api/v1/namespaces/e2e/configmaps/cfg', cm);
    assert.equal(stale.status, 409);
    assert.equal(JSON.parse(stale.body).reason, 'Conflict');
  });

  it('streams changes to kubectl get -w', async () => {
    const w = spawn('kubectl', ['--kubeconfig', srv.kubeconfig, 'get', 'cm', '-n', 'e2e', '-w', '--output-watch-events'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    w.stdout.on('data', (d) => { out += d; });
    try {
      await eventually(() => /cfg/.test(out), 10_000, 'the initial list');
      srv.k(['create', 'configmap', 'watched', '-n', 'e2e', '--from-literal=x=y']);
      srv.k(['delete', 'configmap', 'watched', '-n', 'e2e']);
      await eventually(() => /ADDED\s+watched/.test(out) && /DELETED\s+watched/.test(out), 10_000, 'watch events');
    } finally {
      w.kill();
    }
  });

  it('waits for conditions and deletions', async () => {
    srv.k(['create', 'configmap', 'doomed', '-n', 'e2e']);
    const waiter = spawn('kubectl', ['--kubeconfig', srv.kubeconfig, 'wait', '--for=delete', 'cm/doomed', '-n', 'e2e', '--timeout=20s'], { stdio: 'pipe' });
    const done = new Promise<number>((r) => waiter.on('exit', (c) => r(c ?? -1)));
    await new Promise((r) => setTimeout(r, 500));
    srv.k(['delete', 'cm', 'doomed', '-n', 'e2e']);
    assert.equal(await done, 0);
    // Conditions are written through the status subresource; spec writes can't touch them.
    // (A pod bound to a node nobody runs: no controller or agent writes its status.)
    srv.k(['create', '-n', 'e2e', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'waiter' },
      spec: { nodeName: 'ghost-node', containers: [{ name: 'c', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53', args: ['pause'] }] } }));
    const waiter2 = spawn('kubectl', ['--kubeconfig', srv.kubeconfig, 'wait', '--for=condition=Ready', 'pod/waiter', '-n', 'e2e', '--timeout=20s'], { stdio: 'pipe' });
    const done2 = new Promise<number>((r) => waiter2.on('exit', (c) => r(c ?? -1)));
    srv.k(['patch', 'pod', 'waiter', '-n', 'e2e', '--type=merge', '-p', '{"status":{"phase":"Running"}}']);
    assert.equal(srv.k(['get', 'pod', 'waiter', '-n', 'e2e', '-o', 'jsonpath={.status.phase}']), 'Pending');
    srv.k(['patch', 'pod', 'waiter', '-n', 'e2e', '--subresource=status', '--type=merge', '-p',
      '{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}']);
    assert.equal(await done2, 0);
    srv.k(['delete', 'pod', 'waiter', '-n', 'e2e', '--grace-period=0', '--force']);
    srv.k(['create', 'namespace', 'e2e-wait']);
    assert.match(srv.k(['wait', '--for=jsonpath={.status.phase}=Active', 'ns/e2e-wait', '--timeout=10s']), /condition met/);
  });

  it('deletes by label and --all, and cascades to dependents', async () => {
    srv.k(['create', 'configmap', 'l1', '-n', 'e2e']);
    srv.k(['label', 'cm', 'l1', '-n', 'e2e', 'group=g']);
    assert.match(srv.k(['delete', 'cm', '-n', 'e2e', '-l', 'group=g']), /configmap "l1" deleted/);
    // A ReplicaSet owned by a Deployment goes when the Deployment goes (background).
    const d = JSON.parse(srv.k(['get', 'deploy', 'd2', '-n', 'e2e', '-o', 'json']));
    const rs = {
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: { name: 'd2-abc', labels: { app: 'd2' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'd2', uid: d.metadata.uid, controller: true, blockOwnerDeletion: true }] },
      spec: { replicas: 1, selector: { matchLabels: { app: 'd2' } }, template: { metadata: { labels: { app: 'd2' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } },
    };
    srv.k(['create', '-n', 'e2e', '-f', '-'], JSON.stringify(rs));
    srv.k(['delete', 'deploy', 'd2', '-n', 'e2e']);
    await eventually(() => srv.kubectl(['get', 'rs', 'd2-abc', '-n', 'e2e']).code !== 0, 15_000, 'the ReplicaSet to be collected');
    // Orphan: the dependent stays, without its owner reference.
    srv.k(['create', 'configmap', 'owner', '-n', 'e2e']);
    const owner = JSON.parse(srv.k(['get', 'cm', 'owner', '-n', 'e2e', '-o', 'json']));
    srv.k(['create', '-n', 'e2e', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'child', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid }] } }));
    srv.k(['delete', 'cm', 'owner', '-n', 'e2e', '--cascade=orphan']);
    await eventually(() => srv.kubectl(['get', 'cm', 'owner', '-n', 'e2e']).code !== 0, 15_000, 'the orphaning owner to go');
    const child = JSON.parse(srv.k(['get', 'cm', 'child', '-n', 'e2e', '-o', 'json']));
    assert.equal(child.metadata.ownerReferences, undefined);
    // Foreground: the owner waits for its dependents.
    srv.k(['create', 'configmap', 'fg', '-n', 'e2e']);
    const fg = JSON.parse(srv.k(['get', 'cm', 'fg', '-n', 'e2e', '-o', 'json']));
    srv.k(['create', '-n', 'e2e', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fg-child', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'fg', uid: fg.metadata.uid, blockOwnerDeletion: true }] } }));
    srv.k(['delete', 'cm', 'fg', '-n', 'e2e', '--cascade=foreground']);
    await eventually(() => srv.kubectl(['get', 'cm', 'fg-child', '-n', 'e2e']).code !== 0 && srv.kubectl(['get', 'cm', 'fg', '-n', 'e2e']).code !== 0, 15_000, 'foreground deletion');
    srv.k(['delete', 'cm', '--all', '-n', 'e2e']);
    assert.match(srv.kubectl(['get', 'cm', '-n', 'e2e']).stderr, /No resources found/);
  });

  it('describes objects and lists events', () => {
    srv.k(['create', '-n', 'e2e', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'web.1' }, involvedObject: { kind: 'Deployment', namespace: 'e2e', name: 'web', apiVersion: 'apps/v1' }, reason: 'Tested', message: 'hello from the test', type: 'Normal', source: { component: 'e2e' }, firstTimestamp: new Date().toISOString(), lastTimestamp: new Date().toISOString(), count: 1 }));
    const desc = srv.k(['describe', 'deploy', 'web', '-n', 'e2e']);
    assert.match(desc, /Name:\s+web/);
    assert.match(desc, /Replicas:/);
    assert.match(srv.k(['get', 'events', '-n', 'e2e']), /Tested/);
    // One storage for both Event APIs: an events.k8s.io/v1 Event is a core/v1 Event too.
    srv.k(['create', '-n', 'e2e', '-f', '-'], JSON.stringify({ apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'web.2' },
      eventTime: '2026-01-01T00:00:00.000000Z', reportingController: 'podnet.io/e2e', reportingInstance: 'e2e-1', action: 'Testing',
      reason: 'NewApi', type: 'Normal', regarding: { kind: 'Deployment', namespace: 'e2e', name: 'web' }, note: 'from events.k8s.io' }));
    const core = JSON.parse(srv.k(['get', 'events.v1.', 'web.2', '-n', 'e2e', '-o', 'json']));
    assert.equal(core.message, 'from events.k8s.io');
    assert.equal(core.involvedObject.name, 'web');
    assert.equal(core.reportingComponent, 'podnet.io/e2e');
    assert.match(srv.k(['get', 'events.events.k8s.io', '-n', 'e2e']), /Tested/);
  });

  it('edits with $EDITOR', () => {
    const editor = srv.writeFile('editor.sh', '#!/bin/sh\nsed -i "s/minReadySeconds: 5/minReadySeconds: 7/" "$1"\n');
    const r = srv.kubectl(['edit', 'deploy', 'web', '-n', 'e2e'], undefined, { KUBE_EDITOR: `sh ${editor}` });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(srv.k(['get', 'deploy', 'web', '-n', 'e2e', '-o', 'jsonpath={.spec.minReadySeconds}']), '7');
  });

  it('deleting a namespace deletes its contents', async () => {
    srv.k(['create', 'configmap', 'inside', '-n', 'e2e-wait']);
    srv.k(['delete', 'namespace', 'e2e-wait', '--wait=false']);
    await eventually(() => srv.kubectl(['get', 'ns', 'e2e-wait']).code !== 0, 20_000, 'the namespace to go');
    const r = srv.kubectl(['create', 'configmap', 'late', '-n', 'e2e-wait']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not found/);
  });
});
