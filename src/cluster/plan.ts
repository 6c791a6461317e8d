// The cluster's address plan and names, computed purely from the request and a view of the
// host (its addresses and routes, and the ranges other podnet clusters hold). `podnet up`
// applies the plan (network.ts); nothing here touches the machine.

import { canonicalCIDR, cidrsOverlap, mustParseCIDR, parseCIDR, addressAt, formatIP, type Cidr } from '../net/cidr.js';

export type IpFamilyMode = 'ipv4' | 'ipv6' | 'dual';

export interface Ranges {
  nodes: string[];
  pods: string[];
  services: string[];
}

export interface PlanRequest {
  name: string;
  nodes: number;
  ipFamily: IpFamilyMode;
  zones?: string[];
  /** Ranges given by flag are never changed; a conflict is an error naming the flag. */
  podCidrs?: string[];
  serviceCidrs?: string[];
  nodeCidrs?: string[];
}

export interface HostView {
  /** CIDRs of the addresses on the host's interfaces (e.g. 192.168.1.5/24), other podnet
   *  clusters' own links excluded (their ranges are in `clusters`). */
  addresses: string[];
  /** Destinations of the host's routes, default routes and other clusters' routes excluded. */
  routes: string[];
  /** Ranges held by other podnet clusters on this machine. */
  clusters: Array<{ name: string; ranges: Ranges }>;
}

export interface NodePlan {
  name: string;
  /** The node's network namespace (named like the node: DESIGN.md). */
  netns: string;
  /** Its interface in the underlay namespace (namespace-local name). */
  underlayPort: string;
  /** Its addresses on the node network, with prefix length (one per family). */
  addresses: string[];
  zone?: string;
}

export interface ClusterPlan {
  name: string;
  ipFamily: IpFamilyMode;
  ranges: Ranges;
  /** Which default ranges were moved because another cluster held them (for the message). */
  movedFrom?: Ranges;
  underlayNetns: string;
  underlayBridge: string;
  /** The host's end of the cluster's one link, in the host namespace. */
  hostLink: string;
  /** Its peer inside the underlay namespace. */
  hostPeer: string;
  /** The host's addresses on the node network (.1 / ::1). */
  hostAddresses: string[];
  nodes: NodePlan[];
  /** Cluster DNS address(es): the service range's .10 (DESIGN.md). */
  dnsAddresses: string[];
}

export class PlanError extends Error {}

/** Names go into interface names (15 bytes at most): keep them short and DNS-label shaped. */
export const CLUSTER_NAME_RE = /^[a-z]([a-z0-9-]{0,9}[a-z0-9])?$/;

const DEFAULTS = {
  v4: { nodes: (k: number) => `198.18.${k}.0/24`, pods: (k: number) => `10.${244 + k}.0.0/16`, services: (k: number) => `10.${96 + k}.0.0/16` },
  v6: {
    nodes: (k: number) => `fd00:198:18:${k.toString(16)}::/64`,
    pods: (k: number) => `fd00:10:${(0x244 + k).toString(16)}::/56`,
    services: (k: number) => `fd00:10:${(0x96 + k).toString(16)}::/112`,
  },
};

function families(mode: IpFamilyMode): Array<'v4' | 'v6'> {
  return mode === 'ipv4' ? ['v4'] : mode === 'ipv6' ? ['v6'] : ['v4', 'v6'];
}

function parseFlag(flag: string, values: string[] | undefined, fams: Array<'v4' | 'v6'>): string[] | undefined {
  if (!values?.length) return undefined;
  const out: string[] = [];
  for (const v of values) {
    const c = parseCIDR(v);
    if (!c) throw new PlanError(`--${flag} ${v} is not a CIDR: give e.g. ${flag === 'pod-cidr' ? '10.244.0.0/16' : flag === 'service-cidr' ? '10.96.0.0/16' : '198.18.0.0/24'}`);
    out.push(v);
  }
  const got = out.map((v) => (mustParseCIDR(v).family === 'IPv4' ? 'v4' : 'v6'));
  for (const f of fams) if (!got.includes(f)) throw new PlanError(`--${flag} needs an ${f === 'v4' ? 'IPv4' : 'IPv6'} range for --ip-family ${fams.length === 2 ? 'dual' : f === 'v4' ? 'ipv4' : 'ipv6'}`);
  return out;
}

