// The node agent's pure parts: names, DNS files, container command and environment resolution,
// restart back-off, CRI log lines and pod status computation. No I/O here (STYLE.md item 1):
// the runtime (runtime.ts) and the pod workers (index.ts) feed these what they observe.

import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { agnhostCommand, isAgnhostImage, resolveAgnhostContainer, HOSTNAME_ENV } from './agnhost/index.js';

// ---- the pod as the agent sees it (converted once, at the informer: STYLE.md item 7) ---------

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    resourceFieldRef?: { resource: string };
  };
}

export interface ContainerPort { containerPort: number; protocol?: string; name?: string }

export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  ports?: ContainerPort[];
  readinessProbe?: unknown;
  livenessProbe?: unknown;
  startupProbe?: unknown;
  restartPolicy?: string;
  /** Limits and requests of memory and CPU: the container's cgroup settings. */
  resources?: { limits?: Record<string, unknown>; requests?: Record<string, unknown> };
}

export interface DnsConfig { nameservers?: string[]; searches?: string[]; options?: { name: string; value?: string }[] }

export interface PodInfo {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  nodeName: string;
  hostname?: string;
  subdomain?: string;
  hostNetwork: boolean;
  dnsPolicy: string;
  dnsConfig?: DnsConfig;
  hostAliases: { ip: string; hostnames?: string[] }[];
  restartPolicy: 'Always' | 'OnFailure' | 'Never';
  terminationGracePeriodSeconds: number;
  serviceAccountName: string;
  enableServiceLinks: boolean;
  initContainers: Container[];
  containers: Container[];
  readinessGates: string[];
  /** What the API currently says (phase, conditions, container statuses, podIPs, startTime). */
  status: ApiPodStatus;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- API JSON is read loosely here, once
type J = Record<string, any>;
const obj = (v: unknown): J => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as J) : {});
const arr = (v: unknown): J[] => (Array.isArray(v) ? (v as J[]) : []);

/** Strip a Pod to what the agent reads. */
export function toPodInfo(p: J): PodInfo {
  const m = obj(p.metadata);
  const s = obj(p.spec);
  const rp = s.restartPolicy === 'OnFailure' || s.restartPolicy === 'Never' ? s.restartPolicy : 'Always';
  const cont = (c: J): Container => ({
    name: String(c.name ?? ''), image: String(c.image ?? ''),
    command: Array.isArray(c.command) ? c.command.map(String) : undefined,
    args: Array.isArray(c.args) ? c.args.map(String) : undefined,
    workingDir: typeof c.workingDir === 'string' && c.workingDir ? c.workingDir : undefined,
    env: arr(c.env) as EnvVar[],
    envFrom: arr(c.envFrom) as EnvFromSource[],
    ports: arr(c.ports) as ContainerPort[],
    readinessProbe: c.readinessProbe,
    livenessProbe: c.livenessProbe,
    startupProbe: c.startupProbe,
    restartPolicy: typeof c.restartPolicy === 'string' ? c.restartPolicy : undefined,
    resources: { limits: { ...obj(obj(c.resources).limits) }, requests: { ...obj(obj(c.resources).requests) } },
  });
  const g = s.terminationGracePeriodSeconds;
  return {
    namespace: String(m.namespace ?? ''), name: String(m.name ?? ''), uid: String(m.uid ?? ''),
    resourceVersion: m.resourceVersion,
    deletionTimestamp: m.deletionTimestamp ?? undefined,
    deletionGracePeriodSeconds: typeof m.deletionGracePeriodSeconds === 'number' ? m.deletionGracePeriodSeconds : undefined,
    labels: { ...obj(m.labels) }, annotations: { ...obj(m.annotations) },
    nodeName: String(s.nodeName ?? ''),
    hostname: s.hostname || undefined, subdomain: s.subdomain || undefined,
    hostNetwork: s.hostNetwork === true,
    dnsPolicy: String(s.dnsPolicy ?? 'ClusterFirst'),
    dnsConfig: s.dnsConfig ? (obj(s.dnsConfig) as DnsConfig) : undefined,
    hostAliases: arr(s.hostAliases) as PodInfo['hostAliases'],
    restartPolicy: rp,
    terminationGracePeriodSeconds: typeof g === 'number' ? g : 30,
    serviceAccountName: String(s.serviceAccountName ?? 'default'),
    enableServiceLinks: s.enableServiceLinks !== false,
    initContainers: arr(s.initContainers).map(cont),
    containers: arr(s.containers).map(cont),
    readinessGates: arr(s.readinessGates).map((r) => String(r.conditionType ?? '')),
    status: toApiStatus(obj(p.status)),
  };
}

