// The repair pass (upstream's RepairIPAddress and the NodePort repair controller), as pure
// functions of a snapshot: which IPAddress objects to create for Services that lack one, which
// to delete because no Service holds their address, and which node ports the stored Services
// hold. The caller applies the plan; run at start it makes a `kill -9` between the IPAddress
// write and the Service write (or the other way round on delete) leave nothing behind.

import type { KObject } from '../../api/meta.js';
import type { PortAllocator } from '../../net/allocator.js';
import { type Cidr, type IPFamily, canonicalIP, cidrContains, ipFamilyOf } from '../../net/cidr.js';
import { needsHealthCheck, serviceNodePorts } from './alloc.js';
import { type ServiceRef, isManagedIPAddress, parentService, refKey } from './clusterip.js';
import { clusterIPsOf, isHeadless, specOf, typeOf } from './families.js';

export interface RepairInput {
  services: KObject[];
  ipAddresses: KObject[];
  /** The CIDRs of every ServiceCIDR: an address outside all of them is out of range. */
  cidrs: Cidr[];
  /** Addresses with writes under way or changed since the snapshot: left for the next pass. */
  skip?: Set<string>;
}

export interface RepairPlan {
  /** IPAddress objects to create: a Service holds the address but no object records it. */
  create: Array<{ ip: string; family: IPFamily; svc: ServiceRef }>;
  /** IPAddress objects (name, uid) to delete: allocated by us, but no Service holds them. */
  orphans: Array<{ name: string; uid?: string }>;
  /** Problems a person should look at (upstream reports them as Events). */
  warnings: string[];
}

const refOf = (s: KObject): ServiceRef => ({ namespace: s.metadata.namespace ?? '', name: s.metadata.name ?? '' });

/** The ClusterIPs a stored Service holds (canonical text). */
export function heldClusterIPs(svc: KObject): string[] {
  const spec = specOf(svc);
  if (typeOf(spec) === 'ExternalName' || isHeadless(spec)) return [];
  const out: string[] = [];
  for (const ip of clusterIPsOf(spec)) {
    try { out.push(canonicalIP(ip)); } catch { /* not an address: nothing held */ }
  }
  return out;
}

export function planIPRepair(input: RepairInput): RepairPlan {
  const skip = input.skip ?? new Set<string>();
  const plan: RepairPlan = { create: [], orphans: [], warnings: [] };
  // Which Service holds each address.
  const holder = new Map<string, ServiceRef>();
  for (const svc of input.services) {
    const ref = refOf(svc);
    for (const ip of heldClusterIPs(svc)) {
      const other = holder.get(ip);
      if (other) plan.warnings.push(`ClusterIP ${ip} is held by both services ${refKey(other)} and ${refKey(ref)}`);
      else holder.set(ip, ref);
    }
  }
  // Recorded addresses whose Service is gone, or no longer holds them, are orphans.
  const recorded = new Map<string, KObject>();
  for (const o of input.ipAddresses) {
    const name = o.metadata.name!;
    const parent = parentService(o);
    const h = holder.get(name);
    if (h && parent && refKey(h) === refKey(parent)) { recorded.set(name, o); continue; }
    if (!isManagedIPAddress(o) || skip.has(name)) { recorded.set(name, o); continue; }
    plan.orphans.push({ name, uid: o.metadata.uid });
  }
  // Held addresses with no record get one; records naming another Service are reported.
  for (const [ip, ref] of holder) {
    if (skip.has(ip)) continue;
    const rec = recorded.get(ip);
    if (rec) {
      const parent = parentService(rec);
      if (!parent || refKey(parent) !== refKey(ref)) {
        plan.warnings.push(`ClusterIP ${ip} of service ${refKey(ref)} is recorded for ${parent ? refKey(parent) : 'something else'}`);
      }
      continue;
    }
    if (!input.cidrs.some((c) => cidrContains(c, ip))) {
      plan.warnings.push(`ClusterIP ${ip} of service ${refKey(ref)} is not in any ServiceCIDR`);
      continue;
    }
    plan.create.push({ ip, family: ipFamilyOf(ip)!, svc: ref });
  }
  return plan;
}

/**
 * Fills a node-port allocator from the stored Services. Returns what it could not mark:
 * ports held twice or outside the range.
 */
export function rebuildNodePorts(services: KObject[], ports: PortAllocator): string[] {
  const warnings: string[] = [];
  const owner = new Map<number, string>();
  for (const svc of services) {
    const spec = specOf(svc);
    const key = refKey(refOf(svc));
    const held = new Set(serviceNodePorts(spec));
    if (needsHealthCheck(spec) && typeof spec.healthCheckNodePort === 'number' && spec.healthCheckNodePort > 0) held.add(spec.healthCheckNodePort);
    for (const p of held) {
      if (!ports.contains(p)) { warnings.push(`node port ${p} of service ${key} is not in the range ${ports.rangeText}`); continue; }
      const other = owner.get(p);
      if (other) { warnings.push(`node port ${p} is held by both services ${other} and ${key}`); continue; }
      owner.set(p, key);
      if (!ports.has(p)) ports.allocate(p);
    }
  }
  return warnings;
}
