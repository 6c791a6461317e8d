// Root: the cluster network a plan describes is created for real, carries traffic between the
// host and the nodes (and only there), and is removed completely by name, also after the
// processes in it were left running.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, describe, it } from 'node:test';
import { planCluster } from '../../src/cluster/plan.js';
import { applyNetwork, listNetns, teardownNetwork } from '../../src/cluster/network.js';
import { Ip } from '../../src/net/ip.js';

const root = process.getuid?.() === 0;
const haveIp = spawnSync('ip', ['-V']).status === 0;
const skip = !root ? 'needs root (creates network namespaces)' : !haveIp ? 'needs iproute2 (ip)' : false;

const name = `pnt${randomBytes(2).toString('hex')}`;

function probe(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, timeout: 3000 }, () => undefined);
    let data = '';
    s.on('data', (d) => { data += d; });
    s.on('end', () => resolve(data));
    s.on('timeout', () => { s.destroy(); reject(new Error(`timeout connecting to ${host}:${port}`)); });
    s.on('error', reject);
  });
}

describe('cluster network', { skip, concurrency: false }, () => {
  // Explicit ranges, far from the defaults, so a real podnet cluster on this machine is untouched.
  const plan = planCluster({
    name, nodes: 2, ipFamily: 'dual',
    nodeCidrs: ['198.18.222.0/24', 'fd00:198:18:de::/64'],
    podCidrs: ['10.222.0.0/16', 'fd00:10:222::/56'],
    serviceCidrs: ['10.223.0.0/16', 'fd00:10:223::/112'],
  }, { addresses: [], routes: [], clusters: [] });
  after(async () => { await teardownNetwork(name); });

  it('creates the underlay, the nodes and the host link; the host reaches the nodes', async () => {
    await applyNetwork(plan);
    await applyNetwork(plan); // idempotent
    const ns = await listNetns();
    for (const n of [plan.underlayNetns, ...plan.nodes.map((x) => x.netns)]) assert.ok(ns.includes(n), `netns ${n}`);
    assert.deepEqual((await new Ip().addrList(plan.hostLink)).filter((a) => !a.startsWith('fe80:')).sort(), [...plan.hostAddresses].sort());
    // No namespace of the cluster has a default route.
    for (const n of plan.nodes) {
      for (const fam of [4, 6] as const) {
        assert.equal((await new Ip(n.netns).routes(fam)).some((r) => r.dst === 'default'), false, `${n.netns} has a default route`);
      }
    }
    // A TCP server inside node 2, reached from the host over both families.
    const server = spawn('ip', ['netns', 'exec', plan.nodes[1].netns, process.execPath, '-e',
      "require('net').createServer((s) => s.end('node2')).listen(7777, '::')"], { stdio: 'ignore' });
    try {
      const v4 = plan.nodes[1].addresses[0].split('/')[0];
      const v6 = plan.nodes[1].addresses[1].split('/')[0];
      let got = '';
      for (let i = 0; i < 50 && got !== 'node2'; i++) {
        got = await probe(v4, 7777).catch(() => '');
        if (got !== 'node2') await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(got, 'node2');
      assert.equal(await probe(v6, 7777), 'node2');
    } finally {
      server.kill('SIGKILL');
    }
  });

  it('removes everything by name, also processes left inside', async () => {
    // A stray process in a node namespace (as after kill -9 of the supervisor).
    const stray = spawn('ip', ['netns', 'exec', plan.nodes[0].netns, 'sleep', '300'], { stdio: 'ignore', detached: true });
    stray.unref();
    await new Promise((r) => setTimeout(r, 200));
    const { removed } = await teardownNetwork(name);
    assert.ok(removed.includes(`link ${name}-h`));
    assert.equal((await listNetns()).some((n) => n.startsWith(`${name}-`)), false);
    assert.equal(await new Ip().link(`${name}-h`), undefined);
    const alive = spawnSync('kill', ['-0', String(stray.pid)]).status === 0;
    assert.equal(alive, false, 'the stray process was killed');
    // Twice is fine.
    assert.deepEqual((await teardownNetwork(name)).removed, []);
  });
});
