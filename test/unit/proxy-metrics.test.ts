// The proxy's /metrics, /healthz and health check bookkeeping (src/proxy/metrics.ts,
// healthcheck.ts), with a fake clock; the HTTP servers on loopback with free ports.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { goTime, healthRoute, metricsRoute, parseBindAddress, ProxyHealth, ProxyMetrics, serveHttp } from '../../src/proxy/metrics.js';
import { listenHere, serviceHealthReply, ServiceHealthServer } from '../../src/proxy/healthcheck.js';
import { Proxier } from '../../src/proxy/proxier.js';
import { FakeNft } from '../../src/net/nft-fake.js';
import { config, makeService, makeSlice, NODE, sliceRec, svcRec } from './proxy-fixtures.js';

const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('proxy metrics', () => {
  test('sync durations by kind, last sync time, change counters and pending gauges', () => {
    const clock = { t: 1_700_000_000_000 };
    const m = new ProxyMetrics(() => clock.t);
    m.serviceChanged('ns/a');
    m.serviceChanged('ns/a');
    m.endpointsChanged('ns/a');
    let text = m.render();
    assert.equal(sample(text, 'kubeproxy_sync_proxy_rules_service_changes_total'), 2);
    assert.equal(sample(text, 'kubeproxy_sync_proxy_rules_service_changes_pending'), 1, 'pending counts Services, not events');
    assert.equal(sample(text, 'kubeproxy_sync_proxy_rules_endpoint_changes_pending'), 1);
    assert.equal(sample(text, 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds'), clock.t / 1000);
    const tok = m.beginSync();
    clock.t += 5000;
    m.syncDone('full', 0.003, tok);
    m.syncDone('partial', 0.0007, m.beginSync());
    text = m.render();
    assert.equal(sample(text, 'kubeproxy_sync_proxy_rules_duration_seconds_count'), 2);
    assert.equal(sample(text, 'kubeproxy_sync_full_proxy_rules_duration_seconds_count'), 1);
    assert.equal(sample(text, 'kubeproxy_sync_partial_proxy_rules_duration_seconds_count'), 1);
    assert.equal(sample(text, 'kubeproxy_sync_partial_proxy_rules_duration_seconds_bucket{le="0.001"}'), 1);
    assert.equal(sample(text, 'kubeproxy_sync_full_proxy_rules_duration_seconds_bucket{le="0.002"}'), 0);
    assert.equal(sample(text, 'kubeproxy_sync_full_proxy_rules_duration_seconds_bucket{le="0.004"}'), 1);
    assert.equal(sample(text, 'kubeproxy_sync_proxy_rules_last_timestamp_seconds'), clock.t / 1000);
    assert.equal(sample(text, 'kubeproxy_sync_proxy_rules_service_changes_pending'), 0);
    assert.match(text, /# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram/);
  });

  test('network programming latency: from the trigger time to the end of the sync that programmed it', () => {
    const clock = { t: Date.parse('2024-05-01T10:00:00Z') };
    const m = new ProxyMetrics(() => clock.t);
    m.endpointsChanged('ns/old', '2024-05-01T09:59:00Z'); // before the proxy started: not counted
    m.endpointsChanged('ns/a', '2024-05-01T10:00:01Z');
    m.endpointsChanged('ns/b', 'not a time');
    clock.t = Date.parse('2024-05-01T10:00:02.400Z');
    const failed = m.beginSync();
    m.syncFailed(failed); // a failed sync gives the trigger back ...
    let text = m.render();
    assert.equal(sample(text, 'kubeproxy_sync_proxy_rules_nftables_sync_failures_total'), 1);
    assert.equal(sample(text, 'kubeproxy_network_programming_duration_seconds_count'), undefined);
    clock.t = Date.parse('2024-05-01T10:00:03.600Z');
    m.syncDone('partial', 0.002, m.beginSync()); // ... and the next one observes it
    text = m.render();
    assert.equal(sample(text, 'kubeproxy_network_programming_duration_seconds_count'), 1);
    assert.equal(sample(text, 'kubeproxy_network_programming_duration_seconds_sum'), 2.6);
    assert.equal(sample(text, 'kubeproxy_network_programming_duration_seconds_bucket{le="2"}'), 0);
    assert.equal(sample(text, 'kubeproxy_network_programming_duration_seconds_bucket{le="3"}'), 1);
    m.syncDone('partial', 0.002, m.beginSync());
    assert.equal(sample(m.render(), 'kubeproxy_network_programming_duration_seconds_count'), 1, 'observed once');
  });

  test('bind addresses: HOST:PORT, [v6]:PORT, :PORT; anything else names the flag', () => {
    assert.deepEqual(parseBindAddress('metrics-bind-address', '127.0.0.1:10249'), { host: '127.0.0.1', port: 10249 });
    assert.deepEqual(parseBindAddress('healthz-bind-address', '[::]:10256'), { host: '::', port: 10256 });
    assert.deepEqual(parseBindAddress('healthz-bind-address', ':10256'), { port: 10256 });
    assert.throws(() => parseBindAddress('metrics-bind-address', '10249'), /--metrics-bind-address "10249" is not HOST:PORT: give e\.g\./);
    assert.throws(() => parseBindAddress('metrics-bind-address', '1.2.3.4:99999'), /is not HOST:PORT/);
  });
});

describe('proxy healthz', () => {
  test('healthy while changes are programmed in time; 503 once one waits past the timeout; 200 again after a sync', () => {
    const clock = { t: Date.parse('2024-05-01T10:00:00.120Z') };
    const m = new ProxyMetrics(() => clock.t);
    const h = new ProxyHealth(60_000, () => clock.t, m);
    let r = h.healthz();
    assert.equal(r.status, 200);
    assert.equal(r.headers['Content-Type'], 'application/json');
    assert.equal(r.body, '{"lastUpdated": "2024-05-01 10:00:00.12 +0000 UTC","currentTime": "2024-05-01 10:00:00.12 +0000 UTC", "nodeEligible": true}');
    h.updated();
    h.queued();
    clock.t += 59_000;
    assert.equal(h.healthz().status, 200);
    clock.t += 2_000;
    r = h.healthz();
    assert.equal(r.status, 503);
    assert.match(r.body, /^\{"lastUpdated": "2024-05-01 10:00:00\.12 \+0000 UTC","currentTime": "2024-05-01 10:01:01\.12 \+0000 UTC", "nodeEligible": true\}$/);
    assert.equal(h.livez().status, 503);
    h.updated();
    assert.equal(h.healthz().status, 200);
    h.setNodeEligible(false);
    assert.equal(h.healthz().status, 503, 'a node being deleted fails healthz ...');
    assert.match(h.healthz().body, /"nodeEligible": false/);
    assert.equal(h.livez().status, 200, '... but not livez');
    const text = m.render();
    assert.equal(sample(text, 'kubeproxy_proxy_healthz_total{code="200"}'), 3);
    assert.equal(sample(text, 'kubeproxy_proxy_healthz_total{code="503"}'), 3);
  });

  test('Go time format, as kube-proxy prints it', () => {
    assert.equal(goTime(Date.parse('2024-01-02T03:04:05Z')), '2024-01-02 03:04:05 +0000 UTC');
    assert.equal(goTime(Date.parse('2024-01-02T03:04:05.5Z')), '2024-01-02 03:04:05.5 +0000 UTC');
  });

  test('served over HTTP on loopback: /metrics, /healthz, /livez, 404 elsewhere', async () => {
    const m = new ProxyMetrics();
    const h = new ProxyHealth(60_000, Date.now, m);
    const ms = await serveHttp(listenHere, '127.0.0.1', 0, metricsRoute(m));
    const hs = await serveHttp(listenHere, '127.0.0.1', 0, healthRoute(h));
    try {
      m.syncDone('full', 0.01, m.beginSync());
      const met = await fetch(`http://${ms.address}/metrics`);
      assert.equal(met.status, 200);
      assert.match(met.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
      assert.match(await met.text(), /^kubeproxy_sync_full_proxy_rules_duration_seconds_count 1$/m);
      assert.equal(await (await fetch(`http://${ms.address}/proxyMode`)).text(), 'nftables');
      const hz = await fetch(`http://${hs.address}/healthz`);
      assert.equal(hz.status, 200);
      assert.equal(hz.headers.get('x-content-type-options'), 'nosniff');
      assert.ok((await hz.json() as { currentTime: string }).currentTime.endsWith('+0000 UTC'));
      assert.equal((await fetch(`http://${hs.address}/livez`)).status, 200);
      assert.equal((await fetch(`http://${hs.address}/nope`)).status, 404);
    } finally {
      await ms.close();
      await hs.close();
    }
  });
});

describe('service health checks (healthCheckNodePort)', () => {
  test('the reply: 200 with local endpoints and a healthy proxy, 503 otherwise; upstream body shape', () => {
    const ok = serviceHealthReply('ns', 'lb', 2, true);
    assert.equal(ok.status, 200);
    assert.equal(ok.body, '{\n\t"service": {\n\t\t"namespace": "ns",\n\t\t"name": "lb"\n\t},\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}');
    assert.equal(serviceHealthReply('ns', 'lb', 0, true).status, 503);
    assert.equal(serviceHealthReply('ns', 'lb', 3, false).status, 503);
  });

  test('the proxier lists LoadBalancer Services with externalTrafficPolicy Local and their local ready endpoints', () => {
    const p = new Proxier({ config: config(), backend: new FakeNft('inet', config().table) });
    const lb = (name: string, tweak: (s: Record<string, any>) => void = () => undefined) => makeService('ns', name, (s) => { // eslint-disable-line @typescript-eslint/no-explicit-any
      s.spec.type = 'LoadBalancer'; s.spec.externalTrafficPolicy = 'Local'; s.spec.healthCheckNodePort = 32000; s.spec.ports[0].nodePort = 30080; tweak(s);
    });
    p.upsertService(svcRec(lb('local')));
    p.upsertService(svcRec(lb('cluster', (s) => { s.spec.externalTrafficPolicy = 'Cluster'; delete s.spec.healthCheckNodePort; })));
    p.upsertService(svcRec(lb('none', (s) => { s.spec.healthCheckNodePort = 32001; })));
    p.upsertSlice(sliceRec(makeSlice('ns', 'local-1', 'local', [
      { ip: '10.244.1.5', node: NODE }, { ip: '10.244.1.6', node: NODE, ready: false }, { ip: '10.244.2.5', node: 'node-b' },
    ])));
    p.upsertSlice(sliceRec(makeSlice('ns', 'local-2', 'local', [{ ip: '10.244.1.5', node: NODE }, { ip: '10.244.1.7', node: NODE }])));
    p.upsertSlice(sliceRec(makeSlice('ns', 'none-1', 'none', [{ ip: '10.244.2.9', node: 'node-b' }])));
    assert.deepEqual([...p.healthCheckTargets()].sort(), [
      ['ns/local', { port: 32000, localEndpoints: 2 }],
      ['ns/none', { port: 32001, localEndpoints: 0 }],
    ]);
  });

  test('the server opens, updates and closes one port per Service', async () => {
    const logs: string[] = [];
    let healthy = true;
    const hc = new ServiceHealthServer({ listen: (_h, port) => listenHere('127.0.0.1', port), proxyHealthy: () => healthy, log: (m) => logs.push(m) });
    const free = async () => { const s = await listenHere('127.0.0.1', 0); const p = (s.address() as { port: number }).port; await new Promise((r) => s.close(r)); return p; };
    const port = await free();
    try {
      await hc.sync(new Map([['ns/lb', { port, localEndpoints: 1 }]]));
      let r = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { service: { namespace: 'ns', name: 'lb' }, localEndpoints: 1, serviceProxyHealthy: true });
      await hc.sync(new Map([['ns/lb', { port, localEndpoints: 0 }]]));
      r = await fetch(`http://127.0.0.1:${port}/anything`);
      assert.equal(r.status, 503);
      assert.equal((await r.json() as { localEndpoints: number }).localEndpoints, 0);
      await hc.sync(new Map([['ns/lb', { port, localEndpoints: 4 }]]));
      healthy = false;
      assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 503, 'an unhealthy proxy fails every check');
      healthy = true;
      await hc.sync(new Map());
      assert.deepEqual([...hc.ports()], []);
      await assert.rejects(fetch(`http://127.0.0.1:${port}/`), 'the port is closed once the Service is gone');
    } finally {
      await hc.close();
    }
  });

  test('a port that cannot be opened is reported once and does not stop the others', async () => {
    const errors: string[] = [];
    const blocker = await listenHere('127.0.0.1', 0);
    const taken = (blocker.address() as { port: number }).port;
    const hc = new ServiceHealthServer({ listen: (_h, port) => listenHere('127.0.0.1', port), proxyHealthy: () => true, log: () => undefined, onListenError: (k, p) => errors.push(`${k}:${p}`) });
    try {
      await hc.sync(new Map([['ns/a', { port: taken, localEndpoints: 1 }], ['ns/b', { port: 0, localEndpoints: 1 }]]));
      await hc.sync(new Map([['ns/a', { port: taken, localEndpoints: 1 }], ['ns/b', { port: 0, localEndpoints: 1 }]]));
      assert.deepEqual(errors, [`ns/a:${taken}`]);
      assert.deepEqual([...hc.ports().keys()], ['ns/b']);
    } finally {
      await hc.close();
      await new Promise((r) => blocker.close(r));
    }
  });
});
