// The records the endpoint controllers (endpointslice, endpointslicemirroring, endpoint) keep of
// Services, Pods and Nodes, stripped on arrival at the informer (STYLE.md item 7), and the
// discovery.k8s.io/v1 shapes they write. Pure: no I/O.

import type { KObject, ObjectMeta, OwnerReference } from '../../api/meta.js';
import { ipFamilyOf, canonicalIP } from '../../net/cidr.js';

// ---- well-known names ---------------------------------------------------------------------

export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const LABEL_MANAGED_BY = 'endpointslice.kubernetes.io/managed-by';
export const LABEL_SKIP_MIRROR = 'endpointslice.kubernetes.io/skip-mirror';
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
export const LABEL_TOPOLOGY_ZONE = 'topology.kubernetes.io/zone';
export const ANNOTATION_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';
export const ANNOTATION_OVER_CAPACITY = 'endpoints.kubernetes.io/over-capacity';
export const ANNOTATION_TOPOLOGY_MODE = 'service.kubernetes.io/topology-mode';
export const ANNOTATION_TOPOLOGY_AWARE_HINTS = 'service.kubernetes.io/topology-aware-hints';
export const ANNOTATION_LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
export const ANNOTATION_LEADER_ELECTION = 'control-plane.alpha.kubernetes.io/leader';

export const ENDPOINTSLICE_CONTROLLER_NAME = 'endpointslice-controller.k8s.io';
export const MIRRORING_CONTROLLER_NAME = 'endpointslicemirroring-controller.k8s.io';

export type AddressType = 'IPv4' | 'IPv6' | 'FQDN';

// ---- discovery.k8s.io/v1 ------------------------------------------------------------------

