// One-shot agnhost subcommands: dns-suffix, dns-server-list, etc-hosts, connect,
// entrypoint-tester, logs-generator.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import * as dns from 'node:dns/promises';
import { FlagDef, FlagValues, formatGoDuration } from './flags.js';
import { ARGV0_ENV, errnoText, hostPort, klogLine } from './common.js';

/** A Go panic: message on stderr, exit status 2. */
function panic(msg: string): never {
  process.stderr.write(`panic: ${msg}\n\ngoroutine 1 [running]:\nmain.main()\n`);
  process.exit(2);
}

function readFileOrPanic(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    panic(`open ${file}: ${code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
}

export const RESOLV_CONF = '/etc/resolv.conf';

/** The values of the first resolv.conf line starting with `keyword`, split on single spaces as upstream does. */
export function resolvConfList(content: string, keyword: string): string[] | undefined {
  for (const line of content.split('\n')) {
    if (line.startsWith(keyword)) return line.split(' ').slice(1);
  }
  return undefined;
}

export function runDnsSuffix(_v: FlagValues): void {
  const list = resolvConfList(readFileOrPanic(RESOLV_CONF), 'search');
  if (!list) panic('Could not find DNS search list!');
  process.stdout.write(`${list.join(',')}\n`);
}

export function runDnsServerList(_v: FlagValues): void {
  const list = resolvConfList(readFileOrPanic(RESOLV_CONF), 'nameserver');
  if (!list) panic('Could not find DNS search list!');
  process.stdout.write(`${list.join(',')}\n`);
}

export function runEtcHosts(_v: FlagValues): void {
  process.stdout.write(`${readFileOrPanic('/etc/hosts')}\n`);
}

// ---------------- entrypoint-tester ----------------

/** Prints os.Args as Go's %v does: "[/agnhost entrypoint-tester a b]". */
export function runEntrypointTester(_v: FlagValues, _args: string[], rawArgv: string[]): void {
  const argv0 = process.env[ARGV0_ENV] || '/agnhost';
  process.stdout.write(`[${[argv0, ...rawArgv].join(' ')}]\n`, () => process.exit(0));
}

// ---------------- connect ----------------

export const connectFlags: FlagDef[] = [
  { name: 'protocol', type: 'string', def: 'tcp', usage: 'The protocol to use to perform the connection, can be tcp, udp or sctp' },
  { name: 'sctp-data', type: 'string', def: 'hostname', usage: 'The SCTP payload send to the server' },
  { name: 'timeout', type: 'duration', def: 0, usage: 'Maximum time before returning an error' },
  { name: 'udp-data', type: 'string', def: 'hostname', usage: 'The UDP payload send to the server' },
];

function fail(msg: string): never {
  process.stderr.write(`${msg}\n`);
  process.exit(1);
}

/** Go's net.SplitHostPort. */
export function splitHostPort(dest: string): { host: string; port: string } {
  const missing = () => new Error(`address ${dest}: missing port in address`);
  if (dest.startsWith('[')) {
    const end = dest.indexOf(']');
    if (end < 0) throw new Error(`address ${dest}: missing ']' in address`);
    if (end + 1 === dest.length) throw missing();
    if (dest[end + 1] !== ':') throw new Error(`address ${dest}: missing port in address`);
    return { host: dest.slice(1, end), port: dest.slice(end + 2) };
  }
  const i = dest.lastIndexOf(':');
  if (i < 0) throw missing();
  const host = dest.slice(0, i);
  if (host.includes(':')) throw new Error(`address ${dest}: too many colons in address`);
  return { host, port: dest.slice(i + 1) };
}

async function resolve(proto: string, dest: string): Promise<{ ip: string; port: number }> {
  const { host, port } = splitHostPort(dest);
  let p = 0;
  if (port !== '') {
    if (!/^\d+$/.test(port)) throw new Error(`lookup ${proto}/${port}: unknown port`);
    p = Number(port);
    if (p > 65535) throw new Error(`address ${port}: invalid port`);
  }
  if (host === '') return { ip: '127.0.0.1', port: p };
  if (net.isIP(host)) return { ip: host, port: p };
  try {
    const all = await dns.lookup(host, { all: true });
    const pick = all.find((a) => a.family === 4) ?? all[0];
    if (!pick) throw new Error('no such host');
    return { ip: pick.address, port: p };
  } catch {
    throw new Error(`lookup ${host}: no such host`);
  }
}

async function connectTCP(dest: string, timeoutMs: number): Promise<never> {
  try {
    splitHostPort(dest);
  } catch (e) {
    fail(`UNKNOWN: ${(e as Error).message}`);
  }
  let addr: { ip: string; port: number };
  try {
    addr = await resolve('tcp', dest);
  } catch (e) {
    fail(`DNS: ${(e as Error).message}`);
  }
  return new Promise<never>(() => {
    const sock = net.connect({ host: addr.ip, port: addr.port });
    let timer: NodeJS.Timeout | undefined;
    if (timeoutMs > 0) timer = setTimeout(() => fail('TIMEOUT'), timeoutMs);
    sock.on('connect', () => {
      if (timer) clearTimeout(timer);
      sock.destroy();
      process.exit(0);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      if (e.code === 'ECONNREFUSED') fail('REFUSED');
      if (e.code === 'ETIMEDOUT') fail('TIMEOUT');
      fail(`OTHER: dial tcp ${hostPort(addr.ip, addr.port)}: connect: ${errnoText(e.code, e.message)}`);
    });
  });
}

async function connectUDP(dest: string, timeoutMs: number, data: string): Promise<never> {
  let addr: { ip: string; port: number };
  try {
    addr = await resolve('udp', dest);
  } catch (e) {
    fail(`DNS: ${(e as Error).message}`);
  }
  return new Promise<never>(() => {
    const sock = dgram.createSocket(net.isIPv6(addr.ip) ? 'udp6' : 'udp4');
    const remote = hostPort(addr.ip, addr.port);
    let local = '';
    if (timeoutMs > 0) setTimeout(() => fail(`TIMEOUT: read udp ${local}->${remote}: i/o timeout`), timeoutMs);
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (local === '') fail(`OTHER: dial udp ${remote}: ${errnoText(e.code, e.message)}`);
      const text = `read udp ${local}->${remote}: read: ${errnoText(e.code, e.message)}`;
      if (e.code === 'ECONNREFUSED') fail(`REFUSED: ${text}`);
      fail(`UNKNOWN: ${text}`);
    });
    sock.on('message', (m: Buffer) => {
      if (m.length === 0) fail('OTHER: No data received from the server. Cannot guarantee the server received the request.');
      process.exit(0);
    });
    sock.connect(addr.port, addr.ip, () => {
      const a = sock.address();
      local = hostPort(a.address, a.port);
      sock.send(Buffer.from(`${data}\n`));
    });
  });
}

export async function runConnect(v: FlagValues, args: string[]): Promise<void> {
  const dest = args[0];
  const protocol = v.protocol as string;
  const timeout = v.timeout as number;
  switch (protocol) {
    case '':
    case 'tcp':
      await connectTCP(dest, timeout);
      break;
    case 'udp':
      await connectUDP(dest, timeout, v['udp-data'] as string);
      break;
    case 'sctp':
      try {
        await resolve('sctp', dest);
      } catch (e) {
        fail(`DNS: ${(e as Error).message}`);
      }
      fail('OTHER: socket: protocol not supported (SCTP is not supported by podnet)');
      break;
    default:
      process.stderr.write(`Unsupported protocol\n${protocol}`);
      process.exit(1);
  }
}

// ---------------- logs-generator ----------------

export const logsGeneratorFlags: FlagDef[] = [
  { name: 'log-lines-total', short: 't', type: 'int', def: 0, usage: 'Total lines that should be generated by the end of the run' },
  { name: 'run-duration', short: 'd', type: 'duration', def: 0, usage: 'Total duration of the run' },
];

const METHODS = ['GET', 'POST', 'PUT'];
const NAMESPACES = ['kube-system', 'default', 'ns'];
const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

const rnd = (n: number) => Math.floor(Math.random() * n);

export function generateLogLine(id: number): string {
  const method = METHODS[rnd(METHODS.length)];
  const namespace = NAMESPACES[rnd(NAMESPACES.length)];
  let podName = '';
  const len = 3 + rnd(2);
  for (let i = 0; i < len; i++) podName += ALPHANUMS[rnd(ALPHANUMS.length)];
  const status = 200 + rnd(400);
  return `${id} ${method} /api/v1/namespaces/${namespace}/pods/${podName} ${status}`;
}

export async function runLogsGenerator(v: FlagValues): Promise<void> {
  const linesTotal = v['log-lines-total'] as number;
  const duration = v['run-duration'] as number;
  const fatalf = (msg: string): never => {
    process.stderr.write(klogLine('F', 'logs_generator.go:63', msg));
    process.exit(255);
  };
  if (linesTotal <= 0) fatalf(`Invalid total number of lines: ${linesTotal}`);
  if (duration <= 0) fatalf(`Invalid duration: ${formatGoDuration(duration)}`);
  const delay = duration / linesTotal;
  const start = Date.now();
  for (let id = 0; id < linesTotal; id++) {
    process.stderr.write(klogLine('I', 'logs_generator.go:67', generateLogLine(id)));
    // a ticker: the (id+1)-th tick is at start + (id+1)*delay
    const wait = start + (id + 1) * delay - Date.now();
    await new Promise((r) => setTimeout(r, Math.max(0, wait)));
  }
}
