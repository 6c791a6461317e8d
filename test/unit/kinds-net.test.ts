// The networking kinds: defaulting, validation messages (as upstream renders them), the
// strategies' status/generation handling, and table rows.
//
// Address plan used below: services 10.96.0.0/16 and fd00:10:96::/112, pods 10.244.0.0/16.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldErrorString } from '../../src/api/errors.js';
import type { KObject } from '../../src/api/meta.js';
import type { ResourceType } from '../../src/api/registry.js';
import { netKinds } from '../../src/api/kinds/net-index.js';
import { services } from '../../src/api/kinds/service.js';
import { endpoints } from '../../src/api/kinds/endpoints.js';
import { endpointSlices } from '../../src/api/kinds/endpointslice.js';
import { networkPolicies, formatLabelSelector } from '../../src/api/kinds/networkpolicy.js';
import { ingresses } from '../../src/api/kinds/ingress.js';
import { ingressClasses } from '../../src/api/kinds/ingressclass.js';
import { ipAddresses, canonicalIP } from '../../src/api/kinds/ipaddress.js';
import { serviceCIDRs, canonicalCIDR } from '../../src/api/kinds/servicecidr.js';

const NOW = new Date('2026-01-01T00:10:00Z');
const CREATED = '2026-01-01T00:00:00Z';

/** An object of `kind` with the given body; namespaced kinds get namespace "default". */
function make(r: ResourceType, name: string, body: Record<string, unknown>): KObject {
  return {
    apiVersion: r.group ? `${r.group}/${r.version}` : r.version,
    kind: r.kind,
    metadata: { name, ...(r.namespaced ? { namespace: 'default' } : {}), creationTimestamp: CREATED },
    ...structuredClone(body),
  };
}

/** What a create request does with the object: defaults, strategy, validation. */
function create(r: ResourceType, o: KObject): { obj: KObject; errs: string[] } {
  const obj = structuredClone(o);
  r.defaults?.(obj);
  r.prepareForCreate?.(obj);
  return { obj, errs: (r.validateCreate?.(obj) ?? []).map(fieldErrorString) };
}

function update(r: ResourceType, o: KObject, old: KObject): { obj: KObject; errs: string[] } {
  const obj = structuredClone(o);
  r.defaults?.(obj);
  r.prepareForUpdate?.(obj, old);
  return { obj, errs: (r.validateUpdate?.(obj, old) ?? []).map(fieldErrorString) };
}

const svc = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  make(services, 'web', { spec, ...extra });

// ---- registry shape ------------------------------------------------------------------------

test('netKinds: eight kinds, unique plurals, tables whose rows match their columns', () => {
  assert.equal(netKinds.length, 8);
  assert.equal(new Set(netKinds.map((k) => `${k.group}/${k.plural}`)).size, 8);
  for (const k of netKinds) {
    assert.ok(k.table, k.kind);
    const row = k.table.row(make(k, 'x', {}), NOW);
    assert.equal(row.length, k.table.columns.length, k.kind);
  }
  assert.match(services.nameValidator!('1abc')[0], /^a DNS-1035 label must consist of/);
  assert.deepEqual(services.nameValidator!('web'), []);
  assert.deepEqual(ipAddresses.nameValidator!('fd00::1'), []);
});

// ---- Service defaults ---------------------------------------------------------------------

test('Service defaults: minimal ClusterIP service', () => {
  const { obj, errs } = create(services, svc({ selector: { app: 'web' }, ports: [{ port: 80 }] }));
  assert.deepEqual(errs, []);
  assert.deepEqual(obj.spec, {
    selector: { app: 'web' },
    ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
    sessionAffinity: 'None',
    type: 'ClusterIP',
    internalTrafficPolicy: 'Cluster',
  });
  assert.deepEqual(obj.status, { loadBalancer: {} });
});

