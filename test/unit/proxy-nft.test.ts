// The nftables layer (src/net/nft*.ts): transaction text, and the fake's kernel checks — each
// failing transaction leaves the table exactly as it was, as `nft -f` does.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { NftError, Transaction, parseDuration, priorityValue } from '../../src/net/nft.js';
import { FakeNft } from '../../src/net/nft-fake.js';
import { parseListing, parseScript } from '../../src/net/nft-ruleset.js';

const T = 'pnC-test';

/** A small table: a dispatch map, a chain it points to, a base chain using the map. */
function seeded(): FakeNft {
  const f = new FakeNft('inet', T);
  const tx = f.newTransaction()
    .add({ kind: 'table', comment: 'test' })
    .add({ kind: 'map', name: 'm', type: 'ipv4_addr . inet_proto . inet_service : verdict' })
    .add({ kind: 'chain', name: 'target', comment: 'a target' })
    .add({ kind: 'chain', name: 'nat-prerouting', type: 'nat', hook: 'prerouting', priority: 'dstnat' })
    .add({ kind: 'rule', chain: 'nat-prerouting', rule: 'ip daddr . meta l4proto . th dport vmap @m' })
    .add({ kind: 'rule', chain: 'target', rule: 'meta l4proto tcp dnat ip to 10.244.1.5:80', comment: 'dnat' })
    .add({ kind: 'element', set: 'm', key: ['10.96.0.1', 'tcp', '80'], value: 'goto target', comment: 'ns/svc:http' });
  f.runSync(tx);
  return f;
}

function failsWith(f: FakeNft, build: (tx: Transaction) => void, kind: NftError['kind']): void {
  const before = f.dump();
  const tx = f.newTransaction();
  build(tx);
  assert.throws(() => f.runSync(tx), (e: unknown) => e instanceof NftError && e.kind === kind, `expected ${kind}`);
  assert.equal(f.dump(), before, 'a failed transaction changes nothing');
}

describe('transaction text', () => {
  test('renders what nft -f reads', () => {
    const tx = new Transaction('inet', T)
      .add({ kind: 'table', comment: 'c' })
      .add({ kind: 'chain', name: 'nat-output', type: 'nat', hook: 'output', priority: -100 })
      .add({ kind: 'set', name: 'aff', type: 'ipv4_addr', flags: ['dynamic', 'timeout'], timeout: 10800 })
      .add({ kind: 'element', set: 'm', key: ['10.96.0.1', 'tcp', '80'], value: 'goto x', comment: 'ns/a:p' })
      .delete({ kind: 'element', set: 'm', key: ['10.96.0.1', 'tcp', '80'], value: 'goto x' })
      .flush({ kind: 'chain', name: 'x' })
      .destroy({ kind: 'chain', name: 'y' })
      .replace({ kind: 'rule', chain: 'x', rule: 'drop', handle: 7 });
    assert.equal(tx.text(), [
      `add table inet ${T} { comment "c" ; }`,
      `add chain inet ${T} nat-output { type nat hook output priority -100 ; }`,
      `add set inet ${T} aff { type ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }`,
      `add element inet ${T} m { 10.96.0.1 . tcp . 80 comment "ns/a:p" : goto x }`,
      `delete element inet ${T} m { 10.96.0.1 . tcp . 80 }`,
      `flush chain inet ${T} x`,
      `add chain inet ${T} y`, `delete chain inet ${T} y`,
      `replace rule inet ${T} x handle 7 drop`,
    ].join('\n') + '\n');
  });

  test('refuses invalid ops at once', () => {
    const tx = new Transaction('inet', T);
    assert.throws(() => tx.replace({ kind: 'rule', chain: 'x', rule: 'drop' }), /handle/);
    assert.throws(() => tx.add({ kind: 'chain', name: 'bad name' }), /invalid nftables chain name/);
    assert.throws(() => tx.add({ kind: 'rule', chain: 'x', rule: 'drop; accept' }), /one line/);
    assert.throws(() => tx.add({ kind: 'chain', name: `c${'x'.repeat(300)}` }), /too long/);
  });

  test('priorities and durations', () => {
    assert.equal(priorityValue('dstnat'), -100);
    assert.equal(priorityValue('dstnat - 10'), -110);
    assert.equal(priorityValue('srcnat'), 100);
    assert.equal(priorityValue(-110), -110);
    assert.equal(parseDuration('3h'), 10800);
    assert.equal(parseDuration('1d2h3m4s'), 93784);
  });
});

