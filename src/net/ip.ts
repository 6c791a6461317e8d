// Thin typed wrappers over iproute2's `ip -j` (JSON) output.
//
// `new Ip()` works in the current network namespace; `new Ip('name')` runs `ip -n name …`
// (a name under /run/netns); `new Ip('/path/to/netns')` enters a netns file with nsenter.
// Every method maps to one `ip` invocation (or one `ip -batch -` for `batch`), so what podnet
// does to the kernel is exactly what a person could type. Nothing here touches a namespace
// other than the one the Ip object was made for.

import { run, type ExecOptions, type ExecResult } from './exec.js';

export interface AddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope?: string;
  tentative?: boolean;
  dadfailed?: boolean;
  nodad?: boolean;
  [k: string]: unknown;
}

export interface Link {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  operstate?: string;
  link_type?: string;
  address?: string;
  master?: string;
  /** Only with details (`ip -d`): kind ("veth", "bridge", …) and bridge-port data. */
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_slave_data?: Record<string, unknown>; info_data?: Record<string, unknown> };
  addr_info?: AddrInfo[];
  [k: string]: unknown;
}

export interface Route {
  dst: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
  flags?: string[];
  type?: string;
  [k: string]: unknown;
}

export type Family = 4 | 6;

/** Parse `ip -j` output: empty output (some versions print nothing for an empty list) is []. */
export function parseIpJson<T>(stdout: string): T[] {
  const s = stdout.trim();
  if (s === '') return [];
  const v: unknown = JSON.parse(s);
  if (!Array.isArray(v)) throw new Error(`ip -j: expected a JSON array, got ${s.slice(0, 80)}`);
  // Some iproute2 versions emit {} placeholders for filtered-out entries.
  return (v as T[]).filter((x) => x !== null && typeof x === 'object' && Object.keys(x as object).length > 0);
}

/** "10.0.0.1/24" / "fd00::1/64" → family. */
export function familyOf(addr: string): Family {
  return addr.includes(':') ? 6 : 4;
}

/** True when an `ip` error means "the thing is not there" (link, address, route, netns). */
export function isNotFound(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return /Cannot find device|does not exist|No such device|No such process|Cannot assign requested address|No such file or directory|not found/i.test(m);
}

/** True when an `ip` error means "it is already there". */
export function isExists(e: unknown): boolean {
  const m = e instanceof Error ? e.message : String(e);
  return /File exists|already exists/i.test(m);
}

export class Ip {
  /** @param netns a netns name (under /run/netns) or path; undefined = the current netns. */
  constructor(readonly netns?: string, private readonly execOpts: Omit<ExecOptions, 'netns' | 'input'> = {}) {}

  private argv(args: readonly string[]): { cmd: string; args: string[]; netns?: string } {
    if (this.netns === undefined || this.netns === '') return { cmd: 'ip', args: [...args] };
    if (this.netns.includes('/')) return { cmd: 'ip', args: [...args], netns: this.netns };
    return { cmd: 'ip', args: ['-n', this.netns, ...args] };
  }

  /** Run `ip ARGS…` in this namespace. */
  async run(args: readonly string[], input?: string): Promise<ExecResult> {
    const a = this.argv(args);
    return run(a.cmd, a.args, { ...this.execOpts, netns: a.netns, input });
  }

  /** Run `ip -j ARGS…` and parse the JSON. */
  async json<T>(args: readonly string[]): Promise<T[]> {
    const r = await this.run(['-j', ...args]);
    return parseIpJson<T>(r.stdout);
  }

  /** Run many commands (lines without the leading `ip`) in one `ip -batch -`; stops at the first error. */
  async batch(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    try {
      await this.run(['-batch', '-'], lines.join('\n') + '\n');
    } catch (e) {
      // iproute2 says "Command failed -:N"; name the line itself.
      const m = /Command failed -:(\d+)/.exec((e as Error).message);
      const line = m ? lines[Number(m[1]) - 1] : undefined;
      if (line !== undefined) (e as Error).message += ` (batch line ${m![1]}: ip ${line})`;
      throw e;
    }
  }

  // ---- namespaces (names under /run/netns; these ignore this.netns) ----

  static async netnsAdd(name: string): Promise<void> {
    await run('ip', ['netns', 'add', name]);
  }

  /** Delete a named netns; a missing one is not an error. */
  static async netnsDel(name: string): Promise<void> {
    const r = await run('ip', ['netns', 'del', name], { allowFailure: true });
    if (r.code !== 0 && !isNotFound(r.stderr)) {
      throw new Error(`command failed: ip netns del ${name}: ${r.stderr.trim()}`);
    }
  }

  static async netnsList(): Promise<string[]> {
    const r = await run('ip', ['-j', 'netns', 'list']);
    return parseIpJson<{ name: string }>(r.stdout).map((n) => n.name);
  }

  // ---- links ----

  async links(details = false): Promise<Link[]> {
    return this.json<Link>(details ? ['-d', 'link', 'show'] : ['link', 'show']);
  }

