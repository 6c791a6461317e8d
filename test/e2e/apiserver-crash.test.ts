// End to end: kill -9 of `podnet apiserver` in the middle of a stream of writes. Every write
// the server acknowledged (201) must be there after a restart on the same data dir, with the
// same resourceVersion; the revision goes on from there; a watch resumes (or gets 410 and a
// relist works). Three rounds on one data dir.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { after, describe, it } from 'node:test';
import { TestApiServer } from './harness.js';

/** A keep-alive HTTPS client with the admin token (the PKI and tokens survive restarts). */
class Client {
  private agent: Agent;
  private token: string;
  private ca: string;
  constructor(private readonly url: string, kubeconfig: string) {
    const yaml = readFileSync(kubeconfig, 'utf8');
    this.token = /token: (\S+)/.exec(yaml)![1];
    this.ca = Buffer.from(/certificate-authority-data: (\S+)/.exec(yaml)![1], 'base64').toString();
    this.agent = new Agent({ keepAlive: true, maxSockets: 16, ca: this.ca });
  }
  close(): void { this.agent.destroy(); }
  req(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((ok, fail) => {
      const r = httpsRequest(new URL(path, this.url), {
        method, agent: this.agent,
        headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json', ...(payload !== undefined ? { 'Content-Type': 'application/json' } : {}) },
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
        res.on('aborted', () => fail(new Error('response aborted')));
      });
      r.on('error', fail);
      r.end(payload);
    });
  }
  async must(want: number, method: string, path: string, body?: unknown): Promise<any> {
    const r = await this.req(method, path, body);
    if (r.status !== want) throw new Error(`${method} ${path}: want ${want}, got ${r.status}: ${JSON.stringify(r.json).slice(0, 300)}`);
    return r.json;
  }
  /** Opens a watch and collects its events; `until` waits for a predicate. */
  watch(path: string): Promise<{ res: IncomingMessage; events: any[]; until: (p: (e: any[]) => boolean, ms?: number) => Promise<void> }> {
    return new Promise((ok, fail) => {
      const r = httpsRequest(new URL(path, this.url), {
        method: 'GET', ca: this.ca, agent: false, headers: { Authorization: `Bearer ${this.token}` },
      }, (res) => {
        const events: any[] = [];
        let buf = '';
        let ended = false;
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) { const l = buf.slice(0, i); buf = buf.slice(i + 1); if (l.trim()) events.push(JSON.parse(l)); }
        });
        res.on('close', () => { ended = true; });
        const until = async (p: (e: any[]) => boolean, ms = 10_000) => {
          const deadline = Date.now() + ms;
          while (!p(events)) {
            if (Date.now() > deadline || (ended && !p(events))) throw new Error(`watch: condition not met (ended=${ended}): ${JSON.stringify(events.map((e) => [e.type, e.object?.metadata?.name ?? e.object?.code]))}`);
            await new Promise((x) => setTimeout(x, 20));
          }
        };
        ok({ res, events, until });
      });
      r.on('error', fail);
      r.end();
    });
  }
}

const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { crash: 'test' } }, data: { name } });
const CMS = '/api/v1/namespaces/default/configmaps';