describe('fake kernel checks', () => {
  test('a missing table fails everything but add table', () => {
    const f = new FakeNft('inet', T);
    failsWith(f, (tx) => tx.add({ kind: 'chain', name: 'x' }), 'not-found');
    failsWith(f, (tx) => tx.delete({ kind: 'table' }), 'not-found');
    f.runSync(f.newTransaction().destroy({ kind: 'table' }));
    assert.equal(f.dump(), '');
  });

  test('missing chain, set, map and jump target', () => {
    const f = seeded();
    failsWith(f, (tx) => tx.add({ kind: 'rule', chain: 'nope', rule: 'drop' }), 'not-found');
    failsWith(f, (tx) => tx.add({ kind: 'rule', chain: 'target', rule: 'jump nope' }), 'not-found');
    failsWith(f, (tx) => tx.add({ kind: 'rule', chain: 'target', rule: 'ip saddr @nope drop' }), 'not-found');
    failsWith(f, (tx) => tx.add({ kind: 'rule', chain: 'target', rule: 'numgen random mod 1 vmap { 0 : goto nope }' }), 'not-found');
    failsWith(f, (tx) => tx.add({ kind: 'element', set: 'nope', key: ['a'] }), 'not-found');
    failsWith(f, (tx) => tx.add({ kind: 'element', set: 'm', key: ['10.96.0.2', 'tcp', '80'], value: 'goto nope' }), 'not-found');
    failsWith(f, (tx) => tx.flush({ kind: 'chain', name: 'nope' }), 'not-found');
    failsWith(f, (tx) => tx.delete({ kind: 'element', set: 'm', key: ['10.96.0.9', 'tcp', '80'] }), 'not-found');
  });

  test('duplicate create, and add of an element with another value', () => {
    const f = seeded();
    failsWith(f, (tx) => tx.create({ kind: 'chain', name: 'target' }), 'exists');
    failsWith(f, (tx) => tx.create({ kind: 'table' }), 'exists');
    failsWith(f, (tx) => tx.create({ kind: 'element', set: 'm', key: ['10.96.0.1', 'tcp', '80'], value: 'goto target' }), 'exists');
    failsWith(f, (tx) => tx.add({ kind: 'chain', name: 'c2' }).add({ kind: 'element', set: 'm', key: ['10.96.0.1', 'tcp', '80'], value: 'goto c2' }), 'exists');
    failsWith(f, (tx) => tx.add({ kind: 'map', name: 'm', type: 'ipv6_addr . inet_proto . inet_service : verdict' }), 'exists');
    // add of what is there is a no-op
    const before = f.dump();
    f.runSync(f.newTransaction().add({ kind: 'chain', name: 'target' }).add({ kind: 'element', set: 'm', key: ['10.96.0.1', 'tcp', '80'], value: 'goto target', comment: 'ns/svc:http' }));
    assert.equal(f.dump(), before);
  });

  test('deleting a chain or set still referenced fails the whole transaction', () => {
    const f = seeded();
    // referenced by a map element
    failsWith(f, (tx) => tx.add({ kind: 'chain', name: 'other' }).delete({ kind: 'chain', name: 'target' }), 'busy');
    // referenced by a rule
    failsWith(f, (tx) => tx.delete({ kind: 'map', name: 'm', type: ':' }), 'busy');
    // once the element is gone the chain can go, in the same transaction
    f.runSync(f.newTransaction().delete({ kind: 'element', set: 'm', key: ['10.96.0.1', 'tcp', '80'] }).delete({ kind: 'chain', name: 'target' }));
    assert.ok(!f.ruleset!.chains.has('target'));
  });

  test('jump to a base chain, loops, and statements from the wrong hook', () => {
    const f = seeded();
    failsWith(f, (tx) => tx.add({ kind: 'chain', name: 'x' }).add({ kind: 'rule', chain: 'x', rule: 'jump nat-prerouting' }), 'unsupported');
    failsWith(f, (tx) => tx.add({ kind: 'chain', name: 'a' }).add({ kind: 'rule', chain: 'target', rule: 'jump a' }).add({ kind: 'rule', chain: 'a', rule: 'jump target' }), 'loop');
    // target is reached from nat prerouting: masquerade and reject are not allowed there
    failsWith(f, (tx) => tx.add({ kind: 'rule', chain: 'target', rule: 'masquerade' }), 'unsupported');
    failsWith(f, (tx) => tx.add({ kind: 'rule', chain: 'target', rule: 'reject' }), 'unsupported');
    // dnat from a filter hook
    failsWith(f, (tx) => tx.add({ kind: 'chain', name: 'fi', type: 'filter', hook: 'input', priority: 0 }).add({ kind: 'chain', name: 'd' })
      .add({ kind: 'rule', chain: 'd', rule: 'meta l4proto tcp dnat ip to 10.0.0.1:1' }).add({ kind: 'rule', chain: 'fi', rule: 'jump d' }), 'unsupported');
    // a chain named like a statement is not the statement
    f.runSync(f.newTransaction().add({ kind: 'chain', name: 'mark-for-masquerade' }).add({ kind: 'rule', chain: 'target', rule: 'jump mark-for-masquerade' }));
  });

  test('changing a base chain in place is refused', () => {
    const f = seeded();
    failsWith(f, (tx) => tx.add({ kind: 'chain', name: 'nat-prerouting', type: 'filter', hook: 'prerouting', priority: 0 }), 'unsupported');
  });

  test('flush chain drops its references; flush map drops element references', () => {
    const f = seeded();
    f.runSync(f.newTransaction().flush({ kind: 'map', name: 'm', type: ':' }).flush({ kind: 'chain', name: 'nat-prerouting' })
      .delete({ kind: 'map', name: 'm', type: ':' }).delete({ kind: 'chain', name: 'target' }));
    assert.deepEqual([...f.ruleset!.chains.keys()], ['nat-prerouting']);
  });

  test('insert, replace and delete by handle', () => {
    const f = seeded();
    f.runSync(f.newTransaction().add({ kind: 'rule', chain: 'target', rule: 'meta mark set meta mark | 0x00004000' }));
    const [first, second] = f.ruleset!.chains.get('target')!.rules;
    f.runSync(f.newTransaction().insert({ kind: 'rule', chain: 'target', rule: 'accept' }));
    assert.equal(f.ruleset!.chains.get('target')!.rules[0]!.rule, 'accept');
    f.runSync(f.newTransaction().replace({ kind: 'rule', chain: 'target', rule: 'drop', handle: second!.handle }));
    f.runSync(f.newTransaction().delete({ kind: 'rule', chain: 'target', rule: '', handle: first!.handle }));
    assert.deepEqual(f.ruleset!.chains.get('target')!.rules.map((r) => r.rule), ['accept', 'drop']);
    failsWith(f, (tx) => tx.delete({ kind: 'rule', chain: 'target', rule: '', handle: 9999 }), 'not-found');
  });
});