test('Service defaults by type and affinity', () => {
  const cases: { name: string; spec: Record<string, unknown>; want: Record<string, unknown> }[] = [
    { name: 'NodePort gets externalTrafficPolicy', spec: { type: 'NodePort', ports: [{ port: 80, targetPort: 'http' }] },
      want: { externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster' } },
    { name: 'LoadBalancer gets allocateLoadBalancerNodePorts', spec: { type: 'LoadBalancer', ports: [{ port: 80 }] },
      want: { externalTrafficPolicy: 'Cluster', allocateLoadBalancerNodePorts: true } },
    { name: 'ClusterIP with externalIPs is externally accessible', spec: { ports: [{ port: 80 }], externalIPs: ['192.0.2.10'] },
      want: { externalTrafficPolicy: 'Cluster' } },
    { name: 'ClientIP gets the 3h timeout', spec: { ports: [{ port: 80 }], sessionAffinity: 'ClientIP' },
      want: { sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } } },
    { name: 'ExternalName gets no traffic policies', spec: { type: 'ExternalName', externalName: 'example.com' },
      want: { internalTrafficPolicy: undefined, externalTrafficPolicy: undefined } },
  ];
  for (const c of cases) {
    const { obj, errs } = create(services, svc(c.spec));
    assert.deepEqual(errs, [], c.name);
    const spec = obj.spec as Record<string, unknown>;
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual(spec[k], v, `${c.name}: ${k}`);
  }
  // targetPort by name is kept; 0 and "" become the port.
  const { obj } = create(services, svc({ ports: [{ name: 'a', port: 80, targetPort: 'http' }, { name: 'b', port: 81, targetPort: 0 }] }));
  assert.deepEqual((obj.spec as { ports: { targetPort: unknown }[] }).ports.map((p) => p.targetPort), ['http', 81]);
});

// ---- Service validation ---------------------------------------------------------------------

test('Service validation: upstream messages for common mistakes', () => {
  const cases: { name: string; spec: Record<string, unknown>; errs: string[] }[] = [
    { name: 'port 0', spec: { ports: [{ port: 0, targetPort: 8080 }] },
      errs: ['spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive'] },
    { name: 'no ports', spec: { selector: { app: 'web' } }, errs: ['spec.ports: Required value'] },
    { name: 'duplicate port name', spec: { ports: [{ name: 'http', port: 80 }, { name: 'http', port: 81 }] },
      errs: ['spec.ports[1].name: Duplicate value: "http"'] },
    { name: 'missing port names with two ports', spec: { ports: [{ port: 80 }, { port: 443 }] },
      errs: ['spec.ports[0].name: Required value', 'spec.ports[1].name: Required value'] },
    { name: 'bad port name', spec: { ports: [{ name: 'Web', port: 80 }] },
      errs: ["spec.ports[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"] },
    { name: 'bad targetPort name', spec: { ports: [{ port: 80, targetPort: 'http_web' }] },
      errs: ['spec.ports[0].targetPort: Invalid value: "http_web": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'] },
    { name: 'targetPort out of range', spec: { ports: [{ port: 80, targetPort: 70000 }] },
      errs: ['spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive'] },
    { name: 'bad protocol', spec: { ports: [{ port: 80, protocol: 'ICMP' }] },
      errs: ['spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'] },
    { name: 'duplicate port and protocol', spec: { ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] },
      errs: ['spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}'] },
    { name: 'same port on two protocols is fine', spec: { ports: [{ name: 'a', port: 53 }, { name: 'b', port: 53, protocol: 'UDP' }] }, errs: [] },
    { name: 'headless NodePort', spec: { type: 'NodePort', clusterIP: 'None', ports: [{ port: 80 }] },
      errs: ["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"] },
    { name: 'headless LoadBalancer', spec: { type: 'LoadBalancer', clusterIP: 'None', ports: [{ port: 80 }] },
      errs: ["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for LoadBalancer services"] },
    { name: 'headless without ports is fine', spec: { clusterIP: 'None', selector: { app: 'db' } }, errs: [] },
    { name: 'ExternalName without externalName', spec: { type: 'ExternalName' }, errs: ['spec.externalName: Required value'] },
    { name: 'ExternalName with trailing dot is fine', spec: { type: 'ExternalName', externalName: 'db.example.com.' }, errs: [] },
    { name: 'ExternalName with clusterIP', spec: { type: 'ExternalName', externalName: 'db.example.com', clusterIP: '10.96.0.9' },
      errs: ['spec.clusterIPs: Forbidden: may not be set for ExternalName services'] },
    { name: 'unknown type', spec: { type: 'Internal', ports: [{ port: 80 }] },
      errs: ['spec.type: Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'] },
    { name: 'bad session affinity', spec: { sessionAffinity: 'Cookie', ports: [{ port: 80 }] },
      errs: ['spec.sessionAffinity: Unsupported value: "Cookie": supported values: "ClientIP", "None"'] },
    { name: 'affinity timeout too long', spec: { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 90000 } }, ports: [{ port: 80 }] },
      errs: ['spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 90000: must be greater than 0 and less than 86400'] },
    { name: 'nodePort on ClusterIP', spec: { ports: [{ port: 80, nodePort: 30080 }] },
      errs: ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"] },
    { name: 'externalTrafficPolicy on plain ClusterIP', spec: { externalTrafficPolicy: 'Local', ports: [{ port: 80 }] },
      errs: ['spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services'] },
    { name: 'bad internalTrafficPolicy', spec: { internalTrafficPolicy: 'Node', ports: [{ port: 80 }] },
      errs: ['spec.internalTrafficPolicy: Unsupported value: "Node": supported values: "Cluster", "Local"'] },
    { name: 'loadBalancerClass on ClusterIP', spec: { loadBalancerClass: 'example.com/lb', ports: [{ port: 80 }] },
      errs: ["spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'"] },
    { name: 'externalIP loopback', spec: { externalIPs: ['127.0.0.1'], ports: [{ port: 80 }] },
      errs: ['spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)'] },
    { name: 'externalIP not an IP', spec: { externalIPs: ['example.com'], ports: [{ port: 80 }] },
      errs: ['spec.externalIPs[0]: Invalid value: "example.com": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'] },
    { name: 'bad selector value', spec: { selector: { app: 'a b' }, ports: [{ port: 80 }] },
      errs: ["spec.selector: Invalid value: \"a b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"] },
    { name: 'trafficDistribution', spec: { trafficDistribution: 'Anywhere', ports: [{ port: 80 }] },
      errs: ['spec.trafficDistribution: Unsupported value: "Anywhere": supported values: "PreferClose"'] },
    { name: 'ipFamilies', spec: { ipFamilies: ['IPv4', 'IPv4'], ports: [{ port: 80 }] },
      errs: ['spec.ipFamilies[1]: Duplicate value: "IPv4"'] },
    { name: 'ipFamilyPolicy', spec: { ipFamilyPolicy: 'DualStack', ports: [{ port: 80 }] },
      errs: ['spec.ipFamilyPolicy: Unsupported value: "DualStack": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"'] },
    { name: 'clusterIP family mismatch', spec: { clusterIP: '10.96.0.5', ipFamilies: ['IPv6'], ports: [{ port: 80 }] },
      errs: ['spec.clusterIPs[0]: Invalid value: "10.96.0.5": expected an IPv6 value as indicated by `ipFamilies[0]`'] },
    { name: 'two clusterIPs of one family', spec: { clusterIP: '10.96.0.5', clusterIPs: ['10.96.0.5', '10.96.0.6'], ports: [{ port: 80 }] },
      errs: ['spec.clusterIPs: Invalid value: ["10.96.0.5","10.96.0.6"]: may specify no more than one IP for each IP family'] },
    { name: 'dual-stack clusterIPs are fine', spec: { clusterIP: '10.96.0.5', clusterIPs: ['10.96.0.5', 'fd00:10:96::5'], ipFamilyPolicy: 'RequireDualStack', ports: [{ port: 80 }] }, errs: [] },
    { name: 'source ranges on ClusterIP', spec: { loadBalancerSourceRanges: ['10.0.0.0/8'], ports: [{ port: 80 }] },
      errs: ["spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"] },
  ];
  for (const c of cases) assert.deepEqual(create(services, svc(c.spec)).errs, c.errs, c.name);
});

