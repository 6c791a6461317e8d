// discovery.k8s.io/v1 EndpointSlice: defaulting (port name and protocol), validation
// (pkg/apis/discovery/validation: addressType, endpoints, hints, ports) and the table.

import { isIP } from 'node:net';
import type { FieldError } from '../errors.js';
import { duplicate, invalid, notSupported, required, tooMany } from '../errors.js';
import type { KObject } from '../meta.js';
import { isObject } from '../meta.js';
import type { ResourceType } from '../registry.js';
import { ageOf } from '../registry.js';
import {
  deepEqual, isDNS1123Label, isDNS1123Subdomain, isValidLabelValue, validateImmutableField, validateLabels,
} from '../validation/common.js';
import { bumpGenerationIfChanged, setGenerationOnCreate } from './networkpolicy.js';
import {
  ageColumn, asArr, asObj, asStr, col, has, nameColumn, supportedPortProtocols, v6Bytes,
  validateDNS1123Label, validateNodeNameMsgs, validateNonSpecialIP, validateQualifiedName,
} from './service.js';

const AddressTypes = ['FQDN', 'IPv4', 'IPv6'] as const;
const maxTopologyLabels = 16;
const maxAddresses = 100;
const maxPorts = 20000;
const maxEndpoints = 1000;
const maxZoneHints = 8;
const maxNodeHints = 8;

/** SetDefaults_EndpointPort: name "" and protocol TCP. */
export function defaultEndpointSlice(o: KObject): void {
  // `endpoints` has no omitempty upstream: a slice without endpoints is stored as null.
  if (o.endpoints === undefined) o.endpoints = null;
  for (const p of asArr(o.ports)) {
    if (!isObject(p)) continue;
    if (p.name === undefined || p.name === null) p.name = '';
    if (p.protocol === undefined || p.protocol === null) p.protocol = 'TCP';
  }
}

const isMapped4 = (b: number[]) => b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;

/** IsValidIPv4Address (IPv4-mapped IPv6 counts as IPv4, as net.IP.To4 does). */
function isIPv4Address(s: string): boolean {
  if (isIP(s) === 4) return true;
  const b = v6Bytes(s);
  return !!b && isMapped4(b);
}
function isIPv6Address(s: string): boolean {
  const b = v6Bytes(s);
  return !!b && !isMapped4(b);
}

/** IsFullyQualifiedDomainName */
function validateFQDN(name: string, path: string): FieldError[] {
  if (!name) return [required(path)];
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  const sub = isDNS1123Subdomain(n);
  if (sub.length) return [invalid(path, n, sub.join(','))];
  const labels = n.split('.');
  if (labels.length < 2) return [invalid(path, n, 'should be a domain with at least two segments separated by dots')];
  for (const l of labels) {
    const e = isDNS1123Label(l);
    if (e.length) return [invalid(path, l, e.join(','))];
  }
  return [];
}

function validateHints(h: Record<string, unknown>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const zones = asArr(h.forZones);
  if (zones.length > maxZoneHints) {
    errs.push(tooMany(`${path}.forZones`, zones.length, maxZoneHints));
  } else {
    const seen = new Set<string>();
    zones.forEach((z, i) => {
      const name = asStr(asObj(z).name);
      const p = `${path}.forZones[${i}].name`;
      if (seen.has(name)) errs.push(duplicate(p, name));
      else seen.add(name);
      for (const m of isValidLabelValue(name)) errs.push(invalid(p, name, m));
    });
  }
  const nodes = asArr(h.forNodes);
  if (nodes.length > maxNodeHints) {
    errs.push(tooMany(`${path}.forNodes`, nodes.length, maxNodeHints));
  } else {
    const seen = new Set<string>();
    nodes.forEach((z, i) => {
      const name = asStr(asObj(z).name);
      const p = `${path}.forNodes[${i}].name`;
      if (seen.has(name)) errs.push(duplicate(p, name));
      else seen.add(name);
      for (const m of validateNodeNameMsgs(name)) errs.push(invalid(p, name, m));
    });
  }
  return errs;
}

function validateSliceEndpoints(eps: unknown[], addrType: string): FieldError[] {
  if (eps.length > maxEndpoints) return [tooMany('endpoints', eps.length, maxEndpoints)];
  const errs: FieldError[] = [];
  eps.forEach((x, i) => {
    const ep = asObj(x);
    const p = `endpoints[${i}]`;
    const addrs = asArr(ep.addresses).map(asStr);
    if (addrs.length === 0) errs.push(required(`${p}.addresses`, 'must contain at least 1 address'));
    else if (addrs.length > maxAddresses) errs.push(tooMany(`${p}.addresses`, addrs.length, maxAddresses));
    addrs.forEach((a, j) => {
      const ap = `${p}.addresses[${j}]`;
      switch (addrType) {
        case 'IPv4':
          if (!isIPv4Address(a)) errs.push(invalid(ap, a, 'must be a valid IPv4 address'));
          errs.push(...validateNonSpecialIP(a, ap));
          break;
        case 'IPv6':
          if (!isIPv6Address(a)) errs.push(invalid(ap, a, 'must be a valid IPv6 address'));
          errs.push(...validateNonSpecialIP(a, ap));
          break;
        case 'FQDN':
          errs.push(...validateFQDN(a, ap));
          break;
      }
    });
    if (has(ep, 'nodeName')) {
      const n = asStr(ep.nodeName);
      for (const m of validateNodeNameMsgs(n)) errs.push(invalid(`${p}.nodeName`, n, m));
    }
    const topo = asObj(ep.deprecatedTopology);
    if (Object.keys(topo).length > maxTopologyLabels) {
      errs.push(tooMany(`${p}.deprecatedTopology`, Object.keys(topo).length, maxTopologyLabels));
    }
    if (has(ep, 'deprecatedTopology')) errs.push(...validateLabels(ep.deprecatedTopology, `${p}.deprecatedTopology`));
    if (has(ep, 'hostname')) errs.push(...validateDNS1123Label(asStr(ep.hostname), `${p}.hostname`));
    if (isObject(ep.hints)) errs.push(...validateHints(ep.hints, `${p}.hints`));
  });
  return errs;
}

