// End-to-end test of the proxy's extras (root): `podnet trace` against a cluster state of the
// test's own, /metrics, /healthz and a healthCheckNodePort, with `podnet proxy` as a child
// process programming a node namespace of the test's own from a real API server.
//
// Topology and address plan (only inside this test's namespace; nothing on the host):
//   pnE-node   the node "node-a": veth pnEd0 198.18.0.2/24 (peer pnEd1, also inside); its proxy's table pnE-proxy
//   pods       10.244.1.9 (client, on node-a), endpoints 10.244.1.5 (node-a), 10.244.2.5 (node-b)
//              — API objects only: the trace reads rules, it sends no packet
//   cluster    "pne" under a temporary PODNET_STATE_ROOT: state.json with the plan of one node,
//              and the test API server's kubeconfig as the cluster's admin kubeconfig
// /metrics is served on a free loopback port of the host namespace; /healthz and the health
// check port inside pnE-node, and are asked from there. Everything is removed in `after`.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestApiServer, podnetBin, waitFor, haveKubectl } from './harness.js';
import { run } from '../../src/net/exec.js';

const isRoot = process.getuid?.() === 0;
const haveNft = spawnSync('nft', ['--version']).status === 0;
const skip = !isRoot ? 'needs root (network namespaces, nftables)' : !haveNft ? 'needs nft (apt-get install nftables)' : !haveKubectl() ? 'needs kubectl' : false;

const NODE_NS = 'pnE-node';
const TABLE = 'pnE-proxy';
const CLUSTER = 'pne';
const HC_PORT = 32555;

let api: TestApiServer;
let stateRoot = '';
let proxy: ChildProcess | undefined;
let proxyLog = '';

const sh = (cmd: string, args: string[], netns?: string) => run(cmd, args, { netns, timeoutMs: 20_000 });
const apply = (yaml: string) => api.k(['apply', '-f', '-'], yaml);

function podnet(args: string[]) {
  return spawnSync(process.execPath, [podnetBin, ...args], { encoding: 'utf8', env: { ...process.env, PODNET_STATE_ROOT: stateRoot }, timeout: 60_000 });
}

/** An HTTP GET made from inside the node namespace. */
async function nodeGet(url: string): Promise<{ status: number; body: string }> {
  const js = `fetch(${JSON.stringify(url)}).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })), (e) => console.log(JSON.stringify({ status: 0, body: String(e.cause?.code ?? e) })))`;
  const r = await run('ip', ['netns', 'exec', NODE_NS, process.execPath, '-e', js], { timeoutMs: 20_000 });
  return JSON.parse(r.stdout) as { status: number; body: string };
}

function sliceYaml(name: string, service: string, eps: Array<[string, string]>, annotations = ''): string {
  return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}
  namespace: default
  labels: {kubernetes.io/service-name: ${service}, endpointslice.kubernetes.io/managed-by: pne-e2e}
${annotations ? `  annotations: {${annotations}}\n` : ''}addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints: [${eps.map(([ip, node]) => `{addresses: [${ip}], conditions: {ready: true}, nodeName: ${node}}`).join(', ')}]
`;
}

const logAddress = (what: string) => new RegExp(`serving ${what} on http://(\\S+)`).exec(proxyLog)?.[1];

