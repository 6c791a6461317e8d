// core/v1 Endpoints: defaulting (ports' protocol), validation (ValidateEndpoints: subsets,
// addresses, ports) and the `kubectl get endpoints` table.

import type { FieldError } from '../errors.js';
import { invalid, notSupported, required } from '../errors.js';
import type { KObject } from '../meta.js';
import { isObject } from '../meta.js';
import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import {
  ageColumn, asArr, asNum, asObj, asStr, col, has, nameColumn, supportedPortProtocols,
  validateDNS1123Label, validateIP, validateNodeNameMsgs, validateNonSpecialIP, validatePortNum,
  validateQualifiedName,
} from './service.js';

/** SetDefaults_Endpoints: every port's protocol defaults to TCP. */
export function defaultEndpoints(o: KObject): void {
  for (const ss of asArr(o.subsets)) {
    for (const p of asArr(asObj(ss).ports)) if (isObject(p) && !p.protocol) p.protocol = 'TCP';
  }
}

function validateEndpointAddress(a: Record<string, unknown>, path: string): FieldError[] {
  const ip = asStr(a.ip);
  const errs = validateIP(ip, `${path}.ip`);
  const hostname = asStr(a.hostname);
  if (hostname) errs.push(...validateDNS1123Label(hostname, `${path}.hostname`));
  if (has(a, 'nodeName')) {
    const n = asStr(a.nodeName);
    for (const m of validateNodeNameMsgs(n)) errs.push(invalid(`${path}.nodeName`, n, m));
  }
  errs.push(...validateNonSpecialIP(ip, `${path}.ip`));
  return errs;
}

function validateEndpointPort(p: Record<string, unknown>, requireName: boolean, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const name = asStr(p.name);
  if (requireName && !name) errs.push(required(`${path}.name`));
  else if (name) errs.push(...validateDNS1123Label(name, `${path}.name`));
  errs.push(...validatePortNum(p.port, `${path}.port`));
  const proto = asStr(p.protocol);
  if (!proto) errs.push(required(`${path}.protocol`));
  else if (!(supportedPortProtocols as readonly string[]).includes(proto)) {
    errs.push(notSupported(`${path}.protocol`, proto, supportedPortProtocols));
  }
  if (has(p, 'appProtocol')) errs.push(...validateQualifiedName(asStr(p.appProtocol), `${path}.appProtocol`));
  return errs;
}

/** ValidateEndpoints (without ObjectMeta). */
export function validateEndpoints(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  asArr(o.subsets).forEach((x, i) => {
    const ss = asObj(x);
    const p = `subsets[${i}]`;
    const addrs = asArr(ss.addresses);
    const notReady = asArr(ss.notReadyAddresses);
    if (addrs.length === 0 && notReady.length === 0) {
      errs.push(required(p, 'must specify `addresses` or `notReadyAddresses`'));
    }
    addrs.forEach((a, j) => errs.push(...validateEndpointAddress(asObj(a), `${p}.addresses[${j}]`)));
    notReady.forEach((a, j) => errs.push(...validateEndpointAddress(asObj(a), `${p}.notReadyAddresses[${j}]`)));
    const ports = asArr(ss.ports);
    ports.forEach((q, j) => errs.push(...validateEndpointPort(asObj(q), ports.length > 1, `${p}.ports[${j}]`)));
  });
  return errs;
}

/** net.JoinHostPort */
const joinHostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** printers.go formatEndpoints: the first three "ip:port" pairs, then "+ N more...". */
export function formatEndpoints(o: KObject): string {
  const subsets = asArr(o.subsets);
  if (subsets.length === 0) return '<none>';
  const list: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const x of subsets) {
    const ss = asObj(x);
    const addrs = asArr(ss.addresses).map((a) => asStr(asObj(a).ip));
    const ports = asArr(ss.ports);
    if (ports.length === 0) {
      // A headless service may have endpoints without ports.
      count += addrs.length;
      for (const ip of addrs) {
        if (list.length === max) { more = true; break; }
        list.push(ip);
      }
      continue;
    }
    for (const p of ports) {
      count += addrs.length;
      for (const ip of addrs) {
        if (list.length === max) { more = true; break; }
        list.push(joinHostPort(ip, asNum(asObj(p).port)));
      }
    }
  }
  const ret = list.join(',');
  if (more) return `${ret} + ${count - max} more...`;
  return ret || '<none>';
}

export const endpoints: ResourceType = {
  group: '', version: 'v1', kind: 'Endpoints', plural: 'endpoints', singular: 'endpoints',
  shortNames: ['ep'], namespaced: true, model: 'V1Endpoints',
  table: {
    columns: [
      nameColumn,
      col('Endpoints', 'Endpoints is the list of endpoints in the object.'),
      ageColumn,
    ],
    row: (o, now) => [o.metadata.name, formatEndpoints(o), ageOf(o, now)],
  },
  defaults: defaultEndpoints,
  validateCreate: validateEndpoints,
  validateUpdate: (o) => validateEndpoints(o),
};