test('Service update: cluster IPs may not change; type changes and replace without clusterIP work', () => {
  const { obj: stored } = create(services, svc({ clusterIP: '10.96.0.10', selector: { app: 'web' }, ports: [{ port: 80 }] }));
  assert.deepEqual((stored.spec as Record<string, unknown>).clusterIPs, ['10.96.0.10']);
  stored.status = { loadBalancer: { ingress: [{ ip: '192.0.2.1', ipMode: 'VIP' }] } };

  const changed = structuredClone(stored);
  Object.assign(changed.spec as object, { clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'] });
  assert.deepEqual(update(services, changed, stored).errs,
    ['spec.clusterIPs[0]: Invalid value: ["10.96.0.11"]: may not change once set']);

  // kubectl replace with a manifest that never had a clusterIP: the allocated one is kept.
  const replaced = svc({ selector: { app: 'web2' }, ports: [{ port: 80 }] });
  const r = update(services, replaced, stored);
  assert.deepEqual(r.errs, []);
  assert.equal((r.obj.spec as Record<string, unknown>).clusterIP, '10.96.0.10');
  assert.deepEqual(r.obj.status, stored.status, 'spec updates keep the stored status');

  // Switching to ExternalName drops the cluster IPs it no longer needs.
  const toExt = structuredClone(stored);
  Object.assign(toExt.spec as object, { type: 'ExternalName', externalName: 'db.example.com' });
  const e = update(services, toExt, stored);
  assert.deepEqual(e.errs, []);
  assert.equal((e.obj.spec as Record<string, unknown>).clusterIP, undefined);

  // Status writes are checked as upstream's ValidateLoadBalancerStatus.
  const st = structuredClone(stored);
  st.status = { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } };
  assert.deepEqual(services.validateStatusUpdate!(st, stored).map(fieldErrorString),
    ["status.loadBalancer.ingress: Forbidden: may only be used when `spec.type` is 'LoadBalancer'"]);
});

test('Service table rows (PORT(S), EXTERNAL-IP, SELECTOR)', () => {
  const cases: { name: string; spec: Record<string, unknown>; status?: Record<string, unknown>; row: unknown[] }[] = [
    { name: 'ClusterIP', spec: { type: 'ClusterIP', clusterIPs: ['10.96.0.10'], selector: { tier: 'fe', app: 'web' }, ports: [{ port: 80, protocol: 'TCP' }] },
      row: ['web', 'ClusterIP', '10.96.0.10', '<none>', '80/TCP', '10m', 'app=web,tier=fe'] },
    { name: 'NodePort', spec: { type: 'NodePort', clusterIPs: ['10.96.0.11'], ports: [{ port: 80, protocol: 'TCP' }, { port: 443, nodePort: 30443, protocol: 'TCP' }] },
      row: ['web', 'NodePort', '10.96.0.11', '<none>', '80/TCP,443:30443/TCP', '10m', '<none>'] },
    { name: 'LoadBalancer pending', spec: { type: 'LoadBalancer', clusterIPs: ['10.96.0.12'], ports: [{ port: 53, nodePort: 31053, protocol: 'UDP' }] },
      row: ['web', 'LoadBalancer', '10.96.0.12', '<pending>', '53:31053/UDP', '10m', '<none>'] },
    { name: 'LoadBalancer with ingress and externalIPs', spec: { type: 'LoadBalancer', clusterIPs: ['10.96.0.12'], externalIPs: ['192.0.2.9'], ports: [{ port: 80, protocol: 'TCP' }] },
      status: { loadBalancer: { ingress: [{ ip: '198.51.100.2' }, { hostname: 'lb.example.com' }] } },
      row: ['web', 'LoadBalancer', '10.96.0.12', '198.51.100.2,lb.example.com,192.0.2.9', '80/TCP', '10m', '<none>'] },
    { name: 'ExternalName', spec: { type: 'ExternalName', externalName: 'db.example.com' },
      row: ['web', 'ExternalName', '<none>', 'db.example.com', '<none>', '10m', '<none>'] },
    { name: 'headless', spec: { type: 'ClusterIP', clusterIPs: ['None'], ports: [{ port: 5432, protocol: 'TCP' }] },
      row: ['web', 'ClusterIP', 'None', '<none>', '5432/TCP', '10m', '<none>'] },
  ];
  for (const c of cases) {
    assert.deepEqual(services.table!.row(svc(c.spec, c.status ? { status: c.status } : {}), NOW), c.row, c.name);
  }
  assert.deepEqual(services.table!.columns.map((x) => [x.name, x.priority]),
    [['Name', 0], ['Type', 0], ['Cluster-IP', 0], ['External-IP', 0], ['Port(s)', 0], ['Age', 0], ['Selector', 1]]);
  const f = services.fieldSelectors!;
  const o = svc({ type: 'NodePort', clusterIP: '10.96.0.3' });
  assert.deepEqual([f['spec.type'](o), f['spec.clusterIP'](o)], ['NodePort', '10.96.0.3']);
});

// ---- Endpoints --------------------------------------------------------------------------------

test('Endpoints: validation and ENDPOINTS summarisation', () => {
  const ok = make(endpoints, 'web', {
    subsets: [{ addresses: [{ ip: '10.244.1.5' }, { ip: '10.244.2.7' }], ports: [{ port: 8080 }] }],
  });
  const c = create(endpoints, ok);
  assert.deepEqual(c.errs, []);
  assert.equal((c.obj.subsets as { ports: { protocol: string }[] }[])[0].ports[0].protocol, 'TCP');

  const bad = make(endpoints, 'web', {
    subsets: [
      { addresses: [{ ip: '127.0.0.1' }, { ip: 'nope' }], ports: [{ port: 0 }, { name: 'b', port: 81 }] },
      { ports: [{ port: 80 }] },
    ],
  });
  assert.deepEqual(create(endpoints, bad).errs, [
    'subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
    'subsets[0].addresses[1].ip: Invalid value: "nope": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    'subsets[0].addresses[1].ip: Invalid value: "nope": must be a valid IP address',
    'subsets[0].ports[0].name: Required value',
    'subsets[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
    'subsets[1]: Required value: must specify `addresses` or `notReadyAddresses`',
  ]);

  const ips = (n: number, base = 1) => Array.from({ length: n }, (_, i) => ({ ip: `10.0.0.${base + i}` }));
  const cases: { name: string; subsets: unknown[]; want: string }[] = [
    { name: 'none', subsets: [], want: '<none>' },
    { name: 'two', subsets: [{ addresses: ips(2), ports: [{ port: 80 }] }], want: '10.0.0.1:80,10.0.0.2:80' },
    { name: 'five', subsets: [{ addresses: ips(5), ports: [{ port: 80 }] }], want: '10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more...' },
    { name: 'two ports', subsets: [{ addresses: ips(2), ports: [{ port: 80 }, { port: 443 }] }], want: '10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...' },
    { name: 'headless, no ports', subsets: [{ addresses: ips(2) }], want: '10.0.0.1,10.0.0.2' },
    { name: 'IPv6', subsets: [{ addresses: [{ ip: 'fd00:10:244::5' }], ports: [{ port: 80 }] }], want: '[fd00:10:244::5]:80' },
    { name: 'only not-ready', subsets: [{ notReadyAddresses: ips(1), ports: [{ port: 80 }] }], want: '<none>' },
  ];
  for (const t of cases) {
    assert.deepEqual(endpoints.table!.row(make(endpoints, 'web', { subsets: t.subsets }), NOW), ['web', t.want, '10m'], t.name);
  }
});

// ---- EndpointSlice ------------------------------------------------------------------------------

test('EndpointSlice: defaults, validation, immutable addressType, table', () => {
  const good = make(endpointSlices, 'web-abc', {
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.244.1.5'], conditions: { ready: true }, nodeName: 'node-1', zone: 'a', hints: { forZones: [{ name: 'a' }] } }],
    ports: [{ port: 8080 }],
  });
  good.metadata.labels = { 'kubernetes.io/service-name': 'web' };
  const c = create(endpointSlices, good);
  assert.deepEqual(c.errs, []);
  assert.deepEqual(c.obj.ports, [{ port: 8080, name: '', protocol: 'TCP' }]);
  assert.equal(c.obj.metadata.generation, 1);

  const cases: { name: string; body: Record<string, unknown>; errs: string[] }[] = [
    { name: 'no addressType', body: { endpoints: [] }, errs: ['addressType: Required value'] },
    { name: 'bad addressType', body: { addressType: 'IP' },
      errs: ['addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"'] },
    { name: 'IPv6 address in an IPv4 slice', body: { addressType: 'IPv4', endpoints: [{ addresses: ['fd00::5'] }] },
      errs: ['endpoints[0].addresses[0]: Invalid value: "fd00::5": must be a valid IPv4 address'] },
    { name: 'no addresses', body: { addressType: 'IPv6', endpoints: [{ addresses: [] }] },
      errs: ['endpoints[0].addresses: Required value: must contain at least 1 address'] },
    { name: 'bad hostname', body: { addressType: 'IPv4', endpoints: [{ addresses: ['10.244.1.5'], hostname: 'a.b' }] },
      errs: ['endpoints[0].hostname: Invalid value: "a.b": must not contain dots'] },
    { name: 'FQDN with one label', body: { addressType: 'FQDN', endpoints: [{ addresses: ['localhost'] }] },
      errs: ['endpoints[0].addresses[0]: Invalid value: "localhost": should be a domain with at least two segments separated by dots'] },
    { name: 'duplicate port names', body: { addressType: 'IPv4', ports: [{ name: 'a', port: 1 }, { name: 'a', port: 2, protocol: 'UDP' }] },
      errs: ['ports[1].name: Duplicate value: "a"'] },
    { name: 'too many endpoints', body: { addressType: 'IPv4', endpoints: Array.from({ length: 1001 }, () => ({ addresses: ['10.244.1.5'] })) },
      errs: ['endpoints: Too many: must have at most 1000 items'] },
  ];
  for (const t of cases) assert.deepEqual(create(endpointSlices, make(endpointSlices, 's', t.body)).errs, t.errs, t.name);

  const changed = structuredClone(c.obj);
  changed.addressType = 'IPv6';
  changed.endpoints = [];
  const u = update(endpointSlices, changed, c.obj);
  assert.deepEqual(u.errs, ['addressType: Invalid value: "IPv6": field is immutable']);
  assert.equal(u.obj.metadata.generation, 2);

  const row = (body: Record<string, unknown>) => endpointSlices.table!.row(make(endpointSlices, 's', body), NOW);
  assert.deepEqual(row({ addressType: 'IPv4', ports: [{ port: 80 }, { name: 'x' }, {}, { port: 9 }],
    endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }, { addresses: ['10.0.0.3'] }, { addresses: ['10.0.0.4'] }] }),
  ['s', 'IPv4', '80,x,* + 1 more...', '10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...', '10m']);
  assert.deepEqual(row({ addressType: 'IPv6' }), ['s', 'IPv6', '<unset>', '<unset>', '10m']);
});