export interface ApiPodStatus {
  phase?: string;
  podIPs: string[];
  startTime?: string;
  conditions: PodCondition[];
  containerStatuses: J[];
  initContainerStatuses: J[];
}

function toApiStatus(st: J): ApiPodStatus {
  return {
    phase: st.phase,
    podIPs: arr(st.podIPs).map((x) => String(x.ip ?? '')).filter(Boolean),
    startTime: st.startTime,
    conditions: arr(st.conditions) as PodCondition[],
    containerStatuses: arr(st.containerStatuses),
    initContainerStatuses: arr(st.initContainerStatuses),
  };
}

// ---- names ----------------------------------------------------------------------------------

/** The pod's sandbox netns: `<clusterName>-<8 hex of sha256(ns/name/uid)>`. */
export function sandboxName(clusterName: string, pod: { namespace: string; name: string; uid: string }): string {
  const h = createHash('sha256').update(`${pod.namespace}/${pod.name}/${pod.uid}`).digest('hex');
  return `${clusterName}-${h.slice(0, 8)}`;
}

/** The node's pod bridge: `<clusterName>-br`, shortened with a hash when that exceeds 15 chars. */
export function bridgeName(clusterName: string): string {
  const n = `${clusterName}-br`;
  if (n.length <= 15) return n;
  const h = createHash('sha256').update(clusterName).digest('hex').slice(0, 4);
  return `${clusterName.slice(0, 8)}-${h}br`;
}

/** The pod's directory under the state dir (kubelet's /var/log/pods layout). */
export function podDirName(pod: { namespace: string; name: string; uid: string }): string {
  return `${pod.namespace}_${pod.name}_${pod.uid}`;
}

/** The pod's hostname: spec.hostname, else the pod name (at most 63 chars, no trailing '-' or '.'). */
export function podHostname(pod: Pick<PodInfo, 'name' | 'hostname'>): string {
  if (pod.hostname) return pod.hostname;
  return pod.name.length > 63 ? pod.name.slice(0, 63).replace(/[-.]+$/, '') : pod.name;
}

// ---- DNS files ------------------------------------------------------------------------------

export interface ResolvConf { nameservers: string[]; searches: string[]; options: string[] }

/** Parse a resolv.conf (the node's, for dnsPolicy Default). */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (!line) continue;
    const [k, ...rest] = line.split(/\s+/);
    if (k === 'nameserver' && rest[0]) out.nameservers.push(rest[0]);
    else if (k === 'search' || k === 'domain') out.searches = [...rest];
    else if (k === 'options') out.options.push(...rest);
  }
  return out;
}

const MAX_NAMESERVERS = 3;
const MAX_SEARCHES = 32;

function mergeOptions(base: string[], extra: { name: string; value?: string }[]): string[] {
  const m = new Map<string, string>();
  for (const o of base) m.set(o.split(':')[0]!, o);
  for (const o of extra) m.set(o.name, o.value !== undefined && o.value !== '' ? `${o.name}:${o.value}` : o.name);
  return [...m.values()];
}

const uniq = (xs: string[]) => [...new Set(xs.filter(Boolean))];

/**
 * The pod's resolv.conf, as kubelet builds it for each dnsPolicy. `node` is the node's own
 * resolv.conf. ClusterFirst without a cluster DNS address falls back to Default (as kubelet
 * does); ClusterFirst with hostNetwork means Default, ClusterFirstWithHostNet means ClusterFirst.
 */
