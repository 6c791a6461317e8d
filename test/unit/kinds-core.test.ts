// The core and apps kinds: defaulting, validation messages (as upstream renders them), the
// strategies' status handling, `kubectl get` rows, and the shared validation helpers.
//
// Fixed plan: pods 10.244.1.0/24 on node "node-1" (198.18.0.2); objects created at CREATED,
// tables rendered at NOW (10 minutes later).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldErrorString } from '../../src/api/errors.js';
import type { KObject } from '../../src/api/meta.js';
import type { ResourceType } from '../../src/api/registry.js';
import { ageOf, humanDuration } from '../../src/api/registry.js';
import { coreKinds } from '../../src/api/kinds/core-index.js';
import { pods, podQOSClass, imageTag } from '../../src/api/kinds/pod.js';
import { deployments } from '../../src/api/kinds/deployment.js';
import { replicaSets } from '../../src/api/kinds/replicaset.js';
import { namespaces } from '../../src/api/kinds/namespace.js';
import { nodes } from '../../src/api/kinds/node.js';
import { secrets } from '../../src/api/kinds/secret.js';
import { configMaps } from '../../src/api/kinds/configmap.js';
import { events, eventsV1 } from '../../src/api/kinds/event.js';
import { leases } from '../../src/api/kinds/lease.js';
import {
  isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidPortName, isValidCIDR, isValidIP, validateLabelSelector,
  validateObjectMeta, validateObjectMetaUpdate,
} from '../../src/api/validation/common.js';

const NOW = new Date('2026-01-01T00:10:00Z');
const CREATED = '2026-01-01T00:00:00Z';
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

function make(r: ResourceType, name: string, body: Record<string, unknown>): KObject {
  return {
    apiVersion: r.group ? `${r.group}/${r.version}` : r.version,
    kind: r.kind,
    metadata: { name, ...(r.namespaced ? { namespace: 'default' } : {}), creationTimestamp: CREATED },
    ...structuredClone(body),
  };
}

/** What the server does on create: strategy, defaults, ObjectMeta + kind validation. */
function create(r: ResourceType, o: KObject): { obj: J; errs: string[] } {
  const obj = structuredClone(o);
  r.prepareForCreate?.(obj);
  r.defaults?.(obj);
  const errs = [...validateObjectMeta(obj.metadata, { namespaced: r.namespaced, nameValidator: r.nameValidator }), ...(r.validateCreate?.(obj) ?? [])];
  return { obj, errs: errs.map(fieldErrorString) };
}

function update(r: ResourceType, next: KObject, old: KObject): { obj: J; errs: string[] } {
  const obj = structuredClone(next);
  r.prepareForUpdate?.(obj, old);
  r.defaults?.(obj);
  const errs = [...validateObjectMetaUpdate(obj.metadata, old.metadata), ...(r.validateUpdate?.(obj, old) ?? [])];
  return { obj, errs: errs.map(fieldErrorString) };
}

const podBody = (spec: Record<string, unknown>) => ({ spec: { containers: [{ name: 'web', image: 'nginx' }], ...spec } });
const labelRe = "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

test('coreKinds lists every kind once', () => {
  const keys = coreKinds.map((k) => `${k.group}/${k.plural}`);
  assert.deepEqual(new Set(keys).size, keys.length);
  assert.ok(keys.includes('/pods') && keys.includes('apps/deployments') && keys.includes('events.k8s.io/events'));
});

test('a minimal pod gets upstream defaults, admission fields and status', () => {
  const { obj, errs } = create(pods, make(pods, 'web', podBody({})));
  assert.deepEqual(errs, []);
  assert.deepEqual(obj.spec, {
    containers: [{
      name: 'web', image: 'nginx', imagePullPolicy: 'Always', resources: {},
      terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File',
    }],
    dnsPolicy: 'ClusterFirst', restartPolicy: 'Always', securityContext: {}, terminationGracePeriodSeconds: 30,
    schedulerName: 'default-scheduler', enableServiceLinks: true, serviceAccountName: 'default', serviceAccount: 'default',
    priority: 0, preemptionPolicy: 'PreemptLowerPriority',
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
  });
  assert.deepEqual(obj.status, { phase: 'Pending', qosClass: 'BestEffort' });
});