// ---- NetworkPolicy -------------------------------------------------------------------------------

test('NetworkPolicy defaults: policyTypes and port protocol', () => {
  const ingressOnly = create(networkPolicies, make(networkPolicies, 'np', { spec: { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] } }));
  assert.deepEqual(ingressOnly.errs, []);
  assert.deepEqual(ingressOnly.obj.spec, { podSelector: {}, ingress: [{ ports: [{ port: 80, protocol: 'TCP' }] }], policyTypes: ['Ingress'] });
  assert.equal(ingressOnly.obj.metadata.generation, 1);
  const withEgress = create(networkPolicies, make(networkPolicies, 'np', { spec: { podSelector: {}, egress: [{}] } }));
  assert.deepEqual((withEgress.obj.spec as Record<string, unknown>).policyTypes, ['Ingress', 'Egress']);
  const explicit = create(networkPolicies, make(networkPolicies, 'np', { spec: { podSelector: {}, egress: [{}], policyTypes: ['Egress'] } }));
  assert.deepEqual((explicit.obj.spec as Record<string, unknown>).policyTypes, ['Egress']);
});

test('NetworkPolicy validation: upstream messages', () => {
  const rule = (r: Record<string, unknown>) => ({ spec: { podSelector: {}, ingress: [r] } });
  const cases: { name: string; body: Record<string, unknown>; errs: string[] }[] = [
    { name: 'bad CIDR', body: rule({ from: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }),
      errs: ['spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'] },
    { name: 'except outside cidr', body: rule({ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24', '10.0.0.0/16', '10.0.5.0/24'] } }] }),
      errs: [
        'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.1.0.0/24": must be a strict subset of `cidr`',
        'spec.ingress[0].from[0].ipBlock.except[1]: Invalid value: "10.0.0.0/16": must be a strict subset of `cidr`',
      ] },
    { name: 'ipBlock with podSelector', body: rule({ from: [{ podSelector: {}, ipBlock: { cidr: '10.0.0.0/8' } }] }),
      errs: ['spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer'] },
    { name: 'empty peer', body: rule({ from: [{}] }), errs: ['spec.ingress[0].from[0]: Required value: must specify a peer'] },
    { name: 'namespace and pod selectors together are fine', body: rule({ from: [{ podSelector: {}, namespaceSelector: { matchLabels: { a: 'b' } } }] }), errs: [] },
    { name: 'endPort < port', body: rule({ ports: [{ port: 32000, endPort: 31000 }] }),
      errs: ['spec.ingress[0].ports[0].endPort: Invalid value: 31000: must be greater than or equal to `port`'] },
    { name: 'endPort with named port', body: rule({ ports: [{ port: 'http', endPort: 90 }] }),
      errs: ['spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is non-numeric'] },
    { name: 'endPort without port', body: rule({ ports: [{ endPort: 90 }] }),
      errs: ['spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is not specified'] },
    { name: 'port range is fine', body: rule({ ports: [{ port: 32000, endPort: 32768 }] }), errs: [] },
    { name: 'bad protocol', body: rule({ ports: [{ protocol: 'ICMP' }] }),
      errs: ['spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"'] },
    { name: 'bad policyType', body: { spec: { podSelector: {}, policyTypes: ['Both'] } },
      errs: ['spec.policyTypes[0]: Unsupported value: "Both": supported values: "Ingress", "Egress"'] },
    { name: 'bad selector operator', body: { spec: { podSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } } },
      errs: ["spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"] },
  ];
  for (const t of cases) assert.deepEqual(create(networkPolicies, make(networkPolicies, 'np', t.body)).errs, t.errs, t.name);
});

test('NetworkPolicy table: POD-SELECTOR', () => {
  const cases: [unknown, string][] = [
    [{}, '<none>'],
    [{ matchLabels: { role: 'db', app: 'web' } }, 'app=web,role=db'],
    [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'be'] }, { key: 'canary', operator: 'DoesNotExist' }] }, '!canary,tier in (be,fe)'],
  ];
  for (const [sel, want] of cases) {
    assert.equal(formatLabelSelector(sel), want);
    assert.deepEqual(networkPolicies.table!.row(make(networkPolicies, 'np', { spec: { podSelector: sel } }), NOW), ['np', want, '10m']);
  }
});