function validateSlicePorts(ports: unknown[]): FieldError[] {
  if (ports.length > maxPorts) return [tooMany('ports', ports.length, maxPorts)];
  const errs: FieldError[] = [];
  const names = new Set<string>();
  ports.forEach((x, i) => {
    const q = asObj(x);
    const p = `ports[${i}]`;
    const name = asStr(q.name);
    if (name) errs.push(...validateDNS1123Label(name, `${p}.name`));
    if (names.has(name)) errs.push(duplicate(`${p}.name`, name));
    else names.add(name);
    if (!has(q, 'protocol')) errs.push(required(`${p}.protocol`));
    else if (!(supportedPortProtocols as readonly string[]).includes(asStr(q.protocol))) {
      errs.push(notSupported(`${p}.protocol`, q.protocol, supportedPortProtocols));
    }
    if (has(q, 'appProtocol')) errs.push(...validateQualifiedName(asStr(q.appProtocol), `${p}.appProtocol`));
  });
  return errs;
}

/** ValidateEndpointSlice (without ObjectMeta). */
export function validateEndpointSlice(o: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const at = asStr(o.addressType);
  if (!at) errs.push(required('addressType'));
  else if (!(AddressTypes as readonly string[]).includes(at)) errs.push(notSupported('addressType', at, AddressTypes));
  errs.push(...validateSliceEndpoints(asArr(o.endpoints), at));
  errs.push(...validateSlicePorts(asArr(o.ports)));
  return errs;
}

export function validateEndpointSliceUpdate(o: KObject, old: KObject): FieldError[] {
  return [
    ...validateEndpointSlice(o),
    ...validateImmutableField(o.addressType ?? '', old.addressType ?? '', 'addressType'),
  ];
}

/** printers.go listWithMoreString */
function listWithMore(list: string[], more: boolean, count: number, max: number): string {
  const ret = list.join(',');
  if (more) return `${ret} + ${count - max} more...`;
  return ret || '<unset>';
}

/** printers.go formatDiscoveryPorts */
export function formatDiscoveryPorts(ports: unknown): string {
  const list: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const x of asArr(ports)) {
    const p = asObj(x);
    if (list.length < max) {
      let s = '*';
      if (typeof p.port === 'number') s = String(p.port);
      else if (typeof p.name === 'string') s = p.name;
      list.push(s);
    } else if (list.length === max) {
      more = true;
    }
    count++;
  }
  return listWithMore(list, more, count, max);
}

/** printers.go formatDiscoveryEndpoints */
export function formatDiscoveryEndpoints(eps: unknown): string {
  const list: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const ep of asArr(eps)) {
    for (const a of asArr(asObj(ep).addresses)) {
      if (list.length < max) list.push(asStr(a));
      else if (list.length === max) more = true;
      count++;
    }
  }
  return listWithMore(list, more, count, max);
}

export const endpointSlices: ResourceType = {
  group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', singular: 'endpointslice',
  namespaced: true, model: 'V1EndpointSlice',
  table: {
    columns: [
      nameColumn,
      col('AddressType', 'The type of address carried by this EndpointSlice.'),
      col('Ports', 'Ports in the EndpointSlice.'),
      col('Endpoints', 'Endpoints in the EndpointSlice.'),
      ageColumn,
    ],
    row: (o, now) => [
      o.metadata.name, asStr(o.addressType), formatDiscoveryPorts(o.ports), formatDiscoveryEndpoints(o.endpoints), ageOf(o, now),
    ],
  },
  defaults: defaultEndpointSlice,
  validateCreate: validateEndpointSlice,
  validateUpdate: validateEndpointSliceUpdate,
  prepareForCreate: setGenerationOnCreate,
  prepareForUpdate: (o, old) => {
    // Upstream bumps the generation when anything but metadata (or the labels) changed.
    bumpGenerationIfChanged(o, old, ['addressType', 'endpoints', 'ports']);
    if (!deepEqual(o.metadata.labels ?? {}, old.metadata.labels ?? {})) {
      o.metadata.generation = (old.metadata.generation ?? 0) + 1;
    }
  },
};
