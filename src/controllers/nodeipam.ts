// Node IPAM (kube-controller-manager's range allocator): gives every Node one pod range per
// configured cluster range — spec.podCIDRs, with spec.podCIDR the first — cut from the
// cluster pod ranges (default 10.244.0.0/16 in /24s and fd00:10:244::/56 in /64s).
//
// Level-triggered: the allocation is rebuilt at start from the ranges Nodes already carry,
// so a restart never hands out a range twice; a Node's ranges are released when it is deleted.
// A Node's ranges are never changed once set (the API refuses it as well). When a cluster
// range is exhausted the Node gets a Warning event CIDRNotAvailable and is retried with
// backoff, and at once whenever another Node goes away.

import { StatusError } from '../api/errors.js';
import type { KObject } from '../api/meta.js';
import { ApiClient } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { BucketRateLimiter, ItemExponentialRateLimiter, MaxOfRateLimiter, runWorkers, WorkQueue } from '../client/workqueue.js';
import { formatCIDR, mustParseCIDR, SubnetAllocator, type IPFamily } from '../net/cidr.js';
import { EventRecorder, NODES } from './scheduler.js';

export interface NodeIpamOptions {
  /** Cluster pod ranges, at most one per family. Default 10.244.0.0/16 and fd00:10:244::/56. */
  clusterCIDRs?: string[];
  /** Size of each Node's IPv4 range. Default 24. */
  nodeCIDRMaskSizeIPv4?: number;
  /** Size of each Node's IPv6 range. Default 64. */
  nodeCIDRMaskSizeIPv6?: number;
  /** First retry delay of a Node that got no range (doubles per failure, up to 5 min). Default 250 ms. */
  retryBaseMs?: number;
  /** Where failures are reported. Default stderr. */
  log?: (msg: string) => void;
}

export const DEFAULT_CLUSTER_CIDRS = ['10.244.0.0/16', 'fd00:10:244::/56'];

interface NodeRecord extends KObject {
  metadata: { name?: string; uid?: string; resourceVersion?: string };
  podCIDRs: string[];
}

const toRecord = (n: KObject): NodeRecord => {
  const spec = (n.spec ?? {}) as { podCIDR?: string; podCIDRs?: string[] };
  const cidrs = spec.podCIDRs?.length ? spec.podCIDRs : spec.podCIDR ? [spec.podCIDR] : [];
  return { metadata: { name: n.metadata.name, uid: n.metadata.uid, resourceVersion: n.metadata.resourceVersion }, podCIDRs: [...cidrs] };
};

/** One allocator per cluster range, in the configured order. Throws on a bad configuration. */
export function buildAllocators(opts: NodeIpamOptions = {}): SubnetAllocator[] {
  const cidrs = opts.clusterCIDRs ?? DEFAULT_CLUSTER_CIDRS;
  if (cidrs.length === 0 || cidrs.length > 2) throw new Error(`nodeipam: need one or two cluster CIDRs, got ${cidrs.length}`);
  const seen = new Set<IPFamily>();
  return cidrs.map((c) => {
    const range = mustParseCIDR(c, { strict: true });
    if (seen.has(range.family)) throw new Error(`nodeipam: more than one ${range.family} cluster CIDR (${cidrs.join(', ')})`);
    seen.add(range.family);
    const mask = range.family === 'IPv4' ? opts.nodeCIDRMaskSizeIPv4 ?? 24 : opts.nodeCIDRMaskSizeIPv6 ?? 64;
    return new SubnetAllocator(range, mask);
  });
}

/**
 * The allocation state: which Node holds which range. Pure; the controller feeds it what it
 * observes. `occupy` records ranges a Node already has; `allocate` cuts new ones.
 */
export class NodeCidrTable {
  /** range (canonical) → node name */
  private readonly owner = new Map<string, string>();
  /** node name → ranges */
  private readonly byNode = new Map<string, string[]>();

  constructor(readonly allocators: SubnetAllocator[]) {}

  rangesOf(node: string): string[] | undefined { return this.byNode.get(node); }

  /**
   * Records the ranges `node` carries. Returns problems (a range outside every cluster range,
   * or held by another node), which are left unrecorded.
   */
  occupy(node: string, cidrs: string[]): string[] {
    const problems: string[] = [];
    const mine: string[] = [];
    for (const raw of cidrs) {
      let canon: string;
      try { canon = formatCIDR(mustParseCIDR(raw)); } catch { problems.push(`${raw} is not a CIDR`); continue; }
      const holder = this.owner.get(canon);
      if (holder === node) { mine.push(canon); continue; }
      if (holder !== undefined) { problems.push(`${canon} is already held by node ${holder}`); continue; }
      const alloc = this.allocators.find((a) => a.fits(canon));
      if (!alloc) { problems.push(`${canon} is outside the cluster CIDRs`); continue; }
      alloc.allocate(canon);
      this.owner.set(canon, node);
      mine.push(canon);
    }
    if (mine.length) this.byNode.set(node, mine);
    return problems;
  }

