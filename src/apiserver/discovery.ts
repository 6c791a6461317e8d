// Discovery documents: the legacy ones (/api, /apis, /apis/G, /api/v1, /apis/G/V) and the
// aggregated ones (apidiscovery.k8s.io/v2 and v2beta1), all derived from the resource records.

import { createHash } from 'node:crypto';
import type { ResourceType } from '../api/registry.js';

export const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export interface SubresourceInfo { name: string; kind: string; group?: string; version?: string; verbs: string[] }

/** Subresources a resource serves (status, scale, and kind-specific ones such as finalize). */
export function subresourcesOf(rt: ResourceType): SubresourceInfo[] {
  const out: SubresourceInfo[] = [];
  if (rt.kind === 'Namespace') out.push({ name: 'finalize', kind: 'Namespace', verbs: ['update'] });
  if (rt.kind === 'Pod' && rt.group === '') {
    out.push({ name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] });
    out.push({ name: 'log', kind: 'Pod', verbs: ['get'] });
  }
  if (rt.subresources?.scale) out.push({ name: 'scale', kind: 'Scale', group: 'autoscaling', version: 'v1', verbs: ['get', 'patch', 'update'] });
  if (rt.subresources?.status) out.push({ name: 'status', kind: rt.kind, verbs: ['get', 'patch', 'update'] });
  return out;
}

const storageVersionHash = (rt: ResourceType) =>
  createHash('sha256').update(`${rt.group}/${rt.version}/${rt.kind}`).digest('base64').slice(0, 11);

/** Group versions in the order discovery lists them (core first, then groups by name). */
export function groupVersions(resources: ResourceType[]): Array<{ group: string; version: string }> {
  const seen = new Map<string, { group: string; version: string }>();
  for (const r of resources) seen.set(`${r.group}/${r.version}`, { group: r.group, version: r.version });
  return [...seen.values()];
}

export function apiVersions(serverAddress: string) {
  return {
    kind: 'APIVersions', versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupsOf(resources: ResourceType[]) {
  const groups = new Map<string, string[]>();
  for (const r of resources) {
    if (!r.group) continue;
    const vs = groups.get(r.group) ?? [];
    if (!vs.includes(r.version)) vs.push(r.version);
    groups.set(r.group, vs);
  }
  return groups;
}

function apiGroup(name: string, versions: string[]) {
  const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: vs, preferredVersion: vs[0] };
}

export function apiGroupList(resources: ResourceType[]) {
  return {
    kind: 'APIGroupList', apiVersion: 'v1',
    groups: [...groupsOf(resources)].map(([name, versions]) => apiGroup(name, versions)),
  };
}

export function apiGroupDoc(resources: ResourceType[], group: string) {
  const versions = groupsOf(resources).get(group);
  return versions ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group, versions) } : undefined;
}

export function apiResourceList(resources: ResourceType[], group: string, version: string) {
  const rs = resources.filter((r) => r.group === group && r.version === version);
  if (!rs.length) return undefined;
  const list: unknown[] = [];
  for (const r of rs) {
    const entry: Record<string, unknown> = {
      name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind,
      verbs: r.verbs ?? ALL_VERBS,
    };
    if (r.shortNames?.length) entry.shortNames = r.shortNames;
    if (r.categories?.length) entry.categories = r.categories;
    entry.storageVersionHash = storageVersionHash(r);
    list.push(entry);
    for (const s of subresourcesOf(r)) {
      const sub: Record<string, unknown> = { name: `${r.plural}/${s.name}`, singularName: '', namespaced: r.namespaced, kind: s.kind, verbs: s.verbs };
      if (s.group) { sub.group = s.group; sub.version = s.version; }
      list.push(sub);
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources: list };
}

/** Aggregated discovery for /api (legacy = true) or /apis, as apidiscovery.k8s.io/{version}. */
export function aggregatedDiscovery(resources: ResourceType[], legacy: boolean, version: 'v2' | 'v2beta1') {
  const byGroup = new Map<string, Map<string, ResourceType[]>>();
  for (const r of resources) {
    if ((r.group === '') !== legacy) continue;
    const g = byGroup.get(r.group) ?? new Map<string, ResourceType[]>();
    const list = g.get(r.version) ?? [];
    list.push(r);
    g.set(r.version, list);
    byGroup.set(r.group, g);
  }
  const items = [...byGroup].map(([group, versions]) => ({
    metadata: { name: group, creationTimestamp: null },
    versions: [...versions].map(([v, rs]) => ({
      version: v,
      resources: rs.map((r) => {
        const res: Record<string, unknown> = {
          resource: r.plural,
          responseKind: { group: r.group, version: r.version, kind: r.kind },
          scope: r.namespaced ? 'Namespaced' : 'Cluster',
          singularResource: r.singular,
          verbs: r.verbs ?? ALL_VERBS,
        };
        if (r.shortNames?.length) res.shortNames = r.shortNames;
        if (r.categories?.length) res.categories = r.categories;
        const subs = subresourcesOf(r);
        if (subs.length) {
          res.subresources = subs.map((s) => ({
            subresource: s.name,
            responseKind: { group: s.group ?? r.group, version: s.version ?? r.version, kind: s.kind },
            verbs: s.verbs,
          }));
        }
        return res;
      }),
      freshness: 'Current',
    })),
  }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}
