// The controllers that complete the API's own semantics, as kube-controller-manager's do:
// the garbage collector (ownerReferences; background, foreground and orphan propagation) and
// the namespace controller (deleting a namespace deletes its contents). They share informers
// that keep only metadata (STYLE.md item 7) and talk to the API server like any client.

import { StatusError } from '../api/errors.js';
import { splitApiVersion, type KObject, type ObjectMeta, type OwnerReference } from '../api/meta.js';
import type { ResourceType } from '../api/registry.js';
import { ApiClient, type GVR, type ResourceClient } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { loadKubeconfig } from '../client/kubeconfig.js';
import { runWorkers, WorkQueue } from '../client/workqueue.js';

/** What the controllers keep of each object. */
interface MetaRecord extends KObject {
  metadata: Pick<ObjectMeta, 'name' | 'namespace' | 'uid' | 'ownerReferences' | 'finalizers' | 'deletionTimestamp'>;
}

const stripToMeta = (rt: ResourceType) => (o: KObject): MetaRecord => ({
  apiVersion: rt.group ? `${rt.group}/${rt.version}` : rt.version,
  kind: rt.kind,
  metadata: {
    name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid,
    ownerReferences: o.metadata.ownerReferences, finalizers: o.metadata.finalizers,
    deletionTimestamp: o.metadata.deletionTimestamp,
  },
});

const gvrOf = (rt: ResourceType): GVR => ({ group: rt.group, version: rt.version, resource: rt.plural, namespaced: rt.namespaced });
const notFound = (e: unknown) => e instanceof StatusError && e.code === 404;
const conflict = (e: unknown) => e instanceof StatusError && e.code === 409;

interface Ref { rt: ResourceType; namespace?: string; name: string }
const refKey = (r: Ref) => `${r.rt.group}/${r.rt.plural}/${r.namespace ?? ''}/${r.name}`;

