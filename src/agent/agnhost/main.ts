// podnet's built-in agnhost: `node main.js <subcommand> [flags]`, behaving like the upstream
// registry.k8s.io/e2e-test-images/agnhost binary (a cobra program named "app").

import { FlagDef, FlagError, FlagValues, HELP_FLAG, KLOG_FLAGS, flagUsages, parseFlags } from './flags.js';

export const AGNHOST_VERSION = '2.53';

/** What a subcommand's module provides: its flags and its entry point. */
interface Impl {
  flags: FlagDef[];
  run: (v: FlagValues, args: string[], rawArgv: string[]) => void | Promise<void>;
}

interface Command {
  name: string;
  use?: string;
  short: string;
  long?: string;
  /** cobra.MaximumNArgs / ExactArgs; undefined: any */
  maxArgs?: number;
  exactArgs?: number;
  /**
   * Loads the subcommand's module. Only the chosen one is loaded: every pod of a built-in image
   * is a Node.js start, and the modules of the other subcommands (and the built-ins they import:
   * https, tls, dns, child_process) would add to each start's CPU time for nothing.
   */
  load: () => Promise<Impl>;
}

const NETEXEC_SHORT = 'Creates HTTP(S), UDP, and (optionally) SCTP servers with various endpoints';
const NETEXEC_LONG = `Starts a HTTP(S) server on given port with the endpoints /, /clientip, /header, /dial,
/echo, /exit, /healthz, /readyz, /hostname, /hostName, /redirect, /shell, /shutdown and /upload,
and a UDP server on the given UDP port answering "hostname", "echo <msg>" and "clientip".
The UDP server can be disabled by setting --udp-port to -1. SCTP is not supported by podnet.`;

const netexec = async (): Promise<Impl> => { const m = await import('./netexec.js'); return { flags: m.netexecFlags, run: m.runNetexec }; };
const servers = () => import('./servers.js');
const tools = () => import('./tools.js');

const COMMANDS: Command[] = [
  {
    name: 'connect', use: 'connect [host:port]', short: 'Attempts a TCP, UDP or SCTP connection and returns useful errors',
    long: `Tries to open a TCP, UDP or SCTP connection to the given host and port. On error it prints an error message prefixed with a specific fixed string that test cases can check for:

* UNKNOWN - Generic/unknown (non-network) error (eg, bad arguments)
* TIMEOUT - The connection attempt timed out
* DNS - An error in DNS resolution
* REFUSED - Connection refused
* OTHER - Other networking error (eg, "no route to host")`,
    exactArgs: 1, load: async () => { const m = await tools(); return { flags: m.connectFlags, run: m.runConnect }; } },
  { name: 'dns-server-list', short: "Prints the host's DNS Server list", long: 'Prints the DNS Server list of this host.', maxArgs: 0, load: async () => { const m = await tools(); return { flags: [], run: m.runDnsServerList }; } },
  { name: 'dns-suffix', short: "Prints the host's DNS suffix list", long: 'Prints the DNS suffixes of this host.', maxArgs: 0, load: async () => { const m = await tools(); return { flags: [], run: m.runDnsSuffix }; } },
  { name: 'entrypoint-tester', short: "Prints the args it's passed and exits", long: "Prints the args it's passed and exits.", load: async () => { const m = await tools(); return { flags: [], run: m.runEntrypointTester }; } },
  { name: 'etc-hosts', short: "Prints the host's /etc/hosts file", long: 'Prints the "hosts" file of this host."', maxArgs: 0, load: async () => { const m = await tools(); return { flags: [], run: m.runEtcHosts }; } },
  {
    name: 'fake-gitserver', short: 'Fakes a git server',
    long: 'When doing "git clone http://localhost:8000", you will clone an empty git repo named "localhost" on local.\nYou can also use "git clone http://localhost:8000 my-repo-name" to rename that repo.',
    maxArgs: 0, load: async () => { const m = await servers(); return { flags: m.fakeGitserverFlags, run: m.runFakeGitserver }; } },
  {
    name: 'liveness', short: 'Starts a server that is alive for 10 seconds',
    long: 'A simple server that is alive for 10 seconds, then reports unhealthy for the rest of its (hopefully) short existence. Failures can be emulated by passing parameters to specific URLs.',
    maxArgs: 0, load: async () => { const m = await servers(); return { flags: m.livenessFlags, run: m.runLiveness }; } },
  {
    name: 'logs-generator', short: 'Outputs lines of logs to stdout uniformly',
    long: 'Outputs <linesTotal> lines of logs to stdout uniformly for <duration>', maxArgs: 0, load: async () => { const m = await tools(); return { flags: m.logsGeneratorFlags, run: m.runLogsGenerator }; } },
  { name: 'netexec', short: NETEXEC_SHORT, long: NETEXEC_LONG, maxArgs: 0, load: netexec },
  {
    name: 'pause', short: 'Pauses the execution',
    long: 'Pauses the execution. Useful for keeping the containers running, so other commands can be executed.', maxArgs: 0, load: async () => { const m = await servers(); return { flags: m.pauseFlags, run: m.runPause }; } },
  {
    name: 'porter', short: 'Serves requested data on ports specified in ENV variables',
    long: 'Serves requested data on ports specified in environment variables of the form SERVE_{PORT,TCP_PORT,UDP_PORT,TLS_PORT,SCTP_PORT}_[NNNN].',
    maxArgs: 0, load: async () => { const m = await servers(); return { flags: m.porterFlags, run: m.runPorter }; } },
  { name: 'serve-hostname', short: 'Serves the hostname', long: 'Serves the hostname through HTTP / TCP / UDP on the given port.', maxArgs: 0, load: async () => { const m = await servers(); return { flags: m.serveHostnameFlags, run: m.runServeHostname }; } },
  {
    name: 'test-webserver', short: 'Starts a simple HTTP fileserver',
    long: 'Starts a simple HTTP fileserver on the given --port, which serves any file specified in the URL path, if it exists.',
    maxArgs: 0, load: async () => { const m = await servers(); return { flags: m.testWebserverFlags, run: m.runTestWebserver }; } },
];

