// The cluster address plan: defaults from DESIGN.md, moving past other podnet clusters,
// refusing host conflicts with a message naming the flag.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planCluster, PlanError, type HostView } from '../../src/cluster/plan.js';

const emptyHost: HostView = { addresses: ['10.0.2.15/24', '127.0.0.1/8'], routes: ['10.0.2.0/24'], clusters: [] };

describe('planCluster', () => {
  it('uses DESIGN.md\'s address plan by default', () => {
    const p = planCluster({ name: 'podnet', nodes: 2, ipFamily: 'dual' }, emptyHost);
    assert.deepEqual(p.ranges, {
      nodes: ['198.18.0.0/24', 'fd00:198:18::/64'],
      pods: ['10.244.0.0/16', 'fd00:10:244::/56'],
      services: ['10.96.0.0/16', 'fd00:10:96::/112'],
    });
    assert.deepEqual(p.hostAddresses, ['198.18.0.1/24', 'fd00:198:18::1/64']);
    assert.deepEqual(p.nodes.map((n) => [n.name, n.netns, n.addresses]), [
      ['podnet-node1', 'podnet-node1', ['198.18.0.2/24', 'fd00:198:18::2/64']],
      ['podnet-node2', 'podnet-node2', ['198.18.0.3/24', 'fd00:198:18::3/64']],
    ]);
    assert.deepEqual(p.dnsAddresses, ['10.96.0.10', 'fd00:10:96::a']);
    assert.equal(p.hostLink, 'podnet-h');
    assert.equal(p.movedFrom, undefined);
  });

  it('moves to the next free ranges when another podnet cluster holds the defaults', () => {
    const first = planCluster({ name: 'a', nodes: 1, ipFamily: 'ipv4' }, emptyHost);
    const p = planCluster({ name: 'b', nodes: 1, ipFamily: 'ipv4' }, { ...emptyHost, clusters: [{ name: 'a', ranges: first.ranges }] });
    assert.deepEqual(p.ranges, { nodes: ['198.18.1.0/24'], pods: ['10.245.0.0/16'], services: ['10.97.0.0/16'] });
    assert.ok(p.movedFrom);
  });

  it('never changes ranges given by flag, and says which flag conflicts', () => {
    const first = planCluster({ name: 'a', nodes: 1, ipFamily: 'ipv4' }, emptyHost);
    assert.throws(() => planCluster({ name: 'b', nodes: 1, ipFamily: 'ipv4', podCidrs: ['10.244.0.0/16'] },
      { ...emptyHost, clusters: [{ name: 'a', ranges: first.ranges }] }), /--pod-cidr 10.244.0.0\/16 overlaps podnet cluster "a"/);
  });

  it('refuses ranges that overlap the host, naming the flag to change', () => {
    const host: HostView = { addresses: ['10.244.3.7/24'], routes: [], clusters: [] };
    assert.throws(() => planCluster({ name: 'podnet', nodes: 2, ipFamily: 'ipv4' }, host),
      (e: unknown) => e instanceof PlanError && /pod range 10\.244\.0\.0\/16 overlaps the host address 10\.244\.3\.7\/24: choose another with --pod-cidr/.test(e.message));
    const routed: HostView = { addresses: [], routes: ['10.96.0.0/12'], clusters: [] };
    assert.throws(() => planCluster({ name: 'podnet', nodes: 2, ipFamily: 'ipv4' }, routed), /--service-cidr/);
  });

  it('rejects bad names, node counts and ranges with one-line messages', () => {
    assert.throws(() => planCluster({ name: 'Bad_Name', nodes: 1, ipFamily: 'ipv4' }, emptyHost), /--name/);
    assert.throws(() => planCluster({ name: 'averyveryverylongname', nodes: 1, ipFamily: 'ipv4' }, emptyHost), /15 characters/);
    assert.throws(() => planCluster({ name: 'ok', nodes: 0, ipFamily: 'ipv4' }, emptyHost), /--nodes 0/);
    assert.throws(() => planCluster({ name: 'ok', nodes: 1, ipFamily: 'ipv4', podCidrs: ['nope'] }, emptyHost), /--pod-cidr nope is not a CIDR/);
    assert.throws(() => planCluster({ name: 'ok', nodes: 1, ipFamily: 'dual', podCidrs: ['10.1.0.0/16'] }, emptyHost), /needs an IPv6 range/);
    assert.throws(() => planCluster({ name: 'ok', nodes: 1, ipFamily: 'ipv4', podCidrs: ['10.96.0.0/12'] }, emptyHost), /overlap/);
  });

  it('refuses more nodes than the pod range has room for', () => {
    assert.throws(() => planCluster({ name: 'ok', nodes: 3, ipFamily: 'ipv4', podCidrs: ['10.1.0.0/23'] }, emptyHost),
      /--pod-cidr 10\.1\.0\.0\/23 has room for 2 nodes \(a \/24 each\), not 3/);
  });

  it('assigns zones round-robin', () => {
    const p = planCluster({ name: 'z', nodes: 3, ipFamily: 'ipv4', zones: ['a', 'b'] }, emptyHost);
    assert.deepEqual(p.nodes.map((n) => n.zone), ['a', 'b', 'a']);
  });
});

describe('supervisorPids', () => {
  it('finds a supervisor of the cluster by its command line, and no other', async () => {
    const { spawn } = await import('node:child_process');
    const { supervisorPids } = await import('../../src/cluster/state.js');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)', '/opt/podnet/dist/src/cli/main.js', 'supervise', '--name', 'pnq1x'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(supervisorPids('pnq1x'), [child.pid]);
      assert.deepEqual(supervisorPids('pnq1'), []);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
