// The analyzer against hand-written truth tables on the upstream e2e model (x/y/z × a/b/c, ports
// 80/81, TCP/UDP/SCTP), plus the cases a matrix does not show: explanations, nodes, addresses,
// hostNetwork pods, IPv6, and policies the model refuses.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Analyzer, explain } from '../../src/netpol/analyzer.js';
import { stripPolicy } from '../../src/netpol/model.js';
import { ipBlockPrefixes } from '../../src/netpol/match.js';
import { ALL_PODS, ALL_PORTS, makePod, makePolicy, model, Reachability } from './netpol-fixtures.js';
import { CASES } from './netpol-cases.js';

function actual(a: Analyzer): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const f of ALL_PODS) for (const t of ALL_PODS) for (const p of ALL_PORTS) {
    out.set(Reachability.key(f, t, p.protocol, p.port), a.check({ from: { pod: f }, to: { pod: t }, protocol: p.protocol, port: p.port, family: 4 }).allowed);
  }
  return out;
}

describe('netpol analyzer: truth tables on x/y/z × a/b/c', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const got = actual(new Analyzer(model(c.policies)));
      const wrong = [...c.expect.cells].filter(([k, v]) => got.get(k) !== v).map(([k, v]) => `${k}: expected ${v ? 'allowed' : 'denied'}`);
      assert.deepEqual(wrong, [], `${wrong.length} cell(s) differ`);
    });
  }
});

describe('netpol analyzer: explanations and special ends', () => {
  const twoPolicies = [
    makePolicy('x', 'a-from-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'c' } } }] }, { from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] }),
    makePolicy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] }),
  ];

  it('names every selecting policy and the rule that admits the connection', () => {
    const a = new Analyzer(model(twoPolicies));
    const v = a.check({ from: { pod: 'x/b' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80 });
    assert.equal(v.allowed, true);
    assert.deepEqual(v.ingress.policies, [{ policy: 'x/a-from-b', allowedBy: [1] }, { policy: 'x/deny-all', allowedBy: [] }]);
    assert.equal(v.egress.isolated, false);
    const text = explain(v).join('\n');
    assert.match(text, /^ALLOWED: 10\.244\.1\.11 → 10\.244\.1\.10/);
    assert.match(text, /x\/a-from-b: allows it by ingress rule #1/);
    assert.match(text, /x\/deny-all: selects the pod; none of its ingress rules match/);
    const d = a.check({ from: { pod: 'y/b' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80 });
    assert.equal(d.allowed, false);
    assert.match(explain(d).join('\n'), /^DENIED/);
  });

  it('traffic between a pod and its own node passes; another node is an address', () => {
    const a = new Analyzer(model([makePolicy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })]));
    assert.equal(a.check({ from: { node: 'node-1' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80 }).allowed, true);
    assert.equal(a.check({ from: { pod: 'x/a' }, to: { node: 'node-1', ip: '198.18.0.2' }, protocol: 'TCP', port: 10250 }).allowed, true);
    assert.equal(a.check({ from: { node: 'node-2', ip: '198.18.0.3' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80 }).allowed, false);
  });

  it('addresses resolve to pods; external addresses only match ipBlocks', () => {
    const a = new Analyzer(model([
      makePolicy('x', 'from-y-or-net', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { ipBlock: { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] } }] }] }),
    ]));
    assert.equal(a.check({ from: { ip: '10.244.1.20' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80 }).allowed, true, 'y/a by address');
    assert.equal(a.check({ from: { ip: '192.0.2.7' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80 }).allowed, true);
    assert.equal(a.check({ from: { ip: '192.0.2.200' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80 }).allowed, false, 'except');
    assert.equal(a.check({ from: { ip: '203.0.113.1' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80 }).allowed, false);
  });

  it('hostNetwork pods are neither selected nor matched by pod selectors', () => {
    const host = makePod('x', 'h', (o) => { o.spec.hostNetwork = true; o.metadata.labels = { pod: 'b' }; o.status.podIP = '198.18.0.2'; o.status.podIPs = [{ ip: '198.18.0.2' }]; });
    const hostRemote = makePod('z', 'h2', (o) => { o.spec.hostNetwork = true; o.metadata.labels = { pod: 'b' }; o.status.podIP = '198.18.0.3'; o.status.podIPs = [{ ip: '198.18.0.3' }]; });
    const a = new Analyzer(model([
      makePolicy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] }),
      makePolicy('x', 'from-b', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }] }] }),
    ], [host, hostRemote]));
    const toHost = a.check({ from: { pod: 'y/a' }, to: { pod: 'x/h' }, protocol: 'TCP', port: 80 });
    assert.equal(toHost.allowed, true);
    assert.equal(toHost.ingress.isolated, false, 'not selected');
    assert.equal(a.check({ from: { pod: 'z/h2' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80 }).allowed, false, 'a remote hostNetwork pod is not a pod=b pod');
    assert.equal(a.check({ from: { pod: 'x/h' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80 }).allowed, true, 'a local one is its node');
  });

  it('IPv6: ipBlocks are per family; selectors match both', () => {
    const a = new Analyzer(model([
      makePolicy('x', 'v4-block', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16' } }] }] }),
      makePolicy('x', 'sel', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ podSelector: {} }] }] }),
    ]));
    assert.equal(a.check({ from: { pod: 'x/c' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80, family: 4 }).allowed, true);
    assert.equal(a.check({ from: { pod: 'x/c' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80, family: 6 }).allowed, false);
    assert.equal(a.check({ from: { pod: 'x/c' }, to: { pod: 'x/b' }, protocol: 'TCP', port: 80, family: 6 }).allowed, true);
    assert.equal(a.check({ from: { ip: 'fd00:10:244:1::12' }, to: { pod: 'x/b' }, protocol: 'TCP', port: 80 }).src, 'fd00:10:244:1::12');
  });

  it('policies the model cannot read say why', () => {
    const r = stripPolicy({ metadata: { namespace: 'x', name: 'bad' }, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: 'nope' } }] }] } });
    assert.equal(r.ok, false);
    assert.match((r as { error: string }).error, /x\/bad: spec\.ingress\[0\]\.from\[0\]\.ipBlock\.cidr/);
  });

  it('ipBlocks minus excepts become disjoint prefixes', () => {
    assert.deepEqual(ipBlockPrefixes([{ cidr: '10.0.0.0/24', except: ['10.0.0.0/25', '10.0.0.192/26'] }, { cidr: '10.0.0.128/26', except: [] }], 'IPv4'), ['10.0.0.128/26']);
    assert.deepEqual(ipBlockPrefixes([{ cidr: '10.0.0.0/30', except: ['10.0.0.1/32'] }], 'IPv4'), ['10.0.0.0/32', '10.0.0.2/31']);
    assert.deepEqual(ipBlockPrefixes([{ cidr: '0.0.0.0/0', except: [] }, { cidr: '::/0', except: [] }], 'IPv6'), ['::/0']);
    assert.deepEqual(ipBlockPrefixes([{ cidr: '10.0.0.0/8', except: ['10.0.0.0/8'] }], 'IPv4'), []);
  });
});