/** Upstream subcommands that podnet's built-in agnhost does not implement. */
export const UNIMPLEMENTED = [
  'audit-proxy', 'crd-conversion-webhook', 'fake-registry-server', 'grpc-health-checking', 'guestbook', 'h2c-server',
  'http-echo', 'inclusterclient', 'mounttest', 'mtlsclient', 'mtlsserver', 'net', 'nettest', 'no-snat-test',
  'no-snat-test-proxy', 'nonewprivs', 'port-forward-tester', 'resource-consumer', 'resource-consumer-controller',
  'test-service-account-issuer-discovery', 'webhook', 'podcertificatesigner', 'external-metrics', 'fake-metrics-server',
];

export const SUBCOMMANDS = COMMANDS.map((c) => c.name);

function out(s: string): void {
  process.stdout.write(s);
}
function err(s: string): void {
  process.stderr.write(s);
}

const ROOT_FLAGS: FlagDef[] = [...KLOG_FLAGS, { ...HELP_FLAG, usage: 'help for app' }, { name: 'version', type: 'bool', def: false, usage: 'version for app' }];

function rootUsage(): string {
  const all = [...COMMANDS.map((c) => [c.name, c.short]), ['help', 'Help about any command']].sort((a, b) => a[0].localeCompare(b[0]));
  const w = Math.max(...all.map((c) => c[0].length));
  return `Usage:
  app [command]

Available Commands:
${all.map(([n, s]) => `  ${n.padEnd(w)} ${s}`).join('\n')}

Flags:
${flagUsages(ROOT_FLAGS)}

Use "app [command] --help" for more information about a command.
`;
}

function commandUsage(c: Command, impl: Impl): string {
  const local = [...impl.flags, { ...HELP_FLAG, usage: `help for ${c.name}` }];
  return `Usage:
  app ${c.use ?? c.name} [flags]

Flags:
${flagUsages(local)}

Global Flags:
${flagUsages(KLOG_FLAGS)}
`;
}

function commandHelp(c: Command, impl: Impl): string {
  return `${c.long ?? c.short}\n\n${commandUsage(c, impl)}`;
}

/** Index of the subcommand name in argv, skipping root persistent flags and their values. */
function findSubcommand(argv: string[]): number {
  const valued = new Set(KLOG_FLAGS.filter((f) => f.type !== 'bool').map((f) => f.name));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (a.startsWith('--')) {
      const name = a.slice(2).split('=')[0];
      if (!a.includes('=') && valued.has(name)) i++;
      continue;
    }
    if (a === '-v') {
      i++;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) continue;
    return i;
  }
  return -1;
}

export async function main(argv: string[]): Promise<number | undefined> {
  const idx = findSubcommand(argv);
  if (idx < 0) {
    // Root command alone: flags only (e.g. --help, --version, or nothing → help).
    let parsed;
    try {
      parsed = parseFlags(ROOT_FLAGS, argv);
    } catch (e) {
      err(`Error: ${(e as Error).message}\n${rootUsage()}\n`);
      return 1;
    }
    if (parsed.values.version) {
      out(`app version ${AGNHOST_VERSION}\n`);
      return 0;
    }
    out(rootUsage());
    return 0;
  }
  const name = argv[idx];
  const rest = [...argv.slice(0, idx), ...argv.slice(idx + 1)];
  if (name === 'help') {
    const target = rest.find((a) => !a.startsWith('-'));
    const c = COMMANDS.find((x) => x.name === target);
    if (target && !c) {
      out(`Unknown help topic [\`${target}\`]\n${rootUsage()}`);
      return 0;
    }
    out(c ? commandHelp(c, await c.load()) : rootUsage());
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    if (UNIMPLEMENTED.includes(name)) {
      err(`Error: agnhost subcommand "${name}" is not implemented by podnet's built-in agnhost\n`);
      return 1;
    }
    err(`Error: unknown command "${name}" for "app"\nRun 'app --help' for usage.\n`);
    return 1;
  }
  const impl = await cmd.load();
  const defs = [...impl.flags, { ...HELP_FLAG, usage: `help for ${cmd.name}` }, ...KLOG_FLAGS];
  let parsed;
  try {
    parsed = parseFlags(defs, rest);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    err(`Error: ${e.message}\n${commandUsage(cmd, impl)}\n`);
    return 1;
  }
  if (parsed.values.help) {
    out(commandHelp(cmd, impl));
    return 0;
  }
  const n = parsed.args.length;
  if (cmd.exactArgs !== undefined && n !== cmd.exactArgs) {
    err(`Error: accepts ${cmd.exactArgs} arg(s), received ${n}\n${commandUsage(cmd, impl)}\n`);
    return 1;
  }
  if (cmd.maxArgs !== undefined && n > cmd.maxArgs) {
    err(`Error: accepts at most ${cmd.maxArgs} arg(s), received ${n}\n${commandUsage(cmd, impl)}\n`);
    return 1;
  }
  await impl.run(parsed.values, parsed.args, argv);
  return undefined;
}

const isEntry = (() => {
  const entry = process.argv[1] ?? '';
  return /agnhost[\\/]main\.js$/.test(entry);
})();

if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== undefined) process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`panic: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exit(2);
    },
  );
}
