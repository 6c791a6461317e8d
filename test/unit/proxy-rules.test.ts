// The proxy's pure core (src/proxy/rules.ts + endpoints.ts), checked three ways as kube-proxy's
// tests do: the whole ruleset against an expected dump, one chain, and packet flows through the
// fake — tables of {packet → DNAT candidates | masquerade | reject | drop}. Address plan: see
// proxy-fixtures.ts.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  config, fromNode, install, makeService, makeSlice, NODE_IP, outside, pod, run, sliceRec, svcRec, TABLE, type EpSpec,
} from './proxy-fixtures.js';
import { computeService, nameHash } from '../../src/proxy/rules.js';
import { stripEndpointSlice, stripService } from '../../src/proxy/model.js';
import type { Packet } from '../../src/proxy/trace.js';
import { UnknownRuleError } from '../../src/proxy/trace.js';
import type { FakeNft } from '../../src/net/nft-fake.js';

const A1 = '10.244.1.5', A2 = '10.244.1.6', B1 = '10.244.2.5';
const local = (ip: string, more: Partial<EpSpec> = {}): EpSpec => ({ ip, node: 'node-a', ...more });
const remote = (ip: string, more: Partial<EpSpec> = {}): EpSpec => ({ ip, node: 'node-b', ...more });
const ep = (ip: string, port = 8080) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

interface Expect {
  verdict?: 'accept' | 'drop' | 'reject';
  rejectWith?: string;
  /** The endpoints the packet may be DNATed to (sorted); [] = not DNATed. */
  to?: string[];
  masquerade?: boolean;
}

/** Runs a table of packets through `fake`, following every arm of a random choice. */
function check(fake: FakeNft, rows: Array<[string, Packet, Expect]>): void {
  for (const [what, p, exp] of rows) {
    const first = run(fake, p);
    const verdict = exp.verdict ?? 'accept';
    assert.equal(first.verdict, verdict, `${what}: verdict (chains: ${first.chains.join(' > ')})`);
    if (exp.rejectWith) assert.equal(first.rejectWith, exp.rejectWith, `${what}: reject with`);
    if (exp.to !== undefined) {
      if (exp.to.length === 0) assert.equal(first.dnat, undefined, `${what}: not DNATed`);
      else {
        const all = first.candidates.length ? first.candidates : [first.dnat];
        assert.deepEqual([...all].sort(), [...exp.to].sort(), `${what}: candidates`);
        // every arm of the random choice really DNATs to its endpoint
        for (let i = 0; i < all.length; i++) {
          const r = run(fake, p, { pick: () => i });
          assert.equal(r.dnat, all[i], `${what}: arm ${i}`);
        }
      }
    }
    if (exp.masquerade !== undefined) assert.equal(first.masquerade, exp.masquerade, `${what}: masquerade (chains: ${first.chains.join(' > ')})`);
  }
}

