// core/v1 Pod, and the PodSpec rules pods and pod templates share: defaulting
// (pkg/apis/core/v1/defaults.go + the default admission plugins), validation
// (pkg/apis/core/validation), QoS class, graceful deletion and `kubectl get pods` rows.

import type { FieldError } from '../errors.js';
import { duplicate, forbidden, invalid, notFound, notSupported, required } from '../errors.js';
import { isObject } from '../meta.js';
import type { ResourceType } from '../registry.js';
import { humanDuration } from '../registry.js';
import {
  deepEqual, inclusiveRangeError, isConfigMapKey, isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidIP,
  isValidLabelValue, isValidPortName, isValidPortNum, validateAnnotations, validateLabels, validateNonnegative,
} from '../validation/common.js';
import { parseQuantity, podQOSClass, sameQuantity } from '../quantity.js';

export { parseQuantity, podQOSClass };

// Pod JSON is handled as plain data: these aliases keep the code readable.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type J = any;

const arr = (v: unknown): J[] => (Array.isArray(v) ? v : []);
const obj = (v: unknown): Record<string, J> => (isObject(v) ? v : {});


// ---- defaults ------------------------------------------------------------------------------

/** The image tag as upstream's parsers.ParseImageName: "latest" when there is neither tag nor digest. */
export function imageTag(image: string): string {
  let rest = image;
  const at = rest.indexOf('@');
  const hasDigest = at >= 0;
  if (hasDigest) rest = rest.slice(0, at);
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) return rest.slice(colon + 1);
  return hasDigest ? '' : 'latest';
}

function defaultHTTPGet(h: J): void {
  if (!isObject(h)) return;
  if (!h.path) h.path = '/';
  if (!h.scheme) h.scheme = 'HTTP';
}

function defaultProbe(p: J): void {
  if (!isObject(p)) return;
  p.timeoutSeconds ??= 1;
  p.periodSeconds ??= 10;
  p.successThreshold ??= 1;
  p.failureThreshold ??= 3;
  defaultHTTPGet(p.httpGet);
  if (isObject(p.grpc)) (p.grpc as J).service ??= '';
}

function defaultEnv(env: J): void {
  for (const e of arr(env)) {
    const fr = obj(obj(e).valueFrom).fieldRef;
    if (isObject(fr) && !fr.apiVersion) fr.apiVersion = 'v1';
    const rf = obj(obj(e).valueFrom).resourceFieldRef;
    if (isObject(rf) && rf.divisor === undefined) rf.divisor = '0';
  }
}

/** SetDefaults_Container (+ ports, probes, lifecycle handlers, env). */
export function defaultContainer(c: J): void {
  if (!isObject(c)) return;
  if (!c.imagePullPolicy) {
    // An image that does not parse (e.g. empty) has no tag: IfNotPresent, as upstream.
    const image = typeof c.image === 'string' ? c.image : '';
    c.imagePullPolicy = image && imageTag(image) === 'latest' ? 'Always' : 'IfNotPresent';
  }
  if (!c.terminationMessagePath) c.terminationMessagePath = '/dev/termination-log';
  if (!c.terminationMessagePolicy) c.terminationMessagePolicy = 'File';
  if (!isObject(c.resources)) c.resources = {};
  for (const p of arr(c.ports)) if (isObject(p) && !p.protocol) p.protocol = 'TCP';
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
  for (const h of [obj(c.lifecycle).postStart, obj(c.lifecycle).preStop]) defaultHTTPGet(obj(h).httpGet);
  defaultEnv(c.env);
}

/** SetDefaults_Volume and the volume sources' defaults. */
function defaultVolume(v: J): void {
  if (!isObject(v)) return;
  const sources = Object.keys(v).filter((k) => k !== 'name' && v[k] != null);
  if (sources.length === 0) v.emptyDir = {};
  if (isObject(v.secret)) (v.secret as J).defaultMode ??= 0o644;
  if (isObject(v.configMap)) (v.configMap as J).defaultMode ??= 0o644;
  if (isObject(v.downwardAPI)) {
    (v.downwardAPI as J).defaultMode ??= 0o644;
    for (const it of arr((v.downwardAPI as J).items)) {
      if (isObject(it) && isObject(it.fieldRef) && !it.fieldRef.apiVersion) it.fieldRef.apiVersion = 'v1';
    }
  }
  if (isObject(v.projected)) {
    (v.projected as J).defaultMode ??= 0o644;
    for (const s of arr((v.projected as J).sources)) {
      const sat = obj(s).serviceAccountToken;
      if (isObject(sat)) sat.expirationSeconds ??= 3600;
    }
  }
  if (isObject(v.hostPath) && (v.hostPath as J).type === undefined) (v.hostPath as J).type = '';
}

/** SetDefaults_PodSpec + containers/volumes: what pods and pod templates both get. */
export function defaultPodSpec(spec: J): void {
  if (!isObject(spec)) return;
  if (!spec.dnsPolicy) spec.dnsPolicy = 'ClusterFirst';
  if (!spec.restartPolicy) spec.restartPolicy = 'Always';
  if (!isObject(spec.securityContext)) spec.securityContext = {};
  spec.terminationGracePeriodSeconds ??= 30;
  if (!spec.schedulerName) spec.schedulerName = 'default-scheduler';
  // The deprecated serviceAccount field mirrors serviceAccountName (as upstream's conversion).
  if (spec.serviceAccountName && !spec.serviceAccount) spec.serviceAccount = spec.serviceAccountName;
  else if (spec.serviceAccount && !spec.serviceAccountName) spec.serviceAccountName = spec.serviceAccount;
  for (const c of [...arr(spec.initContainers), ...arr(spec.containers)]) defaultContainer(c);
  for (const v of arr(spec.volumes)) defaultVolume(v);
}

