// `podnet trace` without root: flag parsing, where a packet enters the cluster, and the text a
// user reads, over rulesets built by the real rule generator (address plan: proxy-fixtures.ts).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { config, install, makeService, makeSlice, NODE, NODE_IP, run } from './proxy-fixtures.js';
import { formatTrace, parseDestination, parseSource, podInfo, resolveEntry, type Entry } from '../../src/cli/trace.js';
import { CliError } from '../../src/cli/args.js';
import type { ClusterPlan } from '../../src/cluster/plan.js';
import type { FakeNft } from '../../src/net/nft-fake.js';

const plan = {
  name: 'demo', ipFamily: 'dual',
  ranges: { nodes: ['198.18.0.0/24', 'fd00:198:18::/64'], pods: ['10.244.0.0/16', 'fd00:10:244::/56'], services: ['10.96.0.0/16', 'fd00:10:96::/112'] },
  underlayNetns: 'demo-underlay', underlayBridge: 'br0', hostLink: 'demo-h', hostPeer: 'host0',
  hostAddresses: ['198.18.0.1/24', 'fd00:198:18::1/64'],
  nodes: [
    { name: NODE, netns: 'demo-node-a', underlayPort: 'n1', addresses: [`${NODE_IP}/24`, 'fd00:198:18::2/64'] },
    { name: 'node-b', netns: 'demo-node-b', underlayPort: 'n2', addresses: ['198.18.0.3/24'] },
  ],
  dnsAddresses: ['10.96.0.10'],
} as unknown as ClusterPlan;

const clientPod = podInfo({ metadata: { namespace: 'default', name: 'client' }, spec: { nodeName: NODE }, status: { phase: 'Running', podIP: '10.244.1.9', podIPs: [{ ip: '10.244.1.9' }, { ip: 'fd00:10:244:1::9' }] } });

function cliError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof CliError && re.test(e.message), `expected a CliError matching ${re}`);
}

function render(fake: FakeNft, e: Entry): string {
  const result = run(fake, e.packet);
  return formatTrace({ fromText: e.fromText, packet: e.packet, node: e.node.name, netns: e.node.netns, table: config().table, ruleset: fake.ruleset!, result });
}

describe('podnet trace: flags', () => {
  test('--to takes IP:PORT with an optional protocol, IPv6 in brackets', () => {
    assert.deepEqual(parseDestination('10.96.0.10:80'), { ip: '10.96.0.10', port: 80, protocol: 'tcp' });
    assert.deepEqual(parseDestination('10.96.0.10:53/UDP'), { ip: '10.96.0.10', port: 53, protocol: 'udp' });
    assert.deepEqual(parseDestination('[fd00:10:96:0::a]:80/sctp'), { ip: 'fd00:10:96::a', port: 80, protocol: 'sctp' });
  });

  test('a bad --to is one line naming the fix', () => {
    cliError(() => parseDestination('10.96.0.300:80'), /is not an address and port: give IP:PORT\[\/tcp\|udp\|sctp\]/);
    cliError(() => parseDestination('10.96.0.10'), /is not an address and port/);
    cliError(() => parseDestination('fd00::1:80'), /is not an address and port/);
    cliError(() => parseDestination('10.96.0.10:70000'), /port 70000 is out of range: give 1-65535/);
    cliError(() => parseDestination('10.96.0.10:80/icmp'), /unknown protocol "icmp": give tcp, udp or sctp/);
  });

  test('--from is a pod, a node or the host', () => {
    assert.deepEqual(parseSource('default/client'), { kind: 'pod', namespace: 'default', name: 'client' });
    assert.deepEqual(parseSource('node/node-b'), { kind: 'node', name: 'node-b' });
    assert.deepEqual(parseSource('host'), { kind: 'host' });
    cliError(() => parseSource('client'), /is not a pod, node or the host: give NAMESPACE\/POD, node\/NODE or host/);
    cliError(() => parseSource('Default/Client'), /is not a pod/);
  });
});

describe('podnet trace: where the packet enters', () => {
  const to = (s: string) => parseDestination(s);

  test('a pod enters its own node from the pod network, with its address of the destination family', () => {
    const e = resolveEntry(parseSource('default/client'), to('10.96.0.10:80'), plan, clientPod);
    assert.equal(e.node.name, NODE);
    assert.deepEqual(e.packet, { src: '10.244.1.9', dst: '10.96.0.10', dport: 80, protocol: 'tcp', from: 'pod' });
    const e6 = resolveEntry(parseSource('default/client'), to('[fd00:10:96::a]:80'), plan, clientPod);
    assert.equal(e6.packet.src, 'fd00:10:244:1::9');
  });

  test('a node sends from its own address; the host enters the first node from outside', () => {
    const n = resolveEntry(parseSource('node/node-b'), to('10.96.0.10:80'), plan);
    assert.equal(n.node.netns, 'demo-node-b');
    assert.deepEqual([n.packet.src, n.packet.from], ['198.18.0.3', 'node']);
    const h = resolveEntry(parseSource('host'), to('[fd00:10:96::a]:443'), plan);
    assert.deepEqual([h.node.name, h.packet.src, h.packet.from], [NODE, 'fd00:198:18::1', 'outside']);
  });

  test('unknown pods and nodes, unscheduled pods and missing families are named with the fix', () => {
    cliError(() => resolveEntry(parseSource('default/nope'), to('10.96.0.10:80'), plan, undefined), /pod default\/nope not found in cluster "demo": check the name with "kubectl get pods -n default"/);
    cliError(() => resolveEntry(parseSource('node/node-z'), to('10.96.0.10:80'), plan), /"node-z" is not a node of cluster "demo": its nodes are node-a, node-b/);
    cliError(() => resolveEntry(parseSource('default/p'), to('10.96.0.10:80'), plan, podInfo({ metadata: { namespace: 'default', name: 'p' }, status: { phase: 'Pending' } })), /not scheduled to a node yet/);
    cliError(() => resolveEntry(parseSource('default/p'), to('10.96.0.10:80'), plan, podInfo({ metadata: { namespace: 'default', name: 'p' }, spec: { nodeName: NODE }, status: { phase: 'Pending' } })), /has no IP yet \(phase Pending\): wait until it is Running/);
    cliError(() => resolveEntry(parseSource('node/node-b'), to('[fd00:10:96::a]:80'), plan), /node node-b has no IPv6 address: trace an IPv4 destination/);
  });
});

