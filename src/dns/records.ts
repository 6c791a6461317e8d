// What the DNS server knows about the cluster: Services, EndpointSlices, Pods and Namespace
// names stripped once, on arrival, to the few fields DNS answers need (STYLE.md item 7), and
// the narrow index the resolver reads (STYLE.md item 6) — lookups by service name, by IP (for
// PTR), pods by IP, namespace existence — as CoreDNS's kubernetes plugin reads its controller.
//
// Stripping is tolerant: a malformed port or address is skipped, not the whole object, so
// one bad entry never takes a Service's other names out of DNS.

import { isIP } from 'node:net';
import { canonicalIP } from '../net/cidr.js';
import { foldCase } from './wire.js';

export interface PortRecord { name: string; protocol: string; port: number }

export interface ServiceRecord {
  namespace: string;
  name: string;
  kind: 'ClusterIP' | 'Headless' | 'ExternalName';
  /** Canonical; empty for headless and ExternalName Services. */
  clusterIPs: string[];
  /** ExternalName target without a trailing dot ('' otherwise). */
  externalName: string;
  ports: PortRecord[];
}

export interface SliceEndpoint {
  /** Canonical addresses (all of them: the spec wants one record per address). */
  addresses: string[];
  /** The endpoint's `hostname` field ('' when unset). */
  hostname: string;
  /** conditions.ready; unset means ready (EndpointSlice API). */
  ready: boolean;
}

export interface SliceRecord {
  namespace: string;
  name: string;
  /** kubernetes.io/service-name ('' when missing: such a slice feeds no Service). */
  service: string;
  ports: PortRecord[];
  endpoints: SliceEndpoint[];
}

export interface PodRecord {
  namespace: string;
  name: string;
  /** Canonical status.podIPs (or status.podIP). */
  ips: string[];
  deleting: boolean;
}

/** One ready endpoint address of a Service, with the ports of the slice it came from. */
export interface EndpointAddress {
  ip: string;
  /** The explicit hostname, or '' (the resolver then derives one from the address). */
  hostname: string;
  ports: PortRecord[];
}

/** The lookups the resolver needs, and nothing else. */
export interface DnsIndex {
  service(namespace: string, name: string): ServiceRecord | undefined;
  /** Ready endpoint addresses of a Service across all its slices. */
  readyEndpoints(namespace: string, service: string): EndpointAddress[];
  /** Services with this ClusterIP. */
  servicesByIP(ip: string): ServiceRecord[];
  /** Ready endpoints with this address, with the Service they belong to. */
  endpointsByIP(ip: string): Array<{ namespace: string; service: string; hostname: string }>;
  podsByIP(ip: string): PodRecord[];
  namespaceExists(namespace: string): boolean;
  /** SOA serial: when the data last changed (Unix seconds, as CoreDNS). */
  serial(): number;
  /**
   * A number that changes with every change to what the lookups above return. While it stays
   * the same the server may answer a repeated question with the bytes it encoded before; an
   * index without it is read afresh for every query.
   */
  generation?(): number;
}

// ---- stripping -----------------------------------------------------------------------------

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

function canonical(ip: unknown): string | undefined {
  const s = str(ip);
  if (!isIP(s)) return undefined;
  try { return canonicalIP(s); } catch { return undefined; }
}

function stripPorts(list: unknown): PortRecord[] {
  const out: PortRecord[] = [];
  for (const p of arr(list)) {
    const po = obj(p);
    const port = po.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    out.push({ name: foldCase(str(po.name)), protocol: foldCase(str(po.protocol) || 'TCP'), port });
  }
  return out;
}

export function stripService(o: unknown): ServiceRecord {
  const md = obj(obj(o).metadata), spec = obj(obj(o).spec);
  const base = { namespace: foldCase(str(md.namespace)), name: foldCase(str(md.name)), ports: stripPorts(spec.ports) };
  if (spec.type === 'ExternalName') {
    const ext = str(spec.externalName).replace(/\.$/, '');
    return { ...base, kind: 'ExternalName', clusterIPs: [], externalName: ext };
  }
  const raw = arr(spec.clusterIPs).length ? arr(spec.clusterIPs) : spec.clusterIP !== undefined ? [spec.clusterIP] : [];
  const clusterIPs: string[] = [];
  for (const ip of raw) { const c = canonical(ip); if (c && !clusterIPs.includes(c)) clusterIPs.push(c); }
  const headless = raw.includes('None') || clusterIPs.length === 0;
  return { ...base, kind: headless ? 'Headless' : 'ClusterIP', clusterIPs: headless ? [] : clusterIPs, externalName: '' };
}

export function stripEndpointSlice(o: unknown): SliceRecord {
  const md = obj(obj(o).metadata);
  const addressType = str(obj(o).addressType);
  const endpoints: SliceEndpoint[] = [];
  if (addressType === 'IPv4' || addressType === 'IPv6') {
    for (const e of arr(obj(o).endpoints)) {
      const eo = obj(e);
      const addresses = arr(eo.addresses).map(canonical).filter((a): a is string => a !== undefined);
      if (addresses.length === 0) continue;
      const ready = obj(eo.conditions).ready;
      endpoints.push({ addresses, hostname: foldCase(str(eo.hostname)), ready: ready === undefined || ready === null || ready === true });
    }
  }
  return {
    namespace: foldCase(str(md.namespace)), name: str(md.name), service: foldCase(str(obj(md.labels)[SERVICE_NAME_LABEL])),
    ports: stripPorts(obj(o).ports), endpoints,
  };
}

