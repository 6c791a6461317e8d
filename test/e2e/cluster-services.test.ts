// Root: Services end to end on a `podnet up` cluster (issues 4 and 5) — a dual-stack cluster of
// 3 nodes in zones a, b, c. The API side: ClusterIP/NodePort allocation for every Service type,
// both families, static IPs and conflicts, IPAddress objects, EndpointSlices per family with
// named ports, readiness flips, the 100-endpoint boundary and zone hints. The data plane (each
// node's proxy, in nftables): ClusterIP from a pod (spread, client IP kept, IPv6 too), from the
// node and from the host, NodePort from the host, session affinity, hairpin, a Service without
// endpoints refusing at once, externalTrafficPolicy Local.
//
// Address plan (away from the defaults and the other e2e tests): nodes 198.18.226.0/24 and
// fd00:198:18:e2::/64, pods 10.232.0.0/16 and fd00:10:232::/56, services 10.233.0.0/16 and
// fd00:10:233::/112. Traffic stays inside the cluster's namespaces and the host's link to them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually, haveKubectl, TestCluster } from './harness.js';

const root = process.getuid?.() === 0;
const haveCurl = spawnSync('curl', ['--version']).status === 0;
const skip = !root ? 'needs root (creates network namespaces)' : !haveKubectl() ? 'kubectl is not installed' : !haveCurl ? 'curl is not installed' : false;

const cluster = new TestCluster('pns');
const { name, kubeconfig } = cluster;
const podnet = (...args: string[]) => cluster.podnet(...args);
const kubectlRun = (args: string[], input?: string) => cluster.kubectlRun(args, input);
const kubectl = (...args: string[]) => cluster.kubectl(...args);
const apply = (o: unknown) => cluster.apply(o);
const getJson = (...args: string[]) => cluster.getJson(...args);
/** curl from the host (or, with `pod`, from inside that pod via kubectl exec); '' on failure. */
const curl = (url: string, pod?: string): { out: string; code: number | null; ms: number } => {
  const t = Date.now();
  const args = ['-s', '-g', '--max-time', '3', url];
  const r = pod ? kubectlRun(['exec', pod, '--', 'curl', ...args]) : spawnSync('curl', args, { encoding: 'utf8', timeout: 10_000 });
  return { out: r.status === 0 ? r.stdout : '', code: r.status, ms: Date.now() - t };
};
const bracket = (ip: string) => (ip.includes(':') ? `[${ip}]` : ip);
const hostOf = (clientip: string) => clientip.slice(0, clientip.lastIndexOf(':')).replace(/^\[|\]$/g, '');

const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
const readyFile = join(tmpdir(), `${name}-ready-${randomBytes(4).toString('hex')}`);
type Slice = { addressType: string; endpoints: Array<{ addresses: string[]; conditions: { ready?: boolean }; hints?: { forZones?: Array<{ name: string }> }; zone?: string }>; ports: Array<{ name?: string; port: number }> };
const slicesOf = (svc: string): Slice[] => getJson('endpointslices', '-l', `kubernetes.io/service-name=${svc}`).items;