describe('podnet trace: the readable path', () => {
  const web = makeService('default', 'web', (s) => { s.spec.type = 'NodePort'; s.spec.ports[0].nodePort = 30080; });
  const webSlice = makeSlice('default', 'web-1', 'web', [{ ip: '10.244.1.5', node: NODE }, { ip: '10.244.2.6', node: 'node-b' }]);
  const empty = makeService('default', 'empty', (s) => { s.spec.clusterIP = '10.96.0.20'; s.spec.clusterIPs = ['10.96.0.20']; });
  const fake = install([[web, [webSlice]], [empty, []]]);

  test('pod → ClusterIP: the dispatch rule, the shared chains, both candidates, DNAT, no masquerade', () => {
    const out = render(fake, resolveEntry(parseSource('default/client'), parseDestination('10.96.0.10:80'), plan, clientPod));
    assert.match(out, /^packet {3}tcp 10\.244\.1\.9 → 10\.96\.0\.10:80$/m);
    assert.match(out, /^from {5}pod default\/client \(10\.244\.1\.9\) on node-a$/m);
    assert.match(out, /^prerouting:$/m);
    assert.match(out, /^ {2}services +ip daddr \. meta l4proto \. th dport vmap @service-ips-v4/m);
    assert.match(out, /^ {2}clusterip-cluster-tcp-2-v4 +goto dnat-cluster-tcp-2-v4 +# ClusterIP traffic to 2 Cluster-policy TCP endpoints \(IPv4\)$/m);
    assert.match(out, /^ {2}dnat-cluster-tcp-2-v4 +meta l4proto tcp dnat ip to ip daddr \. th dport \. numgen random mod 2 map @cluster-endpoints-tcp-v4 /m);
    assert.match(out, /^endpoints {2}2, one picked at random per connection: 10\.244\.1\.5:8080, 10\.244\.2\.6:8080$/m);
    assert.match(out, /^result {5}DNAT to 10\.244\.1\.5:8080$/m);
    assert.match(out, /not masqueraded: the endpoint sees the client's address 10\.244\.1\.9/);
  });

  test('host → NodePort is masqueraded; a Service without endpoints is rejected', () => {
    const np = render(fake, resolveEntry(parseSource('host'), parseDestination(`${NODE_IP}:30080`), plan));
    assert.match(np, /service-nodeports-v4/);
    assert.match(np, /^ {2}nodeport-external-cluster-tcp-2-v4 +jump mark-for-masquerade/m);
    assert.match(np, /^postrouting:$/m);
    assert.match(np, /^ {2}masquerading +masquerade fully-random\b/m);
    assert.match(np, /^ {11}masqueraded: the endpoint sees the node's address/m);
    const rej = render(fake, resolveEntry(parseSource('default/client'), parseDestination('10.96.0.20:80'), plan, clientPod));
    assert.match(rej, /^ {2}reject-chain +meta l4proto tcp reject with tcp reset\b/m);
    assert.match(rej, /^result {5}REJECTED \(tcp reset\): the Service has no usable endpoints/m);
  });

  test('an address no Service uses passes unchanged, and says so', () => {
    const out = render(fake, resolveEntry(parseSource('node/node-a'), parseDestination('10.96.9.9:80/udp'), plan));
    assert.match(out, /No rule of the proxy matched: the packet passes unchanged\./);
    assert.match(out, /10\.96\.9\.9:80\/udp is not a Service address or NodePort this node knows/);
  });

  test('long verdict map literals (ClientIP affinity) are shortened to their arm count', () => {
    const eps = Array.from({ length: 12 }, (_, i) => ({ ip: `10.244.2.${10 + i}`, node: 'node-b' }));
    const sticky = makeService('default', 'web', (s) => { s.spec.sessionAffinity = 'ClientIP'; });
    const big = install([[sticky, [makeSlice('default', 'web-1', 'web', eps)]]]);
    const out = render(big, resolveEntry(parseSource('default/client'), parseDestination('10.96.0.10:80'), plan, clientPod));
    assert.match(out, /numgen random mod 12 vmap \{ 12 arms \}/);
  });
});
