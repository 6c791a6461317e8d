// `podnet netpol`: NetworkPolicy enforcement for the pods of one node, in the foreground until
// SIGINT/SIGTERM. `--cleanup` removes its table and exits. (`netpol matrix` and `netpol
// explain` over a live cluster are still to come; the analyzer in src/netpol is their core.)

import { CliError, parseFlags } from './args.js';

function durationMs(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new CliError(`netpol: --${flag} ${v} is not a duration: give e.g. 1s, 500ms or 2m`);
  const unit = m[2] ?? 's';
  return Math.round(Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000));
}

export async function runNetpol(argv: string[]): Promise<number> {
  if (argv[0] === 'matrix' || argv[0] === 'explain') {
    throw new CliError(`netpol ${argv[0]} is not implemented yet`);
  }
  const f = parseFlags('netpol', argv, {
    kubeconfig: { type: 'string', help: 'kubeconfig of the cluster (required unless --cleanup)' },
    node: { type: 'string', help: 'name of the node whose pods are enforced (required unless --cleanup)' },
    netns: { type: 'string', help: "the node's network namespace (name under /run/netns, or a path); default: the current one" },
    table: { type: 'string', default: 'podnet-netpol', help: 'name of the inet nftables table' },
    'min-sync-period': { type: 'string', default: '1s', help: 'minimum time between syncs (batches changes)' },
    'sync-period': { type: 'string', default: '30s', help: 'resync at least this often' },
    cleanup: { type: 'boolean', default: false, help: 'remove the table and exit' },
  });
  if (!f) return 0;
  const v = f.values;
  if (process.getuid?.() !== 0) throw new CliError('netpol: programming nftables needs root: run it as root (e.g. sudo bin/podnet netpol …)');
  const { cleanupNetpol, startNetpol } = await import('../netpol/index.js');
  if (v.cleanup) {
    await cleanupNetpol({ netns: v.netns, table: v.table });
    process.stdout.write(`removed table inet ${v.table}${v.netns ? ` in ${v.netns}` : ''}\n`);
    return 0;
  }
  if (!v.kubeconfig) throw new CliError('netpol: --kubeconfig is required: give the kubeconfig of the cluster');
  if (!v.node) throw new CliError('netpol: --node is required: give the name of the node whose pods this enforces');
  const running = await startNetpol({
    kubeconfig: v.kubeconfig, nodeName: v.node, netns: v.netns, table: v.table,
    minSyncPeriodMs: durationMs('min-sync-period', v['min-sync-period'], 1000),
    syncPeriodMs: durationMs('sync-period', v['sync-period'], 30_000),
  });
  process.stdout.write(`podnet netpol running for node ${v.node}${v.netns ? ` in ${v.netns}` : ''} (table inet ${v.table})\n`);
  await new Promise<void>((done) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      // The table stays: a restarted netpol adopts it, and policies stay enforced meanwhile.
      running.stop().then(done, (e) => { process.stderr.write(`podnet netpol: stopping: ${(e as Error).message}\n`); done(); });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}
