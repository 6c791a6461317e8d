// JSON merge patch, JSON patch and strategic merge patch, including the exact patches that
// `kubectl apply` (client-side), `kubectl patch` and `kubectl label` send for common edits.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StatusError } from '../../src/api/errors.js';
import {
  applyJsonPatch, applyMergePatch, applyStrategicMergePatch, maxJSONPatchOperations, PatchError,
} from '../../src/api/patch.js';
import type { FieldPatchMeta, PatchMeta } from '../../src/api/patchmeta.js';

// ---- a small fake PatchMeta, described by a nested literal ---------------------------------

interface FieldSpec { s?: string[]; key?: string; t?: FieldPatchMeta['type']; elem?: Spec }
interface Spec { [field: string]: FieldSpec }

function metaOf(spec: Spec): PatchMeta {
  return {
    field(name) {
      const f = spec[name];
      if (!f) return undefined;
      return { strategies: f.s ?? [], mergeKey: f.key, type: f.t ?? (f.key ? 'array' : 'object'), elem: f.elem ? metaOf(f.elem) : undefined };
    },
  };
}

const mergeBy = (key: string, elem: Spec = {}): FieldSpec => ({ s: ['merge'], key, t: 'array', elem });
const objectMeta: Spec = {
  labels: { t: 'map' },
  annotations: { t: 'map' },
  finalizers: { s: ['merge'], t: 'array' },
  ownerReferences: mergeBy('uid'),
};
const container: Spec = {
  ports: mergeBy('containerPort'),
  env: mergeBy('name', { valueFrom: { elem: { configMapKeyRef: {} } } }),
  volumeMounts: mergeBy('mountPath'),
  args: { t: 'array' },
  resources: { elem: { limits: { t: 'map' }, requests: { t: 'map' } } },
};
const podSpec: Spec = {
  containers: mergeBy('name', container),
  initContainers: mergeBy('name', container),
  volumes: { s: ['merge', 'retainKeys'], key: 'name', t: 'array', elem: { configMap: {}, emptyDir: {} } },
  tolerations: { t: 'array' },
  securityContext: {},
  nodeSelector: { t: 'map' },
};
const deploymentMeta = metaOf({
  metadata: { elem: objectMeta },
  spec: {
    elem: {
      selector: { elem: { matchLabels: { t: 'map' } } },
      strategy: { s: ['retainKeys'], elem: { rollingUpdate: {} } },
      template: { elem: { metadata: { elem: objectMeta }, spec: { elem: podSpec } } },
    },
  },
});
const serviceMeta = metaOf({
  metadata: { elem: objectMeta },
  spec: { elem: { ports: { s: ['merge'], key: 'port', t: 'array' }, selector: { s: ['replace'], t: 'map' } } },
});

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

function deployment(containers: unknown[], extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', labels: { app: 'web', tier: 'front' }, annotations: { [LAST_APPLIED]: '{}' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers, ...extra } },
    },
  };
}
const containersOf = (d: any) => d.spec.template.spec.containers;

// ---- JSON merge patch ----------------------------------------------------------------------

describe('applyMergePatch (RFC 7386)', () => {
  // The examples of RFC 7386 appendix A.
  const cases: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, want] of cases) {
    it(`${JSON.stringify(target)} + ${JSON.stringify(patch)}`, () => {
      const t = structuredClone(target);
      const p = structuredClone(patch);
      assert.deepEqual(applyMergePatch(t, p), want);
      assert.deepEqual(t, target, 'target not mutated');
      assert.deepEqual(p, patch, 'patch not mutated');
    });
  }
  it('removes a label with null', () => {
    const d = deployment([{ name: 'web', image: 'nginx' }]);
    const out = applyMergePatch(d, { metadata: { labels: { tier: null } } }) as any;
    assert.deepEqual(out.metadata.labels, { app: 'web' });
    assert.equal(d.metadata.labels.tier, 'front');
  });
});

// ---- JSON patch ----------------------------------------------------------------------------

