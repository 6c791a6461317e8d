// Syncing (src/proxy/proxier.ts + sync.ts) against the fake: a full sync first, then partial
// syncs that touch only the changed Services' chains and map elements; stale chains deleted in
// a later transaction; a failed sync makes the next one full; a restarted proxier adopts the
// table in one transaction. Address plan: see proxy-fixtures.ts.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { config, makeService, makeSlice, NODE_IP, outside, pod, run, sliceRec, svcRec } from './proxy-fixtures.js';
import { FakeNft } from '../../src/net/nft-fake.js';
import { NftError, type NftBackend, type Transaction } from '../../src/net/nft.js';
import { Proxier } from '../../src/proxy/proxier.js';
import { computeBase, computeService, type ServiceRules } from '../../src/proxy/rules.js';
import { elementBatch, planFull } from '../../src/proxy/sync.js';
import { staleUdpFlows } from '../../src/proxy/conntrack.js';

const web = (i: number) => makeService('ns', `web${i}`, (s) => { s.spec.clusterIP = `10.96.1.${i}`; s.spec.clusterIPs = [`10.96.1.${i}`]; });
const webSlice = (i: number, ips: string[]) => makeSlice('ns', `web${i}-a`, `web${i}`, ips.map((ip) => ({ ip, node: 'node-b' })));

function setup(opts: { backend?: NftBackend; fake?: FakeNft; clock?: { t: number }; conntrack?: string[][] } = {}) {
  const fake = opts.fake ?? new FakeNft('inet', config().table);
  const clock = opts.clock ?? { t: 1_000_000 };
  const p = new Proxier({
    config: config(), backend: opts.backend ?? fake, now: () => clock.t,
    ...(opts.conntrack ? { conntrack: async (args: string[]) => { opts.conntrack!.push(args); } } : {}),
  });
  p.ready = true;
  return { fake, clock, p };
}

/** Names every op of a transaction refers to (chains, sets, and the comments of elements). */
function touched(tx: Transaction): string[] {
  return tx.ops.map((op) => {
    const o = op.obj;
    if (o.kind === 'chain' || o.kind === 'set' || o.kind === 'map') return `${op.verb} ${o.kind} ${o.name}`;
    if (o.kind === 'rule') return `${op.verb} rule ${o.chain}`;
    if (o.kind === 'element') return `${op.verb} element ${o.set} ${o.key.join(' . ')}`;
    return `${op.verb} table`;
  });
}

