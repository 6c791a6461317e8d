// End-to-end test of `podnet proxy` (root): a real API server, the proxy as a child process
// programming nftables inside a "node" netns, agnhost backends in "pod" netns, and clients
// making real connections to the Service addresses.
//
// Topology and address plan (exists only inside this test's namespaces; nothing on the host):
//   pnC-node     the node: bridge pnCbr0 10.244.1.1/24 for its pods, veth pnCext0 198.18.0.2/24
//                towards the outside client; the service range 10.96.0.0/16 is routed onto the
//                bridge, so the node has a route for ClusterIPs (a real node's default route
//                gives it one) — a packet the proxy does not DNAT never leaves the namespaces
//   pnC-pod1     10.244.1.5   agnhost netexec (HTTP 8080, UDP 8081), hostname pod1
//   pnC-pod2     10.244.1.6   agnhost netexec, hostname pod2
//   pnC-client   10.244.1.9   a client pod on the node
//   pnC-ext      198.18.0.100 a client outside the pod network (routes 10.96.0.0/16 via the node)
// Services are selectorless with EndpointSlices written by the test. Everything is removed in
// `after`, also on failure.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestApiServer, podnetBin, waitFor, haveKubectl } from './harness.js';
import { run } from '../../src/net/exec.js';
import { Ip } from '../../src/net/ip.js';
import { FakeNft } from '../../src/net/nft-fake.js';
import { nfnetlinkUnavailable } from '../../src/net/nftnl.js';
import { trace } from '../../src/proxy/trace.js';

const isRoot = process.getuid?.() === 0;
const haveNft = spawnSync('nft', ['--version']).status === 0;
const haveConntrack = spawnSync('conntrack', ['--version']).status === 0;
const skip = !isRoot ? 'needs root (network namespaces, nftables)' : !haveNft ? 'needs nft (apt-get install nftables)' : !haveKubectl() ? 'needs kubectl' : false;

const NODE = 'pnC-node', POD1 = 'pnC-pod1', POD2 = 'pnC-pod2', CLIENT = 'pnC-client', EXT = 'pnC-ext';
const NAMESPACES = [NODE, POD1, POD2, CLIENT, EXT];
const TABLE = 'pnC-proxy';
const AGNHOST = fileURLToPath(new URL('../../src/agent/agnhost/main.js', import.meta.url));

let api: TestApiServer;
let work = '';
const servers: ChildProcess[] = [];
let proxy: ChildProcess | undefined;
let proxyLog = '';

const sh = (cmd: string, args: string[], netns?: string) => run(cmd, args, { netns, timeoutMs: 20_000 });