describe('applyJsonPatch (RFC 6902)', () => {
  const doc = { metadata: { name: 'a', labels: { x: '1' } }, spec: { replicas: 1, ports: [{ port: 80 }] } };
  const ok: [string, unknown[], unknown][] = [
    ['add', [{ op: 'add', path: '/metadata/labels/y', value: '2' }], { ...doc, metadata: { name: 'a', labels: { x: '1', y: '2' } } }],
    ['add to end of list', [{ op: 'add', path: '/spec/ports/-', value: { port: 443 } }],
      { ...doc, spec: { replicas: 1, ports: [{ port: 80 }, { port: 443 }] } }],
    ['replace', [{ op: 'replace', path: '/spec/replicas', value: 3 }], { ...doc, spec: { replicas: 3, ports: [{ port: 80 }] } }],
    ['remove', [{ op: 'remove', path: '/metadata/labels/x' }], { ...doc, metadata: { name: 'a', labels: {} } }],
    ['test then replace', [{ op: 'test', path: '/spec/replicas', value: 1 }, { op: 'replace', path: '/spec/replicas', value: 5 }],
      { ...doc, spec: { replicas: 5, ports: [{ port: 80 }] } }],
    ['move', [{ op: 'move', from: '/metadata/labels/x', path: '/metadata/labels/z' }], { ...doc, metadata: { name: 'a', labels: { z: '1' } } }],
    ['copy', [{ op: 'copy', from: '/metadata/name', path: '/metadata/labels/n' }], { ...doc, metadata: { name: 'a', labels: { x: '1', n: 'a' } } }],
    ['escaped key', [{ op: 'add', path: '/metadata/labels/example.com~1role', value: 'db' }],
      { ...doc, metadata: { name: 'a', labels: { x: '1', 'example.com/role': 'db' } } }],
  ];
  for (const [name, ops, want] of ok) {
    it(name, () => {
      const before = structuredClone(doc);
      assert.deepEqual(applyJsonPatch(doc, ops), want);
      assert.deepEqual(doc, before, 'input not mutated');
    });
  }
  it('does not share values with the patch', () => {
    const value = { port: 443 };
    const out = applyJsonPatch(doc, [{ op: 'add', path: '/spec/ports/-', value }]) as any;
    out.spec.ports[1].port = 1;
    assert.equal(value.port, 443);
  });
  const bad: [string, unknown, string][] = [
    ['failed test', [{ op: 'test', path: '/spec/replicas', value: 2 }], 'testing value /spec/replicas failed: test failed'],
    ['missing parent', [{ op: 'add', path: '/spec/foo/bar', value: 1 }], 'add operation does not apply: doc is missing path: "/spec/foo/bar": missing value'],
    ['remove missing', [{ op: 'remove', path: '/spec/nope' }], 'remove operation does not apply: doc is missing path: "/spec/nope": missing value'],
    ['replace missing', [{ op: 'replace', path: '/spec/nope', value: 1 }], 'replace operation does not apply: doc is missing key: /spec/nope: missing value'],
    ['move from missing', [{ op: 'move', from: '/spec/nope', path: '/spec/x' }], 'move operation does not apply: doc is missing from path: /spec/nope: missing value'],
    ['unknown op', [{ op: 'frobnicate', path: '/spec' }], 'Unexpected kind: frobnicate'],
    ['bad index', [{ op: 'add', path: '/spec/ports/7', value: 1 }], 'Unable to access invalid index: /spec/ports/7: invalid index referenced'],
  ];
  for (const [name, ops, msg] of bad) {
    it(`fails: ${name}`, () => {
      assert.throws(() => applyJsonPatch(doc, ops), (e: unknown) => e instanceof PatchError && e.code === 422 && e.message === msg);
    });
  }
  it('a patch that is not a list is a bad request', () => {
    assert.throws(() => applyJsonPatch(doc, { op: 'add' }), (e: unknown) => e instanceof PatchError && e.code === 400);
  });
  it(`rejects more than ${maxJSONPatchOperations} operations with 413`, () => {
    const ops = Array.from({ length: maxJSONPatchOperations + 1 }, () => ({ op: 'test', path: '/spec/replicas', value: 1 }));
    assert.throws(() => applyJsonPatch(doc, ops), (e: unknown) =>
      e instanceof StatusError && e.code === 413 &&
      e.status.message === 'Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001');
    assert.doesNotThrow(() => applyJsonPatch(doc, ops.slice(1)));
  });
});

// ---- strategic merge patch -----------------------------------------------------------------

