// Policy scenarios on the x/y/z × a/b/c model with their expected truth tables, written by hand
// from the API reference (as the upstream e2e suite and Cyclonus state them). The analyzer test
// checks the analyzer against them; the rules test checks the generated nftables against the
// analyzer on the same scenarios.

import { makePolicy, Reachability } from './netpol-fixtures.js';
import type { PolicyRecord } from '../../src/netpol/model.js';

export interface Case { name: string; policies: PolicyRecord[]; expect: Reachability }

const ingressTypes = { policyTypes: ['Ingress'] };
const egressTypes = { policyTypes: ['Egress'] };

export const CASES: Case[] = [
  { name: 'no policies: everything passes', policies: [], expect: new Reachability(true) },
  {
    name: 'default deny ingress in x',
    policies: [makePolicy('x', 'deny-ingress', { podSelector: {}, ...ingressTypes })],
    expect: new Reachability().set('*', 'x/*', false).loopback(),
  },
  {
    name: 'default deny egress in x',
    policies: [makePolicy('x', 'deny-egress', { podSelector: {}, ...egressTypes })],
    expect: new Reachability().set('x/*', '*', false).loopback(),
  },
  {
    name: 'deny both directions for x/a (policyTypes without rules)',
    policies: [makePolicy('x', 'deny-a', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress', 'Egress'] })],
    expect: new Reachability().set('*', 'x/a', false).set('x/a', '*', false).loopback(),
  },
  {
    name: 'podSelector peer: x/a only from x/b',
    policies: [makePolicy('x', 'a-from-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] })],
    expect: new Reachability().set('*', 'x/a', false).set('x/b', 'x/a', true).loopback(),
  },
  {
    name: 'namespaceSelector peer: x/a only from namespace y',
    policies: [makePolicy('x', 'a-from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] })],
    expect: new Reachability().set('*', 'x/a', false).set('y/*', 'x/a', true).loopback(),
  },
  {
    name: 'namespaceSelector AND podSelector in one peer: x/a only from y/c',
    policies: [makePolicy('x', 'a-from-yc', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'c' } } }] }] })],
    expect: new Reachability().set('*', 'x/a', false).set('y/c', 'x/a', true).loopback(),
  },
  {
    name: 'namespaceSelector OR podSelector as two peers: x/a from namespace y or from x/c',
    policies: [makePolicy('x', 'a-from-y-or-c', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchLabels: { pod: 'c' } } }] }] })],
    expect: new Reachability().set('*', 'x/a', false).set('y/*', 'x/a', true).set('x/c', 'x/a', true).loopback(),
  },
  {
    name: 'matchExpressions: x from namespaces NotIn [y], pods In [a, b]',
    policies: [makePolicy('x', 'expr', { podSelector: {}, ingress: [{ from: [{
      namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'NotIn', values: ['y'] }] },
      podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] },
    }] }] })],
    expect: new Reachability().set('*', 'x/*', false).set('x/a', 'x/*', true).set('x/b', 'x/*', true).set('z/a', 'x/*', true).set('z/b', 'x/*', true).loopback(),
  },
  {
    name: 'ipBlock with except: x/a from 10.244.0.0/16 except node-2 pods and x/b',
    policies: [makePolicy('x', 'a-from-cidr', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.2.0/24', '10.244.1.11/32'] } }] }] })],
    expect: new Reachability().set('*', 'x/a', false).set('x/*', 'x/a', true).set('y/*', 'x/a', true).set('x/b', 'x/a', false).loopback(),
  },
  {
    name: 'egress ipBlock: x/* to 10.244.2.0/24 only (IPv4)',
    policies: [makePolicy('x', 'to-node2', { podSelector: {}, ...egressTypes, egress: [{ to: [{ ipBlock: { cidr: '10.244.2.0/24' } }] }] })],
    expect: new Reachability().set('x/*', '*', false).set('x/*', 'z/*', true).loopback(),
  },
  {
    name: 'numeric port: x/a from anywhere on TCP 80 only',
    policies: [makePolicy('x', 'a-tcp80', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 80 }] }] })],
    expect: new Reachability().set('*', 'x/a', false).set('*', 'x/a', true, ['TCP/80']).loopback(),
  },
  {
    name: 'named port: x/a from anywhere on serve-81-udp',
    policies: [makePolicy('x', 'a-named', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'UDP', port: 'serve-81-udp' }] }] })],
    expect: new Reachability().set('*', 'x/a', false).set('*', 'x/a', true, ['UDP/81']).loopback(),
  },
  {
    name: 'named port with the wrong protocol matches nothing',
    policies: [makePolicy('x', 'a-named-tcp', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 'serve-81-udp' }] }] })],
    expect: new Reachability().set('*', 'x/a', false).loopback(),
  },
  {
    name: 'endPort range: x/a egress on TCP 81-90 and SCTP (all ports)',
    policies: [makePolicy('x', 'a-range', { podSelector: { matchLabels: { pod: 'a' } }, ...egressTypes, egress: [{ ports: [{ port: 81, endPort: 90 }, { protocol: 'SCTP' }] }] })],
    expect: new Reachability().set('x/a', '*', false).set('x/a', '*', true, ['TCP/81', 'SCTP/80', 'SCTP/81']).loopback(),
  },
  {
    name: 'egress-only to namespace z on a named port; ingress untouched',
    policies: [makePolicy('x', 'to-z', { podSelector: {}, ...egressTypes, egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }], ports: [{ port: 'serve-80-tcp' }] }] })],
    expect: new Reachability().set('x/*', '*', false).set('x/*', 'z/*', true, ['TCP/80']).loopback(),
  },
  {
    name: 'egress rules without policyTypes default to Ingress and Egress: ingress is denied too',
    policies: [makePolicy('x', 'to-z-defaulted', { podSelector: {}, egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }] }] })],
    expect: new Reachability().set('x/*', '*', false).set('x/*', 'z/*', true).set('*', 'x/*', false).loopback(),
  },
  {
    name: 'multiple policies add up: x/a from x/b (one policy) and from y/a on UDP (another)',
    policies: [
      makePolicy('x', 'a-from-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] }),
      makePolicy('x', 'a-from-ya-udp', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ protocol: 'UDP', port: 80 }, { protocol: 'UDP', port: 81 }] }] }),
      makePolicy('x', 'deny-all', { podSelector: {}, ...ingressTypes }),
    ],
    expect: new Reachability().set('*', 'x/*', false).set('x/b', 'x/a', true).set('y/a', 'x/a', true, ['UDP/80', 'UDP/81']).loopback(),
  },
  {
    name: 'sender egress AND receiver ingress: y denies egress, x allows all ingress',
    policies: [
      makePolicy('y', 'deny-egress', { podSelector: {}, ...egressTypes }),
      makePolicy('x', 'allow-all', { podSelector: {}, ingress: [{}] }),
    ],
    expect: new Reachability().set('y/*', '*', false).loopback(),
  },
  {
    name: 'empty egress rule allows all; missing ingress rules deny all',
    policies: [makePolicy('z', 'in-deny-out-allow', { podSelector: {}, policyTypes: ['Ingress', 'Egress'], egress: [{}] })],
    expect: new Reachability().set('*', 'z/*', false).loopback(),
  },
  {
    name: 'egress: [] with no policyTypes is an ingress-only policy',
    policies: [makePolicy('y', 'empty-lists', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [], egress: [] })],
    expect: new Reachability().set('*', 'y/b', false).loopback(),
  },
  {
    name: 'selector matching nothing isolates nobody',
    policies: [makePolicy('x', 'nobody', { podSelector: { matchLabels: { pod: 'nope' } }, policyTypes: ['Ingress', 'Egress'] })],
    expect: new Reachability(true),
  },
  {
    name: 'ingress and egress together across nodes: z/* only to x/c on SCTP 81, x/c from z/b only',
    policies: [
      makePolicy('z', 'z-out', { podSelector: {}, ...egressTypes, egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'x' } }, podSelector: { matchLabels: { pod: 'c' } } }], ports: [{ protocol: 'SCTP', port: 81 }] }] }),
      makePolicy('x', 'c-in', { podSelector: { matchLabels: { pod: 'c' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }] }] }),
    ],
    expect: new Reachability().set('z/*', '*', false).set('*', 'x/c', false).set('*/b', 'x/c', true).set('z/*', 'x/c', false).set('z/b', 'x/c', true, ['SCTP/81']).loopback(),
  },
];
