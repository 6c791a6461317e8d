// The supervisor `podnet up` leaves running in the background: the API server and controller
// manager (host namespace: 127.0.0.1 for kubectl, the host's node-network address for nodes and
// pods), one node daemon per node (a process inside the node's namespace, restarted if it
// dies), and the routes that make every node's pod range reachable from the host and from the
// other nodes (no NAT: DESIGN.md).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { KObject } from '../api/meta.js';
import { startApiServer } from '../apiserver/index.js';
import { kubeconfigJson, writeKubeconfig } from '../apiserver/certs.js';
import { ApiClient } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { Ip } from '../net/ip.js';
import { addressAt, formatIP, mustParseCIDR } from '../net/cidr.js';
import { clusterDnsObjects, ensureAddons } from './addons.js';
import { readState, stateDir, writeState, type ClusterState } from './state.js';
import { NODES } from '../client/resources.js';
import type { NodeDaemonConfig } from './nodedaemon.js';
import { cgroupChild } from '../agent/cgroups.js';
import { runUntilSignal } from '../util/signals.js';

const KUBELET_PORT = 10250;
/**
 * V8 flags for node daemons: a small young generation. A daemon's garbage is short-lived (watch
 * events, API responses, spawn bookkeeping), and V8's default lets the young generation grow to
 * tens of MB of resident memory per process.
 */
const DAEMON_NODE_FLAGS = ['--max-semi-space-size=2'];
/** How long a node daemon gets to stop its pods before it is killed. */
const NODE_STOP_MS = 8_000;


export async function runSupervisor(name: string): Promise<void> {
  const st = readState(name);
  if (!st) throw new Error(`no state for cluster "${name}" (run "podnet up --name ${name}")`);
  const plan = st.plan;
  const cgroup = st.cgroup;
  const log = (m: string) => process.stdout.write(`${new Date().toISOString()} ${m}\n`);
  const hostIPs = plan.hostAddresses.map((a) => a.split('/')[0]!);
  /** The `kubernetes` Service's addresses: the first of each service range. */
  const kubernetesIPs = plan.ranges.services.map((r) => formatIP(addressAt(mustParseCIDR(r), 1)));
  const running = await startApiServer({
    dataDir: join(stateDir(name), 'apiserver'), port: st.apiserverPort, bind: '127.0.0.1', extraBinds: hostIPs,
    // in-cluster clients verify the server by the `kubernetes` Service's address
    hosts: kubernetesIPs,
    clusterName: name, clusterCIDRs: plan.ranges.pods,
    serviceClusterIPRanges: plan.ranges.services, advertiseAddress: hostIPs[0],
  });
  log(`apiserver serving on ${running.url} and on ${hostIPs.join(', ')} (node network)`);
  const state: ClusterState = { ...st, supervisorPid: process.pid };
  await writeState(state);

  const admin = loadKubeconfig(running.kubeconfigPath);
  const client = new ApiClient(admin, { userAgent: 'podnet-supervisor' });
  // Nodes reach the API server at the host's address on the node network (IPv4 first).
  const port = new URL(running.url).port;
  const nodeServer = `https://${hostIPs[0]!.includes(':') ? `[${hostIPs[0]}]` : hostIPs[0]}:${port}`;
  const daemons: NodeDaemon[] = [];
  await Promise.all(plan.nodes.map(async (node) => {
    const dir = join(stateDir(name), 'nodes', node.name);
    await mkdir(dir, { recursive: true });
    const kubeconfig = join(dir, 'kubeconfig');
    // JSON: the daemon's client then never loads a YAML parser (~8 MB resident per process)
    await writeKubeconfig(kubeconfig, kubeconfigJson({ name, server: nodeServer, caCert: admin.ca ?? '', token: admin.token ?? '' }));
    const cfg: NodeDaemonConfig = {
      clusterName: name, nodeName: node.name, netns: node.netns, kubeconfig, stateDir: dir,
      cniConfDir: join(dir, 'cni', 'net.d'), cniDataDir: join(dir, 'cni', 'data'),
      internalIPs: node.addresses.map((a) => a.split('/')[0]!), zone: node.zone,
      clusterDNS: plan.dnsAddresses[0], kubeletPort: KUBELET_PORT,
      clusterCIDRs: plan.ranges.pods, serviceCIDRs: plan.ranges.services,
      ...(cgroup ? { cgroup: cgroupChild(cgroup, node.name) } : {}),
    };
    const cfgFile = join(dir, 'daemon.json');
    await writeFile(cfgFile, JSON.stringify(cfg, null, 2), { mode: 0o600 });
    daemons.push(new NodeDaemon(node.name, node.netns, cfgFile, (m) => log(`${node.name}: ${m}`)));
    log(`${node.name}: daemon started`);
  }));

  // The cluster DNS, as kubeadm installs CoreDNS. Its pods reach the API server through the
  // `kubernetes` Service, as in-cluster clients do.
  // JSON, as the node daemons' kubeconfigs: keeps the YAML parser out of the DNS pods' memory.
  const addonKubeconfig = join(stateDir(name), 'apiserver', 'in-cluster.kubeconfig');
  await writeKubeconfig(addonKubeconfig, kubeconfigJson({ name, server: `https://${kubernetesIPs[0]!.includes(':') ? `[${kubernetesIPs[0]}]` : kubernetesIPs[0]}:443`, caCert: admin.ca ?? '', token: admin.token ?? '' }));
  await ensureAddons(client, clusterDnsObjects(plan, addonKubeconfig)).catch((e: unknown) => log(`cluster DNS: ${(e as Error).message}`));

  // Routes to each node's pod range: on the host via the cluster link, and in every other node.
  const routes = new Informer<KObject>(client.resource(NODES), {
    name: 'node-routes',
    handlers: {
      onAdd: (n) => { void syncRoutes(n); },
      onUpdate: (_o, n) => { void syncRoutes(n); },
    },
  });
  /** Per node: the pod ranges whose routes were put in place, and when. Node updates are mostly
   *  heartbeats (every 10 s per node): they re-apply the routes (repairing any removed since)
   *  only once a minute, as each pass is three `ip` runs per node, and forks stall the API server. */
  const routed = new Map<string, { key: string; at: number }>();
  const ROUTE_RESYNC_MS = 60_000;
  async function syncRoutes(n: KObject): Promise<void> {
    const cidrs = ((n.spec as { podCIDRs?: string[] } | undefined)?.podCIDRs) ?? [];
    const node = plan.nodes.find((x) => x.name === n.metadata.name);
    if (!node) return;
    const key = cidrs.join(',');
    const last = routed.get(node.name);
    if (last?.key === key && Date.now() - last.at < ROUTE_RESYNC_MS) return;
    const mark = { key, at: Date.now() };
    routed.set(node.name, mark);
    let failed = false;
    for (const cidr of cidrs) {
      const fam = mustParseCIDR(cidr).family;
      const via = node.addresses.map((a) => a.split('/')[0]).find((a) => (fam === 'IPv4') === !a.includes(':'));
      if (!via) continue;
      try {
        await new Ip().routeReplace({ dst: cidr, gw: via, dev: plan.hostLink });
        for (const other of plan.nodes) {
          if (other.name !== node.name) await new Ip(other.netns).routeReplace({ dst: cidr, gw: via, dev: 'eth0' });
        }
      } catch (e) {
        failed = true;
        log(`routes for ${cidr} via ${via}: ${(e as Error).message}`);
      }
    }
    // try again on the node's next update
    if (failed && routed.get(node.name) === mark) routed.delete(node.name);
  }
  routes.start();
  // The host reaches ClusterIPs through the first node, whose proxy rewrites (and masquerades)
  // them: a route per service range on the cluster's link, nothing else.
  for (const cidr of plan.ranges.services) {
    const v6 = cidr.includes(':');
    const via = plan.nodes[0]?.addresses.map((a) => a.split('/')[0]!).find((a) => a.includes(':') === v6);
    if (via) await new Ip().routeReplace({ dst: cidr, gw: via, dev: plan.hostLink }).catch((e: unknown) => log(`route for ${cidr} via ${via}: ${(e as Error).message}`));
  }

  await runUntilSignal(async () => {
    log('stopping');
    await routes.stop();
    await Promise.all(daemons.map((d) => d.stop()));
    client.close();
    await running.stop();
  });
}

