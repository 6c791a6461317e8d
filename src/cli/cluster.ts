// `podnet up | down | status | list | kubeconfig` (as kind's create/delete/get clusters/get
// kubeconfig), and the hidden `supervise` that `up` leaves running in the background.

import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, parseFlags } from './args.js';
import { planCluster, PlanError, type IpFamilyMode } from '../cluster/plan.js';
import { applyNetwork, hostView, teardownNetwork } from '../cluster/network.js';
import { usableClusterCgroupRoot } from '../agent/cgroups.js';
import {
  isAlive, kubeconfigPath, listClusters, readState, removeState, stateDir, supervisorLog, supervisorPids, writeState,
} from '../cluster/state.js';
import { NODES } from '../client/resources.js';

const nameFlag = { name: { type: 'string' as const, default: 'podnet', help: 'cluster name' } };

function requireRoot(cmd: string): void {
  if (process.getuid?.() !== 0) throw new CliError(`${cmd}: podnet creates network namespaces and links: run it as root (e.g. sudo bin/podnet ${cmd})`);
}

/** The programs `up` drives; a missing one is named with the package that has it. */
function requireTools(cmd: string): void {
  const need: Array<[string, string]> = [['ip', 'iproute2'], ['nft', 'nftables']];
  for (const [bin, pkg] of need) {
    const found = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => existsSync(join(d, bin)));
    if (!found) throw new CliError(`${cmd}: the "${bin}" command is not installed: install it (apt-get install ${pkg}) and try again`);
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export async function runUp(argv: string[]): Promise<number> {
  const f = parseFlags('up', argv, {
    ...nameFlag,
    nodes: { type: 'string', default: '2', help: 'number of nodes' },
    'ip-family': { type: 'string', default: 'ipv4', help: 'ipv4, ipv6 or dual' },
    'pod-cidr': { type: 'string', help: 'pod range(s), comma-separated (default 10.244.0.0/16, fd00:10:244::/56)' },
    'service-cidr': { type: 'string', help: 'service range(s), comma-separated (default 10.96.0.0/16, fd00:10:96::/112)' },
    'node-cidr': { type: 'string', help: 'node network range(s), comma-separated (default 198.18.0.0/24, fd00:198:18::/64)' },
    zones: { type: 'string', help: 'zones for the nodes, round-robin, e.g. a,b' },
    timeout: { type: 'string', default: '120', help: 'seconds to wait for the nodes to be Ready' },
  });
  if (!f) return 0;
  const v = f.values;
  const name = v.name!;
  requireRoot('up');
  requireTools('up');
  const mode = v['ip-family'] as IpFamilyMode;
  if (!['ipv4', 'ipv6', 'dual'].includes(mode)) throw new CliError(`up: --ip-family ${mode} is not one of ipv4, ipv6, dual`);
  const existing = readState(name);
  if (existing && isAlive(existing.supervisorPid)) {
    throw new CliError(`up: cluster "${name}" already exists (supervisor pid ${existing.supervisorPid}): use it, or remove it with "podnet down --name ${name}"`, 1);
  }
  if (existing) {
    process.stdout.write(`Cleaning up what a previous "${name}" left behind ...\n`);
    await teardownNetwork(name, existing.cgroup);
    await removeState(name);
  }
  const others = listClusters().filter((c) => c.name !== name);
  const split = (s?: string) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);
  let plan;
  try {
    plan = planCluster({
      name, nodes: Number(v.nodes), ipFamily: mode, zones: split(v.zones),
      podCidrs: split(v['pod-cidr']), serviceCidrs: split(v['service-cidr']), nodeCidrs: split(v['node-cidr']),
    }, await hostView(others.map((c) => ({ name: c.name, ranges: c.plan.ranges })), others.map((c) => c.plan.hostLink)));
  } catch (e) {
    if (e instanceof PlanError) throw new CliError(`up: ${e.message}`);
    throw e;
  }
  if (plan.movedFrom) {
    process.stdout.write(`Another podnet cluster holds the default ranges: using nodes ${plan.ranges.nodes.join(',')}, pods ${plan.ranges.pods.join(',')}, services ${plan.ranges.services.join(',')}\n`);
  }
  let port = 6443;
  while (!(await portFree(port))) port++;
  process.stdout.write(`Creating cluster "${name}" (${plan.nodes.length} nodes, ${mode}) ...\n`);
  const cgroup = await usableClusterCgroupRoot(name);
  if ('error' in cgroup) process.stdout.write(`warning: pods run without memory cgroups (resources.limits.memory is not enforced): ${cgroup.error}\n`);
  await writeState({ name, plan, apiserverPort: port, createdAt: new Date().toISOString(), ...('error' in cgroup ? {} : { cgroup }) });
  try {
    await applyNetwork(plan);
  } catch (e) {
    await teardownNetwork(name, readState(name)?.cgroup);
    await removeState(name);
    throw new CliError(`up: creating the cluster network failed (everything created was removed): ${(e as Error).message}`, 1);
  }
  process.stdout.write(` ✓ network: ${plan.underlayNetns}, ${plan.nodes.map((n) => n.netns).join(', ')}, host link ${plan.hostLink}\n`);

  await mkdir(stateDir(name), { recursive: true });
  const out = openSync(supervisorLog(name), 'a');
  const main = join(dirname(fileURLToPath(import.meta.url)), 'main.js');
  const child = spawn(process.execPath, [main, 'supervise', '--name', name], { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  const st = readState(name)!;
  await writeState({ ...st, supervisorPid: child.pid });

  const deadline = Date.now() + Number(v.timeout) * 1000;
  // A failed `up` leaves nothing behind: stop the supervisor, remove the network and state,
  // and show the end of the supervisor's log.
  const fail = async (why: string) => {
    const tail = existsSync(supervisorLog(name)) ? readFileSync(supervisorLog(name), 'utf8').split('\n').slice(-15).join('\n') : '';
    if (child.pid && isAlive(child.pid)) {
      process.kill(child.pid, 'SIGTERM');
      for (let i = 0; i < 50 && isAlive(child.pid); i++) await new Promise((r) => setTimeout(r, 100));
      if (isAlive(child.pid)) process.kill(child.pid, 'SIGKILL');
    }
    await teardownNetwork(name, readState(name)?.cgroup);
    await removeState(name);
    throw new CliError(`up: ${why}; everything it created was removed. The supervisor's last words:\n${tail}`, 1);
  };
  while (!existsSync(kubeconfigPath(name))) {
    if (!isAlive(child.pid)) await fail('the supervisor exited');
    if (Date.now() > deadline) await fail('the API server did not start in time');
    await new Promise((r) => setTimeout(r, 200));
  }
  process.stdout.write(` ✓ API server on https://127.0.0.1:${port}\n`);
  const { ApiClient } = await import('../client/client.js');
  const { loadKubeconfig } = await import('../client/kubeconfig.js');
  const client = new ApiClient(loadKubeconfig(kubeconfigPath(name)));
  const ready = new Set<string>();
  try {
    while (ready.size < plan.nodes.length) {
      if (!isAlive(child.pid)) await fail('the supervisor exited');
      if (Date.now() > deadline) await fail(`only ${ready.size} of ${plan.nodes.length} nodes became Ready in ${v.timeout} s`);
      try {
        const list = await client.resource(NODES).list();
        for (const n of list.items) {
          const c = ((n.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).find((x) => x.type === 'Ready');
          if (c?.status === 'True' && !ready.has(n.metadata.name!)) {
            ready.add(n.metadata.name!);
            process.stdout.write(` ✓ node ${n.metadata.name} Ready\n`);
          }
        }
      } catch { /* not serving yet */ }
      if (ready.size < plan.nodes.length) await new Promise((r) => setTimeout(r, 300));
    }
  } finally {
    client.close();
  }
  process.stdout.write(`Cluster "${name}" is up.\n  export KUBECONFIG=${kubeconfigPath(name)}\n  kubectl get nodes -o wide\nRemove it with: bin/podnet down --name ${name}\n`);
  return 0;
}

export async function runDown(argv: string[]): Promise<number> {
  const f = parseFlags('down', argv, nameFlag);
  if (!f) return 0;
  const name = f.values.name!;
  requireRoot('down');
  const st = readState(name);
  // The recorded supervisor, and any other supervisor of this name (state lost or elsewhere).
  const pids = [...new Set([st?.supervisorPid, ...supervisorPids(name)].filter((p): p is number => !!p && isAlive(p)))];
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && pids.some(isAlive); i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  const { removed } = await teardownNetwork(name, st?.cgroup);
  await removeState(name);
  if (!st && removed.length === 0) {
    process.stdout.write(`No cluster "${name}" on this machine.\n`);
    return 0;
  }
  process.stdout.write(`Deleted cluster "${name}"${removed.length ? ` (${removed.join(', ')})` : ''}.\n`);
  return 0;
}

export async function runList(argv: string[]): Promise<number> {
  const f = parseFlags('list', argv, {});
  if (!f) return 0;
  const cs = listClusters();
  if (!cs.length) { process.stdout.write('No podnet clusters.\n'); return 0; }
  for (const c of cs) process.stdout.write(`${c.name}\n`);
  return 0;
}

export async function runStatus(argv: string[]): Promise<number> {
  const f = parseFlags('status', argv, nameFlag);
  if (!f) return 0;
  const name = f.values.name!;
  const st = readState(name);
  if (!st) throw new CliError(`status: no cluster "${name}" on this machine (see "podnet list")`, 1);
  const alive = isAlive(st.supervisorPid);
  process.stdout.write([
    `cluster:     ${name} (${alive ? `running, supervisor pid ${st.supervisorPid}` : 'NOT running: the supervisor is gone; "podnet down" then "podnet up"'})`,
    `api server:  https://127.0.0.1:${st.apiserverPort} (kubeconfig ${kubeconfigPath(name)})`,
    `nodes:       ${st.plan.nodes.map((n) => `${n.name} ${n.addresses.join(',')}`).join('; ')}`,
    `pod ranges:  ${st.plan.ranges.pods.join(', ')}`,
    `services:    ${st.plan.ranges.services.join(', ')} (DNS ${st.plan.dnsAddresses.join(', ')})`,
    `log:         ${supervisorLog(name)}`,
    '',
  ].join('\n'));
  return alive ? 0 : 1;
}

export async function runKubeconfig(argv: string[]): Promise<number> {
  const f = parseFlags('kubeconfig', argv, nameFlag);
  if (!f) return 0;
  const name = f.values.name!;
  if (!existsSync(kubeconfigPath(name))) throw new CliError(`kubeconfig: no cluster "${name}" on this machine (see "podnet list")`, 1);
  process.stdout.write(readFileSync(kubeconfigPath(name), 'utf8'));
  return 0;
}

export async function runSupervise(argv: string[]): Promise<number> {
  const f = parseFlags('supervise', argv, nameFlag);
  if (!f) return 0;
  const { runSupervisor } = await import('../cluster/supervisor.js');
  await runSupervisor(f.values.name!);
  return 0;
}

/** `podnet node --config FILE`: one node's daemon, run by the supervisor inside the node's netns. */
export async function runNodeDaemonCommand(argv: string[]): Promise<number> {
  const f = parseFlags('node', argv, { config: { type: 'string' as const, help: "the node daemon's config (written by the supervisor)" } });
  if (!f) return 0;
  if (!f.values.config) throw new CliError('node: --config is required: give the daemon.json the supervisor wrote under the cluster state dir');
  const { readNodeDaemonConfig, runNodeDaemon } = await import('../cluster/nodedaemon.js');
  let cfg;
  try { cfg = readNodeDaemonConfig(f.values.config); } catch (e) { throw new CliError(`node: ${(e as Error).message}`); }
  await runNodeDaemon(cfg);
  return 0;
}