describe('ruleset', () => {
  test('whole table for one ClusterIP service with two endpoints (sorted dump)', () => {
    const fake = install([[makeService('ns', 'web'), [makeSlice('ns', 'web-1', 'web', [local(A1), remote(B1)])]]], config({ clusterCIDRs: ['10.244.0.0/16'] }));
    // No per-Service chain: the Service is map elements, pointing at chains shared by every
    // service port with two Cluster-policy endpoints; only the local endpoint is a hairpin candidate.
    const t = `inet ${TABLE}`;
    const lines = fake.dump().trim().split('\n');
    const expected = [
      `add table ${t} { comment "rules for podnet proxy (kube-proxy nftables mode)" ; }`,
      `add chain ${t} clusterip-cluster-tcp-2-v4 { comment "ClusterIP traffic to 2 Cluster-policy TCP endpoints (IPv4)" ; }`,
      `add chain ${t} dnat-cluster-tcp-2-v4 { comment "DNAT to one of 2 Cluster-policy TCP endpoints by service address and port (IPv4)" ; }`,
      `add chain ${t} endpoints-check { comment "reject or drop new connections to services without usable endpoints" ; }`,
      `add chain ${t} filter-forward { type filter hook forward priority -110 ; }`,
      `add chain ${t} filter-input { type filter hook input priority -110 ; }`,
      `add chain ${t} filter-output { type filter hook output priority -110 ; }`,
      `add chain ${t} mark-for-masquerade { comment "mark a connection for masquerading" ; }`,
      `add chain ${t} masquerading { comment "masquerade marked connections" ; }`,
      `add chain ${t} nat-output { type nat hook output priority -100 ; }`,
      `add chain ${t} nat-postrouting { type nat hook postrouting priority 100 ; }`,
      `add chain ${t} nat-prerouting { type nat hook prerouting priority -100 ; }`,
      `add chain ${t} reject-chain { comment "helper for @no-endpoint-services and @no-endpoint-nodeports" ; }`,
      `add chain ${t} services { comment "dispatch service traffic by destination" ; }`,
      `add map ${t} cluster-endpoints-sctp-v4 { typeof ip daddr . th dport . numgen random mod 1 : ip daddr . sctp dport ; comment "Cluster-policy SCTP endpoints by service address, port and index (IPv4)" ; }`,
      `add map ${t} cluster-endpoints-sctp-v6 { typeof ip6 daddr . th dport . numgen random mod 1 : ip6 daddr . sctp dport ; comment "Cluster-policy SCTP endpoints by service address, port and index (IPv6)" ; }`,
      `add map ${t} cluster-endpoints-tcp-v4 { typeof ip daddr . th dport . numgen random mod 1 : ip daddr . tcp dport ; comment "Cluster-policy TCP endpoints by service address, port and index (IPv4)" ; }`,
      `add element ${t} cluster-endpoints-tcp-v4 { 10.96.0.10 . 80 . 0 : 10.244.1.5 . 8080 }`,
      `add element ${t} cluster-endpoints-tcp-v4 { 10.96.0.10 . 80 . 1 : 10.244.2.5 . 8080 }`,
      `add map ${t} cluster-endpoints-tcp-v6 { typeof ip6 daddr . th dport . numgen random mod 1 : ip6 daddr . tcp dport ; comment "Cluster-policy TCP endpoints by service address, port and index (IPv6)" ; }`,
      `add map ${t} cluster-endpoints-udp-v4 { typeof ip daddr . th dport . numgen random mod 1 : ip daddr . udp dport ; comment "Cluster-policy UDP endpoints by service address, port and index (IPv4)" ; }`,
      `add map ${t} cluster-endpoints-udp-v6 { typeof ip6 daddr . th dport . numgen random mod 1 : ip6 daddr . udp dport ; comment "Cluster-policy UDP endpoints by service address, port and index (IPv6)" ; }`,
      `add set ${t} hairpin-v4 { type ipv4_addr . ipv4_addr ; comment "a local endpoint reaching itself through a service (IPv4)" ; }`,
      `add element ${t} hairpin-v4 { 10.244.1.5 . 10.244.1.5 }`,
      `add set ${t} hairpin-v6 { type ipv6_addr . ipv6_addr ; comment "a local endpoint reaching itself through a service (IPv6)" ; }`,
      `add map ${t} local-endpoints-sctp-v4 { typeof ip daddr . th dport . numgen random mod 1 : ip daddr . sctp dport ; comment "Local-policy SCTP endpoints by service address, port and index (IPv4)" ; }`,
      `add map ${t} local-endpoints-sctp-v6 { typeof ip6 daddr . th dport . numgen random mod 1 : ip6 daddr . sctp dport ; comment "Local-policy SCTP endpoints by service address, port and index (IPv6)" ; }`,
      `add map ${t} local-endpoints-tcp-v4 { typeof ip daddr . th dport . numgen random mod 1 : ip daddr . tcp dport ; comment "Local-policy TCP endpoints by service address, port and index (IPv4)" ; }`,
      `add map ${t} local-endpoints-tcp-v6 { typeof ip6 daddr . th dport . numgen random mod 1 : ip6 daddr . tcp dport ; comment "Local-policy TCP endpoints by service address, port and index (IPv6)" ; }`,
      `add map ${t} local-endpoints-udp-v4 { typeof ip daddr . th dport . numgen random mod 1 : ip daddr . udp dport ; comment "Local-policy UDP endpoints by service address, port and index (IPv4)" ; }`,
      `add map ${t} local-endpoints-udp-v6 { typeof ip6 daddr . th dport . numgen random mod 1 : ip6 daddr . udp dport ; comment "Local-policy UDP endpoints by service address, port and index (IPv6)" ; }`,
      `add map ${t} no-endpoint-nodeports-v4 { type inet_proto . inet_service : verdict ; comment "reject or drop traffic to NodePorts without usable endpoints (IPv4)" ; }`,
      `add map ${t} no-endpoint-nodeports-v6 { type inet_proto . inet_service : verdict ; comment "reject or drop traffic to NodePorts without usable endpoints (IPv6)" ; }`,
      `add map ${t} no-endpoint-services-v4 { type ipv4_addr . inet_proto . inet_service : verdict ; comment "reject or drop traffic to services without usable endpoints (IPv4)" ; }`,
      `add map ${t} no-endpoint-services-v6 { type ipv6_addr . inet_proto . inet_service : verdict ; comment "reject or drop traffic to services without usable endpoints (IPv6)" ; }`,
      `add map ${t} nodeport-cluster-endpoints-sctp-v4 { typeof th dport . numgen random mod 1 : ip daddr . sctp dport ; comment "Cluster-policy SCTP endpoints by node port and index (IPv4)" ; }`,
      `add map ${t} nodeport-cluster-endpoints-sctp-v6 { typeof th dport . numgen random mod 1 : ip6 daddr . sctp dport ; comment "Cluster-policy SCTP endpoints by node port and index (IPv6)" ; }`,
      `add map ${t} nodeport-cluster-endpoints-tcp-v4 { typeof th dport . numgen random mod 1 : ip daddr . tcp dport ; comment "Cluster-policy TCP endpoints by node port and index (IPv4)" ; }`,
      `add map ${t} nodeport-cluster-endpoints-tcp-v6 { typeof th dport . numgen random mod 1 : ip6 daddr . tcp dport ; comment "Cluster-policy TCP endpoints by node port and index (IPv6)" ; }`,
      `add map ${t} nodeport-cluster-endpoints-udp-v4 { typeof th dport . numgen random mod 1 : ip daddr . udp dport ; comment "Cluster-policy UDP endpoints by node port and index (IPv4)" ; }`,
      `add map ${t} nodeport-cluster-endpoints-udp-v6 { typeof th dport . numgen random mod 1 : ip6 daddr . udp dport ; comment "Cluster-policy UDP endpoints by node port and index (IPv6)" ; }`,
      `add map ${t} nodeport-local-endpoints-sctp-v4 { typeof th dport . numgen random mod 1 : ip daddr . sctp dport ; comment "Local-policy SCTP endpoints by node port and index (IPv4)" ; }`,
      `add map ${t} nodeport-local-endpoints-sctp-v6 { typeof th dport . numgen random mod 1 : ip6 daddr . sctp dport ; comment "Local-policy SCTP endpoints by node port and index (IPv6)" ; }`,
      `add map ${t} nodeport-local-endpoints-tcp-v4 { typeof th dport . numgen random mod 1 : ip daddr . tcp dport ; comment "Local-policy TCP endpoints by node port and index (IPv4)" ; }`,
      `add map ${t} nodeport-local-endpoints-tcp-v6 { typeof th dport . numgen random mod 1 : ip6 daddr . tcp dport ; comment "Local-policy TCP endpoints by node port and index (IPv6)" ; }`,
      `add map ${t} nodeport-local-endpoints-udp-v4 { typeof th dport . numgen random mod 1 : ip daddr . udp dport ; comment "Local-policy UDP endpoints by node port and index (IPv4)" ; }`,
      `add map ${t} nodeport-local-endpoints-udp-v6 { typeof th dport . numgen random mod 1 : ip6 daddr . udp dport ; comment "Local-policy UDP endpoints by node port and index (IPv6)" ; }`,
      `add map ${t} service-ips-v4 { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic (IPv4)" ; }`,
      `add element ${t} service-ips-v4 { 10.96.0.10 . tcp . 80 comment "ns/web:http" : goto clusterip-cluster-tcp-2-v4 }`,
      `add map ${t} service-ips-v6 { type ipv6_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic (IPv6)" ; }`,
      `add map ${t} service-nodeports-v4 { type inet_proto . inet_service : verdict ; comment "NodePort traffic (IPv4)" ; }`,
      `add map ${t} service-nodeports-v6 { type inet_proto . inet_service : verdict ; comment "NodePort traffic (IPv6)" ; }`,
      `add rule ${t} clusterip-cluster-tcp-2-v4 ip saddr != 10.244.0.0/16 jump mark-for-masquerade comment "masquerade traffic from outside the pod network"`,
      `add rule ${t} clusterip-cluster-tcp-2-v4 goto dnat-cluster-tcp-2-v4`,
      `add rule ${t} dnat-cluster-tcp-2-v4 meta l4proto tcp dnat ip to ip daddr . th dport . numgen random mod 2 map @cluster-endpoints-tcp-v4`,
      `add rule ${t} endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services-v4`,
      `add rule ${t} endpoints-check fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @no-endpoint-nodeports-v4`,
      `add rule ${t} endpoints-check ip6 daddr . meta l4proto . th dport vmap @no-endpoint-services-v6`,
      `add rule ${t} endpoints-check fib daddr type local ip6 daddr != ::1 meta l4proto . th dport vmap @no-endpoint-nodeports-v6`,
      `add rule ${t} filter-forward ct state new jump endpoints-check`,
      `add rule ${t} filter-input ct state new jump endpoints-check`,
      `add rule ${t} filter-output ct state new jump endpoints-check`,
      `add rule ${t} mark-for-masquerade meta mark set meta mark | 0x00004000`,
      `add rule ${t} masquerading ct status dnat ip saddr . ip daddr @hairpin-v4 jump mark-for-masquerade comment "hairpin"`,
      `add rule ${t} masquerading ct status dnat ip6 saddr . ip6 daddr @hairpin-v6 jump mark-for-masquerade comment "hairpin"`,
      `add rule ${t} masquerading meta mark & 0x00004000 == 0x00000000 return`,
      `add rule ${t} masquerading meta mark set meta mark ^ 0x00004000`,
      `add rule ${t} masquerading masquerade fully-random`,
      `add rule ${t} nat-output jump services`,
      `add rule ${t} nat-postrouting jump masquerading`,
      `add rule ${t} nat-prerouting jump services`,
      `add rule ${t} reject-chain meta l4proto tcp reject with tcp reset`,
      `add rule ${t} reject-chain reject`,
      `add rule ${t} services ip daddr . meta l4proto . th dport vmap @service-ips-v4`,
      `add rule ${t} services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports-v4`,
      `add rule ${t} services ip6 daddr . meta l4proto . th dport vmap @service-ips-v6`,
      `add rule ${t} services fib daddr type local ip6 daddr != ::1 meta l4proto . th dport vmap @service-nodeports-v6`,
    ];
    // Order-normalised: rules keep their order within a chain, everything else is compared as a set.
    assert.deepEqual([...lines].sort(), [...expected].sort());
    const ruleOrder = (ls: string[], chain: string) => ls.filter((l) => l.startsWith(`add rule ${t} ${chain} `));
    for (const c of ['masquerading', 'reject-chain', 'services', 'clusterip-cluster-tcp-2-v4']) assert.deepEqual(ruleOrder(lines, c), ruleOrder(expected, c));
  });

  test('one chain: an endpoint chain with ClientIP affinity (IPv6)', () => {
    const svc = makeService('ns', 'aff', (s) => { s.spec.clusterIPs = ['fd00:10:96::20']; s.spec.clusterIP = 'fd00:10:96::20'; s.spec.sessionAffinity = 'ClientIP'; s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 } }; });
    const rules = computeService(svcRec(svc), [sliceRec(makeSlice('ns', 'aff-1', 'aff', [local('fd00:10:244:1::5')]))], config())!;
    const chain = rules.chains.find((c) => c.name.startsWith('endpoint-'))!;
    assert.match(chain.name, /^endpoint-[A-Z2-7]{8}-ns\/aff\/tcp6\/http__fd00\.10\.244\.1\.\.5\/8080$/);
    // Hairpin is the generic @hairpin-v6 rule in masquerading, not a rule per endpoint.
    assert.deepEqual(chain.rules.map((r) => r.rule), [
      `update @${chain.name.replace(/^endpoint-/, 'affinity-')} { ip6 saddr }`,
      'meta l4proto tcp dnat ip6 to [fd00:10:244:1::5]:8080',
    ]);
    assert.deepEqual(rules.sets.map((s) => [s.type, s.flags, s.timeout]), [['ipv6_addr', ['dynamic', 'timeout'], 60]]);
    assert.deepEqual(rules.elements.filter((e) => e.set === 'hairpin-v6').map((e) => e.key), [['fd00:10:244:1::5', 'fd00:10:244:1::5']]);
  });

  test('one chain: the shared chains of an externalTrafficPolicy Local NodePort', () => {
    const svc = makeService('ns', 'np', (s) => { s.spec.type = 'NodePort'; s.spec.externalTrafficPolicy = 'Local'; s.spec.ports[0].nodePort = 30080; });
    const rules = computeService(svcRec(svc), [sliceRec(makeSlice('ns', 'np-1', 'np', [local(A1), remote(B1)]))], config())!;
    assert.deepEqual(rules.chains, []);
    const ext = rules.sharedChains.find((c) => c.name === 'nodeport-external-local-tcp-2-1-v4')!;
    assert.deepEqual(ext.rules.map((r) => r.rule), [
      'ip saddr 10.244.0.0/16 goto dnat-nodeport-cluster-tcp-2-v4',
      'fib saddr type local jump mark-for-masquerade',
      'fib saddr type local goto dnat-nodeport-cluster-tcp-2-v4',
      'goto dnat-nodeport-local-tcp-1-v4',
    ]);
    assert.deepEqual(rules.sharedChains.find((c) => c.name === 'dnat-nodeport-local-tcp-1-v4')!.rules.map((r) => r.rule),
      ['meta l4proto tcp dnat ip to th dport . numgen random mod 1 map @nodeport-local-endpoints-tcp-v4']);
    const np = rules.elements.filter((e) => e.set.startsWith('nodeport-')).map((e) => `${e.set} ${e.key.join(' . ')} : ${e.value}`).sort();
    assert.deepEqual(np, [
      'nodeport-cluster-endpoints-tcp-v4 30080 . 0 : 10.244.1.5 . 8080',
      'nodeport-cluster-endpoints-tcp-v4 30080 . 1 : 10.244.2.5 . 8080',
      'nodeport-local-endpoints-tcp-v4 30080 . 0 : 10.244.1.5 . 8080',
    ]);
  });

  test('ExternalName and headless services get no rules; malformed objects are refused with a reason', () => {
    assert.equal(computeService(svcRec(makeService('ns', 'ext', (s) => { s.spec = { type: 'ExternalName', externalName: 'example.com' }; })), [], config()), undefined);
    assert.equal(computeService(svcRec(makeService('ns', 'hl', (s) => { s.spec.clusterIP = 'None'; s.spec.clusterIPs = ['None']; })), [], config()), undefined);
    const bad = stripService(makeService('ns', 'bad', (s) => { s.spec.ports[0].port = 70000; }));
    assert.ok(!bad.ok && /ns\/bad.*invalid port/.test(bad.error));
    const badSlice = stripEndpointSlice(makeSlice('ns', 'x', 'web', [{ ip: '10.244.1.300' }]));
    assert.ok(badSlice && !badSlice.ok && /invalid IP/.test(badSlice.error));
    const wrongFamily = stripEndpointSlice(makeSlice('ns', 'x', 'web', [{ ip: '10.244.1.3' }], (s) => { s.addressType = 'IPv6'; }));
    assert.ok(wrongFamily && !wrongFamily.ok);
    assert.equal(stripEndpointSlice(makeSlice('ns', 'x', 'web', [], (s) => { s.addressType = 'FQDN'; })), undefined);
  });
});

