// End to end: the API server with Services, EndpointSlices (made here, so the test does not
// depend on the EndpointSlice controller) and Pods as API objects; `podnet dns` on 127.0.0.1
// with forwarding off; the real `dig` asks it, over UDP and TCP. Loopback only.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { haveKubectl, podnetBin, TestApiServer, waitFor } from './harness.js';
import { encodeQuery, TYPE } from '../../src/dns/wire.js';

const haveDig = spawnSync('dig', ['-v'], { encoding: 'utf8' }).status === 0;
const skip = !haveDig ? 'dig is not installed (apt-get install bind9-dnsutils)' : !haveKubectl() ? 'kubectl is not installed' : false;

const Z = 'cluster.local';

function slice(name: string, service: string, type: 'IPv4' | 'IPv6', eps: Array<{ ip: string; hostname?: string; ready?: boolean }>) {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: type,
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
    endpoints: eps.map((e) => ({ addresses: [e.ip], ...(e.hostname ? { hostname: e.hostname } : {}), conditions: { ready: e.ready ?? true } })),
  };
}

const manifests = [
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' },
    spec: { ipFamilyPolicy: 'PreferDualStack', ports: [{ name: 'http', port: 80 }], selector: { app: 'web' } } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: 'default' },
    spec: { clusterIP: 'None', ipFamilyPolicy: 'PreferDualStack', ports: [{ name: 'http', port: 80 }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'big', namespace: 'default' }, spec: { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'one.example.com' } },
  slice('db-v4', 'db', 'IPv4', [{ ip: '10.244.1.10', hostname: 'db-0' }, { ip: '10.244.1.11', hostname: 'db-1' }, { ip: '10.244.1.12', ready: false }]),
  slice('db-v6', 'db', 'IPv6', [{ ip: 'fd00:10:244:1::10', hostname: 'db-0' }]),
  slice('big-1', 'big', 'IPv4', Array.from({ length: 60 }, (_, i) => ({ ip: `10.244.2.${i + 1}` }))),
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
];

