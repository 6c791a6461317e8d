// The cluster's PKI and credentials: a CA, the API server's serving certificate, and static
// bearer tokens, kept under DATA/pki with owner-only permissions. Created once, reused after.

import 'reflect-metadata'; // @peculiar/x509 (through tsyringe) needs the Reflect polyfill
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface Pki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  /** token → user name */
  tokens: Map<string, { user: string; uid: string; groups: string[] }>;
  /** The token written into the admin kubeconfig. */
  adminToken: string;
}

async function writePrivate(path: string, data: string): Promise<void> {
  await writeFile(path, data, { mode: 0o600 });
  await chmod(path, 0o600); // an existing file keeps its mode on writeFile
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

async function importKeyPem(pem: string): Promise<CryptoKey> {
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return (await webcrypto.subtle.importKey('pkcs8', Buffer.from(b64, 'base64'), ALG, true, ['sign'])) as unknown as CryptoKey;
}

const serial = () => randomBytes(8).toString('hex').replace(/^[89a-f]/, '1');

/**
 * Loads the PKI from `dir/pki`, creating whatever is missing. The serving certificate is
 * re-issued when it does not cover every name in `hosts` (e.g. a new bind address).
 */
export async function ensurePki(dataDir: string, hosts: string[]): Promise<Pki> {
  const dir = join(dataDir, 'pki');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const p = (f: string) => join(dir, f);

  let caCertPem: string;
  let caKey: CryptoKey;
  if (existsSync(p('ca.crt')) && existsSync(p('ca.key'))) {
    caCertPem = await readFile(p('ca.crt'), 'utf8');
    caKey = await importKeyPem(await readFile(p('ca.key'), 'utf8'));
  } else {
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as unknown as CryptoKeyPair;
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(), name: 'CN=podnet-ca', keys, signingAlgorithm: ALG,
      notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 10 * 365 * 864e5),
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    caCertPem = ca.toString('pem') + '\n';
    caKey = keys.privateKey;
    await writePrivate(p('ca.key'), await exportKeyPem(caKey));
    await writeFile(p('ca.crt'), caCertPem, { mode: 0o644 });
  }

  const wanted = [...new Set(['localhost', '127.0.0.1', 'kubernetes', 'kubernetes.default',
    'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', ...hosts])].sort();
  let serverCert: string | undefined;
  let serverKey: string | undefined;
  if (existsSync(p('apiserver.crt')) && existsSync(p('apiserver.key')) && existsSync(p('apiserver.names'))) {
    const names = (await readFile(p('apiserver.names'), 'utf8')).trim().split('\n');
    if (wanted.every((h) => names.includes(h))) {
      serverCert = await readFile(p('apiserver.crt'), 'utf8');
      serverKey = await readFile(p('apiserver.key'), 'utf8');
    }
  }
  if (!serverCert || !serverKey) {
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as unknown as CryptoKeyPair;
    const ca = new x509.X509Certificate(caCertPem);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(), subject: 'CN=kube-apiserver', issuer: ca.subject,
      notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 5 * 365 * 864e5),
      signingKey: caKey, publicKey: keys.publicKey, signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(wanted.map((h) => (isIP(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }))),
      ],
    });
    serverCert = cert.toString('pem') + '\n' + caCertPem;
    serverKey = await exportKeyPem(keys.privateKey);
    await writePrivate(p('apiserver.key'), serverKey);
    await writeFile(p('apiserver.crt'), serverCert, { mode: 0o644 });
    await writeFile(p('apiserver.names'), wanted.join('\n') + '\n', { mode: 0o644 });
  }

  // Static tokens, in kube-apiserver's --token-auth-file format: token,user,uid,"group1,group2"
  if (!existsSync(p('tokens.csv'))) {
    const admin = randomBytes(24).toString('hex');
    await writePrivate(p('tokens.csv'), `${admin},admin,admin,"system:masters"\n`);
  }
  await chmod(p('tokens.csv'), 0o600);
  const tokens = new Map<string, { user: string; uid: string; groups: string[] }>();
  let adminToken = '';
  for (const line of (await readFile(p('tokens.csv'), 'utf8')).split('\n')) {
    const m = /^([^,]+),([^,]+),([^,]+)(?:,"?([^"]*)"?)?$/.exec(line.trim());
    if (!m) continue;
    tokens.set(m[1], { user: m[2], uid: m[3], groups: m[4] ? m[4].split(',') : [] });
    if (!adminToken && (m[4] ?? '').split(',').includes('system:masters')) adminToken = m[1];
  }
  return { caCert: caCertPem, serverCert, serverKey, tokens, adminToken };
}

type KubeconfigOptions = { name: string; server: string; caCert: string; token: string };

/** A kubeconfig for the admin user, as `kind get kubeconfig` prints one (as an object). */
function kubeconfigDoc(opts: KubeconfigOptions): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ cluster: { 'certificate-authority-data': Buffer.from(opts.caCert).toString('base64'), server: opts.server }, name: opts.name }],
    contexts: [{ context: { cluster: opts.name, user: `${opts.name}-admin` }, name: opts.name }],
    'current-context': opts.name,
    preferences: {},
    users: [{ name: `${opts.name}-admin`, user: { token: opts.token } }],
  };
}

/** The admin kubeconfig as YAML, for users (`DIR/kubeconfig`, `podnet kubeconfig`). */
export function kubeconfigYaml(opts: KubeconfigOptions): string {
  return stringifyYaml(kubeconfigDoc(opts), { lineWidth: 0 });
}

/**
 * The same kubeconfig as JSON, for podnet's own processes (cluster DNS pods, node daemons):
 * podnet's client reads JSON without loading a YAML parser, which costs each process ~8 MB of
 * resident memory. kubectl reads it too (JSON is YAML).
 */
export function kubeconfigJson(opts: KubeconfigOptions): string {
  return JSON.stringify(kubeconfigDoc(opts), null, 2) + '\n';
}

export async function writeKubeconfig(path: string, yaml: string): Promise<void> {
  await writePrivate(path, yaml);
}