export function stripPod(o: unknown): PodRecord {
  const md = obj(obj(o).metadata), status = obj(obj(o).status);
  const ips: string[] = [];
  const raw = arr(status.podIPs).length ? arr(status.podIPs).map((x) => obj(x).ip) : [status.podIP];
  for (const ip of raw) { const c = canonical(ip); if (c && !ips.includes(c)) ips.push(c); }
  return { namespace: foldCase(str(md.namespace)), name: str(md.name), ips, deleting: !!md.deletionTimestamp };
}

// ---- the in-memory index -------------------------------------------------------------------

const key = (ns: string, name: string) => `${ns}/${name}`;

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let s = m.get(k);
  if (!s) { s = new Set(); m.set(k, s); }
  s.add(v);
}
function removeFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (s) { s.delete(v); if (s.size === 0) m.delete(k); }
}

/**
 * The index, kept current by upserts and deletes (from informer handlers, or a test fixture).
 * Every method is O(1) or O(answer); nothing scans all objects.
 */
export class MemoryIndex implements DnsIndex {
  private readonly services = new Map<string, ServiceRecord>();
  private readonly slices = new Map<string, SliceRecord>();
  private readonly slicesByService = new Map<string, Set<string>>();
  private readonly servicesByIp = new Map<string, Set<string>>();
  private readonly slicesByIp = new Map<string, Set<string>>();
  private readonly pods = new Map<string, PodRecord>();
  private readonly podsByIp = new Map<string, Set<string>>();
  private readonly namespaces = new Set<string>();
  private modified = Math.floor(Date.now() / 1000);
  private changes = 0;

  private touch() { this.modified = Math.floor(Date.now() / 1000); this.changes++; }

  upsertService(s: ServiceRecord): void {
    this.deleteService(s.namespace, s.name);
    const k = key(s.namespace, s.name);
    this.services.set(k, s);
    for (const ip of s.clusterIPs) addTo(this.servicesByIp, ip, k);
    this.touch();
  }

  deleteService(namespace: string, name: string): void {
    const k = key(foldCase(namespace), foldCase(name));
    const old = this.services.get(k);
    if (!old) return;
    for (const ip of old.clusterIPs) removeFrom(this.servicesByIp, ip, k);
    this.services.delete(k);
    this.touch();
  }

  upsertSlice(s: SliceRecord): void {
    this.deleteSlice(s.namespace, s.name);
    const k = key(s.namespace, s.name);
    this.slices.set(k, s);
    if (s.service) addTo(this.slicesByService, key(s.namespace, s.service), k);
    for (const e of s.endpoints) for (const ip of e.addresses) addTo(this.slicesByIp, ip, k);
    this.touch();
  }

  deleteSlice(namespace: string, name: string): void {
    const k = key(foldCase(namespace), name);
    const old = this.slices.get(k);
    if (!old) return;
    if (old.service) removeFrom(this.slicesByService, key(old.namespace, old.service), k);
    for (const e of old.endpoints) for (const ip of e.addresses) removeFrom(this.slicesByIp, ip, k);
    this.slices.delete(k);
    this.touch();
  }

  upsertPod(p: PodRecord): void {
    this.deletePod(p.namespace, p.name);
    const k = key(p.namespace, p.name);
    this.pods.set(k, p);
    for (const ip of p.ips) addTo(this.podsByIp, ip, k);
    this.touch();
  }

  deletePod(namespace: string, name: string): void {
    const k = key(foldCase(namespace), name);
    const old = this.pods.get(k);
    if (!old) return;
    for (const ip of old.ips) removeFrom(this.podsByIp, ip, k);
    this.pods.delete(k);
    this.touch();
  }

  addNamespace(name: string): void { this.namespaces.add(foldCase(name)); this.touch(); }
  deleteNamespace(name: string): void { this.namespaces.delete(foldCase(name)); this.touch(); }

  get counts() {
    return { services: this.services.size, slices: this.slices.size, pods: this.pods.size, namespaces: this.namespaces.size };
  }

  // ---- DnsIndex ----

  service(namespace: string, name: string): ServiceRecord | undefined {
    return this.services.get(key(namespace, name));
  }

  readyEndpoints(namespace: string, service: string): EndpointAddress[] {
    const keys = this.slicesByService.get(key(namespace, service));
    if (!keys) return [];
    const out: EndpointAddress[] = [];
    for (const k of keys) {
      const s = this.slices.get(k)!;
      for (const e of s.endpoints) {
        if (!e.ready) continue;
        for (const ip of e.addresses) out.push({ ip, hostname: e.hostname, ports: s.ports });
      }
    }
    return out;
  }

  servicesByIP(ip: string): ServiceRecord[] {
    const keys = this.servicesByIp.get(ip);
    return keys ? [...keys].map((k) => this.services.get(k)!) : [];
  }

  endpointsByIP(ip: string): Array<{ namespace: string; service: string; hostname: string }> {
    const keys = this.slicesByIp.get(ip);
    if (!keys) return [];
    const out: Array<{ namespace: string; service: string; hostname: string }> = [];
    for (const k of keys) {
      const s = this.slices.get(k)!;
      if (!s.service) continue;
      for (const e of s.endpoints) {
        if (e.ready && e.addresses.includes(ip)) out.push({ namespace: s.namespace, service: s.service, hostname: e.hostname });
      }
    }
    return out;
  }

  podsByIP(ip: string): PodRecord[] {
    const keys = this.podsByIp.get(ip);
    return keys ? [...keys].map((k) => this.pods.get(k)!) : [];
  }

  namespaceExists(namespace: string): boolean { return this.namespaces.has(namespace); }

  serial(): number { return this.modified; }

  generation(): number { return this.changes; }
}
