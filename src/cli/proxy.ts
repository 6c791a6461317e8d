// `podnet proxy`: the service proxy of one node (kube-proxy, nftables mode), in the foreground
// until SIGINT/SIGTERM. `--cleanup` removes its table and exits.

import { isIP } from 'node:net';
import { CliError, parseFlags } from './args.js';
import { runUntilSignal } from '../util/signals.js';
import { parseCidrList } from '../proxy/model.js';
import { parseBindAddress } from '../proxy/metrics.js';

function durationMs(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new CliError(`proxy: --${flag} ${v} is not a duration: give e.g. 1s, 500ms or 2m`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000));
}

export async function runProxy(argv: string[]): Promise<number> {
  const f = parseFlags('proxy', argv, {
    kubeconfig: { type: 'string', help: 'kubeconfig of the cluster (required unless --cleanup)' },
    node: { type: 'string', help: 'name of the node this proxy serves (required unless --cleanup)' },
    netns: { type: 'string', help: "the node's network namespace (name under /run/netns, or a path); default: the current one" },
    table: { type: 'string', default: 'podnet-proxy', help: 'name of the inet nftables table' },
    'cluster-cidr': { type: 'string', help: 'pod network CIDRs, comma separated: service traffic from elsewhere is masqueraded' },
    'node-ip': { type: 'string', help: 'addresses that accept NodePorts, comma separated (default: every local address)' },
    'min-sync-period': { type: 'string', default: '1s', help: 'minimum time between syncs (batches changes)' },
    'sync-period': { type: 'string', default: '30s', help: 'full resync at least this often' },
    'metrics-bind-address': { type: 'string', default: '127.0.0.1:10249', help: "/metrics on HOST:PORT in this process's namespace ('' = off)" },
    'healthz-bind-address': { type: 'string', default: '0.0.0.0:10256', help: "/healthz and /livez on HOST:PORT in the node's namespace ('' = off)" },
    cleanup: { type: 'boolean', default: false, help: 'remove the table and exit' },
  });
  if (!f) return 0;
  const v = f.values;
  if (process.getuid?.() !== 0) throw new CliError('proxy: programming nftables needs root: run it as root (e.g. sudo bin/podnet proxy …)');
  const { cleanupProxy, startProxy } = await import('../proxy/index.js');
  if (v.cleanup) {
    await cleanupProxy({ netns: v.netns, table: v.table });
    process.stdout.write(`removed table inet ${v.table}${v.netns ? ` in ${v.netns}` : ''}\n`);
    return 0;
  }
  if (!v.kubeconfig) throw new CliError('proxy: --kubeconfig is required: give the kubeconfig of the cluster');
  if (!v.node) throw new CliError('proxy: --node is required: give the name of the node this proxy serves');
  let clusterCIDRs: string[];
  try { clusterCIDRs = parseCidrList(v['cluster-cidr'], '--cluster-cidr'); } catch (e) { throw new CliError(`proxy: ${(e as Error).message}`); }
  const nodeIPs = (v['node-ip'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const ip of nodeIPs) if (!isIP(ip)) throw new CliError(`proxy: --node-ip ${ip} is not an IP address`);
  for (const flag of ['metrics-bind-address', 'healthz-bind-address'] as const) {
    try { if (v[flag]) parseBindAddress(flag, v[flag]); } catch (e) { throw new CliError(`proxy: ${(e as Error).message}`); }
  }
  const running = await startProxy({
    kubeconfig: v.kubeconfig, nodeName: v.node, netns: v.netns, table: v.table, clusterCIDRs, nodePortAddresses: nodeIPs,
    minSyncPeriodMs: durationMs('min-sync-period', v['min-sync-period'], 1000),
    syncPeriodMs: durationMs('sync-period', v['sync-period'], 30_000),
    metricsBindAddress: v['metrics-bind-address'], healthzBindAddress: v['healthz-bind-address'],
  });
  process.stdout.write(`podnet proxy running for node ${v.node}${v.netns ? ` in ${v.netns}` : ''} (table inet ${v.table})\n`);
  // The table stays: a restarted proxy adopts it, and established connections keep working.
  await runUntilSignal(() => running.stop().catch((e: unknown) => { process.stderr.write(`podnet proxy: stopping: ${(e as Error).message}\n`); }));
  return 0;
}