async function buildTopology(): Promise<void> {
  for (const ns of NAMESPACES) { await Ip.netnsAdd(ns); await new Ip(ns).setUp('lo'); }
  const node = new Ip(NODE);
  await sh('ip', ['-n', NODE, 'link', 'add', 'pnCbr0', 'type', 'bridge']);
  await sh('ip', ['-n', NODE, 'addr', 'add', '10.244.1.1/24', 'dev', 'pnCbr0']);
  await node.setUp('pnCbr0');
  const pods: Array<[string, string, string]> = [[POD1, '10.244.1.5', 'pnCp1'], [POD2, '10.244.1.6', 'pnCp2'], [CLIENT, '10.244.1.9', 'pnCc1']];
  for (const [ns, ip, link] of pods) {
    await sh('ip', ['-n', NODE, 'link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await sh('ip', ['-n', NODE, 'link', 'set', link, 'master', 'pnCbr0', 'up']);
    // With br_netfilter, a pod's packet DNATed back to the pod itself is bridged out of the port
    // it came in on: the port needs hairpin mode (as CNI bridge plugins set it).
    await sh('ip', ['-n', NODE, 'link', 'set', link, 'type', 'bridge_slave', 'hairpin', 'on']);
    await sh('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    for (const dst of ['10.96.0.0/16', '198.18.0.0/24']) await sh('ip', ['-n', ns, 'route', 'add', dst, 'via', '10.244.1.1']);
  }
  await sh('ip', ['-n', NODE, 'link', 'add', 'pnCext0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', EXT]);
  await sh('ip', ['-n', NODE, 'addr', 'add', '198.18.0.2/24', 'dev', 'pnCext0']);
  await node.setUp('pnCext0');
  await sh('ip', ['-n', EXT, 'addr', 'add', '198.18.0.100/24', 'dev', 'eth0']);
  await sh('ip', ['-n', EXT, 'link', 'set', 'eth0', 'up']);
  await sh('ip', ['-n', EXT, 'route', 'add', '10.96.0.0/16', 'via', '198.18.0.2']);
  await sh('ip', ['-n', NODE, 'route', 'add', '10.96.0.0/16', 'dev', 'pnCbr0']);
  await sh('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], NODE);
}

function startServer(ns: string, hostname: string): void {
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, AGNHOST, 'netexec', '--http-port=8080', '--udp-port=8081'],
    { env: { ...process.env, PODNET_HOSTNAME: hostname }, stdio: 'ignore' });
  servers.push(p);
}

function startProxy(): void {
  proxyLog = '';
  const p = spawn(process.execPath, [podnetBin, 'proxy', '--kubeconfig', api.kubeconfig, '--node', 'node-a', '--netns', NODE, '--table', TABLE,
    '--cluster-cidr', '10.244.0.0/16', '--min-sync-period', '100ms'], { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout!.on('data', (d: Buffer) => { proxyLog += d.toString(); });
  p.stderr!.on('data', (d: Buffer) => { proxyLog += d.toString(); });
  proxy = p;
}

async function stopProxy(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const p = proxy;
  proxy = undefined;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill(signal);
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

/** A client program run inside a netns: HTTP GETs on fresh connections, or UDP requests from a fixed port. */
const CLIENT_JS = `
import http from 'node:http';
import dgram from 'node:dgram';
const [mode, host, port, path, n] = process.argv.slice(2);
const out = [];
if (mode === 'http') {
  for (let i = 0; i < Number(n); i++) {
    out.push(await new Promise((ok) => {
      const req = http.get({ host, port: Number(port), path, agent: false, timeout: 3000 }, (res) => {
        let b = ''; res.on('data', (d) => b += d); res.on('end', () => ok(b.trim()));
      });
      req.on('timeout', () => { req.destroy(); ok('ERR:timeout'); });
      req.on('error', (e) => ok('ERR:' + e.code));
    }));
  }
} else {
  const s = dgram.createSocket('udp4');
  await new Promise((ok) => s.bind(Number(path), ok));
  for (let i = 0; i < Number(n); i++) {
    out.push(await new Promise((ok) => {
      const t = setTimeout(() => { s.removeAllListeners('message'); ok('ERR:timeout'); }, 1500);
      s.once('message', (m) => { clearTimeout(t); ok(m.toString().trim()); });
      s.send('hostname', Number(port), host);
    }));
  }
  s.close();
}
console.log(JSON.stringify(out));
`;

async function client(ns: string, args: string[]): Promise<string[]> {
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, join(work, 'client.mjs'), ...args], { timeoutMs: 60_000 });
  return JSON.parse(r.stdout) as string[];
}
const get = (ns: string, ip: string, port: number, path: string, n = 1) => client(ns, ['http', ip, String(port), path, String(n)]);

function apply(yaml: string): void { api.k(['apply', '-f', '-'], yaml); }

function sliceYaml(name: string, service: string, ips: string[], ports = '[{name: http, protocol: TCP, port: 8080}]'): string {
  return `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}
  namespace: default
  labels: {kubernetes.io/service-name: ${service}, endpointslice.kubernetes.io/managed-by: pnc-e2e}
addressType: IPv4
ports: ${ports}
endpoints: [${ips.map((ip) => `{addresses: [${ip}], conditions: {ready: true}, nodeName: node-a}`).join(', ')}]
`;
}

async function listing(): Promise<string> {
  return (await run('nft', ['list', 'table', 'inet', TABLE], { netns: NODE, allowFailure: true })).stdout;
}

/** Waits until the proxy has programmed `ip:port/proto` (a map element mentions it). */
async function programmed(key: string, what = `rules for ${key}`): Promise<void> {
  await waitFor(async () => (await listing()).includes(key), `${what}\n--- proxy log:\n${proxyLog}`, 15_000, 100);
}

describe('podnet proxy (e2e)', { skip, timeout: 240_000 }, () => {
  let cip = '';
  let emptyIP = '';
  let dnsIP = '';

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pnC-proxy-'));
    writeFileSync(join(work, 'client.mjs'), CLIENT_JS);
    await cleanupNetns();
    await buildTopology();
    startServer(POD1, 'pod1');
    startServer(POD2, 'pod2');
    api = new TestApiServer();
    await api.start();
    apply(`apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  ports: [{name: http, protocol: TCP, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  ports: [{name: http, protocol: TCP, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: default}
spec:
  ports: [{name: dns, protocol: UDP, port: 53, targetPort: 8081}]
`);
    apply(sliceYaml('web-manual', 'web', ['10.244.1.5', '10.244.1.6']));
    apply(sliceYaml('dns-manual', 'dns', ['10.244.1.5'], '[{name: dns, protocol: UDP, port: 8081}]'));
    const ipOf = (name: string) => api.k(['get', 'service', name, '-o', 'jsonpath={.spec.clusterIP}']).trim();
    cip = ipOf('web'); emptyIP = ipOf('empty'); dnsIP = ipOf('dns');
    assert.match(cip, /^10\.96\./, `the API server allocated no ClusterIP in 10.96.0.0/16 (got "${cip}")`);
    // the agnhost servers are up
    await waitFor(async () => (await get(CLIENT, '10.244.1.5', 8080, '/hostname'))[0] === 'pod1', 'pod1 serving', 15_000, 200);
    await waitFor(async () => (await get(CLIENT, '10.244.1.6', 8080, '/hostname'))[0] === 'pod2', 'pod2 serving', 15_000, 200);
    startProxy();
    await programmed(`${cip} . tcp . 80`);
  });

  after(async () => {
    await stopProxy('SIGKILL');
    for (const s of servers) if (s.exitCode === null) s.kill('SIGKILL');
    await api?.destroy();
    await cleanupNetns();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('DNATs pod → ClusterIP connections and spreads them over both endpoints, keeping the client IP', async () => {
    const names = await get(CLIENT, cip, 80, '/hostname', 30);
    assert.deepEqual([...new Set(names)].sort(), ['pod1', 'pod2'], `answers: ${names.join(',')}`);
    const [clientIp] = await get(CLIENT, cip, 80, '/clientip');
    assert.match(clientIp!, /^10\.244\.1\.9:\d+$/, 'no masquerade for pod → service');
  });

  it('serves the NodePort to the outside client, masqueraded (externalTrafficPolicy Cluster)', async () => {
    const names = await get(EXT, '198.18.0.2', 30080, '/hostname', 20);
    assert.deepEqual([...new Set(names)].sort(), ['pod1', 'pod2'], `answers: ${names.join(',')}`);
    const [clientIp] = await get(EXT, '198.18.0.2', 30080, '/clientip');
    assert.match(clientIp!, /^10\.244\.1\.1:\d+$/);
  });

  it('serves the ClusterIP from the node itself, and hairpins a pod to itself', async () => {
    const fromNode = await get(NODE, cip, 80, '/hostname', 10);
    assert.ok(fromNode.every((n) => n === 'pod1' || n === 'pod2'), fromNode.join(','));
    const self = await get(POD1, cip, 80, '/clientip', 12);
    assert.ok(self.every((a) => !a.startsWith('ERR')), self.join(','));
    // pod1 reaching pod1 through the Service is masqueraded to the node's bridge address
    const hairpinned = self.filter((a) => a.startsWith('10.244.1.1:'));
    assert.ok(hairpinned.length > 0 && self.every((a) => a.startsWith('10.244.1.1:') || a.startsWith('10.244.1.5:')), self.join(','));
  });

  it('rejects connections to a Service without endpoints at once', async () => {
    await programmed(`${emptyIP} . tcp . 80`);
    const t0 = Date.now();
    const [r] = await get(CLIENT, emptyIP, 80, '/', 1);
    assert.equal(r, 'ERR:ECONNREFUSED');
    assert.ok(Date.now() - t0 < 2000, 'refused, not timed out');
    const [fromNode] = await get(NODE, emptyIP, 80, '/', 1);
    assert.equal(fromNode, 'ERR:ECONNREFUSED');
  });

  it('the ruleset in the node namespace is what the tracer expects', async () => {
    const text = await listing();
    assert.match(text, /chain nat-prerouting \{\n\s+type nat hook prerouting priority dstnat; policy accept;/);
    // No per-Service chains: shared ones named for what they do, and the endpoints as map elements.
    assert.match(text, /chain dnat-cluster-tcp-2-v4 \{\n\s+comment "[^"]*"\n\s+(?:meta l4proto tcp )?dnat ip to ip daddr \. (?:th|tcp) dport \. numgen random mod 2 map @cluster-endpoints-tcp-v4\n/);
    assert.match(text, /map cluster-endpoints-tcp-v4 \{[^}]*\. 80 \. 0 : 10\.244\.1\.[56] \. 8080/);
    assert.doesNotMatch(text, /chain (service|endpoint)-/);
    const fake = new FakeNft('inet', TABLE);
    fake.loadListing(text);
    const t = trace(fake.ruleset!, { src: '10.244.1.9', dst: cip, protocol: 'tcp', dport: 80, from: 'pod' }, { localAddresses: ['198.18.0.2', '10.244.1.1'] });
    assert.deepEqual(t.candidates.sort(), ['10.244.1.5:8080', '10.244.1.6:8080']);
    assert.equal(t.masquerade, false);
    const np = trace(fake.ruleset!, { src: '198.18.0.100', dst: '198.18.0.2', protocol: 'tcp', dport: 30080, from: 'outside' }, { localAddresses: ['198.18.0.2', '10.244.1.1'] });
    assert.equal(np.masquerade, true);
    const none = trace(fake.ruleset!, { src: '10.244.1.9', dst: emptyIP, protocol: 'tcp', dport: 80, from: 'pod' }, { localAddresses: ['198.18.0.2', '10.244.1.1'] });
    assert.equal(none.verdict, 'reject');
  });

  it('follows endpoint changes, and ClientIP affinity keeps a client on one endpoint', async () => {
    apply(sliceYaml('web-manual', 'web', ['10.244.1.6']));
    await waitFor(async () => !(await listing()).includes(': 10.244.1.5 . 8080') || undefined, 'endpoint removed', 15_000);
    await waitFor(async () => (await get(CLIENT, cip, 80, '/hostname', 10)).every((n) => n === 'pod2'), 'only pod2 serving', 15_000, 200);
    apply(sliceYaml('web-manual', 'web', ['10.244.1.5', '10.244.1.6']));
    api.k(['patch', 'service', 'web', '--type=merge', '-p', '{"spec":{"sessionAffinity":"ClientIP","sessionAffinityConfig":{"clientIP":{"timeoutSeconds":60}}}}']);
    await programmed('affinity-', 'affinity sets');
    await programmed('web/tcp/http__10.244.1.5/8080 {', 'both endpoints again');
    const names = await get(CLIENT, cip, 80, '/hostname', 15);
    assert.equal(new Set(names).size, 1, `one endpoint for one client: ${names.join(',')}`);
    api.k(['patch', 'service', 'web', '--type=merge', '-p', '{"spec":{"sessionAffinity":"None"}}']);
    await waitFor(async () => !(await listing()).includes('update @affinity-') || undefined, 'affinity removed', 15_000);
  });

  it('clears UDP conntrack entries of a removed endpoint, so the same client flow moves on', { skip: !haveConntrack && 'needs conntrack (apt-get install conntrack)' }, async () => {
    await programmed(`${dnsIP} . udp . 53`);
    const first = await client(CLIENT, ['udp', dnsIP, '53', '40053', '3']);
    assert.deepEqual(first, ['pod1', 'pod1', 'pod1']);
    apply(sliceYaml('dns-manual', 'dns', ['10.244.1.6'], '[{name: dns, protocol: UDP, port: 8081}]'));
    await waitFor(async () => !(await listing()).includes(': 10.244.1.5 . 8081') || undefined, 'old UDP endpoint gone', 15_000);
    await programmed(': 10.244.1.6 . 8081', 'new UDP endpoint');
    await waitFor(async () => (await client(CLIENT, ['udp', dnsIP, '53', '40053', '1']))[0] === 'pod2', `same source port answered by pod2\n${proxyLog}`, 10_000, 300);
  });

  it('a proxy killed with -9 and restarted adopts its table; connections keep working throughout', async () => {
    await stopProxy('SIGKILL');
    // Rules stay in the kernel while no proxy runs.
    assert.ok((await get(CLIENT, cip, 80, '/hostname', 5)).every((n) => n === 'pod1' || n === 'pod2'));
    startProxy();
    await waitFor(() => /full sync/.test(proxyLog), `restarted proxy synced\n${proxyLog}`, 15_000);
    // With the nfnetlink addon built, the adopting full sync loads its map elements over netlink.
    if (!nfnetlinkUnavailable()) assert.match(proxyLog, /full sync: .*via netlink/, proxyLog);
    const names = await get(CLIENT, cip, 80, '/hostname', 10);
    assert.ok(names.every((n) => n === 'pod1' || n === 'pod2'), names.join(','));
    const chains = (await listing()).match(/^\s*chain /gm)?.length ?? 0;
    assert.ok(chains > 10, 'one table, adopted');
  });

  it('--cleanup removes the table', async () => {
    await stopProxy();
    const r = spawnSync(process.execPath, [podnetBin, 'proxy', '--cleanup', '--netns', NODE, '--table', TABLE], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await listing(), '');
    const again = spawnSync(process.execPath, [podnetBin, 'proxy', '--cleanup', '--netns', NODE, '--table', TABLE], { encoding: 'utf8' });
    assert.equal(again.status, 0, again.stderr);
  });
});

async function cleanupNetns(): Promise<void> {
  for (const ns of NAMESPACES) {
    const pids = (await run('ip', ['netns', 'pids', ns], { allowFailure: true })).stdout.split('\n').map(Number).filter((p) => p > 1 && p !== process.pid);
    for (const pid of pids) if (servers.some((s) => s.pid === pid) || proxy?.pid === pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    await run('ip', ['netns', 'del', ns], { allowFailure: true });
  }
}
