// The Service registry inside the API server (what kube-apiserver's Service REST storage and
// its control-plane controllers do): ClusterIP and NodePort allocation hooked into Service
// writes, IPAddress records, the ServiceCIDR lifecycle (finalizer, Ready condition, the
// default `kubernetes` range), the repair pass, and `default/kubernetes` with its endpoints.
//
// Lifecycle: init() before the server listens (default ServiceCIDR, index, repair, hooks);
// started() once it listens (watches, `default/kubernetes`, periodic passes); stop().
// Allocation state is always derived from stored objects: IPAddress objects for ClusterIPs,
// the stored Services for node ports.

import { StatusError } from '../../api/errors.js';
import { type KObject, isObject } from '../../api/meta.js';
import { PortAllocator } from '../../net/allocator.js';
import { type Cidr, cidrContains, cidrContainsCidr, mustParseCIDR, parseCIDR } from '../../net/cidr.js';
import { buildFilter } from '../filter.js';
import type { ResourceStorage } from '../rest.js';
import { ServiceAllocators } from './alloc.js';
import {
  ClusterIPAllocator, type IPAddressWriter, cidrsOfServiceCIDR, ipAddressFor, isManagedIPAddress,
} from './clusterip.js';
import { type ServiceRangeConfig, parseAdvertiseAddress, serviceRangeConfig } from './config.js';
import {
  DEFAULT_SERVICE_CIDR_NAME, KUBERNETES_SERVICE, SERVICE_CIDR_FINALIZER, canonicalJSON, defaultServiceCIDR, firstServiceIP,
  kubernetesEndpointSlice, kubernetesEndpoints, kubernetesService, ownedPart, publishableAddress,
} from './kubernetes.js';
import { type RepairPlan, heldClusterIPs, planIPRepair, rebuildNodePorts } from './repair.js';

export interface ServiceRegistryOptions {
  /** --service-cluster-ip-range: one CIDR, or two of different families. Default 10.96.0.0/16. */
  clusterIPRanges?: string | string[];
  /** --service-node-port-range. Default 30000-32767. */
  nodePortRange?: string;
  /** Address published in `default/kubernetes` endpoints. */
  advertiseAddress?: string;
  /** Period of the repair pass. Default 3 min, as kube-apiserver's ClusterIP and NodePort repair loops. */
  repairIntervalMs?: number;
  /** Period of the `default/kubernetes` and default ServiceCIDR reconciler. Default 10 s (upstream's). */
  reconcileIntervalMs?: number;
  log?: (m: string) => void;
}

/** What the registry needs of the server: its storages. */
export interface StorageLookup {
  storageFor(group: string, plural: string): ResourceStorage | undefined;
}

const READY_MESSAGE = 'Kubernetes Service CIDR is ready';
const DEFAULT_READY_MESSAGE = 'Kubernetes default Service CIDR is ready';
const TERMINATING_MESSAGE = 'There are still IPAddresses referencing the ServiceCIDR, please remove them or create a new ServiceCIDR';

const isStatus = (e: unknown, ...codes: number[]) => e instanceof StatusError && codes.includes(e.code);
const nowIso = () => new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** Runs `fn` one at a time; calls while it runs coalesce into one more run after it. */
class Serial {
  private current?: Promise<void>;
  private queued?: Promise<void>;
  constructor(private readonly fn: () => Promise<void>) {}
  run(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.current) {
      this.current = this.fn().finally(() => { this.current = undefined; });
      return this.current;
    }
    this.queued = this.current.then(() => { this.queued = undefined; return this.run(); });
    return this.queued;
  }
}

