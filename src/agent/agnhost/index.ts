// The agent's entry points to podnet's built-in agnhost (the upstream e2e test image
// registry.k8s.io/e2e-test-images/agnhost, implemented in TypeScript by ./main.ts, and its
// netexec subcommand also natively, by native/agnhost).

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nativePath } from '../../net/native.js';
import { ARGV0_ENV, HOSTNAME_ENV, UPLOAD_DIR_ENV } from './common.js';

export { ARGV0_ENV, HOSTNAME_ENV, UPLOAD_DIR_ENV };

const REPOS = [
  'registry.k8s.io/e2e-test-images/agnhost',
  'k8s.gcr.io/e2e-test-images/agnhost',
  'gcr.io/kubernetes-e2e-test-images/agnhost',
];

const TAG = String.raw`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`;
const DIGEST = String.raw`[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`;
const IMAGE_RE = new RegExp(
  `^(?:${REPOS.map((r) => r.replace(/[.]/g, '\\.')).join('|')})(?::${TAG})?(?:@${DIGEST})?$`,
);

/** True for the upstream agnhost test image, with any tag and/or digest (or none). */
export function isAgnhostImage(image: string): boolean {
  return IMAGE_RE.test(image.trim());
}

/** The image's ENTRYPOINT and CMD. */
export const AGNHOST_ENTRYPOINT = ['/agnhost'];
export const AGNHOST_DEFAULT_ARGS = ['pause'];

/**
 * Applies Kubernetes' command/args rules to the agnhost image (ENTRYPOINT ["/agnhost"],
 * CMD ["pause"]) and, when the resulting program is the agnhost binary (/agnhost, or the
 * image's /agnhost-2 symlink), returns its argv0 and arguments. Returns null when the container
 * runs something else from the image (e.g. /bin/sh), which the built-in agnhost cannot run.
 */
export function resolveAgnhostContainer(command?: string[], args?: string[]): { argv0: string; args: string[] } | null {
  const argv = command && command.length > 0
    ? [...command, ...(args ?? [])]
    : [...AGNHOST_ENTRYPOINT, ...(args && args.length > 0 ? args : AGNHOST_DEFAULT_ARGS)];
  const base = argv[0].split('/').pop() ?? '';
  if (base !== 'agnhost' && base !== 'agnhost-2') return null;
  return { argv0: argv[0], args: argv.slice(1) };
}

/** Absolute path of the compiled built-in agnhost entry point (main.js next to this module). */
export function agnhostMainPath(): string {
  return fileURLToPath(new URL('./main.js', import.meta.url));
}

/** Set to "0" to run netexec on Node.js even where the native build exists (tests, A/B benchmarks). */
export const NATIVE_ENV = 'PODNET_AGNHOST_NATIVE';
/** The Node executable and main.js the native netexec hands arguments it does not handle to. */
export const NODE_ENV = 'PODNET_AGNHOST_NODE';
export const MAIN_ENV = 'PODNET_AGNHOST_MAIN';

/**
 * The native netexec (native/agnhost/build/agnhost-netexec, built at `npm ci`), or why it is not
 * used (looked up once per process). Every netexec pod on Node.js costs ~220 ms of CPU and ~47 MB to start; natively ~5 ms
 * and ~2 MB, which is what lets a hundred pods start together.
 */
export function nativeNetexec(): { path?: string; problem: string } {
  return (netexecChoice ??= findNativeNetexec());
}

// Decided once per process: no file check at every container start, and the agent's start-up
// log line then says what every pod of its lifetime gets.
let netexecChoice: { path?: string; problem: string } | undefined;

function findNativeNetexec(): { path?: string; problem: string } {
  if (process.env[NATIVE_ENV] === '0') return { problem: `${NATIVE_ENV}=0` };
  const path = nativePath('agnhost', 'build', 'agnhost-netexec');
  if (!path || !existsSync(path)) return { problem: `native netexec not built (${path ?? 'native/agnhost'}): run npm rebuild` };
  return { path, problem: '' };
}

/**
 * The process to spawn for an agnhost container: `args` are the arguments after the agnhost
 * binary, e.g. ["netexec", "--http-port=8080"]. netexec runs natively when it is built (HTTPS
 * stays on Node.js, and the native program itself hands anything else it does not handle —
 * --help, flag errors — to main.js, so texts stay the same); everything else runs this Node
 * executable on main.js. `env` carries the program name that entrypoint-tester prints (default
 * "/agnhost") and the hand-over paths; merge it into the container's environment. Set
 * PODNET_HOSTNAME there too when the pod process does not get its own UTS namespace, so
 * /hostname answers with the pod's hostname. `native: false` runs netexec on Node.js regardless.
 */
export function agnhostCommand(args: string[], opts: { argv0?: string; native?: boolean } = {}): { command: string; args: string[]; env: Record<string, string> } {
  const env = { [ARGV0_ENV]: opts.argv0 ?? AGNHOST_ENTRYPOINT[0] };
  if (args[0] === 'netexec' && opts.native !== false && !args.some((a) => a.startsWith('--tls-'))) {
    const native = nativeNetexec().path;
    if (native) {
      return { command: native, args, env: { ...env, [NODE_ENV]: process.execPath, [MAIN_ENV]: agnhostMainPath() } };
    }
  }
  return { command: process.execPath, args: [agnhostMainPath(), ...args], env };
}
