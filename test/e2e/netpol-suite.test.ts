// Root: the upstream NetworkPolicy e2e suite's scenario on a `podnet up` cluster — namespaces x, y
// and z with pods a, b and c, each serving ports 80 and 81 over TCP and UDP (agnhost netexec, one
// container per port; SCTP cannot be served or probed by podnet) — with our own version of its
// cases. Each case applies its policies and then checks the whole matrix with `podnet netpol
// matrix`: every pod pair × port × protocol probed for real from inside the pods must agree with
// what the policies allow (the analyzer, itself checked against hand-written truth tables in
// test/unit/netpol-analyzer.test.ts); a few cells are also asserted by hand so no case passes
// vacuously.
//
// The cluster is dual-stack: a representative subset (default deny, pod + namespace selectors,
// an IPv6 ipBlock with except, named ports) is also checked over IPv6 (`--ip-family ipv6`).
//
// Address plan (away from the defaults and the other e2e tests): nodes 198.18.228.0/24 and
// fd00:198:228::/64, pods 10.236.0.0/16 and fd00:10:236::/56, services 10.237.0.0/16 and
// fd00:10:237::/112. Traffic stays inside the cluster's namespaces.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually, haveKubectl, TestCluster } from './harness.js';

const root = process.getuid?.() === 0;
const skip = !root ? 'needs root (creates network namespaces)' : !haveKubectl() ? 'kubectl is not installed' : false;

const cluster = new TestCluster('pnn');
const { name } = cluster;
const podnet = (...args: string[]) => cluster.podnet(...args);
const kubectlRun = (args: string[], input?: string) => cluster.kubectlRun(args, input);
const apply = (o: unknown) => cluster.apply(o);

const AGNHOST = 'registry.k8s.io/e2e-test-images/agnhost:2.53';
const NAMESPACES = ['x', 'y', 'z'];
const PODS = ['a', 'b', 'c'];
const serve = (port: number) => ({
  name: `serve-${port}`, image: AGNHOST, args: ['netexec', `--http-port=${port}`, `--udp-port=${port}`],
  ports: [{ name: `serve-${port}-tcp`, containerPort: port, protocol: 'TCP' }, { name: `serve-${port}-udp`, containerPort: port, protocol: 'UDP' }],
});
type Policy = { ns: string; name: string; spec: Record<string, unknown> };
const policy = (p: Policy) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: p.ns, name: p.name }, spec: p.spec });
const podIPs = (ns: string, pod: string) => (JSON.parse(kubectlRun(['get', 'pod', '-n', ns, pod, '-o', 'json']).stdout).status.podIPs as Array<{ ip: string }>).map((p) => p.ip);
const podIP = (ns: string, pod: string, family: 4 | 6 = 4) => podIPs(ns, pod).find((ip) => ip.includes(':') === (family === 6))!;

/** Runs the matrix until the probes agree with the policies (the nodes program within a second or two). */
async function matrix(family: 4 | 6 = 4): Promise<string> {
  const run = () => podnet('netpol', 'matrix', '--name', name, '-n', NAMESPACES.join(','), '--ports', '80,81', '--protocols', 'tcp,udp', '--ip-family', family === 6 ? 'ipv6' : 'ipv4');
  let r = run();
  for (const deadline = Date.now() + 30_000; r.status !== 0 && Date.now() < deadline;) {
    await new Promise((ok) => setTimeout(ok, 1000));
    r = run();
  }
  assert.equal(r.status, 0, r.stdout + r.stderr);
  if (family === 6) assert.match(r.stdout, /over IPv6/);
  return r.stdout;
}
/** The cell from → to in the observed table of `section` (e.g. "TCP/80"): '.' or 'X'. */
function cell(out: string, section: string, from: string, to: string): string {
  const sec = out.slice(out.indexOf(`=== ${section} ===`));
  const obs = sec.slice(sec.indexOf('observed'));
  const lines = obs.split('\n');
  const header = lines.find((l) => l.trim().startsWith('|'))!.split('|')[1]!.trim().split(/\s+/);
  const row = lines.find((l) => l.startsWith(`${from} `) || l.startsWith(`${from}\t`))!;
  return row.split('|')[1]!.trim().split(/\s+/)[header.indexOf(to)]!;
}

