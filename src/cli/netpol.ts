// `podnet netpol`: NetworkPolicy enforcement for the pods of one node, in the foreground until
// SIGINT/SIGTERM. `--cleanup` removes its table and exits.
// `podnet netpol matrix`: expected (policies, src/netpol/analyzer.ts) against observed (probes from
// inside each source pod's network namespace) reachability of a `podnet up` cluster's pods.
// `podnet netpol explain`: the analyzer's verdict on one connection, in words.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CliError, parseFlags } from './args.js';
import { runUntilSignal } from '../util/signals.js';
import type { Snapshot } from '../netpol/match.js';
import type { NamespaceRecord, PodRecord, PolicyRecord, Protocol } from '../netpol/model.js';

function durationMs(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new CliError(`netpol: --${flag} ${v} is not a duration: give e.g. 1s, 500ms or 2m`);
  const unit = m[2] ?? 's';
  return Math.round(Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : 60_000));
}

export async function runNetpol(argv: string[]): Promise<number> {
  if (argv[0] === 'matrix') return runMatrix(argv.slice(1));
  if (argv[0] === 'explain') return runExplain(argv.slice(1));
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
  // The table stays: a restarted netpol adopts it, and policies stay enforced meanwhile.
  await runUntilSignal(() => running.stop().catch((e: unknown) => { process.stderr.write(`podnet netpol: stopping: ${(e as Error).message}\n`); }));
  return 0;
}

// ---- matrix and explain -------------------------------------------------------------------------

const POD_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

interface Live { snap: Snapshot; pods: PodRecord[]; phases: Map<string, string>; errors: string[] }

/** Namespaces, pods and policies of cluster `name`, read from its API server. */
async function readCluster(cmd: string, name: string): Promise<Live> {
  const { readState, kubeconfigPath, stateDir } = await import('../cluster/state.js');
  if (!readState(name)) throw new CliError(`netpol ${cmd}: no cluster "${name}" on this machine (no ${stateDir(name)}/state.json): create it with "podnet up --name ${name}", or pick one with --name (podnet list)`, 1);
  const kc = kubeconfigPath(name);
  if (!existsSync(kc)) throw new CliError(`netpol ${cmd}: cluster "${name}" has no kubeconfig (${kc}): is it up? (podnet status --name ${name})`, 1);
  const { ApiClient } = await import('../client/client.js');
  const { loadKubeconfig } = await import('../client/kubeconfig.js');
  const { PODS, NAMESPACES } = await import('../client/resources.js');
  const { NETWORKPOLICIES } = await import('../netpol/index.js');
  const { stripNamespace, stripPod, stripPolicy } = await import('../netpol/model.js');
  const client = new ApiClient(loadKubeconfig(kc), { userAgent: `podnet-netpol-${cmd}`, timeoutMs: 10_000, maxRetries: 0 });
  try {
    const [nsl, podl, poll] = await Promise.all([
      client.resource(NAMESPACES).list(), client.resource(PODS).list(), client.resource(NETWORKPOLICIES).list(),
    ]);
    const namespaces = new Map<string, NamespaceRecord>();
    for (const o of nsl.items) { const r = stripNamespace(o); namespaces.set(r.name, r); }
    const pods = podl.items.map(stripPod);
    const phases = new Map<string, string>();
    for (const o of podl.items as Array<{ metadata?: { namespace?: string; name?: string }; status?: { phase?: string } }>) {
      phases.set(`${o.metadata?.namespace}/${o.metadata?.name}`, o.status?.phase ?? '');
    }
    const policies: PolicyRecord[] = [];
    const errors: string[] = [];
    for (const o of poll.items) { const r = stripPolicy(o); if (r.ok) policies.push(r.rec); else errors.push(r.error); }
    return { snap: { namespaces, pods, policies }, pods, phases, errors };
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`netpol ${cmd}: cannot read the cluster "${name}" from its API server: ${(e as Error).message} (is it running? podnet status --name ${name})`, 1);
  } finally {
    client.close();
  }
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      done({ code, stdout: String(stdout), stderr: String(stderr) || (err && !stderr ? err.message : '') });
    });
  });
}

