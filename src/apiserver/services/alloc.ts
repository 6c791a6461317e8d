// What a Service create, update and delete allocate and release (upstream's Service REST
// allocators, pkg/registry/core/service/storage/alloc.go): ClusterIPs per ipFamilies,
// NodePorts per port, the health-check node port. Each create/update yields a transaction the
// storage commits when the Service is stored and reverts when it is not (validation failed,
// conflict, …), so nothing is leaked: releases are deferred to commit, reservations undone on
// revert.

import { type FieldError, errInternal, errInvalid, invalid } from '../../api/errors.js';
import { type KObject, isObject } from '../../api/meta.js';
import { AllocatorError, type PortAllocator, PortOperation } from '../../net/allocator.js';
import { type IPFamily, ipFamilyOf } from '../../net/cidr.js';
import type { ClusterIPAllocator, ServiceRef } from './clusterip.js';
import {
  type Spec, clusterIPsOf, familiesOf, initIPFamilyFields, isHeadless, isUnchangedPreferDualStack, specOf, typeOf,
} from './families.js';

export interface Txn {
  commit(): Promise<void>;
  revert(): Promise<void>;
}

const nothing: Txn = { commit: async () => {}, revert: async () => {} };

function allTxn(txns: Txn[]): Txn {
  return {
    commit: async () => { for (const t of txns) await t.commit(); },
    revert: async () => { for (const t of [...txns].reverse()) await t.revert(); },
  };
}

type Port = Record<string, unknown>;
const portsOf = (s: Spec): Port[] => (Array.isArray(s.ports) ? s.ports.filter(isObject) as Port[] : []);
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const needsNodePorts = (s: Spec) => typeOf(s) === 'NodePort' || typeOf(s) === 'LoadBalancer';
/** apiservice.NeedsHealthCheck */
export const needsHealthCheck = (s: Spec) => typeOf(s) === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
/** shouldAllocateNodePorts: NodePort always; LoadBalancer unless allocateLoadBalancerNodePorts is false. */
const shouldAllocateNodePorts = (s: Spec) =>
  typeOf(s) === 'NodePort' || (typeOf(s) === 'LoadBalancer' && s.allocateLoadBalancerNodePorts !== false);
/** The node ports a Service holds (collectServiceNodePorts). */
export const serviceNodePorts = (s: Spec): number[] => portsOf(s).map((p) => num(p.nodePort)).filter((n) => n !== 0);

const refOf = (svc: KObject): ServiceRef => ({ namespace: svc.metadata.namespace ?? '', name: svc.metadata.name ?? '' });
const nameOf = (svc: KObject): string => svc.metadata.name ?? svc.metadata.generateName ?? '';
const invalidService = (svc: KObject, errs: FieldError[]) => errInvalid('Service', '', nameOf(svc), errs);

/** ClusterIPs to reserve, per family: '' for "any free one". */
type FamilyIPs = Map<IPFamily, string>;

export class ServiceAllocators {
  constructor(readonly ips: ClusterIPAllocator, readonly ports: PortAllocator, readonly families: IPFamily[]) {}

  // ---- create -------------------------------------------------------------------------------

  async allocateCreate(svc: KObject, dryRun: boolean): Promise<Txn> {
    const errs = initIPFamilyFields(svc, undefined, { families: this.families });
    if (errs.length) throw invalidService(svc, errs);
    const ipTxn = await this.txnClusterIPs(svc, await this.allocClusterIPs(svc, dryRun), undefined, dryRun);
    try {
      return allTxn([ipTxn, this.txnCreateNodePorts(svc, dryRun)]);
    } catch (e) {
      await ipTxn.revert();
      throw e;
    }
  }

  /** allocClusterIPs: reserves every family's address; on failure, what was reserved is freed. */
  private async allocClusterIPs(svc: KObject, dryRun: boolean): Promise<FamilyIPs> {
    const spec = specOf(svc);
    if (typeOf(spec) === 'ExternalName' || isHeadless(spec)) return new Map();
    const ips = clusterIPsOf(spec);
    const want: FamilyIPs = new Map();
    familiesOf(spec).forEach((f, i) => {
      if (i >= ips.length) ips.push('');
      want.set(f as IPFamily, ips[i]);
    });
    const got = await this.allocIPs(svc, want, dryRun);
    familiesOf(spec).forEach((f, i) => { if (got.has(f as IPFamily)) ips[i] = got.get(f as IPFamily)!; });
    spec.clusterIPs = ips;
    spec.clusterIP = ips[0];
    return got;
  }

