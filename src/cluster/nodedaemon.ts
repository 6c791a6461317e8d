// One node's daemon: what runs on a node of a podnet cluster, inside the node's own network
// namespace, as on a real machine (DESIGN.md). Today that is the agent (kubelet + runtime);
// it is the composition root where the proxy and the policy enforcer join it.
//
// The supervisor starts one per node with `nsenter --net=/run/netns/<node> podnet node --config F`.
// Being a process of its own matters beyond fidelity: every pod start forks `ip` and the
// container, and fork() blocks the forking process's event loop for a time that grows with the
// process's size. In the supervisor, next to the API server, that stalled the whole control
// plane; here it stalls only this node.

import { readFileSync } from 'node:fs';
import { startAgent } from '../agent/index.js';
import { ApiClient } from '../client/client.js';
import { loadKubeconfig } from '../client/kubeconfig.js';

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
  const client = new ApiClient(loadKubeconfig(cfg.kubeconfig), { userAgent: `podnet-node/${cfg.nodeName}` });
  const agent = await startAgent({
    client, nodeName: cfg.nodeName, clusterName: cfg.clusterName, nodeNetns: cfg.netns,
    cniConfDir: cfg.cniConfDir, cniDataDir: cfg.cniDataDir, stateDir: cfg.stateDir,
    internalIPs: cfg.internalIPs, zone: cfg.zone, clusterDNS: cfg.clusterDNS, log,
    // The kubelet API listens on the node's address; the API server reaches it over the node network.
    kubeletServer: { host: cfg.internalIPs[0]!, port: cfg.kubeletPort, token: client.config.token ?? '' },
    // The node's namespace holds the pod bridge: probes go straight from here, as kubelet's do.
    probeFromNode: true,
  });
  log('agent started');
  await new Promise<void>((done) => {
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      log('stopping');
      await agent.stop({ teardown: true }).catch((e: unknown) => log(`agent stop: ${(e as Error).message}`));
      client.close();
      done();
    };
    process.on('SIGTERM', () => { void stop(); });
    process.on('SIGINT', () => { void stop(); });
  });
}
