// The proxy's view of the API: Services and EndpointSlices stripped, once, on arrival to the
// few fields the data plane uses (STYLE.md item 7). Everything past the informer works on these
// records; a malformed object becomes an error message instead of a record, so it can be
// reported (an Event) and skipped without blocking the others.

import { isIP } from 'node:net';
import { canonicalIP, parseCIDR } from '../net/cidr.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type Family = 4 | 6;

export interface ServicePortRecord {
  name: string;
  protocol: Protocol;
  port: number;
  /** 0 when none. */
  nodePort: number;
}

export interface ServiceRecord {
  namespace: string;
  name: string;
  uid: string;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  /** Canonical, one per family at most; empty for headless and ExternalName services. */
  clusterIPs: string[];
  ports: ServicePortRecord[];
  externalIPs: string[];
  /** status.loadBalancer.ingress[].ip, except ipMode Proxy (the LB delivers to the node itself). */
  loadBalancerIPs: string[];
  /** ClientIP affinity timeout in seconds; undefined without affinity. */
  affinityTimeout?: number;
  externalTrafficLocal: boolean;
  internalTrafficLocal: boolean;
  healthCheckNodePort: number;
  trafficDistribution?: string;
}

export interface EndpointRecord {
  /** The first address, as kube-proxy uses. */
  ip: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  nodeName?: string;
  zone?: string;
  zoneHints: string[];
  nodeHints: string[];
}

export interface SlicePortRecord { name: string; protocol: Protocol; port: number }

export interface SliceRecord {
  namespace: string;
  name: string;
  /** The Service it belongs to (label kubernetes.io/service-name). */
  serviceName: string;
  family: Family;
  ports: SlicePortRecord[];
  endpoints: EndpointRecord[];
  /** endpoints.kubernetes.io/last-change-trigger-time, for programming latency. */
  triggerTime?: string;
}

export type Stripped<T> = { ok: true; rec: T } | { ok: false; error: string };

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Objects with these labels belong to another proxy or to no proxy (kube-proxy's informer filter). */
export const PROXY_LABEL_SELECTOR = '!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless';
const TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

export const familyOf = (ip: string): Family => (isIP(ip) === 6 ? 6 : 4);

function protocolOf(v: unknown, where: string): Protocol {
  const p = v === undefined || v === null ? 'TCP' : v;
  if (p === 'TCP' || p === 'UDP' || p === 'SCTP') return p;
  throw new Error(`${where}: unsupported protocol ${JSON.stringify(p)}`);
}

function portOf(v: unknown, where: string, allowZero = false): number {
  const n = v === undefined || v === null ? 0 : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) throw new Error(`${where}: invalid port ${JSON.stringify(v)}`);
  return n;
}

function ipOf(v: unknown, where: string): string {
  const s = str(v);
  if (!isIP(s)) throw new Error(`${where}: invalid IP ${JSON.stringify(v)}`);
  return canonicalIP(s);
}

/** A Service as the proxy sees it, or why it cannot be used. */
export function stripService(o: unknown): Stripped<ServiceRecord> {
  const md = obj(obj(o).metadata);
  const spec = obj(obj(o).spec);
  const namespace = str(md.namespace), name = str(md.name);
  try {
    const type = (str(spec.type) || 'ClusterIP') as ServiceRecord['type'];
    if (!['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'].includes(type)) throw new Error(`unknown type ${JSON.stringify(spec.type)}`);
    const raw = arr(spec.clusterIPs).length ? arr(spec.clusterIPs) : spec.clusterIP !== undefined ? [spec.clusterIP] : [];
    const clusterIPs: string[] = [];
    if (type !== 'ExternalName') {
      for (const [i, ip] of raw.entries()) {
        if (ip === 'None' || ip === '') continue;
        const c = ipOf(ip, `spec.clusterIPs[${i}]`);
        if (clusterIPs.some((x) => familyOf(x) === familyOf(c))) throw new Error(`spec.clusterIPs: two addresses of one family`);
        clusterIPs.push(c);
      }
    }
    const seen = new Set<string>();
    const ports = arr(spec.ports).map((p, i): ServicePortRecord => {
      const po = obj(p);
      const r = {
        name: str(po.name), protocol: protocolOf(po.protocol, `spec.ports[${i}]`), port: portOf(po.port, `spec.ports[${i}].port`),
        nodePort: type === 'NodePort' || type === 'LoadBalancer' ? portOf(po.nodePort, `spec.ports[${i}].nodePort`, true) : 0,
      };
      const k = `${r.name}/${r.protocol}`;
      if (seen.has(k)) throw new Error(`spec.ports[${i}]: duplicate port name ${JSON.stringify(r.name)} for ${r.protocol}`);
      seen.add(k);
      return r;
    });
    const externalIPs = arr(spec.externalIPs).map((ip, i) => ipOf(ip, `spec.externalIPs[${i}]`));
    const loadBalancerIPs: string[] = [];
    if (type === 'LoadBalancer') {
      for (const [i, ing] of arr(obj(obj(obj(o).status).loadBalancer).ingress).entries()) {
        const io = obj(ing);
        if (!io.ip || io.ipMode === 'Proxy') continue;
        loadBalancerIPs.push(ipOf(io.ip, `status.loadBalancer.ingress[${i}].ip`));
      }
    }
    let affinityTimeout: number | undefined;
    if (spec.sessionAffinity === 'ClientIP') {
      const t = obj(obj(spec.sessionAffinityConfig).clientIP).timeoutSeconds;
      affinityTimeout = t === undefined || t === null ? 10800 : portLike(t);
    }
    const externallyAccessible = type === 'NodePort' || type === 'LoadBalancer' || externalIPs.length > 0;
    const rec: ServiceRecord = {
      namespace, name, uid: str(md.uid), type, clusterIPs, ports, externalIPs, loadBalancerIPs,
      ...(affinityTimeout !== undefined ? { affinityTimeout } : {}),
      externalTrafficLocal: externallyAccessible && spec.externalTrafficPolicy === 'Local',
      internalTrafficLocal: spec.internalTrafficPolicy === 'Local',
      healthCheckNodePort: typeof spec.healthCheckNodePort === 'number' ? spec.healthCheckNodePort : 0,
      ...(typeof spec.trafficDistribution === 'string' ? { trafficDistribution: spec.trafficDistribution } : {}),
    };
    return { ok: true, rec };
  } catch (e) {
    return { ok: false, error: `Service ${namespace}/${name}: ${(e as Error).message}` };
  }
}

