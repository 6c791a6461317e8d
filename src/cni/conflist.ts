// The node's CNI network configuration list: what a runtime (the podnet agent, or containerd /
// CRI-O on a real node) reads from its CNI config dir to call the podnet plugin.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CNI_VERSION, CniError, type DNS, type PodnetNetConf } from './spec.js';
import { resolveRangeSets } from './ipam.js';

export interface NodeNetworkOptions {
  /** Network name, e.g. "podnet". */
  name: string;
  /** Node bridge, e.g. "<prefix>br0". */
  bridge: string;
  /** The node's pod CIDRs (Node.spec.podCIDRs): one per family; both for dual-stack. */
  podCIDRs: string[];
  mtu?: number;
  vethPrefix?: string;
  /** Where the plugin keeps its IPAM store and result cache. */
  dataDir?: string;
  dns?: DNS;
  /** Plugin executable name in CNI_PATH; default "podnet". */
  type?: string;
}

/** One plugin of the list (name and cniVersion come from the list). */
export type PluginEntry = Pick<PodnetNetConf, 'type' | 'bridge' | 'vethPrefix' | 'mtu' | 'hairpinMode' | 'ipForward' | 'dataDir' | 'ipam' | 'dns'>;

export interface ConfList {
  cniVersion: string;
  cniVersions: string[];
  name: string;
  plugins: PluginEntry[];
}

/** The conflist for a node. Throws when the pod CIDRs are not valid ranges. */
export function buildConflist(o: NodeNetworkOptions): ConfList {
  if (o.podCIDRs.length === 0) throw new Error('buildConflist: at least one pod CIDR is required');
  const ranges = o.podCIDRs.map((subnet) => [{ subnet }]);
  try {
    resolveRangeSets({ ranges });
  } catch (e) {
    throw new Error(`buildConflist: ${(e as CniError).message}`);
  }
  const plugin: PluginEntry = {
    type: o.type ?? 'podnet',
    bridge: o.bridge,
    hairpinMode: true,
    ipForward: true,
    ipam: { type: 'podnet', ranges },
  };
  if (o.mtu) plugin.mtu = o.mtu;
  if (o.vethPrefix) plugin.vethPrefix = o.vethPrefix;
  if (o.dataDir) plugin.dataDir = o.dataDir;
  if (o.dns) plugin.dns = o.dns;
  return { cniVersion: CNI_VERSION, cniVersions: ['1.0.0', CNI_VERSION], name: o.name, plugins: [plugin] };
}

/** The single-plugin network configuration a runtime passes on stdin for this conflist. */
export function pluginConf(list: ConfList, index = 0): PodnetNetConf {
  const p = list.plugins[index];
  if (!p) throw new Error(`conflist ${list.name} has no plugin ${index}`);
  return { ...p, cniVersion: list.cniVersion, name: list.name } as PodnetNetConf;
}

/**
 * Write `<dir>/10-<name>.conflist` atomically (temp file + rename). Returns the path.
 */
export async function writeConflist(dir: string, o: NodeNetworkOptions): Promise<string> {
  const list = buildConflist(o);
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  const file = path.join(dir, `10-${o.name}.conflist`);
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify(list, null, 2) + '\n', { mode: 0o644 });
  await fs.rename(tmp, file);
  return file;
}

/** Remove the conflist written by writeConflist; a missing file is fine. */
export async function removeConflist(dir: string, name: string): Promise<void> {
  await fs.unlink(path.join(dir, `10-${name}.conflist`)).catch(() => undefined);
}