test('container defaults: pull policy by tag, ports, probes, limits copied to requests', () => {
  for (const [image, tag] of [['nginx', 'latest'], ['nginx:1.27', '1.27'], ['reg:5000/a/b', 'latest'], ['reg:5000/a/b:v1', 'v1'], ['a@sha256:abc', '']]) {
    assert.equal(imageTag(image), tag, image);
  }
  const { obj } = create(pods, make(pods, 'p', { spec: { containers: [{
    name: 'c', image: 'nginx:1.27', ports: [{ containerPort: 80 }],
    readinessProbe: { httpGet: { port: 80 } },
    resources: { limits: { cpu: '500m', memory: '128Mi' } },
  }] } }));
  const c = obj.spec.containers[0];
  assert.equal(c.imagePullPolicy, 'IfNotPresent');
  assert.deepEqual(c.ports, [{ containerPort: 80, protocol: 'TCP' }]);
  assert.deepEqual(c.readinessProbe, {
    httpGet: { port: 80, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3,
  });
  assert.deepEqual(c.resources.requests, { cpu: '500m', memory: '128Mi' });
  assert.equal(obj.status.qosClass, 'Guaranteed');
  assert.equal(podQOSClass({ containers: [{ resources: { requests: { cpu: '100m' } } }] }), 'Burstable');
});

test('pod validation messages match upstream', () => {
  const cases: [string, Record<string, unknown>, string[]][] = [
    ['missing image', { containers: [{ name: 'web' }] }, ['spec.containers[0].image: Required value']],
    ['no containers', { containers: [] }, ['spec.containers: Required value']],
    ['bad container name', { containers: [{ name: 'Web_1', image: 'nginx' }] }, [
      `spec.containers[0].name: Invalid value: "Web_1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', ${labelRe}`,
    ]],
    ['duplicate container name', { containers: [{ name: 'a', image: 'x' }, { name: 'a', image: 'y' }] }, [
      'spec.containers[1].name: Duplicate value: "a"',
    ]],
    ['duplicate port name and hostPort', { containers: [{ name: 'a', image: 'x', ports: [
      { name: 'http', containerPort: 80, hostPort: 8080 }, { name: 'http', containerPort: 81, hostPort: 8080 },
    ] }] }, [
      'spec.containers[0].ports[1].name: Duplicate value: "http"',
      'spec.containers[0].ports[1].hostPort: Duplicate value: "/TCP/8080"',
    ]],
    ['port out of range, bad port name', { containers: [{ name: 'a', image: 'x', ports: [{ name: 'HTTP', containerPort: 70000 }] }] }, [
      'spec.containers[0].ports[0].name: Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
      'spec.containers[0].ports[0].name: Invalid value: "HTTP": must contain at least one letter (a-z)',
      'spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
    ]],
    ['bad protocol', { containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 80, protocol: 'ICMP' }] }] }, [
      'spec.containers[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
    ]],
    ['mount of a missing volume', { containers: [{ name: 'a', image: 'x', volumeMounts: [{ name: 'data', mountPath: '/data' }] }] }, [
      'spec.containers[0].volumeMounts[0].name: Not found: "data"',
    ]],
    ['bad env name', { containers: [{ name: 'a', image: 'x', env: [{ name: 'A=B', value: '1' }] }] }, [
      `spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='`,
    ]],
    ['restartPolicy', { restartPolicy: 'Sometimes' }, [
      'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    ]],
    ['dnsPolicy', { dnsPolicy: 'Cluster' }, [
      'spec.dnsPolicy: Unsupported value: "Cluster": supported values: "ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"',
    ]],
    ['requests above limits', { containers: [{ name: 'a', image: 'x', resources: { requests: { cpu: '2' }, limits: { cpu: '1' } } }] }, [
      'spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1',
    ]],
  ];
  for (const [what, spec, want] of cases) {
    const body = { spec: { containers: [{ name: 'web', image: 'nginx' }], ...spec } };
    assert.deepEqual(create(pods, make(pods, 'p', body)).errs, want, what);
  }
});

