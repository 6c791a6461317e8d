// `podnet trace`: the path one connection takes through the service proxy's rules as they are
// installed on the node where the packet enters — the table is read back from the node's
// namespace (`nft list table`) and walked by the same tracer the tests use (src/proxy/trace.ts).
//
// Where the packet enters: a pod's packets enter its node from the pod network (prerouting);
// a node's own packets start in its output hook; the host's packets enter the first node from
// outside, through the host route for the service range.
//
// The pure parts (flag parsing, where the packet enters, formatting) are exported and tested
// without root; runTrace only gathers the inputs.

import { isIP } from 'node:net';
import { existsSync } from 'node:fs';
import { CliError, parseFlags } from './args.js';
import type { ClusterPlan, NodePlan } from '../cluster/plan.js';
import type { Ruleset } from '../net/nft-ruleset.js';
import { canonicalIP } from '../net/cidr.js';
import type { Origin, Packet, TraceResult } from '../proxy/trace.js';

export type Protocol = Packet['protocol'];

export interface Destination { ip: string; port: number; protocol: Protocol }

const TO_HELP = 'give IP:PORT[/tcp|udp|sctp], e.g. 10.96.0.10:53/udp or [fd00:10:96::a]:80';

/** "10.96.0.10:80", "10.96.0.10:53/udp", "[fd00::1]:80/tcp" → the destination; throws a CliError naming the fix. */
export function parseDestination(v: string): Destination {
  const m = /^(?:\[([^\]]+)\]|([^:/[\]]+)):(\d+)(?:\/([a-zA-Z]+))?$/.exec(v.trim());
  const ip = m ? (m[1] ?? m[2])! : '';
  const port = m ? Number(m[3]) : NaN;
  const protocol = (m?.[4] ?? 'tcp').toLowerCase();
  if (!m || !isIP(ip) || (m[1] !== undefined && isIP(ip) !== 6)) throw new CliError(`trace: --to ${v} is not an address and port: ${TO_HELP}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CliError(`trace: --to ${v}: port ${m[3]} is out of range: give 1-65535`);
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') throw new CliError(`trace: --to ${v}: unknown protocol "${m[4]}": give tcp, udp or sctp`);
  return { ip: canonicalIP(ip), port, protocol };
}

export type Source = { kind: 'pod'; namespace: string; name: string } | { kind: 'node'; name: string } | { kind: 'host' };

const FROM_HELP = 'give NAMESPACE/POD, node/NODE or host';

/** "default/client", "node/podnet-node1", "host". A pod in namespace "node" is written node/POD only if there is no such node (see resolveEntry). */
export function parseSource(v: string): Source {
  const s = v.trim();
  if (s === 'host') return { kind: 'host' };
  const m = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(s);
  if (!m) throw new CliError(`trace: --from ${v} is not a pod, node or the host: ${FROM_HELP}`);
  if (m[1] === 'node') return { kind: 'node', name: m[3]! };
  return { kind: 'pod', namespace: m[1]!, name: m[3]! };
}

/** The few fields of a Pod the tracer needs. */
export interface PodInfo { namespace: string; name: string; nodeName?: string; ips: string[]; phase?: string }

export function podInfo(o: Record<string, any>): PodInfo { // eslint-disable-line @typescript-eslint/no-explicit-any
  const st = o.status ?? {};
  const ips: string[] = Array.isArray(st.podIPs) && st.podIPs.length ? st.podIPs.map((p: { ip?: string }) => p.ip).filter((ip: unknown): ip is string => typeof ip === 'string') : st.podIP ? [st.podIP] : [];
  return {
    namespace: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '',
    ...(o.spec?.nodeName ? { nodeName: o.spec.nodeName as string } : {}),
    ips, ...(st.phase ? { phase: st.phase as string } : {}),
  };
}

export interface Entry {
  node: NodePlan;
  packet: Packet;
  /** "pod default/client (10.244.1.5)" */
  fromText: string;
}

const familyOf = (ip: string) => (isIP(ip) === 6 ? 6 : 4);
const bare = (cidr: string) => cidr.split('/')[0]!;

/** Where the packet enters and with what source address; throws a CliError naming the fix. */
export function resolveEntry(src: Source, dst: Destination, plan: ClusterPlan, pod?: PodInfo): Entry {
  const fam = familyOf(dst.ip);
  const famName = fam === 4 ? 'IPv4' : 'IPv6';
  const nodeNames = plan.nodes.map((n) => n.name).join(', ');
  const base = { dst: dst.ip, dport: dst.port, protocol: dst.protocol };
  if (src.kind === 'host') {
    const node = plan.nodes[0];
    if (!node) throw new CliError(`trace: cluster "${plan.name}" has no nodes`);
    const addr = plan.hostAddresses.map(bare).find((a) => familyOf(a) === fam);
    if (!addr) throw new CliError(`trace: the host has no ${famName} address in cluster "${plan.name}" (--ip-family ${plan.ipFamily}): trace an ${fam === 4 ? 'IPv6' : 'IPv4'} destination`);
    return { node, packet: { ...base, src: addr, from: 'outside' }, fromText: `the host (${addr}), entering ${node.name}` };
  }
  if (src.kind === 'node') {
    const node = plan.nodes.find((n) => n.name === src.name);
    if (!node) throw new CliError(`trace: "${src.name}" is not a node of cluster "${plan.name}": its nodes are ${nodeNames}`);
    const addr = node.addresses.map(bare).find((a) => familyOf(a) === fam);
    if (!addr) throw new CliError(`trace: node ${node.name} has no ${famName} address: trace an ${fam === 4 ? 'IPv6' : 'IPv4'} destination`);
    return { node, packet: { ...base, src: addr, from: 'node' }, fromText: `node ${node.name} (${addr})` };
  }
  const id = `${src.namespace}/${src.name}`;
  if (!pod) throw new CliError(`trace: pod ${id} not found in cluster "${plan.name}": check the name with "kubectl get pods -n ${src.namespace}"`);
  if (!pod.nodeName) throw new CliError(`trace: pod ${id} is not scheduled to a node yet: wait for it (kubectl get pod -n ${src.namespace} ${src.name} -o wide)`);
  const node = plan.nodes.find((n) => n.name === pod.nodeName);
  if (!node) throw new CliError(`trace: pod ${id} runs on "${pod.nodeName}", which is not a node of cluster "${plan.name}" (${nodeNames})`);
  if (pod.ips.length === 0) throw new CliError(`trace: pod ${id} has no IP yet${pod.phase ? ` (phase ${pod.phase})` : ''}: wait until it is Running`);
  const addr = pod.ips.find((a) => familyOf(a) === fam);
  if (!addr) throw new CliError(`trace: pod ${id} has no ${famName} address (it has ${pod.ips.join(', ')}): trace an ${fam === 4 ? 'IPv6' : 'IPv4'} destination`);
  return { node, packet: { ...base, src: canonicalIP(addr), from: 'pod' }, fromText: `pod ${id} (${canonicalIP(addr)}) on ${node.name}` };
}

const endpointText = (ip: string, port: number) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** Long verdict map literals ({ 0 : goto …, 1 : goto … }) shortened to their arm count. */
function shortRule(rule: string): string {
  return rule.replace(/\{[^{}]{80,}\}/g, (lit) => `{ ${lit.split(',').length} arms }`);
}

const ORIGIN_TEXT: Record<Origin, string> = {
  pod: 'from the pod network: prerouting, then forward (or input, for the node itself)',
  node: "the node's own connection: output, then postrouting",
  outside: 'from outside the pod network: prerouting, then forward (or input), then postrouting',
};

export interface FormatInput {
  fromText: string;
  packet: Packet;
  node: string;
  netns: string;
  table: string;
  ruleset: Ruleset;
  result: TraceResult;
}

/** The trace as a person reads it: the packet, the matched rules by hook, and what happens. */
export function formatTrace(inp: FormatInput): string {
  const { packet: p, result: r, ruleset } = inp;
  const lines: string[] = [];
  lines.push(`packet   ${p.protocol} ${p.src} → ${endpointText(p.dst, p.dport)}`);
  lines.push(`from     ${inp.fromText}`);
  lines.push(`table    inet ${inp.table} on node ${inp.node} (netns ${inp.netns}), ${ORIGIN_TEXT[p.from]}`);
  lines.push('');
  // Only the fixed chains ran (jumps into dispatch that found nothing): the proxy leaves the packet alone.
  if (r.verdict === 'accept' && !r.dnat && !r.masquerade && r.candidates.length === 0) {
    lines.push('No rule of the proxy matched: the packet passes unchanged.');
    lines.push(`${endpointText(p.dst, p.dport)}/${p.protocol} is not a Service address or NodePort this node knows (check: kubectl get svc -A).`);
    return lines.join('\n') + '\n';
  }
  const width = Math.min(48, Math.max(...r.steps.map((s) => s.chain.length)));
  let hook = '';
  const seenChain = new Set<string>();
  for (const s of r.steps) {
    if (s.hook !== hook) { hook = s.hook; lines.push(`${hook}:`); }
    // The first time a per-Service chain shows, say which Service port it belongs to.
    const chainComment = !seenChain.has(s.chain) ? ruleset.chains.get(s.chain)?.comment : undefined;
    seenChain.add(s.chain);
    const note = s.comment ?? chainComment;
    lines.push(`  ${s.chain.padEnd(width)}  ${shortRule(s.rule)}${note ? `   # ${note}` : ''}`);
  }
  lines.push('');
  if (r.candidates.length > 1) {
    lines.push(`endpoints  ${r.candidates.length}, one picked at random per connection: ${r.candidates.join(', ')}`);
    lines.push(`           (this trace follows the first; every other is reached the same way)`);
  } else if (r.candidates.length === 1) {
    lines.push(`endpoints  1: ${r.candidates[0]}`);
  }
  if (r.affinityUpdated.length) lines.push(`affinity   ClientIP: the client is remembered (${r.affinityUpdated.join(', ')}) and sent to the same endpoint until the timeout`);
  if (r.verdict === 'reject') {
    lines.push(`result     REJECTED (${r.rejectWith}): the Service has no usable endpoints, so the connection fails at once`);
  } else if (r.verdict === 'drop') {
    lines.push('result     DROPPED: the Service has endpoints, but none this node may use (traffic policy Local and none here)');
  } else if (r.dnat) {
    lines.push(`result     DNAT to ${r.dnat}`);
    lines.push(r.masquerade
      ? `           masqueraded: the endpoint sees the node's address as the source, and replies come back through this node`
      : `           not masqueraded: the endpoint sees the client's address ${p.src}`);
  } else {
    lines.push(`result     accepted unchanged${r.masquerade ? ', masqueraded' : ''}`);
  }
  return lines.join('\n') + '\n';
}