export async function runMatrix(argv: string[]): Promise<number> {
  const f = parseFlags('netpol matrix', argv, {
    name: { type: 'string', default: 'podnet', help: 'the cluster (podnet list)' },
    namespaces: { type: 'string', short: 'n', help: 'comma-separated namespaces whose pods are checked (default: all but kube-system)' },
    ports: { type: 'string', default: '80', help: 'comma-separated ports or ranges, e.g. 80,81 or 8080-8082' },
    protocols: { type: 'string', default: 'tcp', help: 'comma-separated protocols: tcp, udp, sctp (sctp probes need a kernel with SCTP and socat)' },
    'ip-family': { type: 'string', default: 'ipv4', help: 'which address of each pod is probed: ipv4 or ipv6' },
    timeout: { type: 'string', default: '1s', help: 'how long one probe waits' },
  });
  if (!f) return 0;
  const v = f.values;
  const m = await import('../netpol/matrix.js');
  const { Analyzer } = await import('../netpol/analyzer.js');
  let ports: number[];
  let protocols: Protocol[];
  try {
    ports = m.parsePorts(v.ports!);
    protocols = m.parseProtocols(v.protocols!);
  } catch (e) {
    throw new CliError(`netpol matrix: ${(e as Error).message}`);
  }
  const timeoutMs = durationMs('timeout', v.timeout, 1000);
  const famFlag = v['ip-family']!.trim().toLowerCase();
  if (famFlag !== 'ipv4' && famFlag !== 'ipv6') throw new CliError(`netpol matrix: --ip-family ${v['ip-family']} is not one of ipv4, ipv6`);
  const family: 4 | 6 = famFlag === 'ipv6' ? 6 : 4;
  const name = v.name!;
  const wanted = v.namespaces?.split(',').map((s) => s.trim()).filter(Boolean);
  if (v.namespaces !== undefined && !wanted?.length) throw new CliError('netpol matrix: -n is empty: give namespaces, e.g. -n x,y');
  if (process.getuid?.() !== 0) throw new CliError('netpol matrix: probing from inside the pods\' network namespaces needs root: run it as root (e.g. sudo bin/podnet netpol matrix …)');

  const live = await readCluster('matrix', name);
  for (const e of live.errors) process.stderr.write(`podnet netpol matrix: warning: ${e} (left out of the expected tables)\n`);
  for (const ns of wanted ?? []) {
    if (!live.snap.namespaces.has(ns)) throw new CliError(`netpol matrix: namespace "${ns}" not found in cluster "${name}": check with "kubectl get namespaces"`, 1);
  }
  const inScope = (ns: string) => (wanted ? wanted.includes(ns) : ns !== 'kube-system');
  const skipped: string[] = [];
  const pods: Array<{ key: string; ip: string }> = [];
  for (const p of [...live.pods].sort((a, b) => (`${a.namespace}/${a.name}` < `${b.namespace}/${b.name}` ? -1 : 1))) {
    if (!inScope(p.namespace)) continue;
    const key = `${p.namespace}/${p.name}`;
    if (p.hostNetwork) { skipped.push(`${key} (host network)`); continue; }
    if (live.phases.get(key) !== 'Running' || !p.ips.length) { skipped.push(`${key} (${live.phases.get(key) || 'no phase'}${p.ips.length ? '' : ', no IP'})`); continue; }
    const ip = m.addressOfFamily(p.ips, family);
    if (!ip) { skipped.push(`${key} (no IPv${family} address)`); continue; }
    pods.push({ key, ip });
  }
  if (skipped.length) process.stdout.write(`not in the matrix (not Running with an IP, or host network): ${skipped.join(', ')}\n`);
  if (!pods.length) throw new CliError(`netpol matrix: no Running pods with an IPv${family} address in ${wanted ? `namespaces ${wanted.join(', ')}` : 'the cluster (outside kube-system)'}: check with "kubectl get pods -A -o wide"${family === 6 ? ' (is the cluster dual-stack or IPv6? podnet up --ip-family dual)' : ''}`, 1);

  // Each pod's sandbox namespace, found by its address.
  const list = await run('ip', ['netns', 'list'], 10_000);
  if (list.code !== 0) throw new CliError(`netpol matrix: ip netns list failed: ${list.stderr.trim()}`, 1);
  const nsByIP = new Map<string, string>();
  await Promise.all(m.sandboxNetns(name, list.stdout).map(async (ns) => {
    const r = await run('ip', ['-n', ns, '-o', 'addr', 'show'], 10_000);
    if (r.code === 0) for (const ip of m.addressesOf(r.stdout)) nsByIP.set(ip, ns);
  }));

  const analyzer = new Analyzer(live.snap);
  const all = m.cases(ports, protocols);
  const sctpSkip = protocols.includes('SCTP') ? m.sctpSkipReason(await sctpFacts()) : undefined;
  if (sctpSkip) process.stdout.write(`${sctpSkip}\n`);
  const probed = all.filter((c) => c.protocol !== 'SCTP' || !sctpSkip);
  const idx = new Map(pods.map((p, i) => [p.key, i]));
  // actual[case][from][to]
  const actual: Array<Array<Array<boolean | undefined>>> = all.map(() => pods.map(() => pods.map(() => undefined)));
  const failures: string[] = [];
  const targets = probed.flatMap((c) => pods.map((p) => ({ ip: p.ip, port: c.port, protocol: c.protocol,
    ...(c.protocol === 'SCTP' ? { argv: m.sctpClientArgv(p.ip, c.port, timeoutMs) } : {}) })));
  process.stdout.write(`probing ${pods.length}×${pods.length} pod pairs × ${probed.length} port/protocol${probed.length === 1 ? '' : 's'} over IPv${family} (one probe process per source pod, ${timeoutMs} ms timeout)…\n`);
  // podnet's built-in agnhost serves no SCTP: responders (socat) in every destination pod, stopped by PID afterwards.
  const responders: ChildProcess[] = [];
  const sctpPorts = probed.filter((c) => c.protocol === 'SCTP').map((c) => c.port);
  try {
    for (const p of sctpPorts.length ? pods : []) {
      const ns = nsByIP.get(p.ip);
      if (!ns) continue;
      for (const port of sctpPorts) {
        const child = spawn('ip', ['netns', 'exec', ns, ...m.sctpServerArgv(port, family)], { stdio: 'ignore' });
        child.on('error', () => undefined);
        responders.push(child);
      }
    }
    if (responders.length) await new Promise((ok) => setTimeout(ok, 300));
    await Promise.all(pods.map(async (from) => {
      const ns = nsByIP.get(from.ip);
      if (!ns) { failures.push(`${from.key}: no network namespace of cluster "${name}" has its address ${from.ip} (is the pod's sandbox on this machine?)`); return; }
      if (!targets.length) return;
      const r = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', m.probeScript(targets, timeoutMs)], timeoutMs * 3 + 10_000);
      let res;
      try {
        if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
        res = m.parseProbeOutput(r.stdout, targets.length);
      } catch (e) {
        failures.push(`${from.key}: the probe in ${ns} failed: ${(e as Error).message}`);
        return;
      }
      const i = idx.get(from.key)!;
      res.forEach((x, t) => {
        const c = Math.floor(t / pods.length);
        const j = t % pods.length;
        actual[all.indexOf(probed[c]!)]![i]![j] = x.ok;
      });
    }));
  } finally {
    for (const r of responders) { try { if (r.exitCode === null) r.kill('SIGKILL'); } catch { /* gone */ } }
  }

  let mismatches = 0;
  const out: string[] = [''];
  all.forEach((c, k) => {
    const expected = m.expectedGrid(analyzer, pods, c);
    if (c.protocol === 'SCTP' && sctpSkip) {
      out.push(...m.formatCase(c, pods, expected, undefined, sctpSkip));
      return;
    }
    mismatches += m.diffGrids(pods, expected, actual[k]!).length;
    out.push(...m.formatCase(c, pods, expected, actual[k]));
  });
  for (const fl of failures) out.push(`probe failure: ${fl}`);
  const checked = probed.length * pods.length * pods.length;
  out.push(mismatches
    ? `FAIL: ${mismatches} of ${checked} probed cells differ from the policies`
    : `OK: all ${checked} probed cells agree with the policies${probed.length < all.length ? ' (SCTP not probed: see above)' : ''}`);
  process.stdout.write(out.join('\n') + '\n');
  return mismatches ? 1 : 0;
}

