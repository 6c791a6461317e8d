// Root: `podnet up` makes a real multi-node cluster on this machine — nodes Ready, pods with
// their own IPs on every node, reachable from the host and from each other without NAT — and
// `podnet down` removes every namespace, link, route, file and process, also after the
// supervisor was killed with -9. Also: TCP and UDP both ways between pods on different nodes
// with the real pod IP as source, node → its pods, containers of one pod over localhost,
// readiness probes flipping Ready, graceful deletion, and a dual-stack cluster over IPv6. The
// host (namespaces, links, v4/v6 routes, nftables tables, /etc/netns) is compared before `up`
// and after `down`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { eventually, haveKubectl, podnetBin } from './harness.js';
import { cgroupTrees, clusterCgroupRoot, podCgroupDirs } from '../../src/agent/cgroups.js';

const root = process.getuid?.() === 0;
const skip = !root ? 'needs root (creates network namespaces)' : !haveKubectl() ? 'kubectl is not installed' : false;

const name = `pnu${randomBytes(2).toString('hex')}`;
const stateRoot = mkdtempSync(join(tmpdir(), 'podnet-up-'));
const env = { ...process.env, PODNET_STATE_ROOT: stateRoot };
const kubeconfigOf = (cluster: string) => join(stateRoot, cluster, 'apiserver', 'kubeconfig');
const kubeconfig = kubeconfigOf(name);