/** SetDefaults_Pod: the PodSpec defaults plus what only pods (not templates) get. */
export function defaultPod(pod: J): void {
  const spec = obj(pod.spec);
  if (!isObject(pod.spec)) pod.spec = spec;
  defaultPodSpec(spec);
  spec.enableServiceLinks ??= true;
  for (const c of [...arr(spec.initContainers), ...arr(spec.containers)]) {
    if (!isObject(c)) continue;
    // Requests default to limits, resource by resource.
    const r = obj(c.resources);
    if (isObject(r.limits)) {
      const req: Record<string, J> = isObject(r.requests) ? r.requests : {};
      for (const [k, v] of Object.entries(r.limits)) if (req[k] === undefined) req[k] = v;
      if (Object.keys(req).length) r.requests = req;
    }
    // With hostNetwork, hostPort defaults to containerPort.
    if (spec.hostNetwork === true) {
      for (const p of arr(c.ports)) if (isObject(p) && !p.hostPort && p.containerPort) p.hostPort = p.containerPort;
    }
  }
}

/** The built-in PriorityClasses (scheduling.k8s.io), which podnet does not serve as objects. */
export const systemPriorityClasses: Record<string, number> = {
  'system-node-critical': 2000001000,
  'system-cluster-critical': 2000000000,
};

/** The admission plugins a default cluster runs on pod create (ServiceAccount, Priority,
 *  DefaultTolerationSeconds). The token volume of the ServiceAccount plugin is left out. */
export function admitPod(pod: J): void {
  const spec = obj(pod.spec);
  if (!spec.serviceAccountName) spec.serviceAccountName = spec.serviceAccount || 'default';
  if (!spec.serviceAccount) spec.serviceAccount = spec.serviceAccountName;
  const pc = typeof spec.priorityClassName === 'string' ? spec.priorityClassName : '';
  spec.priority ??= systemPriorityClasses[pc] ?? 0;
  if (!spec.preemptionPolicy) spec.preemptionPolicy = 'PreemptLowerPriority';
  const tolerations: J[] = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  const tolerates = (key: string) => tolerations.some((t) => isObject(t) &&
    (t.key === key || !t.key) && (t.effect === 'NoExecute' || !t.effect));
  const add: J[] = [];
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
    if (!tolerates(key)) add.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
  }
  spec.tolerations = [...tolerations, ...add];
}

// ---- QoS ---------------------------------------------------------------------------------

/** qos.GetPodQOS: Guaranteed, Burstable or BestEffort, from cpu and memory requests/limits. */
// ---- validation --------------------------------------------------------------------------

const restartPolicies = ['Always', 'OnFailure', 'Never'];
const dnsPolicies = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'];
const pullPolicies = ['Always', 'IfNotPresent', 'Never'];
const protocols = ['SCTP', 'TCP', 'UDP'];
const taintEffects = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'];

function validatePortNumOrName(port: J, path: string): FieldError[] {
  if (typeof port === 'number') return isValidPortNum(port).map((m) => invalid(path, port, m));
  if (typeof port === 'string') {
    if (/^[0-9]+$/.test(port)) return isValidPortNum(Number(port)).map((m) => invalid(path, Number(port), m));
    return isValidPortName(port).map((m) => invalid(path, port, m));
  }
  return [required(path, '')];
}

function validateHandler(h: J, path: string, kinds: string[]): FieldError[] {
  const errs: FieldError[] = [];
  const present = kinds.filter((k) => h[k] != null);
  if (present.length === 0) return [required(path, 'must specify a handler type')];
  for (const k of present.slice(1)) errs.push(forbidden(`${path}.${k}`, 'may not specify more than 1 handler type'));
  const k = present[0];
  const v = obj(h[k]);
  const p = `${path}.${k}`;
  if (k === 'exec') {
    if (arr(v.command).length === 0) errs.push(required(`${p}.command`, ''));
  } else if (k === 'httpGet') {
    if (!v.path) errs.push(required(`${p}.path`, ''));
    errs.push(...validatePortNumOrName(v.port, `${p}.port`));
    if (v.scheme !== undefined && !['HTTP', 'HTTPS'].includes(v.scheme)) errs.push(notSupported(`${p}.scheme`, v.scheme, ['HTTP', 'HTTPS']));
  } else if (k === 'tcpSocket') {
    errs.push(...validatePortNumOrName(v.port, `${p}.port`));
  } else if (k === 'grpc') {
    errs.push(...isValidPortNum(v.port).map((m) => invalid(`${p}.port`, v.port, m)));
  } else if (k === 'sleep') {
    if (typeof v.seconds !== 'number' || v.seconds < 0) errs.push(invalid(`${p}.seconds`, v.seconds ?? 0, 'must be non-negative'));
  }
  return errs;
}

function validateProbe(probe: J, path: string, liveOrStartup: boolean): FieldError[] {
  if (probe == null) return [];
  const p = obj(probe);
  const errs = validateHandler(p, path, ['exec', 'httpGet', 'tcpSocket', 'grpc']);
  for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) {
    errs.push(...validateNonnegative(p[f], `${path}.${f}`));
  }
  if (liveOrStartup && p.successThreshold !== undefined && p.successThreshold !== 1) {
    errs.push(invalid(`${path}.successThreshold`, p.successThreshold, 'must be 1'));
  }
  if (p.terminationGracePeriodSeconds !== undefined && p.terminationGracePeriodSeconds <= 0) {
    errs.push(invalid(`${path}.terminationGracePeriodSeconds`, p.terminationGracePeriodSeconds, 'must be greater than 0'));
  }
  return errs;
}