/**
 * One node's daemon process: `nsenter --net=<netns> node main.js node --config F`, its output
 * into the supervisor's log, restarted with back-off if it exits while the cluster runs.
 */
class NodeDaemon {
  private child?: ChildProcess;
  private stopping = false;
  private failures = 0;
  private exited: Promise<void> = Promise.resolve();

  constructor(readonly node: string, private readonly netns: string, private readonly cfgFile: string, private readonly log: (m: string) => void) {
    this.start();
  }

  private start(): void {
    const main = fileURLToPath(new URL('../cli/main.js', import.meta.url));
    const startedAt = Date.now();
    // nsenter switches the network namespace only. (`ip netns exec` would also give the daemon a
    // mount namespace of its own, slave to the host's, and the pod namespaces it creates with
    // `ip netns add` — bind mounts under /run/netns — would not be visible on the host.)
    const child = spawn('nsenter', [`--net=/run/netns/${this.netns}`, '--', process.execPath, ...DAEMON_NODE_FLAGS, main, 'node', '--config', this.cfgFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    for (const s of [child.stdout, child.stderr]) {
      // the daemon stamps its own lines; keep them as they are, prefixed with the node
      createInterface({ input: s! }).on('line', (l) => process.stdout.write(`${l.replace(/^(\S+Z) /, `$1 ${this.node}: `)}\n`));
    }
    this.exited = new Promise((done) => {
      child.once('error', (e) => { this.log(`daemon failed to start: ${e.message}`); });
      child.once('exit', (code, signal) => {
        done();
        if (this.stopping) return;
        this.failures = Date.now() - startedAt > 60_000 ? 1 : this.failures + 1;
        const delay = Math.min(30_000, 500 * 2 ** (this.failures - 1));
        this.log(`daemon exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
        setTimeout(() => { if (!this.stopping) this.start(); }, delay).unref();
      });
    });
  }

  /** SIGTERM (the daemon stops its pods), SIGKILL after NODE_STOP_MS. */
  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), NODE_STOP_MS);
    await this.exited;
    clearTimeout(t);
  }
}
