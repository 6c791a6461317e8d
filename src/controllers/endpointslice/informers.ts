// The informers the endpoint controllers (endpointslice, endpointslicemirroring, endpoint) share,
// with their records stripped on arrival and indexed so that no lookup scans a namespace:
//  - pods by `namespace/key=value` for each label (a Service's pods: the smallest such bucket);
//  - Services by one `namespace/key=value` pair of their selector (a pod's Services: its labels'
//    buckets, plus `namespace/*` for empty selectors, which match every pod);
//  - EndpointSlices by `namespace/<kubernetes.io/service-name>`.
// One set per controller manager (keyed by its SharedInformers), started on first use and
// stopped when the last controller using it stops.

import type { KObject } from '../../api/meta.js';
import type { ApiClient } from '../../client/client.js';
import { Informer } from '../../client/informer.js';
import { NODES, PODS, SERVICES } from '../../client/resources.js';
import {
  LABEL_SERVICE_NAME, stableStringify, stripEndpointPod, stripNode, stripService,
  type EndpointPod, type EndpointSlice, type NodeRecord, type ServiceRecord,
} from './types.js';

import { ENDPOINTS, ENDPOINTSLICES } from '../../client/resources.js';

export { ENDPOINTS, ENDPOINTSLICES };

export const POD_LABEL_INDEX = 'endpoints:label';
export const SERVICE_SELECTOR_INDEX = 'endpoints:selector';
export const SLICE_SERVICE_INDEX = 'endpoints:service';

export interface EndpointsObj extends KObject {
  subsets?: EndpointSubset[] | null;
}
export interface EndpointAddress {
  ip: string;
  hostname?: string;
  nodeName?: string;
  targetRef?: { kind?: string; namespace?: string; name?: string; uid?: string; resourceVersion?: string; apiVersion?: string; fieldPath?: string };
}
export interface CorePort { name?: string; port: number; protocol?: string; appProtocol?: string }
export interface EndpointSubset {
  addresses?: EndpointAddress[] | null;
  notReadyAddresses?: EndpointAddress[] | null;
  ports?: CorePort[] | null;
}

const labelPair = (ns: string, k: string, v: string) => `${ns}/${k}=${v}`;

/** The index value under which a Service is found from its pods. */
function selectorIndex(svc: ServiceRecord): string[] {
  const sel = svc.spec.selector;
  if (!sel) return [];
  const ns = svc.metadata.namespace ?? '';
  const keys = Object.keys(sel).sort();
  return keys.length === 0 ? [`${ns}/*`] : [labelPair(ns, keys[0]!, sel[keys[0]!]!)];
}

/** Drops managedFields: nothing here reads them, and they are most of a slice's metadata. */
function stripManaged<T extends KObject>(o: KObject): T {
  if (o.metadata?.managedFields) { const m = { ...o.metadata }; delete m.managedFields; return { ...o, metadata: m } as T; }
  return o as T;
}

export class EndpointInformers {
  private readonly made = new Map<string, Informer<KObject>>();
  refs = 0;
  constructor(private readonly client: ApiClient) {}

  private get<T extends KObject>(id: string, make: () => Informer<T>): Informer<T> {
    let inf = this.made.get(id) as Informer<T> | undefined;
    if (!inf) {
      inf = make();
      this.made.set(id, inf as unknown as Informer<KObject>);
      inf.start();
    }
    return inf;
  }

  services(): Informer<ServiceRecord> {
    return this.get('services', () => {
      const i = new Informer<ServiceRecord>(this.client.resource(SERVICES), { name: 'services (endpoints)', transform: stripService });
      i.addIndex(SERVICE_SELECTOR_INDEX, selectorIndex);
      return i;
    });
  }

  pods(): Informer<EndpointPod> {
    return this.get('pods', () => {
      const i = new Informer<EndpointPod>(this.client.resource(PODS), { name: 'pods (endpoints)', transform: stripEndpointPod });
      i.addIndex(POD_LABEL_INDEX, (p) => Object.entries(p.metadata.labels ?? {}).map(([k, v]) => labelPair(p.metadata.namespace ?? '', k, v)));
      return i;
    });
  }

  nodes(): Informer<NodeRecord> {
    return this.get('nodes', () => new Informer<NodeRecord>(this.client.resource(NODES), { name: 'nodes (endpoints)', transform: stripNode }));
  }

  slices(): Informer<EndpointSlice> {
    return this.get('endpointslices', () => {
      const i = new Informer<EndpointSlice>(this.client.resource(ENDPOINTSLICES), { name: 'endpointslices', transform: stripManaged });
      i.addIndex(SLICE_SERVICE_INDEX, (s) => {
        const svc = s.metadata.labels?.[LABEL_SERVICE_NAME];
        return svc ? [`${s.metadata.namespace ?? ''}/${svc}`] : [];
      });
      return i;
    });
  }

  endpoints(): Informer<EndpointsObj> {
    return this.get('endpoints', () => new Informer<EndpointsObj>(this.client.resource(ENDPOINTS), { name: 'endpoints', transform: stripManaged }));
  }