describe('applyStrategicMergePatch: kubectl apply patches', () => {
  it('updates one container image by name ($setElementOrder/containers)', () => {
    const live = deployment([{ name: 'web', image: 'nginx:1.24' }, { name: 'log', image: 'fluentd' }]);
    const patch = {
      metadata: { annotations: { [LAST_APPLIED]: '{"new":1}' } },
      spec: { template: { spec: {
        '$setElementOrder/containers': [{ name: 'web' }, { name: 'log' }],
        containers: [{ image: 'nginx:1.25', name: 'web' }],
      } } },
    };
    const before = structuredClone(live);
    const patchBefore = structuredClone(patch);
    const out = applyStrategicMergePatch(live, patch, deploymentMeta) as any;
    assert.deepEqual(containersOf(out), [{ name: 'web', image: 'nginx:1.25' }, { name: 'log', image: 'fluentd' }]);
    assert.equal(out.metadata.annotations[LAST_APPLIED], '{"new":1}');
    assert.deepEqual(out.metadata.labels, live.metadata.labels);
    assert.deepEqual(live, before, 'target not mutated');
    assert.deepEqual(patch, patchBefore, 'patch not mutated');
  });

  it('adds a port (merge key containerPort), keeping order', () => {
    const live = deployment([{ name: 'web', image: 'nginx', ports: [{ containerPort: 80, protocol: 'TCP' }] }]);
    const patch = { spec: { template: { spec: {
      '$setElementOrder/containers': [{ name: 'web' }],
      containers: [{ '$setElementOrder/ports': [{ containerPort: 80 }, { containerPort: 443 }], name: 'web', ports: [{ containerPort: 443 }] }],
    } } } };
    const out = applyStrategicMergePatch(live, patch, deploymentMeta) as any;
    assert.deepEqual(containersOf(out)[0].ports, [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 443 }]);
  });

  it('adds a port in front of an existing one', () => {
    const live = deployment([{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }]);
    const patch = { spec: { template: { spec: {
      '$setElementOrder/containers': [{ name: 'web' }],
      containers: [{ '$setElementOrder/ports': [{ containerPort: 8080 }, { containerPort: 80 }], name: 'web', ports: [{ containerPort: 8080 }] }],
    } } } };
    const out = applyStrategicMergePatch(live, patch, deploymentMeta) as any;
    assert.deepEqual(containersOf(out)[0].ports, [{ containerPort: 8080 }, { containerPort: 80 }]);
  });

  it('removes a port ($patch: delete + $setElementOrder/ports)', () => {
    const live = deployment([{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }, { containerPort: 443 }] }]);
    const patch = { spec: { template: { spec: {
      '$setElementOrder/containers': [{ name: 'web' }],
      containers: [{ '$setElementOrder/ports': [{ containerPort: 80 }], name: 'web', ports: [{ $patch: 'delete', containerPort: 443 }] }],
    } } } };
    const out = applyStrategicMergePatch(live, patch, deploymentMeta) as any;
    assert.deepEqual(containersOf(out)[0].ports, [{ containerPort: 80 }]);
  });

  it('removes an env var and changes another ($setElementOrder/env)', () => {
    const live = deployment([{ name: 'web', image: 'nginx', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }, { name: 'C', value: '3' }] }]);
    const patch = { spec: { template: { spec: {
      '$setElementOrder/containers': [{ name: 'web' }],
      containers: [{
        '$setElementOrder/env': [{ name: 'A' }, { name: 'C' }],
        env: [{ name: 'C', value: '30' }, { $patch: 'delete', name: 'B' }],
        name: 'web',
      }],
    } } } };
    const out = applyStrategicMergePatch(live, patch, deploymentMeta) as any;
    assert.deepEqual(containersOf(out)[0].env, [{ name: 'A', value: '1' }, { name: 'C', value: '30' }]);
  });

  it('switches an env var from value to valueFrom (null removes the old field)', () => {
    const live = deployment([{ name: 'web', image: 'nginx', env: [{ name: 'A', value: '1' }] }]);
    const patch = { spec: { template: { spec: {
      '$setElementOrder/containers': [{ name: 'web' }],
      containers: [{
        '$setElementOrder/env': [{ name: 'A' }],
        env: [{ name: 'A', value: null, valueFrom: { configMapKeyRef: { key: 'a', name: 'cfg' } } }],
        name: 'web',
      }],
    } } } };
    const out = applyStrategicMergePatch(live, patch, deploymentMeta) as any;
    assert.deepEqual(containersOf(out)[0].env, [{ name: 'A', valueFrom: { configMapKeyRef: { key: 'a', name: 'cfg' } } }]);
  });

  it('adds a container and keeps a server-injected sidecar in place', () => {
    const live = deployment([{ name: 'a', image: 'a' }, { name: 'injected', image: 'proxy' }, { name: 'b', image: 'b' }]);
    const patch = { spec: { template: { spec: {
      '$setElementOrder/containers': [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
      containers: [{ image: 'c', name: 'c' }],
    } } } };
    const out = applyStrategicMergePatch(live, patch, deploymentMeta) as any;
    assert.deepEqual(containersOf(out).map((c: any) => c.name), ['a', 'injected', 'b', 'c']);
  });

  it('removes a container and reorders the rest', () => {
    const live = deployment([{ name: 'a', image: 'a' }, { name: 'b', image: 'b' }, { name: 'c', image: 'c' }]);
    const patch = { spec: { template: { spec: {
      '$setElementOrder/containers': [{ name: 'c' }, { name: 'a' }],
      containers: [{ $patch: 'delete', name: 'b' }],
    } } } };
    const out = applyStrategicMergePatch(live, patch, deploymentMeta) as any;
    assert.deepEqual(containersOf(out).map((c: any) => c.name), ['c', 'a']);
  });

  it('removes a label with null and adds another', () => {
    const live = deployment([{ name: 'web', image: 'nginx' }]);
    const out = applyStrategicMergePatch(live, { metadata: { labels: { tier: null, env: 'prod' } } }, deploymentMeta) as any;
    assert.deepEqual(out.metadata.labels, { app: 'web', env: 'prod' });
  });

  it('changes the rollout strategy ($retainKeys drops rollingUpdate)', () => {
    const live = deployment([{ name: 'web', image: 'nginx' }]);
    const patch = { spec: { strategy: { $retainKeys: ['type'], rollingUpdate: null, type: 'Recreate' } } };
    const out = applyStrategicMergePatch(live, patch, deploymentMeta) as any;
    assert.deepEqual(out.spec.strategy, { type: 'Recreate' });
  });

  it('replaces a volume source ($retainKeys on a merging list item)', () => {
    const live = deployment([{ name: 'web', image: 'nginx' }], { volumes: [{ name: 'data', emptyDir: {} }, { name: 'cfg', configMap: { name: 'x' } }] });
    const patch = { spec: { template: { spec: {
      '$setElementOrder/volumes': [{ name: 'data' }, { name: 'cfg' }],
      volumes: [{ $retainKeys: ['configMap', 'name'], configMap: { name: 'data' }, emptyDir: null, name: 'data' }],
    } } } };
    const out = applyStrategicMergePatch(live, patch, deploymentMeta) as any;
    assert.deepEqual(out.spec.template.spec.volumes, [{ name: 'data', configMap: { name: 'data' } }, { name: 'cfg', configMap: { name: 'x' } }]);
  });

  it('finalizers: union, $deleteFromPrimitiveList and $setElementOrder', () => {
    const live = { metadata: { name: 'x', finalizers: ['a', 'b', 'z'] } };
    const patch = { metadata: {
      '$setElementOrder/finalizers': ['a', 'c'],
      '$deleteFromPrimitiveList/finalizers': ['b'],
      finalizers: ['c'],
    } };
    const out = applyStrategicMergePatch(live, patch, deploymentMeta) as any;
    assert.deepEqual(out.metadata.finalizers, ['a', 'c', 'z']);
  });

  it('replaces a list without a merge strategy (args, tolerations)', () => {
    const live = deployment([{ name: 'web', image: 'nginx', args: ['-a', '-b'] }], { tolerations: [{ key: 'x', operator: 'Exists' }] });
    const patch = { spec: { template: { spec: {
      '$setElementOrder/containers': [{ name: 'web' }],
      containers: [{ args: ['-c'], name: 'web' }],
      tolerations: [{ key: 'y', operator: 'Exists' }],
    } } } };
    const out = applyStrategicMergePatch(live, patch, deploymentMeta) as any;
    assert.deepEqual(containersOf(out)[0].args, ['-c']);
    assert.deepEqual(out.spec.template.spec.tolerations, [{ key: 'y', operator: 'Exists' }]);
  });
});

