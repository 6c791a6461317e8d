// The agent's Node object: registration, status heartbeats, and the node Lease
// (kube-node-lease/<node>), as kubelet keeps them.

import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import { StatusError } from '../api/errors.js';
import type { KObject } from '../api/meta.js';
import type { ApiClient } from '../client/client.js';
import { apiTime } from './pure.js';
import { LEASES, NODES } from '../client/resources.js';

export { NODES, LEASES };
export const AGENT_VERSION = 'v1.32.0-podnet';

export interface NodeIdentity {
  nodeName: string;
  internalIPs: string[];
  zone?: string;
  /** Where the API server reaches this node's kubelet API (logs): port, and an address when it
   *  is not the node's InternalIP (agents run by `podnet up` listen on the host's loopback). */
  kubeletPort?: number;
  kubeletAddress?: string;
}

/** Annotation naming the address of the node's kubelet API when it is not the InternalIP. */
export const KUBELET_ADDRESS_ANNOTATION = 'podnet.io/kubelet-address';

function nodeAnnotations(id: NodeIdentity): Record<string, string> {
  return id.kubeletAddress ? { [KUBELET_ADDRESS_ANNOTATION]: id.kubeletAddress } : {};
}

/** Lease renewTime format (metav1.MicroTime). */
export const microTime = (ms = Date.now()) => new Date(ms).toISOString().replace(/Z$/, '000Z');

function osImage(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m) return m[1]!;
  } catch { /* fall through */ }
  return 'Linux';
}

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };

/** The labels kubelet sets on its Node. */
export function nodeLabels(id: NodeIdentity): Record<string, string> {
  const l: Record<string, string> = {
    'kubernetes.io/hostname': id.nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': ARCH[os.arch()] ?? os.arch(),
    'beta.kubernetes.io/os': 'linux', 'beta.kubernetes.io/arch': ARCH[os.arch()] ?? os.arch(),
  };
  if (id.zone) l['topology.kubernetes.io/zone'] = id.zone;
  return l;
}

/** The Node status the agent posts: addresses, capacity, nodeInfo and its conditions. */
export function nodeStatus(id: NodeIdentity, ready: { ok: boolean; message?: string }, old: { conditions?: { type: string; status: string; lastTransitionTime?: string }[] } = {}): Record<string, unknown> {
  const now = apiTime();
  const mem = `${Math.floor(os.totalmem() / 1024)}Ki`;
  const capacity = { cpu: String(os.cpus().length || 1), memory: mem, pods: '110' };
  const c = (type: string, ok: boolean, reason: string, message: string) => {
    const status = ok ? 'True' : 'False';
    const prev = old.conditions?.find((x) => x.type === type);
    return { type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: prev?.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : now };
  };
  const fam = (ip: string) => (ip.includes(':') ? 6 : 4);
  const seen = new Set<number>();
  const addresses = id.internalIPs.filter((ip) => !seen.has(fam(ip)) && seen.add(fam(ip)))
    .map((address) => ({ type: 'InternalIP', address }));
  addresses.push({ type: 'Hostname', address: id.nodeName });
  let machineID = '';
  try { machineID = readFileSync('/etc/machine-id', 'utf8').trim(); } catch { /* none */ }
  let bootID = '';
  try { bootID = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(); } catch { /* none */ }
  return {
    capacity, allocatable: capacity,
    conditions: [
      c('MemoryPressure', false, 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      c('DiskPressure', false, 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      c('PIDPressure', false, 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      ready.ok
        ? c('Ready', true, 'KubeletReady', 'kubelet is posting ready status')
        : c('Ready', false, 'KubeletNotReady', ready.message ?? 'container runtime network not ready'),
    ],
    addresses,
    daemonEndpoints: { kubeletEndpoint: { Port: id.kubeletPort ?? 10250 } },
    nodeInfo: {
      machineID, systemUUID: machineID, bootID, kernelVersion: os.release(), osImage: osImage(),
      containerRuntimeVersion: 'podnet://0.1.0', kubeletVersion: AGENT_VERSION, kubeProxyVersion: '',
      operatingSystem: 'linux', architecture: ARCH[os.arch()] ?? os.arch(),
    },
  };
}

/** Creates the Node, or brings an existing one's labels and status up to date. Returns the Node. */
export async function registerNode(client: ApiClient, id: NodeIdentity, ready: { ok: boolean; message?: string }): Promise<KObject> {
  const nodes = client.resource(NODES);
  try {
    return await nodes.create({
      apiVersion: 'v1', kind: 'Node', metadata: { name: id.nodeName, labels: nodeLabels(id), annotations: nodeAnnotations(id) }, spec: {},
      status: nodeStatus(id, ready),
    });
  } catch (e) {
    if (!(e instanceof StatusError && e.code === 409)) throw e;
  }
  const cur = await nodes.get(id.nodeName);
  const labels = { ...(cur.metadata.labels ?? {}), ...nodeLabels(id) };
  const annotations = { ...(cur.metadata.annotations ?? {}), ...nodeAnnotations(id) };
  const updated = await nodes.patch(id.nodeName, 'merge', { metadata: { labels, annotations } });
  await postNodeStatus(client, id, ready, updated);
  return updated;
}

/** Posts a status heartbeat (conditions with a fresh lastHeartbeatTime). */
export async function postNodeStatus(client: ApiClient, id: NodeIdentity, ready: { ok: boolean; message?: string }, cur?: KObject): Promise<KObject> {
  const nodes = client.resource(NODES);
  const node = cur ?? await nodes.get(id.nodeName);
  const old = (node.status ?? {}) as { conditions?: { type: string; status: string; lastTransitionTime?: string }[] };
  return nodes.patch(id.nodeName, 'merge', { status: nodeStatus(id, ready, old) }, { subresource: 'status' });
}

/** Creates or renews the node's Lease (holder = node name, 40 s). */
export async function renewLease(client: ApiClient, nodeName: string, node?: KObject): Promise<void> {
  const leases = client.resource(LEASES, 'kube-node-lease');
  try {
    await leases.patch(nodeName, 'merge', { spec: { holderIdentity: nodeName, leaseDurationSeconds: 40, renewTime: microTime() } });
    return;
  } catch (e) {
    if (!(e instanceof StatusError && e.code === 404)) throw e;
  }
  await leases.create({
    apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
    metadata: {
      name: nodeName, namespace: 'kube-node-lease',
      ...(node?.metadata.uid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: node.metadata.uid }] } : {}),
    },
    spec: { holderIdentity: nodeName, leaseDurationSeconds: 40, renewTime: microTime() },
  });
}

/** The node's pod CIDRs from its spec. */
export function podCIDRsOf(node: KObject): string[] {
  const s = (node.spec ?? {}) as { podCIDR?: string; podCIDRs?: string[] };
  return s.podCIDRs?.length ? [...s.podCIDRs] : s.podCIDR ? [s.podCIDR] : [];
}