function validateEnv(env: J, path: string): FieldError[] {
  const errs: FieldError[] = [];
  arr(env).forEach((e, i) => {
    const p = `${path}[${i}]`;
    const ev = obj(e);
    const name = typeof ev.name === 'string' ? ev.name : '';
    if (!name) errs.push(required(`${p}.name`, ''));
    else if ([...name].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) > 0x7e || ch === '=')) {
      errs.push(invalid(`${p}.name`, name, "a valid environment variable name must consist only of printable ASCII characters other than '='"));
    }
    if (ev.valueFrom != null) {
      const vf = obj(ev.valueFrom);
      const vp = `${p}.valueFrom`;
      const kinds = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef', 'fileKeyRef'].filter((k) => vf[k] != null);
      if (kinds.length === 0) {
        errs.push(invalid(vp, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
      } else if (kinds.length > 1) {
        errs.push(invalid(vp, '', 'may not have more than one field specified at a time'));
      } else if (kinds[0] === 'fieldRef') {
        if (!vf.fieldRef.fieldPath) errs.push(required(`${vp}.fieldRef.fieldPath`, ''));
      } else if (kinds[0] === 'resourceFieldRef') {
        if (!vf.resourceFieldRef.resource) errs.push(required(`${vp}.resourceFieldRef.resource`, ''));
      } else if (kinds[0] === 'configMapKeyRef' || kinds[0] === 'secretKeyRef') {
        const r = obj(vf[kinds[0]]);
        if (!r.name) errs.push(required(`${vp}.${kinds[0]}.name`, ''));
        if (!r.key) errs.push(required(`${vp}.${kinds[0]}.key`, ''));
        else for (const m of isConfigMapKey(r.key)) errs.push(invalid(`${vp}.${kinds[0]}.key`, r.key, m));
      }
      if (typeof ev.value === 'string' && ev.value !== '') {
        errs.push(invalid(vp, '', 'may not be specified when `value` is not empty'));
      }
    }
  });
  return errs;
}

