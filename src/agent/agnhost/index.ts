// The agent's entry points to podnet's built-in agnhost (the upstream e2e test image
// registry.k8s.io/e2e-test-images/agnhost, implemented in TypeScript by ./main.ts).

import { fileURLToPath } from 'node:url';
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

/**
 * The process to spawn for an agnhost container: this Node executable running main.js with
 * `args` (the arguments after the agnhost binary, e.g. ["netexec", "--http-port=8080"]).
 * `env` carries the program name that entrypoint-tester prints (default "/agnhost"); merge it
 * into the container's environment. Set PODNET_HOSTNAME there too when the pod process does
 * not get its own UTS namespace, so /hostname answers with the pod's hostname.
 */
export function agnhostCommand(args: string[], opts: { argv0?: string } = {}): { command: string; args: string[]; env: Record<string, string> } {
  return {
    command: process.execPath,
    args: [agnhostMainPath(), ...args],
    env: { [ARGV0_ENV]: opts.argv0 ?? AGNHOST_ENTRYPOINT[0] },
  };
}