export async function runTrace(argv: string[]): Promise<number> {
  const f = parseFlags('trace', argv, {
    name: { type: 'string', default: 'podnet', help: 'cluster name' },
    from: { type: 'string', help: 'where the connection starts: NAMESPACE/POD, node/NODE or host' },
    to: { type: 'string', help: 'destination IP:PORT[/tcp|udp|sctp] (default tcp)' },
    table: { type: 'string', default: 'podnet-proxy', help: "the proxy's nftables table" },
    json: { type: 'boolean', default: false, help: 'print the trace as JSON' },
  });
  if (!f) return 0;
  const v = f.values;
  if (!v.from) throw new CliError(`trace: --from is required: ${FROM_HELP}`);
  if (!v.to) throw new CliError(`trace: --to is required: ${TO_HELP}`);
  const src = parseSource(v.from);
  const dst = parseDestination(v.to);
  const name = v.name!;

  const { readState, kubeconfigPath, stateDir } = await import('../cluster/state.js');
  const state = readState(name);
  if (!state) throw new CliError(`trace: no cluster "${name}" on this machine (no ${stateDir(name)}/state.json): create it with "podnet up --name ${name}", or pick one with --name (podnet list)`, 1);
  if (process.getuid?.() !== 0) throw new CliError('trace: reading the rules in a node\'s network namespace needs root: run it as root (e.g. sudo bin/podnet trace …)');

  let pod: PodInfo | undefined;
  if (src.kind === 'pod') {
    const kc = kubeconfigPath(name);
    if (!existsSync(kc)) throw new CliError(`trace: cluster "${name}" has no kubeconfig (${kc}): is it up? (podnet status --name ${name})`, 1);
    const { ApiClient } = await import('../client/client.js');
    const { loadKubeconfig } = await import('../client/kubeconfig.js');
    const { PODS } = await import('../client/resources.js');
    const { StatusError } = await import('../api/errors.js');
    const client = new ApiClient(loadKubeconfig(kc), { userAgent: 'podnet-trace', timeoutMs: 10_000, maxRetries: 0 });
    try {
      pod = podInfo(await client.resource(PODS, src.namespace).get(src.name) as Record<string, unknown>);
    } catch (e) {
      if (!(e instanceof StatusError && e.code === 404)) {
        throw new CliError(`trace: cannot read pod ${src.namespace}/${src.name} from the API server of cluster "${name}": ${(e as Error).message} (is it running? podnet status --name ${name})`, 1);
      }
    } finally {
      client.close();
    }
  }
  const entry = resolveEntry(src, dst, state.plan, pod);

  const { RealNft } = await import('../net/nft.js');
  const { FakeNft } = await import('../net/nft-fake.js');
  const { Ip } = await import('../net/ip.js');
  const { trace } = await import('../proxy/trace.js');
  let listing: string;
  try {
    listing = await new RealNft('inet', v.table!, entry.node.netns).listing();
  } catch (e) {
    throw new CliError(`trace: cannot read the rules of node ${entry.node.name}: ${(e as Error).message}`, 1);
  }
  if (!listing.trim()) throw new CliError(`trace: node ${entry.node.name} has no table inet ${v.table} (netns ${entry.node.netns}): is its proxy running? (podnet status --name ${name})`, 1);
  const fake = new FakeNft('inet', v.table!, { validate: false });
  fake.loadListing(listing);
  const local = (await new Ip(entry.node.netns).addrs()).flatMap((l) => (l.addr_info ?? []).map((a) => a.local));
  let result;
  try {
    result = trace(fake.ruleset!, entry.packet, { localAddresses: local });
  } catch (e) {
    throw new CliError(`trace: cannot follow the packet through the rules of node ${entry.node.name}: ${(e as Error).message} (was the table edited by hand? "ip netns exec ${entry.node.netns} nft list table inet ${v.table}" shows it)`, 1);
  }
  if (v.json) {
    process.stdout.write(JSON.stringify({ from: entry.fromText, node: entry.node.name, packet: entry.packet, ...result }, null, 2) + '\n');
  } else {
    process.stdout.write(formatTrace({ fromText: entry.fromText, packet: entry.packet, node: entry.node.name, netns: entry.node.netns, table: v.table!, ruleset: fake.ruleset!, result }));
  }
  return 0;
}