describe('dump and reload', () => {
  test('a dump loads back into the same table', () => {
    const f = seeded();
    const g = new FakeNft('inet', T);
    g.load(f.dump());
    assert.equal(g.dump(), f.dump());
    assert.equal(parseScript(f.dump()).ops.length, f.dump().trim().split('\n').length);
  });

  test('reads what nft list table prints', () => {
    const listing = `table inet ${T} { # handle 3
	comment "test"
	map m { # handle 4
		type ipv4_addr . inet_proto . inet_service : verdict
		comment "dispatch"
		elements = { 10.96.0.1 . tcp . 80 comment "ns/svc:http" : goto target,
			     10.96.0.2 . udp . 53 : drop }
	}

	set aff { # handle 7
		type ipv4_addr
		size 65535
		flags dynamic,timeout
		timeout 3h
		elements = { 10.244.1.9 timeout 3h expires 2h59m58s }
	}

	chain target { # handle 1
		comment "a target"
		update @aff { ip saddr } # handle 8
		meta l4proto tcp dnat ip to 10.244.1.5:80 comment "dnat" # handle 6
	}

	chain nat-prerouting { # handle 9
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr . meta l4proto . th dport vmap @m # handle 10
	}
}
`;
    const rs = parseListing(listing)!;
    assert.equal(rs.comment, 'test');
    assert.equal(rs.chains.get('nat-prerouting')!.priority, -100);
    assert.equal(rs.chains.get('target')!.comment, 'a target');
    assert.deepEqual(rs.chains.get('target')!.rules.map((r) => [r.rule, r.comment]), [['update @aff { ip saddr }', undefined], ['meta l4proto tcp dnat ip to 10.244.1.5:80', 'dnat']]);
    assert.deepEqual([...rs.sets.get('m')!.elements.values()].map((e) => [e.key.join(' . '), e.value, e.comment]),
      [['10.96.0.1 . tcp . 80', 'goto target', 'ns/svc:http'], ['10.96.0.2 . udp . 53', 'drop', undefined]]);
    assert.equal(rs.sets.get('aff')!.timeout, 10800);
    assert.ok(rs.sets.get('aff')!.elements.has('10.244.1.9'));
    // loaded into the fake, reference checks still hold
    const f = new FakeNft('inet', T);
    f.loadListing(listing);
    failsWith(f, (tx) => tx.delete({ kind: 'chain', name: 'target' }), 'busy');
  });
});