function validateResources(res: J, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const r = obj(res);
  const limits = obj(r.limits);
  const requests = obj(r.requests);
  const check = (k: string, v: J, p: string): number | undefined => {
    const q = parseQuantity(v);
    if (q === undefined) {
      errs.push(invalid(p, v, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"));
      return undefined;
    }
    if (!k.includes('/') && !['cpu', 'memory', 'ephemeral-storage'].includes(k) && !k.startsWith('hugepages-')) {
      errs.push(notSupported(p, k, ['cpu', 'ephemeral-storage', 'memory']));
    }
    if (q < 0) errs.push(invalid(p, v, 'must be greater than or equal to 0'));
    return q;
  };
  for (const [k, v] of Object.entries(limits)) check(k, v, `${path}.limits[${k}]`);
  for (const [k, v] of Object.entries(requests)) {
    const q = check(k, v, `${path}.requests[${k}]`);
    const l = parseQuantity(limits[k]);
    if (q === undefined || l === undefined) continue;
    const overcommit = ['cpu', 'memory', 'ephemeral-storage'].includes(k);
    if (!overcommit && !sameQuantity(q, l)) {
      errs.push(invalid(`${path}.requests[${k}]`, String(v), `must be equal to ${k} limit of ${String(limits[k])}`));
    } else if (q > l && !sameQuantity(q, l)) {
      errs.push(invalid(`${path}.requests[${k}]`, String(v), `must be less than or equal to ${k} limit of ${String(limits[k])}`));
    }
  }
  return errs;
}

function validateVolumes(volumes: J, path: string): { errs: FieldError[]; names: Set<string> } {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  arr(volumes).forEach((vol, i) => {
    const p = `${path}[${i}]`;
    const v = obj(vol);
    const name = typeof v.name === 'string' ? v.name : '';
    if (!name) errs.push(required(`${p}.name`, ''));
    else {
      for (const m of isDNS1123Label(name)) errs.push(invalid(`${p}.name`, name, m));
      if (names.has(name)) errs.push(duplicate(`${p}.name`, name));
      names.add(name);
    }
    const sources = Object.keys(v).filter((k) => k !== 'name' && v[k] != null);
    if (sources.length === 0) errs.push(required(p, 'must specify a volume type'));
    for (const s of sources.slice(1)) errs.push(forbidden(`${p}.${s}`, 'may not specify more than 1 volume type'));
    const src = obj(v[sources[0]]);
    switch (sources[0]) {
      case 'secret':
        if (!src.secretName) errs.push(required(`${p}.secret.secretName`, ''));
        break;
      case 'configMap':
        if (!src.name) errs.push(required(`${p}.configMap.name`, ''));
        break;
      case 'hostPath':
        if (!src.path) errs.push(required(`${p}.hostPath.path`, ''));
        break;
      case 'persistentVolumeClaim':
        if (!src.claimName) errs.push(required(`${p}.persistentVolumeClaim.claimName`, ''));
        break;
      default:
    }
  });
  return { errs, names };
}

function validateVolumeMounts(mounts: J, path: string, volumes: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  const paths = new Set<string>();
  arr(mounts).forEach((mnt, i) => {
    const p = `${path}[${i}]`;
    const m = obj(mnt);
    if (!m.name) errs.push(required(`${p}.name`, ''));
    else if (!volumes.has(m.name)) errs.push(notFound(`${p}.name`, m.name));
    if (!m.mountPath) errs.push(required(`${p}.mountPath`, ''));
    else {
      if (paths.has(m.mountPath)) errs.push(invalid(`${p}.mountPath`, m.mountPath, 'must be unique'));
      paths.add(m.mountPath);
    }
    if (typeof m.subPath === 'string' && (m.subPath.startsWith('/') || m.subPath.split('/').includes('..'))) {
      errs.push(invalid(`${p}.subPath`, m.subPath, m.subPath.startsWith('/') ? 'must be a relative path' : "must not contain '..'"));
    }
  });
  return errs;
}

interface ContainerOpts { init: boolean; volumes: Set<string>; hostNetwork: boolean; names: Set<string>; hostPorts: Set<string> }

function validateContainer(c: J, path: string, o: ContainerOpts): FieldError[] {
  const errs: FieldError[] = [];
  const ctr = obj(c);
  const name = typeof ctr.name === 'string' ? ctr.name : '';
  if (!name) errs.push(required(`${path}.name`, ''));
  else {
    for (const m of isDNS1123Label(name)) errs.push(invalid(`${path}.name`, name, m));
    if (o.names.has(name)) errs.push(duplicate(`${path}.name`, name));
    o.names.add(name);
  }
  const image = typeof ctr.image === 'string' ? ctr.image : '';
  if (!image) errs.push(required(`${path}.image`, ''));
  else if (image.trim() !== image) errs.push(invalid(`${path}.image`, image, 'must not have leading or trailing whitespace'));
  // Ports.
  const portNames = new Set<string>();
  arr(ctr.ports).forEach((port, i) => {
    const p = `${path}.ports[${i}]`;
    const pt = obj(port);
    if (pt.name) {
      const msgs = isValidPortName(pt.name);
      if (msgs.length) for (const m of msgs) errs.push(invalid(`${p}.name`, pt.name, m));
      else if (portNames.has(pt.name)) errs.push(duplicate(`${p}.name`, pt.name));
      else portNames.add(pt.name);
    }
    if (!pt.containerPort) errs.push(required(`${p}.containerPort`, ''));
    else for (const m of isValidPortNum(pt.containerPort)) errs.push(invalid(`${p}.containerPort`, pt.containerPort, m));
    if (pt.hostPort) for (const m of isValidPortNum(pt.hostPort)) errs.push(invalid(`${p}.hostPort`, pt.hostPort, m));
    if (!pt.protocol) errs.push(required(`${p}.protocol`, ''));
    else if (!protocols.includes(pt.protocol)) errs.push(notSupported(`${p}.protocol`, pt.protocol, protocols));
    if (pt.hostIP !== undefined && pt.hostIP !== '') for (const m of isValidIP(pt.hostIP)) errs.push(invalid(`${p}.hostIP`, pt.hostIP, m));
    if (o.hostNetwork && pt.hostPort !== undefined && pt.hostPort !== pt.containerPort) {
      errs.push(invalid(`${p}.containerPort`, pt.containerPort, 'must match `hostPort` when `hostNetwork` is true'));
    }
    if (pt.hostPort) {
      const key = `${pt.hostIP ?? ''}/${pt.protocol ?? ''}/${pt.hostPort}`;
      if (o.hostPorts.has(key)) errs.push(duplicate(`${p}.hostPort`, key));
      o.hostPorts.add(key);
    }
  });
  errs.push(...validateEnv(ctr.env, `${path}.env`));
  errs.push(...validateVolumeMounts(ctr.volumeMounts, `${path}.volumeMounts`, o.volumes));
  const sidecar = o.init && ctr.restartPolicy === 'Always';
  if (ctr.restartPolicy !== undefined && ctr.restartPolicy !== null) {
    if (!o.init) errs.push(forbidden(`${path}.restartPolicy`, 'may not be set for non-init containers'));
    else if (ctr.restartPolicy !== 'Always') errs.push(notSupported(`${path}.restartPolicy`, ctr.restartPolicy, ['Always']));
  }
  if (o.init && !sidecar) {
    for (const f of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe']) {
      if (ctr[f] != null) errs.push(forbidden(`${path}.${f}`, 'may not be set for init containers without restartPolicy=Always'));
    }
  } else {
    errs.push(...validateProbe(ctr.livenessProbe, `${path}.livenessProbe`, true));
    errs.push(...validateProbe(ctr.readinessProbe, `${path}.readinessProbe`, false));
    errs.push(...validateProbe(ctr.startupProbe, `${path}.startupProbe`, true));
    const lc = obj(ctr.lifecycle);
    for (const h of ['postStart', 'preStop']) {
      if (lc[h] != null) errs.push(...validateHandler(obj(lc[h]), `${path}.lifecycle.${h}`, ['exec', 'httpGet', 'tcpSocket', 'sleep']));
    }
  }
  if (!ctr.imagePullPolicy) errs.push(required(`${path}.imagePullPolicy`, ''));
  else if (!pullPolicies.includes(ctr.imagePullPolicy)) errs.push(notSupported(`${path}.imagePullPolicy`, ctr.imagePullPolicy, pullPolicies));
  const tmp = ctr.terminationMessagePolicy;
  if (!tmp) errs.push(required(`${path}.terminationMessagePolicy`, "must be 'File' or 'FallbackToLogsOnError'"));
  else if (tmp !== 'File' && tmp !== 'FallbackToLogsOnError') {
    errs.push(invalid(`${path}.terminationMessagePolicy`, tmp, "must be 'File' or 'FallbackToLogsOnError'"));
  }
  errs.push(...validateResources(ctr.resources, `${path}.resources`));
  return errs;
}

export function validateTolerations(tolerations: J, path: string): FieldError[] {
  const errs: FieldError[] = [];
  arr(tolerations).forEach((tol, i) => {
    const p = `${path}[${i}]`;
    const t = obj(tol);
    if (t.key) for (const m of isQualifiedName(t.key)) errs.push(invalid(`${p}.key`, t.key, m));
    if (!t.key && t.operator !== 'Exists') {
      errs.push(invalid(`${p}.operator`, t.operator ?? '', 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    }
    if (t.tolerationSeconds != null && t.effect !== 'NoExecute') {
      errs.push(invalid(`${p}.effect`, t.effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
    switch (t.operator ?? '') {
      case '': case 'Equal':
        for (const m of isValidLabelValue(String(t.value ?? ''))) errs.push(invalid(`${p}.operator`, t.value, m));
        break;
      case 'Exists':
        if (t.value) errs.push(invalid(`${p}.operator`, t.value, "value must be empty when `operator` is 'Exists'"));
        break;
      default:
        errs.push(notSupported(`${p}.operator`, t.operator, ['Equal', 'Exists']));
    }
    if (t.effect) {
      if (!taintEffects.includes(t.effect)) errs.push(notSupported(`${p}.effect`, t.effect, taintEffects));
    }
  });
  return errs;
}

/** ValidatePodSpec: path is `spec` for pods, `spec.template.spec` for templates. */
export function validatePodSpec(specIn: J, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!isObject(specIn)) return [required(path, '')];
  const spec: J = specIn;
  const vols = validateVolumes(spec.volumes, `${path}.volumes`);
  errs.push(...vols.errs);
  const names = new Set<string>();
  const hostPorts = new Set<string>();
  const hostNetwork = spec.hostNetwork === true;
  arr(spec.initContainers).forEach((c, i) => {
    errs.push(...validateContainer(c, `${path}.initContainers[${i}]`, { init: true, volumes: vols.names, hostNetwork, names, hostPorts }));
  });
  const containers = arr(spec.containers);
  if (containers.length === 0) errs.push(required(`${path}.containers`, ''));
  containers.forEach((c, i) => {
    errs.push(...validateContainer(c, `${path}.containers[${i}]`, { init: false, volumes: vols.names, hostNetwork, names, hostPorts }));
  });
  const rp = spec.restartPolicy ?? '';
  if (rp === '') errs.push(required(`${path}.restartPolicy`, ''));
  else if (!restartPolicies.includes(rp)) errs.push(notSupported(`${path}.restartPolicy`, rp, restartPolicies));
  const dp = spec.dnsPolicy ?? '';
  if (dp === '') errs.push(required(`${path}.dnsPolicy`, ''));
  else if (!dnsPolicies.includes(dp)) errs.push(notSupported(`${path}.dnsPolicy`, dp, dnsPolicies));
  if (dp === 'None' && spec.dnsConfig == null) {
    errs.push(required(`${path}.dnsConfig`, 'must provide `dnsConfig` when `dnsPolicy` is None'));
  }
  if (spec.dnsConfig != null) {
    const dc = obj(spec.dnsConfig);
    const ns = arr(dc.nameservers);
    if (ns.length > 3) errs.push(invalid(`${path}.dnsConfig.nameservers`, ns, 'must not have more than 3 nameservers'));
    ns.forEach((n, i) => { for (const m of isValidIP(String(n))) errs.push(invalid(`${path}.dnsConfig.nameservers[${i}]`, n, m)); });
    if (dp === 'None' && ns.length === 0) errs.push(required(`${path}.dnsConfig.nameservers`, 'must provide at least one DNS nameserver when `dnsPolicy` is None'));
  }
  errs.push(...validateLabels(spec.nodeSelector, `${path}.nodeSelector`));
  if (spec.serviceAccountName) {
    for (const m of isDNS1123Subdomain(spec.serviceAccountName)) errs.push(invalid(`${path}.serviceAccountName`, spec.serviceAccountName, m));
  }
  if (spec.nodeName) for (const m of isDNS1123Subdomain(spec.nodeName)) errs.push(invalid(`${path}.nodeName`, spec.nodeName, m));
  if (spec.hostname) for (const m of isDNS1123Label(spec.hostname)) errs.push(invalid(`${path}.hostname`, spec.hostname, m));
  if (spec.subdomain) for (const m of isDNS1123Label(spec.subdomain)) errs.push(invalid(`${path}.subdomain`, spec.subdomain, m));
  if (spec.activeDeadlineSeconds != null) {
    const v = spec.activeDeadlineSeconds;
    if (typeof v !== 'number' || v < 1 || v > 2147483647) errs.push(invalid(`${path}.activeDeadlineSeconds`, v, inclusiveRangeError(1, 2147483647)));
  }
  errs.push(...validateTolerations(spec.tolerations, `${path}.tolerations`));
  arr(spec.schedulingGates).forEach((g, i) => {
    const n = obj(g).name ?? '';
    for (const m of isQualifiedName(n)) errs.push(invalid(`${path}.schedulingGates[${i}].name`, n, m));
  });
  arr(spec.hostAliases).forEach((a, i) => {
    const ip = obj(a).ip ?? '';
    for (const m of isValidIP(ip)) errs.push(invalid(`${path}.hostAliases[${i}].ip`, ip, m));
  });
  if (spec.priorityClassName) {
    for (const m of isDNS1123Subdomain(spec.priorityClassName)) errs.push(invalid(`${path}.priorityClassName`, spec.priorityClassName, m));
  }
  if (spec.preemptionPolicy != null && !['PreemptLowerPriority', 'Never'].includes(spec.preemptionPolicy)) {
    errs.push(notSupported(`${path}.preemptionPolicy`, spec.preemptionPolicy, ['Never', 'PreemptLowerPriority']));
  }
  return errs;
}

/** ValidatePodTemplateSpec: labels, annotations and spec of a template at `path`. */
export function validatePodTemplateSpec(tpl: J, path: string): FieldError[] {
  if (!isObject(tpl)) return [required(path, '')];
  const meta = obj(tpl.metadata);
  return [
    ...validateLabels(meta.labels, `${path}.labels`),
    ...validateAnnotations(meta.annotations, `${path}.annotations`),
    ...validatePodSpec(tpl.spec, `${path}.spec`),
    ...(arr(obj(tpl.spec).ephemeralContainers).length
      ? [forbidden(`${path}.spec.ephemeralContainers`, 'ephemeral containers not allowed in pod template')] : []),
  ];
}

// ---- the Pod kind ----------------------------------------------------------------------

const updatablePodSpecFields = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
];

/** Dotted paths where two JSON values differ (a readable stand-in for upstream's cmp.Diff). */
function diffPaths(a: J, b: J, path: string, out: string[]): void {
  if (out.length >= 10) return;
  if (deepEqual(a, b)) return;
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => diffPaths(x, b[i], `${path}[${i}]`, out));
    return;
  }
  if (isObject(a) && isObject(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) diffPaths(a[k], b[k], `${path}.${k}`, out);
    return;
  }
  out.push(`  ${path}: ${JSON.stringify(a ?? null)} -> ${JSON.stringify(b ?? null)}`);
}

const tolerationKey = (t: J) => JSON.stringify([t?.key ?? '', t?.operator ?? '', t?.value ?? '', t?.effect ?? '']);

function validateOnlyAddedTolerations(newT: J, oldT: J, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const newer = arr(newT);
  for (const old of arr(oldT)) {
    const match = newer.find((t) => tolerationKey(t) === tolerationKey(old));
    if (!match) {
      errs.push(forbidden(path, 'existing toleration can not be modified except its tolerationSeconds'));
      break;
    }
    const os = old?.tolerationSeconds;
    const ns = match?.tolerationSeconds;
    if (os != null && (ns == null || ns > os)) {
      errs.push(forbidden(path, 'existing toleration can not be modified except its tolerationSeconds'));
      break;
    }
  }
  return errs;
}

/** ValidatePodUpdate's spec rules (metadata is validated by the server). */
export function validatePodUpdate(pod: J, old: J): FieldError[] {
  const errs: FieldError[] = [];
  const spec = obj(pod.spec);
  const oldSpec = obj(old.spec);
  errs.push(...validatePodSpec(spec, 'spec'));
  if (arr(spec.containers).length !== arr(oldSpec.containers).length) {
    return [...errs, forbidden('spec.containers', 'pod updates may not add or remove containers')];
  }
  if (arr(spec.initContainers).length !== arr(oldSpec.initContainers).length) {
    return [...errs, forbidden('spec.initContainers', 'pod updates may not add or remove containers')];
  }
  if (oldSpec.activeDeadlineSeconds != null) {
    if (spec.activeDeadlineSeconds == null) {
      errs.push(invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value'));
    } else if (spec.activeDeadlineSeconds > oldSpec.activeDeadlineSeconds) {
      errs.push(invalid('spec.activeDeadlineSeconds', spec.activeDeadlineSeconds, 'must be less than or equal to previous value'));
    }
  }
  errs.push(...validateOnlyAddedTolerations(spec.tolerations, oldSpec.tolerations, 'spec.tolerations'));
  // Scheduling gates may only be removed.
  const oldGates = new Set(arr(oldSpec.schedulingGates).map((g) => obj(g).name));
  for (const g of arr(spec.schedulingGates)) {
    if (!oldGates.has(obj(g).name)) {
      errs.push(forbidden('spec.schedulingGates', `only deletion is allowed, but found new scheduling gate '${String(obj(g).name)}'`));
    }
  }
  if (podQOSClass(oldSpec) !== podQOSClass(spec)) {
    errs.push(invalid('metadata', obj(pod.status).qosClass ?? '', 'Pod QoS is immutable'));
  }
  // Munge the old spec with what may change, then compare.
  const munged: J = structuredClone(oldSpec);
  arr(munged.containers).forEach((c, i) => { if (isObject(c)) c.image = obj(spec.containers[i]).image; });
  arr(munged.initContainers).forEach((c, i) => { if (isObject(c)) c.image = obj(spec.initContainers[i]).image; });
  munged.activeDeadlineSeconds = spec.activeDeadlineSeconds;
  munged.tolerations = spec.tolerations;
  munged.schedulingGates = spec.schedulingGates;
  if (typeof oldSpec.terminationGracePeriodSeconds === 'number' && oldSpec.terminationGracePeriodSeconds < 0 &&
      spec.terminationGracePeriodSeconds === 1) {
    munged.terminationGracePeriodSeconds = 1;
  }
  // podnet has no binding subresource: spec.nodeName may be set once, from empty.
  if (!oldSpec.nodeName && spec.nodeName) munged.nodeName = spec.nodeName;
  if (!deepEqual(munged, spec)) {
    const diff: string[] = [];
    diffPaths(munged, spec, 'spec', diff);
    errs.push(forbidden('spec', `pod updates may not change fields other than ${updatablePodSpecFields.join(',')}\n${diff.join('\n')}`));
  }
  return errs;
}

const podPhases = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];
const terminal = (phase: unknown) => phase === 'Succeeded' || phase === 'Failed';

/** ValidatePodStatusUpdate, the checks that matter here. */
export function validatePodStatusUpdate(pod: J, old: J): FieldError[] {
  const errs: FieldError[] = [];
  const st = obj(pod.status);
  const oldSt = obj(old.status);
  if (st.phase !== undefined && !podPhases.includes(st.phase)) errs.push(notSupported('status.phase', st.phase, podPhases));
  if (terminal(oldSt.phase) && st.phase !== oldSt.phase) {
    errs.push(forbidden('status.phase', `may not be transitioned to non-terminal phase "${String(st.phase ?? '')}" from terminal phase "${String(oldSt.phase)}"`));
  }
  if ((oldSt.qosClass ?? '') !== (st.qosClass ?? '')) errs.push(invalid('status.qosClass', st.qosClass ?? '', 'field is immutable'));
  if (st.nominatedNodeName) {
    for (const m of isDNS1123Subdomain(st.nominatedNodeName)) errs.push(invalid('status.nominatedNodeName', st.nominatedNodeName, m));
  }
  const ips = arr(st.podIPs);
  if (ips.length > 2) errs.push(invalid('status.podIPs', ips, 'may specify no more than one IP for each IP family'));
  const seen = new Set<string>();
  ips.forEach((p, i) => {
    const ip = String(obj(p).ip ?? '');
    for (const m of isValidIP(ip)) errs.push(invalid(`status.podIPs[${i}].ip`, ip, m));
    if (seen.has(ip)) errs.push(duplicate(`status.podIPs[${i}]`, ip));
    seen.add(ip);
  });
  if (st.podIP && ips.length && obj(ips[0]).ip !== st.podIP) {
    errs.push(invalid('status.podIPs[0].ip', obj(ips[0]).ip, 'must match status.podIP'));
  }
  arr(st.hostIPs).forEach((p, i) => {
    const ip = String(obj(p).ip ?? '');
    for (const m of isValidIP(ip)) errs.push(invalid(`status.hostIPs[${i}].ip`, ip, m));
  });
  for (const f of ['containerStatuses', 'initContainerStatuses']) {
    arr(st[f]).forEach((cs, i) => {
      errs.push(...validateNonnegative(obj(cs).restartCount, `status.${f}[${i}].restartCount`));
    });
  }
  return errs;
}

// ---- `kubectl get pods` ------------------------------------------------------------------

const zeroDate = new Date(0);
const since = (ts: unknown, now: Date): string => {
  if (typeof ts !== 'string' || !ts) return '<unknown>';
  const t = Date.parse(ts);
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now.getTime() - t);
};
const laterOf = (a: Date, ts: unknown): Date => {
  if (typeof ts !== 'string') return a;
  const t = new Date(ts);
  return !Number.isNaN(t.getTime()) && t > a ? t : a;
};

/** printPod's READY, STATUS, RESTARTS and wide cells. */
export function podRow(pod: J, now: Date): unknown[] {
  const spec = obj(pod.spec);
  const status = obj(pod.status);
  const initSpecs = new Map<string, J>(arr(spec.initContainers).map((c) => [obj(c).name, obj(c)]));
  const restartable = (name: string) => initSpecs.get(name)?.restartPolicy === 'Always';
  let total = arr(spec.containers).length;
  for (const c of initSpecs.values()) if (c.restartPolicy === 'Always') total++;
  let ready = 0;
  let restarts = 0;
  let sidecarRestarts = 0;
  let lastRestart = zeroDate;
  let lastSidecarRestart = zeroDate;
  let reason: string = status.reason || status.phase || '';
  for (const c of arr(status.conditions)) {
    if (obj(c).type === 'PodScheduled' && obj(c).reason === 'SchedulingGated') reason = 'SchedulingGated';
  }
  let initializing = false;
  const initStatuses = arr(status.initContainerStatuses);
  const nInit = arr(spec.initContainers).length;
  for (let i = 0; i < initStatuses.length; i++) {
    const cs = obj(initStatuses[i]);
    const state = obj(cs.state);
    const lastTerm = obj(obj(cs.lastState).terminated);
    restarts += cs.restartCount ?? 0;
    lastRestart = laterOf(lastRestart, lastTerm.finishedAt);
    if (restartable(cs.name)) {
      sidecarRestarts += cs.restartCount ?? 0;
      lastSidecarRestart = laterOf(lastSidecarRestart, lastTerm.finishedAt);
    }
    const term = state.terminated;
    if (isObject(term) && term.exitCode === 0) continue;
    if (restartable(cs.name) && cs.started === true) {
      if (cs.ready) ready++;
      continue;
    }
    if (isObject(term)) {
      if (!term.reason) reason = term.signal ? `Init:Signal:${String(term.signal)}` : `Init:ExitCode:${String(term.exitCode ?? 0)}`;
      else reason = `Init:${String(term.reason)}`;
    } else if (isObject(state.waiting) && state.waiting.reason && state.waiting.reason !== 'PodInitializing') {
      reason = `Init:${String(state.waiting.reason)}`;
    } else {
      reason = `Init:${i}/${nInit}`;
    }
    initializing = true;
    break;
  }
  const initializedTrue = arr(status.conditions).some((c) => obj(c).type === 'Initialized' && obj(c).status === 'True');
  if (!initializing || initializedTrue) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses = arr(status.containerStatuses);
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = obj(statuses[i]);
      const state = obj(cs.state);
      restarts += cs.restartCount ?? 0;
      lastRestart = laterOf(lastRestart, obj(obj(cs.lastState).terminated).finishedAt);
      const w = state.waiting;
      const t = state.terminated;
      if (isObject(w) && w.reason) reason = String(w.reason);
      else if (isObject(t) && t.reason) reason = String(t.reason);
      else if (isObject(t)) reason = t.signal ? `Signal:${String(t.signal)}` : `ExitCode:${String(t.exitCode ?? 0)}`;
      else if (cs.ready && isObject(state.running)) { hasRunning = true; ready++; }
    }
    if (reason === 'Completed' && hasRunning) {
      const podReady = arr(status.conditions).some((c) => obj(c).type === 'Ready' && obj(c).status === 'True');
      reason = podReady ? 'Running' : 'NotReady';
    }
  }
  if (pod.metadata?.deletionTimestamp && status.reason === 'NodeLost') reason = 'Unknown';
  else if (pod.metadata?.deletionTimestamp && !terminal(status.phase)) reason = 'Terminating';
  let restartsStr = String(restarts);
  if (restarts !== 0 && lastRestart.getTime() !== 0) {
    restartsStr = `${restarts} (${humanDuration(now.getTime() - lastRestart.getTime())} ago)`;
  }
  const ips = arr(status.podIPs);
  const podIP = (ips.length ? String(obj(ips[0]).ip ?? '') : '') || '<none>';
  let gates = '<none>';
  const rg = arr(spec.readinessGates);
  if (rg.length) {
    let trueCount = 0;
    for (const g of rg) {
      const c = arr(status.conditions).find((x) => obj(x).type === obj(g).conditionType);
      if (c && obj(c).status === 'True') trueCount++;
    }
    gates = `${trueCount}/${rg.length}`;
  }
  return [
    pod.metadata?.name, `${ready}/${total}`, reason, restartsStr, since(pod.metadata?.creationTimestamp, now),
    podIP, spec.nodeName || '<none>', status.nominatedNodeName || '<none>', gates,
  ];
}