  private async allocIPs(svc: KObject, want: FamilyIPs, dryRun: boolean): Promise<FamilyIPs> {
    const got: FamilyIPs = new Map();
    const ref = refOf(svc);
    try {
      for (const [family, ip] of want) {
        if (!ip) {
          try {
            got.set(family, await this.ips.allocateNext(family, ref, dryRun));
          } catch (e) {
            if (e instanceof AllocatorError) throw errInternal(`failed to allocate a serviceIP: ${e.message}`);
            throw e;
          }
        } else {
          try {
            got.set(family, await this.ips.allocate(ip, ref, dryRun));
          } catch (e) {
            if (e instanceof AllocatorError) {
              throw invalidService(svc, [invalid('spec.clusterIPs', clusterIPsOf(specOf(svc)), `failed to allocate IP ${ip}: ${e.message}`)]);
            }
            throw e;
          }
        }
      }
    } catch (e) {
      if (!dryRun) {
        for (const ip of got.values()) { this.ips.settle(ip); await this.ips.release(ip, ref); }
      }
      throw e;
    }
    return got;
  }

  /** Commit keeps `allocated` and frees `toRelease`; revert frees `allocated`. */
  private async txnClusterIPs(svc: KObject, allocated: FamilyIPs, toRelease: FamilyIPs | undefined, dryRun: boolean): Promise<Txn> {
    if (dryRun || (allocated.size === 0 && !toRelease?.size)) return nothing;
    const ref = refOf(svc);
    let done = false;
    return {
      commit: async () => {
        if (done) return;
        done = true;
        for (const ip of allocated.values()) this.ips.settle(ip);
        for (const ip of toRelease?.values() ?? []) await this.ips.release(ip, ref);
      },
      revert: async () => {
        if (done) return;
        done = true;
        for (const ip of allocated.values()) { this.ips.settle(ip); await this.ips.release(ip, ref); }
      },
    };
  }

  private txnCreateNodePorts(svc: KObject, dryRun: boolean): Txn {
    const spec = specOf(svc);
    const op = new PortOperation(this.ports, dryRun);
    try {
      if (needsNodePorts(spec)) initNodePorts(svc, op);
      if (needsHealthCheck(spec)) allocHealthCheckNodePort(spec, op);
    } catch (e) {
      op.revert();
      throw e;
    }
    return portTxn(op);
  }

  // ---- update -------------------------------------------------------------------------------

  async allocateUpdate(svc: KObject, old: KObject, dryRun: boolean): Promise<Txn> {
    const errs = initIPFamilyFields(svc, old, { families: this.families });
    if (errs.length) throw invalidService(svc, errs);
    const { allocated, toRelease } = await this.updateClusterIPs(svc, old, dryRun);
    const ipTxn = await this.txnClusterIPs(svc, allocated, toRelease, dryRun);
    try {
      return allTxn([ipTxn, this.txnUpdateNodePorts(svc, old, dryRun)]);
    } catch (e) {
      await ipTxn.revert();
      throw e;
    }
  }

  /**
   * The ClusterIP side of an update: ExternalName → other types allocates everything,
   * the reverse releases everything, single → dual allocates the secondary, dual → single
   * releases it. Releases happen at commit.
   */
  private async updateClusterIPs(svc: KObject, old: KObject, dryRun: boolean): Promise<{ allocated: FamilyIPs; toRelease?: FamilyIPs }> {
    const spec = specOf(svc);
    const oldSpec = specOf(old);
    const none: FamilyIPs = new Map();
    if (isUnchangedPreferDualStack(spec, oldSpec)) return { allocated: none };
    if (typeOf(oldSpec) === 'ExternalName' && typeOf(spec) !== 'ExternalName') {
      return { allocated: await this.allocClusterIPs(svc, dryRun) };
    }
    if (isHeadless(oldSpec)) return { allocated: none };
    const oldIPs = clusterIPsOf(oldSpec);
    const oldFams = familiesOf(oldSpec);
    if (typeOf(oldSpec) !== 'ExternalName' && typeOf(spec) === 'ExternalName') {
      const toRelease: FamilyIPs = new Map();
      oldFams.forEach((f, i) => { if (oldIPs[i]) toRelease.set(f as IPFamily, oldIPs[i]); });
      return { allocated: none, toRelease };
    }
    const fams = familiesOf(spec);
    if (oldFams.length === 1 && fams.length === 2) {
      const ips = clusterIPsOf(spec);
      if (ips.length < 2) ips.push('');
      spec.clusterIPs = ips;
      const got = await this.allocIPs(svc, new Map([[fams[1] as IPFamily, ips[1]]]), dryRun);
      ips[1] = got.get(fams[1] as IPFamily)!;
      return { allocated: got };
    }
    if (oldFams.length === 2 && fams.length === 1 && oldIPs[1]) {
      return { allocated: none, toRelease: new Map([[oldFams[1] as IPFamily, oldIPs[1]]]) };
    }
    return { allocated: none };
  }