export interface ObjectReference {
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  apiVersion?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

export interface EndpointHints {
  forZones?: { name: string }[];
  forNodes?: { name: string }[];
}

export interface Endpoint {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  hostname?: string;
  targetRef?: ObjectReference;
  nodeName?: string;
  zone?: string;
  hints?: EndpointHints;
  deprecatedTopology?: Record<string, string>;
}

export interface EndpointPort {
  name?: string;
  protocol?: string;
  port?: number;
  appProtocol?: string;
}

export interface EndpointSlice extends KObject {
  addressType: AddressType | string;
  endpoints?: Endpoint[] | null;
  ports?: EndpointPort[] | null;
}

// ---- what the controllers keep of a Service ------------------------------------------------

export interface ServicePort {
  name?: string;
  protocol?: string;
  port?: number;
  targetPort?: number | string;
  appProtocol?: string;
}

export interface ServiceRecord extends KObject {
  metadata: Pick<ObjectMeta, 'name' | 'namespace' | 'uid' | 'resourceVersion' | 'labels' | 'annotations' |
    'creationTimestamp' | 'deletionTimestamp'>;
  spec: {
    /** null/undefined: the Service has no selector (its endpoints are managed by someone else). */
    selector?: Record<string, string> | null;
    ports?: ServicePort[];
    clusterIP?: string;
    ipFamilies?: string[];
    type?: string;
    publishNotReadyAddresses?: boolean;
    trafficDistribution?: string;
  };
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? v as Obj : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The Service informer's transform. */
export function stripService(o: KObject): ServiceRecord {
  const m = o.metadata ?? {};
  const s = obj(o.spec);
  const sel = s.selector;
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: {
      name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, labels: m.labels,
      annotations: m.annotations, creationTimestamp: m.creationTimestamp, deletionTimestamp: m.deletionTimestamp,
    },
    spec: {
      selector: sel && typeof sel === 'object' ? { ...(sel as Record<string, string>) } : null,
      ports: arr(s.ports).map((p) => {
        const q = obj(p);
        const tp = q.targetPort;
        return {
          name: str(q.name), protocol: str(q.protocol), port: typeof q.port === 'number' ? q.port : undefined,
          targetPort: typeof tp === 'number' || typeof tp === 'string' ? tp : undefined, appProtocol: str(q.appProtocol),
        };
      }),
      clusterIP: str(s.clusterIP),
      ipFamilies: arr(s.ipFamilies).filter((f): f is string => typeof f === 'string'),
      type: str(s.type),
      publishNotReadyAddresses: s.publishNotReadyAddresses === true,
      trafficDistribution: str(s.trafficDistribution),
    },
  };
}

// ---- what the controllers keep of a Pod ----------------------------------------------------

export interface NamedPort { name: string; containerPort: number; protocol: string }

export interface EndpointPod extends KObject {
  metadata: Pick<ObjectMeta, 'name' | 'namespace' | 'uid' | 'resourceVersion' | 'labels' | 'deletionTimestamp'>;
  spec: {
    nodeName?: string;
    hostname?: string;
    subdomain?: string;
    /** Named container ports, containers first, then sidecars (restartable init containers). */
    namedPorts: NamedPort[];
  };
  status: {
    phase?: string;
    podIPs: string[];
    ready: boolean;
    /** The Ready condition's lastTransitionTime: the pod's endpoint trigger time. */
    readyTransition?: string;
  };
}

function namedPortsOf(containers: unknown[], sidecarsOnly: boolean): NamedPort[] {
  const out: NamedPort[] = [];
  for (const c of containers) {
    const co = obj(c);
    if (sidecarsOnly && co.restartPolicy !== 'Always') continue;
    for (const p of arr(co.ports)) {
      const q = obj(p);
      if (typeof q.name !== 'string' || !q.name || typeof q.containerPort !== 'number') continue;
      out.push({ name: q.name, containerPort: q.containerPort, protocol: str(q.protocol) ?? 'TCP' });
    }
  }
  return out;
}

/** The Pod informer's transform for the endpoint controllers. */
export function stripEndpointPod(o: KObject): EndpointPod {
  const m = o.metadata ?? {};
  const spec = obj(o.spec);
  const st = obj(o.status);
  const ips = arr(st.podIPs).map((x) => str(obj(x).ip)).filter((x): x is string => !!x);
  if (ips.length === 0 && typeof st.podIP === 'string' && st.podIP) ips.push(st.podIP);
  const ready = arr(st.conditions).map(obj).find((c) => c.type === 'Ready');
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, labels: m.labels,
      deletionTimestamp: m.deletionTimestamp,
    },
    spec: {
      nodeName: str(spec.nodeName) || undefined,
      hostname: str(spec.hostname) || undefined,
      subdomain: str(spec.subdomain) || undefined,
      namedPorts: [...namedPortsOf(arr(spec.containers), false), ...namedPortsOf(arr(spec.initContainers), true)],
    },
    status: {
      phase: str(st.phase),
      podIPs: ips,
      ready: ready?.status === 'True',
      readyTransition: ready ? str(ready.lastTransitionTime) : undefined,
    },
  };
}

// ---- what the controllers keep of a Node ---------------------------------------------------

export interface NodeRecord extends KObject {
  metadata: Pick<ObjectMeta, 'name' | 'resourceVersion' | 'labels'>;
  ready: boolean;
  /** status.allocatable.cpu in millicores (0 when missing or unparsable). */
  cpuMilli: number;
}

const KEPT_NODE_LABELS = [LABEL_TOPOLOGY_ZONE, 'node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master'];

/** The Node informer's transform. */
export function stripNode(o: KObject): NodeRecord {
  const m = o.metadata ?? {};
  const st = obj(o.status);
  const labels: Record<string, string> = {};
  for (const k of KEPT_NODE_LABELS) if (m.labels?.[k] !== undefined) labels[k] = m.labels[k]!;
  const ready = arr(st.conditions).map(obj).find((c) => c.type === 'Ready');
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: m.name, resourceVersion: m.resourceVersion, labels },
    ready: ready?.status === 'True',
    cpuMilli: parseCpuMilli(obj(st.allocatable).cpu),
  };
}

