// The CNI plugin entry point: CNI_* environment + network configuration on stdin → result on
// stdout, per the CNI specification 1.1.0. Errors are printed as
// `{cniVersion, code, msg, details}` with exit code 1; logs go to stderr.
//
// Use it as a library (`runCniPlugin(env, stdin)`) or run this file as the plugin executable:
//   CNI_COMMAND=ADD CNI_CONTAINERID=… CNI_NETNS=/run/netns/… CNI_IFNAME=eth0 node dist/src/cni/main.js < conf.json

import { pathToFileURL } from 'node:url';
import { cmdAdd, cmdCheck, cmdDel, cmdGc, cmdStatus, type CniArgs } from './bridge.js';
import {
  CNI_COMMANDS,
  CNI_VERSION,
  CniError,
  ErrorCode,
  SUPPORTED_VERSIONS,
  compareVersions,
  convertResult,
  isSupportedVersion,
  isValidIfName,
  parseCniArgs,
  type CniCommand,
  type PodnetNetConf,
  type VersionResult,
} from './spec.js';

export interface CniOutput {
  stdout: string;
  exitCode: number;
}

export type CniEnv = Record<string, string | undefined>;

const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Pick the version to speak: the config's cniVersion, or the highest supported of cniVersions. */
function chooseVersion(conf: { cniVersion?: unknown; cniVersions?: unknown }): string | undefined {
  if (Array.isArray(conf.cniVersions)) {
    const ok = conf.cniVersions.filter((v): v is string => typeof v === 'string' && isSupportedVersion(v));
    if (ok.length > 0) return ok.sort(compareVersions).at(-1);
  }
  return typeof conf.cniVersion === 'string' ? conf.cniVersion : undefined;
}

function need(env: CniEnv, name: string): string {
  const v = env[name];
  if (v === undefined || v === '') throw new CniError(ErrorCode.InvalidEnvironment, `required environment variable ${name} is not set`);
  return v;
}

/**
 * Run one CNI invocation. Never throws: failures become CNI error JSON with exit code 1.
 * `nodeNetns`: act for that node namespace from outside it (a runtime in-process, as podnet's
 * agent is), instead of in the namespace this process runs in (a runtime exec'ing the plugin).
 * `loopbackUp`: on ADD, also bring the pod's `lo` up (what a runtime otherwise does itself or
 * with the loopback plugin), in the same `ip` run as the pod's interface.
 */
