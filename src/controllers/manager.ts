// The controller manager: the composition root of podnet's controllers (STYLE.md item 8), as
// kube-controller-manager is upstream. One API client and one set of shared informers; a list
// of independent controllers, each started with them and each stopped by the function the
// manager returns. The garbage collector and namespace controller (core.ts) keep their own
// metadata-only informers and client.

import type { KObject } from '../api/meta.js';
import type { ResourceType } from '../api/registry.js';
import { ApiClient, type GVR } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { startCoreControllers } from './core.js';
import { startNodeIpamController, type NodeIpamOptions } from './nodeipam.js';
import { startNodeLifecycleController } from './nodelifecycle.js';
import { startSchedulerController } from './scheduler.js';
import { startEndpointSliceController, type EndpointSliceControllerOptions } from './endpointslice.js';
import { startEndpointSliceMirroringController } from './endpointslicemirroring.js';
import { startEndpointsController } from './endpoints.js';
import { startDeploymentController, DEPLOY_GVR, type Deployment } from './deployment.js';
import {
  CONTROLLER_UID_INDEX, controllerUidIndex, POD_GVR, RS_GVR, startReplicaSetController, stripPod, type PodRecord, type ReplicaSet,
} from './replicaset.js';

/** The informers controllers share: one per resource, created on first use and started at once. */
export class SharedInformers {
  private readonly made = new Map<string, Informer<KObject>>();
  constructor(private readonly client: ApiClient) {}

  private get<T extends KObject>(gvr: GVR, setup: (inf: Informer<T>) => void, transform?: (o: KObject) => T): Informer<T> {
    const id = `${gvr.group}/${gvr.resource}`;
    let inf = this.made.get(id) as Informer<T> | undefined;
    if (!inf) {
      inf = new Informer<T>(this.client.resource(gvr), { name: gvr.group ? `${gvr.resource}.${gvr.group}` : gvr.resource, transform });
      setup(inf);
      this.made.set(id, inf as unknown as Informer<KObject>);
      inf.start();
    }
    return inf;
  }

  /** Pods, stripped to what the workload controllers read, indexed by controller uid. */
  pods(): Informer<PodRecord> {
    return this.get<PodRecord>(POD_GVR, (i) => i.addIndex(CONTROLLER_UID_INDEX, controllerUidIndex), stripPod);
  }

  /** ReplicaSets, indexed by controller uid. */
  replicaSets(): Informer<ReplicaSet> {
    return this.get<ReplicaSet>(RS_GVR, (i) => i.addIndex(CONTROLLER_UID_INDEX, controllerUidIndex));
  }

  deployments(): Informer<Deployment> {
    return this.get<Deployment>(DEPLOY_GVR, () => undefined);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.made.values()].map((i) => i.stop()));
  }
}

export interface ControllerContext {
  client: ApiClient;
  kubeconfigPath: string;
  resources: ResourceType[];
  informers: SharedInformers;
  /** The cluster's pod ranges, for node IPAM (DESIGN.md's plan when omitted). */
  clusterCIDRs?: string[];
  /** --max-endpoints-per-slice and --endpointslice-updates-batch-period (ms); upstream defaults when omitted. */
  endpointSlice?: EndpointSliceControllerOptions;
}

export interface ControllerDescriptor {
  name: string;
  start(ctx: ControllerContext): Promise<() => Promise<void>>;
}

/**
 * Every controller the manager knows, started in this order. Add new controllers here
 * (endpointslice, nodeipam, service-lb, gateway status, …).
 */
export const CONTROLLERS: ControllerDescriptor[] = [
  { name: 'garbagecollector', start: (ctx) => startCoreControllers(ctx.kubeconfigPath, ctx.resources) }, // + namespace
  { name: 'replicaset', start: (ctx) => startReplicaSetController(ctx) },
  { name: 'deployment', start: (ctx) => startDeploymentController(ctx) },
  { name: 'nodeipam', start: (ctx) => startNodeIpamController(ctx.client, ipamOptions(ctx)) },
  { name: 'nodelifecycle', start: (ctx) => startNodeLifecycleController(ctx.client) },
  { name: 'scheduler', start: (ctx) => startSchedulerController(ctx.client) },
  { name: 'endpointslice', start: (ctx) => startEndpointSliceController(ctx, ctx.endpointSlice) },
  { name: 'endpointslicemirroring', start: (ctx) => startEndpointSliceMirroringController(ctx) },
  { name: 'endpoint', start: (ctx) => startEndpointsController(ctx) },
];

function ipamOptions(ctx: ControllerContext): NodeIpamOptions {
  return ctx.clusterCIDRs?.length ? { clusterCIDRs: ctx.clusterCIDRs } : {};
}

/**
 * Which controllers run, from a kube-controller-manager style `--controllers` list: `*` means
 * all, `name` enables one, `-name` disables one. Omitted or empty: all.
 */
export function selectControllers(all: string[], wanted?: string[]): string[] {
  if (!wanted?.length) return all;
  const star = wanted.includes('*');
  return all.filter((n) => !wanted.includes(`-${n}`) && (star || wanted.includes(n) ||
    (n === 'garbagecollector' && wanted.includes('namespace'))));
}

export async function startControllerManager(kubeconfigPath: string, resources: ResourceType[],
  opts: { controllers?: string[]; clusterCIDRs?: string[]; endpointSlice?: EndpointSliceControllerOptions } = {}): Promise<() => Promise<void>> {
  const client = new ApiClient(loadKubeconfig(kubeconfigPath), { userAgent: 'podnet-controller-manager' });
  const informers = new SharedInformers(client);
  const ctx: ControllerContext = { client, kubeconfigPath, resources, informers, clusterCIDRs: opts.clusterCIDRs, endpointSlice: opts.endpointSlice };
  const names = selectControllers(CONTROLLERS.map((c) => c.name), opts.controllers);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch((e) => console.error(`podnet controller-manager: stop: ${(e as Error).message}`));
    stops.length = 0;
    await informers.stop();
    client.close();
  };
  try {
    for (const c of CONTROLLERS) {
      if (!names.includes(c.name)) continue;
      stops.push(await c.start(ctx));
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  return stopAll;
}