/** Whether this machine can make SCTP probes: kernel support (as a socket call sees it) and socat. */
async function sctpFacts(): Promise<import('../netpol/matrix.js').SctpFacts> {
  const procSctp = existsSync('/proc/sys/net/sctp');
  // Node.js cannot open SCTP sockets; python3 can try (it also loads the module where one exists).
  const py = await run('python3', ['-c', 'import socket, errno\ntry:\n  socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132).close(); print("ok")\nexcept OSError as e:\n  print(errno.errorcode.get(e.errno, str(e.errno)))'], 10_000);
  const said = py.code === 0 ? py.stdout.trim() : undefined;
  const socat = (await run('socat', ['-V'], 10_000)).code === 0;
  return { procSctp, ...(said !== undefined ? { socketError: said === 'ok' ? '' : said } : {}), socat };
}

export async function runExplain(argv: string[]): Promise<number> {
  const f = parseFlags('netpol explain', argv, {
    name: { type: 'string', default: 'podnet', help: 'the cluster (podnet list)' },
    from: { type: 'string', help: 'the sending pod: NAMESPACE/POD (required)' },
    to: { type: 'string', help: 'the receiving pod: NAMESPACE/POD (required)' },
    port: { type: 'string', help: 'destination port, 1-65535 (required)' },
    protocol: { type: 'string', default: 'tcp', help: 'tcp, udp or sctp' },
  });
  if (!f) return 0;
  const v = f.values;
  for (const flag of ['from', 'to'] as const) {
    if (!v[flag]) throw new CliError(`netpol explain: --${flag} is required: give NAMESPACE/POD, e.g. --${flag} default/client`);
    if (!POD_RE.test(v[flag]!.trim())) throw new CliError(`netpol explain: --${flag} ${v[flag]} is not a pod: give NAMESPACE/POD, e.g. default/client`);
  }
  if (v.port === undefined) throw new CliError('netpol explain: --port is required: give the destination port, 1-65535');
  const port = Number(v.port);
  if (!/^\d+$/.test(v.port.trim()) || port < 1 || port > 65535) throw new CliError(`netpol explain: --port ${v.port} is not a port number: give 1-65535`);
  const protocol = v.protocol!.toUpperCase();
  if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') throw new CliError(`netpol explain: --protocol ${v.protocol} is unknown: give tcp, udp or sctp`);
  const from = v.from!.trim();
  const to = v.to!.trim();
  const name = v.name!;
  const live = await readCluster('explain', name);
  const { Analyzer, explain } = await import('../netpol/analyzer.js');
  const analyzer = new Analyzer(live.snap);
  for (const key of [from, to]) {
    const p = analyzer.pod(key);
    const ns = key.split('/')[0];
    if (!p) throw new CliError(`netpol explain: pod ${key} not found in cluster "${name}": check the name with "kubectl get pods -n ${ns}"`, 1);
    if (!p.ips.length) throw new CliError(`netpol explain: pod ${key} has no IP yet (phase ${live.phases.get(key) || 'unknown'}): wait until it is Running`, 1);
  }
  for (const e of live.errors) process.stderr.write(`podnet netpol explain: warning: ${e} (not taken into account)\n`);
  let verdict;
  try {
    verdict = analyzer.check({ from: { pod: from }, to: { pod: to }, port, protocol: protocol as Protocol });
  } catch (e) {
    throw new CliError(`netpol explain: ${(e as Error).message}`, 1);
  }
  process.stdout.write(`${from} → ${to} ${protocol}/${port}\n` + explain(verdict).join('\n') + '\n');
  return 0;
}
