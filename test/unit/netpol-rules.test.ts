// The generated nftables table, checked the way kube-proxy's rules are (STYLE.md item 3): the
// ruleset is applied to the fake backend (the kernel's checks) and packets are traced through it
// for every pod pair, port, protocol and family; the analyzer is the oracle. Then the sync:
// full and element-only transactions, and what stays the same size as the cluster grows.

import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeNft } from '../../src/net/nft-fake.js';
import { Analyzer } from '../../src/netpol/analyzer.js';
import { computeRules, DEFAULT_TABLE, portKeys, type DesiredRules } from '../../src/netpol/rules.js';
import { planFull, planIncremental, planStaleCleanup, type Installed } from '../../src/netpol/sync.js';
import { traceNetpol } from '../../src/netpol/trace.js';
import type { Snapshot } from '../../src/netpol/match.js';
import type { PodRecord } from '../../src/netpol/model.js';
import { ALL_PODS, ALL_PORTS, makePod, makePolicy, model, NODE_IPS } from './netpol-fixtures.js';
import { CASES } from './netpol-cases.js';

const NODES = ['node-1', 'node-2'];

function install(snap: Snapshot, node: string): FakeNft {
  const nft = new FakeNft('inet', DEFAULT_TABLE);
  nft.runSync(planFull(DEFAULT_TABLE, computeRules(snap, { table: DEFAULT_TABLE, nodeName: node }), undefined, 0).tx);
  return nft;
}

/** The data plane's verdict: the packet crosses the sender's node and, if different, the receiver's. */
function dataPlane(tables: Map<string, FakeNft>, src: { ip: string; node?: string }, dst: { ip: string; node?: string }, protocol: 'TCP' | 'UDP' | 'SCTP', port: number): boolean {
  const nodes = [...new Set([src.node, dst.node].filter((n): n is string => !!n))];
  return nodes.every((n) => traceNetpol(tables.get(n)!.ruleset!, { src: src.ip, dst: dst.ip, protocol: protocol.toLowerCase() as 'tcp', dport: port },
    { localAddresses: NODE_IPS[n]! }).verdict === 'accept');
}

function compare(snap: Snapshot, tables = new Map(NODES.map((n) => [n, install(snap, n)]))): string[] {
  const a = new Analyzer(snap);
  const wrong: string[] = [];
  const pod = (k: string) => a.pod(k)!;
  const present = ALL_PODS.filter((k) => a.pod(k));
  for (const family of [4, 6] as const) {
    const ipOf = (p: PodRecord) => p.ips.find((ip) => ip.includes(':') === (family === 6))!;
    for (const f of present) for (const t of present) {
      if (f === t) continue; // a pod reaches itself inside its own namespace: no node sees it
      for (const p of ALL_PORTS) {
        const want = a.check({ from: { pod: f }, to: { pod: t }, protocol: p.protocol, port: p.port, family }).allowed;
        const got = dataPlane(tables, { ip: ipOf(pod(f)), node: pod(f).node }, { ip: ipOf(pod(t)), node: pod(t).node }, p.protocol, p.port);
        if (want !== got) wrong.push(`IPv${family} ${f} → ${t} ${p.protocol}/${p.port}: analyzer ${want ? 'allows' : 'denies'}, rules ${got ? 'accept' : 'drop'}`);
      }
    }
    // Addresses outside the cluster, both ways, and the node itself.
    const outside = family === 4 ? ['192.0.2.7', '10.244.2.200', '10.244.1.11'] : ['2001:db8::7', 'fd00:10:244:2::200'];
    for (const ip of outside) for (const t of present) {
      if (a.podByIP(ip) === pod(t)) continue;
      for (const p of ALL_PORTS.slice(0, 2)) {
        const inWant = a.check({ from: { ip }, to: { pod: t }, protocol: p.protocol, port: p.port }).allowed;
        const inGot = dataPlane(tables, { ip, node: a.podByIP(ip)?.node }, { ip: ipOf(pod(t)), node: pod(t).node }, p.protocol, p.port);
        if (inWant !== inGot) wrong.push(`${ip} → ${t} ${p.protocol}/${p.port}: analyzer ${inWant}, rules ${inGot}`);
        const outWant = a.check({ from: { pod: t }, to: { ip }, protocol: p.protocol, port: p.port }).allowed;
        const outGot = dataPlane(tables, { ip: ipOf(pod(t)), node: pod(t).node }, { ip, node: a.podByIP(ip)?.node }, p.protocol, p.port);
        if (outWant !== outGot) wrong.push(`${t} → ${ip} ${p.protocol}/${p.port}: analyzer ${outWant}, rules ${outGot}`);
      }
    }
  }
  return wrong;
}