  /** The link called `name`, or undefined when there is none. */
  async link(name: string, details = false): Promise<Link | undefined> {
    const r = await this.run(['-j', ...(details ? ['-d'] : []), 'link', 'show', 'dev', name]).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
    if (!r) return undefined;
    return parseIpJson<Link>(r.stdout)[0];
  }

  /** Create a veth pair; the peer is created directly in peerNetns (name or path) when given. */
  async addVeth(name: string, peer: string, opts: { peerNetns?: string; mtu?: number } = {}): Promise<void> {
    const args = ['link', 'add', name];
    if (opts.mtu) args.push('mtu', String(opts.mtu));
    args.push('type', 'veth', 'peer', 'name', peer);
    if (opts.mtu) args.push('mtu', String(opts.mtu));
    if (opts.peerNetns) args.push('netns', opts.peerNetns);
    await this.run(args);
  }

  async addBridge(name: string, opts: { mtu?: number } = {}): Promise<void> {
    const args = ['link', 'add', 'name', name];
    if (opts.mtu) args.push('mtu', String(opts.mtu));
    args.push('type', 'bridge');
    await this.run(args);
  }

  async linkDel(name: string): Promise<void> {
    await this.run(['link', 'del', 'dev', name]);
  }

  /** Delete a link; a missing one is not an error. Returns whether it existed. */
  async linkDelIfExists(name: string): Promise<boolean> {
    try {
      await this.linkDel(name);
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async setUp(name: string): Promise<void> {
    await this.run(['link', 'set', 'dev', name, 'up']);
  }

  async setDown(name: string): Promise<void> {
    await this.run(['link', 'set', 'dev', name, 'down']);
  }

  async setMaster(name: string, master: string): Promise<void> {
    await this.run(['link', 'set', 'dev', name, 'master', master]);
  }

  /** Move a link into another netns (name or path). */
  async setNetns(name: string, netns: string): Promise<void> {
    await this.run(['link', 'set', 'dev', name, 'netns', netns]);
  }

  async setMtu(name: string, mtu: number): Promise<void> {
    await this.run(['link', 'set', 'dev', name, 'mtu', String(mtu)]);
  }

  async rename(name: string, newName: string): Promise<void> {
    await this.run(['link', 'set', 'dev', name, 'name', newName]);
  }

  /** Bridge-port hairpin mode (a pod can reach itself through a Service). */
  async setHairpin(port: string, on: boolean): Promise<void> {
    await this.run(['link', 'set', 'dev', port, 'type', 'bridge_slave', 'hairpin', on ? 'on' : 'off']);
  }

  // ---- addresses ----

  /** Addresses, all links or one. */
  async addrs(dev?: string): Promise<Link[]> {
    return this.json<Link>(dev ? ['addr', 'show', 'dev', dev] : ['addr', 'show']);
  }

  /** The "addr/prefixlen" strings on a link (optionally of one family). */
  async addrList(dev: string, family?: Family): Promise<string[]> {
    const l = (await this.addrs(dev))[0];
    return (l?.addr_info ?? [])
      .filter((a) => family === undefined || a.family === (family === 4 ? 'inet' : 'inet6'))
      .map((a) => `${a.local}/${a.prefixlen}`);
  }

  /** Add "addr/prefix" to a link. IPv6 addresses get `nodad` unless dad is true. */
  async addrAdd(dev: string, cidr: string, opts: { dad?: boolean } = {}): Promise<void> {
    const args = ['addr', 'add', cidr, 'dev', dev];
    if (familyOf(cidr) === 6 && !opts.dad) args.push('nodad');
    await this.run(args);
  }

  async addrDel(dev: string, cidr: string): Promise<void> {
    await this.run(['addr', 'del', cidr, 'dev', dev]);
  }

  // ---- routes ----

  async routes(family: Family = 4, table?: string): Promise<Route[]> {
    const args = [family === 6 ? '-6' : '-4', 'route', 'show'];
    if (table) args.push('table', table);
    return this.json<Route>(args);
  }

  private routeArgs(verb: string, r: { dst: string; gw?: string; dev?: string; metric?: number; src?: string; mtu?: number }): string[] {
    const fam = r.dst === 'default' ? (r.gw && familyOf(r.gw) === 6 ? '-6' : '-4') : familyOf(r.dst) === 6 ? '-6' : '-4';
    const args = [fam, 'route', verb, r.dst];
    if (r.gw) args.push('via', r.gw);
    if (r.dev) args.push('dev', r.dev);
    if (r.src) args.push('src', r.src);
    if (r.metric !== undefined) args.push('metric', String(r.metric));
    if (r.mtu !== undefined) args.push('mtu', String(r.mtu));
    return args;
  }

  async routeAdd(r: { dst: string; gw?: string; dev?: string; metric?: number; src?: string; mtu?: number }): Promise<void> {
    await this.run(this.routeArgs('add', r));
  }

  async routeReplace(r: { dst: string; gw?: string; dev?: string; metric?: number; src?: string; mtu?: number }): Promise<void> {
    await this.run(this.routeArgs('replace', r));
  }

  async routeDel(r: { dst: string; gw?: string; dev?: string; metric?: number }): Promise<void> {
    await this.run(this.routeArgs('del', r));
  }
}