// ---- Ingress -------------------------------------------------------------------------------------

const ing = (spec: Record<string, unknown>) => make(ingresses, 'web', { spec });
const backend = { service: { name: 'web', port: { number: 80 } } };

test('Ingress validation: upstream messages', () => {
  const httpRule = (path: Record<string, unknown>, host?: string) => ({ rules: [{ ...(host ? { host } : {}), http: { paths: [path] } }] });
  const cases: { name: string; spec: Record<string, unknown>; errs: string[] }[] = [
    { name: 'good', spec: httpRule({ path: '/', pathType: 'Prefix', backend }, 'www.example.com'), errs: [] },
    { name: 'wildcard host', spec: httpRule({ path: '/', pathType: 'Prefix', backend }, '*.example.com'), errs: [] },
    { name: 'path without pathType', spec: httpRule({ path: '/', backend }),
      errs: ['spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified'] },
    { name: 'relative Prefix path', spec: httpRule({ path: 'api', pathType: 'Prefix', backend }),
      errs: ['spec.rules[0].http.paths[0].path: Invalid value: "api": must be an absolute path'] },
    { name: 'path with //', spec: httpRule({ path: '/a//b', pathType: 'Exact', backend }),
      errs: ["spec.rules[0].http.paths[0].path: Invalid value: \"/a//b\": must not contain '//'"] },
    { name: 'unknown pathType', spec: httpRule({ path: '/', pathType: 'Regex', backend }),
      errs: ['spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"'] },
    { name: 'IP host', spec: httpRule({ path: '/', pathType: 'Prefix', backend }, '192.0.2.1'),
      errs: ['spec.rules[0].host: Invalid value: "192.0.2.1": must be a DNS name, not an IP address'] },
    { name: 'bad wildcard host', spec: httpRule({ path: '/', pathType: 'Prefix', backend }, 'www.*.com'),
      errs: ["spec.rules[0].host: Invalid value: \"www.*.com\": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"] },
    { name: 'nothing', spec: {}, errs: ['spec: Invalid value: []: either `defaultBackend` or `rules` must be specified'] },
    { name: 'port name and number', spec: { defaultBackend: { service: { name: 'web', port: { name: 'http', number: 80 } } } },
      errs: ['spec.defaultBackend: Invalid value: "": cannot set both port name & port number'] },
    { name: 'no port', spec: { defaultBackend: { service: { name: 'web', port: {} } } },
      errs: ['spec.defaultBackend: Required value: port name or number is required'] },
    { name: 'service and resource', spec: { defaultBackend: { ...backend, resource: { kind: 'Bucket', name: 'b' } } },
      errs: ['spec.defaultBackend: Invalid value: "": cannot set both resource and service backends'] },
    { name: 'no backend', spec: { defaultBackend: {} },
      errs: ['spec.defaultBackend: Invalid value: "": resource or service backend is required'] },
    { name: 'http without paths', spec: { rules: [{ host: 'a.example.com', http: { paths: [] } }] },
      errs: ['spec.rules[0].http.paths: Required value'] },
    { name: 'bad tls host', spec: { defaultBackend: backend, tls: [{ hosts: ['*'], secretName: 'tls' }] },
      errs: ["spec.tls[0].hosts[0]: Invalid value: \"*\": a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"] },
  ];
  for (const t of cases) assert.deepEqual(create(ingresses, ing(t.spec)).errs, t.errs, t.name);
});