describe('netpol rules: the generated table traced against the analyzer', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const wrong = compare(model(c.policies));
      assert.deepEqual(wrong, [], `${wrong.length} difference(s)`);
    });
  }

  it('the node itself passes, and replies of allowed connections pass', () => {
    const snap = model([makePolicy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })]);
    const rs = install(snap, 'node-1').ruleset!;
    const opts = { localAddresses: NODE_IPS['node-1']! };
    assert.equal(traceNetpol(rs, { src: '198.18.0.2', dst: '10.244.1.10', protocol: 'tcp', dport: 80 }, opts).verdict, 'accept');
    assert.equal(traceNetpol(rs, { src: '198.18.0.3', dst: '10.244.1.10', protocol: 'tcp', dport: 80 }, opts).verdict, 'drop');
    assert.equal(traceNetpol(rs, { src: '10.244.1.20', dst: '10.244.1.10', protocol: 'tcp', dport: 80 }, opts).verdict, 'drop');
    assert.equal(traceNetpol(rs, { src: '10.244.1.20', dst: '10.244.1.10', protocol: 'tcp', dport: 80, state: 'established' }, opts).verdict, 'accept');
  });

  it('the trace names the policy rule that decided, and counts drops per policy', () => {
    const snap = model([
      makePolicy('x', 'a-from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 80 }] }] }),
      makePolicy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] }),
    ]);
    const rs = install(snap, 'node-1').ruleset!;
    const ok = traceNetpol(rs, { src: '10.244.1.20', dst: '10.244.1.10', protocol: 'tcp', dport: 80 }, { localAddresses: [] });
    assert.equal(ok.verdict, 'accept');
    assert.equal(ok.steps.at(-1)!.comment, 'x/a-from-y ingress rule #0');
    const no = traceNetpol(rs, { src: '10.244.1.20', dst: '10.244.1.10', protocol: 'tcp', dport: 81 }, { localAddresses: [] });
    assert.equal(no.verdict, 'drop');
    assert.deepEqual(no.steps.slice(-3).map((s) => s.comment ?? s.rule), ['x/a-from-y ingress: denied', 'x/deny ingress: denied', 'drop']);
  });

  it('the table text loads into the kernel model both as a script and back from its dump', () => {
    const snap = model(CASES.flatMap((c) => c.policies.map((p) => ({ ...p, name: `${p.name}-${CASES.indexOf(c)}` }))));
    const nft = install(snap, 'node-1');
    const again = new FakeNft('inet', DEFAULT_TABLE);
    again.load(nft.dump());
    assert.equal(again.dump(), nft.dump());
    // Every rule of every chain has a shape the tracer knows: trace something through each group chain.
    assert.deepEqual(compare(snap), []);
  });

  it('ports become non-overlapping interval keys', () => {
    assert.deepEqual(portKeys([{ protocol: 'TCP', port: 80 }, { protocol: 'TCP', port: 79, endPort: 85 }, { protocol: 'TCP', port: 86 }, { protocol: 'UDP' }, { protocol: 'SCTP', port: 'http' }]),
      [['tcp', '79-86'], ['udp', '0-65535']]);
  });
});