test('ObjectMeta validation: bad label, name too long, generateName', () => {
  const bad = make(pods, 'p', podBody({}));
  bad.metadata.labels = { app: '-bad' };
  assert.deepEqual(create(pods, bad).errs, [
    "metadata.labels: Invalid value: \"-bad\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
  ]);
  const long = 'a'.repeat(254);
  assert.deepEqual(create(pods, make(pods, long, podBody({}))).errs, [
    `metadata.name: Invalid value: "${long}": must be no more than 253 characters`,
  ]);
  const noName = make(pods, '', podBody({}));
  assert.deepEqual(create(pods, noName).errs, ['metadata.name: Required value: name or generateName is required']);
  assert.deepEqual(validateObjectMeta({ generateName: 'web-', name: 'web-abcde', namespace: 'default' }, { namespaced: true }), []);
  assert.deepEqual(validateObjectMeta({ name: 'n1', namespace: 'x' }, { namespaced: false }).map(fieldErrorString),
    ['metadata.namespace: Forbidden: not allowed on this type']);
  assert.deepEqual(validateObjectMeta({ name: 'n1', finalizers: ['custom'] }, { namespaced: false }).map(fieldErrorString),
    ['metadata.finalizers[0]: Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified']);
});

test('string checks return upstream details', () => {
  assert.deepEqual(isDNS1123Label('a.b'), ['must not contain dots']);
  assert.deepEqual(isDNS1123Label('a'.repeat(64)), ['must be no more than 63 characters']);
  assert.deepEqual(isDNS1123Subdomain('example.com'), []);
  assert.deepEqual(isQualifiedName('example.com/'), ['name part must be non-empty',
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]);
  assert.deepEqual(isValidPortName('a--b'), ['must not contain consecutive hyphens']);
  assert.deepEqual(isValidIP('10.0.0.1'), []);
  assert.deepEqual(isValidCIDR('10.0.0.0/33'), ['must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)']);
  assert.deepEqual(validateLabelSelector({ matchExpressions: [{ key: 'a', operator: 'In' }] }, 'spec.selector').map(fieldErrorString),
    ["spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"]);
});

test('pod updates: only images etc. may change; nodeName once; status kept', () => {
  const { obj: old } = create(pods, make(pods, 'p', podBody({})));
  old.metadata.uid = 'u1';
  old.status = { phase: 'Running' };
  const img = structuredClone(old);
  img.spec.containers[0].image = 'nginx:1.27';
  img.status = { phase: 'Failed' };
  const r1 = update(pods, img, old);
  assert.deepEqual(r1.errs, []);
  assert.deepEqual(r1.obj.status, { phase: 'Running' });
  const port = structuredClone(old);
  port.spec.containers[0].ports = [{ containerPort: 80 }];
  const r2 = update(pods, port, old);
  assert.equal(r2.errs.length, 1);
  assert.ok(r2.errs[0].startsWith('spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n'), r2.errs[0]);
  const bind = structuredClone(old);
  bind.spec.nodeName = 'node-1';
  assert.deepEqual(update(pods, bind, old).errs, []);
  const { obj: bound } = update(pods, bind, old);
  const rebind = structuredClone(bound);
  rebind.spec.nodeName = 'node-2';
  assert.equal(update(pods, rebind, bound).errs.length, 1);
  const more = structuredClone(old);
  more.spec.containers.push({ name: 'b', image: 'x' });
  assert.deepEqual(update(pods, more, old).errs, ['spec.containers: Forbidden: pod updates may not add or remove containers']);
  const renamed = structuredClone(old);
  renamed.metadata.name = 'q';
  assert.deepEqual(update(pods, renamed, old).errs.slice(0, 1), ['metadata.name: Invalid value: "q": field is immutable']);
});