const podnet = (...args: string[]) => spawnSync(process.execPath, [podnetBin, ...args], { encoding: 'utf8', env, timeout: 180_000 });
const kubectlOn = (cluster: string, args: string[], input?: string) => {
  const r = spawnSync('kubectl', ['--kubeconfig', kubeconfigOf(cluster), ...args], { encoding: 'utf8', timeout: 60_000, input });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const kubectl = (...args: string[]) => kubectlOn(name, args);

function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

// A tiny client run inside a network namespace: `tcp` = HTTP GET of a path, `udp` = one
// datagram (agnhost netexec's UDP commands: hostname, clientip, echo …). Prints the answer.
const CLIENT = `
const [kind, host, port, what] = process.argv.slice(1);
const done = (s) => { process.stdout.write(String(s)); process.exit(0); };
const fail = (e) => { process.stderr.write(String(e)); process.exit(1); };
setTimeout(() => fail('timeout'), 2500);
if (kind === 'udp') {
  const s = require('dgram').createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.on('message', (m) => done(m));
  s.on('error', fail);
  s.send(what, Number(port), host);
} else {
  require('http').get({ host, port: Number(port), path: what }, (r) => {
    let b = ''; r.on('data', (d) => { b += d; }); r.on('end', () => done(b));
  }).on('error', fail);
}`;
/** The answer to `what` from host:port over `kind`, asked from inside netns `ns`; undefined on failure. */
const fromNs = (ns: string, kind: 'tcp' | 'udp', host: string, port: number, what: string): string | undefined => {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', CLIENT, kind, host, String(port), what], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout : undefined;
};
const netnsNames = () => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
/** The pod sandbox namespace of cluster `cluster` that holds address `ip`. */
const sandboxOf = (cluster: string, ip: string): string => {
  const all = netnsNames().filter((n) => n.startsWith(`${cluster}-`) && !/-(underlay|node\d+)$/.test(n));
  const hit = all.filter((n) => spawnSync('ip', ['-n', n, '-o', 'addr'], { encoding: 'utf8' }).stdout.includes(` ${ip}/`));
  assert.equal(hit.length, 1, `exactly one sandbox of ${all.join(',')} holds ${ip}: ${hit.join(',')}`);
  return hit[0]!;
};

// The host as far as a cluster touches it, compared before `up` and after `down`. Counters that
// tick on their own (route expiry) are blanked. Other tests may run their own podnet clusters at
// the same time (names `pn<letter><4 hex>`): lines naming those are left out, ours never are.
const ourNames = new RegExp(`^(${name}|pnd${name.slice(3)})-`);
const otherClusters = (lines: string[]) => lines.map((l) => /^(pn[a-z][0-9a-f]{4})-/.exec(l)?.[1]).filter((c) => c && !ourNames.test(`${c}-`)) as string[];
/** Where cluster `n`'s pod cgroups go (the supervisor is started from this process's cgroup). */
const cgroupOf = (n: string) => { const c = clusterCgroupRoot(n); return 'error' in c ? undefined : c.dir; };
const cgroupTreesOf = (n: string) => { const c = clusterCgroupRoot(n); return 'error' in c ? [] : cgroupTrees(c); };
const hostSnapshot = () => {
  const raw = (cmd: string, ...args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout
    .replace(/expires \d+sec/g, 'expires').split('\n').filter(Boolean);
  const others = new Set([...otherClusters(raw('ip', 'netns', 'list')), ...otherClusters(existsSync('/etc/netns') ? readdirSync('/etc/netns') : [])]);
  const mine = (l: string) => ![...others].some((o) => l.includes(`${o}-`));
  const out = (cmd: string, ...args: string[]) => raw(cmd, ...args).filter(mine).sort();
  return {
    netns: out('ip', 'netns', 'list'),
    links: out('ip', '-br', 'link'),
    routes4: out('ip', '-4', 'route', 'show', 'table', 'all'),
    routes6: out('ip', '-6', 'route', 'show', 'table', 'all'),
    nftTables: out('nft', 'list', 'tables'),
    etcNetns: existsSync('/etc/netns') ? readdirSync('/etc/netns').filter(mine).sort() : [],
    cgroups: [name, `pnd${name.slice(3)}`].flatMap(cgroupTreesOf).filter((d) => existsSync(d)),
  };
};
const before = root && !skip ? hostSnapshot() : undefined;

type Pod = {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { nodeName: string };
  status: { phase: string; podIP?: string; podIPs?: Array<{ ip: string }>; conditions?: Array<{ type: string; status: string }> };
};
const getPod = (cluster: string, pod: string): Pod | undefined => {
  const r = spawnSync('kubectl', ['--kubeconfig', kubeconfigOf(cluster), 'get', 'pod', pod, '-o', 'json'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) { if (/NotFound/.test(r.stderr)) return undefined; throw new Error(r.stderr); }
  return JSON.parse(r.stdout) as Pod;
};
const readyOf = (p: Pod | undefined) => p?.status.conditions?.find((c) => c.type === 'Ready')?.status;
const runningPods = async (cluster: string, selector: string, n: number): Promise<Pod[]> => (await eventually(() => {
  const items = JSON.parse(kubectlOn(cluster, ['get', 'pods', '-l', selector, '-o', 'json'])).items as Pod[];
  return items.length === n && items.every((p) => p.status.phase === 'Running' && p.status.podIP) ? items : undefined;
}, 60_000, `${n} running pods ${selector}`))!;

const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
// Exec readiness probes run on the host's filesystem (pods share it): the test toggles this file.
const readyFile = join(tmpdir(), `${name}-ready-${randomBytes(4).toString('hex')}`);
// duo: two containers (netexec on 8080 and on 8090), the first Ready only while readyFile exists.
// slow: netexec that takes 3 s to exit after SIGTERM.
const extraPods = [
    {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'duo' },
      spec: {
        containers: [
          {
            name: 'a', image: AGNHOST, args: ['netexec', '--http-port=8080', '--udp-port=-1'],
            readinessProbe: { exec: { command: ['test', '-f', readyFile] }, periodSeconds: 1, failureThreshold: 1 },
          },
          { name: 'b', image: AGNHOST, args: ['netexec', '--http-port=8090', '--udp-port=-1'] },
        ],
      },
    },
    {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'slow' },
      spec: { terminationGracePeriodSeconds: 20, containers: [{ name: 'c', image: AGNHOST, args: ['netexec', '--delay-shutdown=3'] }] },
    },
].map((o) => JSON.stringify(o));

const leftovers = (cluster = name) => ({
  netns: netnsNames().filter((l) => l.startsWith(`${cluster}-`)),
  links: spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(`${cluster}-`)),
});