describe('podnet proxy extras: trace, metrics, healthz, healthCheckNodePort (e2e)', { skip, timeout: 180_000 }, () => {
  let cip = '';
  let metricsURL = '';

  before(async () => {
    await run('ip', ['netns', 'del', NODE_NS], { allowFailure: true });
    await sh('ip', ['netns', 'add', NODE_NS]);
    await sh('ip', ['-n', NODE_NS, 'link', 'set', 'lo', 'up']);
    await sh('ip', ['-n', NODE_NS, 'link', 'add', 'pnEd0', 'type', 'veth', 'peer', 'name', 'pnEd1']);
    await sh('ip', ['-n', NODE_NS, 'link', 'set', 'pnEd1', 'up']);
    await sh('ip', ['-n', NODE_NS, 'addr', 'add', '198.18.0.2/24', 'dev', 'pnEd0']);
    await sh('ip', ['-n', NODE_NS, 'link', 'set', 'pnEd0', 'up']);

    api = new TestApiServer();
    await api.start();
    apply(`apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{name: http, protocol: TCP, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: default}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  healthCheckNodePort: ${HC_PORT}
  ports: [{name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30555}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default}
spec:
  nodeName: node-a
  containers: [{name: c, image: registry.k8s.io/e2e-test-images/agnhost:2.53}]
`);
    apply(sliceYaml('web-1', 'web', [['10.244.1.5', 'node-a'], ['10.244.2.5', 'node-b']]));
    apply(sliceYaml('lb-1', 'lb', [['10.244.1.5', 'node-a']]));
    const st = await api.request('PATCH', '/api/v1/namespaces/default/pods/client/status',
      { status: { phase: 'Running', podIP: '10.244.1.9', podIPs: [{ ip: '10.244.1.9' }] } }, { contentType: 'application/merge-patch+json' });
    assert.equal(st.status, 200, st.body);
    cip = api.k(['get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}']).trim();
    assert.match(cip, /^\d+\.\d+\.\d+\.\d+$/, `no ClusterIP allocated (got "${cip}")`);

    stateRoot = mkdtempSync(join(tmpdir(), 'pnE-state-'));
    mkdirSync(join(stateRoot, CLUSTER, 'apiserver'), { recursive: true });
    copyFileSync(api.kubeconfig, join(stateRoot, CLUSTER, 'apiserver', 'kubeconfig'));
    writeFileSync(join(stateRoot, CLUSTER, 'state.json'), JSON.stringify({
      name: CLUSTER, apiserverPort: 0, createdAt: new Date().toISOString(),
      plan: {
        name: CLUSTER, ipFamily: 'ipv4', ranges: { nodes: ['198.18.0.0/24'], pods: ['10.244.0.0/16'], services: ['10.96.0.0/16'] },
        underlayNetns: 'pnE-underlay', underlayBridge: 'br0', hostLink: 'pnE-h', hostPeer: 'host0', hostAddresses: ['198.18.0.1/24'],
        nodes: [{ name: 'node-a', netns: NODE_NS, underlayPort: 'n1', addresses: ['198.18.0.2/24'] }], dnsAddresses: ['10.96.0.10'],
      },
    }));

    proxy = spawn(process.execPath, [podnetBin, 'proxy', '--kubeconfig', api.kubeconfig, '--node', 'node-a', '--netns', NODE_NS, '--table', TABLE,
      '--cluster-cidr', '10.244.0.0/16', '--min-sync-period', '100ms', '--metrics-bind-address', '127.0.0.1:0', '--healthz-bind-address', '0.0.0.0:0'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    proxy.stdout!.on('data', (d: Buffer) => { proxyLog += d.toString(); });
    proxy.stderr!.on('data', (d: Buffer) => { proxyLog += d.toString(); });
    await waitFor(() => logAddress('metrics') && logAddress('healthz'), `the proxy's servers\n${proxyLog}`, 20_000);
    metricsURL = `http://${logAddress('metrics')}/metrics`;
    await waitFor(async () => (await run('nft', ['list', 'table', 'inet', TABLE], { netns: NODE_NS, allowFailure: true })).stdout.includes(`${cip} . tcp . 80`),
      `rules for ${cip}\n${proxyLog}`, 20_000);
  });

  after(async () => {
    const p = proxy;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    }
    await api?.destroy();
    await run('ip', ['netns', 'del', NODE_NS], { allowFailure: true });
    if (stateRoot) rmSync(stateRoot, { recursive: true, force: true });
  });

  it('podnet trace shows the path of a pod → ClusterIP connection through the installed rules', () => {
    const r = podnet(['trace', '--name', CLUSTER, '--table', TABLE, '--from', 'default/client', '--to', `${cip}:80`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^packet {3}tcp 10\\.244\\.1\\.9 → ${cip.replace(/\./g, '\\.')}:80$`, 'm'));
    assert.match(r.stdout, /^from {5}pod default\/client \(10\.244\.1\.9\) on node-a$/m);
    assert.match(r.stdout, /^ {2}dnat-cluster-tcp-2-v4 +(?:meta l4proto tcp )?dnat ip to ip daddr \. (?:th|tcp) dport \. numgen random mod 2 map @cluster-endpoints-tcp-v4/m);
    assert.match(r.stdout, /^endpoints {2}2, one picked at random per connection: 10\.244\.1\.5:8080, 10\.244\.2\.5:8080$/m);
    assert.match(r.stdout, /^result {5}DNAT to 10\.244\.1\.5:8080$/m);
    const host = podnet(['trace', '--name', CLUSTER, '--table', TABLE, '--from', 'host', '--to', '198.18.0.2:30555']);
    assert.equal(host.status, 0, host.stderr);
    assert.match(host.stdout, /^from {5}the host \(198\.18\.0\.1\), entering node-a$/m);
    assert.match(host.stdout, /^result {5}DNAT to 10\.244\.1\.5:8080$/m);
    assert.match(host.stdout, /not masqueraded/, 'externalTrafficPolicy Local keeps the client address');
  });

  it('podnet trace names the fix for an unknown pod, a bad address, a missing cluster or table', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--from', 'default/nope', '--to', `${cip}:80`], /^podnet: trace: pod default\/nope not found in cluster "pne": check the name with "kubectl get pods -n default"\n$/],
      [['--from', 'default/client', '--to', `${cip}`], /^podnet: trace: --to \S+ is not an address and port: give IP:PORT/],
      [['--name', 'pnE-none', '--from', 'host', '--to', `${cip}:80`], /^podnet: trace: no cluster "pnE-none" on this machine .*create it with "podnet up --name pnE-none"/],
      [['--table', 'pnE-missing', '--from', 'host', '--to', `${cip}:80`], /^podnet: trace: node node-a has no table inet pnE-missing \(netns pnE-node\): is its proxy running\?/],
    ];
    for (const [args, re] of cases) {
      const r = podnet(['trace', '--name', CLUSTER, '--table', TABLE, ...args]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
  });

  it('/metrics: sync durations, and network programming latency from the trigger-time annotation', async () => {
    const text0 = await (await fetch(metricsURL)).text();
    assert.match(text0, /^kubeproxy_sync_full_proxy_rules_duration_seconds_count [1-9]\d*$/m);
    assert.match(text0, /^kubeproxy_sync_proxy_rules_last_timestamp_seconds \d+(\.\d+)?$/m);
    const trigger = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await new Promise((r) => setTimeout(r, 1100)); // the annotation has second precision: be after the proxy's start
    apply(sliceYaml('web-1', 'web', [['10.244.1.5', 'node-a'], ['10.244.2.6', 'node-b']], `endpoints.kubernetes.io/last-change-trigger-time: "${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}"`));
    const text = await waitFor(async () => {
      const t = await (await fetch(metricsURL)).text();
      return /^kubeproxy_network_programming_duration_seconds_count [1-9]/m.test(t) ? t : undefined;
    }, `a programming latency sample\n${proxyLog}`, 15_000, 200);
    assert.match(text, /^kubeproxy_sync_partial_proxy_rules_duration_seconds_count [1-9]\d*$/m);
    const sum = Number(/^kubeproxy_network_programming_duration_seconds_sum (\S+)$/m.exec(text)![1]);
    assert.ok(sum >= 0 && sum < 10, `latency ${sum}s since ${trigger}`);
    assert.match(text, /^kubeproxy_sync_proxy_rules_endpoint_changes_total [1-9]\d*$/m);
  });

  it('/healthz answers 200 with lastUpdated and currentTime inside the node namespace', async () => {
    const port = logAddress('healthz')!.split(':').at(-1);
    const r = await nodeGet(`http://127.0.0.1:${port}/healthz`);
    assert.equal(r.status, 200, r.body);
    const j = JSON.parse(r.body) as { lastUpdated: string; currentTime: string; nodeEligible: boolean };
    assert.match(j.currentTime, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC$/);
    assert.equal(j.nodeEligible, true);
    assert.equal((await nodeGet(`http://127.0.0.1:${port}/livez`)).status, 200);
  });

  it('serves the healthCheckNodePort in the node namespace: 200 with a local endpoint, 503 without', async () => {
    const url = `http://198.18.0.2:${HC_PORT}/`;
    const ok = await waitFor(async () => { const r = await nodeGet(url); return r.status === 200 ? r : undefined; }, `health check port\n${proxyLog}`, 15_000, 200);
    assert.deepEqual(JSON.parse(ok.body), { service: { namespace: 'default', name: 'lb' }, localEndpoints: 1, serviceProxyHealthy: true });
    apply(sliceYaml('lb-1', 'lb', [['10.244.2.5', 'node-b']]));
    const gone = await waitFor(async () => { const r = await nodeGet(url); return r.status === 503 ? r : undefined; }, 'a 503 without local endpoints', 15_000, 200);
    assert.equal((JSON.parse(gone.body) as { localEndpoints: number }).localEndpoints, 0);
    api.k(['delete', 'service', 'lb']);
    await waitFor(async () => (await nodeGet(url)).status === 0, 'the port closed with the Service', 15_000, 200);
  });
});
