// End-to-end test of `podnet netpol` (root): a real API server, the netpol command programming
// nftables inside a "node" netns, small TCP servers in "pod" netns, and real connections between
// them checked against the analyzer's verdicts, computed from the same API objects.
//
// Topology and address plan (exists only inside this test's namespaces; nothing on the host):
//   pnF-node   the node "pnf-node": bridge pnFbr0 10.244.7.1/24 (br_netfilter makes bridged pod
//              traffic pass the inet forward hook)
//   pnF-xa     pod x/a  10.244.7.10      pnF-xb  pod x/b  10.244.7.11
//   pnF-ya     pod y/a  10.244.7.20      pnF-za  pod z/a  10.244.7.30
// Every pod serves HTTP on TCP 80 and 81 (container ports serve-80-tcp, serve-81-tcp). Pods are
// API objects bound to the Node with status.podIP set through the status subresource; nothing
// runs them but this test. Everything is removed in `after`, also on failure.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestApiServer, podnetBin, waitFor, haveKubectl } from './harness.js';
import { run } from '../../src/net/exec.js';
import { Analyzer } from '../../src/netpol/analyzer.js';
import { stripNamespace, stripPod, stripPolicy, type PolicyRecord } from '../../src/netpol/model.js';

const isRoot = process.getuid?.() === 0;
const haveNft = spawnSync('nft', ['--version']).status === 0;
const skip = !isRoot ? 'needs root (network namespaces, nftables)' : !haveNft ? 'needs nft (apt-get install nftables)' : !haveKubectl() ? 'needs kubectl' : false;

const NODE_NS = 'pnF-node';
const NODE = 'pnf-node';
const TABLE = 'pnF-netpol';
const PODS: Array<{ ns: string; name: string; netns: string; ip: string; link: string }> = [
  { ns: 'x', name: 'a', netns: 'pnF-xa', ip: '10.244.7.10', link: 'pnFxa' },
  { ns: 'x', name: 'b', netns: 'pnF-xb', ip: '10.244.7.11', link: 'pnFxb' },
  { ns: 'y', name: 'a', netns: 'pnF-ya', ip: '10.244.7.20', link: 'pnFya' },
  { ns: 'z', name: 'a', netns: 'pnF-za', ip: '10.244.7.30', link: 'pnFza' },
];
const NETNS = [NODE_NS, ...PODS.map((p) => p.netns)];
const PORTS = [80, 81];

let api: TestApiServer;
let work = '';
const servers: ChildProcess[] = [];
let netpol: ChildProcess | undefined;
let netpolLog = '';

const sh = (cmd: string, args: string[], netns?: string) => run(cmd, args, { netns, timeoutMs: 20_000 });

const SERVER_JS = `
import net from 'node:net';
const name = process.argv[2];
for (const port of [80, 81]) {
  net.createServer((s) => { s.on('error', () => {}); s.end(name + ':' + port + '\\n'); }).listen(port, '0.0.0.0');
}
`;

/** Connects to every "ip:port" in parallel; prints whether each answered within the timeout. */
const CLIENT_JS = `
import net from 'node:net';
const targets = JSON.parse(process.argv[2]);
const timeout = Number(process.argv[3] ?? 1500);
const probe = (t) => new Promise((ok) => {
  const [host, port] = t.split(':');
  const s = net.connect({ host, port: Number(port) });
  let data = '';
  const done = (v) => { clearTimeout(timer); s.destroy(); ok(v); };
  const timer = setTimeout(() => done(false), timeout);
  s.on('data', (d) => { data += d; });
  s.on('end', () => done(data.length > 0));
  s.on('error', () => done(false));
});
console.log(JSON.stringify(await Promise.all(targets.map(probe))));
`;

/** Opens a new connection every 100 ms for `n` rounds; prints the outcomes in order. */
const LOOP_JS = `
import net from 'node:net';
const [host, port, n] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const out = [];
for (let i = 0; i < n; i++) {
  out.push(await new Promise((ok) => {
    const s = net.connect({ host, port });
    const done = (v) => { clearTimeout(timer); s.destroy(); ok(v); };
    const timer = setTimeout(() => done(false), 300);
    s.on('data', () => done(true));
    s.on('error', () => done(false));
  }));
  await new Promise((r) => setTimeout(r, 100));
}
console.log(JSON.stringify(out));
`;