describe('podnet dns end to end, asked by dig', { skip }, () => {
  const api = new TestApiServer();
  let dns: ChildProcess | undefined;
  let port = 0;
  let httpPort = 0;
  let webIPs: string[] = [];

  const dig = (...args: string[]) => {
    const r = spawnSync('dig', [`@127.0.0.1`, '-p', String(port), '+time=2', '+tries=1', ...args], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`dig ${args.join(' ')} failed: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const short = (...args: string[]) => dig('+short', ...args).trim().split('\n').filter(Boolean).sort();
  const status = (...args: string[]) => /status: (\w+)/.exec(dig(...args))?.[1];

  before(async () => {
    await api.start(0, ['--service-cluster-ip-range', '10.96.0.0/16,fd00:10:96::/112']);
    api.k(['apply', '-f', '-'], manifests.map((m) => JSON.stringify(m)).join('\n'));
    api.k(['patch', 'pod', 'client', '--subresource=status', '--type=merge', '-p',
      JSON.stringify({ status: { podIP: '10.244.3.7', podIPs: [{ ip: '10.244.3.7' }, { ip: 'fd00:10:244:3::7' }] } })]);
    webIPs = JSON.parse(api.k(['get', 'svc', 'web', '-o', 'json'])).spec.clusterIPs;
    const proc = spawn(process.execPath, [podnetBin, 'dns', '--kubeconfig', api.kubeconfig, '--listen', '127.0.0.1:0', '--no-forward',
      '--metrics', '127.0.0.1:0', '--health', 'none', '--ready', 'none', '--ttl', '20', '--negative-ttl', '7'], { stdio: ['ignore', 'pipe', 'pipe'] });
    dns = proc;
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    proc.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    await waitFor(() => /serving HTTP on/.test(out) || proc.exitCode !== null, 'podnet dns to start', 20_000);
    if (proc.exitCode !== null) throw new Error(`podnet dns exited: ${out}`);
    port = Number(/serving DNS on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
    httpPort = Number(/serving HTTP on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  });

  after(async () => {
    if (dns && dns.exitCode === null) {
      const exited = new Promise((r) => dns!.once('exit', r));
      dns.kill('SIGTERM');
      const t = setTimeout(() => dns!.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await api.destroy();
  });

  it('answers A and AAAA for a ClusterIP Service, over UDP and TCP', () => {
    const v4 = webIPs.filter((ip) => !ip.includes(':'));
    const v6 = webIPs.filter((ip) => ip.includes(':'));
    assert.ok(v4.length === 1, `web has ClusterIPs ${webIPs}`);
    assert.deepEqual(short(`web.default.svc.${Z}`, 'A'), v4);
    assert.deepEqual(short('+tcp', `WEB.default.svc.${Z}`, 'A'), v4);
    if (v6.length) assert.deepEqual(short(`web.default.svc.${Z}`, 'AAAA'), v6);
    const full = dig('+noall', '+answer', `web.default.svc.${Z}`, 'A');
    assert.match(full, new RegExp(`^web\\.default\\.svc\\.cluster\\.local\\.\\s+20\\s+IN\\s+A\\s+${v4[0].replace(/\./g, '\\.')}`, 'm'));
  });

  it('answers the other records of the spec', () => {
    assert.deepEqual(short(`dns-version.${Z}`, 'TXT'), ['"1.1.0"']);
    assert.deepEqual(short(`_http._tcp.web.default.svc.${Z}`, 'SRV'), [`0 100 80 web.default.svc.${Z}.`]);
    assert.deepEqual(short(`db.default.svc.${Z}`, 'A'), ['10.244.1.10', '10.244.1.11']);
    assert.deepEqual(short(`db.default.svc.${Z}`, 'AAAA'), ['fd00:10:244:1::10']);
    assert.deepEqual(short(`db-1.db.default.svc.${Z}`, 'A'), ['10.244.1.11']);
    assert.deepEqual(short(`_http._tcp.db.default.svc.${Z}`, 'SRV'), [`0 50 80 db-0.db.default.svc.${Z}.`, `0 50 80 db-1.db.default.svc.${Z}.`]);
    assert.deepEqual(short('-x', '10.244.1.10'), [`db-0.db.default.svc.${Z}.`]);
    assert.deepEqual(short('-x', 'fd00:10:244:1::10'), [`db-0.db.default.svc.${Z}.`]);
    const v4 = webIPs.find((ip) => !ip.includes(':'))!;
    assert.deepEqual(short('-x', v4), [`web.default.svc.${Z}.`]);
    assert.deepEqual(short(`ext.default.svc.${Z}`, 'CNAME'), ['one.example.com.']);
    assert.deepEqual(short(`10-244-3-7.default.pod.${Z}`, 'A'), ['10.244.3.7']);
    assert.deepEqual(short(`fd00-10-244-3--7.default.pod.${Z}`, 'AAAA'), ['fd00:10:244:3::7']);
  });

  it('tells NXDOMAIN from NODATA, with the SOA and the negative TTL', () => {
    assert.equal(status(`nope.default.svc.${Z}`, 'A'), 'NXDOMAIN');
    assert.equal(status(`db-9.db.default.svc.${Z}`, 'A'), 'NXDOMAIN');
    assert.equal(status(`10-244-3-8.default.pod.${Z}`, 'A'), 'NXDOMAIN');
    const nodata = dig('+noall', '+comments', '+authority', `db-1.db.default.svc.${Z}`, 'AAAA');
    assert.match(nodata, /status: NOERROR/);
    assert.match(nodata, /ANSWER: 0/);
    assert.match(nodata, /^cluster\.local\.\s+7\s+IN\s+SOA\s+ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. \d+ 7200 1800 86400 7$/m);
    assert.equal(status('example.com', 'A'), 'REFUSED', 'forwarding is off');
  });

  it('sets TC when a UDP answer does not fit, and gives all of it over TCP', () => {
    const udp = dig('+noedns', '+ignore', '+noall', '+comments', '+answer', `big.default.svc.${Z}`, 'A');
    assert.match(udp, /flags:[^;]*\btc\b/);
    assert.ok(udp.split('\n').filter((l) => /\sIN\s+A\s/.test(l)).length < 60);
    assert.equal(short('+tcp', `big.default.svc.${Z}`, 'A').length, 60);
  });

  it('follows API changes within a watch event', async () => {
    const ask = (name: string) => new Promise<Buffer>((ok, fail) => {
      const s = createSocket('udp4');
      const t = setTimeout(() => { s.close(); fail(new Error('no answer')); }, 2000);
      s.on('message', (m) => { clearTimeout(t); s.close(); ok(m); });
      s.send(encodeQuery(1, name, TYPE.CNAME), port, '127.0.0.1');
    });
    const target = async () => (await ask(`ext.default.svc.${Z}`)).includes(Buffer.from('\x03two'));
    assert.equal(await target(), false);
    api.k(['patch', 'svc', 'ext', '--type=merge', '-p', '{"spec":{"externalName":"two.example.com"}}']);
    const changedAt = Date.now();
    await waitFor(target, 'the CNAME to change', 5000, 5);
    const ms = Date.now() - changedAt;
    process.stdout.write(`# answer changed ${ms} ms after kubectl returned\n`);
    assert.ok(ms < 1000, `took ${ms} ms`);
    assert.deepEqual(short(`ext.default.svc.${Z}`, 'CNAME'), ['two.example.com.']);

    api.k(['delete', 'endpointslice', 'db-v4']);
    await waitFor(() => status(`db.default.svc.${Z}`, 'A') === 'NOERROR' && short(`db.default.svc.${Z}`, 'A').length === 0, 'db to lose its IPv4 endpoints', 5000);
    api.k(['delete', 'endpointslice', 'db-v6']);
    await waitFor(() => status(`db.default.svc.${Z}`, 'A') === 'NXDOMAIN', 'db to have no ready endpoint', 5000);
  });

  it('serves CoreDNS metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    assert.match(text, /coredns_dns_requests_total\{[^}]*proto="udp"[^}]*type="A"\} \d+/);
    assert.match(text, /coredns_dns_responses_total\{[^}]*rcode="NXDOMAIN"[^}]*\} \d+/);
    assert.match(text, /coredns_dns_request_duration_seconds_count\{/);
  });
});
