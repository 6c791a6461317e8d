// The supervisor `podnet up` leaves running in the background: the API server and controller
// manager, one agent per node (pods attach to the node's namespace), and the routes that make
// every node's pod range reachable from the host and from the other nodes (no NAT: DESIGN.md).

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent, type Agent } from '../agent/index.js';
import type { KObject } from '../api/meta.js';
import { startApiServer } from '../apiserver/index.js';
import { ApiClient } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { Ip } from '../net/ip.js';
import { mustParseCIDR } from '../net/cidr.js';
import { readState, stateDir, writeState, type ClusterState } from './state.js';
import { NODES } from '../client/resources.js';


export async function runSupervisor(name: string): Promise<void> {
  const st = readState(name);
  if (!st) throw new Error(`no state for cluster "${name}" (run "podnet up --name ${name}")`);
  const plan = st.plan;
  const log = (m: string) => process.stdout.write(`${new Date().toISOString()} ${m}\n`);
  const running = await startApiServer({
    dataDir: join(stateDir(name), 'apiserver'), port: st.apiserverPort, bind: '127.0.0.1',
    clusterName: name, clusterCIDRs: plan.ranges.pods,
  });
  log(`apiserver serving on ${running.url}`);
  const state: ClusterState = { ...st, supervisorPid: process.pid };
  await writeState(state);

  const client = new ApiClient(loadKubeconfig(running.kubeconfigPath), { userAgent: 'podnet-supervisor' });
  const agents: Agent[] = [];
  for (const node of plan.nodes) {
    const dir = join(stateDir(name), 'nodes', node.name);
    await mkdir(dir, { recursive: true });
    agents.push(await startAgent({
      client, nodeName: node.name, clusterName: name, nodeNetns: node.netns,
      cniConfDir: join(dir, 'cni', 'net.d'), cniDataDir: join(dir, 'cni', 'data'), stateDir: dir,
      internalIPs: node.addresses.map((a) => a.split('/')[0]), zone: node.zone,
      clusterDNS: plan.dnsAddresses[0], log: (m) => log(`${node.name}: ${m}`),
      // The agents run here, in the host's namespace: their kubelet API listens on loopback.
      kubeletServer: { host: '127.0.0.1', token: client.config.token ?? '', address: '127.0.0.1' },
      // The host routes to every pod range, so probes go straight from here.
      probeFromNode: true,
    }));
    log(`${node.name}: agent started`);
  }

  // Routes to each node's pod range: on the host via the cluster link, and in every other node.
  const routes = new Informer<KObject>(client.resource(NODES), {
    name: 'node-routes',
    handlers: {
      onAdd: (n) => { void syncRoutes(n); },
      onUpdate: (_o, n) => { void syncRoutes(n); },
    },
  });
  async function syncRoutes(n: KObject): Promise<void> {
    const cidrs = ((n.spec as { podCIDRs?: string[] } | undefined)?.podCIDRs) ?? [];
    const node = plan.nodes.find((x) => x.name === n.metadata.name);
    if (!node) return;
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
        log(`routes for ${cidr} via ${via}: ${(e as Error).message}`);
      }
    }
  }
  routes.start();

  await new Promise<void>((done) => {
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      log('stopping');
      await routes.stop();
      for (const a of agents) await a.stop({ teardown: true }).catch((e) => log(`agent stop: ${(e as Error).message}`));
      client.close();
      await running.stop();
      done();
    };
    process.on('SIGTERM', () => { void stop(); });
    process.on('SIGINT', () => { void stop(); });
  });
}
