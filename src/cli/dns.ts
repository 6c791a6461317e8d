// `podnet dns`: the cluster DNS server (Kubernetes DNS specification 1.1.0, as CoreDNS's
// kubernetes plugin), in the foreground until SIGINT/SIGTERM.

import { CliError, parseFlags } from './args.js';
import { runUntilSignal } from '../util/signals.js';

function seconds(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const m = /^(\d+)(s|m|h)?$/.exec(v.trim());
  if (!m) throw new CliError(`dns: --${flag} ${v} is not a number of seconds: give e.g. 30 or 30s`);
  const n = Number(m[1]) * (m[2] === 'm' ? 60 : m[2] === 'h' ? 3600 : 1);
  if (n > 2 ** 31 - 1) throw new CliError(`dns: --${flag} ${v} is too large`);
  return n;
}

export async function runDns(argv: string[]): Promise<number> {
  const f = parseFlags('dns', argv, {
    kubeconfig: { type: 'string', help: 'kubeconfig of the cluster (required)' },
    listen: { type: 'string', default: ':53', help: 'DNS address(es), UDP and TCP, comma separated: HOST:PORT, [V6]:PORT or :PORT (port 0: any free port)' },
    'cluster-domain': { type: 'string', default: 'cluster.local', help: 'the cluster domain this server is authoritative for' },
    ttl: { type: 'string', default: '30', help: 'TTL of answers about the cluster (seconds)' },
    'negative-ttl': { type: 'string', help: 'SOA TTL and minimum of NXDOMAIN/NODATA answers (seconds; default: --ttl)' },
    pods: { type: 'string', default: 'verified', help: 'pod records a-b-c-d.<ns>.pod.<zone>: verified (a pod has that IP), insecure or disabled' },
    upstream: { type: 'string', help: 'resolvers for names outside the cluster, comma separated IP[:PORT] (default: the nameservers of --resolv-conf)' },
    'resolv-conf': { type: 'string', default: '/etc/resolv.conf', help: 'where the upstream resolvers are read from without --upstream' },
    'no-forward': { type: 'boolean', default: false, help: 'answer only cluster names; REFUSED for the rest' },
    'cache-ttl': { type: 'string', default: '30', help: 'cap on cached upstream TTLs, positive and negative (seconds; 0 = no cache)' },
    metrics: { type: 'string', default: ':9153', help: 'HTTP address for /metrics (also serves /health and /ready; "none" = off)' },
    health: { type: 'string', default: ':8080', help: 'HTTP address for /health ("none" = off)' },
    ready: { type: 'string', default: ':8181', help: 'HTTP address for /ready ("none" = off)' },
  });
  if (!f) return 0;
  const v = f.values;
  if (!v.kubeconfig) throw new CliError('dns: --kubeconfig is required: give the kubeconfig of the cluster');
  const { parseListen, startDns } = await import('../dns/index.js');
  const { parseUpstream, upstreamsFromResolvConf } = await import('../dns/forward.js');
  const listen = (v.listen ?? ':53').split(',').filter((s) => s.trim()).map((s) => {
    try { return parseListen(s); } catch (e) { throw new CliError(`dns: --listen: ${(e as Error).message}`); }
  });
  const http = (['metrics', 'health', 'ready'] as const).flatMap((k) => {
    const s = (v[k] ?? '').trim();
    if (s === '' || s === 'none') return [];
    try { return [parseListen(s)]; } catch (e) { throw new CliError(`dns: --${k}: ${(e as Error).message}`); }
  });
  const zone = (v['cluster-domain'] ?? 'cluster.local').toLowerCase().replace(/\.$/, '');
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(zone)) {
    throw new CliError(`dns: --cluster-domain ${v['cluster-domain']} is not a domain name`);
  }
  const podMode = v.pods ?? 'verified';
  if (podMode !== 'verified' && podMode !== 'insecure' && podMode !== 'disabled') throw new CliError(`dns: --pods ${podMode}: give verified, insecure or disabled`);
  const ttl = seconds('ttl', v.ttl, 30);
  const negativeTtl = seconds('negative-ttl', v['negative-ttl'], ttl);
  let upstreams;
  if (v['no-forward']) {
    if (v.upstream) throw new CliError('dns: --upstream and --no-forward contradict each other: give one');
  } else if (v.upstream) {
    try { upstreams = v.upstream.split(',').filter((s) => s.trim()).map(parseUpstream); } catch (e) { throw new CliError(`dns: --upstream: ${(e as Error).message}`); }
  } else {
    try { upstreams = upstreamsFromResolvConf(v['resolv-conf'] ?? '/etc/resolv.conf'); } catch (e) {
      throw new CliError(`dns: cannot read ${v['resolv-conf']}: ${(e as Error).message} (give --upstream or --no-forward)`);
    }
    if (upstreams.length === 0) throw new CliError(`dns: ${v['resolv-conf']} names no nameserver: give --upstream or --no-forward`);
  }

  let loopMsg: string | undefined;
  let stopNow: (() => void) | undefined;
  const running = await startDns({
    kubeconfig: v.kubeconfig, listen, http, upstreams, cacheTtl: seconds('cache-ttl', v['cache-ttl'], 30),
    resolver: { zone, ttl, negativeTtl, podMode },
    // CoreDNS's loop plugin exits the process; so does podnet dns (its supervisor restarts it).
    onLoop: (msg) => { loopMsg = msg; stopNow?.(); },
  });
  const fmt = (a: { host: string; port: number }) => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
  process.stdout.write(`podnet dns serving DNS on ${running.server.addresses.map(fmt).join(',')} (udp, tcp) for ${zone}` +
    `${upstreams ? `, forwarding to ${upstreams.map((u) => u.label).join(',')}` : ', no forwarding'}\n`);
  if (running.http) process.stdout.write(`podnet dns serving HTTP on ${running.http.addresses.map(fmt).join(',')} (/metrics, /health, /ready)\n`);
  await runUntilSignal(() => running.stop().catch((e: unknown) => { process.stderr.write(`podnet dns: stopping: ${(e as Error).message}\n`); }), (stop) => {
    stopNow = stop;
    if (loopMsg) stop();
  });
  if (loopMsg) throw new CliError(`dns: ${loopMsg}`, 1);
  return 0;
}