export async function startCoreControllers(kubeconfigPath: string, resources: ResourceType[]): Promise<() => Promise<void>> {
  const client = new ApiClient(loadKubeconfig(kubeconfigPath), { userAgent: 'podnet-controllers' });
  const informers = new Map<ResourceType, Informer<MetaRecord>>();
  const byUid = new Map<string, Ref>();
  const dependents = new Map<string, Set<string>>(); // owner uid → dependent ref keys
  const refs = new Map<string, Ref>();
  const ownersOf = new Map<string, string[]>(); // dependent ref key → owner uids
  const gcQueue = new WorkQueue<string>({ name: 'garbagecollector' });
  const nsQueue = new WorkQueue<string>({ name: 'namespace' });
  const byKind = new Map<string, ResourceType>(resources.map((r) => [`${r.group}/${r.kind}`, r]));

  const track = (rt: ResourceType, o: MetaRecord, present: boolean) => {
    const ref: Ref = { rt, namespace: o.metadata.namespace, name: o.metadata.name! };
    const key = refKey(ref);
    const uid = o.metadata.uid!;
    for (const uid of ownersOf.get(key) ?? []) dependents.get(uid)?.delete(key);
    ownersOf.delete(key);
    if (present) {
      byUid.set(uid, ref);
      refs.set(key, ref);
      const owners = (o.metadata.ownerReferences ?? []).map((or) => or.uid);
      if (owners.length) ownersOf.set(key, owners);
      for (const ownerUid of owners) {
        let s = dependents.get(ownerUid);
        if (!s) { s = new Set(); dependents.set(ownerUid, s); }
        s.add(key);
      }
    } else {
      byUid.delete(uid);
      refs.delete(key);
      // Its dependents may now be dangling.
      for (const d of dependents.get(uid) ?? []) gcQueue.add(d);
    }
    if (o.metadata.ownerReferences?.length) gcQueue.add(key);
    if (o.metadata.deletionTimestamp && o.metadata.finalizers?.some((f) => f === 'orphan' || f === 'foregroundDeletion')) gcQueue.add(key);
    if (rt.kind === 'Namespace' && o.metadata.deletionTimestamp) nsQueue.add(o.metadata.name!);
    if (!present && o.metadata.namespace) {
      // Content leaving a terminating namespace: look at the namespace again.
      const ns = informers.get(nsType)?.get(undefined, o.metadata.namespace);
      if (ns?.metadata.deletionTimestamp) nsQueue.add(o.metadata.namespace);
    }
    // Owners waiting for their dependents (foreground) re-check when one goes.
    for (const or of o.metadata.ownerReferences ?? []) {
      const owner = byUid.get(or.uid);
      if (owner) gcQueue.add(refKey(owner));
    }
  };

  const nsType = resources.find((r) => r.kind === 'Namespace' && r.group === '')!;
  for (const rt of resources) {
    if (rt.verbs && !rt.verbs.includes('watch')) continue;
    const inf = new Informer<MetaRecord>(client.resource(gvrOf(rt)).asMetadata(), {
      name: `${rt.plural}.${rt.group}`, transform: stripToMeta(rt),
      handlers: {
        onAdd: (o) => track(rt, o, true),
        onUpdate: (_old, o) => track(rt, o, true),
        onDelete: (o) => track(rt, o, false),
      },
    });
    informers.set(rt, inf);
    inf.start();
  }

  const api = (rt: ResourceType, ns?: string): ResourceClient => client.resource(gvrOf(rt), ns);

  /** Whether the owner a reference names still exists (checked live when the cache lacks it). */
  async function ownerState(dep: Ref, or: OwnerReference): Promise<'present' | 'absent' | 'deleting-foreground'> {
    const { group } = splitApiVersion(or.apiVersion);
    const rt = byKind.get(`${group}/${or.kind}`);
    if (!rt) return 'present'; // unknown kinds are never garbage-collected against
    const ns = rt.namespaced ? dep.namespace : undefined;
    const cached = byUid.get(or.uid);
    let owner: KObject | undefined;
    if (cached) owner = informers.get(cached.rt)?.get(cached.namespace, cached.name);
    if (!owner) {
      try {
        owner = await api(rt, ns).get(or.name);
      } catch (e) {
        if (notFound(e)) return 'absent';
        throw e;
      }
      if (owner.metadata.uid !== or.uid) return 'absent';
    }
    if (owner.metadata.deletionTimestamp && owner.metadata.finalizers?.includes('foregroundDeletion')) return 'deleting-foreground';
    return 'present';
  }

  async function processDependent(ref: Ref, obj: MetaRecord): Promise<void> {
    const owners = obj.metadata.ownerReferences ?? [];
    if (!owners.length) return;
    const states = await Promise.all(owners.map((or) => ownerState(ref, or)));
    const dangling = owners.filter((_, i) => states[i] === 'absent');
    const foreground = owners.filter((_, i) => states[i] === 'deleting-foreground');
    if (dangling.length === owners.length) {
      if (obj.metadata.deletionTimestamp) return;
      await api(ref.rt, ref.namespace).delete(ref.name, { propagationPolicy: 'Background', preconditions: { uid: obj.metadata.uid } })
        .catch((e) => { if (!notFound(e) && !conflict(e)) throw e; });
      return;
    }
    if (foreground.length + dangling.length === owners.length && foreground.length) {
      if (obj.metadata.deletionTimestamp) return;
      await api(ref.rt, ref.namespace).delete(ref.name, { propagationPolicy: 'Foreground', preconditions: { uid: obj.metadata.uid } })
        .catch((e) => { if (!notFound(e) && !conflict(e)) throw e; });
      return;
    }
    if (dangling.length) {
      // Some owners are gone and others stay: drop the references to the gone ones.
      const keep = owners.filter((or) => !dangling.some((d) => d.uid === or.uid));
      await api(ref.rt, ref.namespace).patch(ref.name, 'merge', { metadata: { ownerReferences: keep, uid: obj.metadata.uid } })
        .catch((e) => { if (!notFound(e)) throw e; });
    }
  }

  async function processOwner(ref: Ref, obj: MetaRecord): Promise<void> {
    const fin = obj.metadata.finalizers ?? [];
    const deps = [...(dependents.get(obj.metadata.uid!) ?? [])].map((k) => refs.get(k)).filter((r): r is Ref => !!r);
    const depObjs = deps.map((d) => ({ d, o: informers.get(d.rt)?.get(d.namespace, d.name) })).filter((x) => !!x.o);
    const removeFinalizer = async (f: string) => {
      const cur = await api(ref.rt, ref.namespace).get(ref.name);
      const rest = (cur.metadata.finalizers ?? []).filter((x) => x !== f);
      await api(ref.rt, ref.namespace).patch(ref.name, 'json', [
        { op: 'test', path: '/metadata/resourceVersion', value: cur.metadata.resourceVersion },
        { op: 'replace', path: '/metadata/finalizers', value: rest },
      ]);
    };
    if (fin.includes('orphan')) {
      for (const { d, o } of depObjs) {
        const keep = (o!.metadata.ownerReferences ?? []).filter((or) => or.uid !== obj.metadata.uid);
        await api(d.rt, d.namespace).patch(d.name, 'merge', { metadata: { ownerReferences: keep.length ? keep : null } })
          .catch((e) => { if (!notFound(e)) throw e; });
      }
      await removeFinalizer('orphan');
      return;
    }
    if (fin.includes('foregroundDeletion')) {
      const blocking = depObjs.filter(({ o }) => (o!.metadata.ownerReferences ?? []).some((or) => or.uid === obj.metadata.uid && or.blockOwnerDeletion));
      for (const { d, o } of depObjs) {
        if (o!.metadata.deletionTimestamp) continue;
        await api(d.rt, d.namespace).delete(d.name, { propagationPolicy: 'Foreground' }).catch((e) => { if (!notFound(e)) throw e; });
      }
      if (blocking.length) throw new Retry(`waiting for ${blocking.length} dependents of ${refKey(ref)}`);
      await removeFinalizer('foregroundDeletion');
    }
  }

  async function gcSync(key: string): Promise<void> {
    const ref = refs.get(key);
    if (!ref) return;
    const obj = informers.get(ref.rt)?.get(ref.namespace, ref.name);
    if (!obj) return;
    try {
      if (obj.metadata.deletionTimestamp) await processOwner(ref, obj);
      await processDependent(ref, obj);
    } catch (e) {
      if (notFound(e)) return;
      throw e;
    }
  }

  async function nsSync(name: string): Promise<void> {
    const nsClient = api(nsType);
    let ns: KObject;
    try { ns = await nsClient.get(name); } catch (e) { if (notFound(e)) return; throw e; }
    if (!ns.metadata.deletionTimestamp) return;
    let remaining = 0;
    for (const rt of resources) {
      if (!rt.namespaced) continue;
      const inf = informers.get(rt);
      const items = inf ? inf.listNamespace(name) : [];
      if (!items.length) continue;
      remaining += items.length;
      await api(rt, name).deleteCollection({}).catch((e) => { if (!notFound(e)) throw e; });
    }
    if (remaining) throw new Retry(`namespace ${name}: ${remaining} objects remain`);
    const specFinalizers = (ns.spec as { finalizers?: string[] } | undefined)?.finalizers ?? [];
    if (specFinalizers.includes('kubernetes')) {
      await client.request('PUT', `/api/v1/namespaces/${encodeURIComponent(name)}/finalize`, {
        ...ns, spec: { ...(ns.spec as object), finalizers: specFinalizers.filter((f) => f !== 'kubernetes') },
      });
    }
    await nsClient.delete(name).catch((e) => { if (!notFound(e)) throw e; });
  }

  await Promise.all([...informers.values()].map((i) => i.waitForSync()));
  const quiet = (err: unknown) => err instanceof Retry ? undefined : console.error(`podnet controllers: ${(err as Error).message}`);
  const workers = [
    runWorkers(gcQueue, 2, gcSync, { onError: (_k, e) => quiet(e) }),
    runWorkers(nsQueue, 1, nsSync, { onError: (_k, e) => quiet(e) }),
  ];
  return async () => {
    gcQueue.shutDown();
    nsQueue.shutDown();
    await Promise.all([...informers.values()].map((i) => i.stop()));
    await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 2000))]);
    client.close();
  };
}

/** Not an error: the work is not finished and is retried with backoff. */
class Retry extends Error {}