describe('packet traces', () => {
  test('ClusterIP: spread, masquerade only from outside the pod network, hairpin', () => {
    const fake = install([[makeService('ns', 'web'), [makeSlice('ns', 'web-1', 'web', [local(A1), remote(B1), remote('10.244.2.9', { ready: false })])]]]);
    const both = [ep(A1), ep(B1)];
    check(fake, [
      ['pod → ClusterIP', pod('10.244.1.9', '10.96.0.10'), { to: both, masquerade: false }],
      ['node → ClusterIP', fromNode('10.96.0.10'), { to: both, masquerade: true }],
      ['outside → ClusterIP', outside('10.96.0.10'), { to: both, masquerade: true }],
      ['other port of the ClusterIP', pod('10.244.1.9', '10.96.0.10', 81), { to: [], verdict: 'accept' }],
      ['other protocol', pod('10.244.1.9', '10.96.0.10', 80, 'udp'), { to: [], verdict: 'accept' }],
    ]);
    // Hairpin: A1 reaching itself through its Service is masqueraded; reaching B1 it is not.
    const self = run(fake, pod(A1, '10.96.0.10'), { pick: (n) => [ep(A1), ep(B1)].indexOf(ep(A1)) % n });
    assert.equal(self.dnat, ep(A1));
    assert.equal(self.masquerade, true);
    const other = run(fake, pod(A1, '10.96.0.10'), { pick: () => 1 });
    assert.equal(other.dnat, ep(B1));
    assert.equal(other.masquerade, false);
  });

  test('NodePort, externalIPs and load-balancer IPs with externalTrafficPolicy Cluster', () => {
    const fake = install([[makeService('ns', 'np', (s) => {
      s.spec.type = 'LoadBalancer';
      s.spec.ports[0].nodePort = 30080;
      s.spec.externalIPs = ['192.0.2.5'];
      s.status = { loadBalancer: { ingress: [{ ip: '198.51.100.7' }, { ip: '198.51.100.8', ipMode: 'Proxy' }] } };
    }), [makeSlice('ns', 'np-1', 'np', [local(A1), remote(B1)])]]]);
    const both = [ep(A1), ep(B1)];
    check(fake, [
      ['outside → node:NodePort', outside(NODE_IP, 30080), { to: both, masquerade: true }],
      ['pod → node:NodePort', pod('10.244.1.9', NODE_IP, 30080), { to: both, masquerade: true }],
      ['node → itself:NodePort', fromNode(NODE_IP, 30080), { to: both, masquerade: true }],
      ['outside → other address:NodePort', outside('198.18.0.99', 30080), { to: [] }],
      ['outside → external IP', outside('192.0.2.5'), { to: both, masquerade: true }],
      ['outside → LB IP', outside('198.51.100.7'), { to: both, masquerade: true }],
      ['outside → LB IP with ipMode Proxy', outside('198.51.100.8'), { to: [] }],
      ['pod → ClusterIP still unmasqueraded', pod('10.244.1.9', '10.96.0.10'), { to: both, masquerade: false }],
    ]);
  });

  test('NodePorts only on explicit node addresses when given', () => {
    const fake = install([[makeService('ns', 'np', (s) => { s.spec.type = 'NodePort'; s.spec.ports[0].nodePort = 30080; }), [makeSlice('ns', 'np-1', 'np', [local(A1)])]]],
      config({ nodePortAddresses: [NODE_IP] }));
    check(fake, [
      ['node address', outside(NODE_IP, 30080), { to: [ep(A1)] }],
      ['another local address', outside('198.18.0.50', 30080), { to: [] }],
    ]);
    // …which the rule does not even consult fib for
    assert.equal(run(fake, outside('198.18.0.50', 30080), { localAddresses: ['198.18.0.50'] }).dnat, undefined);
  });

  test('externalTrafficPolicy Local: local endpoints, client IP kept; pods and the node short-circuit', () => {
    const svc = makeService('ns', 'loc', (s) => { s.spec.type = 'NodePort'; s.spec.externalTrafficPolicy = 'Local'; s.spec.ports[0].nodePort = 30081; s.spec.externalIPs = ['192.0.2.6']; });
    const fake = install([[svc, [makeSlice('ns', 'loc-1', 'loc', [local(A1), remote(B1)])]]]);
    check(fake, [
      ['outside → NodePort', outside(NODE_IP, 30081), { to: [ep(A1)], masquerade: false }],
      ['outside → external IP', outside('192.0.2.6'), { to: [ep(A1)], masquerade: false }],
      ['pod → NodePort', pod('10.244.1.9', NODE_IP, 30081), { to: [ep(A1), ep(B1)], masquerade: false }],
      ['node → NodePort', fromNode(NODE_IP, 30081), { to: [ep(A1), ep(B1)], masquerade: true }],
      ['pod → ClusterIP', pod('10.244.1.9', '10.96.0.10'), { to: [ep(A1), ep(B1)], masquerade: false }],
    ]);
    const none = install([[svc, [makeSlice('ns', 'loc-1', 'loc', [remote(B1)])]]]);
    check(none, [
      ['no local endpoint: outside → NodePort dropped', outside(NODE_IP, 30081), { verdict: 'drop' }],
      ['no local endpoint: outside → external IP dropped', outside('192.0.2.6'), { verdict: 'drop' }],
      ['no local endpoint: pod → NodePort still served', pod('10.244.1.9', NODE_IP, 30081), { to: [ep(B1)] }],
      ['no local endpoint: ClusterIP still served', pod('10.244.1.9', '10.96.0.10'), { to: [ep(B1)] }],
    ]);
  });

  test('internalTrafficPolicy Local', () => {
    const svc = makeService('ns', 'itp', (s) => { s.spec.internalTrafficPolicy = 'Local'; });
    check(install([[svc, [makeSlice('ns', 'itp-1', 'itp', [local(A1), local(A2), remote(B1)])]]]), [
      ['pod → ClusterIP: local endpoints only', pod('10.244.1.9', '10.96.0.10'), { to: [ep(A1), ep(A2)], masquerade: false }],
    ]);
    check(install([[svc, [makeSlice('ns', 'itp-1', 'itp', [remote(B1)])]]]), [
      ['no local endpoint: dropped, not rejected', pod('10.244.1.9', '10.96.0.10'), { verdict: 'drop' }],
    ]);
  });

  test('no usable endpoints: reject (TCP reset, ICMP otherwise), also for NodePorts and external IPs', () => {
    const tcp = makeService('ns', 'empty', (s) => { s.spec.type = 'NodePort'; s.spec.ports[0].nodePort = 30082; s.spec.externalIPs = ['192.0.2.7']; });
    const udp = makeService('ns', 'dns', (s) => { s.spec.clusterIP = '10.96.0.53'; s.spec.clusterIPs = ['10.96.0.53']; s.spec.ports = [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'sctp', protocol: 'SCTP', port: 9 }]; });
    const fake = install([[tcp, [makeSlice('ns', 'empty-1', 'empty', [remote(B1, { ready: false })])]], [udp, []]]);
    check(fake, [
      ['pod → ClusterIP', pod('10.244.1.9', '10.96.0.10'), { verdict: 'reject', rejectWith: 'tcp reset' }],
      ['node → ClusterIP', fromNode('10.96.0.10'), { verdict: 'reject', rejectWith: 'tcp reset' }],
      ['outside → NodePort', outside(NODE_IP, 30082), { verdict: 'reject', rejectWith: 'tcp reset' }],
      ['outside → external IP', outside('192.0.2.7'), { verdict: 'reject' }],
      ['UDP', pod('10.244.1.9', '10.96.0.53', 53, 'udp'), { verdict: 'reject', rejectWith: 'icmp port-unreachable' }],
      ['SCTP', pod('10.244.1.9', '10.96.0.53', 9, 'sctp'), { verdict: 'reject', rejectWith: 'icmp port-unreachable' }],
    ]);
  });

  test('terminating endpoints only when no ready ones exist', () => {
    const svc = makeService('ns', 'term');
    const term = (ip: string, node = 'node-b') => ({ ip, node, ready: false, serving: true, terminating: true });
    check(install([[svc, [makeSlice('ns', 'term-1', 'term', [remote(B1), term('10.244.2.6')])]]]), [
      ['ready and terminating: ready only', pod('10.244.1.9', '10.96.0.10'), { to: [ep(B1)] }],
    ]);
    check(install([[svc, [makeSlice('ns', 'term-1', 'term', [term('10.244.2.6'), { ip: '10.244.2.7', node: 'node-b', ready: false, serving: false, terminating: true }])]]]), [
      ['only terminating: serving ones used', pod('10.244.1.9', '10.96.0.10'), { to: [ep('10.244.2.6')] }],
    ]);
    const local = makeService('ns', 'term', (s) => { s.spec.type = 'NodePort'; s.spec.externalTrafficPolicy = 'Local'; s.spec.ports[0].nodePort = 30083; });
    check(install([[local, [makeSlice('ns', 'term-1', 'term', [term(A1, 'node-a'), remote(B1)])]]]), [
      ['eTP Local, local endpoint terminating: used for external traffic', outside(NODE_IP, 30083), { to: [ep(A1)] }],
      ['…while ClusterIP uses the ready remote one', pod('10.244.1.9', '10.96.0.10'), { to: [ep(B1)] }],
    ]);
  });

  test('topology: zone hints, node hints, and falling back when hints are incomplete', () => {
    const svc = makeService('ns', 'topo');
    check(install([[svc, [makeSlice('ns', 'topo-1', 'topo', [local(A1, { zones: ['zone-a'] }), remote(B1, { zones: ['zone-b'] }), remote('10.244.2.6', { zones: ['zone-a'] })])]]]), [
      ['zone hints: this zone', pod('10.244.1.9', '10.96.0.10'), { to: [ep(A1), ep('10.244.2.6')] }],
    ]);
    check(install([[svc, [makeSlice('ns', 'topo-1', 'topo', [local(A1, { zones: ['zone-a'] }), remote(B1)])]]]), [
      ['an endpoint without hints: no filtering', pod('10.244.1.9', '10.96.0.10'), { to: [ep(A1), ep(B1)] }],
    ]);
    check(install([[svc, [makeSlice('ns', 'topo-1', 'topo', [remote(B1, { zones: ['zone-b'] })])]]]), [
      ['no hint for this zone: no filtering', pod('10.244.1.9', '10.96.0.10'), { to: [ep(B1)] }],
    ]);
    check(install([[svc, [makeSlice('ns', 'topo-1', 'topo', [local(A1, { zones: ['zone-a'], nodes: ['node-a'] }), remote(B1, { zones: ['zone-a'], nodes: ['node-b'] })])]]]), [
      ['node hints: this node', pod('10.244.1.9', '10.96.0.10'), { to: [ep(A1)] }],
    ]);
  });

  test('ClientIP affinity: a recorded client goes to its endpoint, new clients are recorded', () => {
    const svc = makeService('ns', 'sticky', (s) => { s.spec.sessionAffinity = 'ClientIP'; s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 30 } }; });
    const fake = install([[svc, [makeSlice('ns', 'sticky-1', 'sticky', [local(A1), remote(B1)])]]]);
    const fresh = run(fake, pod('10.244.1.9', '10.96.0.10'), { pick: () => 1 });
    assert.equal(fresh.dnat, ep(B1));
    assert.equal(fresh.affinityUpdated.length, 1);
    const set = fresh.affinityUpdated[0]!;
    assert.match(set, /^affinity-.*__10\.244\.2\.5\/8080$/);
    assert.equal(fake.ruleset!.sets.get(set)!.timeout, 30);
    // The same client again, whatever the random pick: the recorded endpoint.
    for (const k of [0, 1]) {
      const again = run(fake, pod('10.244.1.9', '10.96.0.10'), { pick: () => k, affinity: { [set]: ['10.244.1.9'] } });
      assert.equal(again.dnat, ep(B1));
      assert.deepEqual(again.candidates, [], 'no random choice for a recorded client');
    }
    // Another client is not bound by it.
    assert.equal(run(fake, pod('10.244.1.10', '10.96.0.10'), { pick: () => 0, affinity: { [set]: ['10.244.1.9'] } }).dnat, ep(A1));
  });

  test('several ports, UDP and SCTP', () => {
    const svc = makeService('ns', 'multi', (s) => { s.spec.ports = [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'dns', protocol: 'UDP', port: 53 }, { name: 'sc', protocol: 'SCTP', port: 9 }]; });
    const slice = makeSlice('ns', 'multi-1', 'multi', [local(A1)], (s) => { s.ports = [{ name: 'http', protocol: 'TCP', port: 8080 }, { name: 'dns', protocol: 'UDP', port: 5353 }, { name: 'sc', protocol: 'SCTP', port: 9999 }]; });
    check(install([[svc, [slice]]]), [
      ['tcp', pod('10.244.1.9', '10.96.0.10', 80), { to: [ep(A1, 8080)] }],
      ['udp', pod('10.244.1.9', '10.96.0.10', 53, 'udp'), { to: [ep(A1, 5353)] }],
      ['sctp', pod('10.244.1.9', '10.96.0.10', 9, 'sctp'), { to: [ep(A1, 9999)] }],
      ['udp on the tcp port', pod('10.244.1.9', '10.96.0.10', 80, 'udp'), { to: [] }],
    ]);
  });

  test('dual stack: each family to its own endpoints', () => {
    const svc = makeService('ns', 'ds', (s) => { s.spec.clusterIPs = ['10.96.0.10', 'fd00:10:96::10']; s.spec.ipFamilies = ['IPv4', 'IPv6']; s.spec.type = 'NodePort'; s.spec.ports[0].nodePort = 30084; });
    const fake = install([[svc, [makeSlice('ns', 'ds-4', 'ds', [local(A1)]), makeSlice('ns', 'ds-6', 'ds', [local('fd00:10:244:1::5')])]]]);
    check(fake, [
      ['IPv4 ClusterIP', pod('10.244.1.9', '10.96.0.10'), { to: [ep(A1)], masquerade: false }],
      ['IPv6 ClusterIP', pod('fd00:10:244:1::9', 'fd00:10:96::10'), { to: [ep('fd00:10:244:1::5')], masquerade: false }],
      ['IPv6 from outside the pod network', outside('fd00:10:96::10', 80, 'tcp', '2001:db8::1'), { to: [ep('fd00:10:244:1::5')], masquerade: true }],
      ['IPv6 NodePort', outside('fd00:198:18::2', 30084, 'tcp', '2001:db8::1'), { to: [ep('fd00:10:244:1::5')] }],
    ]);
  });

  test('the tracer refuses rule shapes it does not know', () => {
    const fake = install([[makeService('ns', 'web'), [makeSlice('ns', 'web-1', 'web', [local(A1)])]]]);
    fake.runSync(fake.newTransaction().insert({ kind: 'rule', chain: 'services', rule: 'ip dscp cs1 accept' }));
    assert.throws(() => run(fake, pod('10.244.1.9', '10.96.0.10')), UnknownRuleError);
  });
});