export function podResolvConf(pod: Pick<PodInfo, 'namespace' | 'dnsPolicy' | 'dnsConfig' | 'hostNetwork'>, node: ResolvConf,
  cluster: { clusterDNS?: string; clusterDomain: string }): ResolvConf {
  let policy = pod.dnsPolicy || 'ClusterFirst';
  if (policy === 'ClusterFirst' && pod.hostNetwork) policy = 'Default';
  if (policy === 'ClusterFirstWithHostNet') policy = 'ClusterFirst';
  if (policy === 'ClusterFirst' && !cluster.clusterDNS) policy = 'Default';
  let r: ResolvConf;
  if (policy === 'None') r = { nameservers: [], searches: [], options: [] };
  else if (policy === 'Default') r = { nameservers: [...node.nameservers], searches: [...node.searches], options: [...node.options] };
  else {
    const d = cluster.clusterDomain;
    r = {
      nameservers: [cluster.clusterDNS!],
      searches: [`${pod.namespace}.svc.${d}`, `svc.${d}`, d, ...node.searches],
      options: ['ndots:5'],
    };
  }
  const dc = pod.dnsConfig;
  if (dc) {
    r.nameservers = [...r.nameservers, ...(dc.nameservers ?? [])];
    r.searches = [...r.searches, ...(dc.searches ?? [])];
    r.options = mergeOptions(r.options, dc.options ?? []);
  }
  return { nameservers: uniq(r.nameservers).slice(0, MAX_NAMESERVERS), searches: uniq(r.searches).slice(0, MAX_SEARCHES), options: r.options };
}

export function renderResolvConf(r: ResolvConf): string {
  const lines: string[] = [];
  if (r.searches.length) lines.push(`search ${r.searches.join(' ')}`);
  for (const n of r.nameservers) lines.push(`nameserver ${n}`);
  if (r.options.length) lines.push(`options ${r.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** The pod's /etc/hosts (kubelet's managed hosts file): localhost, the pod's own names, hostAliases. */
export function renderHosts(pod: Pick<PodInfo, 'name' | 'hostname' | 'subdomain' | 'namespace' | 'hostAliases'>, podIPs: string[],
  clusterDomain: string): string {
  const host = podHostname(pod);
  const lines = [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
  ];
  const names = pod.subdomain ? `${host}.${pod.subdomain}.${pod.namespace}.svc.${clusterDomain}\t${host}` : host;
  for (const ip of podIPs) lines.push(`${ip}\t${names}`);
  if (pod.hostAliases.length) {
    lines.push('', '# Entries added by HostAliases.');
    for (const a of pod.hostAliases) lines.push(`${a.ip}\t${(a.hostnames ?? []).join('\t')}`);
  }
  return lines.join('\n') + '\n';
}

// ---- environment and command ----------------------------------------------------------------

/** What fieldRef / configMap / secret lookups can see. */
export interface EnvSources {
  podIPs: string[];
  hostIPs: string[];
  configMap?: (name: string) => Record<string, string> | undefined;
  secret?: (name: string) => Record<string, string> | undefined;
  /** Docker-link style variables of the Services the pod sees (serviceEnv), added first. */
  services?: Record<string, string>;
}

export interface ServiceLink { name: string; clusterIP: string; ports: { name?: string; port: number; protocol?: string }[] }

/**
 * The Docker-link style variables kubelet gives every container for each Service with a
 * cluster IP: FOO_SERVICE_HOST, FOO_SERVICE_PORT[_<PORTNAME>], FOO_PORT, FOO_PORT_<p>_<PROTO>[_PROTO|_PORT|_ADDR].
 */
export function serviceEnv(services: ServiceLink[]): Record<string, string> {
  const env: Record<string, string> = {};
  const up = (s: string) => s.toUpperCase().replace(/-/g, '_');
  for (const svc of [...services].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!svc.clusterIP || svc.clusterIP === 'None' || !svc.ports.length) continue;
    const n = up(svc.name);
    const host = svc.clusterIP;
    const url = (p: ServiceLink['ports'][number]) => `${(p.protocol ?? 'TCP').toLowerCase()}://${host.includes(':') ? `[${host}]` : host}:${p.port}`;
    env[`${n}_SERVICE_HOST`] = host;
    env[`${n}_SERVICE_PORT`] = String(svc.ports[0]!.port);
    for (const p of svc.ports) if (p.name) env[`${n}_SERVICE_PORT_${up(p.name)}`] = String(p.port);
    env[`${n}_PORT`] = url(svc.ports[0]!);
    for (const p of svc.ports) {
      const proto = (p.protocol ?? 'TCP').toUpperCase();
      const pre = `${n}_PORT_${p.port}_${proto}`;
      env[pre] = url(p);
      env[`${pre}_PROTO`] = proto.toLowerCase();
      env[`${pre}_PORT`] = String(p.port);
      env[`${pre}_ADDR`] = host;
    }
  }
  return env;
}