const SUFFIX: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** resource.Quantity.MilliValue() for a CPU quantity ("4", "3500m", "0.5", "1e3"), rounded up. */
export function parseCpuMilli(q: unknown): number {
  if (typeof q === 'number') return Number.isFinite(q) && q > 0 ? Math.ceil(q * 1000) : 0;
  if (typeof q !== 'string') return 0;
  const mt = /^\+?(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/.exec(q.trim());
  if (!mt) return 0;
  let v = Number(mt[1]);
  if (mt[2]) v *= 10 ** Number(mt[2].slice(1));
  else v *= SUFFIX[mt[3] ?? '']!;
  // Guard against float noise (0.1*3 = 0.30000000000000004) before rounding up.
  return Math.ceil(Math.round(v * 1000 * 1e6) / 1e6);
}

// ---- small helpers shared by the endpoint controllers ---------------------------------------

/** IP family of an address as an EndpointSlice addressType ("IPv4" / "IPv6"), or undefined. */
export function addressTypeOf(ip: string): AddressType | undefined {
  return ip.includes('/') ? undefined : ipFamilyOf(ip);
}

/** The address in canonical form (utilnet.ParseIPSloppy(..).String()), or undefined if invalid. */
export function canonicalAddress(ip: string): string | undefined {
  try {
    return addressTypeOf(ip) ? canonicalIP(ip) : undefined;
  } catch {
    return undefined;
  }
}

/** helper.IsServiceIPSet */
export const isServiceIPSet = (svc: ServiceRecord): boolean => !!svc.spec.clusterIP && svc.spec.clusterIP !== 'None';

/** metav1.NewControllerRef for a core/v1 owner. */
export function controllerRef(owner: KObject, kind: string): OwnerReference {
  return { apiVersion: 'v1', kind, name: owner.metadata.name!, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true };
}

/** JSON with object keys sorted: a canonical form for comparing API values. */
export function stableStringify(v: unknown): string {
  if (v === undefined) return 'null';
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const keys = Object.keys(v).filter((k) => (v as Obj)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify((v as Obj)[k])}`).join(',')}}`;
}

/** Semantic equality of two string maps; nil and empty are equal (apiequality.Semantic). */
export function mapsEqual(a: Record<string, string> | undefined | null, b: Record<string, string> | undefined | null): boolean {
  const ka = Object.keys(a ?? {}), kb = Object.keys(b ?? {});
  if (ka.length !== kb.length) return false;
  for (const k of ka) if ((b ?? {})[k] !== (a ?? {})[k]) return false;
  return true;
}

/** RFC3339 timestamp → RFC3339Nano in UTC as Go formats it (trailing zeros of the fraction dropped). */
export function formatTriggerTime(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.678Z
  return iso.replace(/\.(\d*?)0*Z$/, (_m, f: string) => (f ? `.${f}Z` : 'Z'));
}

/** FindPort: the container port a service port's targetPort means on this pod, or undefined. */
export function findPort(pod: EndpointPod, sp: ServicePort): number | undefined {
  const tp = sp.targetPort;
  if (typeof tp === 'number') return tp;
  if (typeof tp === 'string' && tp !== '') {
    // intstr from JSON: a string is a named port (validation rejects numeric strings upstream,
    // but tolerate them as numbers, as intstr.IntValue would).
    if (/^\d+$/.test(tp)) return Number(tp);
    const proto = sp.protocol ?? 'TCP';
    return pod.spec.namedPorts.find((p) => p.name === tp && p.protocol === proto)?.containerPort;
  }
  // targetPort defaults to port (the API server defaults it; tolerate objects that skipped that).
  return sp.port;
}

/** ShouldPodBeInEndpoints */
export function shouldPodBeInEndpoints(pod: EndpointPod, includeTerminating: boolean): boolean {
  if (pod.status.phase === 'Failed' || pod.status.phase === 'Succeeded') return false;
  if (pod.status.podIPs.length === 0) return false;
  if (!includeTerminating && pod.metadata.deletionTimestamp) return false;
  return true;
}

/** ShouldSetHostname */
export const shouldSetHostname = (pod: EndpointPod, svc: ServiceRecord): boolean =>
  !!pod.spec.hostname && pod.spec.subdomain === svc.metadata.name && svc.metadata.namespace === pod.metadata.namespace;
