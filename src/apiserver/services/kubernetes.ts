// The objects the API server publishes about itself, as upstream's control-plane controllers
// do: the default ServiceCIDR `kubernetes` (from --service-cluster-ip-range), the
// `default/kubernetes` Service (first address of the primary range, https 443 → the server's
// port), and its Endpoints and EndpointSlice pointing at the advertise address. Pure builders
// plus a comparison of what matters, so the reconciler writes only when something differs.

import type { KObject } from '../../api/meta.js';
import { validateNonSpecialIP } from '../../api/kinds/service.js';
import { type Cidr, addressAt, formatIP, ipFamilyOf, mustParseCIDR } from '../../net/cidr.js';

export const DEFAULT_SERVICE_CIDR_NAME = 'kubernetes';
export const SERVICE_CIDR_FINALIZER = 'networking.k8s.io/service-cidr-finalizer';
export const KUBERNETES_SERVICE = { namespace: 'default', name: 'kubernetes' };
export const KUBERNETES_SERVICE_PORT = 443;
const LABEL_SKIP_MIRROR = 'endpointslice.kubernetes.io/skip-mirror';
const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';

export function defaultServiceCIDR(ranges: string[]): KObject {
  return {
    apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR',
    metadata: { name: DEFAULT_SERVICE_CIDR_NAME },
    spec: { cidrs: [...ranges] },
  };
}

/** The first usable address of a range: the `kubernetes` Service's ClusterIP. */
export function firstServiceIP(range: string | Cidr): string {
  const c = typeof range === 'string' ? mustParseCIDR(range) : range;
  return formatIP(addressAt(c, 1));
}

export function kubernetesService(clusterIP: string, targetPort: number): KObject {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { ...KUBERNETES_SERVICE, labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: {
      type: 'ClusterIP', clusterIP, sessionAffinity: 'None', ipFamilyPolicy: 'SingleStack',
      ports: [{ name: 'https', port: KUBERNETES_SERVICE_PORT, protocol: 'TCP', targetPort }],
    },
  };
}

/** Whether the advertise address may appear in Endpoints (not loopback, link-local, …). */
export const publishableAddress = (ip: string): boolean => validateNonSpecialIP(ip, 'ip').length === 0;

export function kubernetesEndpoints(ip: string, port: number): KObject {
  return {
    apiVersion: 'v1', kind: 'Endpoints',
    metadata: { ...KUBERNETES_SERVICE, labels: { [LABEL_SKIP_MIRROR]: 'true' } },
    subsets: [{ addresses: [{ ip }], ports: [{ name: 'https', port, protocol: 'TCP' }] }],
  };
}

export function kubernetesEndpointSlice(ip: string, port: number): KObject {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { ...KUBERNETES_SERVICE, labels: { [LABEL_SERVICE_NAME]: KUBERNETES_SERVICE.name } },
    addressType: ipFamilyOf(ip) === 'IPv6' ? 'IPv6' : 'IPv4',
    endpoints: [{ addresses: [ip], conditions: { ready: true } }],
    ports: [{ name: 'https', port, protocol: 'TCP' }],
  };
}

/** JSON with object keys sorted, so equal values compare equal whatever their key order. */
export const canonicalJSON = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) =>
  (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as object).sort(([a], [b]) => a.localeCompare(b))) : x));

/** The parts of an object the reconciler owns: the given labels and everything outside metadata/status. */
export function ownedPart(o: KObject, labelKeys: string[]): string {
  const { metadata, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  const labels = Object.fromEntries(labelKeys.map((k) => [k, metadata.labels?.[k]]));
  return canonicalJSON({ labels, rest });
}