export class ContainerConfigError extends Error {}

/** A fieldRef value (the downward API fields kubelet resolves for env). */
export function fieldRefValue(pod: PodInfo, path: string, src: EnvSources): string {
  const sel = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (sel) return (sel[1] === 'labels' ? pod.labels : pod.annotations)[sel[2]!] ?? '';
  switch (path) {
    case 'metadata.name': return pod.name;
    case 'metadata.namespace': return pod.namespace;
    case 'metadata.uid': return pod.uid;
    case 'spec.nodeName': return pod.nodeName;
    case 'spec.serviceAccountName': return pod.serviceAccountName;
    case 'status.podIP': return src.podIPs[0] ?? '';
    case 'status.podIPs': return src.podIPs.join(',');
    case 'status.hostIP': return src.hostIPs[0] ?? '';
    case 'status.hostIPs': return src.hostIPs.join(',');
    default: throw new ContainerConfigError(`unsupported fieldRef ${JSON.stringify(path)}`);
  }
}

/** Kubernetes' $(VAR) expansion: $$ escapes, unknown references stay as written. */
export function expandVars(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && Object.prototype.hasOwnProperty.call(env, name) ? env[name]! : m;
  });
}

/** The container's declared environment, in order, with $(VAR) expansion. Throws ContainerConfigError. */
export function containerEnv(pod: PodInfo, c: Container, src: EnvSources): Record<string, string> {
  const env: Record<string, string> = { ...(pod.enableServiceLinks ? src.services : {}) };
  for (const f of c.envFrom ?? []) {
    const ref = f.configMapRef ?? f.secretRef;
    if (!ref) continue;
    const data = f.configMapRef ? src.configMap?.(ref.name) : src.secret?.(ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${f.configMapRef ? 'configmap' : 'secret'} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) env[`${f.prefix ?? ''}${k}`] = v;
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined || !e.valueFrom) { env[e.name] = expandVars(e.value ?? '', env); continue; }
    const vf = e.valueFrom;
    if (vf.fieldRef) env[e.name] = fieldRefValue(pod, vf.fieldRef.fieldPath, src);
    else if (vf.configMapKeyRef || vf.secretKeyRef) {
      const ref = (vf.configMapKeyRef ?? vf.secretKeyRef)!;
      const kind = vf.configMapKeyRef ? 'configmap' : 'secret';
      const data = vf.configMapKeyRef ? src.configMap?.(ref.name) : src.secret?.(ref.name);
      const v = data?.[ref.key];
      if (v === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(data ? `couldn't find key ${ref.key} in ${kind === 'configmap' ? 'ConfigMap' : 'Secret'} ${pod.namespace}/${ref.name}` : `${kind} "${ref.name}" not found`);
      }
      env[e.name] = v;
    } else if (vf.resourceFieldRef) {
      env[e.name] = '0';
    }
  }
  return env;
}

export type ResolvedCommand =
  | { kind: 'agnhost' | 'podnet' | 'host'; command: string; args: string[]; env: Record<string, string>; imageID: string }
  | { kind: 'error'; reason: 'ErrImagePull' | 'StartError'; message: string };

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** podnet's own image: ENTRYPOINT ["podnet"], this podnet's CLI (what `podnet up` runs the cluster DNS with). */
export const PODNET_IMAGE = 'podnet.io/podnet';
const PODNET_IMAGE_RE = /^podnet\.io\/podnet(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z0-9:]+)?$/;
export const isPodnetImage = (image: string): boolean => PODNET_IMAGE_RE.test(image.trim());
/** The CLI entry point of this build (dist layout: src/agent → src/cli/main.js). */
const podnetMainPath = (): string => fileURLToPath(new URL('../cli/main.js', import.meta.url));

