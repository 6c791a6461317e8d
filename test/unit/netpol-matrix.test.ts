// The pure parts of `podnet netpol matrix`: flag parsing, expected tables from the analyzer,
// table and diff formatting, finding sandbox namespaces by name and address, and the probe
// program itself (run with node against loopback servers: no root).

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { Analyzer } from '../../src/netpol/analyzer.js';
import {
  addressesOf, cases, diffGrids, expectedGrid, formatCase, formatGrid, parsePorts, parseProbeOutput, parseProtocols,
  probeScript, sandboxNetns, sctpClientArgv, sctpServerArgv, sctpSkipReason, addressOfFamily, type MatrixPod,
} from '../../src/netpol/matrix.js';
import { makePolicy, model } from './netpol-fixtures.js';

const pods: MatrixPod[] = ['x/a', 'x/b', 'y/a', 'y/b'].map((key, i) => ({ key, ip: `10.0.0.${i + 1}` }));

describe('netpol matrix: flags', () => {
  it('parses ports, ranges and protocols, and names the fix for bad ones', () => {
    assert.deepEqual(parsePorts('80,81'), [80, 81]);
    assert.deepEqual(parsePorts('8080-8082,80,8080'), [8080, 8081, 8082, 80]);
    assert.throws(() => parsePorts('0'), /not a port or range: give ports 1-65535/);
    assert.throws(() => parsePorts('http'), /"http" is not a port/);
    assert.throws(() => parsePorts('1-1000'), /more than 256 ports/);
    assert.throws(() => parsePorts(','), /empty/);
    assert.deepEqual(parseProtocols('tcp,UDP,sctp,tcp'), ['TCP', 'UDP', 'SCTP']);
    assert.throws(() => parseProtocols('icmp'), /unknown protocol "icmp": give tcp, udp and\/or sctp/);
    assert.deepEqual(cases([80, 81], ['TCP', 'UDP']).map((c) => `${c.protocol}/${c.port}`), ['TCP/80', 'TCP/81', 'UDP/80', 'UDP/81']);
  });
});