describe('netpol sync', () => {
  const policies = [
    makePolicy('x', 'a-from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }] }),
    makePolicy('y', 'out', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: {}, namespaceSelector: {} }], ports: [{ port: 'serve-80-tcp' }] }] }),
  ];
  const rules = (snap: Snapshot): DesiredRules => computeRules(snap, { table: DEFAULT_TABLE, nodeName: 'node-1' });

  it('a new pod, a label change and a pod leaving are element-only transactions matching a full sync', () => {
    const snap0 = model(policies);
    const nft = new FakeNft('inet', DEFAULT_TABLE);
    let inst: Installed = planFull(DEFAULT_TABLE, rules(snap0), undefined, 0).installed;
    nft.runSync(planFull(DEFAULT_TABLE, rules(snap0), undefined, 0).tx);
    const steps: Snapshot[] = [
      model(policies, [makePod('y', 'd', (o) => { o.status.podIP = '10.244.1.23'; o.status.podIPs = [{ ip: '10.244.1.23' }]; })]),
      { ...snap0, pods: snap0.pods.map((p) => (p.namespace === 'x' && p.name === 'b' ? { ...p, labels: { pod: 'a' } } : p)) },
      { ...snap0, pods: snap0.pods.filter((p) => !(p.namespace === 'y' && p.name === 'c')) },
      snap0,
    ];
    for (const snap of steps) {
      const plan = planIncremental(DEFAULT_TABLE, inst, rules(snap));
      assert.ok(plan, 'element-only');
      assert.ok(plan.tx.ops.every((op) => op.obj.kind === 'element'), plan.tx.text());
      assert.ok(plan.tx.size > 0);
      nft.runSync(plan.tx);
      inst = plan.installed;
      assert.equal(nft.dump(), install(snap, 'node-1').dump());
      assert.deepEqual(compare(snap, new Map([['node-1', nft], ['node-2', install(snap, 'node-2')]])), []);
    }
    assert.equal(planIncremental(DEFAULT_TABLE, inst, rules(snap0))!.tx.size, 0, 'nothing to do');
  });

  it('a changed policy needs a full sync; old chains are flushed, then deleted a second later', () => {
    const snap0 = model(policies);
    const nft = new FakeNft('inet', DEFAULT_TABLE);
    const first = planFull(DEFAULT_TABLE, rules(snap0), undefined, 0);
    nft.runSync(first.tx);
    const snap1 = model([policies[1]!, makePolicy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress'] })]);
    assert.equal(planIncremental(DEFAULT_TABLE, first.installed, rules(snap1)), undefined);
    const full = planFull(DEFAULT_TABLE, rules(snap1), nft.ruleset ? { chains: [...nft.ruleset.chains.keys()], sets: [...nft.ruleset.sets.values()].filter((s) => !s.isMap).map((s) => s.name), maps: [...nft.ruleset.sets.values()].filter((s) => s.isMap).map((s) => s.name) } : undefined, 5000, first.installed);
    nft.runSync(full.tx);
    assert.equal(full.installed.stale.size, 1, 'the old ingress group chain');
    assert.deepEqual(compare(snap1, new Map([['node-1', nft], ['node-2', install(snap1, 'node-2')]])), []);
    assert.equal(planStaleCleanup(DEFAULT_TABLE, full.installed, 5500), undefined, 'not yet');
    const clean = planStaleCleanup(DEFAULT_TABLE, full.installed, 6000)!;
    nft.runSync(clean.tx);
    assert.equal(nft.dump(), install(snap1, 'node-1').dump());
  });

  it('the per-packet path does not grow with the number of pods or policies', () => {
    const many = (n: number): Snapshot => {
      const base = model();
      const extra: PodRecord[] = [];
      const pols = [];
      for (let i = 0; i < n; i++) {
        extra.push(makePod('y', `p${i}`, (o) => { o.metadata.labels = { app: `app${i}` }; o.spec.nodeName = i % 2 ? 'node-2' : 'node-1'; o.status.podIP = `10.245.${i >> 8}.${i & 255}`; o.status.podIPs = [{ ip: o.status.podIP }]; }));
        pols.push(makePolicy('y', `p${i}`, { podSelector: { matchLabels: { app: `app${i}` } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: `app${(i + 1) % n}` } } }], ports: [{ port: 80 }] }] }));
      }
      return { ...base, pods: [...base.pods, ...extra], policies: pols };
    };
    const path = (n: number) => {
      const rs = install(many(n), 'node-1').ruleset!;
      const r = traceNetpol(rs, { src: '10.245.0.1', dst: '10.245.0.0', protocol: 'tcp', dport: 80 }, { localAddresses: [] });
      assert.equal(r.verdict, 'accept');
      return { rules: r.steps.length, chains: r.chains.length, chainCount: rs.chains.size };
    };
    const small = path(10), big = path(400);
    assert.deepEqual({ rules: big.rules, chains: big.chains }, { rules: small.rules, chains: small.chains });
    assert.ok(big.chainCount > small.chainCount);
  });
});