  /** Cuts one range per cluster range for `node`; undefined (nothing kept) when one is exhausted. */
  allocate(node: string): string[] | undefined {
    const got: string[] = [];
    for (const a of this.allocators) {
      const c = a.allocateNext();
      if (!c) {
        for (const g of got) this.allocators.find((x) => x.fits(g))!.release(g);
        return undefined;
      }
      got.push(formatCIDR(c));
    }
    for (const g of got) this.owner.set(g, node);
    this.byNode.set(node, got);
    return got;
  }

  /** Frees everything `node` holds. */
  release(node: string): string[] {
    const cidrs = this.byNode.get(node) ?? [];
    for (const c of cidrs) {
      if (this.owner.get(c) !== node) continue;
      this.owner.delete(c);
      this.allocators.find((a) => a.fits(c))?.release(c);
    }
    this.byNode.delete(node);
    return cidrs;
  }
}

export async function startNodeIpamController(client: ApiClient, opts: NodeIpamOptions = {}): Promise<() => Promise<void>> {
  const table = new NodeCidrTable(buildAllocators(opts));
  const log = opts.log ?? ((m: string) => process.stderr.write(`nodeipam: ${m}\n`));
  const recorder = new EventRecorder(client, 'cidrAllocator');
  const queue = new WorkQueue<string>({
    name: 'nodeipam',
    rateLimiter: new MaxOfRateLimiter<string>(new ItemExponentialRateLimiter(opts.retryBaseMs ?? 250, 300_000), new BucketRateLimiter(10, 100)),
  });
  let synced = false;

  const observe = (n: NodeRecord) => {
    const name = n.metadata.name!;
    if (n.podCIDRs.length) {
      for (const p of table.occupy(name, n.podCIDRs)) log(`node ${name}: ${p}`);
    } else if (synced) {
      queue.add(name);
    }
  };
  const nodes = new Informer<NodeRecord>(client.resource(NODES), {
    name: 'nodeipam nodes', transform: toRecord,
    handlers: {
      onAdd: observe,
      onUpdate: (_old, n) => observe(n),
      onDelete: (n) => {
        table.release(n.metadata.name!);
        // A range came free: nodes waiting for one may get it now.
        for (const m of nodes.list()) if (!m.podCIDRs.length && !table.rangesOf(m.metadata.name!)) queue.add(m.metadata.name!);
      },
    },
  });

  async function sync(name: string): Promise<void> {
    const n = nodes.get(undefined, name);
    if (!n || n.podCIDRs.length) return;
    if (table.rangesOf(name)) return; // written; the informer has not caught up yet
    const cidrs = table.allocate(name);
    if (!cidrs) {
      await recorder.event({ kind: 'Node', apiVersion: 'v1', name, uid: n.metadata.uid }, 'Warning', 'CIDRNotAvailable',
        `Node ${name} status is now: CIDRNotAvailable`);
      throw new Retry(`node ${name}: no remaining CIDRs left to allocate in the accepted range`);
    }
    try {
      // The resourceVersion makes this conditional: a Node changed meanwhile is looked at again.
      await client.resource(NODES).patch(name, 'merge', {
        metadata: { resourceVersion: n.metadata.resourceVersion, uid: n.metadata.uid },
        spec: { podCIDR: cidrs[0], podCIDRs: cidrs },
      });
    } catch (e) {
      table.release(name);
      if (e instanceof StatusError && e.code === 404) return;
      throw e;
    }
  }

  nodes.start();
  await nodes.waitForSync();
  synced = true;
  for (const n of nodes.list()) if (!n.podCIDRs.length) queue.add(n.metadata.name!);
  const worker = runWorkers(queue, 1, sync, {
    onError: (k, e) => { if (!(e instanceof Retry)) log(`${String(k)}: ${(e as Error).message}`); },
  });
  return async () => {
    queue.shutDown();
    await nodes.stop();
    await Promise.race([worker, new Promise((r) => setTimeout(r, 2000))]);
  };
}

/** Not an error: retried with backoff. */
class Retry extends Error {}