test('Ingress strategy and table', () => {
  const c = create(ingresses, make(ingresses, 'web', { spec: { defaultBackend: backend }, status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } } }));
  assert.deepEqual(c.obj.status, { loadBalancer: {} }, 'create clears status');
  const stored = structuredClone(c.obj);
  stored.status = { loadBalancer: { ingress: [{ ip: '192.0.2.7' }] } };
  const next = structuredClone(stored);
  next.status = {};
  (next.spec as Record<string, unknown>).ingressClassName = 'podnet';
  const u = update(ingresses, next, stored);
  assert.deepEqual(u.obj.status, stored.status, 'update keeps status');
  assert.equal(u.obj.metadata.generation, 2);

  const row = (spec: Record<string, unknown>, status?: unknown) =>
    ingresses.table!.row(make(ingresses, 'web', { spec, ...(status ? { status } : {}) }), NOW);
  assert.deepEqual(row({ defaultBackend: backend }), ['web', '<none>', '*', '', '80', '10m']);
  assert.deepEqual(row({ ingressClassName: 'podnet', tls: [{}], rules: ['a', 'b', 'c', 'd', 'e'].map((h) => ({ host: `${h}.example.com` })) },
    { loadBalancer: { ingress: [{ ip: '192.0.2.7' }, { ip: '192.0.2.3' }] } }),
  ['web', 'podnet', 'a.example.com,b.example.com,c.example.com + 2 more...', '192.0.2.3,192.0.2.7', '80, 443', '10m']);
});