describe('NetworkPolicy: the upstream suite\'s x/y/z × a/b/c scenario on podnet up', { skip, timeout: 600_000 }, () => {
  before(async () => {
    const up = podnet('up', '--name', name, '--nodes', '2', '--ip-family', 'dual',
      '--node-cidr', '198.18.228.0/24,fd00:198:228::/64', '--pod-cidr', '10.236.0.0/16,fd00:10:236::/56', '--service-cidr', '10.237.0.0/16,fd00:10:237::/112');
    assert.equal(up.status, 0, up.stderr + up.stdout);
    for (const ns of NAMESPACES) {
      apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { ns } } });
      for (const pod of PODS) apply({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: ns, name: pod, labels: { pod } }, spec: { containers: [serve(80), serve(81)] } });
    }
    await eventually(() => NAMESPACES.every((ns) => {
      const items = JSON.parse(kubectlRun(['get', 'pods', '-n', ns, '-o', 'json']).stdout || '{"items":[]}').items as Array<{ status?: { conditions?: Array<{ type: string; status: string }> } }>;
      return items.length === 3 && items.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    }) || undefined, 180_000, '9 pods Ready');
  });
  after(() => {
    const down = cluster.down();
    assert.equal(down.status, 0, down.stderr);
  });

  /** Applies the case's policies, checks the matrix (and, given check6, the IPv6 matrix too), removes them again. */
  const caseWith = async (policies: Policy[], check: (out: string) => void, check6?: (out: string) => void) => {
    for (const p of policies) apply(policy(p));
    try {
      check(await matrix());
      if (check6) check6(await matrix(6));
    } finally {
      for (const p of policies) kubectlRun(['delete', 'networkpolicy', '-n', p.ns, p.name, '--wait=false']);
    }
  };

  it('no policies: everything reaches everything', async () => {
    const out = await matrix();
    assert.equal(cell(out, 'TCP/80', 'x/a', 'z/c'), '.');
  });

  it('default deny ingress in x; default deny egress in y', async () => {
    await caseWith([{ ns: 'x', name: 'deny-in', spec: { podSelector: {}, policyTypes: ['Ingress'] } }], (out) => {
      assert.equal(cell(out, 'TCP/80', 'y/a', 'x/b'), 'X');
      assert.equal(cell(out, 'UDP/81', 'z/c', 'x/a'), 'X');
      assert.equal(cell(out, 'TCP/80', 'x/a', 'y/b'), '.');
    }, (out6) => {
      assert.equal(cell(out6, 'TCP/80', 'y/a', 'x/b'), 'X');
      assert.equal(cell(out6, 'UDP/81', 'z/c', 'x/a'), 'X');
      assert.equal(cell(out6, 'TCP/81', 'x/a', 'z/b'), '.');
    });
    await caseWith([{ ns: 'y', name: 'deny-out', spec: { podSelector: {}, policyTypes: ['Egress'] } }], (out) => {
      assert.equal(cell(out, 'TCP/81', 'y/a', 'x/a'), 'X');
      assert.equal(cell(out, 'TCP/81', 'x/a', 'y/a'), '.');
    });
  });

  it('selectors: pod and namespace in one peer (AND) versus in separate peers (OR)', async () => {
    const base = { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Ingress'] };
    await caseWith([{ ns: 'x', name: 'and', spec: { ...base, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } }] }] } }], (out) => {
      assert.equal(cell(out, 'TCP/80', 'y/b', 'x/a'), '.');
      assert.equal(cell(out, 'TCP/80', 'y/c', 'x/a'), 'X');
      assert.equal(cell(out, 'TCP/80', 'z/b', 'x/a'), 'X');
    }, (out6) => {
      assert.equal(cell(out6, 'TCP/80', 'y/b', 'x/a'), '.');
      assert.equal(cell(out6, 'UDP/81', 'y/c', 'x/a'), 'X');
      assert.equal(cell(out6, 'TCP/80', 'z/b', 'x/a'), 'X');
    });
    await caseWith([{ ns: 'x', name: 'or', spec: { ...base, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchLabels: { pod: 'b' } } }] }] } }], (out) => {
      assert.equal(cell(out, 'TCP/80', 'y/c', 'x/a'), '.');
      assert.equal(cell(out, 'TCP/80', 'x/b', 'x/a'), '.');
      assert.equal(cell(out, 'TCP/80', 'z/b', 'x/a'), 'X', 'podSelector alone means the policy\'s own namespace');
    });
  });

  it('ipBlock with except; named ports; endPort', async () => {
    const zb = podIP('z', 'b');
    await caseWith([{ ns: 'x', name: 'cidr', spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.236.0.0/16', except: [`${zb}/32`] } }] }] } }], (out) => {
      assert.equal(cell(out, 'TCP/80', 'z/b', 'x/a'), 'X');
      assert.equal(cell(out, 'TCP/80', 'z/a', 'x/a'), '.');
    });
    // The same over IPv6: the pods' /56 minus z/b's address. IPv4 sources match no IPv6 block.
    const zb6 = podIP('z', 'b', 6);
    await caseWith([{ ns: 'x', name: 'cidr6', spec: { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: 'fd00:10:236::/56', except: [`${zb6}/128`] } }] }] } }], (out) => {
      assert.equal(cell(out, 'TCP/80', 'z/a', 'x/a'), 'X');
    }, (out6) => {
      assert.equal(cell(out6, 'TCP/80', 'z/b', 'x/a'), 'X');
      assert.equal(cell(out6, 'TCP/80', 'z/a', 'x/a'), '.');
      assert.equal(cell(out6, 'UDP/81', 'y/c', 'x/a'), '.');
    });
    await caseWith([{ ns: 'x', name: 'named', spec: { podSelector: {}, ingress: [{ ports: [{ port: 'serve-81-tcp', protocol: 'TCP' }] }] } }], (out) => {
      assert.equal(cell(out, 'TCP/81', 'y/a', 'x/c'), '.');
      assert.equal(cell(out, 'TCP/80', 'y/a', 'x/c'), 'X');
      assert.equal(cell(out, 'UDP/81', 'y/a', 'x/c'), 'X');
    }, (out6) => {
      assert.equal(cell(out6, 'TCP/81', 'y/a', 'x/c'), '.');
      assert.equal(cell(out6, 'TCP/80', 'y/a', 'x/c'), 'X');
    });
    await caseWith([{ ns: 'y', name: 'range', spec: { podSelector: { matchLabels: { pod: 'c' } }, policyTypes: ['Egress'], egress: [{ ports: [{ port: 80, endPort: 81, protocol: 'UDP' }] }] } }], (out) => {
      assert.equal(cell(out, 'UDP/81', 'y/c', 'z/a'), '.');
      assert.equal(cell(out, 'TCP/81', 'y/c', 'z/a'), 'X');
    });
  });

  it('several policies add up', async () => {
    await caseWith([
      { ns: 'z', name: 'from-x', spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' } } }] }] } },
      { ns: 'z', name: 'from-y-81', spec: { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 81 }] }] } },
    ], (out) => {
      assert.equal(cell(out, 'TCP/80', 'x/a', 'z/a'), '.');
      assert.equal(cell(out, 'TCP/81', 'y/a', 'z/a'), '.');
      assert.equal(cell(out, 'TCP/80', 'y/a', 'z/a'), 'X');
      assert.equal(cell(out, 'TCP/80', 'z/b', 'z/a'), 'X');
    });
  });
});
