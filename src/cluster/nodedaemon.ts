// One node's daemon: what runs on a node of a podnet cluster, inside the node's own network
// namespace, as on a real machine (DESIGN.md): the agent (kubelet + runtime), the service proxy
// (kube-proxy) and the NetworkPolicy enforcer, sharing one API client, each with its own nftables table.
//
// The supervisor starts one per node with `nsenter --net=/run/netns/<node> podnet node --config F`.
// Being a process of its own matters beyond fidelity: every pod start forks `ip` and the
// container, and fork() blocks the forking process's event loop for a time that grows with the
// process's size. In the supervisor, next to the API server, that stalled the whole control
// plane; here it stalls only this node.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { startAgent } from '../agent/index.js';
import type { CgroupDir } from '../agent/cgroups.js';
import { startProxy } from '../proxy/index.js';
import { startNetpol } from '../netpol/index.js';
import { Ip } from '../net/ip.js';
import { formatCIDR, mustParseCIDR } from '../net/cidr.js';
import { ApiClient } from '../client/client.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { runUntilSignal } from '../util/signals.js';
import { setCommandRunner } from '../net/exec.js';
import { CommandHelperPool } from './cmdrunner.js';

/** What the supervisor writes for a node daemon (`<state>/nodes/<node>/daemon.json`). */
export interface NodeDaemonConfig {
  clusterName: string;
  nodeName: string;
  /** The node's netns name; the daemon runs in it. */
  netns: string;
  /** Kubeconfig whose server address is reachable from the node's namespace. */
  kubeconfig: string;
  stateDir: string;
  cniConfDir: string;
  cniDataDir: string;
  internalIPs: string[];
  zone?: string;
  clusterDNS?: string;
  kubeletPort: number;
  /** The cluster's pod ranges (the proxy masquerades service traffic from outside them). */
  clusterCIDRs: string[];
  /** The cluster's service ranges: routed out of the node's eth0 so the node's own connections
   *  to ClusterIPs pass the output hook, where the proxy rewrites them. */
  serviceCIDRs: string[];
  /** The node's cgroup (memory controller), below which its pods' cgroups go. */
  cgroup?: CgroupDir;
}

export function readNodeDaemonConfig(file: string): NodeDaemonConfig {
  let cfg: NodeDaemonConfig;
  try {
    cfg = JSON.parse(readFileSync(file, 'utf8')) as NodeDaemonConfig;
  } catch (e) {
    throw new Error(`node daemon config ${file}: ${(e as Error).message}`);
  }
  for (const k of ['clusterName', 'nodeName', 'netns', 'kubeconfig', 'stateDir', 'cniConfDir', 'cniDataDir'] as const) {
    if (typeof cfg[k] !== 'string' || !cfg[k]) throw new Error(`node daemon config ${file}: "${k}" is missing`);
  }
  if (!Array.isArray(cfg.internalIPs) || cfg.internalIPs.length === 0) throw new Error(`node daemon config ${file}: "internalIPs" is missing`);
  return cfg;
}

/** Runs until SIGTERM/SIGINT; then stops the node's pods and removes their sandboxes. */
export async function runNodeDaemon(cfg: NodeDaemonConfig): Promise<void> {
  const log = (m: string) => process.stdout.write(`${new Date().toISOString()} ${m}\n`);
  // `ip` runs (pod netns, CNI) through a small helper shell: cmdrunner.ts says why.
  const commands = new CommandHelperPool(2);
  setCommandRunner(commands.runner);
  const client = new ApiClient(loadKubeconfig(cfg.kubeconfig), { userAgent: `podnet-node/${cfg.nodeName}` });
  const agent = await startAgent({
    client, nodeName: cfg.nodeName, clusterName: cfg.clusterName, nodeNetns: cfg.netns,
    cniConfDir: cfg.cniConfDir, cniDataDir: cfg.cniDataDir, stateDir: cfg.stateDir,
    internalIPs: cfg.internalIPs, zone: cfg.zone, clusterDNS: cfg.clusterDNS, log, cgroup: cfg.cgroup,
    // The kubelet API listens on the node's address; the API server reaches it over the node network.
    kubeletServer: { host: cfg.internalIPs[0]!, port: cfg.kubeletPort, token: client.config.token ?? '' },
    // The node's namespace holds the pod bridge: probes go straight from here, as kubelet's do.
    probeFromNode: true,
  });
  log('agent started');
  for (const cidr of cfg.serviceCIDRs ?? []) {
    await new Ip().routeReplace({ dst: formatCIDR(mustParseCIDR(cidr)), dev: 'eth0' }).catch((e: unknown) => log(`route for ${cidr}: ${(e as Error).message}`));
  }
  // Traffic between pods of this node crosses the pod bridge without being routed. Only with
  // br_netfilter does it pass the forward hook (where NetworkPolicy is judged) and conntrack (so
  // a reply from a Service's endpoint on this node gets its address rewritten back). The
  // switches are per network namespace: on here, in the node's.
  const brnf = ['/proc/sys/net/bridge/bridge-nf-call-iptables', '/proc/sys/net/bridge/bridge-nf-call-ip6tables'];
  if (brnf.every((f) => existsSync(f))) {
    for (const f of brnf) if (readFileSync(f, 'utf8').trim() !== '1') writeFileSync(f, '1');
  } else {
    log('warning: br_netfilter is not loaded: NetworkPolicy between pods of one node is not enforced, and a pod reaching a Service backed by a pod on its own node gets no reply; load it with "modprobe br_netfilter"');
  }
  // One API client (one kubeconfig read, one connection pool) for the agent, proxy and netpol.
  const proxy = await startProxy({
    kubeconfig: cfg.kubeconfig, client, nodeName: cfg.nodeName, clusterCIDRs: cfg.clusterCIDRs ?? [],
    nodePortAddresses: cfg.internalIPs, log: (m) => log(`proxy: ${m}`),
    // kube-proxy's defaults, inside the node's namespace
    metricsBindAddress: '127.0.0.1:10249', healthzBindAddress: '0.0.0.0:10256',
  });
  log('proxy started');
  const netpol = await startNetpol({ kubeconfig: cfg.kubeconfig, client, nodeName: cfg.nodeName, log: (m) => log(`netpol: ${m}`) });
  log('netpol started');
  await runUntilSignal(async () => {
    log('stopping');
    await netpol.stop().catch((e: unknown) => log(`netpol stop: ${(e as Error).message}`));
    await proxy.stop().catch((e: unknown) => log(`proxy stop: ${(e as Error).message}`));
    await agent.stop({ teardown: true }).catch((e: unknown) => log(`agent stop: ${(e as Error).message}`));
    client.close();
    commands.close();
  });
}
