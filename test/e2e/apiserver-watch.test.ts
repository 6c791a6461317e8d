import { spawnSync } from 'node:child_process';
// End to end: watch semantics of a real `podnet apiserver` process over raw HTTPS
// (resume, initial events, bookmarks, timeouts, 410 Expired, selectors, watch-list, slow
// watchers). No kubectl and no root needed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { eventually, TestApiServer } from './harness.js';

interface WatchEvent { type: string; object: Record<string, any> }

/** A keep-alive HTTPS client with the admin token of a TestApiServer. */
class Client {
  private agent: Agent;
  private token: string;
  private ca: string;
  constructor(private readonly srv: TestApiServer, maxSockets = 16) {
    const yaml = readFileSync(srv.kubeconfig, 'utf8');
    this.token = /token: (\S+)/.exec(yaml)![1];
    this.ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(yaml)![1], 'base64').toString();
    this.agent = new Agent({ keepAlive: true, maxSockets, ca: this.ca });
  }

  close(): void { this.agent.destroy(); }

  async req(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; json: any }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((ok, fail) => {
      const r = httpsRequest(new URL(path, this.srv.url), {
        method, agent: this.agent,
        headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json', ...(payload !== undefined ? { 'Content-Type': contentType } : {}) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json: any;
          try { json = JSON.parse(text); } catch { json = text; }
          ok({ status: res.statusCode ?? 0, json });
        });
        res.on('error', fail);
      });
      r.on('error', fail);
      r.end(payload);
    });
  }

  /** Like req, but fails unless the status is `want`. */
  async must(want: number, method: string, path: string, body?: unknown, contentType?: string): Promise<any> {
    const r = await this.req(method, path, body, contentType);
    if (r.status !== want) throw new Error(`${method} ${path}: want ${want}, got ${r.status}: ${JSON.stringify(r.json).slice(0, 500)}`);
    return r.json;
  }

  /** Opens a watch (on its own connection) and parses its event lines as they arrive. */
  watch(path: string): Promise<Watch> {
    return new Promise((ok, fail) => {
      const r = httpsRequest(new URL(path, this.srv.url), {
        method: 'GET', ca: this.ca, agent: false, headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json' },
      }, (res) => ok(new Watch(res)));
      r.on('error', fail);
      r.end();
    });
  }
}

class Watch {
  readonly events: WatchEvent[] = [];
  private buf = '';
  bytes = 0;
  ended = false;
  readonly done: Promise<void>;
  private waiters: (() => void)[] = [];
  constructor(readonly res: IncomingMessage) {
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      this.bytes += d.length;
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (line.trim()) this.events.push(JSON.parse(line) as WatchEvent);
      }
      this.wake();
    });
    this.done = new Promise((resolve) => {
      const end = () => { this.ended = true; this.wake(); resolve(); };
      res.on('end', end);
      res.on('close', end);
      res.on('error', end);
    });
  }
  get status(): number { return this.res.statusCode ?? 0; }
  /** Bytes received but not yet a whole line (must be empty when the stream ends cleanly). */
  get partial(): string { return this.buf; }
  private wake(): void { const w = this.waiters; this.waiters = []; for (const f of w) f(); }
  /** Waits until `pred(events)` holds (or the stream ends, or `ms` pass). */
  async until(pred: (evs: WatchEvent[]) => boolean, ms = 10_000, what = 'events'): Promise<WatchEvent[]> {
    const deadline = Date.now() + ms;
    while (!pred(this.events)) {
      if (this.ended) throw new Error(`watch ended before ${what}: got ${this.summary()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}: got ${this.summary()}`);
      await new Promise<void>((r) => { const t = setTimeout(r, left); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
    return this.events;
  }
  /** The events that are not bookmarks. */
  get changes(): WatchEvent[] { return this.events.filter((e) => e.type !== 'BOOKMARK'); }
  summary(): string { return JSON.stringify(this.events.map((e) => `${e.type}:${e.object?.metadata?.name ?? e.object?.code}@${e.object?.metadata?.resourceVersion ?? ''}`)); }
  close(): void { this.res.destroy(); }
}

const cm = (name: string, data: Record<string, string> = {}, labels?: Record<string, string>) =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...(labels ? { labels } : {}) }, data });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const brief = (evs: WatchEvent[]) => evs.map((e) => `${e.type} ${e.object.metadata.name}`);