describe('proxier sync', () => {
  test('first sync is full, an idle sync sends nothing', async () => {
    const { fake, p } = setup();
    for (let i = 1; i <= 3; i++) { p.upsertService(svcRec(web(i))); p.upsertSlice(sliceRec(webSlice(i, [`10.244.2.${i}`]))); }
    const r1 = await p.sync();
    assert.equal(r1.kind, 'full');
    assert.deepEqual(r1.services, ['ns/web1', 'ns/web2', 'ns/web3']);
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.2')).dnat, '10.244.2.2:8080');
    const r2 = await p.sync();
    assert.equal(r2.kind, 'partial');
    assert.equal(r2.ops, 0);
    assert.equal(fake.history.length, 1, 'no transaction for no change');
  });

  test('an endpoint change touches only that Service: element-only when the count stays, shared chains when it changes', async () => {
    const { fake, p } = setup();
    for (let i = 1; i <= 3; i++) { p.upsertService(svcRec(web(i))); p.upsertSlice(sliceRec(webSlice(i, [`10.244.2.${i}`]))); }
    await p.sync();
    // One endpoint replaced by another: two element ops, nothing else.
    p.upsertSlice(sliceRec(webSlice(2, ['10.244.2.12'])));
    const r0 = await p.sync();
    assert.equal(r0.kind, 'partial');
    assert.deepEqual(r0.services, ['ns/web2']);
    assert.deepEqual(touched(fake.history.at(-1)!), [
      'delete element cluster-endpoints-tcp-v4 10.96.1.2 . 80 . 0', 'add element cluster-endpoints-tcp-v4 10.96.1.2 . 80 . 0',
    ]);
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.2')).dnat, '10.244.2.12:8080');
    // A second endpoint: the dispatch element moves to the shared chains for two endpoints (created now).
    p.upsertSlice(sliceRec(webSlice(2, ['10.244.2.12', '10.244.2.22'])));
    const r = await p.sync();
    assert.deepEqual(r.services, ['ns/web2']);
    const ops = touched(fake.history.at(-1)!);
    for (const o of ops) assert.match(o, /10\.96\.1\.2 |-tcp-2-v4$/, `op outside the changed service: ${o}`);
    assert.deepEqual(ops.filter((o) => o.includes(' chain ')).sort(), ['add chain clusterip-cluster-tcp-2-v4', 'add chain dnat-cluster-tcp-2-v4']);
    assert.ok(ops.includes('add element cluster-endpoints-tcp-v4 10.96.1.2 . 80 . 1'));
    const r2 = run(fake, pod('10.244.1.9', '10.96.1.2'));
    assert.deepEqual(r2.candidates.sort(), ['10.244.2.12:8080', '10.244.2.22:8080']);
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.1')).dnat, '10.244.2.1:8080', 'others untouched');
    assert.ok(fake.ruleset!.chains.has('dnat-cluster-tcp-1-v4'), 'still used by the others');
  });

  test('losing all endpoints moves the element to the reject map; regaining moves it back', async () => {
    const { fake, p } = setup();
    p.upsertService(svcRec(web(1))); p.upsertSlice(sliceRec(webSlice(1, ['10.244.2.1'])));
    await p.sync();
    p.upsertSlice(sliceRec(webSlice(1, [])));
    await p.sync();
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.1')).verdict, 'reject');
    assert.deepEqual(touched(fake.history.at(-1)!).filter((o) => o.includes('element')), [
      'delete element cluster-endpoints-tcp-v4 10.96.1.1 . 80 . 0', 'delete element service-ips-v4 10.96.1.1 . tcp . 80',
      'add element no-endpoint-services-v4 10.96.1.1 . tcp . 80',
    ]);
    p.upsertSlice(sliceRec(webSlice(1, ['10.244.2.7'])));
    await p.sync();
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.1')).dnat, '10.244.2.7:8080');
  });

  test('stale chains are flushed at once and deleted in a later transaction', async () => {
    const { fake, clock, p } = setup();
    // web1 alone has two endpoints, so it alone uses the shared chains for two.
    p.upsertService(svcRec(web(1))); p.upsertSlice(sliceRec(webSlice(1, ['10.244.2.1', '10.244.2.11'])));
    p.upsertService(svcRec(web(2))); p.upsertSlice(sliceRec(webSlice(2, ['10.244.2.2'])));
    await p.sync();
    p.deleteService('ns/web1');
    await p.sync();
    const chains = () => [...fake.ruleset!.chains.keys()].filter((c) => c.endsWith('-2-v4'));
    assert.equal(chains().length, 2, 'still there, flushed');
    for (const c of chains()) assert.equal(fake.ruleset!.chains.get(c)!.rules.length, 0);
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.1')).dnat, undefined);
    assert.equal(p.staleDueInMs(), 1000);
    clock.t += 500;
    assert.equal((await p.sync()).staleDeleted, 0, 'not yet');
    clock.t += 600;
    const r = await p.sync();
    assert.equal(r.staleDeleted, 2);
    assert.deepEqual(chains(), []);
    assert.equal(p.staleDueInMs(), undefined);
  });

  test('a Service re-created before its stale chains are deleted gets them back', async () => {
    const { fake, clock, p } = setup();
    p.upsertService(svcRec(web(1))); p.upsertSlice(sliceRec(webSlice(1, ['10.244.2.1'])));
    await p.sync();
    p.deleteService('ns/web1');
    await p.sync();
    p.upsertService(svcRec(web(1)));
    await p.sync();
    clock.t += 5000;
    await p.sync();
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.1')).dnat, '10.244.2.1:8080');
  });

  test('a failed transaction changes nothing and makes the next sync full', async () => {
    const fake = new FakeNft('inet', config().table);
    let failNext = false;
    const backend: NftBackend = {
      family: 'inet', table: fake.table, newTransaction: () => fake.newTransaction(), list: () => fake.list(), listing: () => fake.listing(),
      run: async (tx) => { if (failNext) { failNext = false; throw new NftError('injected', 'other'); } await fake.run(tx); },
    };
    const { p } = setup({ backend, fake });
    p.upsertService(svcRec(web(1))); p.upsertSlice(sliceRec(webSlice(1, ['10.244.2.1'])));
    await p.sync();
    failNext = true;
    p.upsertSlice(sliceRec(webSlice(1, ['10.244.2.9'])));
    await assert.rejects(p.sync(), /injected/);
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.1')).dnat, '10.244.2.1:8080');
    const r = await p.sync();
    assert.equal(r.kind, 'full');
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.1')).dnat, '10.244.2.9:8080');
  });

  test('a restarted proxier adopts the table in one transaction, keeping affinity entries', async () => {
    const fake = new FakeNft('inet', config().table);
    const sticky = makeService('ns', 'sticky', (s) => { s.spec.clusterIP = '10.96.1.50'; s.spec.clusterIPs = ['10.96.1.50']; s.spec.sessionAffinity = 'ClientIP'; });
    const first = setup({ fake }).p;
    first.upsertService(svcRec(sticky)); first.upsertSlice(sliceRec(makeSlice('ns', 'sticky-a', 'sticky', [{ ip: '10.244.2.1', node: 'node-b' }])));
    first.upsertService(svcRec(web(1))); first.upsertSlice(sliceRec(webSlice(1, ['10.244.2.1'])));
    await first.sync();
    // The kernel records a client in the affinity set.
    const aff = [...fake.ruleset!.sets.keys()].find((s) => s.startsWith('affinity-'))!;
    fake.runSync(fake.newTransaction().add({ kind: 'element', set: aff, key: ['10.244.1.9'] }));
    // kill -9; the new process sees only `sticky` (web1 was deleted meanwhile).
    const second = setup({ fake }).p;
    second.upsertService(svcRec(sticky)); second.upsertSlice(sliceRec(makeSlice('ns', 'sticky-a', 'sticky', [{ ip: '10.244.2.1', node: 'node-b' }])));
    const before = fake.history.length;
    const r = await second.sync();
    assert.equal(r.kind, 'full');
    assert.equal(fake.history.length, before + 1, 'one transaction');
    assert.ok(fake.ruleset!.sets.get(aff)!.elements.has('10.244.1.9'), 'affinity entry survives');
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.1')).dnat, undefined, "the deleted Service's element is gone");
    assert.ok([...fake.ruleset!.chains.keys()].filter((c) => c.includes('ns/web1/')).every((c) => fake.ruleset!.chains.get(c)!.rules.length === 0));
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.50')).dnat, '10.244.2.1:8080');
  });

  test('a full plan split in two: between structure and elements every installed Service still works', async () => {
    // What a previous process left: web1 (1 endpoint), web2, and an affinity Service.
    const fake = new FakeNft('inet', config().table);
    const sticky = makeService('ns', 'sticky', (s) => { s.spec.clusterIP = '10.96.1.50'; s.spec.clusterIPs = ['10.96.1.50']; s.spec.sessionAffinity = 'ClientIP'; });
    const stickySlice = (ip: string) => makeSlice('ns', 'sticky-a', 'sticky', [{ ip, node: 'node-b' }]);
    const rules = (entries: Array<[Record<string, unknown>, Record<string, unknown>]>) => {
      const m = new Map<string, ServiceRules>();
      for (const [svc, sl] of entries) { const r = computeService(svcRec(svc), [sliceRec(sl)], config()); if (r) m.set(r.key, r); }
      return m;
    };
    const base = computeBase(config());
    fake.runSync(planFull(config().table, base, rules([[web(1), webSlice(1, ['10.244.2.1'])], [web(2), webSlice(2, ['10.244.2.2'])], [sticky, stickySlice('10.244.2.50')]]), undefined, 0).tx);
    // The next process wants web1 on two endpoints (other shared chains), sticky on another
    // endpoint (other endpoint chains), web3; web2 is gone.
    const plan = planFull(config().table, base, rules([[web(1), webSlice(1, ['10.244.2.1', '10.244.2.11'])], [sticky, stickySlice('10.244.2.51')], [web(3), webSlice(3, ['10.244.2.3'])]]), await fake.list(), 0);
    // The structure half adds and refills only: no map flushed, no chain flushed or deleted but to be refilled.
    const refilled = new Set(plan.structure.ops.filter((o) => o.verb === 'add' && o.obj.kind === 'chain').map((o) => (o.obj as { name: string }).name));
    for (const op of plan.structure.ops) {
      assert.ok(op.verb === 'add' || (op.verb === 'flush' && op.obj.kind === 'chain' && refilled.has(op.obj.name)), `structure op ${op.verb} ${op.obj.kind}`);
    }
    assert.ok(plan.elements.flushChains.some((c) => c.includes('ns/sticky/')), 'the old endpoint chain goes stale in the element half');
    // The single transaction is the two halves in order.
    assert.deepEqual(plan.tx.ops.slice(0, plan.structure.size), plan.structure.ops);
    fake.runSync(plan.structure);
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.1')).dnat, '10.244.2.1:8080', 'web1 as before');
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.2')).dnat, '10.244.2.2:8080', 'web2 until the elements go');
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.50')).dnat, '10.244.2.51:8080', 'an affinity Service\'s own chains are refilled with its new endpoints');
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.3')).dnat, undefined, 'web3 not yet');
    const elements = fake.newTransaction();
    elements.ops.push(...plan.tx.ops.slice(plan.structure.size));
    fake.runSync(elements);
    assert.deepEqual(run(fake, pod('10.244.1.9', '10.96.1.1')).candidates.sort(), ['10.244.2.11:8080', '10.244.2.1:8080'].sort());
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.2')).dnat, undefined);
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.3')).dnat, '10.244.2.3:8080');
    // The netlink encoding of the element half: one message per flush, per 64 KiB of elements, per stale chain, per dropped set.
    const batch = elementBatch(config().table, plan.elements);
    batch.end();
    assert.equal(batch.expectedReplies, plan.elements.flushSets.length + plan.elements.add.length + plan.elements.flushChains.length + plan.elements.deleteSets.length);
  });

  test('a table another build left with other map types is replaced whole, in one transaction', async () => {
    const fake = new FakeNft('inet', config().table);
    // An older shape: the endpoints map keyed with the protocol too.
    fake.runSync(fake.newTransaction().add({ kind: 'table' })
      .add({ kind: 'map', name: 'cluster-endpoints-tcp-v4', type: 'ipv4_addr . inet_proto . inet_service . mark : ipv4_addr . inet_service' }));
    const logs: string[] = [];
    const p = new Proxier({ config: config(), backend: fake, now: () => 1_000_000, log: (m: string) => logs.push(m) });
    p.ready = true;
    p.upsertService(svcRec(web(1))); p.upsertSlice(sliceRec(webSlice(1, ['10.244.2.1'])));
    const before = fake.history.length;
    const r = await p.sync();
    assert.equal(r.kind, 'full');
    assert.equal(fake.history.length, before + 1, 'one transaction ran');
    assert.equal(fake.history.at(-1)!.ops[0]!.verb, 'destroy');
    assert.match(logs.join('\n'), /replacing it atomically/);
    assert.equal(run(fake, pod('10.244.1.9', '10.96.1.1')).dnat, '10.244.2.1:8080');
  });

  test('two Services claiming one external IP:port: the first wins, the second takes over when it goes', async () => {
    const { fake, p } = setup();
    const claim = (name: string, ip: string, ep: string) => {
      p.upsertService(svcRec(makeService('ns', name, (s) => { s.spec.clusterIP = ip; s.spec.clusterIPs = [ip]; s.spec.externalIPs = ['192.0.2.9']; })));
      p.upsertSlice(sliceRec(makeSlice('ns', `${name}-a`, name, [{ ip: ep, node: 'node-b' }])));
    };
    claim('a', '10.96.1.1', '10.244.2.1');
    claim('b', '10.96.1.2', '10.244.2.2');
    await p.sync();
    assert.equal(run(fake, outside('192.0.2.9')).dnat, '10.244.2.1:8080');
    p.deleteService('ns/a');
    await p.sync();
    assert.equal(run(fake, outside('192.0.2.9')).dnat, '10.244.2.2:8080');
    assert.equal(run(fake, outside(NODE_IP)).dnat, undefined);
  });

  test('UDP endpoints removed: their conntrack flows are cleared', async () => {
    const flows: string[][] = [];
    const { p } = setup({ conntrack: flows });
    p.upsertService(svcRec(makeService('ns', 'dns', (s) => { s.spec.clusterIP = '10.96.0.10'; s.spec.clusterIPs = ['10.96.0.10']; s.spec.ports = [{ name: 'dns', protocol: 'UDP', port: 53 }]; })));
    const slice = (ips: string[]) => sliceRec(makeSlice('ns', 'dns-a', 'dns', ips.map((ip) => ({ ip, node: 'node-b' })), (s) => { s.ports = [{ name: 'dns', protocol: 'UDP', port: 53 }]; }));
    p.upsertSlice(slice(['10.244.2.1', '10.244.2.2']));
    await p.sync();
    assert.deepEqual(flows, []);
    p.upsertSlice(slice(['10.244.2.2', '10.244.2.3']));
    await p.sync();
    assert.deepEqual(flows, [['-D', '-p', 'udp', '--orig-dst', '10.96.0.10', '--orig-port-dst', '53', '--dst-nat', '10.244.2.1']]);
  });

  test('staleUdpFlows covers external IPs, NodePorts and IPv6', () => {
    const port = { name: 'ns/d:dns', family: 6 as const, protocol: 'UDP' as const, port: 53, nodePort: 30053, clusterIP: 'fd00:10:96::a', externalIPs: ['2001:db8::5'], loadBalancerIPs: [], endpoints: ['[fd00:10:244:2::1]:53'], hasEndpoints: true };
    assert.deepEqual(staleUdpFlows([port], []), [
      ['-D', '-f', 'ipv6', '-p', 'udp', '--orig-dst', 'fd00:10:96::a', '--orig-port-dst', '53', '--dst-nat', 'fd00:10:244:2::1'],
      ['-D', '-f', 'ipv6', '-p', 'udp', '--orig-dst', '2001:db8::5', '--orig-port-dst', '53', '--dst-nat', 'fd00:10:244:2::1'],
      ['-D', '-f', 'ipv6', '-p', 'udp', '--orig-port-dst', '30053', '--dst-nat', 'fd00:10:244:2::1'],
    ]);
    assert.deepEqual(staleUdpFlows([{ ...port, protocol: 'TCP' }], []), []);
  });

  test('nothing is programmed before the informers have synced', async () => {
    const { fake, p } = setup();
    p.ready = false;
    p.upsertService(svcRec(web(1)));
    assert.equal((await p.sync()).kind, 'none');
    assert.equal(fake.ruleset, undefined);
  });

  test('cleanup removes the table', async () => {
    const { fake, p } = setup();
    p.upsertService(svcRec(web(1)));
    await p.sync();
    await p.cleanup();
    assert.equal(fake.ruleset, undefined);
    await p.cleanup(); // and is idempotent
  });
});