test('pod grace period follows the pod strategy', () => {
  const { obj } = create(pods, make(pods, 'p', podBody({})));
  assert.equal(pods.gracePeriodSeconds!(obj), undefined, 'unscheduled: at once');
  obj.spec.nodeName = 'node-1';
  assert.equal(pods.gracePeriodSeconds!(obj), 30);
  obj.spec.terminationGracePeriodSeconds = -5;
  assert.equal(pods.gracePeriodSeconds!(obj), 1);
  obj.status.phase = 'Succeeded';
  assert.equal(pods.gracePeriodSeconds!(obj), undefined);
});

test('pod rows: READY, STATUS, RESTARTS as printPod', () => {
  const base = (status: J, spec: J = {}, meta: J = {}) => {
    const p = make(pods, 'web', { spec: { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }], ...spec }, status }) as J;
    Object.assign(p.metadata, meta);
    return pods.table!.row(p, NOW);
  };
  const running = { state: { running: { startedAt: CREATED } } };
  const cases: [string, unknown[], unknown[]][] = [
    ['pending, no statuses', base({ phase: 'Pending' }), ['web', '0/2', 'Pending', '0', '10m', '<none>', '<none>', '<none>', '<none>']],
    ['one of two ready, restarts', base({
      phase: 'Running', podIPs: [{ ip: '10.244.1.5' }],
      containerStatuses: [
        { name: 'a', ready: true, restartCount: 3, ...running, lastState: { terminated: { exitCode: 1, finishedAt: '2026-01-01T00:05:00Z' } } },
        { name: 'b', ready: false, restartCount: 0, ...running },
      ],
    }, { nodeName: 'node-1' }), ['web', '1/2', 'Running', '3 (5m ago)', '10m', '10.244.1.5', 'node-1', '<none>', '<none>']],
    ['crash loop', base({ phase: 'Running', containerStatuses: [
      { name: 'a', ready: false, restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff' } } },
      { name: 'b', ready: true, restartCount: 0, ...running },
    ] }), ['web', '1/2', 'CrashLoopBackOff', '1', '10m', '<none>', '<none>', '<none>', '<none>']],
    ['init container running', base({ phase: 'Pending', initContainerStatuses: [
      { name: 'init', ready: false, restartCount: 0, state: { running: {} } },
    ] }, { initContainers: [{ name: 'init', image: 'z' }] }), ['web', '0/2', 'Init:0/1', '0', '10m', '<none>', '<none>', '<none>', '<none>']],
    ['init container failed', base({ phase: 'Pending', initContainerStatuses: [
      { name: 'init', ready: false, restartCount: 0, state: { terminated: { exitCode: 2 } } },
    ] }, { initContainers: [{ name: 'init', image: 'z' }] }), ['web', '0/2', 'Init:ExitCode:2', '0', '10m', '<none>', '<none>', '<none>', '<none>']],
    ['completed', base({ phase: 'Succeeded', containerStatuses: [
      { name: 'a', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
      { name: 'b', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
    ] }), ['web', '0/2', 'Completed', '0', '10m', '<none>', '<none>', '<none>', '<none>']],
    ['terminating', base({ phase: 'Running' }, {}, { deletionTimestamp: '2026-01-01T00:09:00Z' }),
      ['web', '0/2', 'Terminating', '0', '10m', '<none>', '<none>', '<none>', '<none>']],
    ['readiness gates', base({ phase: 'Running', conditions: [{ type: 'x/ready', status: 'True' }] }, { readinessGates: [{ conditionType: 'x/ready' }, { conditionType: 'x/other' }] }),
      ['web', '0/2', 'Running', '0', '10m', '<none>', '<none>', '<none>', '1/2']],
  ];
  for (const [what, got, want] of cases) assert.deepEqual(got, want, what);
  assert.equal(pods.table!.columns.length, 9);
});

test('humanDuration and ageOf', () => {
  const cases: [number, string][] = [
    [0, '0s'], [5, '5s'], [119, '119s'], [150, '2m30s'], [600, '10m'], [3 * 3600, '3h'], [5.5 * 3600, '5h30m'],
    [30 * 3600, '30h'], [50 * 3600, '2d2h'], [400 * 86400, '400d'], [3 * 365 * 86400, '3y'], [(3 * 365 + 10) * 86400, '3y10d'],
  ];
  for (const [s, want] of cases) assert.equal(humanDuration(s * 1000), want, String(s));
  assert.equal(ageOf(make(pods, 'p', {}), NOW), '10m');
  assert.equal(ageOf({ metadata: {} }, NOW), '<unknown>');
});

const deployBody = (labels: Record<string, string>, extra: J = {}) => ({ spec: {
  selector: { matchLabels: { app: 'web' } },
  template: { metadata: { labels }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
  ...extra,
} });

test('deployment defaults and validation', () => {
  const { obj, errs } = create(deployments, make(deployments, 'web', deployBody({ app: 'web' })));
  assert.deepEqual(errs, []);
  assert.equal(obj.spec.replicas, 1);
  assert.deepEqual(obj.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
  assert.equal(obj.spec.revisionHistoryLimit, 10);
  assert.equal(obj.spec.progressDeadlineSeconds, 600);
  assert.deepEqual(obj.spec.template.spec, {
    containers: [{ name: 'web', image: 'nginx:1.27', imagePullPolicy: 'IfNotPresent', resources: {},
      terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File' }],
    dnsPolicy: 'ClusterFirst', restartPolicy: 'Always', securityContext: {}, terminationGracePeriodSeconds: 30,
    schedulerName: 'default-scheduler',
  });
  assert.deepEqual(obj.status, {});

  assert.deepEqual(create(deployments, make(deployments, 'web', deployBody({ app: 'other' }))).errs, [
    'spec.template.metadata.labels: Invalid value: {"app":"other"}: `selector` does not match template `labels`',
  ]);
  const noSel = make(deployments, 'web', deployBody({ app: 'web' })) as J;
  delete noSel.spec.selector;
  // A nil selector is labels.Nothing(), which matches no labels: upstream reports both.
  assert.deepEqual(create(deployments, noSel).errs, [
    'spec.selector: Required value',
    'spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`',
  ]);
  assert.deepEqual(create(deployments, make(deployments, 'web', deployBody({ app: 'web' }, { replicas: -1 }))).errs,
    ['spec.replicas: Invalid value: -1: must be greater than or equal to 0']);
  const never = make(deployments, 'web', deployBody({ app: 'web' })) as J;
  never.spec.template.spec.restartPolicy = 'Never';
  assert.deepEqual(create(deployments, never).errs, ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']);
  const noImage = make(deployments, 'web', deployBody({ app: 'web' })) as J;
  delete noImage.spec.template.spec.containers[0].image;
  assert.deepEqual(create(deployments, noImage).errs, ['spec.template.spec.containers[0].image: Required value']);
  const badOp = make(deployments, 'web', deployBody({ app: 'web' }, { selector: { matchExpressions: [{ key: 'app', operator: 'Like', values: ['web'] }] } })) as J;
  badOp.spec.template.spec.containers = [];
  assert.deepEqual(create(deployments, badOp).errs, [
    'spec.selector.matchExpressions[0].operator: Invalid value: "Like": not a valid selector operator',
    'spec.selector: Invalid value: {"matchExpressions":[{"key":"app","operator":"Like","values":["web"]}]}: invalid label selector',
  ], 'template not validated after an invalid selector');
  const zero = make(deployments, 'web', deployBody({ app: 'web' }, { strategy: { rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } } }));
  assert.deepEqual(create(deployments, zero).errs, ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0']);
});

test('deployment update: selector immutable, status kept; rows', () => {
  const { obj: old } = create(deployments, make(deployments, 'web', deployBody({ app: 'web', v: '1' })));
  old.status = { replicas: 3, readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 };
  old.spec.replicas = 3;
  const next = structuredClone(old);
  next.spec.selector = { matchLabels: { app: 'web', v: '1' } };
  next.status = {};
  const r = update(deployments, next, old);
  assert.deepEqual(r.errs, ['spec.selector: Invalid value: {"matchLabels":{"app":"web","v":"1"}}: field is immutable']);
  assert.deepEqual(r.obj.status, old.status);
  assert.deepEqual(deployments.table!.row(old, NOW), ['web', '2/3', 3, 2, '10m', 'web', 'nginx:1.27', 'app=web']);
  assert.deepEqual(deployments.subresources?.scale?.specReplicasPath, 'spec.replicas');
  assert.deepEqual(deployments.validateStatusUpdate!({ ...old, status: { replicas: 1, updatedReplicas: 2 } }, old).map(fieldErrorString),
    ['status.updatedReplicas: Invalid value: 2: cannot be greater than status.replicas']);
});

test('replicaset defaults, validation and row', () => {
  const { obj, errs } = create(replicaSets, make(replicaSets, 'web-1', deployBody({ app: 'web' })));
  assert.deepEqual(errs, []);
  assert.equal(obj.spec.replicas, 1);
  assert.deepEqual(obj.status, { replicas: 0 });
  obj.status = { replicas: 1, readyReplicas: 1 };
  assert.deepEqual(replicaSets.table!.row(obj, NOW), ['web-1', 1, 1, 1, '10m', 'web', 'nginx:1.27', 'app=web']);
  assert.deepEqual(create(replicaSets, make(replicaSets, 'web-1', deployBody({}, { selector: {} }))).errs,
    ['spec.selector: Invalid value: {}: empty selector is invalid for deployment']);
});

test('namespace: label, finalizer, phase; DNS label names', () => {
  const { obj, errs } = create(namespaces, make(namespaces, 'team-a', {}));
  assert.deepEqual(errs, []);
  assert.deepEqual(obj.metadata.labels, { 'kubernetes.io/metadata.name': 'team-a' });
  assert.deepEqual(obj.spec, { finalizers: ['kubernetes'] });
  assert.deepEqual(obj.status, { phase: 'Active' });
  assert.deepEqual(namespaces.table!.row(obj, NOW), ['team-a', 'Active', '10m']);
  assert.deepEqual(create(namespaces, make(namespaces, 'a.b', {})).errs, ['metadata.name: Invalid value: "a.b": must not contain dots']);
  assert.equal(namespaces.fieldSelectors!['status.phase'](obj), 'Active');
});

test('node rows and field selector', () => {
  const n = make(nodes, 'node-1', {
    metadata: undefined,
    spec: { unschedulable: true, podCIDRs: ['10.244.1.0/24'] },
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      addresses: [{ type: 'InternalIP', address: '198.18.0.2' }],
      nodeInfo: { kubeletVersion: 'v1.34.0-podnet', osImage: 'podnet', kernelVersion: '6.8.0', containerRuntimeVersion: 'podnet://0.1.0' },
    },
  });
  n.metadata = { name: 'node-1', creationTimestamp: CREATED, labels: { 'node-role.kubernetes.io/control-plane': '' } };
  const { errs } = create(nodes, n);
  assert.deepEqual(errs, []);
  assert.deepEqual(nodes.table!.row(n, NOW), [
    'node-1', 'Ready,SchedulingDisabled', 'control-plane', '10m', 'v1.34.0-podnet', '198.18.0.2', '<none>', 'podnet', '6.8.0', 'podnet://0.1.0',
  ]);
  assert.equal(nodes.fieldSelectors!['spec.unschedulable'](n), 'true');
  const bad = structuredClone(n) as J;
  bad.spec.podCIDRs = ['10.244.1.0/33'];
  assert.deepEqual(create(nodes, bad).errs, ['spec.podCIDRs[0]: Invalid value: "10.244.1.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)']);
});

test('secret: type default, stringData merged, key and type checks', () => {
  const { obj, errs } = create(secrets, make(secrets, 's', { stringData: { password: 'hunter2' }, data: { user: 'YWRtaW4=' } }));
  assert.deepEqual(errs, []);
  assert.equal(obj.type, 'Opaque');
  assert.deepEqual(obj.data, { user: 'YWRtaW4=', password: 'aHVudGVyMg==' });
  assert.equal(obj.stringData, undefined);
  assert.deepEqual(secrets.table!.row(obj, NOW), ['s', 'Opaque', 2, '10m']);
  assert.deepEqual(create(secrets, make(secrets, 's', { data: { 'bad key': 'eA==' } })).errs, [
    "data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
  ]);
  assert.deepEqual(create(secrets, make(secrets, 's', { type: 'kubernetes.io/tls', data: {} })).errs,
    ['data[tls.crt]: Required value', 'data[tls.key]: Required value']);
  const changed = structuredClone(obj);
  changed.type = 'kubernetes.io/basic-auth';
  assert.deepEqual(update(secrets, changed, obj).errs[0], 'type: Invalid value: "kubernetes.io/basic-auth": field is immutable');
  const frozen = { ...structuredClone(obj), immutable: true };
  const edit = { ...structuredClone(frozen), data: { user: 'eA==' } };
  assert.deepEqual(update(secrets, edit, frozen).errs, ['data: Forbidden: field is immutable when `immutable` is set']);
});

test('configmap: keys, duplicates across data and binaryData', () => {
  assert.deepEqual(create(configMaps, make(configMaps, 'c', { data: { a: '1', '..x': '2' }, binaryData: { a: 'eA==' } })).errs, [
    'data[a]: Invalid value: "a": duplicate of key present in binaryData',
    "data[..x]: Invalid value: \"..x\": must not start with '..'",
    'binaryData[a]: Invalid value: "a": duplicate of key present in data',
  ]);
});

test('events: legacy core/v1 rules, strict events.k8s.io/v1 rules, rows', () => {
  const ev = make(events, 'web.1', {
    involvedObject: { kind: 'Pod', namespace: 'default', name: 'web', fieldPath: 'spec.containers{web}' },
    reason: 'Pulled', message: 'Pulled image  ', type: 'Normal', count: 2,
    source: { component: 'kubelet', host: 'node-1' },
    firstTimestamp: '2026-01-01T00:01:00Z', lastTimestamp: '2026-01-01T00:08:00Z',
  });
  assert.deepEqual(create(events, ev).errs, []);
  assert.deepEqual(events.table!.row(ev, NOW), ['2m', 'Normal', 'Pulled', 'pod/web', 'spec.containers{web}', 'kubelet, node-1', 'Pulled image', '9m', 2, 'web.1']);
  assert.equal(events.fieldSelectors!['involvedObject.name'](ev), 'web');
  assert.equal(events.fieldSelectors!.source(ev), 'kubelet');
  const other = { ...structuredClone(ev), involvedObject: { kind: 'Pod', namespace: 'other', name: 'web' } };
  assert.deepEqual(create(events, other).errs, ['involvedObject.namespace: Invalid value: "other": does not match event.namespace']);
  const v1 = make(eventsV1, 'e', { regarding: { kind: 'Pod', namespace: 'default', name: 'web' }, reason: 'Started', type: 'Normal' });
  assert.deepEqual(create(eventsV1, v1).errs, ['eventTime: Required value']);
  const v1ok = { ...structuredClone(v1), eventTime: '2026-01-01T00:09:00.000000Z', action: 'Start', reportingController: 'podnet.io/agent', reportingInstance: 'node-1' };
  assert.deepEqual(create(eventsV1, v1ok).errs, []);
  assert.deepEqual(eventsV1.table!.row(v1ok, NOW).slice(0, 4), ['60s', 'Normal', 'Started', 'pod/web']);
});

test('lease validation and row', () => {
  const l = make(leases, 'node-1', { spec: { holderIdentity: 'node-1', leaseDurationSeconds: 40 } });
  assert.deepEqual(create(leases, l).errs, []);
  assert.deepEqual(leases.table!.row(l, NOW), ['node-1', 'node-1', '10m']);
  assert.deepEqual(create(leases, make(leases, 'x', { spec: { leaseDurationSeconds: 0 } })).errs,
    ['spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0']);
});

test('status updates: namespace phase, pod phase/IPs/QoS, replicaset counts', () => {
  const { obj: ns } = create(namespaces, make(namespaces, 'team-a', {}));
  const term = { ...structuredClone(ns), status: { phase: 'Terminating' } };
  assert.deepEqual(namespaces.validateStatusUpdate!(term, ns).map(fieldErrorString),
    ["status.Phase: Invalid value: \"Terminating\": may only be 'Active' if `deletionTimestamp` is empty"]);
  const { obj: pod } = create(pods, make(pods, 'p', podBody({})));
  const running = { ...structuredClone(pod), status: { ...pod.status, phase: 'Running', podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }, { ip: 'fd00:10:244:1::5' }] } };
  assert.deepEqual(pods.validateStatusUpdate!(running, pod), []);
  const badIP = { ...structuredClone(pod), status: { ...pod.status, podIPs: [{ ip: '10.244.1.300' }] } };
  assert.deepEqual(pods.validateStatusUpdate!(badIP, pod).map(fieldErrorString),
    ['status.podIPs[0].ip: Invalid value: "10.244.1.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']);
  const qos = { ...structuredClone(pod), status: { ...pod.status, qosClass: 'Guaranteed' } };
  assert.deepEqual(pods.validateStatusUpdate!(qos, pod).map(fieldErrorString), ['status.qosClass: Invalid value: "Guaranteed": field is immutable']);
  const rs = make(replicaSets, 'r', deployBody({ app: 'web' }));
  assert.deepEqual(replicaSets.validateStatusUpdate!({ ...rs, status: { replicas: 1, readyReplicas: 2, availableReplicas: 1 } }, rs).map(fieldErrorString),
    ['status.readyReplicas: Invalid value: 2: cannot be greater than the number of replicas']);
});

test('pod resource change on update is forbidden and reports the QoS change', () => {
  const { obj: old } = create(pods, make(pods, 'p', podBody({})));
  const next = structuredClone(old);
  next.spec.containers[0].resources = { requests: { cpu: '100m' } };
  const errs = update(pods, next, old).errs;
  assert.equal(errs[0], 'metadata: Invalid value: "BestEffort": Pod QoS is immutable');
  assert.ok(errs[1].startsWith('spec: Forbidden: pod updates may not change fields other than'));
  assert.ok(errs[1].includes('spec.containers[0].resources.requests'), errs[1]);
});

test('generateName and priority classes', () => {
  const gen = make(pods, '', podBody({ priorityClassName: 'system-node-critical' }));
  gen.metadata.generateName = 'web-';
  gen.metadata.name = 'web-x7k2p';
  const { obj, errs } = create(pods, gen);
  assert.deepEqual(errs, []);
  assert.equal(obj.spec.priority, 2000001000);
  assert.deepEqual(validateObjectMeta({ generateName: 'Web-', name: 'web-1', namespace: 'd' }, { namespaced: true }).map(fieldErrorString).length, 1);
});