interface Taken { what: string; cidr: Cidr; text: string }

function conflicts(cidrs: string[], taken: Taken[]): Taken | undefined {
  for (const c of cidrs) {
    const p = mustParseCIDR(c);
    const hit = taken.find((t) => t.cidr.family === p.family && cidrsOverlap(t.cidr, p));
    if (hit) return hit;
  }
  return undefined;
}

/**
 * The plan for `podnet up`. Default ranges held by another podnet cluster move to the next free
 * set; any range that overlaps an address or route of the host is refused, naming the flag.
 */
export function planCluster(req: PlanRequest, host: HostView): ClusterPlan {
  if (!CLUSTER_NAME_RE.test(req.name)) {
    throw new PlanError(`cluster name "${req.name}" must be 1-11 lower-case letters, digits or '-', starting with a letter (it prefixes interface names, which are limited to 15 characters): pick another with --name`);
  }
  if (!Number.isInteger(req.nodes) || req.nodes < 1 || req.nodes > 50) {
    throw new PlanError(`--nodes ${req.nodes} is out of range: give 1 to 50`);
  }
  const fams = families(req.ipFamily);
  const hostTaken: Taken[] = [];
  for (const a of host.addresses) {
    const c = parseCIDR(a);
    if (c && !/^(127\.|::1\/|fe80:)/.test(a)) hostTaken.push({ what: `the host address ${a}`, cidr: c, text: a });
  }
  for (const r of host.routes) {
    const c = parseCIDR(r.includes('/') ? r : `${r}/${r.includes(':') ? 128 : 32}`);
    if (c && c.prefix > 0 && !/^(127\.|fe80:|ff00:)/.test(r)) hostTaken.push({ what: `the host route to ${r}`, cidr: c, text: r });
  }
  const clusterTaken: Taken[] = [];
  for (const cl of host.clusters) {
    for (const r of [...cl.ranges.nodes, ...cl.ranges.pods, ...cl.ranges.services]) {
      clusterTaken.push({ what: `podnet cluster "${cl.name}" (${r})`, cidr: mustParseCIDR(r), text: r });
    }
  }

  const given = {
    nodes: parseFlag('node-cidr', req.nodeCidrs, fams),
    pods: parseFlag('pod-cidr', req.podCidrs, fams),
    services: parseFlag('service-cidr', req.serviceCidrs, fams),
  };
  const flagOf = { nodes: 'node-cidr', pods: 'pod-cidr', services: 'service-cidr' } as const;

  let moved = false;
  let chosen: Ranges | undefined;
  for (let k = 0; k < 16 && !chosen; k++) {
    const ranges: Ranges = { nodes: [], pods: [], services: [] };
    for (const kind of ['nodes', 'pods', 'services'] as const) {
      ranges[kind] = given[kind] ?? fams.map((f) => canonicalCIDR(DEFAULTS[f][kind](k)));
    }
    // Ranges of one cluster must not overlap each other either.
    const all = [...ranges.nodes, ...ranges.pods, ...ranges.services].map((r) => mustParseCIDR(r));
    for (let i = 0; i < all.length; i++) {
      for (let j = i + 1; j < all.length; j++) {
        if (all[i].family === all[j].family && cidrsOverlap(all[i], all[j])) {
          throw new PlanError(`the node, pod and service ranges overlap (${formatRange(all[i])} and ${formatRange(all[j])}): change --node-cidr, --pod-cidr or --service-cidr`);
        }
      }
    }
    let clash = false;
    for (const kind of ['nodes', 'pods', 'services'] as const) {
      // Another podnet cluster's ranges: move on to the next free set (unless given by flag).
      const other = conflicts(ranges[kind], clusterTaken);
      if (other) {
        if (given[kind]) throw new PlanError(`--${flagOf[kind]} ${ranges[kind].join(',')} overlaps ${other.what}: choose another range`);
        clash = true;
      }
    }
    if (clash) { moved = true; continue; }
    // Anything else on the host: refuse, naming the flag (DESIGN.md: network safety).
    for (const kind of ['nodes', 'pods', 'services'] as const) {
      const hit = conflicts(ranges[kind], hostTaken);
      if (hit) {
        throw new PlanError(`the ${kind === 'nodes' ? 'node' : kind === 'pods' ? 'pod' : 'service'} range ${ranges[kind].join(',')} overlaps ${hit.what}: choose another with --${flagOf[kind]}`);
      }
    }
    chosen = ranges;
  }
  if (!chosen) throw new PlanError('no free address ranges found for a new cluster: give --node-cidr, --pod-cidr and --service-cidr');

  // Each node gets a /24 (IPv4) or /64 (IPv6) of the pod range, and a node address.
  for (const r of chosen.pods) {
    const c = mustParseCIDR(r);
    const perNode = c.family === 'IPv4' ? 24 : 64;
    const fits = c.prefix > perNode ? 0 : 2 ** Math.min(perNode - c.prefix, 20);
    if (req.nodes > fits) {
      throw new PlanError(`--pod-cidr ${r} has room for ${fits} node${fits === 1 ? '' : 's'} (a /${perNode} each), not ${req.nodes}: give a larger range or fewer --nodes`);
    }
  }
  for (const r of chosen.nodes) {
    const c = mustParseCIDR(r);
    const room = c.family === 'IPv4' ? 2 ** (32 - c.prefix) - 3 : 2 ** Math.min(128 - c.prefix, 20) - 2;
    if (req.nodes > room) throw new PlanError(`--node-cidr ${r} has room for ${Math.max(room, 0)} nodes, not ${req.nodes}: give a larger range or fewer --nodes`);
  }
  const nodeCidrs = chosen.nodes.map((r) => mustParseCIDR(r));
  const hostAddresses = nodeCidrs.map((c) => `${formatIP(addressAt(c, 1))}/${c.prefix}`);
  const nodes: NodePlan[] = [];
  for (let i = 1; i <= req.nodes; i++) {
    const name = `${req.name}-node${i}`;
    nodes.push({
      name, netns: name, underlayPort: `n${i}`,
      addresses: nodeCidrs.map((c) => `${formatIP(addressAt(c, 1 + i))}/${c.prefix}`),
      zone: req.zones?.length ? req.zones[(i - 1) % req.zones.length] : undefined,
    });
  }
  const plan: ClusterPlan = {
    name: req.name, ipFamily: req.ipFamily, ranges: chosen,
    underlayNetns: `${req.name}-underlay`, underlayBridge: 'br0',
    hostLink: `${req.name}-h`, hostPeer: 'host0', hostAddresses, nodes,
    dnsAddresses: chosen.services.map((r) => formatIP(addressAt(mustParseCIDR(r), 10))),
  };
  if (moved) plan.movedFrom = { nodes: fams.map((f) => canonicalCIDR(DEFAULTS[f].nodes(0))), pods: fams.map((f) => canonicalCIDR(DEFAULTS[f].pods(0))), services: fams.map((f) => canonicalCIDR(DEFAULTS[f].services(0))) };
  return plan;
}

function formatRange(c: Cidr): string {
  return `${formatIP({ family: c.family, value: c.addr })}/${c.prefix}`;
}

/** The ranges of a plan, for other clusters' HostView. */
export const rangesOf = (p: ClusterPlan): Ranges => p.ranges;