describe('Services on podnet up (dual stack, 3 zones)', { skip, timeout: 600_000 }, () => {
  before(() => {
    const up = podnet('up', '--name', name, '--nodes', '3', '--ip-family', 'dual', '--zones', 'a,b,c',
      '--node-cidr', '198.18.226.0/24,fd00:198:18:e2::/64', '--pod-cidr', '10.232.0.0/16,fd00:10:232::/56',
      '--service-cidr', '10.233.0.0/16,fd00:10:233::/112');
    assert.equal(up.status, 0, up.stderr + up.stdout);
    writeFileSync(readyFile, '');
    // web: 3 netexec pods with a named port; client: a pod to run curl from.
    apply({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
      spec: {
        replicas: 3, selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'netexec', image: AGNHOST, args: ['netexec', '--http-port=8080'], ports: [{ name: 'http', containerPort: 8080 }] }] },
        },
      },
    });
    apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client', labels: { app: 'client' } }, spec: { containers: [{ name: 'c', image: AGNHOST, args: ['netexec', '--http-port=8080'] }] } });
  });
  after(() => {
    const down = cluster.down();
    rmSync(readyFile, { force: true });
    assert.equal(down.status, 0, down.stderr);
  });

  it('allocates ClusterIPs and NodePorts for every type, both families, with IPAddress records; static IPs and conflicts as upstream', () => {
    apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ipFamilyPolicy: 'PreferDualStack', ports: [{ name: 'http', port: 80, targetPort: 'http' }] } });
    const web = getJson('service', 'web');
    assert.equal(web.spec.clusterIPs.length, 2, JSON.stringify(web.spec));
    assert.ok(web.spec.clusterIPs[0].startsWith('10.233.') && web.spec.clusterIPs[1].startsWith('fd00:10:233:'), web.spec.clusterIPs);
    assert.deepEqual(web.spec.ipFamilies, ['IPv4', 'IPv6']);
    const ipaddrs = getJson('ipaddresses.networking.k8s.io').items.map((i: { metadata: { name: string } }) => i.metadata.name);
    for (const ip of web.spec.clusterIPs) assert.ok(ipaddrs.includes(ip), `IPAddress ${ip} in ${ipaddrs}`);

    kubectl('create', 'service', 'nodeport', 'np', '--tcp=80:8080');
    const np = getJson('service', 'np');
    assert.ok(np.spec.ports[0].nodePort >= 30000 && np.spec.ports[0].nodePort <= 32767, JSON.stringify(np.spec.ports));
    apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'lb' }, spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } });
    assert.ok(getJson('service', 'lb').spec.healthCheckNodePort >= 30000);
    kubectl('create', 'service', 'externalname', 'ext', '--external-name', 'example.invalid');
    assert.equal(getJson('service', 'ext').spec.clusterIP, undefined);
    apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'headless' }, spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ port: 80 }] } });
    assert.equal(getJson('service', 'headless').spec.clusterIP, 'None');

    // A requested address is honoured; the same address again is refused with upstream's message.
    apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'static' }, spec: { clusterIP: '10.233.0.50', ports: [{ port: 80 }] } });
    assert.equal(getJson('service', 'static').spec.clusterIP, '10.233.0.50');
    const dup = kubectlRun(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'static2' }, spec: { clusterIP: '10.233.0.50', ports: [{ port: 80 }] } }));
    assert.notEqual(dup.status, 0);
    assert.match(dup.stderr, /spec\.clusterIPs.*provided IP is already allocated/);
    const outside = kubectlRun(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'static3' }, spec: { clusterIP: '10.99.0.5', ports: [{ port: 80 }] } }));
    assert.notEqual(outside.status, 0);
    assert.match(outside.stderr, /not in the valid range/);
    // Deleting releases: the address can be taken again.
    kubectl('delete', 'service', 'static');
    apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'static2' }, spec: { clusterIP: '10.233.0.50', ports: [{ port: 80 }] } });
  });

  it('keeps EndpointSlices per family with the named port resolved, and Endpoints in step', async () => {
    const slices = await eventually(() => {
      const s = slicesOf('web');
      const ready = (t: string) => s.filter((x) => x.addressType === t).flatMap((x) => x.endpoints).filter((e) => e.conditions.ready).length;
      return ready('IPv4') === 3 && ready('IPv6') === 3 ? s : undefined;
    }, 60_000, '3 ready endpoints per family');
    for (const s of slices!) assert.deepEqual(s.ports.map((p) => [p.name, p.port]), [['http', 8080]]);
    for (const e of slices!.flatMap((s) => s.endpoints)) assert.ok(['a', 'b', 'c'].includes(e.zone ?? ''), `zone ${e.zone}`);
    const ep = getJson('endpoints', 'web');
    assert.equal(ep.subsets[0].addresses.length, 3);
    assert.match(kubectl('describe', 'service', 'web'), /Endpoints:\s+\S+:8080/);
  });

  it('routes ClusterIP traffic from a pod over both families, spread over the endpoints, keeping the client IP', async () => {
    const web = getJson('service', 'web');
    const client = getJson('pod', 'client');
    await eventually(() => curl(`http://${web.spec.clusterIPs[0]}/hostname`, 'client').out || undefined, 30_000, 'ClusterIP to answer');
    for (const cip of web.spec.clusterIPs as string[]) {
      const seen = new Set<string>();
      for (let i = 0; i < 15 && seen.size < 2; i++) seen.add(curl(`http://${bracket(cip)}/hostname`, 'client').out);
      seen.delete('');
      assert.ok(seen.size >= 2, `spread over endpoints via ${cip}: ${[...seen]}`);
      const own = cip.includes(':') ? client.status.podIPs.find((p: { ip: string }) => p.ip.includes(':')).ip : client.status.podIP;
      assert.equal(hostOf(curl(`http://${bracket(cip)}/clientip`, 'client').out), own, `client IP kept via ${cip}`);
    }
  });

  it('reaches the ClusterIP from the host and NodePorts on every node from the host', async () => {
    const web = getJson('service', 'web');
    assert.ok((await eventually(() => curl(`http://${web.spec.clusterIP}/hostname`).out || undefined, 20_000, 'host → ClusterIP'))!.startsWith('web-'));
    kubectl('patch', 'service', 'web', '--type=merge', '-p', JSON.stringify({ spec: { type: 'NodePort' } }));
    const port = getJson('service', 'web').spec.ports[0].nodePort;
    const nodes = getJson('nodes').items as Array<{ status: { addresses: Array<{ type: string; address: string }> } }>;
    for (const n of nodes) {
      for (const a of n.status.addresses.filter((x) => x.type === 'InternalIP')) {
        const out = await eventually(() => curl(`http://${bracket(a.address)}:${port}/hostname`).out || undefined, 20_000, `NodePort on ${a.address}`);
        assert.ok(out!.startsWith('web-'), out);
      }
    }
  });

  it('honours ClientIP session affinity and hairpin', async () => {
    apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'sticky' }, spec: { selector: { app: 'web' }, sessionAffinity: 'ClientIP', ports: [{ port: 80, targetPort: 8080 }] } });
    const cip = getJson('service', 'sticky').spec.clusterIP;
    const first = await eventually(() => curl(`http://${cip}/hostname`, 'client').out || undefined, 30_000, 'sticky to answer');
    for (let i = 0; i < 6; i++) assert.equal(curl(`http://${cip}/hostname`, 'client').out, first);
    // hairpin: a pod reaches itself through a Service whose only endpoint it is
    apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'hair' }, spec: { selector: { app: 'client' }, ports: [{ port: 80, targetPort: 8080 }] } });
    const hair = getJson('service', 'hair').spec.clusterIP;
    assert.equal(await eventually(() => curl(`http://${hair}/hostname`, 'client').out || undefined, 30_000, 'hairpin'), 'client');
  });

  it('refuses at once when a Service has no endpoints', async () => {
    apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'empty' }, spec: { selector: { app: 'nothing' }, ports: [{ port: 80 }] } });
    const cip = getJson('service', 'empty').spec.clusterIP;
    await eventually(() => { const r = curl(`http://${cip}/`, 'client'); return r.code === 7 && r.ms < 2500 ? true : undefined; }, 20_000, 'connection refused, not a hang');
  });

  it('externalTrafficPolicy Local: a NodePort answers only on nodes with an endpoint, keeping the client IP', async () => {
    apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'one' }, spec: { type: 'NodePort', externalTrafficPolicy: 'Local', selector: { 'statefulset.kubernetes.io/pod-name': 'solo' }, ports: [{ port: 80, targetPort: 8080 }] } });
    apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'solo', labels: { 'statefulset.kubernetes.io/pod-name': 'solo' } }, spec: { containers: [{ name: 'c', image: AGNHOST, args: ['netexec', '--http-port=8080'] }] } });
    const port = getJson('service', 'one').spec.ports[0].nodePort;
    const solo = await eventually(() => { const p = getJson('pod', 'solo'); return p.status.podIP && p.status.conditions?.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True') ? p : undefined; }, 60_000, 'solo Ready');
    const nodes = getJson('nodes').items as Array<{ metadata: { name: string }; status: { addresses: Array<{ type: string; address: string }> } }>;
    const v4 = (n: typeof nodes[number]) => n.status.addresses.find((a) => a.type === 'InternalIP' && !a.address.includes(':'))!.address;
    const home = nodes.find((n) => n.metadata.name === solo!.spec.nodeName)!;
    const other = nodes.find((n) => n.metadata.name !== solo!.spec.nodeName)!;
    const client = await eventually(() => curl(`http://${v4(home)}:${port}/clientip`).out || undefined, 20_000, 'NodePort on the endpoint\'s node');
    assert.ok(hostOf(client!).startsWith('198.18.226.'), `client IP kept (the host's), got ${client}`);
    assert.equal(curl(`http://${v4(other)}:${port}/hostname`).out, '', 'no answer on a node without a local endpoint');
  });

  it('reflects readiness flips in the slices and in the traffic', async () => {
    apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'flip', labels: { app: 'flip' } },
      spec: { containers: [{ name: 'c', image: AGNHOST, args: ['netexec', '--http-port=8080'], readinessProbe: { exec: { command: ['test', '-f', readyFile] }, periodSeconds: 1, failureThreshold: 1 } }] },
    });
    apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'flip' }, spec: { selector: { app: 'flip' }, ports: [{ port: 80, targetPort: 8080 }] } });
    const readyIn = (want: boolean) => eventually(() => {
      const eps = slicesOf('flip').filter((s) => s.addressType === 'IPv4').flatMap((s) => s.endpoints);
      return eps.length === 1 && eps[0]!.conditions.ready === want ? true : undefined;
    }, 30_000, `flip ready=${want} in its slice`);
    await readyIn(true);
    const cip = getJson('service', 'flip').spec.clusterIP;
    assert.equal(await eventually(() => curl(`http://${cip}/hostname`, 'client').out || undefined, 20_000, 'flip answers'), 'flip');
    rmSync(readyFile);
    await readyIn(false);
    await eventually(() => (curl(`http://${cip}/hostname`, 'client').code === 7 ? true : undefined), 20_000, 'no ready endpoint: refused');
    writeFileSync(readyFile, '');
    await readyIn(true);
  });

  it('keeps a terminating pod in its slice as terminating, serving while it is still ready', async () => {
    apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'leaving', labels: { app: 'leaving' } },
      spec: { terminationGracePeriodSeconds: 30, containers: [{ name: 'c', image: AGNHOST, args: ['netexec', '--http-port=8080', '--delay-shutdown=8'] }] },
    });
    apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'leaving' }, spec: { selector: { app: 'leaving' }, ipFamilyPolicy: 'SingleStack', ports: [{ port: 80, targetPort: 8080 }] } });
    type Conditions = { ready?: boolean; serving?: boolean; terminating?: boolean };
    const conditions = () => slicesOf('leaving').flatMap((s) => s.endpoints).map((e) => e.conditions as Conditions);
    await eventually(() => (conditions()[0]?.ready === true ? true : undefined), 60_000, 'leaving ready in its slice');
    kubectl('delete', 'pod', 'leaving', '--wait=false');
    // netexec delays its exit by 8 s: meanwhile the pod is Terminating and its endpoint says so
    const c = await eventually(() => { const x = conditions()[0]; return x?.terminating ? x : undefined; }, 20_000, 'terminating endpoint');
    assert.deepEqual({ ready: c!.ready, terminating: c!.terminating }, { ready: false, terminating: true });
    assert.equal(typeof c!.serving, 'boolean');
    await eventually(() => (conditions().length === 0 ? true : undefined), 60_000, 'endpoint removed once the pod is gone');
  });

  it('splits endpoints at 100 per slice and gives zone hints with topology-mode Auto', async () => {
    // 101 cheap pods (the image's command runs as a program of this machine: sleep)
    apply({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'many' },
      spec: {
        replicas: 101, selector: { matchLabels: { app: 'many' } },
        template: { metadata: { labels: { app: 'many' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'debian:stable-slim', command: ['sleep', '3600'] }] } },
      },
    });
    apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'many', annotations: { 'service.kubernetes.io/topology-mode': 'Auto' } }, spec: { selector: { app: 'many' }, ipFamilyPolicy: 'SingleStack', ports: [{ port: 80 }] } });
    const slices = await eventually(() => {
      const s = slicesOf('many');
      const ready = s.flatMap((x) => x.endpoints).filter((e) => e.conditions.ready).length;
      return ready === 101 ? s : undefined;
    }, 240_000, '101 ready endpoints');
    assert.ok(slices!.length >= 2 && slices!.every((s) => s.endpoints.length <= 100), `slices of ${slices!.map((s) => s.endpoints.length)}`);
    // three zones of equal CPU and ~34 endpoints each: every endpoint hinted for its own zone
    const hinted = await eventually(() => {
      const eps = slicesOf('many').flatMap((s) => s.endpoints);
      return eps.length === 101 && eps.every((e) => e.hints?.forZones?.length) ? eps : undefined;
    }, 30_000, 'zone hints on every endpoint');
    assert.deepEqual([...new Set(hinted!.flatMap((e) => e.hints!.forZones!.map((z) => z.name)))].sort(), ['a', 'b', 'c']);
    kubectl('scale', 'deployment', 'many', '--replicas=100');
    await eventually(() => (slicesOf('many').flatMap((s) => s.endpoints).length === 100 ? true : undefined), 60_000, '100 endpoints after scaling down');
    kubectl('delete', 'deployment', 'many', '--wait=false');
  });

  it('serves cluster DNS from kube-system/kube-dns at the range\'s .10: resolv.conf, search path, A/AAAA, SRV, PTR, headless, TXT', async () => {
    const dnsSvc = getJson('service', 'kube-dns', '-n', 'kube-system');
    assert.deepEqual(dnsSvc.spec.clusterIPs, ['10.233.0.10', 'fd00:10:233::a']);
    await eventually(() => (getJson('deployment', 'kube-dns', '-n', 'kube-system').status.readyReplicas === 2 ? true : undefined), 60_000, 'kube-dns ready');
    const resolv = kubectl('exec', 'client', '--', 'cat', '/etc/resolv.conf');
    assert.match(resolv, /nameserver 10\.233\.0\.10/);
    assert.match(resolv, /search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/);
    assert.match(resolv, /options ndots:5/);
    // enableServiceLinks: the Services of the pod's namespace as environment variables
    const env = kubectl('exec', 'client', '--', 'sh', '-c', 'echo "$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT $KUBERNETES_PORT_443_TCP"');
    assert.equal(env.trim(), '10.233.0.1:443 tcp://10.233.0.1:443');
    const web = getJson('service', 'web');
    // a short name through the search path, as applications resolve it
    const hosts = await eventually(() => { const r = kubectlRun(['exec', 'client', '--', 'getent', 'ahosts', 'web']); return r.status === 0 ? r.stdout : undefined; }, 30_000, 'getent web');
    for (const ip of web.spec.clusterIPs) assert.ok(hosts!.includes(ip), `${ip} in ${hosts}`);
    const dig = (...q: string[]) => kubectl('exec', 'client', '--', 'dig', '+short', '+tries=3', '+timeout=2', ...q).trim();
    assert.equal(dig('web.default.svc.cluster.local', 'A'), web.spec.clusterIPs[0]);
    assert.equal(dig('web.default.svc.cluster.local', 'AAAA'), web.spec.clusterIPs[1]);
    assert.equal(dig('SRV', '_http._tcp.web.default.svc.cluster.local'), '0 100 80 web.default.svc.cluster.local.');
    assert.equal(dig('-x', web.spec.clusterIPs[0]), 'web.default.svc.cluster.local.');
    assert.equal(dig('TXT', 'dns-version.cluster.local'), '"1.1.0"');
    const headless = dig('headless.default.svc.cluster.local', 'A').split('\n').sort();
    const podIPs = (getJson('pods', '-l', 'app=web').items as Array<{ status: { podIP: string } }>).map((p) => p.status.podIP).sort();
    assert.deepEqual(headless, podIPs);
    const nx = kubectl('exec', 'client', '--', 'dig', 'nothing-here.default.svc.cluster.local');
    assert.match(nx, /status: NXDOMAIN/);
  });

  it('follows API changes, and keeps answering while a DNS pod is deleted', async () => {
    const dig = (q: string) => kubectlRun(['exec', 'client', '--', 'dig', '+short', '+tries=3', '+timeout=2', q]).stdout.trim();
    assert.equal(dig('later.default.svc.cluster.local'), '');
    apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'later' }, spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] } });
    const ip = getJson('service', 'later').spec.clusterIP;
    assert.equal(await eventually(() => dig('later.default.svc.cluster.local') || undefined, 10_000, 'the new Service in DNS'), ip);
    // A bounded query loop inside a pod while one of the two DNS pods is deleted: no lookup fails.
    const k = `kubectl --kubeconfig ${kubeconfig}`;
    const script = [
      `${k} exec client -- sh -c 'ok=0; bad=0; for i in $(seq 40); do if dig +short +tries=3 +timeout=1 web.default.svc.cluster.local | grep -q .; then ok=$((ok+1)); else bad=$((bad+1)); fi; sleep 0.1; done; echo ok=$ok bad=$bad' &`,
      'sleep 1',
      `${k} -n kube-system delete $(${k} -n kube-system get pods -l k8s-app=kube-dns -o name | head -1) --wait=false >/dev/null`,
      'wait',
    ].join('\n');
    const loop = spawnSync('sh', ['-c', script], { encoding: 'utf8', timeout: 120_000 });
    assert.match(loop.stdout, /ok=40 bad=0/, loop.stdout + loop.stderr);
  });

  it('enforces NetworkPolicy in the node daemons: default deny ingress, then allow from a namespace', async () => {
    const web = getJson('service', 'web');
    const pod = (getJson('pods', '-l', 'app=web').items as Array<{ status: { podIP: string } }>)[0]!.status.podIP;
    assert.ok(curl(`http://${pod}:8080/hostname`, 'client').out.startsWith('web-'));
    apply({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'deny-web' }, spec: { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'] } });
    await eventually(() => (curl(`http://${pod}:8080/hostname`, 'client').out === '' ? true : undefined), 20_000, 'web denied to the client');
    // judged after the proxy's DNAT: the ClusterIP is denied too
    assert.equal(curl(`http://${web.spec.clusterIPs[0]}/hostname`, 'client').out, '');
    apply({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-default' },
      spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'default' } } }] }] },
    });
    await eventually(() => (curl(`http://${pod}:8080/hostname`, 'client').out.startsWith('web-') ? true : undefined), 20_000, 'web allowed from namespace default');
    kubectl('delete', 'networkpolicy', 'deny-web', 'allow-default');
  });
});