/**
 * What to run for a container. The built-in agnhost image runs podnet's agnhost; any other
 * image (and agnhost with a non-agnhost command, e.g. /bin/sh) runs `command` + `args` as given
 * on the host. A container without a command, of an image podnet cannot run, fails with
 * ErrImagePull; a command that is not on the host fails to start (StartError, exit code 128).
 * `which` resolves a program name in PATH (undefined when absent). `env` is already expanded.
 */
export function resolveContainerCommand(c: Container, env: Record<string, string>,
  which: (cmd: string, path: string) => string | undefined): ResolvedCommand {
  const command = c.command?.map((a) => expandVars(a, env));
  const args = c.args?.map((a) => expandVars(a, env));
  if (isAgnhostImage(c.image)) {
    const r = resolveAgnhostContainer(command, args);
    if (r) {
      const a = agnhostCommand(r.args, { argv0: r.argv0 });
      return { kind: 'agnhost', command: a.command, args: a.args, env: a.env, imageID: `podnet://builtin/agnhost` };
    }
  }
  if (isPodnetImage(c.image) && (!command?.length || command[0]!.split('/').pop() === 'podnet')) {
    // ENTRYPOINT ["podnet"]: the arguments are a podnet command line (e.g. `dns …`).
    return {
      // a small V8 young generation, as for the node daemons: these are long-running servers
      kind: 'podnet', command: process.execPath, args: ['--max-semi-space-size=2', podnetMainPath(), ...(command?.slice(1) ?? []), ...(args ?? [])],
      env: {}, imageID: 'podnet://builtin/podnet',
    };
  }
  if (!command || command.length === 0) {
    return {
      kind: 'error', reason: 'ErrImagePull',
      message: `podnet cannot pull or run image "${c.image}": only the agnhost test image and ${PODNET_IMAGE} are built in; give the container a command that exists on the node`,
    };
  }
  const argv = [...command, ...(args ?? [])];
  const exe = which(argv[0]!, env.PATH ?? DEFAULT_PATH);
  if (!exe) {
    return {
      kind: 'error', reason: 'StartError',
      message: `failed to create containerd task: exec: "${argv[0]}": executable file not found in $PATH`,
    };
  }
  return { kind: 'host', command: exe, args: argv.slice(1), env: {}, imageID: `podnet://host${exe}` };
}

/** The final environment of the process (PATH, HOSTNAME and PODNET_HOSTNAME first; the spec's win). */
export function processEnv(hostname: string, declared: Record<string, string>, extra: Record<string, string>): Record<string, string> {
  return { PATH: DEFAULT_PATH, HOSTNAME: hostname, [HOSTNAME_ENV]: hostname, ...extra, ...declared };
}

// ---- restart back-off -----------------------------------------------------------------------

export const BACKOFF_BASE_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
/** A container that ran this long without failing starts its back-off afresh. */
export const BACKOFF_RESET_MS = 600_000;

/**
 * Delay before restart number `restarts + 1`, kubelet style: the first restart is immediate,
 * then base, 2·base, 4·base, … up to max.
 */
export function backoffDelayMs(restartsInWindow: number, base = BACKOFF_BASE_MS, max = BACKOFF_MAX_MS): number {
  if (restartsInWindow <= 0) return 0;
  return Math.min(max, base * 2 ** Math.min(restartsInWindow - 1, 30));
}

/** Whether a container that exited with `exitCode` is restarted under `policy`. */
export function shouldRestart(policy: PodInfo['restartPolicy'], exitCode: number): boolean {
  return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
}

// ---- CRI log lines --------------------------------------------------------------------------

