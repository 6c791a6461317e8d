// podnet's command line. Each command is a small module; this file only dispatches and turns
// any failure into the one-line message users see.

import { CliError } from './args.js';

const cluster = () => import('./cluster.js');

const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => Promise<number>; hidden?: boolean }> = {
  up: { summary: 'create a cluster on this machine: nodes and pods in network namespaces (root)', run: async (a) => (await cluster()).runUp(a) },
  down: { summary: 'remove a cluster and everything it created (root)', run: async (a) => (await cluster()).runDown(a) },
  status: { summary: "show a cluster's state", run: async (a) => (await cluster()).runStatus(a) },
  list: { summary: 'list the clusters on this machine', run: async (a) => (await cluster()).runList(a) },
  kubeconfig: { summary: "print a cluster's kubeconfig", run: async (a) => (await cluster()).runKubeconfig(a) },
  supervise: { summary: 'run a cluster in the foreground (what up starts)', run: async (a) => (await cluster()).runSupervise(a), hidden: true },
  node: { summary: "one node's daemon, in the node's netns (what the supervisor starts per node)", run: async (a) => (await cluster()).runNodeDaemonCommand(a), hidden: true },
  apiserver: {
    summary: 'run the API server (HTTPS, durable store, kubeconfig in the data dir)',
    run: async (argv) => (await import('./apiserver.js')).runApiServer(argv),
  },
  cni: {
    summary: 'the CNI plugin (CNI spec 1.1): reads CNI_COMMAND etc. from the environment, the config from stdin',
    run: async () => { await (await import('../cni/main.js')).main(); return -1; },
  },
  proxy: { summary: "a node's service proxy: Services + EndpointSlices → nftables (root)", run: async (a) => (await import('./proxy.js')).runProxy(a) },
  trace: { summary: "show the path a connection takes through a node's service rules (root)", run: async (a) => (await import('./trace.js')).runTrace(a) },
  dns: { summary: 'the cluster DNS server (Kubernetes DNS spec 1.1.0): Services, endpoints and pods by name', run: async (a) => (await import('./dns.js')).runDns(a) },
  netpol: { summary: "a node's NetworkPolicy enforcement: policies → nftables (root)", run: async (a) => (await import('./netpol.js')).runNetpol(a) },
};

function usage(): string {
  const lines = ['Usage: podnet COMMAND [flags]', '', 'Commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) if (!c.hidden) lines.push(`  ${name.padEnd(12)} ${c.summary}`);
  lines.push('', 'Run "podnet COMMAND --help" for the flags of a command.');
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(usage() + '\n');
    return cmd ? 0 : 2;
  }
  const c = COMMANDS[cmd];
  if (!c) throw new CliError(`unknown command "${cmd}": run "podnet --help" for the list of commands`);
  return c.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => { if (code !== undefined && code !== -1) process.exitCode = code; },
  (err: unknown) => {
    if (err instanceof CliError) process.stderr.write(`podnet: ${err.message}\n`);
    else process.stderr.write(`podnet: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 1;
  },
);
