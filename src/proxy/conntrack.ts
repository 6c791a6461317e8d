// UDP has no connection teardown, so a conntrack entry that DNATs a client's flow to an
// endpoint that is gone keeps black-holing it (a DNS client keeps asking a dead pod). After a
// sync removes UDP endpoints, their entries are deleted, as kube-proxy's conntrack cleanup does.
// The pure part lists `conntrack -D` argument lists; the shell runs them.

import { run } from '../net/exec.js';
import type { ServicePortInfo } from './rules.js';

const portKey = (p: ServicePortInfo) => `${p.name}|${p.family}|${p.protocol}`;
const ipOfEndpoint = (ep: string) => ep.replace(/^\[?(.*?)\]?:\d+$/, '$1');

/** The `conntrack -D …` argument lists that clear UDP flows to endpoints removed between `before` and `after`. */
export function staleUdpFlows(before: readonly ServicePortInfo[], after: readonly ServicePortInfo[]): string[][] {
  const now = new Map(after.map((p) => [portKey(p), p]));
  const out: string[][] = [];
  for (const old of before) {
    if (old.protocol !== 'UDP') continue;
    const cur = now.get(portKey(old));
    const keep = new Set(cur?.endpoints ?? []);
    const fam = old.family === 6 ? ['-f', 'ipv6'] : [];
    for (const ep of old.endpoints) {
      if (keep.has(ep)) continue;
      const ip = ipOfEndpoint(ep);
      for (const vip of [old.clusterIP, ...old.externalIPs, ...old.loadBalancerIPs]) {
        out.push(['-D', ...fam, '-p', 'udp', '--orig-dst', vip, '--orig-port-dst', String(old.port), '--dst-nat', ip]);
      }
      if (old.nodePort) out.push(['-D', ...fam, '-p', 'udp', '--orig-port-dst', String(old.nodePort), '--dst-nat', ip]);
    }
  }
  return out;
}

/** Runs one `conntrack` command in `netns`; "0 flow entries" is success. Throws when conntrack is missing. */
export async function runConntrack(args: string[], netns?: string): Promise<void> {
  const r = await run('conntrack', args, { netns, allowFailure: true, timeoutMs: 10_000 });
  if (r.code === 0 || /0 flow entries have been deleted/.test(r.stderr)) return;
  throw new Error(`conntrack ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
}
