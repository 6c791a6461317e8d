// Root: `podnet up` makes a real multi-node cluster on this machine — nodes Ready, pods with
// their own IPs on every node, reachable from the host and from each other without NAT — and
// `podnet down` removes every namespace, link, route, file and process, also after the
// supervisor was killed with -9.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { eventually, haveKubectl, podnetBin } from './harness.js';

const root = process.getuid?.() === 0;
const skip = !root ? 'needs root (creates network namespaces)' : !haveKubectl() ? 'kubectl is not installed' : false;

const name = `pnu${randomBytes(2).toString('hex')}`;
const stateRoot = mkdtempSync(join(tmpdir(), 'podnet-up-'));
const env = { ...process.env, PODNET_STATE_ROOT: stateRoot };
const kubeconfig = join(stateRoot, name, 'apiserver', 'kubeconfig');

const podnet = (...args: string[]) => spawnSync(process.execPath, [podnetBin, ...args], { encoding: 'utf8', env, timeout: 180_000 });
const kubectl = (...args: string[]) => {
  const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

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

const leftovers = () => ({
  netns: spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith(`${name}-`)),
  links: spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes(`${name}-`)),
});

describe('podnet up / down', { skip, concurrency: false }, () => {
  after(() => {
    podnet('down', '--name', name);
    rmSync(stateRoot, { recursive: true, force: true });
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

    kubectl('create', 'deployment', 'web', '--image=registry.k8s.io/e2e-test-images/agnhost:2.53', '--replicas=2', '--', '/agnhost', 'netexec', '--http-port=8080');
    const pods = (await eventually(() => {
      const items = JSON.parse(kubectl('get', 'pods', '-l', 'app=web', '-o', 'json')).items as Array<{ metadata: { name: string }; spec: { nodeName: string }; status: { phase: string; podIP?: string } }>;
      return items.length === 2 && items.every((p) => p.status.phase === 'Running' && p.status.podIP) ? items : undefined;
    }, 60_000, 'two running pods'))!;
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
    const inPod = kubectl('exec', pods[0].metadata.name, '--', 'sh', '-c', 'ip -o -4 addr show eth0; echo "x=$PODNET_HOSTNAME"');
    assert.ok(inPod.includes(pods[0].status.podIP!), inPod);
    assert.match(inPod, new RegExp(`x=${pods[0].metadata.name}`));
    const failing = spawnSync('kubectl', ['--kubeconfig', kubeconfig, 'exec', pods[0].metadata.name, '--', 'sh', '-c', 'exit 3'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(failing.status, 3);
    const echoed = spawnSync('kubectl', ['--kubeconfig', kubeconfig, 'exec', '-i', pods[0].metadata.name, '--', 'cat'], { encoding: 'utf8', input: 'through stdin\n', timeout: 30_000 });
    assert.equal(echoed.stdout, 'through stdin\n');
    // Pod to pod across nodes: the target sees the client pod's own IP (no NAT).
    const dial = JSON.parse(await httpGet(`http://${pods[0].status.podIP}:8080/dial?request=clientip&host=${pods[1].status.podIP}&port=8080&protocol=http`));
    assert.equal(dial.responses[0].split(':')[0], pods[0].status.podIP);
  });

  it('down removes everything, also after kill -9 of the supervisor', () => {
    const st = JSON.parse(readFileSync(join(stateRoot, name, 'state.json'), 'utf8'));
    process.kill(st.supervisorPid, 'SIGKILL');
    assert.ok(leftovers().netns.length >= 3);
    const down = podnet('down', '--name', name);
    assert.equal(down.status, 0, down.stderr);
    assert.deepEqual(leftovers(), { netns: [], links: [] });
    assert.equal(spawnSync('ip', ['route', 'show', '10.224.0.0/16'], { encoding: 'utf8' }).stdout.trim(), '');
  });
});
