// The Service registry's configuration (kube-apiserver's --service-cluster-ip-range,
// --service-node-port-range, --advertise-address), parsed and checked once, with messages that
// say what is wrong and how to fix it.

import { isIP } from 'node:net';
import { type PortRange, formatPortRange, parsePortRange } from '../../net/allocator.js';
import { type IPFamily, bitsOf, canonicalIP, formatCIDR, parseCIDR } from '../../net/cidr.js';
import { MIN_IPV6_PREFIX } from './clusterip.js';

export const DEFAULT_SERVICE_CLUSTER_IP_RANGE = '10.96.0.0/16';
export const DEFAULT_SERVICE_NODE_PORT_RANGE = '30000-32767';

export interface ServiceRangeConfig {
  /** One or two canonical CIDRs, primary first, one per family. */
  clusterIPRanges: string[];
  families: IPFamily[];
  nodePortRange: PortRange;
}

/** Parses `CIDR[,CIDR]`. Throws an Error whose message names the problem and the fix. */
export function parseServiceClusterIPRanges(text: string | string[]): { ranges: string[]; families: IPFamily[] } {
  const parts = (Array.isArray(text) ? text : text.split(',')).map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) throw new Error('no range given: give one CIDR, or two of different families, e.g. 10.96.0.0/16,fd00:10:96::/112');
  if (parts.length > 2) throw new Error(`"${parts.join(',')}" has more than two ranges: give at most one IPv4 and one IPv6 CIDR`);
  const ranges: string[] = [];
  const families: IPFamily[] = [];
  for (const p of parts) {
    const c = parseCIDR(p);
    if (!c) throw new Error(`"${p}" is not a CIDR: write it as ADDRESS/PREFIX, e.g. 10.96.0.0/16`);
    if (c.family === 'IPv6' && c.prefix < MIN_IPV6_PREFIX) {
      throw new Error(`${p} is too large: an IPv6 service range needs a prefix of /${MIN_IPV6_PREFIX} or longer, e.g. fd00:10:96::/112`);
    }
    const hostBits = bitsOf(c.family) - c.prefix;
    if ((c.family === 'IPv4' && hostBits < 2) || hostBits < 1) {
      throw new Error(`${p} holds no address a Service could use: give a shorter prefix, e.g. /24`);
    }
    if (families.includes(c.family)) throw new Error(`"${parts.join(',')}" has two ${c.family} ranges: give one per family`);
    families.push(c.family);
    ranges.push(formatCIDR(c));
  }
  return { ranges, families };
}

export function parseNodePortRange(text: string): PortRange {
  const r = parsePortRange(text);
  if (r.base < 1) throw new Error(`"${text}" includes port 0: start the range at 1 or above, e.g. ${DEFAULT_SERVICE_NODE_PORT_RANGE}`);
  return r;
}

export function parseAdvertiseAddress(text: string): string {
  if (!isIP(text)) throw new Error(`"${text}" is not an IP address: give the address clients reach this server at, e.g. 192.168.1.10`);
  if (text === '0.0.0.0' || text === '::') throw new Error(`"${text}" is unspecified: give one concrete address of this host`);
  return canonicalIP(text);
}

export function serviceRangeConfig(clusterIPRanges?: string | string[], nodePortRange?: string): ServiceRangeConfig {
  const { ranges, families } = parseServiceClusterIPRanges(clusterIPRanges ?? DEFAULT_SERVICE_CLUSTER_IP_RANGE);
  return { clusterIPRanges: ranges, families, nodePortRange: parseNodePortRange(nodePortRange ?? DEFAULT_SERVICE_NODE_PORT_RANGE) };
}

export { formatPortRange };
