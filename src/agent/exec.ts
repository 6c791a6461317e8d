// `kubectl exec` on the node: the kubelet API's /exec endpoint, speaking Kubernetes' WebSocket
// remote-command protocol (v5.channel.k8s.io, and v4 without the close signal). Every binary
// message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error (a Status, when the
// command ends), 4 resize, 255 close (v5: the client closed the stream named by the next byte).
// The command runs inside the pod's network namespace. There is no pseudo-terminal: with `-t`
// the command still gets pipes (stderr then goes to stdout, as with a terminal).

import { spawn } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { constants as osConstants } from 'node:os';
import { containerArgv } from './runtime.js';

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

const CH = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 };

export interface ExecTarget {
  /** The network namespace to run in (the pod's sandbox, or the node's for hostNetwork pods). */
  netns?: string;
  /** A process of the container: the command joins its UTS namespace (the pod's hostname). */
  utsPid?: number;
  /** The container's cgroups (their `cgroup.procs`): the command joins them, as `runc exec` does. */
  cgroupProcs?: string[];
  env: Record<string, string>;
}

/** The Status sent on the error channel when the command ends, as the kubelet words it. */
export function exitStatus(command: string[], code: number | null, signal: NodeJS.Signals | null): Record<string, unknown> {
  if (code === 0) return { metadata: {}, status: 'Success' };
  const exit = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 9) : 0);
  return {
    metadata: {}, status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exit}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exit) }] },
  };
}

// Loaded on the first exec: the WebSocket library is a few MiB of a node daemon's memory that
// most daemons never need.
let wss: Promise<WebSocketServer> | undefined;
const execServer = () => (wss ??= import('ws').then(({ WebSocketServer }) => new WebSocketServer({
  noServer: true,
  handleProtocols: (protocols) => EXEC_PROTOCOLS.find((p) => protocols.has(p)) ?? false,
})));

/**
 * Completes the WebSocket upgrade of an exec request and runs the command. `resolve` maps
 * namespace/pod/container to where the command runs, or undefined when there is no such
 * running container.
 */
export function handleExecUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer,
  resolve: (ns: string, pod: string, container: string) => ExecTarget | undefined): void {
  const url = new URL(req.url ?? '/', 'http://kubelet');
  const m = /^\/exec\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
  const fail = (code: number, msg: string) => {
    socket.end(`HTTP/1.1 ${code} ${code === 404 ? 'Not Found' : 'Bad Request'}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(msg)}\r\nConnection: close\r\n\r\n${msg}`);
  };
  if (!m) return fail(404, 'not found');
  const [ns, pod, container] = m.slice(1).map(decodeURIComponent);
  const command = url.searchParams.getAll('command');
  if (!command.length) return fail(400, 'you must specify at least 1 command');
  const target = resolve(ns, pod, container);
  if (!target) return fail(404, `container "${container}" in pod "${pod}" is not running`);
  const q = url.searchParams;
  const wantStdin = q.get('stdin') === 'true' || q.get('input') === '1';
  const tty = q.get('tty') === 'true';
  execServer().then(
    (server) => server.handleUpgrade(req, socket, head, (ws) => run(ws, command, target, wantStdin, tty)),
    (e: unknown) => fail(500, `exec: ${(e as Error).message}`),
  );
}

function run(ws: WebSocket, command: string[], target: ExecTarget, wantStdin: boolean, tty: boolean): void {
  const v5 = ws.protocol === 'v5.channel.k8s.io';
  const argv = containerArgv(command, { cgroupProcs: target.cgroupProcs, netns: target.netns, utsPid: target.utsPid });
  const child = spawn(argv[0], argv.slice(1), { env: target.env, stdio: [wantStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  const send = (ch: number, data: Buffer | string) => {
    if (ws.readyState !== ws.OPEN) return;
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    ws.send(Buffer.concat([Buffer.from([ch]), body]));
  };
  child.stdout!.on('data', (d: Buffer) => send(CH.stdout, d));
  child.stderr!.on('data', (d: Buffer) => send(tty ? CH.stdout : CH.stderr, d));
  let spawnError: Error | undefined;
  child.on('error', (e) => { spawnError = e; });
  child.on('close', (code, signal) => {
    const status = spawnError
      ? { metadata: {}, status: 'Failure', message: `failed to run [${command.join(' ')}]: ${spawnError.message}`, reason: 'InternalError' }
      : exitStatus(command, code, signal);
    send(CH.error, JSON.stringify(status));
    ws.close(1000);
  });
  ws.on('message', (msg: Buffer) => {
    if (!msg.length) return;
    const ch = msg[0];
    if (ch === CH.stdin && child.stdin) child.stdin.write(msg.subarray(1));
    else if (v5 && ch === CH.close && msg[1] === CH.stdin) child.stdin?.end();
  });
  ws.on('close', () => {
    child.stdin?.end();
    if (child.exitCode === null) child.kill('SIGKILL');
  });
}