describe('applyStrategicMergePatch: kubectl patch directives and semantics', () => {
  const pod = () => ({
    metadata: { name: 'p', labels: { a: '1' }, finalizers: ['x'] },
    spec: {
      containers: [
        { name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] },
        { name: 'log', image: 'fluentd' },
      ],
      securityContext: { runAsUser: 1000, fsGroup: 2000 },
      nodeSelector: { disk: 'ssd' },
    },
  });
  const podMeta = metaOf({ metadata: { elem: objectMeta }, spec: { elem: podSpec } });
  const table: [string, Record<string, unknown>, (out: any) => void][] = [
    ['merges a container by name and appends a new one',
      { spec: { containers: [{ name: 'log', image: 'fluent-bit' }, { name: 'new', image: 'busybox' }] } },
      (o) => assert.deepEqual(o.spec.containers.map((c: any) => `${c.name}:${c.image}`), ['web:nginx', 'log:fluent-bit', 'new:busybox'])],
    ['$patch: replace inside a list replaces the whole list',
      { spec: { containers: [{ name: 'only', image: 'x' }, { $patch: 'replace' }] } },
      (o) => assert.deepEqual(o.spec.containers, [{ name: 'only', image: 'x' }])],
    ['$patch: delete in a list removes by merge key',
      { spec: { containers: [{ name: 'web', $patch: 'delete' }] } },
      (o) => assert.deepEqual(o.spec.containers.map((c: any) => c.name), ['log'])],
    ['$patch: replace on a map replaces it',
      { spec: { securityContext: { $patch: 'replace', runAsNonRoot: true } } },
      (o) => assert.deepEqual(o.spec.securityContext, { runAsNonRoot: true })],
    ['$patch: delete on a map empties it',
      { spec: { securityContext: { $patch: 'delete' } } },
      (o) => assert.deepEqual(o.spec.securityContext, {})],
    ['maps merge recursively; null deletes',
      { spec: { securityContext: { runAsUser: null, runAsGroup: 3 } } },
      (o) => assert.deepEqual(o.spec.securityContext, { fsGroup: 2000, runAsGroup: 3 })],
    ['nulls for absent keys are dropped, also inside new values',
      { spec: { hostname: null, dnsConfig: { nameservers: ['1.1.1.1'], searches: null } } },
      (o) => { assert.equal('hostname' in o.spec, false); assert.deepEqual(o.spec.dnsConfig, { nameservers: ['1.1.1.1'] }); }],
    ['merging primitive list is a union',
      { metadata: { finalizers: ['y', 'x'] } },
      (o) => assert.deepEqual(o.metadata.finalizers, ['y', 'x'])],
    ['$deleteFromPrimitiveList alone',
      { metadata: { '$deleteFromPrimitiveList/finalizers': ['x'] } },
      (o) => assert.deepEqual(o.metadata.finalizers, [])],
    ['$deleteFromPrimitiveList on an absent list adds nothing',
      { spec: { containers: [{ name: 'log', '$deleteFromPrimitiveList/args': ['a'] }] } },
      (o) => assert.equal('args' in o.spec.containers[1], false)],
    ['$setElementOrder only reorders',
      { spec: { '$setElementOrder/containers': [{ name: 'log' }, { name: 'web' }] } },
      (o) => assert.deepEqual(o.spec.containers.map((c: any) => c.name), ['log', 'web'])],
    ['unknown fields fall back to JSON merge: maps merge, lists replace',
      { spec: { extra: { a: 1 }, containers: [{ name: 'web', unknownList: [1] }] }, status: { phase: 'Running' } },
      (o) => { assert.deepEqual(o.spec.extra, { a: 1 }); assert.deepEqual(o.spec.containers[0].unknownList, [1]); assert.equal(o.status.phase, 'Running'); }],
    ['a type change replaces the value',
      { metadata: { labels: 'oops' } },
      (o) => assert.equal(o.metadata.labels, 'oops')],
    ['a new merging list drops its directives',
      { spec: { initContainers: [{ name: 'init', image: 'x', env: null }, { name: 'gone', $patch: 'delete' }] } },
      (o) => assert.deepEqual(o.spec.initContainers, [{ name: 'init', image: 'x' }])],
    ['$patch: replace at the top level',
      { $patch: 'replace', metadata: { name: 'q' } },
      (o) => assert.deepEqual(o, { metadata: { name: 'q' } })],
  ];
  for (const [name, patch, check] of table) {
    it(name, () => {
      const live = pod();
      const before = structuredClone(live);
      check(applyStrategicMergePatch(live, patch, podMeta));
      assert.deepEqual(live, before);
    });
  }

  it('map-valued fields with replace strategy (Service selector) are replaced', () => {
    const svc = { metadata: { name: 's' }, spec: { selector: { app: 'a', tier: 'b' }, ports: [{ port: 80, targetPort: 8080 }] } };
    const out = applyStrategicMergePatch(svc, { spec: { selector: { app: 'c' }, ports: [{ port: 443 }] } }, serviceMeta) as any;
    assert.deepEqual(out.spec.selector, { app: 'c' });
    // Without $setElementOrder, new items come before server-only ones (as upstream since 1.7).
    assert.deepEqual(out.spec.ports, [{ port: 443 }, { port: 80, targetPort: 8080 }]);
  });

  it('the "kubectl patch" task example: new container first, tolerations replaced', () => {
    const live = deployment([{ name: 'patch-demo-ctr', image: 'nginx' }], { tolerations: [{ effect: 'NoSchedule', key: 'dedicated', value: 'test-team' }] });
    const out = applyStrategicMergePatch(live, { spec: { template: { spec: {
      containers: [{ name: 'patch-demo-ctr-2', image: 'redis' }],
      tolerations: [{ effect: 'NoSchedule', key: 'disktype', value: 'ssd' }],
    } } } }, deploymentMeta) as any;
    assert.deepEqual(containersOf(out).map((c: any) => c.image), ['redis', 'nginx']);
    assert.deepEqual(out.spec.template.spec.tolerations, [{ effect: 'NoSchedule', key: 'disktype', value: 'ssd' }]);
  });

  const errors: [string, unknown, RegExp | string, number][] = [
    ['a merge list item without its merge key', { spec: { containers: [{ image: 'x' }] } },
      'map: map[image:x] does not contain declared merge key: name', 500],
    ['an unknown $patch directive on a map', { spec: { securityContext: { $patch: 'bogus' } } },
      'unknown patch type: bogus in map: map[$patch:bogus]', 500],
    ['$patch: merge in a list', { spec: { containers: [{ $patch: 'merge' }] } },
      'merging lists cannot yet be specified in the patch', 500],
    ['a bad $setElementOrder key', { spec: { '$setElementOrder': [] } }, 'invalid patch format of setElementOrder list', 400],
    ['a bad $deleteFromPrimitiveList key', { metadata: { '$deleteFromPrimitiveListfinalizers': ['x'] } },
      'invalid patch format of primitive list', 400],
    ['$retainKeys not a list', { spec: { securityContext: { $retainKeys: 'x' } } }, 'invalid patch format of retainKeys', 400],
    ['$retainKeys missing a patched key', { spec: { securityContext: { $retainKeys: ['a'], b: 1 } } }, 'invalid patch format of retainKeys', 400],
    ['lists of lists', { metadata: { ownerReferences: [['x']] } }, 'lists of lists are not supported', 422],
    ['mixed element types', { metadata: { finalizers: [{ a: 1 }] } }, /^list element types are not identical/, 500],
    ['$setElementOrder inconsistent with the patch list',
      { spec: { '$setElementOrder/containers': [{ name: 'web' }], containers: [{ name: 'log', image: 'y' }] } },
      /^The order in patch list:/, 500],
    ['a patch that is not an object', ['x'], 'json: cannot unmarshal array into Go value of type map[string]interface {}', 400],
  ];
  for (const [name, patch, msg, code] of errors) {
    it(`error: ${name}`, () => {
      assert.throws(() => applyStrategicMergePatch(pod(), patch, podMeta), (e: unknown) => {
        assert.ok(e instanceof PatchError, String(e));
        if (typeof msg === 'string') assert.equal(e.message, msg);
        else assert.match(e.message, msg);
        assert.equal(e.code, code);
        return true;
      });
    });
  }

  it('orders more than 20 items as upstream (stable sort in blocks)', () => {
    const names = Array.from({ length: 45 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    const live = { spec: { containers: names.map((name) => ({ name })) } };
    const reversed = [...names].reverse();
    const out = applyStrategicMergePatch(live, { spec: { '$setElementOrder/containers': reversed.map((name) => ({ name })) } }, podMeta) as any;
    assert.deepEqual(out.spec.containers.map((c: any) => c.name), reversed);
  });
});

// Scenarios from upstream's strategicpatch tests (re-expressed): a MergeItem type with every
// kind of field, the live object, the patch the server receives, and the expected result.
describe('applyStrategicMergePatch: upstream MergeItem scenarios', () => {
  const mergeItem: Spec = {};
  Object.assign(mergeItem, {
    mergingList: mergeBy('name', mergeItem),
    nonMergingList: { t: 'array', elem: mergeItem },
    mergingIntList: { s: ['merge'], t: 'array' },
    nonMergingIntList: { t: 'array' },
    simpleMap: { t: 'map' },
    replacingItem: { s: ['replace'] },
    retainKeysMap: { s: ['retainKeys'], elem: { mergingList: mergeBy('name', mergeItem), mergingIntList: { s: ['merge'], t: 'array' }, simpleMap: { t: 'map' } } },
    retainKeysMergingList: { s: ['merge', 'retainKeys'], key: 'name', t: 'array', elem: mergeItem },
  } satisfies Spec);
  const meta = metaOf(mergeItem);
  const n = (name: number, extra: Record<string, unknown> = {}) => ({ name, ...extra });
  const sEO = (...names: number[]) => names.map((name) => ({ name }));
  const del = (name: number) => ({ name, $patch: 'delete' });

  const cases: [string, Record<string, unknown>, Record<string, unknown>, Record<string, unknown> | string][] = [
    ['unique scalars when merging lists', { mergingIntList: [1, 2] }, { mergingIntList: [2, 3] }, { mergingIntList: [1, 2, 3] }],
    ['delete map from nested map', { simpleMap: { key1: 1, key2: 1 } }, { simpleMap: { $patch: 'delete' } }, { simpleMap: {} }],
    ['delete all items from merging list', { mergingList: [n(1), n(2)] }, { mergingList: [{ $patch: 'replace' }] }, { mergingList: [] }],
    ['delete all keys from map', { name: 1, value: 1 }, { $patch: 'replace' }, {}],
    ['add key and delete all keys from map', { name: 1, value: 1 }, { other: 'a', $patch: 'replace' }, { other: 'a' }],
    ['delete all duplicate entries in a merging list',
      { mergingList: [n(1), n(1), n(2, { value: 'a' }), n(3), n(3)] }, { mergingList: [del(1), del(3)] }, { mergingList: [n(2, { value: 'a' })] }],
    ['retainKeys map: merge without a directive', { retainKeysMap: { name: 'foo' } }, { retainKeysMap: { value: 'bar' } }, { retainKeysMap: { name: 'foo', value: 'bar' } }],
    ['retainKeys map: merge an empty map', { retainKeysMap: { name: 'foo', value: 'a' } }, { retainKeysMap: {} }, { retainKeysMap: { name: 'foo', value: 'a' } }],
    ['retainKeys map: directive clears the others',
      { retainKeysMap: { name: 'foo', value: 'a', other: 'x' } }, { retainKeysMap: { $retainKeys: ['name', 'value'], value: 'b' } },
      { retainKeysMap: { name: 'foo', value: 'b' } }],
    ['retainKeys list: delete a field without a directive',
      { retainKeysMergingList: [n(0), { name: 'foo', value: 'a' }] }, { retainKeysMergingList: [{ name: 'foo', value: null }] },
      { retainKeysMergingList: [n(0), { name: 'foo' }] }],
    ['preserve the order from the patch in a merging list',
      { mergingList: [n(1), n(2, { value: 'b' }), n(3)] }, { mergingList: [n(3, { value: 'c' }), n(1, { value: 'a' }), n(2, { other: 'x' })] },
      { mergingList: [n(3, { value: 'c' }), n(1, { value: 'a' }), n(2, { value: 'b', other: 'x' })] }],
    ['preserve the order from the patch in a merging list 2',
      { mergingList: [n(1), n(2, { value: 'b' }), n(3)] }, { mergingList: [n(3, { value: 'c' }), n(1, { value: 'a' })] },
      { mergingList: [n(2, { value: 'b' }), n(3, { value: 'c' }), n(1, { value: 'a' })] }],
    ['preserve the order from the patch in a merging int list', { mergingIntList: [1, 2, 3] }, { mergingIntList: [3, 1, 2] }, { mergingIntList: [3, 1, 2] }],
    ['preserve the order from the patch in a merging int list 2', { mergingIntList: [1, 2, 3] }, { mergingIntList: [3, 1] }, { mergingIntList: [2, 3, 1] }],
    ['$setElementOrder names an item missing from the list',
      { mergingList: [n(1), n(3)] }, { '$setElementOrder/mergingList': sEO(3, 2, 1), mergingList: [n(3, { value: 3 }), n(1, { value: 1 })] },
      { mergingList: [n(3, { value: 3 }), n(1, { value: 1 })] }],
    ['$setElementOrder names an int missing from the list', { mergingIntList: [1, 3] }, { '$setElementOrder/mergingIntList': [3, 2, 1] }, { mergingIntList: [3, 1] }],
    ['$setElementOrder must agree with the patch list',
      { mergingList: [n(1), n(3), n(2)] }, { '$setElementOrder/mergingList': sEO(1, 2, 3), mergingList: [n(3, { value: 3 }), n(1, { value: 1 })] },
      "doesn't match"],
    ['$setElementOrder must agree with the patch int list',
      { mergingIntList: [1, 3, 2] }, { '$setElementOrder/mergingIntList': [1, 2, 3], mergingIntList: [3, 1] }, "doesn't match"],
    ['missing merge key', { mergingList: [n(1, { value: 'a' })] }, { mergingList: [{ value: 'b' }] }, 'does not contain declared merge key'],
    ['$deleteFromPrimitiveList of a missing item', { mergingIntList: [1, 2] }, { '$deleteFromPrimitiveList/mergingIntList': [3] }, { mergingIntList: [1, 2] }],
    ['$deleteFromPrimitiveList on a null list', { mergingIntList: null }, { '$deleteFromPrimitiveList/mergingIntList': [3] }, { mergingIntList: null }],
    ['$deleteFromPrimitiveList on a missing list', { foo: ['bar'] }, { '$deleteFromPrimitiveList/mergingIntList': [3] }, { foo: ['bar'] }],
    ['$deleteFromPrimitiveList on a merging list', { mergingIntList: [1, 2, 3] }, { '$deleteFromPrimitiveList/mergingIntList': [2] }, { mergingIntList: [1, 3] }],
    ['$deleteFromPrimitiveList on a non-merging list', { nonMergingIntList: [1, 2, 3] }, { '$deleteFromPrimitiveList/nonMergingIntList': [2] }, { nonMergingIntList: [1, 3] }],
    ['nested patch merge with empty list (three-way)',
      { name: 'hi', mergingList: [{ name: 'hello2' }] },
      { '$setElementOrder/mergingList': [{ name: 'hello' }, { name: 'doesntexist' }], mergingList: [{ name: 'hello' }, { $patch: 'delete', name: 'doesntexist' }] },
      { name: 'hi', mergingList: [{ name: 'hello' }, { name: 'hello2' }] }],
    ['nested patch merge with empty list (two-way)',
      { name: 'hi' }, { mergingList: [{ name: 'hello' }, { $patch: 'delete', name: 'doesntexist' }] },
      { name: 'hi', mergingList: [{ name: 'hello' }] }],
    ['delete items in lists of scalars', { mergingIntList: [1, 2, 3, 4] },
      { '$setElementOrder/mergingIntList': [1, 2], '$deleteFromPrimitiveList/mergingIntList': [3] }, { mergingIntList: [1, 2, 4] }],
    ['delete all duplicate items in lists of scalars', { mergingIntList: [1, 2, 3, 3, 4] },
      { '$setElementOrder/mergingIntList': [1, 2], '$deleteFromPrimitiveList/mergingIntList': [3] }, { mergingIntList: [1, 2, 4] }],
    ['merge lists of maps', { mergingList: [n(1, { other: 'a' }), n(2, { value: 2, other: 'b' })] },
      { '$setElementOrder/mergingList': sEO(4, 1, 2, 3), mergingList: [n(4, { value: 4 }), n(3, { value: 3 })] },
      { mergingList: [n(4, { value: 4 }), n(1, { other: 'a' }), n(2, { value: 2, other: 'b' }), n(3, { value: 3 })] }],
    ['add field to map in merging list with conflict', { mergingList: [n(1, { other: 'a' }), n(3, { value: 2, other: 'b' })] },
      { '$setElementOrder/mergingList': sEO(1, 2), mergingList: [n(1, { value: 1 }), n(2, { value: 2 })] },
      { mergingList: [n(1, { value: 1, other: 'a' }), n(2, { value: 2 }), n(3, { value: 2, other: 'b' })] }],
    ['delete missing map from merging list with conflict', { mergingList: [n(3, { other: 'a' })] },
      { '$setElementOrder/mergingList': sEO(2), mergingList: [n(2), del(1)] }, { mergingList: [n(2), n(3, { other: 'a' })] }],
    ['add map and delete map from merging list', { mergingList: [n(1), n(2, { other: 'b' }), n(4, { other: 'c' })] },
      { '$setElementOrder/mergingList': sEO(2, 3), mergingList: [n(3), del(1)] },
      { mergingList: [n(2, { other: 'b' }), n(4, { other: 'c' }), n(3)] }],
    ['add map and delete map from merging list with conflict', { mergingList: [n(1, { other: 'a' }), n(4, { other: 'c' })] },
      { '$setElementOrder/mergingList': sEO(2, 3), mergingList: [n(2), n(3), del(1)] },
      { mergingList: [n(4, { other: 'c' }), n(2), n(3)] }],
    ['replace non merging list nested in merging list',
      { mergingList: [n(1, { other: 'a', nonMergingList: [n(1), n(2, { value: 2 })] }), n(2, { other: 'b' })] },
      { '$setElementOrder/mergingList': sEO(1, 2), mergingList: [n(1, { nonMergingList: [n(1, { value: 1 })] })] },
      { mergingList: [n(1, { other: 'a', nonMergingList: [n(1, { value: 1 })] }), n(2, { other: 'b' })] }],
  ];
  for (const [name, current, patch, want] of cases) {
    it(name, () => {
      if (typeof want === 'string') {
        assert.throws(() => applyStrategicMergePatch(current, patch, meta), (e: unknown) => e instanceof PatchError && e.message.includes(want));
      } else {
        assert.deepEqual(applyStrategicMergePatch(current, patch, meta), want);
      }
    });
  }
});
