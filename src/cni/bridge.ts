// The podnet CNI plugin's operations: a node bridge plus a veth pair per attachment, with
// host-local-style IPAM. The plugin runs inside the node's network namespace (as a CNI plugin
// runs on a real node's host namespace); the pod's namespace is CNI_NETNS.
//
//   node netns:  <bridge> (gateway addresses, e.g. 10.244.1.1/24 + fd00:10:244:1::1/64)
//                  └─ <vethPrefix><8 hex>  (hairpin on)  ══ veth ══  pod netns: <CNI_IFNAME>
//   pod netns:   <CNI_IFNAME> with one address per range set, routes (default: 0.0.0.0/0 and
//                ::/0) via the bridge gateway.
//
// Safety: the plugin changes only the bridge, the veths it names, the pod's interface, and (with
// ipForward) the forwarding sysctls of the namespace it runs in, and the last only when that
// namespace is a named one (under /run/netns): it never changes the host's own sysctls.

import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Ip, isExists, isNotFound, type Link, type Route } from '../net/ip.js';
import { run } from '../net/exec.js';
import { HostLocalIpam, canonicalIp, parseCidr, formatCidr, type AllocatedIP } from './ipam.js';
import {
  CniError,
  ErrorCode,
  isValidIfName,
  type CniResult,
  type GCAttachment,
  type PodnetNetConf,
  type ResultInterface,
  type ResultIP,
  type RouteConfig,
} from './spec.js';

export const DEFAULT_DATA_DIR = '/var/lib/podnet/cni';
export const DEFAULT_VETH_PREFIX = 'veth';

/** The per-invocation arguments from the CNI_* environment. */
export interface CniArgs {
  containerID: string;
  /** Path of the pod's netns (CNI_NETNS); may be empty on DEL. */
  netns: string;
  ifname: string;
  args: Record<string, string>;
  path: string[];
}

// ---------------------------------------------------------------- config

/** Validate a network configuration for this plugin; throws CniError(InvalidConfig). */
export function validateNetConf(conf: PodnetNetConf): void {
  const bad = (m: string): never => {
    throw new CniError(ErrorCode.InvalidConfig, m);
  };
  if (typeof conf.name !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(conf.name)) bad(`invalid network name ${JSON.stringify(conf.name)}`);
  if (typeof conf.bridge !== 'string' || !isValidIfName(conf.bridge)) bad(`"bridge" must be an interface name of 1-15 characters, got ${JSON.stringify(conf.bridge)}`);
  const vp = conf.vethPrefix ?? DEFAULT_VETH_PREFIX;
  if (typeof vp !== 'string' || !/^[a-zA-Z0-9_.-]{1,7}$/.test(vp)) bad(`"vethPrefix" must be 1-7 characters of [a-zA-Z0-9_.-], got ${JSON.stringify(vp)}`);
  if (conf.mtu !== undefined && (!Number.isInteger(conf.mtu) || conf.mtu < 576 || conf.mtu > 65535)) bad(`"mtu" must be an integer 576-65535`);
  if (!conf.ipam || typeof conf.ipam !== 'object') bad('"ipam" is required');
  if (conf.ipam.type !== undefined && conf.ipam.type !== 'podnet' && conf.ipam.type !== 'host-local') {
    throw new CniError(ErrorCode.UnsupportedField, `ipam.type ${JSON.stringify(conf.ipam.type)} is not supported: podnet has built-in host-local IPAM ("podnet" or omitted)`);
  }
  if (conf.dataDir !== undefined && (typeof conf.dataDir !== 'string' || !path.isAbsolute(conf.dataDir))) bad('"dataDir" must be an absolute path');
}

function dataDirOf(conf: PodnetNetConf): string {
  return conf.dataDir ?? DEFAULT_DATA_DIR;
}

export function ipamOf(conf: PodnetNetConf): HostLocalIpam {
  return new HostLocalIpam(conf.ipam, conf.name, path.join(dataDirOf(conf), 'networks'));
}

