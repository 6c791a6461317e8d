// The networking kinds: Services and their endpoints, policies, ingress, and the service IP
// ranges and addresses.
import type { ResourceType } from '../registry.js';
import { endpoints } from './endpoints.js';
import { endpointSlices } from './endpointslice.js';
import { ingressClasses } from './ingressclass.js';
import { ingresses } from './ingress.js';
import { ipAddresses } from './ipaddress.js';
import { networkPolicies } from './networkpolicy.js';
import { serviceCIDRs } from './servicecidr.js';
import { services } from './service.js';

export const netKinds: ResourceType[] = [
  services, endpoints, endpointSlices, networkPolicies, ingresses, ingressClasses, ipAddresses, serviceCIDRs,
];