describe('netpol matrix: tables', () => {
  const deny = makePolicy('y', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
  const a = new Analyzer(model([deny]));
  const expected = expectedGrid(a, pods, { port: 80, protocol: 'TCP' });

  it('builds the expected table from the analyzer (a pod always reaches itself)', () => {
    assert.deepEqual(expected, [
      [true, true, false, false],
      [true, true, false, false],
      [true, true, true, false],
      [true, true, false, true],
    ]);
  });

  it('formats rows from, columns to, . and X', () => {
    assert.deepEqual(formatGrid(pods, expected), [
      '     | x/a  x/b  y/a  y/b',
      '-----+--------------------',
      'x/a  | .    .    X    X',
      'x/b  | .    .    X    X',
      'y/a  | .    .    .    X',
      'y/b  | .    .    X    .',
    ]);
  });

  it('reports agreement, and every differing or unknown cell', () => {
    const same = formatCase({ port: 80, protocol: 'TCP' }, pods, expected, expected.map((r) => [...r]));
    assert.ok(same.includes('comparison: all 16 cells agree'), same.join('\n'));
    const actual = expected.map((r) => [...r]);
    actual[0]![2] = true;
    actual[3]![0] = undefined;
    const d = diffGrids(pods, expected, actual);
    assert.deepEqual(d, [
      { from: 'x/a', to: 'y/a', expected: false, actual: true },
      { from: 'y/b', to: 'x/a', expected: true, actual: undefined },
    ]);
    const text = formatCase({ port: 80, protocol: 'TCP' }, pods, expected, actual).join('\n');
    assert.match(text, /2 of 16 cells differ/);
    assert.match(text, /x\/a {2}\| \. {4}\. {4}X {4}\./);
    assert.match(text, /x\/a → y\/a TCP\/80: expected denied, observed allowed/);
    assert.match(text, /y\/b → x\/a TCP\/80: expected allowed, observed unknown/);
  });

  it('shows SCTP as not probed, with the reason', () => {
    const text = formatCase({ port: 80, protocol: 'SCTP' }, pods, expected, undefined, 'SCTP probes skipped: this kernel lacks SCTP').join('\n');
    assert.match(text, /observed: not probed \(SCTP probes skipped: this kernel lacks SCTP\)/);
    assert.doesNotMatch(text, /comparison/);
  });
});

describe('netpol matrix: SCTP and address families', () => {
  it('skips SCTP probes with one line when the kernel lacks SCTP or socat is missing', () => {
    assert.equal(sctpSkipReason({ procSctp: false, socketError: 'EPROTONOSUPPORT', socat: true }),
      'SCTP probes skipped: this kernel lacks SCTP (socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) fails with EPROTONOSUPPORT); the expected SCTP tables are shown, not checked');
    assert.match(sctpSkipReason({ procSctp: false, socat: true })!, /this kernel lacks SCTP \(no \/proc\/sys\/net\/sctp\)/);
    assert.match(sctpSkipReason({ procSctp: true, socat: false })!, /socat is not installed/);
    assert.equal(sctpSkipReason({ procSctp: false, socketError: '', socat: true }), undefined, 'the socket call loaded the module');
    assert.equal(sctpSkipReason({ procSctp: true, socat: true }), undefined);
    assert.ok(!sctpSkipReason({ procSctp: false, socketError: 'EPROTONOSUPPORT', socat: true })!.includes('\n'));
  });

  it('builds socat commands for IPv4 and IPv6', () => {
    assert.deepEqual(sctpClientArgv('10.0.0.1', 80, 1000), ['socat', '-T', '1.0', '/dev/null', 'SCTP4-CONNECT:10.0.0.1:80,connect-timeout=1.0']);
    assert.deepEqual(sctpClientArgv('fd00::1', 81, 500), ['socat', '-T', '0.5', '/dev/null', 'SCTP6-CONNECT:[fd00::1]:81,connect-timeout=0.5']);
    assert.deepEqual(sctpServerArgv(80, 6), ['socat', '-T', '5', 'SCTP6-LISTEN:80,fork,reuseaddr', '/dev/null']);
  });

  it('picks the address of the asked family', () => {
    assert.equal(addressOfFamily(['10.0.0.1', 'fd00::1'], 6), 'fd00::1');
    assert.equal(addressOfFamily(['fd00::1', '10.0.0.1'], 4), '10.0.0.1');
    assert.equal(addressOfFamily(['10.0.0.1'], 6), undefined);
  });

  it('the expected table over IPv6 honours IPv6 ipBlocks with except', () => {
    const snap = model([makePolicy('x', 'v6', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: 'fd00:10:244:1::/64', except: ['fd00:10:244:1::20/128'] } }] }] })]);
    const a = new Analyzer(snap);
    const six: MatrixPod[] = ['x/a', 'x/b', 'y/a', 'z/a'].map((key) => ({ key, ip: a.pod(key)!.ips.find((ip) => ip.includes(':'))! }));
    const g = expectedGrid(a, six, { port: 80, protocol: 'TCP' });
    // to x/a: x/b (…::11) is in the block, y/a (…::20) is the except, z/a is in another /64.
    assert.deepEqual(g.map((row) => row[0]), [true, true, false, false]);
  });
});

describe('netpol matrix: sandboxes', () => {
  it('keeps only the pod sandboxes of the cluster', () => {
    const list = ['pnG1-underlay (id: 0)', 'pnG1-node1 (id: 1)', 'pnG1-0a1b2c3d (id: 2)', 'pnG1-x-0a1b2c3d', 'pnG10-deadbeef', 'other-12345678', 'pnG1-ffffffff'].join('\n');
    assert.deepEqual(sandboxNetns('pnG1', list), ['pnG1-0a1b2c3d', 'pnG1-ffffffff']);
  });
  it('reads addresses from ip -o addr', () => {
    const text = [
      '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
      '1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever',
      '3: eth0@if9    inet 10.234.1.5/24 brd 10.234.1.255 scope global eth0\\       valid_lft forever',
      '3: eth0@if9    inet6 fd00:10:234:1::5/64 scope global \\       valid_lft forever',
      '3: eth0@if9    inet6 fe80::1/64 scope link \\       valid_lft forever',
    ].join('\n');
    assert.deepEqual(addressesOf(text), ['10.234.1.5', 'fd00:10:234:1::5', 'fe80::1']);
  });
});