describe('watch against podnet apiserver', { concurrency: false }, () => {
  const srv = new TestApiServer();
  let c: Client;
  const watches: Watch[] = [];
  const open = async (path: string) => { const w = await c.watch(path); watches.push(w); return w; };
  const ns = (name: string) => c.must(201, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const cms = (n: string) => `/api/v1/namespaces/${n}/configmaps`;

  before(async () => {
    await srv.start(0, ['--no-controllers', '--bookmark-interval', '300']);
    c = new Client(srv);
  });
  after(async () => {
    for (const w of watches) w.close();
    c?.close();
    await srv.destroy();
  });

  it('resumes from a resourceVersion with exactly the events after it, in order', async () => {
    await ns('w-resume');
    const a = await c.must(201, 'POST', cms('w-resume'), cm('a', { v: '1' }));
    const from = a.metadata.resourceVersion;
    const a2 = await c.must(200, 'PUT', `${cms('w-resume')}/a`, { ...a, data: { v: '2' } });
    const b = await c.must(201, 'POST', cms('w-resume'), cm('b'));
    await c.must(200, 'DELETE', `${cms('w-resume')}/a`);
    const w = await open(`${cms('w-resume')}?watch=true&resourceVersion=${from}`);
    assert.equal(w.status, 200);
    await w.until((e) => e.length >= 3);
    assert.deepEqual(brief(w.events), ['MODIFIED a', 'ADDED b', 'DELETED a']);
    assert.equal(w.events[0].object.metadata.resourceVersion, a2.metadata.resourceVersion);
    assert.equal(w.events[0].object.data.v, '2');
    assert.equal(w.events[1].object.metadata.resourceVersion, b.metadata.resourceVersion);
    const rvs = w.events.map((e) => Number(e.object.metadata.resourceVersion));
    assert.ok(rvs.every((rv, i) => rv > Number(from) && (i === 0 || rv > rvs[i - 1])), `ascending rvs ${rvs}`);
    // And the stream goes on with new events.
    await c.must(201, 'POST', cms('w-resume'), cm('c'));
    await w.until((e) => e.length >= 4);
    assert.deepEqual(brief(w.events), ['MODIFIED a', 'ADDED b', 'DELETED a', 'ADDED c']);
    // Resuming from the last event's resourceVersion gets nothing old.
    const w2 = await open(`${cms('w-resume')}?watch=true&resourceVersion=${w.events[3].object.metadata.resourceVersion}`);
    await c.must(201, 'POST', cms('w-resume'), cm('d'));
    await w2.until((e) => e.length >= 1);
    assert.deepEqual(brief(w2.events), ['ADDED d']);
    w.close(); w2.close();
  });

  it('resourceVersion "" and "0" start with synthetic ADDED events of the current objects', async () => {
    await ns('w-init');
    await c.must(201, 'POST', cms('w-init'), cm('x'));
    const y = await c.must(201, 'POST', cms('w-init'), cm('y'));
    await c.must(200, 'PUT', `${cms('w-init')}/y`, { ...y, data: { v: 'new' } });
    await c.must(201, 'POST', cms('w-init'), cm('z'));
    await c.must(200, 'DELETE', `${cms('w-init')}/z`);
    const current = ['x', 'y'];
    for (const rv of ['', '0']) {
      const w = await open(`${cms('w-init')}?watch=true${rv === '' ? '' : `&resourceVersion=${rv}`}`);
      await w.until((e) => e.length >= current.length);
      await sleep(200);
      assert.deepEqual(brief(w.events).sort(), current.map((n) => `ADDED ${n}`).sort(), `rv=${JSON.stringify(rv)}`);
      assert.equal(w.events.find((e) => e.object.metadata.name === 'y')!.object.data.v, 'new');
      const n = await c.must(201, 'POST', cms('w-init'), cm(`after-${rv || 'empty'}`));
      await w.until((e) => e.length >= current.length + 1);
      assert.equal(w.events[current.length].type, 'ADDED');
      assert.equal(w.events[current.length].object.metadata.name, n.metadata.name);
      current.push(n.metadata.name);
      w.close();
    }
  });

  it('allowWatchBookmarks gets BOOKMARK events; without it none come', async () => {
    await ns('w-bm');
    const list = await c.must(200, 'GET', cms('w-bm'));
    const rv = Number(list.metadata.resourceVersion);
    const w = await open(`${cms('w-bm')}?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`);
    const plain = await open(`${cms('w-bm')}?watch=true&resourceVersion=${rv}`);
    // Writes to other resources move the revision too: bookmarks must follow it.
    const other = await ns('w-bm-other');
    await w.until((e) => e.some((x) => x.type === 'BOOKMARK' && Number(x.object.metadata.resourceVersion) >= Number(other.metadata.resourceVersion)), 10_000, 'a bookmark at the new revision');
    const bm = w.events.find((x) => x.type === 'BOOKMARK')!;
    assert.equal(bm.object.kind, 'ConfigMap');
    assert.equal(bm.object.apiVersion, 'v1');
    assert.ok(Number(bm.object.metadata.resourceVersion) >= rv);
    const bmRvs = w.events.filter((x) => x.type === 'BOOKMARK').map((x) => Number(x.object.metadata.resourceVersion));
    assert.ok(bmRvs.every((v, i) => i === 0 || v >= bmRvs[i - 1]), `bookmark rvs never go back: ${bmRvs}`);
    // A bookmark's resourceVersion is a valid point to resume from.
    const last = bmRvs[bmRvs.length - 1];
    await c.must(201, 'POST', cms('w-bm'), cm('after-bm'));
    const w3 = await open(`${cms('w-bm')}?watch=true&resourceVersion=${last}`);
    await w3.until((e) => e.length >= 1);
    assert.deepEqual(brief(w3.events), ['ADDED after-bm']);
    await sleep(800);
    assert.equal(plain.events.filter((x) => x.type === 'BOOKMARK').length, 0);
    w.close(); plain.close(); w3.close();
  });

  it('timeoutSeconds ends the stream cleanly', async () => {
    const started = Date.now();
    const w = await open(`${cms('default')}?watch=true&timeoutSeconds=1&allowWatchBookmarks=true`);
    assert.equal(w.status, 200);
    assert.match(String(w.res.headers['content-type']), /^application\/json/);
    await Promise.race([w.done, sleep(10_000)]);
    assert.ok(w.ended, 'stream ended');
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 5000, `ended after ${took} ms`);
    assert.equal(w.res.complete, true, 'the chunked body was terminated properly');
    assert.equal(w.partial, '', 'no torn event line');
    assert.ok(w.events.every((e) => e.type !== 'ERROR'));
  });

  it('field selector watch by metadata.name', async () => {
    await ns('w-fs');
    const w = await open(`${cms('w-fs')}?watch=true&fieldSelector=metadata.name%3Dpick`);
    await c.must(201, 'POST', cms('w-fs'), cm('other'));
    const p = await c.must(201, 'POST', cms('w-fs'), cm('pick'));
    await c.must(200, 'PUT', `${cms('w-fs')}/pick`, { ...p, data: { v: '1' } });
    await c.must(200, 'DELETE', `${cms('w-fs')}/other`);
    await c.must(200, 'DELETE', `${cms('w-fs')}/pick`);
    await w.until((e) => e.length >= 3);
    await sleep(200);
    assert.deepEqual(brief(w.events), ['ADDED pick', 'MODIFIED pick', 'DELETED pick']);
    // The single-object watch path also selects by name.
    const w2 = await open(`/api/v1/watch/namespaces/w-fs/configmaps/solo`);
    await c.must(201, 'POST', cms('w-fs'), cm('other2'));
    await c.must(201, 'POST', cms('w-fs'), cm('solo'));
    await w2.until((e) => e.length >= 1);
    await sleep(200);
    assert.deepEqual(brief(w2.events), ['ADDED solo']);
    w.close(); w2.close();
  });

  it('label selector watch: leaving the selector is DELETED, entering it is ADDED', async () => {
    await ns('w-ls');
    const w = await open(`${cms('w-ls')}?watch=true&labelSelector=app%3Dsel`);
    const s = await c.must(201, 'POST', cms('w-ls'), cm('s1', {}, { app: 'sel' }));
    await c.must(201, 'POST', cms('w-ls'), cm('n1', {}, { app: 'other' }));
    const out = await c.must(200, 'PUT', `${cms('w-ls')}/s1`, { ...s, metadata: { ...s.metadata, labels: { app: 'other' } } });
    const changedOutside = await c.must(200, 'PUT', `${cms('w-ls')}/s1`, { ...out, data: { v: 'while-out' } });
    const back = await c.must(200, 'PUT', `${cms('w-ls')}/s1`, { ...changedOutside, metadata: { ...changedOutside.metadata, labels: { app: 'sel' } } });
    await c.must(200, 'PUT', `${cms('w-ls')}/s1`, { ...back, data: { v: 'in' } });
    await c.must(200, 'DELETE', `${cms('w-ls')}/n1`);
    await c.must(200, 'DELETE', `${cms('w-ls')}/s1`);
    await w.until((e) => e.length >= 5);
    await sleep(200);
    assert.deepEqual(brief(w.events), ['ADDED s1', 'DELETED s1', 'ADDED s1', 'MODIFIED s1', 'DELETED s1']);
    assert.equal(w.events[1].object.metadata.resourceVersion, out.metadata.resourceVersion);
    assert.equal(w.events[2].object.metadata.resourceVersion, back.metadata.resourceVersion);
    assert.equal(w.events[2].object.data.v, 'while-out');
    w.close();
  });

  it('sendInitialEvents=true gives the initial ADDEDs, then a bookmark marking their end', async () => {
    await ns('w-list');
    const created = [];
    for (const n of ['l1', 'l2', 'l3']) created.push(await c.must(201, 'POST', cms('w-list'), cm(n)));
    const maxRv = Math.max(...created.map((o) => Number(o.metadata.resourceVersion)));
    // Without resourceVersionMatch=NotOlderThan it is refused.
    const bad = await c.req('GET', `${cms('w-list')}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true`);
    assert.equal(bad.status, 422);
    const current = ['l1', 'l2', 'l3'];
    for (const rvq of ['', `&resourceVersion=${created[0].metadata.resourceVersion}`]) {
      const w = await open(`${cms('w-list')}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true${rvq}`);
      await w.until((e) => e.some((x) => x.type === 'BOOKMARK' && x.object.metadata.annotations?.['k8s.io/initial-events-end'] === 'true'), 10_000, 'the initial-events-end bookmark');
      const endAt = w.events.findIndex((x) => x.type === 'BOOKMARK' && x.object.metadata.annotations?.['k8s.io/initial-events-end'] === 'true');
      const initial = w.events.slice(0, endAt);
      assert.deepEqual(initial.map((e) => `${e.type} ${e.object.metadata.name}`).sort(), current.map((n) => `ADDED ${n}`), `rv query ${rvq}`);
      assert.ok(Number(w.events[endAt].object.metadata.resourceVersion) >= maxRv, 'the bookmark is at least as new as the objects');
      const l4 = await c.must(201, 'POST', cms('w-list'), cm(`l4${rvq ? 'b' : 'a'}`));
      await w.until((e) => e.some((x) => x.type === 'ADDED' && x.object.metadata.name === l4.metadata.name));
      current.push(l4.metadata.name);
      w.close();
    }
  });

  it('a watch from a resourceVersion older than the watch window gets a 410 Expired ERROR event', async () => {
    await ns('w-old');
    const first = await c.must(201, 'POST', cms('w-old'), cm('old-0'));
    const oldRv = first.metadata.resourceVersion;
    // The watch cache keeps 10,000 events per resource: write more than that, 16 at a time
    // over keep-alive connections.
    const TOTAL = 10_100;
    let next = 0;
    const started = Date.now();
    const worker = async (id: number) => {
      let obj = await c.must(201, 'POST', cms('w-old'), cm(`churn-${id}`));
      while (next < TOTAL) {
        next++;
        obj = await c.must(200, 'PUT', `${cms('w-old')}/churn-${id}`, { ...obj, data: { n: String(next) } });
      }
    };
    await Promise.all(Array.from({ length: 16 }, (_, i) => worker(i)));
    const took = Date.now() - started;
    const w = await open(`${cms('w-old')}?watch=true&resourceVersion=${oldRv}`);
    await w.until((e) => e.length >= 1);
    await Promise.race([w.done, sleep(5000)]);
    assert.ok(w.ended, 'the stream ends after the error');
    assert.equal(w.events.length, 1, w.summary());
    const ev = w.events[0];
    assert.equal(ev.type, 'ERROR');
    assert.equal(ev.object.kind, 'Status');
    assert.equal(ev.object.code, 410);
    assert.equal(ev.object.reason, 'Expired');
    assert.match(ev.object.message, /too old resource version/);
    // A relist gives a resourceVersion to watch from again.
    const list = await c.must(200, 'GET', cms('w-old'));
    const w2 = await open(`${cms('w-old')}?watch=true&resourceVersion=${list.metadata.resourceVersion}`);
    await c.must(201, 'POST', cms('w-old'), cm('fresh'));
    await w2.until((e) => e.length >= 1);
    assert.deepEqual(brief(w2.events), ['ADDED fresh']);
    w2.close();
    process.stderr.write(`# ${TOTAL} writes in ${took} ms\n`);
  });

  /** Whether the server closed the slow watcher's connection while its client still read nothing. */
  let closedWhilePaused: boolean | undefined;

  it('a watcher that stops reading is cut off and the server memory stays bounded', async () => {
    await ns('w-slow');
    const pid = srv.proc!.pid!;
    const rssMiB = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
    const watchers = async () => {
      const m = await c.req('GET', '/metrics');
      const line = String(m.json).split('\n').find((l) => l.startsWith('apiserver_registered_watchers{') && l.includes('kind="ConfigMap"'));
      return Number(line?.split(' ').pop() ?? 'NaN');
    };
    const before = await watchers();
    const w = await open(`${cms('w-slow')}?watch=true&resourceVersion=0`);
    w.res.pause(); // stop reading: the server's buffers fill up
    const localPort = w.res.socket.localPort;
    await eventually(async () => (await watchers()) === before + 1, 5000, 'the watcher to register');
    const rss0 = rssMiB();
    const big = 'x'.repeat(100 * 1024);
    const WRITES = 300;
    let next = 0;
    let peak = rss0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= WRITES) return;
        await c.must(201, 'POST', cms('w-slow'), cm(`big-${i}`, { big: big + i }));
        peak = Math.max(peak, rssMiB());
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    // The server unregisters the watcher once its connection buffers too much.
    await eventually(async () => (await watchers()) === before, 10_000, 'the slow watcher to be cut off');
    peak = Math.max(peak, rssMiB());
    process.stderr.write(`# slow watcher: VmRSS ${rss0.toFixed(0)} MiB before, ${peak.toFixed(0)} MiB peak (${WRITES} x 100 KiB written)\n`);
    // 30 MiB of objects went in (kept by the store and the watch cache); a server that buffered
    // every event for the stalled watcher as well would hold a lot more.
    assert.ok(peak - rss0 < 400, `VmRSS grew by ${(peak - rss0).toFixed(0)} MiB`);
    await sleep(2000);
    // The client reads nothing, so it can't see the close itself (the FIN waits behind the
    // data its zero window refuses); the kernel shows it: the server's end of the connection
    // has left ESTABLISHED (FIN-WAIT-1), so the server holds no buffers for it any more.
    const ss = spawnSync('ss', ['-Htn', 'state', 'established', `( dport = :${localPort} )`], { encoding: 'utf8' });
    closedWhilePaused = ss.status === 0 ? ss.stdout.trim() === '' : undefined;
    // Reading again: the client gets what was buffered, then the stream ends; it never gets
    // every event.
    w.res.resume();
    await Promise.race([w.done, sleep(20_000)]);
    assert.ok(w.ended, 'the cut-off watch ends');
    assert.ok(w.events.length < WRITES, `got ${w.events.length} of ${WRITES} events`);
    // The server is fine afterwards.
    const after = await c.must(201, 'POST', cms('w-slow'), cm('after'));
    assert.ok(Number(after.metadata.resourceVersion) > 0);
  });

  it('a cut-off watcher\'s connection is closed even if its client never reads again', () => {
    if (closedWhilePaused === undefined) return; // no `ss` on this machine
    assert.equal(closedWhilePaused, true);
  });
});