export async function runCniPlugin(env: CniEnv, stdin: string, opts: { nodeNetns?: string; loopbackUp?: boolean } = {}): Promise<CniOutput> {
  let version = CNI_VERSION;
  try {
    const cmd = env.CNI_COMMAND;
    if (!cmd) throw new CniError(ErrorCode.InvalidEnvironment, 'required environment variable CNI_COMMAND is not set');
    if (!CNI_COMMANDS.includes(cmd as CniCommand)) throw new CniError(ErrorCode.InvalidEnvironment, `unknown CNI_COMMAND ${JSON.stringify(cmd)}`);

    let conf: PodnetNetConf;
    try {
      conf = JSON.parse(stdin) as PodnetNetConf;
    } catch (e) {
      if (cmd === 'VERSION' && stdin.trim() === '') conf = { cniVersion: CNI_VERSION } as PodnetNetConf;
      else throw new CniError(ErrorCode.DecodeFailure, 'network configuration on stdin is not valid JSON', (e as Error).message);
    }
    if (conf === null || typeof conf !== 'object' || Array.isArray(conf)) {
      throw new CniError(ErrorCode.DecodeFailure, 'network configuration on stdin must be a JSON object');
    }
    const requested = chooseVersion(conf);

    if (cmd === 'VERSION') {
      const out: VersionResult = {
        cniVersion: requested && isSupportedVersion(requested) ? requested : CNI_VERSION,
        supportedVersions: [...SUPPORTED_VERSIONS],
      };
      return { stdout: JSON.stringify(out) + '\n', exitCode: 0 };
    }

    if (!requested) throw new CniError(ErrorCode.InvalidConfig, 'network configuration has no cniVersion');
    if (!isSupportedVersion(requested)) {
      throw new CniError(ErrorCode.IncompatibleVersion, `CNI version ${requested} is not supported`, `supported versions: ${SUPPORTED_VERSIONS.join(', ')}`);
    }
    version = requested;
    conf.cniVersion = requested;
    const minimum: Partial<Record<CniCommand, string>> = { CHECK: '0.4.0', STATUS: '1.1.0', GC: '1.1.0' };
    const min = minimum[cmd as CniCommand];
    if (min && compareVersions(requested, min) < 0) {
      throw new CniError(ErrorCode.IncompatibleVersion, `${cmd} needs CNI version ${min} or later, the configuration says ${requested}`);
    }
    if (typeof conf.type !== 'string' || conf.type === '') throw new CniError(ErrorCode.InvalidConfig, 'network configuration has no type');
    if (conf.prevResult !== undefined && (conf.prevResult === null || typeof conf.prevResult !== 'object')) {
      throw new CniError(ErrorCode.DecodeFailure, 'prevResult must be a result object');
    }
    if (conf.prevResult) conf.prevResult = convertResult(conf.prevResult, CNI_VERSION);

    if (cmd === 'STATUS') {
      await cmdStatus(conf);
      return { stdout: '', exitCode: 0 };
    }
    if (cmd === 'GC') {
      const r = await cmdGc(conf, opts.nodeNetns);
      if (r.releasedIps.length + r.removedLinks.length > 0) {
        process.stderr.write(`podnet cni GC: released ${r.releasedIps.join(' ') || 'no addresses'}; removed ${r.removedLinks.join(' ') || 'no links'}\n`);
      }
      return { stdout: '', exitCode: 0 };
    }

    const containerID = need(env, 'CNI_CONTAINERID');
    if (!CONTAINER_ID_RE.test(containerID)) throw new CniError(ErrorCode.InvalidEnvironment, `invalid CNI_CONTAINERID ${JSON.stringify(containerID)}`);
    const ifname = need(env, 'CNI_IFNAME');
    if (!isValidIfName(ifname)) throw new CniError(ErrorCode.InvalidEnvironment, `invalid CNI_IFNAME ${JSON.stringify(ifname)}`);
    const netns = cmd === 'DEL' ? (env.CNI_NETNS ?? '') : need(env, 'CNI_NETNS');
    const args: CniArgs = {
      containerID,
      ifname,
      netns,
      args: parseCniArgs(env.CNI_ARGS),
      path: (env.CNI_PATH ?? '').split(':').filter((p) => p !== ''),
    };

    switch (cmd as CniCommand) {
      case 'ADD': {
        const result = await cmdAdd(conf, args, opts.nodeNetns, { loopbackUp: opts.loopbackUp });
        return { stdout: JSON.stringify(convertResult(result, version)) + '\n', exitCode: 0 };
      }
      case 'DEL':
        await cmdDel(conf, args, opts.nodeNetns);
        return { stdout: '', exitCode: 0 };
      case 'CHECK':
        await cmdCheck(conf, args, opts.nodeNetns);
        return { stdout: '', exitCode: 0 };
      default:
        throw new CniError(ErrorCode.InvalidEnvironment, `unknown CNI_COMMAND ${cmd}`);
    }
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(ErrorCode.Internal, (e as Error)?.message ?? String(e));
    return { stdout: JSON.stringify(err.toJSON(version)) + '\n', exitCode: 1 };
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The executable: read env + stdin, print the result, set the exit code. */
export async function main(): Promise<void> {
  const out = await runCniPlugin(process.env, await readStdin());
  process.stdout.write(out.stdout);
  process.exitCode = out.exitCode;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
