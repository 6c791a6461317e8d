// Loading a client configuration: a kubeconfig file (clusters / users / contexts, as
// clientcmd reads it) or the in-cluster service-account configuration. The result is a small
// flat ClientConfig with PEM material inlined, which is all ApiClient needs.
//
// Deliberately parsed here rather than with @kubernetes/client-node: importing that package
// costs ~700 ms, which every CLI command would pay. A kubeconfig is read as JSON first (JSON is
// YAML, and kubectl reads JSON kubeconfigs); the `yaml` package is loaded only for a file that
// is not JSON, because loading it costs every client process ~8 MB of resident memory — the
// in-cluster kubeconfig podnet writes for its own pods (cluster DNS) is JSON for that reason.

import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';

export interface ClientConfig {
  /** Base URL of the API server, e.g. `https://127.0.0.1:6443`. No trailing slash. */
  server: string;
  /** PEM CA bundle used to verify the server (added to, not replacing, nothing else). */
  ca?: string;
  /** Bearer token. */
  token?: string;
  /** File to (re)read the bearer token from; bound service-account tokens rotate. */
  tokenFile?: string;
  /** PEM client certificate and key. */
  cert?: string;
  key?: string;
  /** insecure-skip-tls-verify. */
  insecure?: boolean;
  /** tls-server-name: the name to verify the server certificate against (SNI too). */
  tlsServerName?: string;
  /** Basic auth (legacy kubeconfigs). */
  username?: string;
  password?: string;
  /** Default namespace of the selected context (or of the service account, in-cluster). */
  namespace?: string;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** True when the process looks like it runs in a pod (env vars and token file present). */
export function isInCluster(saDir = SA_DIR): boolean {
  return !!process.env.KUBERNETES_SERVICE_HOST && !!process.env.KUBERNETES_SERVICE_PORT &&
    existsSync(join(saDir, 'token'));
}

/** rest.InClusterConfig: service-account token + CA, server from KUBERNETES_SERVICE_HOST/PORT. */
export function loadInClusterConfig(saDir = SA_DIR): ClientConfig {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new Error('unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined');
  }
  const tokenFile = join(saDir, 'token');
  const cfg: ClientConfig = {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    token: readFileSync(tokenFile, 'utf8').trim(),
    tokenFile,
  };
  const caFile = join(saDir, 'ca.crt');
  if (existsSync(caFile)) cfg.ca = readFileSync(caFile, 'utf8');
  const nsFile = join(saDir, 'namespace');
  if (existsSync(nsFile)) cfg.namespace = readFileSync(nsFile, 'utf8').trim();
  return cfg;
}

interface Named<T> { name: string; [k: string]: unknown; cluster?: T; user?: T; context?: T }
interface RawCluster {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'tls-server-name'?: string;
}
interface RawExec { command?: string; args?: string[]; env?: { name: string; value: string }[] | null; apiVersion?: string }
interface RawUser {
  token?: string;
  tokenFile?: string;
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  username?: string;
  password?: string;
  exec?: RawExec;
  'auth-provider'?: unknown;
}
interface RawContext { cluster?: string; user?: string; namespace?: string }
interface RawKubeconfig {
  'current-context'?: string;
  clusters?: Named<RawCluster>[] | null;
  users?: Named<RawUser>[] | null;
  contexts?: Named<RawContext>[] | null;
}

/** One parsed file plus the directory its relative paths resolve against. */
interface Loaded { file: string; dir: string; doc: RawKubeconfig }

function defaultPaths(): string[] {
  const env = process.env.KUBECONFIG;
  if (env) return env.split(process.platform === 'win32' ? ';' : ':').filter(Boolean);
  return [join(homedir(), '.kube', 'config')];
}

type ParseYaml = (text: string) => unknown;
let parseYamlFn: ParseYaml | undefined;
/** `yaml`'s parse, loaded on first use (synchronously: loadKubeconfig is synchronous). */
function parseYaml(text: string): unknown {
  parseYamlFn ??= (createRequire(import.meta.url)('yaml') as { parse: ParseYaml }).parse;
  return parseYamlFn(text);
}