async function buildTopology(): Promise<void> {
  for (const ns of NETNS) { await sh('ip', ['netns', 'add', ns]); await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']); }
  await sh('ip', ['-n', NODE_NS, 'link', 'add', 'pnFbr0', 'type', 'bridge']);
  await sh('ip', ['-n', NODE_NS, 'addr', 'add', '10.244.7.1/24', 'dev', 'pnFbr0']);
  await sh('ip', ['-n', NODE_NS, 'link', 'set', 'pnFbr0', 'up']);
  for (const p of PODS) {
    await sh('ip', ['-n', NODE_NS, 'link', 'add', p.link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p.netns]);
    await sh('ip', ['-n', NODE_NS, 'link', 'set', p.link, 'master', 'pnFbr0', 'up']);
    await sh('ip', ['-n', p.netns, 'addr', 'add', `${p.ip}/24`, 'dev', 'eth0']);
    await sh('ip', ['-n', p.netns, 'link', 'set', 'eth0', 'up']);
  }
  // Bridged traffic passes the IP hooks only with br_netfilter (a per-namespace setting).
  await run('sysctl', ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=1'], { netns: NODE_NS, allowFailure: true });
}

async function cleanupNetns(): Promise<void> {
  for (const ns of NETNS) {
    const pids = (await run('ip', ['netns', 'pids', ns], { allowFailure: true })).stdout.split('\n').map(Number).filter((p) => p > 1 && p !== process.pid);
    for (const pid of pids) if (servers.some((s) => s.pid === pid) || netpol?.pid === pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    await run('ip', ['netns', 'del', ns], { allowFailure: true });
  }
}

function apply(yaml: string): void { api.k(['apply', '-f', '-'], yaml); }

async function setPodIP(ns: string, name: string, ip: string): Promise<void> {
  const r = await api.request('PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`,
    { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } }, { contentType: 'application/merge-patch+json' });
  assert.equal(r.status, 200, r.body);
}

/** The analyzer, built from the objects as the API server holds them. */
function analyzer(): Analyzer {
  const items = (kind: string) => (JSON.parse(api.k(['get', kind, '-A', '-o', 'json'])) as { items: unknown[] }).items;
  const policies: PolicyRecord[] = items('networkpolicies').map((o) => { const r = stripPolicy(o); if (!r.ok) throw new Error(r.error); return r.rec; });
  return new Analyzer({ namespaces: new Map(items('namespaces').map((o) => { const n = stripNamespace(o); return [n.name, n]; })), pods: items('pods').map(stripPod), policies });
}

/** Probes every pod pair and port for real; returns the cells where reality and the analyzer differ. */
async function differences(): Promise<string[]> {
  const a = analyzer();
  const wrong: string[] = [];
  await Promise.all(PODS.map(async (from) => {
    const targets = PODS.filter((t) => t !== from).flatMap((t) => PORTS.map((port) => ({ t, port })));
    const r = await run('ip', ['netns', 'exec', from.netns, process.execPath, join(work, 'client.mjs'), JSON.stringify(targets.map((x) => `${x.t.ip}:${x.port}`))], { timeoutMs: 20_000 });
    const got = JSON.parse(r.stdout) as boolean[];
    targets.forEach((x, i) => {
      const want = a.check({ from: { pod: `${from.ns}/${from.name}` }, to: { pod: `${x.t.ns}/${x.t.name}` }, protocol: 'TCP', port: x.port }).allowed;
      if (want !== got[i]) wrong.push(`${from.ns}/${from.name} → ${x.t.ns}/${x.t.name}:${x.port}: analyzer ${want ? 'allows' : 'denies'}, connection ${got[i] ? 'made' : 'failed'}`);
    });
  }));
  return wrong.sort();
}

async function matrixMatches(what: string): Promise<void> {
  let last: string[] = [];
  await waitFor(async () => { last = await differences(); return last.length === 0; }, `${what}: the real matrix matches the analyzer`, 20_000, 300)
    .catch((e: Error) => { throw new Error(`${e.message}\n${last.join('\n')}\n--- netpol log:\n${netpolLog}`); });
}

describe('podnet netpol (e2e)', { skip, timeout: 240_000 }, () => {
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pnF-netpol-'));
    writeFileSync(join(work, 'server.mjs'), SERVER_JS);
    writeFileSync(join(work, 'client.mjs'), CLIENT_JS);
    writeFileSync(join(work, 'loop.mjs'), LOOP_JS);
    await cleanupNetns();
    await buildTopology();
    for (const p of PODS) {
      servers.push(spawn('ip', ['netns', 'exec', p.netns, process.execPath, join(work, 'server.mjs'), `${p.ns}/${p.name}`], { stdio: 'ignore' }));
    }
    api = new TestApiServer();
    await api.start();
    apply(`apiVersion: v1
kind: Node
metadata: {name: ${NODE}}
${['x', 'y', 'z'].map((n) => `---
apiVersion: v1
kind: Namespace
metadata: {name: '${n}', labels: {ns: '${n}'}}`).join('\n')}
${PODS.map((p) => `---
apiVersion: v1
kind: Pod
metadata: {name: '${p.name}', namespace: '${p.ns}', labels: {pod: '${p.name}'}}
spec:
  nodeName: ${NODE}
  containers:
  - name: c
    image: registry.k8s.io/e2e-test-images/agnhost:2.47
    ports: [{name: serve-80-tcp, containerPort: 80}, {name: serve-81-tcp, containerPort: 81}]`).join('\n')}
`);
    for (const p of PODS) await setPodIP(p.ns, p.name, p.ip);
    netpol = spawn(process.execPath, [podnetBin, 'netpol', '--kubeconfig', api.kubeconfig, '--node', NODE, '--netns', NODE_NS, '--table', TABLE, '--min-sync-period', '100ms'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    netpol.stdout!.on('data', (d: Buffer) => { netpolLog += d.toString(); });
    netpol.stderr!.on('data', (d: Buffer) => { netpolLog += d.toString(); });
    await waitFor(async () => (await run('nft', ['list', 'table', 'inet', TABLE], { netns: NODE_NS, allowFailure: true })).code === 0,
      `netpol programs its table\n${netpolLog}`, 15_000, 100);
  });

  after(async () => {
    if (netpol && netpol.exitCode === null) {
      const exited = new Promise((r) => netpol!.once('exit', r));
      netpol.kill('SIGTERM');
      const t = setTimeout(() => netpol?.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    for (const s of servers) if (s.exitCode === null) s.kill('SIGKILL');
    await run('nft', ['delete', 'table', 'inet', TABLE], { netns: NODE_NS, allowFailure: true });
    await cleanupNetns();
    await api?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('without policies every pod reaches every other', async () => {
    await matrixMatches('no policies');
    assert.equal(analyzer().check({ from: { pod: 'y/a' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80 }).allowed, true);
  });

  it('default deny ingress in x; the node itself still reaches x', async () => {
    apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: 'x'}
spec: {podSelector: {}, policyTypes: [Ingress]}
`);
    await matrixMatches('default deny ingress');
    assert.equal(analyzer().check({ from: { pod: 'y/a' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80 }).allowed, false);
    const r = await run('ip', ['netns', 'exec', NODE_NS, process.execPath, join(work, 'client.mjs'), JSON.stringify(['10.244.7.10:80', '10.244.7.11:81'])], { timeoutMs: 20_000 });
    assert.deepEqual(JSON.parse(r.stdout), [true, true], 'probes from the node pass');
  });

  it('allow x/a from namespace y (namespaceSelector) on the named port serve-80-tcp', async () => {
    apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-y, namespace: 'x'}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: 'y'}}}], ports: [{port: serve-80-tcp}]}]
`);
    await matrixMatches('allow from namespace y');
    assert.equal(analyzer().check({ from: { pod: 'y/a' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 80 }).allowed, true);
    assert.equal(analyzer().check({ from: { pod: 'y/a' }, to: { pod: 'x/a' }, protocol: 'TCP', port: 81 }).allowed, false);
  });

  it('ipBlock with except; egress of z limited to port 81', async () => {
    apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-from-cidr, namespace: 'x'}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress: [{from: [{ipBlock: {cidr: 10.244.7.0/24, except: [10.244.7.20/32]}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out-81, namespace: 'z'}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ports: [{port: 81, endPort: 81}]}]
`);
    await matrixMatches('ipBlock except and egress');
    const a = analyzer();
    assert.equal(a.check({ from: { pod: 'x/a' }, to: { pod: 'x/b' }, protocol: 'TCP', port: 80 }).allowed, true);
    assert.equal(a.check({ from: { pod: 'y/a' }, to: { pod: 'x/b' }, protocol: 'TCP', port: 80 }).allowed, false);
    assert.equal(a.check({ from: { pod: 'z/a' }, to: { pod: 'x/b' }, protocol: 'TCP', port: 80 }).allowed, false);
    assert.equal(a.check({ from: { pod: 'z/a' }, to: { pod: 'x/b' }, protocol: 'TCP', port: 81 }).allowed, true);
  });

  it('a policy change takes effect while a connection loop runs', async () => {
    api.k(['delete', 'networkpolicy', '-n', 'x', '--all']);
    api.k(['delete', 'networkpolicy', '-n', 'z', '--all']);
    await matrixMatches('policies removed');
    const loop = run('ip', ['netns', 'exec', 'pnF-ya', process.execPath, join(work, 'loop.mjs'), '10.244.7.10', '80', '40'], { timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 1500));
    apply(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-only-from-x, namespace: 'x'}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {}}]}]
`);
    const outcomes = JSON.parse((await loop).stdout) as boolean[];
    const firstDenied = outcomes.indexOf(false);
    assert.ok(firstDenied > 3, `connections passed before the change: ${JSON.stringify(outcomes)}`);
    assert.ok(outcomes.slice(firstDenied).every((v) => v === false), `once denied, always denied: ${JSON.stringify(outcomes)}`);
    assert.ok(outcomes.length - firstDenied >= 5, `the policy took effect within the loop: ${JSON.stringify(outcomes)}`);
    await matrixMatches('after the change');
  });
});