describe('endpoints maps (the proxy shape of issue 5)', () => {
  /** A table with one endpoints map, as the proxy declares it, and a dnat chain using it. */
  function withEndpointsMap(): FakeNft {
    const f = new FakeNft('inet', T);
    f.runSync(f.newTransaction()
      .add({ kind: 'table' })
      .add({ kind: 'map', name: 'eps', type: 'typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . tcp dport' })
      .add({ kind: 'set', name: 'hairpin', type: 'ipv4_addr . ipv4_addr' })
      .add({ kind: 'chain', name: 'nat-prerouting', type: 'nat', hook: 'prerouting', priority: 'dstnat' })
      .add({ kind: 'chain', name: 'nat-postrouting', type: 'nat', hook: 'postrouting', priority: 'srcnat' })
      .add({ kind: 'rule', chain: 'nat-prerouting', rule: 'dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @eps' })
      // `ct status dnat` is a match, not the dnat statement: allowed in postrouting.
      .add({ kind: 'rule', chain: 'nat-postrouting', rule: 'ct status dnat ip saddr . ip daddr @hairpin masquerade' })
      .add({ kind: 'element', set: 'eps', key: ['10.96.0.1', 'tcp', '80', '0'], value: '10.244.1.5 . 8080' }));
    return f;
  }

  test('declared with typeof, batched per set in the text, read back from a listing', () => {
    const tx = new Transaction('inet', T)
      .add({ kind: 'map', name: 'eps', type: 'typeof meta l4proto . th dport . numgen random mod 1 : ip daddr . udp dport' })
      .add({ kind: 'element', set: 'eps', key: ['udp', '30053', '0'], value: '10.244.1.5 . 53' })
      .add({ kind: 'element', set: 'eps', key: ['udp', '30053', '1'], value: '10.244.2.5 . 53' })
      .delete({ kind: 'element', set: 'eps', key: ['udp', '30053', '2'] });
    assert.equal(tx.text(), [
      `add map inet ${T} eps { typeof meta l4proto . th dport . numgen random mod 1 : ip daddr . udp dport ; }`,
      `add element inet ${T} eps { udp . 30053 . 0 : 10.244.1.5 . 53, udp . 30053 . 1 : 10.244.2.5 . 53 }`,
      `delete element inet ${T} eps { udp . 30053 . 2 }`,
    ].join('\n') + '\n');
    assert.equal(parseScript(tx.text()).ops.length, 4);
    const rs = parseListing([
      `table inet ${T} {`,
      '\tmap eps {',
      '\t\ttypeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . tcp dport',
      '\t\telements = { 10.96.0.1 . tcp . 80 . 0 : 10.244.1.5 . 8080,',
      '\t\t\t     10.96.0.1 . tcp . 80 . 1 : 10.244.2.5 . 8080 }',
      '\t}',
      '}',
    ].join('\n'))!;
    const eps = rs.sets.get('eps')!;
    assert.equal(eps.type, 'typeof ip daddr . meta l4proto . th dport . numgen random mod 1 : ip daddr . tcp dport');
    assert.equal(eps.elements.get('10.96.0.1 . tcp . 80 . 1')?.value, '10.244.2.5 . 8080');
  });

  test('a lookup key of the wrong shape, a set used as a map, and a typeof value nft 1.0.6 cannot read back are refused', () => {
    const f = withEndpointsMap();
    failsWith(f, (tx) => tx.add({ kind: 'rule', chain: 'nat-prerouting', rule: 'dnat ip to meta l4proto . th dport . numgen random mod 2 map @eps' }), 'invalid');
    failsWith(f, (tx) => tx.add({ kind: 'rule', chain: 'nat-prerouting', rule: 'dnat ip to ip saddr . ip daddr map @hairpin' }), 'invalid');
    failsWith(f, (tx) => tx.add({ kind: 'rule', chain: 'nat-postrouting', rule: 'ip saddr . ip daddr . ip saddr @hairpin masquerade' }), 'invalid');
    failsWith(f, (tx) => tx.add({ kind: 'map', name: 'bad', type: 'typeof ip daddr . th dport . numgen random mod 1 : ip daddr . th dport' }), 'unsupported');
    failsWith(f, (tx) => tx.add({ kind: 'element', set: 'eps', key: ['10.96.0.1', 'tcp', '80'], value: '10.244.1.5 . 8080' }), 'invalid');
  });
});
