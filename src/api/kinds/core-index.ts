// The core/v1, apps/v1, coordination.k8s.io/v1 and events.k8s.io/v1 kinds (everything but
// the networking ones), for src/api/kinds/index.ts to merge.

import type { ResourceType } from '../registry.js';
import { configMaps } from './configmap.js';
import { deployments } from './deployment.js';
import { events, eventsV1 } from './event.js';
import { leases } from './lease.js';
import { namespaces } from './namespace.js';
import { nodes } from './node.js';
import { pods } from './pod.js';
import { replicaSets } from './replicaset.js';
import { secrets } from './secret.js';
import { serviceAccounts } from './serviceaccount.js';

export const coreKinds: ResourceType[] = [
  namespaces, nodes, pods, configMaps, secrets, serviceAccounts, events, eventsV1, leases, deployments, replicaSets,
];