/** Node-side veth name: prefix + 8 hex chars of a hash of (network, container ID, ifname). */
export function hostVethName(conf: Pick<PodnetNetConf, 'name' | 'vethPrefix'>, containerID: string, ifname: string): string {
  const h = createHash('sha256').update(`${conf.name}\u0000${containerID}\u0000${ifname}`).digest('hex');
  return `${conf.vethPrefix ?? DEFAULT_VETH_PREFIX}${h.slice(0, 8)}`;
}

/** A stable, locally administered MAC for the bridge (so the gateway MAC never changes as ports come and go). */
export function bridgeMac(bridge: string): string {
  const h = createHash('sha256').update(`podnet-bridge\u0000${bridge}`).digest();
  const b = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** `ip` argument for a netns path: the name for /run/netns/NAME (fast `ip -n`), else the path. */
export function netnsRef(nsPath: string): string {
  const m = /^\/(?:var\/)?run\/netns\/([^/]+)$/.exec(nsPath);
  return m ? m[1]! : nsPath;
}

// ---------------------------------------------------------------- result cache

function cachePath(conf: PodnetNetConf, containerID: string, ifname: string): string {
  return path.join(dataDirOf(conf), 'results', `${conf.name}-${containerID}-${ifname}.json`);
}

interface CacheEntry {
  containerID: string;
  ifname: string;
  netns: string;
  hostVeth: string;
  result: CniResult;
}

export async function readCache(conf: PodnetNetConf, containerID: string, ifname: string): Promise<CacheEntry | undefined> {
  const t = await fs.readFile(cachePath(conf, containerID, ifname), 'utf8').catch(() => undefined);
  if (t === undefined) return undefined;
  try {
    return JSON.parse(t) as CacheEntry;
  } catch {
    return undefined;
  }
}

async function writeCache(conf: PodnetNetConf, e: CacheEntry): Promise<void> {
  const p = cachePath(conf, e.containerID, e.ifname);
  await fs.mkdir(path.dirname(p), { recursive: true, mode: 0o700 });
  const tmp = `${p}.tmp-${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify(e), { mode: 0o600 });
  await fs.rename(tmp, p);
}

async function removeCache(conf: PodnetNetConf, containerID: string, ifname: string): Promise<void> {
  await fs.unlink(cachePath(conf, containerID, ifname)).catch(() => undefined);
}

async function listCache(conf: PodnetNetConf): Promise<CacheEntry[]> {
  const dir = path.join(dataDirOf(conf), 'results');
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const out: CacheEntry[] = [];
  for (const n of names) {
    if (!n.startsWith(`${conf.name}-`) || !n.endsWith('.json')) continue;
    const t = await fs.readFile(path.join(dir, n), 'utf8').catch(() => undefined);
    if (!t) continue;
    try {
      const e = JSON.parse(t) as CacheEntry;
      // Network names may share prefixes ("a" and "a-b"): trust the file's own fields.
      if (cachePath(conf, e.containerID, e.ifname) === path.join(dir, n)) out.push(e);
    } catch {
      /* ignore a corrupt entry */
    }
  }
  return out;
}

// ---------------------------------------------------------------- node side

async function netnsExists(nsPath: string): Promise<boolean> {
  try {
    await fs.stat(nsPath);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the current process runs in a named network namespace (one of /run/netns/*), i.e. in a
 * podnet node and not in the host's namespace. Only then does the plugin touch sysctls.
 */
export async function inNamedNetns(): Promise<string | undefined> {
  const self = await fs.stat('/proc/self/ns/net').catch(() => undefined);
  if (!self) return undefined;
  const names = await fs.readdir('/run/netns').catch(() => [] as string[]);
  for (const n of names) {
    const st = await fs.stat(path.join('/run/netns', n)).catch(() => undefined);
    if (st && st.ino === self.ino && st.dev === self.dev) return n;
  }
  return undefined;
}

/** The named namespace this process runs in (a long-lived caller runs many ADDs). */
let selfNamedNetns: Promise<string | undefined> | undefined;

/** Node namespaces whose forwarding this process has already switched on (in-process mode). */
const forwardingDone = new Set<string>();

async function enableForwarding(families: Set<4 | 6>, nodeNetns?: string): Promise<void> {
  if (nodeNetns) {
    // Called in-process on behalf of a node namespace: set its sysctls there, once.
    const key = `${nodeNetns}/${[...families].sort().join('')}`;
    if (forwardingDone.has(key)) return;
    const keys = [...(families.has(4) ? ['net.ipv4.ip_forward=1'] : []), ...(families.has(6) ? ['net.ipv6.conf.all.forwarding=1'] : [])];
    await run('ip', ['netns', 'exec', nodeNetns, 'sysctl', '-q', '-w', ...keys]);
    forwardingDone.add(key);
    return;
  }
  // A process never changes its network namespace (Node.js has no setns): look it up once, as
  // the lookup stats every entry of /run/netns, one per pod, and would run on every ADD.
  selfNamedNetns ??= inNamedNetns();
  const ns = await selfNamedNetns;
  if (!ns) {
    process.stderr.write('podnet cni: not in a named network namespace; leaving IP forwarding unchanged\n');
    return;
  }
  const set = async (p: string): Promise<void> => {
    const cur = (await fs.readFile(p, 'utf8').catch(() => '')).trim();
    if (cur !== '1') await fs.writeFile(p, '1');
  };
  if (families.has(4)) await set('/proc/sys/net/ipv4/ip_forward');
  if (families.has(6)) await set('/proc/sys/net/ipv6/conf/all/forwarding');
}

/**
 * Create the bridge if needed, give it its gateway addresses, bring it up. Returns its link.
 * In the common case (the bridge is in place) this is one `ip -d -j addr show`: link kind,
 * flags and addresses come back together.
 */
export async function ensureBridge(node: Ip, name: string, gatewayCidrs: readonly string[], mtu?: number): Promise<Link> {
  const show = async () => (await node.json<Link>(['-d', 'addr', 'show', 'dev', name]).catch((e: unknown) => {
    if (isNotFound(e)) return [] as Link[];
    throw e;
  }))[0];
  let br = await show();
  if (!br) {
    try {
      await node.run(['link', 'add', 'name', name, ...(mtu ? ['mtu', String(mtu)] : []), 'address', bridgeMac(name), 'type', 'bridge']);
    } catch (e) {
      if (!/File exists/.test((e as Error).message)) throw e; // a concurrent ADD made it
    }
    br = await show();
    if (!br) throw new Error(`bridge ${name} vanished after creation`);
  } else if (br.linkinfo?.info_kind !== undefined && br.linkinfo.info_kind !== 'bridge') {
    throw new CniError(ErrorCode.InvalidConfig, `${name} exists and is not a bridge (it is a ${br.linkinfo.info_kind})`);
  }
  const have = new Set((br.addr_info ?? []).map((a) => normCidr(`${a.local}/${a.prefixlen}`)));
  for (const c of gatewayCidrs) {
    if (have.has(normCidr(c))) continue;
    try {
      await node.addrAdd(name, c);
    } catch (e) {
      if (!/File exists|already assigned/.test((e as Error).message)) throw e; // a concurrent ADD added it
    }
  }
  if (!br.flags.includes('UP')) await node.setUp(name);
  return br;
}

/** Bridges this process has seen in place (node netns, bridge, gateways, MTU → the bridge link). */
const bridgesInPlace = new Map<string, Link>();

/** A stable, locally administered MAC for one end of a pod's veth (set at creation, so ADD need not read it back). */
export function vethMac(side: 'host' | 'pod', network: string, containerID: string, ifname: string): string {
  const h = createHash('sha256').update(`podnet-veth\u0000${side}\u0000${network}\u0000${containerID}\u0000${ifname}`).digest();
  return [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function normCidr(c: string): string {
  const i = c.indexOf('/');
  return `${canonicalIp(c.slice(0, i))}/${c.slice(i + 1)}`;
}

function normDst(dst: string): string {
  if (dst === 'default') return 'default';
  if (dst === '0.0.0.0/0' || dst === '::/0') return 'default';
  if (!dst.includes('/')) return canonicalIp(dst) + (dst.includes(':') ? '/128' : '/32');
  return formatCidr(parseCidr(dst));
}

/** Routes to install in the pod for the allocated addresses. */
function podRoutes(conf: PodnetNetConf, ips: readonly AllocatedIP[]): RouteConfig[] {
  const out: RouteConfig[] = [];
  for (const ip of ips) {
    const fam = ip.family;
    const wanted = conf.ipam.routes ?? [{ dst: fam === 4 ? '0.0.0.0/0' : '::/0' }];
    for (const r of wanted) {
      const rf = parseCidr(r.dst).family;
      if (rf !== fam) continue;
      out.push({ dst: formatCidr(parseCidr(r.dst)), gw: r.gw ?? ip.gateway, ...(r.mtu ? { mtu: r.mtu } : {}) });
    }
  }
  return out;
}

// ---------------------------------------------------------------- ADD

/** `loopbackUp`: also bring the pod's `lo` up, for a runtime that would otherwise run `ip` for it alone. */
export async function cmdAdd(conf: PodnetNetConf, a: CniArgs, nodeNetns?: string, opts: { loopbackUp?: boolean } = {}): Promise<CniResult> {
  validateNetConf(conf);
  if (!(await netnsExists(a.netns))) throw new CniError(ErrorCode.ContainerUnknown, `network namespace ${a.netns} does not exist`);
  const ipam = ipamOf(conf);
  const hostName = hostVethName(conf, a.containerID, a.ifname);
  const ns = netnsRef(a.netns);
  const node = new Ip(nodeNetns);
  const pod = new Ip(ns);

  // A repeated ADD for an attachment that is in place returns the same result.
  const cached = await readCache(conf, a.containerID, a.ifname);
  if (cached) {
    if (cached.netns !== a.netns) {
      throw new CniError(ErrorCode.DuplicateAttachment, `container ${a.containerID} interface ${a.ifname} is already attached in ${cached.netns}`);
    }
    try {
      await verify(conf, a, cached.result, nodeNetns);
      return mergePrev(conf.prevResult, cached.result);
    } catch {
      // broken or half-gone: tear it down and build it again
      await cmdDel(conf, a);
    }
  }

  const ips = await ipam.allocate(a.containerID, a.ifname);
  let created = false;
  try {
    // A long-lived caller (podnet's agent runs the plugin in-process) checks the bridge once;
    // any failed ADD forgets that, so the next one checks again.
    const bridgeKey = `${nodeNetns ?? ''}\u0000${conf.bridge}\u0000${ipam.gatewayCidrs().join(',')}\u0000${conf.mtu ?? ''}`;
    let bridge = bridgesInPlace.get(bridgeKey);
    if (!bridge) {
      bridge = await ensureBridge(node, conf.bridge, ipam.gatewayCidrs(), conf.mtu);
      bridgesInPlace.set(bridgeKey, bridge);
    }
    if (conf.ipForward !== false) await enableForwarding(new Set(ips.map((i) => i.family)), nodeNetns);

    // Node side in one `ip -batch`: the veth pair (the pod end made directly in the pod's netns,
    // both MACs fixed up front), its bridge port, hairpin, up. Then the pod side in another.
    // Few `ip` runs per pod matter: each is a fork+exec, and pods start in bursts.
    const hostMac = vethMac('host', conf.name, a.containerID, a.ifname);
    const podMac = vethMac('pod', conf.name, a.containerID, a.ifname);
    const mtu = conf.mtu ? ` mtu ${conf.mtu}` : '';
    const nodeLines = [
      `link add ${hostName}${mtu} address ${hostMac} type veth peer name ${a.ifname}${mtu} address ${podMac} netns ${ns}`,
      `link set dev ${hostName} master ${conf.bridge}`,
      `link set dev ${hostName} type bridge_slave hairpin ${conf.hairpinMode === false ? 'off' : 'on'}`,
      `link set dev ${hostName} up`,
    ];
    created = true; // from here on a failure removes the host end (and with it the pair)
    try {
      await node.batch(nodeLines);
    } catch (e) {
      if (!isExists(e) || !/batch line 1:/.test((e as Error).message)) throw e;
      // The pod already has the interface (an error), or a host end was left by an earlier failed ADD.
      if (await pod.link(a.ifname)) {
        created = false;
        throw new CniError(ErrorCode.Internal, `interface ${a.ifname} already exists in ${a.netns}`);
      }
      await node.linkDelIfExists(hostName);
      await node.batch(nodeLines);
    }
    const routes = podRoutes(conf, ips);
    await pod.batch([
      ...(opts.loopbackUp ? ['link set dev lo up'] : []),
      ...ips.map((ip) => `address add ${ip.address} dev ${a.ifname}${ip.family === 6 ? ' nodad' : ''}`),
      `link set dev ${a.ifname} up`,
      ...routes.map((r) => `route add ${r.dst} via ${r.gw} dev ${a.ifname}${r.mtu ? ` mtu ${r.mtu}` : ''}`),
    ]);

    const interfaces: ResultInterface[] = [
      { name: conf.bridge, mac: bridge.address },
      { name: hostName, mac: hostMac },
      { name: a.ifname, mac: podMac, sandbox: a.netns, ...(conf.mtu ? { mtu: conf.mtu } : {}) },
    ];
    const result: CniResult = {
      cniVersion: conf.cniVersion,
      interfaces,
      ips: ips.map((ip): ResultIP => ({ address: ip.address, gateway: ip.gateway, interface: 2 })),
      routes,
      ...(conf.dns && Object.keys(conf.dns).length > 0 ? { dns: conf.dns } : {}),
    };
    await writeCache(conf, { containerID: a.containerID, ifname: a.ifname, netns: a.netns, hostVeth: hostName, result });
    return mergePrev(conf.prevResult, result);
  } catch (e) {
    bridgesInPlace.clear();
    await ipam.release(a.containerID, a.ifname).catch(() => undefined);
    if (created) await node.linkDelIfExists(hostName).catch(() => undefined);
    if (e instanceof CniError) throw e;
    throw new CniError(ErrorCode.Internal, `ADD failed for container ${a.containerID} interface ${a.ifname}`, (e as Error).message);
  }
}

/** A plugin after others in a chain appends to prevResult (interface indexes shift). */
function mergePrev(prev: CniResult | undefined, mine: CniResult): CniResult {
  if (!prev || typeof prev !== 'object') return mine;
  const base = prev.interfaces?.length ?? 0;
  return {
    cniVersion: mine.cniVersion,
    interfaces: [...(prev.interfaces ?? []), ...(mine.interfaces ?? [])],
    ips: [...(prev.ips ?? []), ...(mine.ips ?? []).map((ip) => ({ ...ip, interface: ip.interface === undefined ? undefined : ip.interface + base }))],
    routes: [...(prev.routes ?? []), ...(mine.routes ?? [])],
    ...(mine.dns ?? prev.dns ? { dns: mine.dns ?? prev.dns } : {}),
  };
}

// ---------------------------------------------------------------- DEL

/** Remove the attachment; everything already gone is fine (DEL is idempotent). */
export async function cmdDel(conf: PodnetNetConf, a: CniArgs, nodeNetns?: string): Promise<void> {
  validateNetConf(conf);
  const ipam = ipamOf(conf);
  const errors: string[] = [];
  await ipam.release(a.containerID, a.ifname).catch((e: Error) => errors.push(e.message));
  const cached = await readCache(conf, a.containerID, a.ifname);
  const node = new Ip(nodeNetns);
  for (const name of new Set([hostVethName(conf, a.containerID, a.ifname), ...(cached ? [cached.hostVeth] : [])])) {
    await node.linkDelIfExists(name).catch((e: Error) => errors.push(e.message));
  }
  if (a.netns && (await netnsExists(a.netns))) {
    // The peer dies with the node end; this covers a pod interface left without one.
    const pod = new Ip(netnsRef(a.netns));
    const l = await pod.link(a.ifname, true).catch(() => undefined);
    if (l && l.linkinfo?.info_kind === 'veth') await pod.linkDelIfExists(a.ifname).catch((e: Error) => errors.push(e.message));
  }
  await removeCache(conf, a.containerID, a.ifname);
  if (errors.length > 0) throw new CniError(ErrorCode.IOFailure, `DEL failed for container ${a.containerID} interface ${a.ifname}`, errors.join('; '));
}

// ---------------------------------------------------------------- CHECK

/** Verify the attachment matches `result` (prevResult, or the cached result). */
export async function cmdCheck(conf: PodnetNetConf, a: CniArgs, nodeNetns?: string): Promise<void> {
  validateNetConf(conf);
  let prev = conf.prevResult;
  if (!prev) prev = (await readCache(conf, a.containerID, a.ifname))?.result;
  if (!prev) throw new CniError(ErrorCode.InvalidConfig, `CHECK: no prevResult given and no cached result for container ${a.containerID} interface ${a.ifname}`);
  await verify(conf, a, prev, nodeNetns);
}

async function verify(conf: PodnetNetConf, a: CniArgs, result: CniResult, nodeNetns?: string): Promise<void> {
  const fail = (m: string): never => {
    throw new CniError(ErrorCode.CheckFailed, m);
  };
  if (!(await netnsExists(a.netns))) throw new CniError(ErrorCode.ContainerUnknown, `network namespace ${a.netns} does not exist`);
  const ifaces = result.interfaces ?? [];
  const podIdx = ifaces.findIndex((i) => i.name === a.ifname && i.sandbox !== undefined);
  if (podIdx < 0) fail(`result has no interface ${a.ifname} in a sandbox`);
  const want = ifaces[podIdx]!;
  if (want.sandbox !== a.netns) fail(`interface ${a.ifname} is in sandbox ${want.sandbox}, not ${a.netns}`);

  const pod = new Ip(netnsRef(a.netns));
  const node = new Ip(nodeNetns);
  const link = await pod.link(a.ifname);
  if (!link) return fail(`interface ${a.ifname} is missing from ${a.netns}`);
  if (!link.flags.includes('UP')) fail(`interface ${a.ifname} in ${a.netns} is down`);
  if (want.mac && link.address && want.mac.toLowerCase() !== link.address.toLowerCase()) {
    fail(`interface ${a.ifname} has MAC ${link.address}, result says ${want.mac}`);
  }
  const have = new Set((await pod.addrList(a.ifname)).map(normCidr));
  const ipam = ipamOf(conf);
  const held = new Set((await ipam.lookup(a.containerID, a.ifname)).map((i) => normCidr(i.address)));
  for (const ip of result.ips ?? []) {
    if (ip.interface !== undefined && ip.interface !== podIdx) continue;
    const c = normCidr(ip.address);
    if (!have.has(c)) fail(`address ${ip.address} is missing from ${a.ifname} in ${a.netns}`);
    if (!held.has(c)) fail(`address ${ip.address} is not allocated to container ${a.containerID} interface ${a.ifname} in IPAM`);
  }
  const routes: Route[] = [...(await pod.routes(4)), ...(await pod.routes(6))];
  for (const r of result.routes ?? []) {
    const dst = normDst(r.dst);
    const ok = routes.some((x) => normDst(x.dst) === dst && (!r.gw || (x.gateway !== undefined && canonicalIp(x.gateway) === canonicalIp(r.gw))));
    if (!ok) fail(`route to ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is missing in ${a.netns}`);
  }
  const hostIdx = ifaces.findIndex((i, k) => k !== podIdx && i.sandbox === undefined && i.name !== conf.bridge);
  const hostName = hostIdx >= 0 ? ifaces[hostIdx]!.name : hostVethName(conf, a.containerID, a.ifname);
  const hv = await node.link(hostName);
  if (!hv) return fail(`node-side veth ${hostName} is missing`);
  if (hv.master !== conf.bridge) fail(`node-side veth ${hostName} is not attached to bridge ${conf.bridge}`);
  const br = await node.link(conf.bridge);
  if (!br) fail(`bridge ${conf.bridge} is missing`);
  const brAddrs = new Set((await node.addrList(conf.bridge)).map(normCidr));
  for (const g of ipam.gatewayCidrs()) if (!brAddrs.has(normCidr(g))) fail(`bridge ${conf.bridge} lacks its gateway address ${g}`);
}

// ---------------------------------------------------------------- STATUS / GC

/** Ready when `ip` runs, the configuration is valid and every range set has a free address. */
export async function cmdStatus(conf: PodnetNetConf): Promise<void> {
  validateNetConf(conf);
  const ipam = ipamOf(conf);
  try {
    await run('ip', ['-V']);
  } catch (e) {
    throw new CniError(ErrorCode.PluginNotAvailable, 'the ip command (iproute2) is not available', (e as Error).message);
  }
  const free = await ipam.hasFree();
  const full = free.map((f, i) => (f ? -1 : i)).filter((i) => i >= 0);
  if (full.length > 0) {
    const desc = full.map((i) => ipam.sets[i]!.map((r) => formatCidr(r.subnet)).join(',')).join('; ');
    throw new CniError(ErrorCode.PluginNotAvailable, `no free addresses in ${desc}`);
  }
}

/**
 * Remove everything not belonging to a valid attachment: IPAM entries, cached results, and veths
 * on this network's bridge whose names are this plugin's (prefix + hash) but match no valid one.
 */
export async function cmdGc(conf: PodnetNetConf, nodeNetns?: string): Promise<{ releasedIps: string[]; removedLinks: string[] }> {
  validateNetConf(conf);
  const raw = conf['cni.dev/valid-attachments'] ?? conf['cni.dev/attachments'] ?? [];
  if (!Array.isArray(raw)) throw new CniError(ErrorCode.InvalidConfig, '"cni.dev/valid-attachments" must be a list');
  const valid: GCAttachment[] = raw.filter((v) => v && typeof v.containerID === 'string' && typeof v.ifname === 'string');
  const ipam = ipamOf(conf);
  const released = await ipam.gc(valid);
  const keep = new Set(valid.map((v) => `${v.containerID}\u0000${v.ifname}`));
  const keepLinks = new Set(valid.map((v) => hostVethName(conf, v.containerID, v.ifname)));
  const node = new Ip(nodeNetns);
  const removed: string[] = [];
  for (const e of await listCache(conf)) {
    if (keep.has(`${e.containerID}\u0000${e.ifname}`)) continue;
    if (!keepLinks.has(e.hostVeth) && (await node.linkDelIfExists(e.hostVeth).catch(() => false))) removed.push(e.hostVeth);
    await removeCache(conf, e.containerID, e.ifname);
  }
  const prefix = conf.vethPrefix ?? DEFAULT_VETH_PREFIX;
  const re = new RegExp(`^${prefix.replace(/[.]/g, '\\.')}[0-9a-f]{8}$`);
  const links = await node.links().catch((e: unknown) => {
    if (isNotFound(e)) return [] as Link[];
    throw e;
  });
  for (const l of links) {
    if (l.master !== conf.bridge || !re.test(l.ifname) || keepLinks.has(l.ifname)) continue;
    if (await node.linkDelIfExists(l.ifname).catch(() => false)) removed.push(l.ifname);
  }
  return { releasedIps: released.map((r) => r.ip), removedLinks: removed };
}