/** Go's time.RFC3339Nano of `ms` (+ extra nanoseconds): fraction trimmed of trailing zeros. */
export function rfc3339Nano(ms: number, extraNs = 0): string {
  const iso = new Date(ms).toISOString(); // 2006-01-02T15:04:05.000Z
  const frac = (iso.slice(20, 23) + String(extraNs % 1_000_000).padStart(6, '0')).replace(/0+$/, '');
  return `${iso.slice(0, 19)}${frac ? `.${frac}` : ''}Z`;
}

/** One CRI log line: `<time> <stream> <F|P> <text>\n`. */
export function criLogLine(time: string, stream: 'stdout' | 'stderr', text: string, partial = false): string {
  return `${time} ${stream} ${partial ? 'P' : 'F'} ${text}\n`;
}

/** Parses a CRI log line (for tests and the logs API). */
export function parseCriLogLine(line: string): { time: string; stream: string; partial: boolean; text: string } | undefined {
  const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/.exec(line);
  return m ? { time: m[1]!, stream: m[2]!, partial: m[3] === 'P', text: m[4]! } : undefined;
}

// ---- status ---------------------------------------------------------------------------------

export interface PodCondition { type: string; status: 'True' | 'False' | 'Unknown'; reason?: string; message?: string; lastProbeTime?: string | null; lastTransitionTime?: string }

export type ContainerState =
  | { running: { startedAt: string } }
  | { waiting: { reason: string; message?: string } }
  | { terminated: { exitCode: number; signal?: number; reason: string; message?: string; startedAt: string; finishedAt: string; containerID?: string } };

/** What the runtime knows about one container. */
export interface ContainerRuntimeStatus {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  state: ContainerState;
  lastState?: ContainerState;
  restartCount: number;
  ready: boolean;
  started: boolean;
}

export interface StatusInput {
  pod: Pick<PodInfo, 'restartPolicy' | 'initContainers' | 'containers' | 'readinessGates' | 'status' | 'deletionTimestamp'>;
  sandboxReady: boolean;
  podIPs: string[];
  hostIPs: string[];
  startTime: string;
  init: ContainerRuntimeStatus[];
  containers: ContainerRuntimeStatus[];
  now: string;
}

const isTerminated = (s: ContainerState): s is Extract<ContainerState, { terminated: unknown }> => 'terminated' in s;
const isRunning = (s: ContainerState): s is Extract<ContainerState, { running: unknown }> => 'running' in s;