/** A kubeconfig's text as an object: JSON when it parses as JSON, YAML otherwise. */
function parseKubeconfigText(text: string): unknown {
  // Only a text that starts like a JSON object is tried as JSON (YAML flow mappings fail
  // JSON.parse quickly and fall through); anything else is YAML.
  if (/^\uFEFF?\s*\{/.test(text)) {
    try { return JSON.parse(text.replace(/^\uFEFF/, '')) as unknown; } catch { /* YAML, e.g. a flow mapping */ }
  }
  return parseYaml(text);
}

function readDoc(file: string): Loaded {
  const text = readFileSync(file, 'utf8');
  const doc = (parseKubeconfigText(text) ?? {}) as RawKubeconfig;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${file}: not a kubeconfig (expected a mapping)`);
  return { file, dir: dirname(resolve(file)), doc };
}

/** Finds a named entry across files; as clientcmd merges, the first file that defines a name wins. */
function lookup<T>(docs: Loaded[], list: 'clusters' | 'users' | 'contexts', field: 'cluster' | 'user' | 'context', name: string):
  { value: T; dir: string } | undefined {
  for (const d of docs) {
    for (const e of (d.doc[list] ?? []) as Named<T>[]) {
      if (e && e.name === name) return { value: (e[field] ?? {}) as T, dir: d.dir };
    }
  }
  return undefined;
}

const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
const fileAt = (dir: string, p: string) => readFileSync(isAbsolute(p) ? p : join(dir, p), 'utf8');
const pathAt = (dir: string, p: string) => (isAbsolute(p) ? p : join(dir, p));

/**
 * Loads a kubeconfig. `path` defaults to $KUBECONFIG (a ':'-separated list, merged the way
 * kubectl merges it: first definition wins) or ~/.kube/config; `context` defaults to
 * current-context. With no path given and no file present, falls back to the in-cluster
 * configuration when running in a pod.
 */
export function loadKubeconfig(path?: string, context?: string): ClientConfig {
  const paths = path ? [path] : defaultPaths();
  const existing = path ? paths : paths.filter((p) => existsSync(p));
  if (existing.length === 0) {
    if (!path && isInCluster()) return loadInClusterConfig();
    throw new Error(`no kubeconfig found (looked at ${paths.join(', ')}); set --kubeconfig or KUBECONFIG`);
  }
  const docs = existing.map(readDoc);
  const ctxName = context ?? docs.map((d) => d.doc['current-context']).find((c) => !!c);
  if (!ctxName) throw new Error(`${existing.join(':')}: no current-context set and no context given`);
  const ctx = lookup<RawContext>(docs, 'contexts', 'context', ctxName);
  if (!ctx) throw new Error(`context "${ctxName}" does not exist in ${existing.join(':')}`);
  const { cluster: clusterName, user: userName, namespace } = ctx.value;
  if (!clusterName) throw new Error(`context "${ctxName}" names no cluster`);
  const cluster = lookup<RawCluster>(docs, 'clusters', 'cluster', clusterName);
  if (!cluster) throw new Error(`cluster "${clusterName}" (context "${ctxName}") does not exist`);
  const c = cluster.value;
  if (!c.server) throw new Error(`cluster "${clusterName}" has no server`);

  const cfg: ClientConfig = { server: c.server.replace(/\/+$/, '') };
  if (namespace) cfg.namespace = namespace;
  if (c['certificate-authority-data']) cfg.ca = b64(c['certificate-authority-data']);
  else if (c['certificate-authority']) cfg.ca = fileAt(cluster.dir, c['certificate-authority']);
  if (c['insecure-skip-tls-verify']) cfg.insecure = true;
  if (c['tls-server-name']) cfg.tlsServerName = c['tls-server-name'];

  if (userName) {
    const user = lookup<RawUser>(docs, 'users', 'user', userName);
    if (!user) throw new Error(`user "${userName}" (context "${ctxName}") does not exist`);
    const u = user.value;
    if (u['client-certificate-data']) cfg.cert = b64(u['client-certificate-data']);
    else if (u['client-certificate']) cfg.cert = fileAt(user.dir, u['client-certificate']);
    if (u['client-key-data']) cfg.key = b64(u['client-key-data']);
    else if (u['client-key']) cfg.key = fileAt(user.dir, u['client-key']);
    if (u.token) cfg.token = u.token;
    else if (u.tokenFile) {
      cfg.tokenFile = pathAt(user.dir, u.tokenFile);
      cfg.token = readFileSync(cfg.tokenFile, 'utf8').trim();
    }
    if (u.username !== undefined) cfg.username = u.username;
    if (u.password !== undefined) cfg.password = u.password;
    if (u.exec && !cfg.token && !cfg.cert) Object.assign(cfg, runExecPlugin(u.exec, c.server));
    if (u['auth-provider'] && !cfg.token && !cfg.cert) {
      throw new Error(`user "${userName}": auth-provider plugins are not supported; use a token, client certificate or exec plugin`);
    }
  }
  return cfg;
}

/**
 * Runs a client.authentication.k8s.io exec credential plugin once (no caching, no refresh
 * on expiry) and returns its token or client certificate.
 */
function runExecPlugin(exec: RawExec, server: string): Partial<ClientConfig> {
  if (!exec.command) throw new Error('exec plugin has no command');
  const apiVersion = exec.apiVersion ?? 'client.authentication.k8s.io/v1';
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const e of exec.env ?? []) env[e.name] = e.value;
  env.KUBERNETES_EXEC_INFO = JSON.stringify({
    apiVersion, kind: 'ExecCredential', spec: { interactive: false, cluster: { server } },
  });
  const out = execFileSync(exec.command, exec.args ?? [], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const cred = JSON.parse(out) as { status?: { token?: string; clientCertificateData?: string; clientKeyData?: string } };
  const st = cred.status ?? {};
  const r: Partial<ClientConfig> = {};
  if (st.token) r.token = st.token;
  if (st.clientCertificateData) r.cert = st.clientCertificateData;
  if (st.clientKeyData) r.key = st.clientKeyData;
  return r;
}