// ---- IngressClass, IPAddress, ServiceCIDR ---------------------------------------------------------

test('IngressClass: controller rules, immutability, parameters, table', () => {
  const ic = (spec: Record<string, unknown>) => make(ingressClasses, 'podnet', { spec });
  assert.deepEqual(create(ingressClasses, ic({})).errs, ['spec.controller: Required value']);
  assert.deepEqual(create(ingressClasses, ic({ controller: 'podnet' })).errs,
    ['spec.controller: Invalid value: "podnet": must be a domain-prefixed path (such as "acme.io/foo")']);
  const c = create(ingressClasses, ic({ controller: 'podnet.dev/gateway', parameters: { apiGroup: 'k8s.example.com', kind: 'Params', name: 'p' } }));
  assert.deepEqual(c.errs, []);
  assert.equal((c.obj.spec as { parameters: { scope: string } }).parameters.scope, 'Cluster');
  assert.deepEqual(create(ingressClasses, ic({ controller: 'podnet.dev/gw', parameters: { kind: 'P', name: 'p', scope: 'Namespace' } })).errs,
    ["spec.parameters.namespace: Required value: `parameters.scope` is set to 'Namespace'"]);
  const next = structuredClone(c.obj);
  (next.spec as Record<string, unknown>).controller = 'other.dev/x';
  assert.deepEqual(update(ingressClasses, next, c.obj).errs, ['spec.controller: Invalid value: "other.dev/x": field is immutable']);
  assert.deepEqual(ingressClasses.table!.row(c.obj, NOW), ['podnet', 'podnet.dev/gateway', 'Params.k8s.example.com/p', '10m']);
});