/** kubelet's getPhase over the runtime's container statuses. */
export function podPhase(input: Pick<StatusInput, 'pod' | 'init' | 'containers'>): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  const { pod } = input;
  if (pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed') return pod.status.phase;
  // init containers
  for (const c of pod.initContainers) {
    const s = input.init.find((x) => x.name === c.name);
    if (!s) return 'Pending';
    if (isTerminated(s.state) && s.state.terminated.exitCode === 0) continue;
    if (isTerminated(s.state) && pod.restartPolicy === 'Never') return 'Failed';
    if (!isTerminated(s.state) && s.lastState && isTerminated(s.lastState) && pod.restartPolicy === 'Never') return 'Failed';
    return 'Pending';
  }
  let running = 0, waiting = 0, stopped = 0, succeeded = 0;
  for (const c of pod.containers) {
    const s = input.containers.find((x) => x.name === c.name);
    if (!s) { waiting++; continue; }
    if (isRunning(s.state)) running++;
    else if (isTerminated(s.state)) { stopped++; if (s.state.terminated.exitCode === 0) succeeded++; }
    else if (s.lastState && isTerminated(s.lastState)) stopped++; // waiting to restart
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (pod.restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (pod.restartPolicy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

function cond(type: string, ok: boolean, reason?: string, message?: string): PodCondition {
  return ok ? { type, status: 'True' } : { type, status: 'False', ...(reason ? { reason } : {}), ...(message ? { message } : {}) };
}

/** The pod's status as the agent reports it through /status. */
export function computePodStatus(input: StatusInput): J {
  const { pod } = input;
  const phase = podPhase(input);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const initNotDone = pod.initContainers.filter((c) => {
    const s = input.init.find((x) => x.name === c.name);
    return !s || !(isTerminated(s.state) && s.state.terminated.exitCode === 0);
  }).map((c) => c.name);
  const unready = pod.containers.filter((c) => !input.containers.find((x) => x.name === c.name)?.ready).map((c) => c.name);
  const list = (xs: string[]) => `[${xs.join(' ')}]`;
  const conditions: PodCondition[] = [
    cond('PodReadyToStartContainers', input.sandboxReady),
    initNotDone.length === 0 || phase === 'Succeeded'
      ? cond('Initialized', true)
      : cond('Initialized', false, 'ContainersNotInitialized', `containers with incomplete status: ${list(initNotDone)}`),
  ];
  let containersReady: PodCondition;
  if (terminal) containersReady = cond('ContainersReady', false, 'PodCompleted');
  else if (unready.length) containersReady = cond('ContainersReady', false, 'ContainersNotReady', `containers with unready status: ${list(unready)}`);
  else containersReady = cond('ContainersReady', true);
  const missingGates = pod.readinessGates.filter((g) => !pod.status.conditions.some((c) => c.type === g && c.status === 'True'));
  let ready: PodCondition;
  if (containersReady.status !== 'True') ready = { ...containersReady, type: 'Ready' };
  else if (missingGates.length) ready = cond('Ready', false, 'ReadinessGatesNotReady', `corresponding condition of pod readiness gate "${missingGates[0]}" does not exist.`);
  else ready = cond('Ready', true);
  conditions.push(containersReady, ready);
  // The pod is bound to this node, so it is scheduled, whatever the copy at hand says (kubelet
  // sets PodScheduled=True too). Copying the condition made the agent write back a stale
  // False/Unschedulable (from before the binding) over the scheduler's True, and then each
  // side's echo the other's, several hundred times at `podnet up` for the DNS pods.
  conditions.push({ type: 'PodScheduled', status: 'True' });
  // keep lastTransitionTime when the status did not change
  for (const c of conditions) {
    const old = pod.status.conditions.find((x) => x.type === c.type);
    c.lastProbeTime = null;
    c.lastTransitionTime = old && old.status === c.status && old.lastTransitionTime ? old.lastTransitionTime : input.now;
  }
  // readiness gates' own conditions (set by others) are kept as they are
  for (const c of pod.status.conditions) if (!conditions.some((x) => x.type === c.type)) conditions.push(c);
  const toApi = (s: ContainerRuntimeStatus): J => ({
    name: s.name, image: s.image, imageID: s.imageID, ...(s.containerID ? { containerID: s.containerID } : {}),
    state: s.state, lastState: s.lastState ?? {}, ready: s.ready, restartCount: s.restartCount, started: s.started,
  });
  const st: J = {
    phase,
    conditions,
    hostIP: input.hostIPs[0], hostIPs: input.hostIPs.map((ip) => ({ ip })),
    startTime: input.startTime,
    containerStatuses: pod.containers.map((c) => toApi(input.containers.find((x) => x.name === c.name) ??
      waitingStatus(c, initNotDone.length && phase !== 'Succeeded' ? 'PodInitializing' : 'ContainerCreating'))),
  };
  if (input.podIPs.length) { st.podIP = input.podIPs[0]; st.podIPs = input.podIPs.map((ip) => ({ ip })); }
  if (pod.initContainers.length) {
    st.initContainerStatuses = pod.initContainers.map((c) => toApi(input.init.find((x) => x.name === c.name) ?? waitingStatus(c, 'PodInitializing')));
  }
  if (!input.hostIPs.length) { delete st.hostIP; delete st.hostIPs; }
  return st;
}

/** A container that has not started yet. */
export function waitingStatus(c: Pick<Container, 'name' | 'image'>, reason: string, message?: string): ContainerRuntimeStatus {
  return { name: c.name, image: c.image, imageID: '', state: { waiting: { reason, ...(message ? { message } : {}) } }, restartCount: 0, ready: false, started: false };
}

/** Status equality for deciding whether to write: ignores nothing but key order. */
export function sameStatus(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).filter((k) => (v as J)[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${stableJson((v as J)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The time format of status timestamps (RFC 3339, seconds). */
export function apiTime(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}