describe('kill -9 of the apiserver during writes', { concurrency: false }, () => {
  const srv = new TestApiServer();
  after(async () => { await srv.destroy(); });

  it('keeps every acknowledged write, continues the revision, and watches resume (3 rounds)', { timeout: 180_000 }, async () => {
    await srv.start(0, ['--no-controllers']);
    /** Every acknowledged create of every round: name → resourceVersion. */
    const acked = new Map<string, string>();
    for (let round = 1; round <= 3; round++) {
      const c = new Client(srv.url, srv.kubeconfig);
      let stop = false;
      let errors = 0;
      const writer = async (id: number) => {
        for (let i = 0; !stop; i++) {
          const name = `r${round}-w${id}-${i}`;
          try {
            const r = await c.req('POST', CMS, cm(name));
            if (r.status === 201) {
              assert.equal(r.json.metadata.name, name);
              acked.set(name, r.json.metadata.resourceVersion);
            } else if (!stop) {
              throw new Error(`create ${name}: unexpected ${r.status}: ${JSON.stringify(r.json).slice(0, 300)}`);
            }
          } catch (e) {
            if ((e as Error).message.startsWith('create ')) throw e;
            errors++;
            return; // the server is gone: this write is not acknowledged
          }
        }
      };
      const before = acked.size;
      const writers = Array.from({ length: 8 }, (_, id) => writer(id));
      // Let some writes through, then crash at a random moment.
      while (acked.size - before < 30) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 1500)));
      await srv.kill9();
      stop = true;
      await Promise.all(writers);
      c.close();
      const roundAcked = acked.size - before;
      const maxAcked = Math.max(...[...acked.values()].map(Number));

      await srv.start();
      const c2 = new Client(srv.url, srv.kubeconfig);
      try {
        // Every acknowledged object is there with the same resourceVersion.
        const list = await c2.must(200, 'GET', `${CMS}?labelSelector=crash%3Dtest`);
        const have = new Map<string, string>(list.items.map((o: any) => [o.metadata.name, o.metadata.resourceVersion]));
        const missing: string[] = [];
        const changed: string[] = [];
        for (const [name, rv] of acked) {
          if (!have.has(name)) missing.push(name);
          else if (have.get(name) !== rv) changed.push(`${name}: ${rv} → ${have.get(name)}`);
        }
        assert.deepEqual(missing, [], `round ${round}: acknowledged writes lost`);
        assert.deepEqual(changed, [], `round ${round}: resourceVersions changed`);
        // Objects that were written but not acknowledged may be there; nothing else is.
        for (const name of have.keys()) assert.match(name, /^r\d-(w\d-\d+|post2?)$/);
        assert.ok(Number(list.metadata.resourceVersion) >= maxAcked, `list rv ${list.metadata.resourceVersion} < ${maxAcked}`);
        for (const name of [...acked.keys()].slice(-5)) {
          const o = await c2.must(200, 'GET', `${CMS}/${name}`);
          assert.equal(o.metadata.resourceVersion, acked.get(name));
        }

        // A watch resumed from the last acknowledged revision works after the restart (or is
        // told to relist with 410, after which a watch from the relist works).
        const w = await c2.watch(`${CMS}?watch=true&resourceVersion=${maxAcked}`);
        // The cluster revision goes on: a new write gets a higher resourceVersion.
        const fresh = await c2.must(201, 'POST', CMS, cm(`r${round}-post`));
        assert.ok(Number(fresh.metadata.resourceVersion) > Number(list.metadata.resourceVersion),
          `new rv ${fresh.metadata.resourceVersion} after list rv ${list.metadata.resourceVersion}`);
        assert.ok(Number(fresh.metadata.resourceVersion) > maxAcked);
        acked.set(fresh.metadata.name, fresh.metadata.resourceVersion);
        await w.until((e) => e.some((x) => x.type === 'ERROR' || x.object?.metadata?.name === fresh.metadata.name));
        if (w.events[0].type === 'ERROR') {
          assert.equal(w.events[0].object.code, 410);
          const relist = await c2.must(200, 'GET', CMS);
          const w2 = await c2.watch(`${CMS}?watch=true&resourceVersion=${relist.metadata.resourceVersion}`);
          const again = await c2.must(201, 'POST', CMS, cm(`r${round}-post2`));
          acked.set(again.metadata.name, again.metadata.resourceVersion);
          await w2.until((e) => e.some((x) => x.object?.metadata?.name === again.metadata.name));
          w2.res.destroy();
        } else {
          // Only events after the resume point, in order, each once; the unacknowledged
          // writes that made it to disk may come first.
          const rvs = w.events.map((x) => Number(x.object.metadata.resourceVersion));
          assert.ok(rvs.every((rv, i) => rv > maxAcked && (i === 0 || rv > rvs[i - 1])), `rvs ${rvs} after ${maxAcked}`);
          assert.ok(w.events.every((x) => x.type === 'ADDED'), JSON.stringify(w.events.map((x) => x.type)));
          for (const x of w.events.slice(0, -1)) assert.ok(!acked.has(x.object.metadata.name) || x.object.metadata.name === fresh.metadata.name);
        }
        w.res.destroy();
        process.stderr.write(`# round ${round}: ${roundAcked} acknowledged before kill -9 (${errors} writers cut), all present; resumed at ${maxAcked}\n`);
      } finally {
        c2.close();
      }
    }
    await srv.stop();
  });
});