  private txnUpdateNodePorts(svc: KObject, old: KObject, dryRun: boolean): Txn {
    const spec = specOf(svc);
    const oldSpec = specOf(old);
    const op = new PortOperation(this.ports, dryRun);
    try {
      if (needsNodePorts(oldSpec) && (typeOf(spec) === 'ExternalName' || typeOf(spec) === 'ClusterIP')) {
        for (const p of serviceNodePorts(oldSpec)) op.releaseDeferred(p);
      }
      if (needsNodePorts(spec)) updateNodePorts(svc, old, op);
      // Health-check node port: allocated on becoming LoadBalancer+Local, freed on leaving it.
      if (!needsHealthCheck(oldSpec) && needsHealthCheck(spec)) allocHealthCheckNodePort(spec, op);
      else if (needsHealthCheck(oldSpec) && !needsHealthCheck(spec)) op.releaseDeferred(num(oldSpec.healthCheckNodePort));
    } catch (e) {
      op.revert();
      throw e;
    }
    return portTxn(op);
  }

  // ---- delete -------------------------------------------------------------------------------

  /** Frees everything a deleted Service held. */
  async releaseAll(svc: KObject): Promise<void> {
    const spec = specOf(svc);
    if (typeOf(spec) !== 'ExternalName' && !isHeadless(spec)) {
      for (const ip of clusterIPsOf(spec)) if (ipFamilyOf(ip)) await this.ips.release(ip, refOf(svc));
    }
    for (const p of serviceNodePorts(spec)) this.ports.release(p);
    if (needsHealthCheck(spec) && num(spec.healthCheckNodePort) > 0) this.ports.release(num(spec.healthCheckNodePort));
  }
}

function portTxn(op: PortOperation): Txn {
  return { commit: async () => op.commit(), revert: async () => op.revert() };
}

const portError = (svc: KObject, i: number, port: number, e: unknown): unknown =>
  (e instanceof AllocatorError ? invalidService(svc, [invalid(`spec.ports[${i}].nodePort`, port, e.message)]) : e);

/**
 * initNodePorts: requested node ports are reserved, others allocated. Entries with the same
 * port number share one node port (so TCP and UDP on port 53 get the same one).
 */
function initNodePorts(svc: KObject, op: PortOperation): void {
  const spec = specOf(svc);
  const ports = portsOf(spec);
  const byServicePort = new Map<number, number>();
  ports.forEach((p, i) => {
    const np = num(p.nodePort);
    if (np === 0 && !shouldAllocateNodePorts(spec)) return; // honour requests only
    const port = num(p.port);
    const already = byServicePort.get(port) ?? 0;
    if (already === 0) {
      const requested = ports.find((q) => num(q.port) === port && num(q.nodePort) !== 0);
      if (requested) {
        const want = num(requested.nodePort);
        try { op.allocate(want); } catch (e) { throw portError(svc, i, want, e); }
        p.nodePort = want;
        byServicePort.set(port, want);
      } else {
        let got: number;
        try { got = op.allocateNext(); } catch (e) {
          if (e instanceof AllocatorError) throw errInternal(`failed to allocate a nodePort: ${e.message}`);
          throw e;
        }
        p.nodePort = got;
        byServicePort.set(port, got);
      }
    } else if (np !== already) {
      if (np === 0) p.nodePort = already;
      else {
        try { op.allocate(np); } catch (e) { throw portError(svc, i, np, e); }
      }
    }
  });
}

/** updateNodePorts: keep the old ones still named, reserve new requests, allocate the rest. */
function updateNodePorts(svc: KObject, old: KObject, op: PortOperation): void {
  const spec = specOf(svc);
  const oldPorts = serviceNodePorts(specOf(old));
  const seen = new Set<string>();
  const reserved = new Set<number>();
  portsOf(spec).forEach((p, i) => {
    let np = num(p.nodePort);
    if (np === 0 && !shouldAllocateNodePorts(spec)) return;
    if (np !== 0) {
      if (!oldPorts.includes(np) && !reserved.has(np)) {
        try { op.allocate(np); } catch (e) { throw portError(svc, i, np, e); }
        reserved.add(np);
      }
    } else {
      try { np = op.allocateNext(); } catch (e) {
        if (e instanceof AllocatorError) throw errInternal(`failed to allocate a nodePort: ${e.message}`);
        throw e;
      }
      p.nodePort = np;
    }
    const key = `${String(p.protocol)}/${np}`;
    if (seen.has(key)) throw errInternal(`duplicate nodePort: {${String(p.protocol)} ${np}}`);
    seen.add(key);
  });
  const now = serviceNodePorts(spec);
  for (const p of oldPorts) if (!now.includes(p)) op.releaseDeferred(p);
}

function allocHealthCheckNodePort(spec: Spec, op: PortOperation): void {
  const want = num(spec.healthCheckNodePort);
  try {
    if (want !== 0) op.allocate(want);
    else spec.healthCheckNodePort = op.allocateNext();
  } catch (e) {
    if (!(e instanceof AllocatorError)) throw e;
    throw errInternal(want !== 0
      ? `failed to allocate requested HealthCheck NodePort ${want}: ${e.message}`
      : `failed to allocate a HealthCheck NodePort 0: ${e.message}`);
  }
}

