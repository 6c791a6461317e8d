// Where a cluster keeps its state on this machine, and how `up`/`down`/`list` find it:
// /var/lib/podnet/<name>/ (state.json, the API server's data dir, node state, logs).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterPlan } from './plan.js';
import type { CgroupDir } from '../agent/cgroups.js';

export const STATE_ROOT = process.env.PODNET_STATE_ROOT ?? '/var/lib/podnet';

export interface ClusterState {
  name: string;
  plan: ClusterPlan;
  apiserverPort: number;
  /** PID of the supervisor (`podnet supervise`), once started. */
  supervisorPid?: number;
  /** Where the pods' memory cgroups are (one level per node below it); absent when there is none. */
  cgroup?: CgroupDir;
  createdAt: string;
}

export const stateDir = (name: string) => join(STATE_ROOT, name);
export const kubeconfigPath = (name: string) => join(stateDir(name), 'apiserver', 'kubeconfig');
export const supervisorLog = (name: string) => join(stateDir(name), 'supervisor.log');

export function readState(name: string): ClusterState | undefined {
  const f = join(stateDir(name), 'state.json');
  if (!existsSync(f)) return undefined;
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

export async function writeState(s: ClusterState): Promise<void> {
  await mkdir(stateDir(s.name), { recursive: true, mode: 0o700 });
  await writeFile(join(stateDir(s.name), 'state.json'), JSON.stringify(s, null, 2) + '\n', { mode: 0o600 });
}

export async function removeState(name: string): Promise<void> {
  await rm(stateDir(name), { recursive: true, force: true });
}

export function listClusters(): ClusterState[] {
  if (!existsSync(STATE_ROOT)) return [];
  return readdirSync(STATE_ROOT).map((n) => readState(n)).filter((s): s is ClusterState => !!s);
}

export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The PIDs of supervisors of cluster `name` running on this machine, found by their command line
 * (`… main.js supervise --name NAME`, as `up` starts them): `down` stops them even when the
 * cluster's state is gone or belongs to another state root.
 */
export function supervisorPids(name: string): number[] {
  const pids: number[] = [];
  let entries: string[] = [];
  try { entries = readdirSync('/proc'); } catch { return pids; }
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    let argv: string[];
    try { argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    const i = argv.indexOf('supervise');
    if (i > 0 && /main\.js$|\/podnet$/.test(argv[i - 1]!) && argv[i + 1] === '--name' && argv[i + 2] === name) pids.push(Number(e));
  }
  return pids;
}