function portLike(t: unknown): number {
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > 86400) throw new Error(`sessionAffinityConfig.clientIP.timeoutSeconds: invalid ${JSON.stringify(t)}`);
  return t;
}

/** An EndpointSlice as the proxy sees it, or why it cannot be used. FQDN slices yield no record. */
export function stripEndpointSlice(o: unknown): Stripped<SliceRecord> | undefined {
  const md = obj(obj(o).metadata);
  const namespace = str(md.namespace), name = str(md.name);
  try {
    const addressType = str(obj(o).addressType);
    if (addressType === 'FQDN') return undefined;
    if (addressType !== 'IPv4' && addressType !== 'IPv6') throw new Error(`unknown addressType ${JSON.stringify(obj(o).addressType)}`);
    const family: Family = addressType === 'IPv4' ? 4 : 6;
    const serviceName = str(obj(md.labels)[SERVICE_NAME_LABEL]);
    if (!serviceName) throw new Error(`no ${SERVICE_NAME_LABEL} label`);
    const ports: SlicePortRecord[] = [];
    for (const [i, p] of arr(obj(o).ports).entries()) {
      const po = obj(p);
      if (po.port === undefined || po.port === null) continue; // a port without a number means "all ports": unusable for a proxy
      ports.push({ name: str(po.name), protocol: protocolOf(po.protocol, `ports[${i}]`), port: portOf(po.port, `ports[${i}].port`) });
    }
    const endpoints = arr(obj(o).endpoints).map((e, i): EndpointRecord => {
      const eo = obj(e);
      const addrs = arr(eo.addresses);
      if (addrs.length === 0) throw new Error(`endpoints[${i}]: no addresses`);
      const ip = ipOf(addrs[0], `endpoints[${i}].addresses[0]`);
      if (familyOf(ip) !== family) throw new Error(`endpoints[${i}]: ${ip} is not an ${addressType} address`);
      const cond = obj(eo.conditions);
      const ready = cond.ready === undefined || cond.ready === null ? true : cond.ready === true;
      const hints = obj(eo.hints);
      return {
        ip, ready,
        serving: cond.serving === undefined || cond.serving === null ? ready : cond.serving === true,
        terminating: cond.terminating === true,
        ...(typeof eo.nodeName === 'string' ? { nodeName: eo.nodeName } : {}),
        ...(typeof eo.zone === 'string' ? { zone: eo.zone } : {}),
        zoneHints: arr(hints.forZones).map((z) => str(obj(z).name)).filter(Boolean),
        nodeHints: arr(hints.forNodes).map((z) => str(obj(z).name)).filter(Boolean),
      };
    });
    const trigger = str(obj(md.annotations)[TRIGGER_TIME_ANNOTATION]);
    return { ok: true, rec: { namespace, name, serviceName, family, ports, endpoints, ...(trigger ? { triggerTime: trigger } : {}) } };
  } catch (e) {
    return { ok: false, error: `EndpointSlice ${namespace}/${name}: ${(e as Error).message}` };
  }
}

/** Parses --cluster-cidr / --node-ip style lists (comma separated), or throws naming the bad item. */
export function parseCidrList(v: string | undefined, what: string): string[] {
  if (!v) return [];
  return v.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const c = parseCIDR(s);
    if (!c) throw new Error(`${what}: ${JSON.stringify(s)} is not a CIDR`);
    return s;
  });
}
