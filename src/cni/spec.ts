// Types of the CNI specification 1.1.0 as podnet's plugin uses them: network configuration,
// results, errors, well-known error codes, and version handling.

export const CNI_VERSION = '1.1.0';
/** Versions the plugin accepts in a network configuration (and reports from VERSION). */
export const SUPPORTED_VERSIONS: readonly string[] = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/** Well-known error codes (SPEC.md "Well-known Error Codes"); 100+ are plugin-specific. */
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  ContainerUnknown: 3,
  InvalidEnvironment: 4,
  IOFailure: 5,
  DecodeFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  /** STATUS: the plugin cannot service ADD requests. */
  PluginNotAvailable: 50,
  /** STATUS: not available, and existing containers may have limited connectivity. */
  PluginNotAvailableLimitedConnectivity: 51,
  // podnet-specific
  /** CHECK found the attachment different from its result. */
  CheckFailed: 100,
  /** IPAM: no free address in a range set. */
  NoAddressesAvailable: 101,
  /** ADD for a container ID + ifname that is attached to another netns. */
  DuplicateAttachment: 102,
  /** Anything else that went wrong while configuring the network. */
  Internal: 999,
} as const;

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';
export const CNI_COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC', 'VERSION'];

/** An error the plugin reports as `{cniVersion, code, msg, details}` on stdout with exit code 1. */
export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details?: string,
  ) {
    super(msg);
    this.name = 'CniError';
  }

  toJSON(cniVersion: string): CniErrorResult {
    const r: CniErrorResult = { cniVersion, code: this.code, msg: this.message };
    if (this.details) r.details = this.details;
    return r;
  }
}

export interface CniErrorResult {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface RouteConfig {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

/** One range of host-local-style IPAM: a subnet with optional start/end/gateway. */
export interface IpamRange {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

/** IPAM configuration: one address is allocated from each range set (dual-stack = two sets). */
export interface IpamConfig {
  type?: string;
  ranges: IpamRange[][];
  routes?: RouteConfig[];
  /** Where allocations are stored; default `<dataDir>/networks`. */
  dataDir?: string;
}

export interface GCAttachment {
  containerID: string;
  ifname: string;
}

/** The network configuration podnet's plugin reads on stdin (type "podnet"). */
export interface PodnetNetConf {
  cniVersion: string;
  cniVersions?: string[];
  name: string;
  type: string;
  /** Node bridge name (≤ 15 chars). */
  bridge: string;
  /** Prefix of the node-side veth names; default "veth". At most 7 chars (8 hex chars follow). */
  vethPrefix?: string;
  mtu?: number;
  hairpinMode?: boolean;
  /** Set net.ipv4.ip_forward / net.ipv6.conf.all.forwarding in the node's netns; never in the host's. */
  ipForward?: boolean;
  /** Base directory for the IPAM store and the result cache; default /var/lib/podnet/cni. */
  dataDir?: string;
  ipam: IpamConfig;
  dns?: DNS;
  args?: Record<string, unknown>;
  runtimeConfig?: Record<string, unknown>;
  capabilities?: Record<string, boolean>;
  prevResult?: CniResult;
  'cni.dev/valid-attachments'?: GCAttachment[];
  /** Older spelling some runtimes also send (libcni sends both). */
  'cni.dev/attachments'?: GCAttachment[];
  [k: string]: unknown;
}

export interface ResultInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface ResultIP {
  /** "addr/prefix" */
  address: string;
  gateway?: string;
  /** Index into interfaces. */
  interface?: number;
  /** Only in 0.3.x / 0.4.0 results: "4" or "6". */
  version?: '4' | '6';
}

export interface CniResult {
  cniVersion: string;
  interfaces?: ResultInterface[];
  ips?: ResultIP[];
  routes?: RouteConfig[];
  dns?: DNS;
}

export interface VersionResult {
  cniVersion: string;
  supportedVersions: string[];
}

/** Compare semantic versions "a.b.c": negative, 0, positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function isSupportedVersion(v: string): boolean {
  return SUPPORTED_VERSIONS.includes(v);
}

/** Convert a result (kept internally in 1.x shape) to the shape of another supported version. */
export function convertResult(r: CniResult, toVersion: string): CniResult {
  const out: CniResult = JSON.parse(JSON.stringify(r)) as CniResult;
  out.cniVersion = toVersion;
  const legacy = compareVersions(toVersion, '1.0.0') < 0;
  for (const ip of out.ips ?? []) {
    if (legacy) ip.version = ip.address.includes(':') ? '6' : '4';
    else delete ip.version;
  }
  if (compareVersions(toVersion, '1.1.0') < 0) {
    for (const i of out.interfaces ?? []) {
      delete i.mtu;
      delete i.socketPath;
      delete i.pciID;
    }
    for (const rt of out.routes ?? []) {
      delete rt.mtu;
      delete rt.advmss;
      delete rt.priority;
      delete rt.table;
      delete rt.scope;
    }
  }
  return out;
}

/** Network names: alphanumeric first, then alphanumerics, '_', '.', '-' (SPEC.md). */
export function isValidNetworkName(name: string): boolean {
  return /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name);
}

/** Linux interface names: 1–15 bytes, no '/', no whitespace, not "." or "..". */
export function isValidIfName(name: string): boolean {
  return name.length > 0 && name.length <= 15 && !/[\/\s:]/.test(name) && name !== '.' && name !== '..';
}

/** Parse CNI_ARGS ("K1=V1;K2=V2"). */
export function parseCniArgs(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of (s ?? '').split(';')) {
    if (kv === '') continue;
    const i = kv.indexOf('=');
    if (i <= 0) throw new CniError(ErrorCode.InvalidEnvironment, `invalid CNI_ARGS pair ${JSON.stringify(kv)}`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}