test('IPAddress: canonical names, parentRef, table', () => {
  assert.equal(canonicalIP('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  assert.equal(canonicalIP('2001:db8:0:1:0:0:1:0'), '2001:db8:0:1::1:0');
  assert.equal(canonicalIP('10.96.0.1'), '10.96.0.1');
  const ref = { group: '', resource: 'services', namespace: 'default', name: 'kubernetes' };
  const ip = (name: string, spec: Record<string, unknown>) => {
    const o = make(ipAddresses, name, { spec });
    return o;
  };
  assert.deepEqual(create(ipAddresses, ip('10.96.0.1', { parentRef: ref })).errs, []);
  assert.deepEqual(create(ipAddresses, ip('fd00:10:96::1', { parentRef: ref })).errs, []);
  assert.deepEqual(ipAddresses.nameValidator!('fd00:10:96:0::1'), ['must be in canonical form ("fd00:10:96::1")']);
  assert.deepEqual(create(ipAddresses, ip('10.96.0.2', {})).errs, ['spec.parentRef: Required value']);
  assert.deepEqual(create(ipAddresses, ip('10.96.0.2', { parentRef: { group: '' } })).errs,
    ['spec.parentRef.resource: Required value', 'spec.parentRef.name: Required value']);
  const stored = create(ipAddresses, ip('10.96.0.1', { parentRef: ref })).obj;
  const next = structuredClone(stored);
  (next.spec as { parentRef: { name: string } }).parentRef.name = 'other';
  assert.equal(update(ipAddresses, next, stored).errs.length, 1);
  assert.match(update(ipAddresses, next, stored).errs[0], /^spec\.parentRef: Invalid value: .*: field is immutable$/);
  assert.deepEqual(ipAddresses.table!.row(stored, NOW), ['10.96.0.1', 'services/default/kubernetes']);
  assert.deepEqual(ipAddresses.table!.row(ip('10.0.0.1', { parentRef: { group: 'gateway.networking.k8s.io', resource: 'Gateways', name: 'g' } }), NOW),
    ['10.0.0.1', 'gateways.gateway.networking.k8s.io/g']);
});

test('ServiceCIDR: one or two canonical CIDRs, immutable, table', () => {
  assert.equal(canonicalCIDR('10.96.0.0/12'), '10.96.0.0/12');
  assert.equal(canonicalCIDR('10.96.1.0/12'), '10.96.0.0/12');
  assert.equal(canonicalCIDR('fd00:10:96:0::/112'), 'fd00:10:96::/112');
  const sc = (cidrs: unknown) => make(serviceCIDRs, 'kubernetes', { spec: { cidrs } });
  const cases: { name: string; cidrs: unknown; errs: string[] }[] = [
    { name: 'single', cidrs: ['10.96.0.0/16'], errs: [] },
    { name: 'dual', cidrs: ['10.96.0.0/16', 'fd00:10:96::/112'], errs: [] },
    { name: 'none', cidrs: [], errs: ['spec.cidrs: Required value: at least one CIDR required'] },
    { name: 'three', cidrs: ['10.0.0.0/8', '10.96.0.0/16', 'fd00::/64'], errs: ['spec.cidrs: Invalid value: ["10.0.0.0/8","10.96.0.0/16","fd00::/64"]: may only hold up to 2 values'] },
    { name: 'same family', cidrs: ['10.96.0.0/16', '10.97.0.0/16'],
      errs: ['spec.cidrs: Invalid value: ["10.96.0.0/16","10.97.0.0/16"]: may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64'] },
    { name: 'bad CIDR', cidrs: ['10.96.0.0/40'], errs: ['spec.cidrs[0]: Invalid value: "10.96.0.0/40": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'] },
    { name: 'host bits set', cidrs: ['10.96.0.1/16'], errs: ['spec.cidrs[0]: Invalid value: "10.96.0.1/16": must be in canonical form ("10.96.0.0/16")'] },
  ];
  for (const t of cases) assert.deepEqual(create(serviceCIDRs, sc(t.cidrs)).errs, t.errs, t.name);
  const stored = create(serviceCIDRs, sc(['10.96.0.0/16'])).obj;
  assert.deepEqual(stored.status, {});
  assert.deepEqual(update(serviceCIDRs, sc(['10.97.0.0/16']), stored).errs, ['spec.cidrs[0]: Invalid value: "10.97.0.0/16": field is immutable']);
  assert.deepEqual(update(serviceCIDRs, sc(['10.96.0.0/16', 'fd00:10:96::/112']), stored).errs, [], 'may gain the second family');
  assert.deepEqual(serviceCIDRs.table!.row(sc(['10.96.0.0/16', 'fd00:10:96::/112']), NOW), ['kubernetes', '10.96.0.0/16,fd00:10:96::/112', '10m']);
});