/** The pod strategy's default grace period; undefined (delete at once) when not scheduled or finished. */
export function podGracePeriod(pod: J): number | undefined {
  if (!obj(pod.spec).nodeName) return undefined;
  if (terminal(obj(pod.status).phase)) return undefined;
  const g = obj(pod.spec).terminationGracePeriodSeconds;
  const period = typeof g === 'number' ? g : 30;
  return period < 0 ? 1 : period;
}

const nameCol = { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.', priority: 0 } as const;
const ageCol = { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 } as const;
export const commonColumns = { nameCol, ageCol };

export const pods: ResourceType = {
  group: '', version: 'v1', kind: 'Pod', plural: 'pods', singular: 'pod', shortNames: ['po'], categories: ['all'],
  namespaced: true, model: 'V1Pod', subresources: { status: true },
  fieldSelectors: {
    'spec.nodeName': (o) => String(obj((o as J).spec).nodeName ?? ''),
    'spec.restartPolicy': (o) => String(obj((o as J).spec).restartPolicy ?? ''),
    'spec.schedulerName': (o) => String(obj((o as J).spec).schedulerName ?? ''),
    'spec.serviceAccountName': (o) => String(obj((o as J).spec).serviceAccountName ?? ''),
    'spec.hostNetwork': (o) => String(obj((o as J).spec).hostNetwork === true),
    'status.phase': (o) => String(obj((o as J).status).phase ?? ''),
    'status.podIP': (o) => String(obj(arr(obj((o as J).status).podIPs)[0]).ip ?? obj((o as J).status).podIP ?? ''),
    'status.podIPs': (o) => arr(obj((o as J).status).podIPs).map((p) => String(obj(p).ip ?? '')).join(','),
    'status.nominatedNodeName': (o) => String(obj((o as J).status).nominatedNodeName ?? ''),
  },
  table: {
    columns: [
      nameCol,
      { name: 'Ready', type: 'string', description: 'The aggregate readiness state of this pod for accepting traffic.', priority: 0 },
      { name: 'Status', type: 'string', description: 'The aggregate status of the containers in this pod.', priority: 0 },
      { name: 'Restarts', type: 'string', description: 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.', priority: 0 },
      ageCol,
      { name: 'IP', type: 'string', description: "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", priority: 1 },
      { name: 'Node', type: 'string', description: 'NodeName indicates in which node this pod is scheduled.', priority: 1 },
      { name: 'Nominated Node', type: 'string', description: 'nominatedNodeName is set only when this pod preempts other pods on the node.', priority: 1 },
      { name: 'Readiness Gates', type: 'string', description: 'If specified, all readiness gates will be evaluated for pod readiness.', priority: 1 },
    ],
    row: (o, now) => podRow(o, now),
  },
  defaults: (o) => defaultPod(o),
  prepareForCreate(o) {
    const pod = o as J;
    defaultPod(pod);
    admitPod(pod);
    const status: J = { phase: 'Pending', qosClass: podQOSClass(pod.spec) };
    if (arr(pod.spec.schedulingGates).length) {
      status.conditions = [{
        type: 'PodScheduled', status: 'False', reason: 'SchedulingGated',
        message: 'Scheduling is blocked due to non-empty scheduling gates', lastProbeTime: null, lastTransitionTime: null,
      }];
    }
    pod.status = status;
  },
  prepareForUpdate(o, old) {
    (o as J).status = structuredClone((old as J).status);
  },
  validateCreate: (o) => [
    ...validatePodSpec((o as J).spec, 'spec'),
    ...(arr(obj((o as J).spec).ephemeralContainers).length ? [forbidden('spec.ephemeralContainers', 'cannot be set on create')] : []),
  ],
  validateUpdate: (o, old) => validatePodUpdate(o, old),
  validateStatusUpdate: (o, old) => validatePodStatusUpdate(o, old),
  gracePeriodSeconds: (o) => podGracePeriod(o),
};
