// Applies a ClusterPlan to the machine — the underlay namespace with its bridge, one namespace
// per node attached to it, and the cluster's one link to the host — and tears it all down by
// name prefix. Nothing outside the cluster's own namespaces, link and /etc/netns entries is
// touched (DESIGN.md, network safety): no default routes, no NAT, no host sysctls.

import { readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { Ip, isExists } from '../net/ip.js';
import { run } from '../net/exec.js';
import type { ClusterPlan, HostView } from './plan.js';
import { cgroupTrees, clusterCgroupRoot, removeCgroupTree, type CgroupDir } from '../agent/cgroups.js';

const host = new Ip();

async function sysctlIn(netns: string, key: string, value: string): Promise<void> {
  await run('ip', ['netns', 'exec', netns, 'sysctl', '-q', '-w', `${key}=${value}`]);
}

/** Creates the namespaces and links of a plan. Idempotent: existing pieces are kept. */
export async function applyNetwork(plan: ClusterPlan): Promise<void> {
  const existing = new Set(await listNetns());
  const ensureNs = async (name: string) => {
    if (!existing.has(name)) {
      try { await Ip.netnsAdd(name); } catch (e) { if (!isExists(e)) throw e; }
    }
    await new Ip(name).setUp('lo');
  };
  const v6 = plan.ipFamily !== 'ipv4';
  await ensureNs(plan.underlayNetns);
  const ul = new Ip(plan.underlayNetns);
  if (!(await ul.link(plan.underlayBridge))) await ul.addBridge(plan.underlayBridge);
  await ul.setUp(plan.underlayBridge);

  // The host's link: one veth, host end in the host namespace, peer on the underlay bridge.
  if (!(await host.link(plan.hostLink))) await host.addVeth(plan.hostLink, plan.hostPeer, { peerNetns: plan.underlayNetns });
  await ul.setMaster(plan.hostPeer, plan.underlayBridge);
  await ul.setUp(plan.hostPeer);
  const have = new Set(await host.addrList(plan.hostLink));
  for (const a of plan.hostAddresses) if (!have.has(a)) await host.addrAdd(plan.hostLink, a, { dad: false });
  await host.setUp(plan.hostLink);

  for (const node of plan.nodes) {
    await ensureNs(node.netns);
    const n = new Ip(node.netns);
    if (!(await n.link('eth0'))) {
      await ul.addVeth(node.underlayPort, 'eth0', { peerNetns: node.netns });
    }
    await ul.setMaster(node.underlayPort, plan.underlayBridge);
    await ul.setUp(node.underlayPort);
    const nodeHave = new Set(await n.addrList('eth0'));
    for (const a of node.addresses) if (!nodeHave.has(a)) await n.addrAdd('eth0', a, { dad: false });
    await n.setUp('eth0');
    // A node routes for its pods; forwarding is switched on inside the node's namespace only.
    await sysctlIn(node.netns, 'net.ipv4.ip_forward', '1');
    if (v6) await sysctlIn(node.netns, 'net.ipv6.conf.all.forwarding', '1');
  }
}

export async function listNetns(): Promise<string[]> {
  try {
    return (await readdir('/run/netns')).sort();
  } catch {
    return [];
  }
}

/**
 * Removes everything a cluster named `name` created: processes inside its namespaces (by PID,
 * as `ip netns pids` lists them), the pods' cgroups (`cgroup`, as recorded in the cluster's
 * state, and where this process would put them), the namespaces, the host link (its routes go
 * with it) and the /etc/netns entries. Works from names alone, so it also cleans up after a `kill -9`.
 */
export async function teardownNetwork(name: string, cgroup?: CgroupDir): Promise<{ removed: string[] }> {
  const removed: string[] = [];
  const prefix = `${name}-`;
  const namespaces = (await listNetns()).filter((n) => n.startsWith(prefix));
  // Node daemons first (they would restart the pods' containers), then everything else; again
  // until no process is left, so nothing outlives its namespace.
  const nodesFirst = [...namespaces].sort((a, b) => Number(!/-node\d+$/.test(a)) - Number(!/-node\d+$/.test(b)));
  for (let round = 0; round < 5; round++) {
    let killed = 0;
    for (const ns of nodesFirst) {
      const pids = (await run('ip', ['netns', 'pids', ns]).catch(() => ({ stdout: '' }))).stdout
        .split('\n').map((l) => Number(l.trim())).filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid);
      for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); killed++; } catch { /* already gone */ } }
    }
    if (killed === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // Processes that left the namespaces but not their pod's cgroup, then the cgroups.
  const here = clusterCgroupRoot(name);
  for (const dir of new Set([...(cgroup ? cgroupTrees(cgroup) : []), ...('error' in here ? [] : cgroupTrees(here))])) {
    if (existsSync(dir)) { await removeCgroupTree(dir); removed.push(`cgroup ${dir}`); }
  }
  // The host link before the namespaces: deleting the underlay namespace takes the link's peer
  // and with it, asynchronously, the link itself, which then may or may not still be there.
  if (await host.linkDelIfExists(`${name}-h`)) removed.push(`link ${name}-h`);
  for (const ns of namespaces) {
    await Ip.netnsDel(ns);
    removed.push(`netns ${ns}`);
  }
  if (existsSync('/etc/netns')) {
    for (const e of await readdir('/etc/netns')) {
      if (e.startsWith(prefix)) { await rm(`/etc/netns/${e}`, { recursive: true, force: true }); removed.push(`/etc/netns/${e}`); }
    }
  }
  return { removed };
}

/** The host as the planner sees it: addresses and routes, minus podnet clusters' own links. */
export async function hostView(clusters: HostView['clusters'], clusterLinks: string[]): Promise<HostView> {
  const links = await host.addrs();
  const addresses: string[] = [];
  for (const l of links) {
    if (clusterLinks.includes(l.ifname)) continue;
    for (const a of l.addr_info ?? []) addresses.push(`${a.local}/${a.prefixlen}`);
  }
  const routes: string[] = [];
  for (const fam of [4, 6] as const) {
    for (const r of await host.routes(fam)) {
      if (r.dst === 'default' || (r.dev && clusterLinks.includes(r.dev))) continue;
      routes.push(r.dst);
    }
  }
  return { addresses, routes, clusters };
}

/** Writes a pod's or node's resolv.conf where `ip netns exec` will bind it. */
export async function writeNetnsFile(netns: string, file: string, text: string): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(`/etc/netns/${netns}`, { recursive: true });
  await writeFile(`/etc/netns/${netns}/${file}`, text);
}
