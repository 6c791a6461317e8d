// Composition root of the API server: durable store, PKI, the HTTPS server, the kubeconfig,
// and (unless disabled) the controller manager — garbage collection, namespace lifecycle,
// workloads, scheduling, node IPAM — which talks to the server over the API only.

import { mkdir, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { allKinds } from '../api/kinds/index.js';
import type { ResourceType } from '../api/registry.js';
import { ensurePki, kubeconfigYaml, writeKubeconfig } from './certs.js';
import { ApiServer } from './server.js';
import { ServiceRegistry } from './services/index.js';
import { EmbeddedStore } from './storage/embedded.js';
import type { Store } from './storage/types.js';

export interface StartOptions {
  dataDir: string;
  port?: number;
  bind?: string;
  /** Extra names/IPs for the serving certificate. */
  hosts?: string[];
  /** More addresses to listen on (same port); they are added to the certificate too. */
  extraBinds?: string[];
  /** Run the controller manager in this process. Default true. */
  controllers?: boolean;
  /** Which controllers (kube-controller-manager's --controllers syntax); all when omitted. */
  controllerNames?: string[];
  /** The cluster's pod ranges, for node IPAM. */
  clusterCIDRs?: string[];
  clusterName?: string;
  bookmarkIntervalMs?: number;
  resources?: ResourceType[];
  /** Revisions of history the store keeps for watchers to resume from. */
  retainRevisions?: number;
  /** --service-cluster-ip-range: one CIDR or two of different families. Default 10.96.0.0/16. */
  serviceClusterIPRanges?: string | string[];
  /** --service-node-port-range, e.g. 30000-32767 (the default). */
  serviceNodePortRange?: string;
  /** Address published in default/kubernetes endpoints. Default: the bind address. */
  advertiseAddress?: string;
  /** EndpointSlice controller options (--max-endpoints-per-slice, --endpointslice-updates-batch-period). */
  endpointSlice?: { maxEndpointsPerSlice?: number; batchPeriodMs?: number };
}

export interface RunningApiServer {
  server: ApiServer;
  store: Store;
  url: string;
  kubeconfigPath: string;
  stop(): Promise<void>;
}

export async function startApiServer(o: StartOptions): Promise<RunningApiServer> {
  await mkdir(o.dataDir, { recursive: true, mode: 0o700 });
  await chmod(o.dataDir, 0o700);
  const bind = o.bind ?? '127.0.0.1';
  const store = await EmbeddedStore.open(o.dataDir, { retainRevisions: o.retainRevisions });
  let server: ApiServer | undefined;
  let registry: ServiceRegistry | undefined;
  try {
    const pki = await ensurePki(o.dataDir, [bind, ...(o.extraBinds ?? []), ...(o.hosts ?? [])].filter((h) => h !== '0.0.0.0' && h !== '::'));
    server = new ApiServer({
      store, resources: o.resources ?? allKinds, tls: { cert: pki.serverCert, key: pki.serverKey }, tokens: pki.tokens,
      host: bind, port: o.port ?? 6443, extraHosts: o.extraBinds, bookmarkIntervalMs: o.bookmarkIntervalMs, kubeletToken: pki.adminToken,
    });
    // The Service registry (ClusterIP/NodePort allocation, ServiceCIDRs, default/kubernetes)
    // is ready before the server takes requests; it publishes its own objects once serving.
    const rts = o.resources ?? allKinds;
    const hasKind = (g: string, p: string) => rts.some((rt) => rt.group === g && rt.plural === p);
    if (hasKind('', 'services') && hasKind('networking.k8s.io', 'ipaddresses') && hasKind('networking.k8s.io', 'servicecidrs')) {
      const unspecified = bind === '0.0.0.0' || bind === '::';
      registry = new ServiceRegistry(server, {
        clusterIPRanges: o.serviceClusterIPRanges, nodePortRange: o.serviceNodePortRange,
        advertiseAddress: o.advertiseAddress ?? (unspecified ? undefined : bind),
      });
      await registry.init();
    }
    const { url, port } = await server.start();
    await registry?.started(port);
    const kubeconfigPath = join(o.dataDir, 'kubeconfig');
    await writeKubeconfig(kubeconfigPath, kubeconfigYaml({ name: o.clusterName ?? 'podnet', server: url, caCert: pki.caCert, token: pki.adminToken }));
    // The controllers sync their informers over the API; serving does not wait for that.
    let controllers: Promise<(() => Promise<void>) | undefined> = Promise.resolve(undefined);
    if (o.controllers !== false) {
      controllers = import('../controllers/manager.js')
        .then(({ startControllerManager }) => startControllerManager(kubeconfigPath, o.resources ?? allKinds, { controllers: o.controllerNames, clusterCIDRs: o.clusterCIDRs, endpointSlice: o.endpointSlice }))
        .catch((e: unknown) => { console.error(`podnet: controllers: ${(e as Error).message}`); return undefined; });
    }
    const stopControllers = async () => (await controllers)?.();
    const s = server;
    return {
      server: s, store, url, kubeconfigPath,
      async stop() {
        await stopControllers();
        registry?.stop();
        await s.stop();
        await store.close();
      },
    };
  } catch (e) {
    registry?.stop();
    await server?.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw e;
  }
}

