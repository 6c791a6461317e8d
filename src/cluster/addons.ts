// What `podnet up` runs inside the cluster, as kubeadm and kind install CoreDNS: the cluster DNS
// as a Deployment of two pods in kube-system behind the Service `kube-dns` at the service
// range's .10. The pods run podnet's own image (podnet.io/podnet: this podnet's CLI), so the
// DNS server is scheduled, probed, restarted and load-balanced like any workload.
//
// objects() is pure; ensureAddons() creates what is missing and leaves existing objects alone
// (a user may have scaled or edited them).

import type { KObject } from '../api/meta.js';
import type { ApiClient } from '../client/client.js';
import { StatusError } from '../api/errors.js';
import { DEPLOYMENTS, SERVICES } from '../client/resources.js';
import { PODNET_IMAGE } from '../agent/pure.js';
import type { ClusterPlan } from './plan.js';

export const DNS_NAME = 'kube-dns';
const DNS_LABELS = { 'k8s-app': 'kube-dns' };

/** The cluster DNS Deployment and Service for a plan; `kubeconfig` is the file the DNS pods read. */
export function clusterDnsObjects(plan: Pick<ClusterPlan, 'dnsAddresses'>, kubeconfig: string, clusterDomain = 'cluster.local'): KObject[] {
  const dual = plan.dnsAddresses.length > 1;
  const deployment: KObject = {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: DNS_NAME, namespace: 'kube-system', labels: { ...DNS_LABELS } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { ...DNS_LABELS } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: '10%' } },
      template: {
        metadata: { labels: { ...DNS_LABELS } },
        spec: {
          // The node's resolv.conf, not the cluster DNS itself (which would loop).
          dnsPolicy: 'Default',
          terminationGracePeriodSeconds: 5,
          containers: [{
            name: 'dns',
            image: `${PODNET_IMAGE}:latest`,
            // Nodes have no route out of the cluster (DESIGN.md), so names outside the cluster
            // domain are refused rather than forwarded into a timeout.
            // `--pods insecure`, as kubeadm's CoreDNS Corefile: pod records without watching every pod.
            args: ['dns', '--kubeconfig', kubeconfig, '--cluster-domain', clusterDomain, '--no-forward', '--pods', 'insecure',
              '--listen', ':53', '--metrics', ':9153', '--health', ':8080', '--ready', ':8181'],
            ports: [
              { name: 'dns', containerPort: 53, protocol: 'UDP' },
              { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
              { name: 'metrics', containerPort: 9153, protocol: 'TCP' },
            ],
            readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 2, failureThreshold: 1 },
            livenessProbe: { httpGet: { path: '/health', port: 8080 }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 5 },
          }],
        },
      },
    },
  };
  const service: KObject = {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: DNS_NAME, namespace: 'kube-system', labels: { ...DNS_LABELS, 'kubernetes.io/name': 'CoreDNS' } },
    spec: {
      selector: { ...DNS_LABELS },
      clusterIP: plan.dnsAddresses[0],
      clusterIPs: [...plan.dnsAddresses],
      ipFamilyPolicy: dual ? 'RequireDualStack' : 'SingleStack',
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 9153 },
      ],
    },
  };
  return [deployment, service];
}

/** Creates the addon objects that do not exist yet. */
export async function ensureAddons(client: ApiClient, objects: KObject[]): Promise<void> {
  for (const o of objects) {
    const gvr = o.kind === 'Deployment' ? DEPLOYMENTS : SERVICES;
    try {
      await client.resource(gvr, o.metadata.namespace).create(o);
    } catch (e) {
      if (!(e instanceof StatusError && e.code === 409)) throw e;
    }
  }
}