export class ServiceRegistry {
  readonly config: ServiceRangeConfig;
  readonly advertiseAddress?: string;
  readonly ips: ClusterIPAllocator;
  readonly ports: PortAllocator;
  readonly alloc: ServiceAllocators;
  private readonly services: ResourceStorage;
  private readonly ipAddresses: ResourceStorage;
  private readonly serviceCIDRs: ResourceStorage;
  private readonly endpoints?: ResourceStorage;
  private readonly endpointSlices?: ResourceStorage;
  private readonly log: (m: string) => void;
  private readonly cidrSync = new Serial(() => this.syncServiceCIDRs().catch((e) => this.log(`ServiceCIDR sync: ${(e as Error).message}`)));
  private readonly repairs = new Serial(() => this.repair().then(() => {}, (e) => this.log(`repair: ${(e as Error).message}`)));
  private repairTimer?: NodeJS.Timeout;
  private readonly unwatch: (() => void)[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private listedAt = { ipAddresses: 0, serviceCIDRs: 0 };
  private terminating = false;
  private port = 0;
  private readonly warned = new Set<string>();
  private stopped = false;

  constructor(server: StorageLookup, private readonly opts: ServiceRegistryOptions = {}) {
    this.log = opts.log ?? ((m) => console.error(`apiserver: services: ${m}`));
    this.config = serviceRangeConfig(opts.clusterIPRanges, opts.nodePortRange);
    this.advertiseAddress = opts.advertiseAddress ? parseAdvertiseAddress(opts.advertiseAddress) : undefined;
    const need = (group: string, plural: string) => {
      const s = server.storageFor(group, plural);
      if (!s) throw new Error(`the service registry needs ${plural}${group ? `.${group}` : ''}, which this server does not serve`);
      return s;
    };
    this.services = need('', 'services');
    this.ipAddresses = need('networking.k8s.io', 'ipaddresses');
    this.serviceCIDRs = need('networking.k8s.io', 'servicecidrs');
    this.endpoints = server.storageFor('', 'endpoints');
    this.endpointSlices = server.storageFor('discovery.k8s.io', 'endpointslices');
    const writer: IPAddressWriter = {
      // The record is written before the Service that holds it; the Service's own write is
      // durable only after it, so waiting for the Service's is enough (one fsync, not two).
      create: async (obj) => { await this.ipAddresses.create(undefined, obj, { ordered: true }); },
      // A release may follow a reservation that is not durable yet: read after it is.
      get: async (name) => { await this.ipAddresses.settled(); return this.ipAddresses.tryGet(undefined, name); },
      delete: async (name, uid) => {
        try {
          await this.ipAddresses.delete(undefined, name, uid ? { preconditions: { uid } } : {});
        } catch (e) {
          if (!isStatus(e, 404, 409)) throw e;
        }
      },
    };
    this.ips = new ClusterIPAllocator(writer, this.config.families, DEFAULT_SERVICE_CIDR_NAME, this.log);
    this.ports = new PortAllocator(this.config.nodePortRange);
    this.alloc = new ServiceAllocators(this.ips, this.ports, this.config.families);
  }

  /** Before the server listens: ranges, index, repair, then the write hooks. */
  async init(): Promise<void> {
    this.serviceCIDRs.hooks = {
      // The protection finalizer from the first write on (upstream's controller adds it
      // moments later); the allocator learns of the new range before the response.
      beginCreate: async (obj) => {
        const fins = obj.metadata.finalizers ?? [];
        if (!fins.includes(SERVICE_CIDR_FINALIZER)) obj.metadata.finalizers = [...fins, SERVICE_CIDR_FINALIZER];
        return async (ok) => { if (ok) await this.cidrSync.run(); };
      },
    };
    await this.ensureDefaultServiceCIDR();
    const cidrs = await this.serviceCIDRs.list({}, true);
    this.listedAt.serviceCIDRs = Number(cidrs.resourceVersion);
    this.ips.setServiceCIDRs(cidrs.objects ?? []);
    const ipList = await this.ipAddresses.list({}, true);
    this.listedAt.ipAddresses = Number(ipList.resourceVersion);
    this.ips.resetKnown(ipList.objects ?? []);
    await this.cidrSync.run();
    const services = (await this.services.list({}, true)).objects ?? [];
    for (const w of rebuildNodePorts(services, this.ports)) this.warn(w);
    await this.repair();
    this.services.hooks = {
      beginCreate: async (obj, o) => {
        const txn = await this.alloc.allocateCreate(obj, !!o.dryRun);
        return (ok) => (ok ? txn.commit() : txn.revert());
      },
      beginUpdate: async (obj, old, o) => {
        const txn = await this.alloc.allocateUpdate(obj, old, !!o.dryRun);
        return (ok) => (ok ? txn.commit() : txn.revert());
      },
      afterDelete: async (obj) => {
        await this.alloc.releaseAll(obj);
        // As upstream: the Endpoints of a deleted Service go with it, so a new Service of
        // the same name never starts with stale ones.
        try {
          await this.endpoints?.delete(obj.metadata.namespace, obj.metadata.name!);
        } catch (e) {
          if (!isStatus(e, 404)) this.log(`deleting endpoints of ${obj.metadata.namespace}/${obj.metadata.name}: ${(e as Error).message}`);
        }
      },
    };
  }

  /** Once the server listens on `port`: watches, `default/kubernetes`, periodic passes. */
  async started(port: number): Promise<void> {
    this.port = port;
    const watch = (s: ResourceStorage, from: number, on: (type: string, o: KObject) => void) =>
      this.unwatch.push(s.cache.watch(from, buildFilter(s.rt, undefined), { send: (t, o) => { on(t, o); return true; }, close: () => {} }));
    watch(this.ipAddresses, this.listedAt.ipAddresses, (type, o) => {
      const name = o.metadata.name!;
      if (type !== 'DELETED') { this.ips.observe(name, true, isManagedIPAddress(o)); return; }
      // A record deleted by someone else may still be held by a Service: keep the address out
      // of the pool until a repair pass (soon) has recreated the record or found it free.
      if (this.ips.isKnown(name) && !this.ips.isReleasing(name) && isManagedIPAddress(o)) this.repairSoon();
      else this.ips.observe(name, false);
      if (this.terminating) void this.cidrSync.run();
    });
    watch(this.serviceCIDRs, this.listedAt.serviceCIDRs, () => { void this.cidrSync.run(); });
    // Serving does not depend on these objects: a failure is logged and retried periodically.
    await this.reconcile().catch((e) => this.log(`publishing default/kubernetes: ${(e as Error).message}`));
    const every = (ms: number, fn: () => Promise<unknown>) => {
      let busy = false;
      const t = setInterval(() => {
        if (busy || this.stopped) return;
        busy = true;
        fn().catch((e) => this.log((e as Error).message)).finally(() => { busy = false; });
      }, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.opts.reconcileIntervalMs ?? 10_000, () => this.reconcile());
    every(this.opts.repairIntervalMs ?? 180_000, async () => { await this.repairs.run(); await this.cidrSync.run(); });
  }

  /** A repair pass shortly (coalescing bursts of calls). */
  private repairSoon(): void {
    if (this.repairTimer || this.stopped) return;
    this.repairTimer = setTimeout(() => { this.repairTimer = undefined; void this.repairs.run(); }, 200);
    this.repairTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.repairTimer);
    for (const t of this.timers) clearInterval(t);
    for (const u of this.unwatch) u();
  }

  private warn(m: string): void {
    if (this.warned.has(m)) return;
    this.warned.add(m);
    this.log(m);
  }

  // ---- repair -------------------------------------------------------------------------------

  /** One repair pass over a snapshot; addresses touched meanwhile are left for the next. */
  async repair(): Promise<RepairPlan> {
    const epoch = this.ips.openEpoch();
    try {
      const ipAddresses = (await this.ipAddresses.list({}, true)).objects ?? [];
      const services = (await this.services.list({}, true)).objects ?? [];
      const cidrObjs = (await this.serviceCIDRs.list({}, true)).objects ?? [];
      const cidrs = cidrObjs.flatMap(cidrsOfServiceCIDR).map((c) => parseCIDR(c)).filter((c): c is NonNullable<typeof c> => !!c);
      const skip = new Set([...epoch, ...this.ips.inflightAddresses()]);
      const plan = planIPRepair({ services, ipAddresses, cidrs, skip });
      const busy = (ip: string) => epoch.has(ip) || this.ips.inflightAddresses().includes(ip);
      for (const o of plan.orphans) {
        if (busy(o.name)) continue;
        await this.ipAddresses.delete(undefined, o.name, o.uid ? { preconditions: { uid: o.uid } } : {}).then(
          () => { this.ips.observe(o.name, false); this.log(`removed IPAddress ${o.name}: no Service holds it`); },
          (e) => { if (!isStatus(e, 404, 409)) throw e; });
      }
      for (const c of plan.create) {
        if (busy(c.ip)) continue;
        const svc = await this.services.tryGet(c.svc.namespace, c.svc.name);
        if (!svc || !heldClusterIPs(svc).includes(c.ip)) continue;
        await this.ipAddresses.create(undefined, ipAddressFor(c.ip, c.family, c.svc)).then(
          () => { this.ips.observe(c.ip, true); this.log(`recorded IPAddress ${c.ip} for service ${c.svc.namespace}/${c.svc.name}`); },
          (e) => { if (!isStatus(e, 409)) throw e; });
      }
      // Index entries for records that are gone (and not recreated above) free their address.
      const listed = new Set(ipAddresses.map((o) => o.metadata.name!));
      const created = new Set(plan.create.map((c) => c.ip));
      for (const name of this.ips.knownNames()) {
        if (!listed.has(name) && !created.has(name) && !busy(name)) this.ips.observe(name, false);
      }
      for (const w of plan.warnings) this.warn(w);
      return plan;
    } finally {
      this.ips.closeEpoch(epoch);
    }
  }

  // ---- ServiceCIDRs ---------------------------------------------------------------------------

  /**
   * The ServiceCIDR controller: ranges into the allocator; every live ServiceCIDR gets the
   * finalizer and Ready=True; a deleted one is let go once no IPAddress depends on it alone.
   */
  private async syncServiceCIDRs(): Promise<void> {
    const objs = (await this.serviceCIDRs.list({}, true)).objects ?? [];
    this.ips.setServiceCIDRs(objs);
    this.terminating = objs.some((o) => !!o.metadata.deletionTimestamp);
    for (const o of objs) {
      const name = o.metadata.name!;
      const fins = o.metadata.finalizers ?? [];
      try {
        if (o.metadata.deletionTimestamp) {
          if (!fins.includes(SERVICE_CIDR_FINALIZER)) continue;
          if (this.canDelete(o, objs)) {
            await this.serviceCIDRs.guaranteedUpdate(undefined, name, (cur) => {
              cur.metadata.finalizers = (cur.metadata.finalizers ?? []).filter((f) => f !== SERVICE_CIDR_FINALIZER);
              return cur;
            });
          } else {
            await this.setReady(o, { type: 'Ready', status: 'False', reason: 'Terminating', message: TERMINATING_MESSAGE });
          }
          continue;
        }
        if (!fins.includes(SERVICE_CIDR_FINALIZER)) {
          await this.serviceCIDRs.guaranteedUpdate(undefined, name, (cur) => {
            cur.metadata.finalizers = [...(cur.metadata.finalizers ?? []), SERVICE_CIDR_FINALIZER];
            return cur;
          });
        }
        await this.setReady(o, { type: 'Ready', status: 'True', message: name === DEFAULT_SERVICE_CIDR_NAME ? DEFAULT_READY_MESSAGE : READY_MESSAGE });
      } catch (e) {
        if (!isStatus(e, 404)) this.log(`ServiceCIDR ${name}: ${(e as Error).message}`);
      }
    }
  }

  /**
   * A ServiceCIDR may go when another live one covers its ranges, or when no IPAddress the
   * allocator made lies in it and in no other live range (upstream's canDeleteCIDR).
   */
  private canDelete(o: KObject, all: KObject[]): boolean {
    const parse = (c: string): Cidr | undefined => { try { return mustParseCIDR(c); } catch { return undefined; } };
    const mine = cidrsOfServiceCIDR(o).map(parse).filter((c): c is Cidr => !!c);
    const others = all.filter((x) => x.metadata.name !== o.metadata.name && !x.metadata.deletionTimestamp)
      .flatMap(cidrsOfServiceCIDR).map(parse).filter((c): c is Cidr => !!c);
    if (mine.every((c) => others.some((p) => cidrContainsCidr(p, c)))) return true;
    for (const ip of this.ips.managedAddresses()) {
      if (mine.some((c) => cidrContains(c, ip)) && !others.some((p) => cidrContains(p, ip))) return false;
    }
    return true;
  }

  private async setReady(o: KObject, want: { type: string; status: string; reason?: string; message: string }): Promise<void> {
    const conds = isObject(o.status) && Array.isArray(o.status.conditions) ? o.status.conditions.filter(isObject) : [];
    const cur = conds.find((c) => c.type === 'Ready');
    if (cur && cur.status === want.status && (cur.reason ?? '') === (want.reason ?? '') && cur.message === want.message) return;
    await this.serviceCIDRs.guaranteedUpdate(undefined, o.metadata.name!, (latest) => {
      const status = isObject(latest.status) ? latest.status : {};
      const list = Array.isArray(status.conditions) ? status.conditions.filter(isObject) : [];
      const prev = list.find((c) => c.type === 'Ready');
      const cond: Record<string, unknown> = {
        ...want, lastTransitionTime: prev && prev.status === want.status && prev.lastTransitionTime ? prev.lastTransitionTime : nowIso(),
      };
      latest.status = { ...status, conditions: [...list.filter((c) => c.type !== 'Ready'), cond] };
      return latest;
    }, { subresource: 'status' });
  }

  // ---- the API server's own objects -----------------------------------------------------------

  /** Creates the default ServiceCIDR from the flags, or extends it from single- to dual-stack. */
  private async ensureDefaultServiceCIDR(): Promise<void> {
    const want = this.config.clusterIPRanges;
    const cur = await this.serviceCIDRs.tryGet(undefined, DEFAULT_SERVICE_CIDR_NAME);
    if (!cur) {
      try {
        await this.serviceCIDRs.create(undefined, defaultServiceCIDR(want));
      } catch (e) {
        if (!isStatus(e, 409)) throw e;
      }
      return;
    }
    if (cur.metadata.deletionTimestamp) return; // recreated once gone
    const have = cidrsOfServiceCIDR(cur);
    if (have.join(',') === want.join(',')) return;
    if (have.length === 1 && want.length === 2 && have[0] === want[0]) {
      await this.serviceCIDRs.guaranteedUpdate(undefined, DEFAULT_SERVICE_CIDR_NAME, (latest) => {
        (latest.spec as Record<string, unknown>).cidrs = [...want];
        return latest;
      });
      this.log(`default ServiceCIDR extended to ${want.join(',')}`);
      return;
    }
    this.warn(`the default ServiceCIDR holds ${have.join(',')}, not --service-cluster-ip-range ${want.join(',')}: it is kept as it is (delete it to change it)`);
  }

  /** `default/kubernetes`, its Endpoints and EndpointSlice, and the default ServiceCIDR. */
  async reconcile(): Promise<void> {
    await this.ensureDefaultServiceCIDR();
    const clusterIP = firstServiceIP(this.config.clusterIPRanges[0]);
    const want = kubernetesService(clusterIP, this.port);
    const cur = await this.services.tryGet(KUBERNETES_SERVICE.namespace, KUBERNETES_SERVICE.name);
    if (!cur) {
      try {
        await this.services.create(KUBERNETES_SERVICE.namespace, want);
        this.log(`created service default/kubernetes at ${clusterIP}`);
      } catch (e) {
        if (!isStatus(e, 409)) this.warn(`cannot create service default/kubernetes: ${(e as Error).message}`);
      }
    } else if (canonicalJSON((cur.spec as Record<string, unknown>).ports) !== canonicalJSON((want.spec as Record<string, unknown>).ports)) {
      await this.services.guaranteedUpdate(KUBERNETES_SERVICE.namespace, KUBERNETES_SERVICE.name, (latest) => {
        (latest.spec as Record<string, unknown>).ports = (want.spec as Record<string, unknown>).ports;
        return latest;
      });
    }
    const ip = this.advertiseAddress;
    if (!ip) return;
    if (!publishableAddress(ip)) {
      this.warn(`advertise address ${ip} cannot be published in endpoints (loopback or link-local): default/kubernetes has none; set --advertise-address`);
      return;
    }
    if (this.endpoints) await this.ensure(this.endpoints, kubernetesEndpoints(ip, this.port), ['endpointslice.kubernetes.io/skip-mirror']);
    if (this.endpointSlices) await this.ensure(this.endpointSlices, kubernetesEndpointSlice(ip, this.port), ['kubernetes.io/service-name']);
  }

  /** Creates `want`, or rewrites the fields we own when they differ. */
  private async ensure(s: ResourceStorage, want: KObject, labelKeys: string[]): Promise<void> {
    const { namespace, name } = want.metadata;
    const cur = await s.tryGet(namespace, name!);
    if (!cur) {
      await s.create(namespace, structuredClone(want)).catch((e) => { if (!isStatus(e, 409)) throw e; });
      return;
    }
    if (ownedPart(cur, labelKeys) === ownedPart(want, labelKeys)) return;
    await s.guaranteedUpdate(namespace, name!, (latest) => {
      const { metadata, ...body } = structuredClone(want);
      for (const k of Object.keys(latest)) if (k !== 'metadata' && k !== 'apiVersion' && k !== 'kind') delete latest[k];
      Object.assign(latest, body);
      latest.metadata.labels = { ...(latest.metadata.labels ?? {}), ...(metadata.labels ?? {}) };
      return latest;
    });
  }
}

export { serviceRangeConfig, parseAdvertiseAddress } from './config.js';