  /** Pods in the Service's namespace that its selector matches (none without a selector). */
  podsForService(svc: ServiceRecord): EndpointPod[] {
    const sel = svc.spec.selector;
    if (!sel) return [];
    const ns = svc.metadata.namespace ?? '';
    const pods = this.pods();
    const entries = Object.entries(sel);
    if (entries.length === 0) return pods.listNamespace(ns);
    // The selector's rarest label pair narrows the candidates; then all pairs must match.
    let best = entries[0]!, bestN = Infinity;
    for (const [k, v] of entries) {
      const n = pods.indexKeys(POD_LABEL_INDEX, labelPair(ns, k, v)).length;
      if (n < bestN) { best = [k, v]; bestN = n; }
      if (n === 0) return [];
    }
    return pods.byIndex(POD_LABEL_INDEX, labelPair(ns, best[0], best[1]))
      .filter((p) => entries.every(([k, v]) => p.metadata.labels?.[k] === v));
  }

  /** Keys of the Services (with selectors) in the pod's namespace whose selector matches `labels`. */
  servicesForLabels(namespace: string, labels: Record<string, string> | undefined): Set<string> {
    const out = new Set<string>();
    const services = this.services();
    const candidates = [...services.byIndex(SERVICE_SELECTOR_INDEX, `${namespace}/*`)];
    for (const [k, v] of Object.entries(labels ?? {})) candidates.push(...services.byIndex(SERVICE_SELECTOR_INDEX, labelPair(namespace, k, v)));
    for (const s of candidates) {
      const sel = s.spec.selector;
      if (sel && Object.entries(sel).every(([k, v]) => labels?.[k] === v)) out.add(`${namespace}/${s.metadata.name}`);
    }
    return out;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.made.values()].map((i) => i.stop()));
    this.made.clear();
  }
}

const shared = new WeakMap<object, EndpointInformers>();

/** The endpoint informers of one controller manager; release() stops them after the last user. */
export function acquireEndpointInformers(owner: object, client: ApiClient): { inf: EndpointInformers; release: () => Promise<void> } {
  let inf = shared.get(owner);
  if (!inf) { inf = new EndpointInformers(client); shared.set(owner, inf); }
  inf.refs++;
  let released = false;
  return {
    inf,
    release: async () => {
      if (released) return;
      released = true;
      if (--inf!.refs === 0) { shared.delete(owner); await inf!.stop(); }
    },
  };
}

// ---- which Services a pod change concerns (GetServicesToUpdateOnPodChange) ----------------------

const sameIPs = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
const terminal = (p: EndpointPod) => p.status.phase === 'Failed' || p.status.phase === 'Succeeded';

/** podEndpointsChanged: [the pod's endpoint may have changed, its Service membership may have]. */
export function podEndpointsChanged(old: EndpointPod, cur: EndpointPod): [boolean, boolean] {
  const labelsChanged = stableStringify(old.metadata.labels ?? {}) !== stableStringify(cur.metadata.labels ?? {}) ||
    old.spec.hostname !== cur.spec.hostname || old.spec.subdomain !== cur.spec.subdomain;
  const podChanged = (old.metadata.deletionTimestamp ?? null) !== (cur.metadata.deletionTimestamp ?? null) ||
    old.status.ready !== cur.status.ready || !sameIPs(old.status.podIPs, cur.status.podIPs) ||
    // Upstream relies on readiness dropping when a pod ends; a terminal phase is checked too.
    terminal(old) !== terminal(cur);
  return [podChanged, labelsChanged];
}

/** The Service keys to sync after a pod update. */
export function servicesToUpdateOnPodChange(inf: EndpointInformers, old: EndpointPod, cur: EndpointPod): Set<string> {
  if (old.metadata.resourceVersion === cur.metadata.resourceVersion) return new Set();
  const [podChanged, labelsChanged] = podEndpointsChanged(old, cur);
  if (!podChanged && !labelsChanged) return new Set();
  const ns = cur.metadata.namespace ?? '';
  const now = inf.servicesForLabels(ns, cur.metadata.labels);
  if (!labelsChanged) return now;
  const before = inf.servicesForLabels(ns, old.metadata.labels);
  if (podChanged) return new Set([...now, ...before]);
  // Only the labels changed: the Services it joined or left.
  const out = new Set<string>();
  for (const k of now) if (!before.has(k)) out.add(k);
  for (const k of before) if (!now.has(k)) out.add(k);
  return out;
}

/** A controller over the shared endpoint informers: started, and stopped with its informers released. */
export async function startOnEndpointInformers(owner: object, client: ApiClient,
  make: (inf: EndpointInformers) => { start(): Promise<void>; stop(): Promise<void> }): Promise<() => Promise<void>> {
  const { inf, release } = acquireEndpointInformers(owner, client);
  const c = make(inf);
  try {
    await c.start();
  } catch (e) {
    await c.stop();
    await release();
    throw e;
  }
  return async () => { await c.stop(); await release(); };
}
