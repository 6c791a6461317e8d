// The resources podnet's own components address, in one place (client-go's typed clients
// carry these in their generated code).
import type { GVR } from './client.js';

export const PODS: GVR = { group: '', version: 'v1', resource: 'pods', namespaced: true };
export const NODES: GVR = { group: '', version: 'v1', resource: 'nodes', namespaced: false };
export const EVENTS: GVR = { group: '', version: 'v1', resource: 'events', namespaced: true };
export const CONFIGMAPS: GVR = { group: '', version: 'v1', resource: 'configmaps', namespaced: true };
export const SECRETS: GVR = { group: '', version: 'v1', resource: 'secrets', namespaced: true };
export const SERVICES: GVR = { group: '', version: 'v1', resource: 'services', namespaced: true };
export const LEASES: GVR = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', namespaced: true };
export const REPLICASETS: GVR = { group: 'apps', version: 'v1', resource: 'replicasets', namespaced: true };
export const DEPLOYMENTS: GVR = { group: 'apps', version: 'v1', resource: 'deployments', namespaced: true };
export const ENDPOINTS: GVR = { group: '', version: 'v1', resource: 'endpoints', namespaced: true };
export const ENDPOINTSLICES: GVR = { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', namespaced: true };
export const NAMESPACES: GVR = { group: '', version: 'v1', resource: 'namespaces', namespaced: false };