describe('podnet up / down', { skip, concurrency: false }, () => {
  after(() => {
    podnet('down', '--name', name);
    rmSync(readyFile, { force: true });
  });

  it('brings up two Ready nodes; pods on both reach each other and the host reaches them', async () => {
    // Ranges away from the defaults, so a real podnet cluster on this machine is untouched.
    const up = podnet('up', '--name', name, '--nodes', '2', '--node-cidr', '198.18.223.0/24',
      '--pod-cidr', '10.224.0.0/16', '--service-cidr', '10.225.0.0/16');
    assert.equal(up.status, 0, up.stderr + up.stdout);
    assert.match(up.stdout, new RegExp(`node ${name}-node1 Ready`));
    const nodes = JSON.parse(kubectl('get', 'nodes', '-o', 'json')).items;
    assert.equal(nodes.length, 2);
    for (const n of nodes) {
      assert.ok(n.spec.podCIDR.startsWith('10.224.'), n.spec.podCIDR);
      assert.ok(n.status.addresses.some((a: { type: string; address: string }) => a.type === 'InternalIP' && a.address.startsWith('198.18.223.')));
    }
    // A second up on the same name says so.
    const again = podnet('up', '--name', name);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /already exists/);

    kubectl('create', 'deployment', 'web', `--image=${AGNHOST}`, '--replicas=2', '--', '/agnhost', 'netexec', '--http-port=8080');
    for (const o of extraPods) kubectlOn(name, ['create', '-f', '-'], o); // for the tests below; they start meanwhile
    const pods = await runningPods(name, 'app=web', 2);
    assert.notEqual(pods[0].spec.nodeName, pods[1].spec.nodeName, 'spread over both nodes');
    for (const p of pods) {
      assert.ok(p.status.podIP!.startsWith('10.224.'));
      assert.equal(await eventually(() => httpGet(`http://${p.status.podIP}:8080/hostname`), 20_000, `${p.metadata.name} to answer`), p.metadata.name);
    }
    // kubectl logs, proxied by the API server to the node's agent.
    await httpGet(`http://${pods[0].status.podIP}:8080/echo?msg=logged-by-test`);
    const logs = await eventually(() => {
      const out = kubectl('logs', pods[0].metadata.name);
      return /logged-by-test/.test(out) ? out : undefined;
    }, 10_000, 'the request to show in kubectl logs');
    assert.match(logs!, /Started HTTP server on port 8080/);
    assert.equal(kubectl('logs', pods[0].metadata.name, '--tail=1').trim().split('\n').length, 1);
    // kubectl exec (WebSocket protocol), through the API server to the node's agent.
    const inPod = kubectl('exec', pods[0].metadata.name, '--', 'sh', '-c', 'ip -o -4 addr show eth0; echo "x=$PODNET_HOSTNAME"; echo "uts=$(hostname)"');
    assert.ok(inPod.includes(pods[0].status.podIP!), inPod);
    assert.match(inPod, new RegExp(`x=${pods[0].metadata.name}`));
    // the command joins the container's UTS namespace: the kernel's hostname is the pod's
    assert.match(inPod, new RegExp(`uts=${pods[0].metadata.name}`));
    const failing = spawnSync('kubectl', ['--kubeconfig', kubeconfig, 'exec', pods[0].metadata.name, '--', 'sh', '-c', 'exit 3'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(failing.status, 3);
    const echoed = spawnSync('kubectl', ['--kubeconfig', kubeconfig, 'exec', '-i', pods[0].metadata.name, '--', 'cat'], { encoding: 'utf8', input: 'through stdin\n', timeout: 30_000 });
    assert.equal(echoed.stdout, 'through stdin\n');
    // Pod to pod across nodes: the target sees the client pod's own IP (no NAT).
    const dial = JSON.parse(await httpGet(`http://${pods[0].status.podIP}:8080/dial?request=clientip&host=${pods[1].status.podIP}&port=8080&protocol=http`));
    assert.equal(dial.responses[0].split(':')[0], pods[0].status.podIP);
  });

  it('pods on different nodes reach each other both ways over TCP and UDP, seeing real pod IPs; a node reaches its pods', async () => {
    const pods = await runningPods(name, 'app=web', 2);
    for (const [from, to] of [[pods[0], pods[1]], [pods[1], pods[0]]]) {
      const ns = sandboxOf(name, from.status.podIP!);
      const what = `${from.metadata.name} -> ${to.metadata.name}`;
      assert.equal(await eventually(() => fromNs(ns, 'tcp', to.status.podIP!, 8080, '/hostname'), 10_000, `tcp hostname ${what}`), to.metadata.name);
      assert.equal((await eventually(() => fromNs(ns, 'tcp', to.status.podIP!, 8080, '/clientip'), 10_000, `tcp clientip ${what}`))!.split(':')[0], from.status.podIP);
      assert.equal(await eventually(() => fromNs(ns, 'udp', to.status.podIP!, 8081, 'hostname'), 10_000, `udp hostname ${what}`), to.metadata.name);
      assert.equal((await eventually(() => fromNs(ns, 'udp', to.status.podIP!, 8081, 'clientip'), 10_000, `udp clientip ${what}`))!.split(':')[0], from.status.podIP);
      // And netexec's own UDP dialer, from inside the pod.
      const dial = JSON.parse(await httpGet(`http://${from.status.podIP}:8080/dial?request=clientip&host=${to.status.podIP}&port=8081&protocol=udp`));
      assert.equal(String(dial.responses?.[0]).split(':')[0], from.status.podIP, JSON.stringify(dial));
    }
    // Each node reaches the pods on it from its own namespace.
    for (const p of pods) {
      assert.equal(await eventually(() => fromNs(p.spec.nodeName, 'tcp', p.status.podIP!, 8080, '/hostname'), 10_000, `${p.spec.nodeName} -> ${p.metadata.name}`), p.metadata.name);
    }
  });

  it('two containers of one pod talk over localhost; a readiness probe flips Ready both ways', async () => {
    const duo = (await eventually(() => { const p = getPod(name, 'duo'); return p?.status.phase === 'Running' && p.status.podIP ? p : undefined; }, 30_000, 'duo running'))!;
    const dial = JSON.parse(await eventually(() => httpGet(`http://${duo.status.podIP}:8080/dial?request=hostname&host=127.0.0.1&port=8090&protocol=http`), 10_000, 'duo to answer'));
    assert.deepEqual(dial.responses, ['duo']);
    const back = JSON.parse(await httpGet(`http://${duo.status.podIP}:8090/dial?request=clientip&host=127.0.0.1&port=8080&protocol=http`));
    assert.equal(String(back.responses?.[0]).split(':')[0], '127.0.0.1');
    // The probe file does not exist yet: not Ready. Create it: Ready. Remove it: not Ready again.
    assert.equal(readyOf(getPod(name, 'duo')), 'False');
    writeFileSync(readyFile, '');
    await eventually(() => readyOf(getPod(name, 'duo')) === 'True', 15_000, 'duo Ready');
    rmSync(readyFile);
    await eventually(() => readyOf(getPod(name, 'duo')) === 'False', 15_000, 'duo not Ready');
    assert.equal(getPod(name, 'duo')!.status.phase, 'Running');
  });

  it('graceful deletion: Terminating until the process has gone, then the pod and its sandbox are removed', async () => {
    const slow = (await eventually(() => { const p = getPod(name, 'slow'); return p?.status.phase === 'Running' && p.status.podIP ? p : undefined; }, 30_000, 'slow running'))!;
    await eventually(() => httpGet(`http://${slow.status.podIP}:8080/hostname`), 10_000, 'slow to answer');
    const sandbox = sandboxOf(name, slow.status.podIP!);
    const pids = spawnSync('ip', ['netns', 'pids', sandbox], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
    assert.ok(pids.length > 0, 'the pod has processes');
    const t0 = Date.now();
    kubectl('delete', 'pod', 'slow', '--wait=false');
    const terminating = getPod(name, 'slow');
    assert.ok(terminating?.metadata.deletionTimestamp, 'deletionTimestamp set');
    assert.match(kubectl('get', 'pod', 'slow', '--no-headers'), /Terminating/);
    const alive = () => pids.some((pid) => { try { process.kill(pid, 0); return true; } catch { return false; } });
    // While its process lives (delay-shutdown=3), the pod stays, marked for deletion.
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(alive(), 'the pod process is still shutting down');
    assert.ok(getPod(name, 'slow')?.metadata.deletionTimestamp, 'still there, Terminating');
    await eventually(() => getPod(name, 'slow') === undefined, 20_000, 'slow to disappear');
    assert.ok(Date.now() - t0 >= 2500, `gone after ${Date.now() - t0} ms, before its 3 s shutdown`);
    assert.equal(alive(), false, 'its processes are gone');
    await eventually(() => !netnsNames().includes(sandbox), 10_000, `sandbox ${sandbox} removed`);
    assert.equal(existsSync(`/etc/netns/${sandbox}`), false);
  });

  it('down removes everything, also after kill -9 of the supervisor', async () => {
    const st = JSON.parse(readFileSync(join(stateRoot, name, 'state.json'), 'utf8'));
    process.kill(st.supervisorPid, 'SIGKILL');
    assert.ok(leftovers().netns.length >= 3);
    if (st.cgroup) {
      // the pods' memory cgroups, one level per node and kubelet's QoS levels below it, with pods in them
      assert.equal(st.cgroup.dir, cgroupOf(name));
      const nodes = readdirSync(st.cgroup.dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(st.cgroup.dir, d.name));
      const podDirs = (await Promise.all(nodes.map(podCgroupDirs))).flat();
      assert.ok(podDirs.length >= 1, `pod cgroups under ${st.cgroup.dir}`);
    }
    const down = podnet('down', '--name', name);
    assert.equal(down.status, 0, down.stderr);
    assert.deepEqual(leftovers(), { netns: [], links: [] });
    assert.equal(spawnSync('ip', ['route', 'show', '10.224.0.0/16'], { encoding: 'utf8' }).stdout.trim(), '');
    assert.deepEqual(hostSnapshot(), before);
  });
});

describe('podnet up --ip-family dual', { skip, concurrency: false }, () => {
  const dual = `pnd${name.slice(3)}`;
  after(() => {
    podnet('down', '--name', dual);
    rmSync(stateRoot, { recursive: true, force: true });
  });

  it('gives pods an IPv4 and an IPv6 address; pods reach each other over IPv6 with their own v6 as source', async () => {
    const up = podnet('up', '--name', dual, '--nodes', '2', '--ip-family', 'dual',
      '--node-cidr', '198.18.224.0/24,fd00:198:18:e0::/64', '--pod-cidr', '10.226.0.0/16,fd00:10:226::/56',
      '--service-cidr', '10.227.0.0/16,fd00:10:227::/112');
    assert.equal(up.status, 0, up.stderr + up.stdout);
    kubectlOn(dual, ['create', 'deployment', 'web6', `--image=${AGNHOST}`, '--replicas=2', '--', '/agnhost', 'netexec', '--http-port=8080']);
    const pods = await runningPods(dual, 'app=web6', 2);
    assert.notEqual(pods[0].spec.nodeName, pods[1].spec.nodeName, 'spread over both nodes');
    const v6 = (p: Pod) => p.status.podIPs?.find((a) => a.ip.includes(':'))?.ip;
    for (const p of pods) {
      const ips = (p.status.podIPs ?? []).map((a) => a.ip);
      assert.equal(ips.length, 2, JSON.stringify(ips));
      assert.ok(ips[0]!.startsWith('10.226.'), `primary IPv4: ${ips}`);
      assert.ok(ips[1]!.startsWith('fd00:10:226:'), `then IPv6: ${ips}`);
    }
    for (const [from, to] of [[pods[0], pods[1]], [pods[1], pods[0]]]) {
      const ns = sandboxOf(dual, from.status.podIP!);
      assert.equal(await eventually(() => fromNs(ns, 'tcp', v6(to)!, 8080, '/hostname'), 15_000, `v6 ${from.metadata.name} -> ${to.metadata.name}`), to.metadata.name);
      const client = (await eventually(() => fromNs(ns, 'tcp', v6(to)!, 8080, '/clientip'), 10_000, 'v6 clientip'))!;
      assert.equal(client.slice(0, client.lastIndexOf(':')).replace(/^\[|\]$/g, ''), v6(from));
      assert.equal(await eventually(() => fromNs(ns, 'udp', v6(to)!, 8081, 'hostname'), 10_000, 'v6 udp'), to.metadata.name);
    }
    // The host reaches pods over IPv6 too.
    assert.equal(await eventually(() => httpGet(`http://[${v6(pods[0])}]:8080/hostname`), 10_000, 'host -> pod over v6'), pods[0].metadata.name);

    const down = podnet('down', '--name', dual);
    assert.equal(down.status, 0, down.stderr);
    assert.deepEqual(leftovers(dual), { netns: [], links: [] });
    assert.deepEqual(hostSnapshot(), before);
  });
});