describe('netpol rules: SCTP', () => {
  // SCTP rules need no SCTP in the kernel: `meta l4proto . th dport` only reads protocol number
  // 132 and the transport header's ports. Both families, numbers, ranges and names.
  const snap = model([
    makePolicy('x', 'sctp-in', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 80, protocol: 'SCTP' }, { port: 'serve-81-sctp', protocol: 'SCTP' }] }] }),
    makePolicy('x', 'sctp-out', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: 'fd00:10:244::/48', except: ['fd00:10:244:2::/64'] } }, { ipBlock: { cidr: '10.244.0.0/16', except: ['10.244.2.0/24'] } }], ports: [{ port: 80, endPort: 81, protocol: 'SCTP' }] }] }),
  ]);

  it('the table admits exactly what the analyzer says, SCTP cells included, over IPv4 and IPv6', () => {
    assert.deepEqual(compare(snap), []);
    const text = planFull(DEFAULT_TABLE, computeRules(snap, { table: DEFAULT_TABLE, nodeName: 'node-1' }), undefined, 0).tx.text();
    assert.match(text, /sctp \. 80/);
    assert.match(text, /sctp \. 80-81/);
    assert.match(text, /10\.244\.1\.10 \. sctp \. 81/, 'the named SCTP port resolved on x/a');
    assert.match(text, /fd00:10:244:1::10 \. sctp \. 81/);
  });

  const root = process.getuid?.() === 0;
  const haveNft = spawnSync('nft', ['--version']).status === 0;
  const haveUnshare = spawnSync('unshare', ['--version']).status === 0;
  it('the kernel accepts the table (nft -c in a throwaway network namespace)', { skip: !root ? 'needs root' : !haveNft ? 'needs nft' : !haveUnshare ? 'needs unshare' : false }, () => {
    const text = planFull(DEFAULT_TABLE, computeRules(snap, { table: DEFAULT_TABLE, nodeName: 'node-1' }), undefined, 0).tx.text();
    // -c checks without applying; the anonymous namespace goes away with the process anyway.
    const r = spawnSync('unshare', ['--net', 'nft', '-c', '-f', '-'], { input: text, encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('netpol rules: IPv6 neighbour discovery', () => {
  it('passes before any policy verdict, so an isolated pod can still resolve its neighbours', () => {
    const rules = computeRules(model([makePolicy('x', 'deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })]), { table: DEFAULT_TABLE, nodeName: 'node-1' });
    const fwd = rules.chains.find((c) => c.name === 'forward')!.rules.map((r) => r.rule);
    const nd = fwd.indexOf('icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept');
    assert.ok(nd >= 0, fwd.join('\n'));
    assert.ok(fwd.findIndex((r) => r.includes('vmap')) > nd);
  });
});
