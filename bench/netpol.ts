// `sudo npm run bench -- netpol`: NetworkPolicy programming at scale (issue 7's figures), on a
// real kernel table in a throwaway network namespace (`pnbp<hex>`, removed afterwards, also on
// error). A synthetic cluster: N pods (default 1,000) in 20 namespaces on 10 nodes, of which this
// node holds a tenth; P policies (default 500), each selecting one app's pods and admitting a
// namespace + pod selector and an ipBlock on two ports. Measured with the netpol syncer itself
// (src/netpol: rules → one nft transaction):
//   a. programming from scratch: the first full sync (rules computed + `nft -f`);
//   b. a new pod on this node: the incremental sync that puts its rules in place, ×20, p50/p99;
//   c. a new pod elsewhere that policies here must admit (peer sets grow), ×20.
// Not measured yet: TCP connect latency and throughput with 500 policies against none.
//
// Knobs: PODNET_BENCH_NETPOL_PODS (1000), PODNET_BENCH_NETPOL_POLICIES (500), _UPDATES (20).

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import { RealNft } from '../src/net/nft.js';
import { NetpolSyncer } from '../src/netpol/index.js';
import type { Snapshot } from '../src/netpol/match.js';
import { stripNamespace, stripPod, stripPolicy, type PodRecord, type PolicyRecord } from '../src/netpol/model.js';
import { envInt, now, percentile } from './common.js';

const PODS = envInt('PODNET_BENCH_NETPOL_PODS', 1000);
const POLICIES = envInt('PODNET_BENCH_NETPOL_POLICIES', 500);
const UPDATES = envInt('PODNET_BENCH_NETPOL_UPDATES', 20);
const NAMESPACES = 20;
const NODES = 10;
const APPS = 50;
const NODE = 'node-0';
const log = (s: string) => process.stdout.write(`${s}\n`);
const ms = (v: number) => `${v.toFixed(1)} ms`;

function pod(i: number): PodRecord {
  const ns = `ns-${i % NAMESPACES}`;
  const node = `node-${i % NODES}`;
  const ip = `10.244.${Math.floor(i / 250)}.${(i % 250) + 2}`;
  return stripPod({
    metadata: { namespace: ns, name: `pod-${i}`, labels: { app: `app-${i % APPS}`, tier: i % 3 === 0 ? 'web' : 'db' } },
    spec: { nodeName: node, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  });
}

function policy(j: number): PolicyRecord {
  const r = stripPolicy({
    metadata: { namespace: `ns-${j % NAMESPACES}`, name: `pol-${j}` },
    spec: {
      podSelector: { matchLabels: { app: `app-${j % APPS}` } },
      ingress: [
        { from: [{ namespaceSelector: { matchLabels: { team: `t-${j % 4}` } }, podSelector: { matchLabels: { tier: 'web' } } }], ports: [{ port: 'http' }, { port: 9090 }] },
        { from: [{ ipBlock: { cidr: '10.0.0.0/8', except: [`10.${j % 200}.0.0/16`] } }], ports: [{ port: 8080, endPort: 8090 }] },
      ],
    },
  });
  if (!r.ok) throw new Error(r.error);
  return r.rec;
}

const SELF = fileURLToPath(import.meta.url);

/** Creates the namespace and runs the measurements inside it, as a node daemon runs (no `ip netns exec` per nft call). */
export async function benchNetpol(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the netpol benchmark needs root (it programs nftables in a network namespace)');
  const netns = `pnbp${randomBytes(2).toString('hex')}`;
  log(`netpol bench: ${PODS} pods (${PODS / NODES} on this node), ${POLICIES} policies, ${UPDATES} updates; ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const add = spawnSync('ip', ['netns', 'add', netns], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`ip netns add ${netns}: ${add.stderr}`);
  try {
    const r = spawnSync('ip', ['netns', 'exec', netns, process.execPath, SELF, '--inside'], { stdio: 'inherit', timeout: 300_000 });
    if (r.status !== 0) throw new Error(`the measurements inside ${netns} failed (exit ${r.status ?? r.signal})`);
  } finally {
    spawnSync('ip', ['netns', 'del', netns]);
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.includes(netns);
    log(`removed the bench's namespace ${netns} (${left ? 'NOT removed' : 'gone'})`);
  }
}

async function measureInside(): Promise<void> {
  const namespaces = new Map(Array.from({ length: NAMESPACES }, (_, i) => {
    const ns = stripNamespace({ metadata: { name: `ns-${i}`, labels: { 'kubernetes.io/metadata.name': `ns-${i}`, team: `t-${i % 4}` } } });
    return [ns.name, ns] as const;
  }));
  const pods = Array.from({ length: PODS }, (_, i) => pod(i));
  const policies = Array.from({ length: POLICIES }, (_, j) => policy(j));
  const snap = (): Snapshot => ({ namespaces, pods, policies });
  const syncer = new NetpolSyncer(new RealNft('inet', 'podnet-netpol'), NODE);

  const t0 = now();
  const first = await syncer.sync(snap());
  const fullMs = now() - t0;
  log(`a. programming from scratch: ${ms(fullMs)} (${first.kind}, ${first.ops} ops)`);

  const timeAdds = async (onThisNode: boolean): Promise<number[]> => {
    const times: number[] = [];
    for (let k = 0; k < UPDATES; k++) {
      // pod(i) lands on node-(i % NODES): a multiple of NODES is this node, one more is the next
      const base = (Math.ceil(PODS / NODES) + 2 * k + (onThisNode ? 0 : 1)) * NODES;
      pods.push(pod(onThisNode ? base : base + 1));
      const t = now();
      const r = await syncer.sync(snap());
      times.push(now() - t);
      if (k === 0) log(`   (${onThisNode ? 'local' : 'remote'} pod: ${r.kind} sync, ${r.ops} ops)`);
    }
    return times.sort((x, y) => x - y);
  };
  const local = await timeAdds(true);
  log(`b. a new pod on this node, rules in place: p50 ${ms(percentile(local, 0.5))}, p99 ${ms(percentile(local, 0.99))}`);
  const remote = await timeAdds(false);
  log(`c. a new peer pod on another node: p50 ${ms(percentile(remote, 0.5))}, p99 ${ms(percentile(remote, 0.99))}`);

  log('');
  log('| figure | measured | target | result |');
  log('|---|---|---|---|');
  log(`| ${PODS} pods, ${POLICIES} policies: programming from scratch | ${ms(fullMs)} | ≤ 1 s | ${fullMs <= 1000 ? 'PASS' : 'FAIL'} |`);
  log(`| a new pod's rules in place (p99 of ${UPDATES}) | ${ms(percentile(local, 0.99))} (p50 ${ms(percentile(local, 0.5))}) | ≤ 50 ms | ${percentile(local, 0.99) <= 50 ? 'PASS' : 'FAIL'} |`);
  log(`| a new peer pod elsewhere (p99 of ${UPDATES}) | ${ms(percentile(remote, 0.99))} (p50 ${ms(percentile(remote, 0.5))}) | (≤ 50 ms) | ${percentile(remote, 0.99) <= 50 ? 'PASS' : 'FAIL'} |`);
  log('| TCP connect latency / throughput with 500 policies vs none | not measured yet | within 10% / ≥ 95% | – |');
}

if (process.argv[1] === SELF && process.argv.includes('--inside')) {
  measureInside().catch((e: unknown) => { process.stderr.write(`netpol bench: ${(e as Error).stack ?? String(e)}\n`); process.exit(1); });
}