describe('netpol matrix: the probe program', () => {
  const tcp = createServer((s) => s.end());
  const udp = dgram.createSocket('udp4');
  after(() => { tcp.close(); udp.close(); });

  it('connects TCP, gets a UDP reply to "hostname", and fails closed ports and silence within the timeout', async () => {
    await new Promise<void>((ok) => tcp.listen(0, '127.0.0.1', ok));
    await new Promise<void>((ok) => udp.bind(0, '127.0.0.1', ok));
    udp.on('message', (m, r) => { if (m.toString() === 'hostname') udp.send('probe-host', r.port, r.address); });
    const tcpPort = (tcp.address() as AddressInfo).port;
    const udpPort = udp.address().port;
    // A closed TCP port: bind and close a server to get a free one.
    const closed = createServer();
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((ok) => closed.close(() => ok()));
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((ok) => silent.bind(0, '127.0.0.1', ok));
    const silentPort = silent.address().port;
    const targets = [
      { ip: '127.0.0.1', port: tcpPort, protocol: 'TCP' as const },
      { ip: '127.0.0.1', port: udpPort, protocol: 'UDP' as const },
      { ip: '127.0.0.1', port: closedPort, protocol: 'TCP' as const },
      { ip: '127.0.0.1', port: silentPort, protocol: 'UDP' as const },
    ];
    const t0 = Date.now();
    const out = await new Promise<string>((ok, fail) => {
      import('node:child_process').then(({ execFile }) => execFile(process.execPath, ['-e', probeScript(targets, 500)], { encoding: 'utf8', timeout: 10_000 },
        (e, stdout) => (e ? fail(e) : ok(stdout))));
    });
    silent.close();
    const r = parseProbeOutput(out, targets.length);
    assert.deepEqual(r.map((x) => x.ok), [true, true, false, false], JSON.stringify(r));
    assert.equal(r[0]!.why, 'connected');
    assert.equal(r[1]!.why, 'reply');
    assert.equal(r[2]!.why, 'ECONNREFUSED');
    assert.equal(r[3]!.why, 'timeout');
    assert.ok(Date.now() - t0 < 5000, 'probes run concurrently, bounded by the timeout');
  });

  it('SCTP targets run their command: exit 0 is connected, anything else or the timeout is not', async () => {
    const targets = [
      { ip: '10.0.0.1', port: 80, protocol: 'SCTP' as const, argv: [process.execPath, '-e', 'process.exit(0)'] },
      { ip: '10.0.0.1', port: 81, protocol: 'SCTP' as const, argv: [process.execPath, '-e', 'process.exit(1)'] },
      { ip: '10.0.0.1', port: 82, protocol: 'SCTP' as const, argv: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'] },
      { ip: '10.0.0.1', port: 83, protocol: 'SCTP' as const, argv: ['/nonexistent/pnNp-socat'] },
    ];
    const out = await new Promise<string>((ok, fail) => {
      import('node:child_process').then(({ execFile }) => execFile(process.execPath, ['-e', probeScript(targets, 1500)], { encoding: 'utf8', timeout: 10_000 },
        (e, stdout) => (e ? fail(e) : ok(stdout))));
    });
    const r = parseProbeOutput(out, targets.length);
    assert.deepEqual(r.map((x) => x.ok), [true, false, false, false], JSON.stringify(r));
    assert.deepEqual(r.map((x) => x.why), ['associated', 'exit 1', 'timeout', 'ENOENT']);
  });

  it('refuses output that is not one result per target', () => {
    assert.throws(() => parseProbeOutput('oops', 1), /not JSON/);
    assert.throws(() => parseProbeOutput('[{"ok":true,"why":"x"}]', 2), /has not 2 results/);
    assert.deepEqual(parseProbeOutput('noise\n[{"ok":false,"why":"timeout"}]\n', 1), [{ ok: false, why: 'timeout' }]);
  });
});
