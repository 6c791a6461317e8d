// `podnet apiserver`: runs the API server in the foreground until SIGINT/SIGTERM.

import { resolve } from 'node:path';
import { CliError, parseFlags, parsePort } from './args.js';
import { runUntilSignal } from '../util/signals.js';

/** Takes the hidden `--bookmark-interval MS` (tests only) out of argv. */
function takeBookmarkInterval(argv: string[]): { argv: string[]; ms?: number } {
  const rest: string[] = [];
  let ms: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    let v: string | undefined;
    if (a === '--bookmark-interval') v = argv[++i];
    else if (a.startsWith('--bookmark-interval=')) v = a.slice('--bookmark-interval='.length);
    else { rest.push(a); continue; }
    ms = Number(v);
    if (!Number.isInteger(ms) || ms <= 0) throw new CliError(`apiserver: --bookmark-interval ${v ?? ''} is not a number of milliseconds: give a positive integer`);
  }
  return { argv: rest, ms };
}

export async function runApiServer(args: string[]): Promise<number> {
  const { argv, ms: bookmarkIntervalMs } = takeBookmarkInterval(args);
  const f = parseFlags('apiserver', argv, {
    'data-dir': { type: 'string', help: 'directory for the store, PKI and kubeconfig (required)' },
    port: { type: 'string', default: '6443', help: 'HTTPS port (0 picks a free one)' },
    bind: { type: 'string', default: '127.0.0.1', help: 'address to listen on' },
    'no-controllers': { type: 'boolean', default: false, help: 'do not run the core controllers' },
    name: { type: 'string', default: 'podnet', help: 'cluster name written into the kubeconfig' },
    'service-cluster-ip-range': { type: 'string', default: '10.96.0.0/16', help: 'ClusterIP range: a CIDR, or an IPv4 and an IPv6 CIDR separated by a comma' },
    'service-node-port-range': { type: 'string', default: '30000-32767', help: 'NodePort range, LOW-HIGH' },
    'advertise-address': { type: 'string', help: 'address published in the default/kubernetes endpoints (default: --bind)' },
    'max-endpoints-per-slice': { type: 'string', default: '100', help: 'EndpointSlice controller: endpoints per slice (1-1000)' },
    'endpointslice-updates-batch-period': { type: 'string', default: '0s', help: 'EndpointSlice controller: batch pod changes over this period (e.g. 500ms, 1s)' },
  });
  if (!f) return 0;
  const v = f.values;
  if (!v['data-dir']) throw new CliError('apiserver: --data-dir is required: give a directory for the store, e.g. --data-dir ./podnet-data');
  const port = parsePort('apiserver', 'port', v.port, 6443);
  const dataDir = resolve(v['data-dir']);
  const services = await import('../apiserver/services/config.js');
  const flag = <T>(name: string, value: string | undefined, parse: (s: string) => T): T | undefined => {
    if (value === undefined) return undefined;
    try { return parse(value); } catch (e) { throw new CliError(`apiserver: --${name} ${(e as Error).message}`); }
  };
  flag('service-cluster-ip-range', v['service-cluster-ip-range'], services.parseServiceClusterIPRanges);
  flag('service-node-port-range', v['service-node-port-range'], services.parseNodePortRange);
  flag('advertise-address', v['advertise-address'], services.parseAdvertiseAddress);
  const maxEndpointsPerSlice = flag('max-endpoints-per-slice', v['max-endpoints-per-slice'], (x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`${x} is not a whole number from 1 to 1000 (upstream's limits): give e.g. 100`);
    return n;
  });
  const batchPeriodMs = flag('endpointslice-updates-batch-period', v['endpointslice-updates-batch-period'], (x) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(x);
    if (!m) throw new Error(`${x} is not a duration: give e.g. 0s, 500ms or 1s`);
    return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
  });
  const { startApiServer } = await import('../apiserver/index.js');
  let running;
  try {
    running = await startApiServer({
      dataDir, port, bind: v.bind, controllers: !v['no-controllers'], clusterName: v.name, bookmarkIntervalMs,
      serviceClusterIPRanges: v['service-cluster-ip-range'], serviceNodePortRange: v['service-node-port-range'],
      advertiseAddress: v['advertise-address'], endpointSlice: { maxEndpointsPerSlice, batchPeriodMs },
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') throw new CliError(`apiserver: cannot listen on ${v.bind}:${port}: the address is in use; pick another with --port`, 1);
    if (err.code === 'EADDRNOTAVAIL') throw new CliError(`apiserver: cannot listen on ${v.bind}: no such address on this host; pick one with --bind`, 1);
    if (err.code === 'EACCES') throw new CliError(`apiserver: cannot listen on ${v.bind}:${port}: permission denied; use a port above 1023 or run as root`, 1);
    if (/lock/i.test(err.message)) throw new CliError(`apiserver: ${err.message}`, 1);
    throw e;
  }
  process.stdout.write(`podnet apiserver serving on ${running.url}\nkubeconfig: ${running.kubeconfigPath}\n`);
  await runUntilSignal(() => running.stop().catch((e: unknown) => { process.stderr.write(`podnet: stopping: ${(e as Error).message}\n`); }));
  return 0;
}
