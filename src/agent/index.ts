// The node agent (kubelet + runtime): registers the Node and keeps its Lease, writes the CNI
// configuration once node IPAM has given the node its pod ranges, and runs the pods bound to
// it — a network namespace per pod (the sandbox), processes per container, restarts with
// back-off, logs, status through /status, graceful deletion.
//
// Level-triggered: one work queue keyed by pod uid; every informer event, container exit and
// back-off timer only enqueues the uid, and syncPod() compares what the API asks for with what
// runs and closes the gap. Sandboxes are recorded under <stateDir>/pods/<ns>_<name>_<uid>/, so a
// restarted agent adopts the sandboxes of pods that still exist and removes the others.

import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { StatusError } from '../api/errors.js';
import type { KObject } from '../api/meta.js';
import type { ApiClient } from '../client/client.js';
import { Informer } from '../client/informer.js';
import { runWorkers, WorkQueue, ItemExponentialRateLimiter } from '../client/workqueue.js';
import { buildConflist, pluginConf, removeConflist, writeConflist } from '../cni/conflist.js';
import { EventRecorder } from '../controllers/scheduler.js';
import { podCIDRsOf, postNodeStatus, registerNode, renewLease, NODES, type NodeIdentity } from './node.js';
import { startKubeletServer, type KubeletServer } from './server.js';
import {
  apiTime, backoffDelayMs, BACKOFF_BASE_MS, BACKOFF_MAX_MS, BACKOFF_RESET_MS, bridgeName, computePodStatus, containerEnv,
  ContainerConfigError, parseResolvConf, podDirName, podHostname, podResolvConf, processEnv, renderHosts, renderResolvConf,
  resolveContainerCommand, sameStatus, sandboxName, serviceEnv, shouldRestart, toPodInfo, waitingStatus,
  type Container, type ServiceLink, type ContainerRuntimeStatus, type PodInfo,
} from './pure.js';
import { parseProbe, ProbeState, runProbe, type ProbeSpec } from './probe.js';
import { containerResources, podResources, PodCgroups, type CgroupDir } from './cgroups.js';
import {
  attachSandbox, destroySandbox, ensureNetns, killStale, startContainerProcess, which, writeJsonAtomic, writeNetnsFiles,
  type CniContext, type ContainerProcess, type SandboxState,
} from './runtime.js';
import { CONFIGMAPS, PODS, SECRETS, SERVICES } from '../client/resources.js';
import { nativeNetexec } from './agnhost/index.js';

export * from './pure.js';
export { cniPluginPath } from './runtime.js';


export interface AgentOptions {
  client: ApiClient;
  nodeName: string;
  /** Name prefix of everything the agent creates (netns, bridge, CNI network). */
  clusterName: string;
  /** The node's netns (pods attach to its bridge); undefined = the agent's own netns. */
  nodeNetns?: string;
  cniConfDir: string;
  cniDataDir: string;
  /** Logs and pod records. */
  stateDir: string;
  /** Pod ranges to use instead of waiting for Node.spec.podCIDRs. */
  podCIDRs?: string[];
  internalIPs: string[];
  zone?: string;
  clusterDNS?: string;
  clusterDomain?: string;
  /** Restart back-off base and cap (ms); kubelet's 10 s and 5 min by default. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Lease renewal and status heartbeat period (ms). Default 10 000. */
  heartbeatMs?: number;
  /**
   * Probe pods over the network straight from the agent's process (it has routes to the pods,
   * as under `podnet up`); otherwise probes run from a helper process in the pod's namespace.
   */
  probeFromNode?: boolean;
  /**
   * Serve the kubelet API (container logs) here. The API server authenticates with `token`.
   * `address` is published on the Node when it differs from the InternalIP.
   */
  kubeletServer?: { host: string; port?: number; token: string; address?: string };
  /**
   * The node's cgroup level (memory, and CPU when the machine has it): pods and containers get
   * cgroups below it (cgroups.ts). Without it containers run in the agent's own cgroups and
   * resource limits are not enforced.
   */
  cgroup?: CgroupDir;
  log?: (msg: string) => void;
}

export interface Agent {
  stop(opts?: { teardown?: boolean }): Promise<void>;
  /** The log file of a container's current (or previous) instance; undefined when there is none. */
  logPath(namespace: string, name: string, container: string, opts?: { previous?: boolean }): string | undefined;
  /** The sandbox netns of a pod running here (undefined for hostNetwork pods or unknown ones). */
  sandboxOf(namespace: string, name: string): string | undefined;
}

/** `<stateDir>/pods/<ns>_<name>_<uid>/<container>/<restartCount>.log` */
export function containerLogPath(stateDir: string, pod: { namespace: string; name: string; uid: string }, container: string, restartCount: number): string {
  return path.join(stateDir, 'pods', podDirName(pod), container, `${restartCount}.log`);
}

interface Slot {
  spec: Container;
  status: ContainerRuntimeStatus;
  proc?: ContainerProcess;
  /** Restarts since the back-off window began. */
  window: number;
  /** Set when a failure to create (image, config) is pending a retry. */
  retryAt?: number;
  starts: number;
  /** The running instance's environment: `kubectl exec` commands get it too, as under a CRI runtime. */
  env?: Record<string, string>;
}

interface PodState {
  uid: string;
  info: PodInfo;
  dir: string;
  netns: string;
  sandboxReady: boolean;
  sandboxGone: boolean;
  podIPs: string[];
  startTime: string;
  init: Map<string, Slot>;
  containers: Map<string, Slot>;
  lastPosted?: unknown;
  /** Restart counts carried over from an earlier agent run. */
  carried?: Record<string, number>;
}

/** A timer that does not keep the process alive. */
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

function readNodeResolv(nodeNetns?: string): string {
  for (const f of [...(nodeNetns ? [`/etc/netns/${nodeNetns}/resolv.conf`] : []), '/etc/resolv.conf']) {
    try { return readFileSync(f, 'utf8'); } catch { /* next */ }
  }
  return '';
}

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const { client, nodeName, clusterName } = opts;
  const log = opts.log ?? ((m: string) => process.stderr.write(`podnet agent ${nodeName}: ${m}\n`));
  const domain = opts.clusterDomain ?? 'cluster.local';
  const backoffBase = opts.backoffBaseMs ?? BACKOFF_BASE_MS;
  const backoffMax = opts.backoffMaxMs ?? BACKOFF_MAX_MS;
  let kubelet: KubeletServer | undefined;
  let agentRef: Agent | undefined;
  if (opts.kubeletServer) {
    kubelet = await startKubeletServer({
      logPath: (...a) => agentRef?.logPath(...a),
      execTarget: (ns, name, container) => execTargetOf(ns, name, container),
    }, opts.kubeletServer);
  }
  const id: NodeIdentity = {
    nodeName, internalIPs: opts.internalIPs, zone: opts.zone,
    kubeletPort: kubelet?.port, kubeletAddress: opts.kubeletServer?.address,
  };
  const recorder = new EventRecorder(client, 'kubelet', nodeName);
  const netexec = nativeNetexec();
  log(netexec.path ? `agnhost netexec: native (${netexec.path})` : `agnhost netexec: on Node.js, slower to start (${netexec.problem})`);
  const cgroups = opts.cgroup ? new PodCgroups(opts.cgroup) : undefined;
  const podsDir = path.join(opts.stateDir, 'pods');
  await fs.mkdir(podsDir, { recursive: true, mode: 0o755 });
  const bridge = bridgeName(clusterName);
  const hostNetns = async () => opts.nodeNetns && (await needsNodeNetns()) ? opts.nodeNetns : undefined;
  let inNode: Promise<boolean> | undefined;
  const needsNodeNetns = () => (inNode ??= import('../cni/bridge.js').then(async (b) => (await b.inNamedNetns()) !== opts.nodeNetns));

  let cni: CniContext | undefined;
  let networkMessage = 'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized';
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();

  // ---- node registration, heartbeats, pod CIDRs ----
  let node = await registerNode(client, id, { ok: false, message: networkMessage });
  await renewLease(client, nodeName, node).catch((e: Error) => log(`lease: ${e.message}`));

  const setupNetwork = async (cidrs: string[]) => {
    const conf = {
      name: clusterName, bridge, podCIDRs: cidrs, dataDir: opts.cniDataDir,
      ...(/^[a-zA-Z0-9_.-]{1,7}$/.test(clusterName) ? { vethPrefix: clusterName } : {}),
    };
    await writeConflist(opts.cniConfDir, conf);
    cni = { nodeNetns: opts.nodeNetns, conf: pluginConf(buildConflist(conf)) };
    node = await postNodeStatus(client, id, { ok: true });
    log(`network ready: pod CIDRs ${cidrs.join(', ')}, bridge ${bridge}`);
    for (const uid of podsByUid.keys()) queue.add(uid);
  };

  const heartbeat = async () => {
    if (stopped) return;
    try {
      await renewLease(client, nodeName, node);
      if (!cni) {
        const cur = await client.resource(NODES).get(nodeName);
        const cidrs = opts.podCIDRs?.length ? opts.podCIDRs : podCIDRsOf(cur);
        if (cidrs.length) { await setupNetwork(cidrs); return; }
      }
      node = await postNodeStatus(client, id, cni ? { ok: true } : { ok: false, message: networkMessage });
    } catch (e) {
      log(`heartbeat: ${(e as Error).message}`);
    }
  };
  const every = (ms: number, f: () => unknown) => { const t = setInterval(f, ms); t.unref(); timers.add(t); };

  // ---- pods ----
  const podsByUid = new Map<string, PodInfo>();
  const states = new Map<string, PodState>();
  const queue = new WorkQueue<string>({ name: `agent ${nodeName}`, rateLimiter: new ItemExponentialRateLimiter<string>(500, 30_000) });
  const enqueue = (p: PodInfo) => queue.add(p.uid);
  const informer = new Informer<KObject & { rec: PodInfo }>(client.resource(PODS), {
    name: `agent ${nodeName} pods`,
    fieldSelector: `spec.nodeName=${nodeName}`,
    transform: (o) => ({ metadata: { name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid }, rec: toPodInfo(o) }),
    handlers: {
      onAdd: ({ rec }) => { podsByUid.set(rec.uid, rec); enqueue(rec); },
      onUpdate: (old, { rec }) => {
        if (old.rec.uid !== rec.uid) { podsByUid.delete(old.rec.uid); queue.add(old.rec.uid); }
        podsByUid.set(rec.uid, rec); enqueue(rec);
      },
      onDelete: ({ rec }) => { podsByUid.delete(rec.uid); queue.add(rec.uid); },
    },
  });

  // Services, for the environment variables of containers (enableServiceLinks): watched, as
  // kubelet does, rather than listed for every container start.
  const services = new Informer<KObject & { link: ServiceLink }>(client.resource(SERVICES), {
    name: `agent ${nodeName} services`,
    transform: (o) => {
      const spec = (o.spec ?? {}) as { clusterIP?: string; ports?: { name?: string; port: number; protocol?: string }[] };
      return {
        metadata: { name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid },
        link: { name: o.metadata.name ?? '', clusterIP: spec.clusterIP ?? '', ports: spec.ports ?? [] },
      };
    },
  });

  const event = (p: PodInfo, type: 'Normal' | 'Warning', reason: string, message: string) => {
    void recorder.event({ kind: 'Pod', apiVersion: 'v1', name: p.name, namespace: p.namespace, uid: p.uid }, type, reason, message);
  };

  const saveState = async (st: PodState) => {
    const pids: Record<string, number> = {};
    for (const s of [...st.init.values(), ...st.containers.values()]) if (s.proc) pids[s.spec.name] = s.proc.pid;
    const rec: SandboxState = { uid: st.uid, namespace: st.info.namespace, name: st.info.name, netns: st.netns, podIPs: st.podIPs, createdAt: st.startTime, pids };
    await writeJsonAtomic(path.join(st.dir, 'sandbox.json'), rec);
  };

  const newState = (p: PodInfo): PodState => ({
    uid: p.uid, info: p, dir: path.join(podsDir, podDirName(p)),
    netns: p.hostNetwork ? '' : sandboxName(clusterName, p),
    sandboxReady: false, sandboxGone: false, podIPs: [], startTime: p.status.startTime ?? apiTime(),
    init: new Map(), containers: new Map(),
  });

  async function ensureSandbox(st: PodState): Promise<void> {
    if (st.sandboxReady) return;
    const p = st.info;
    await fs.mkdir(st.dir, { recursive: true, mode: 0o755 });
    if (p.hostNetwork) {
      st.podIPs = [...opts.internalIPs];
    } else {
      if (!cni) throw new Error('network not ready');
      await saveState(st); // recorded before anything exists, so a crash in between is cleaned up
      await ensureNetns(st.netns);
      st.podIPs = await attachSandbox(cni, st.uid, st.netns, p);
      const resolv = podResolvConf(p, parseResolvConf(readNodeResolv(opts.nodeNetns)), { clusterDNS: opts.clusterDNS, clusterDomain: domain });
      await writeNetnsFiles(st.netns, renderResolvConf(resolv), renderHosts(p, st.podIPs, domain));
    }
    st.sandboxReady = true;
    await saveState(st);
  }

  async function teardownSandbox(st: PodState): Promise<void> {
    if (st.sandboxGone) return;
    if (st.netns) await destroySandbox(cni, st.uid, st.netns);
    await cgroups?.removePod(st.uid);
    st.sandboxGone = true;
    st.sandboxReady = false;
  }

  const allSlots = (st: PodState) => [...st.init.values(), ...st.containers.values()];

  /** SIGTERM every container, SIGKILL after `graceSec`, wait for them to go. */
  async function killAll(st: PodState, graceSec: number): Promise<void> {
    const running = allSlots(st).filter((s) => s.proc);
    if (!running.length) return;
    for (const s of running) { event(st.info, 'Normal', 'Killing', `Stopping container ${s.spec.name}`); s.proc!.kill('SIGTERM'); }
    const all = Promise.all(running.map((s) => s.proc!.exited));
    const t = await Promise.race([all.then(() => true), sleep(Math.max(0, graceSec) * 1000).then(() => false)]);
    if (!t) for (const s of running) s.proc?.kill('SIGKILL');
    await Promise.race([all, sleep(5000)]);
  }

  function slotFor(map: Map<string, Slot>, st: PodState, c: Container): Slot {
    let s = map.get(c.name);
    if (!s) {
      const carried = st.carried?.[c.name];
      s = { spec: c, status: waitingStatus(c, map === st.init ? 'PodInitializing' : 'ContainerCreating'), window: 0, starts: 0 };
      if (carried !== undefined) s.status.restartCount = carried;
      map.set(c.name, s);
    }
    s.spec = c;
    return s;
  }

  /** Starts one container instance; reflects failures in its status. */
  async function startContainer(st: PodState, s: Slot, restart: boolean): Promise<void> {
    const p = st.info;
    const c = s.spec;
    const restartCount = s.status.restartCount + (restart ? 1 : 0);
    const lastState = restart && 'terminated' in s.status.state ? s.status.state : s.status.lastState;
    let env: Record<string, string>;
    try {
      await loadRefs(p, c);
      env = containerEnv(p, c, {
        podIPs: st.podIPs, hostIPs: opts.internalIPs,
        configMap: (n) => cache.get(`cm/${p.namespace}/${n}`), secret: (n) => cache.get(`secret/${p.namespace}/${n}`),
        services: p.enableServiceLinks ? await serviceLinks(p.namespace) : {},
      });
    } catch (e) {
      if (!(e instanceof ContainerConfigError)) throw e;
      s.status = { ...s.status, state: { waiting: { reason: 'CreateContainerConfigError', message: e.message } } };
      s.retryAt = Date.now() + 2000;
      event(p, 'Warning', 'Failed', `Error: ${e.message}`);
      return;
    }
    const hostname = podHostname(p);
    const r = resolveContainerCommand(c, env, which);
    if (r.kind === 'error' && r.reason === 'ErrImagePull') {
      const again = 'waiting' in s.status.state && (s.status.state.waiting.reason === 'ErrImagePull' || s.status.state.waiting.reason === 'ImagePullBackOff');
      s.status = { ...s.status, state: { waiting: { reason: again ? 'ImagePullBackOff' : 'ErrImagePull', message: again ? `Back-off pulling image "${c.image}": ${r.message}` : r.message } } };
      s.window++;
      s.retryAt = Date.now() + backoffDelayMs(s.window, backoffBase, backoffMax);
      event(p, 'Warning', 'Failed', `Failed to pull image "${c.image}": ${r.message}`);
      return;
    }
    s.retryAt = undefined;
    const containerID = randomBytes(32).toString('hex');
    const now = Date.now();
    if (r.kind === 'error') {
      // StartError: the container was created but could not run, as runc reports a missing binary.
      s.status = {
        ...s.status, containerID: `podnet://${containerID}`, restartCount, ...(lastState ? { lastState } : {}), ready: false, started: false,
        state: { terminated: { exitCode: 128, reason: 'StartError', message: r.message, startedAt: apiTime(0), finishedAt: apiTime(now), containerID: `podnet://${containerID}` } },
      };
      event(p, 'Warning', 'Failed', `Error: ${r.message}`);
      return;
    }
    const logFile = containerLogPath(opts.stateDir, p, c.name, restartCount);
    // keep the current and the previous instance's logs only
    const cdir = path.dirname(logFile);
    for (const f of await fs.readdir(cdir).catch(() => [] as string[])) {
      const n = Number(f.replace(/\.log$/, ''));
      if (f.endsWith('.log') && Number.isInteger(n) && n < restartCount - 1) await fs.rm(path.join(cdir, f), { force: true });
    }
    await fs.rm(logFile, { force: true });
    const netns = p.hostNetwork ? await hostNetns() : st.netns;
    const isMain = st.containers.get(c.name) === s;
    const readiness = isMain ? parseProbe(c.readinessProbe, c, st.podIPs[0] ?? '') : undefined;
    const startup = isMain ? parseProbe(c.startupProbe, c, st.podIPs[0] ?? '') : undefined;
    const procEnv = processEnv(hostname, env, r.env);
    let cgroupProcs: string[] | undefined;
    if (cgroups) {
      try {
        await cgroups.ensurePod(st.uid, podResources(p));
        cgroupProcs = await cgroups.createContainer(st.uid, c.name, restartCount, containerResources(c));
      } catch (e) {
        s.status = { ...s.status, state: { waiting: { reason: 'CreateContainerError', message: (e as Error).message } } };
        s.retryAt = Date.now() + 2000;
        event(p, 'Warning', 'Failed', `Error: ${(e as Error).message}`);
        return;
      }
    }
    const proc = await startContainerProcess({
      netns, command: r.command, args: r.args, env: procEnv, cwd: c.workingDir, logFile, cgroupProcs,
    });
    s.proc = proc;
    s.starts++;
    s.status = {
      name: c.name, image: c.image, imageID: r.imageID, containerID: `podnet://${containerID}`,
      state: { running: { startedAt: apiTime(proc.startedAt) } }, ...(lastState ? { lastState } : {}),
      // without a readiness probe a running container is ready (init containers never are)
      restartCount, ready: isMain && !readiness && !startup, started: !startup,
    };
    s.env = procEnv;
    if (isMain) startProbes(st, s, proc, netns, procEnv, readiness, parseProbe(c.livenessProbe, c, st.podIPs[0] ?? ''), startup);
    if (s.starts === 1 && !restart) event(p, 'Normal', 'Pulled', `Container image "${c.image}" already present on machine`);
    event(p, 'Normal', 'Created', `Created container: ${c.name}`);
    event(p, 'Normal', 'Started', `Started container ${c.name}`);
    await saveState(st);
    const uid = st.uid;
    void proc.exited.then((x) => {
      if (s.proc !== proc) return;
      s.proc = undefined;
      if (x.finishedAt - proc.startedAt > BACKOFF_RESET_MS) s.window = 0;
      // The kernel's OOM killer acted in the container's cgroup: kubelet's OOMKilled.
      const oomKilled = cgroups?.oomKilled(uid, c.name, restartCount) ?? false;
      if (cgroups) void cgroups.removeContainer(uid, c.name, restartCount).catch((e: Error) => log(e.message));
      s.status = {
        ...s.status, ready: false, started: false,
        state: { terminated: { exitCode: x.exitCode, reason: oomKilled ? 'OOMKilled' : x.exitCode === 0 ? 'Completed' : 'Error', startedAt: apiTime(proc.startedAt), finishedAt: apiTime(x.finishedAt), containerID: `podnet://${containerID}` } },
      };
      queue.add(uid);
    });
  }

  /**
   * Probing of one container instance, until it exits: the startup probe first (the others
   * wait for it; failing it restarts the container), then readiness and liveness.
   */
  function startProbes(st: PodState, s: Slot, proc: ContainerProcess, netns: string | undefined, env: Record<string, string>,
    readiness: ProbeSpec | undefined, liveness: ProbeSpec | undefined, startup?: ProbeSpec): void {
    /** Runs a probe every period; `onResult` returns false to stop probing. */
    const loop = async (spec: ProbeSpec, what: string, onResult: (ok: boolean) => boolean | void) => {
      await sleep(spec.initialDelayMs);
      while (s.proc === proc && !stopped) {
        const ok = await runProbe(spec, netns, env, { fromHere: opts.probeFromNode, cgroupProcs: proc.cgroupProcs }).catch(() => false);
        if (s.proc !== proc || stopped) return;
        if (!ok) {
          const why = spec.target.kind === 'unsupported' ? spec.target.message : `${spec.target.kind} probe did not succeed`;
          event(st.info, 'Warning', 'Unhealthy', `${what} probe failed: ${why}`);
        }
        if (onResult(ok) === false) return;
        await sleep(spec.periodMs);
      }
    };
    const restartFor = (why: string) => {
      event(st.info, 'Normal', 'Killing', `Container ${s.spec.name} ${why}, will be restarted`);
      proc.kill('SIGTERM');
      void sleep(st.info.terminationGracePeriodSeconds * 1000).then(() => { if (s.proc === proc) proc.kill('SIGKILL'); });
    };
    if (startup) {
      const ps = new ProbeState(startup, false);
      void loop(startup, 'Startup', (ok) => {
        if (ps.record(ok)) {
          s.status = { ...s.status, started: true, ...(readiness ? {} : { ready: true }) };
          queue.add(st.uid);
          startOthers();
          return false;
        }
        if (ps.failures >= startup.failureThreshold) { restartFor('failed startup probe'); return false; }
        return true;
      });
    } else {
      startOthers();
    }
    function startOthers(): void {
    if (readiness) {
      const ps = new ProbeState(readiness, false);
      void loop(readiness, 'Readiness', (ok) => {
        const now = ps.record(ok);
        if (now !== s.status.ready && 'running' in s.status.state) { s.status = { ...s.status, ready: now }; queue.add(st.uid); }
      });
    }
    if (liveness) {
      const ps = new ProbeState(liveness, true);
      void loop(liveness, 'Liveness', (ok) => {
        if (ps.record(ok)) return;
        restartFor('failed liveness probe');
        return false;
      });
    }
    }
  }

  /**
   * Drives one container towards its desired state. Returns false while the container has
   * not finished (init containers: not yet succeeded). Sets `wake` for back-off timers.
   */
  async function stepContainer(st: PodState, s: Slot, isInit: boolean, wake: (at: number) => void): Promise<boolean> {
    const now = Date.now();
    if (s.proc) return false;
    const state = s.status.state;
    const started = async (restart: boolean) => {
      await startContainer(st, s, restart);
      // a failure to create retries later; a failure to start goes through the restart policy
      if (s.retryAt !== undefined) wake(s.retryAt);
      else if (!s.proc) wake(Date.now());
      return false;
    };
    if ('waiting' in state && s.status.restartCount === 0 && !s.status.lastState && s.starts === 0 && s.retryAt === undefined) {
      return started(false);
    }
    if (s.retryAt !== undefined) {
      if (now < s.retryAt) { wake(s.retryAt); return false; }
      return started(s.starts > 0 || 'terminated' in s.status.state);
    }
    const term = 'terminated' in state ? state.terminated : s.status.lastState && 'terminated' in s.status.lastState ? s.status.lastState.terminated : undefined;
    if (!term) return started(false);
    if (isInit && term.exitCode === 0 && 'terminated' in state) return true;
    const restart = isInit ? term.exitCode !== 0 && st.info.restartPolicy !== 'Never' : shouldRestart(st.info.restartPolicy, term.exitCode);
    if (!restart) return 'terminated' in state && term.exitCode === 0;
    const due = Date.parse(term.finishedAt) + backoffDelayMs(s.window, backoffBase, backoffMax);
    if (now < due) {
      const delay = backoffDelayMs(s.window, backoffBase, backoffMax);
      if (!('waiting' in state && state.waiting.reason === 'CrashLoopBackOff')) {
        event(st.info, 'Warning', 'BackOff', `Back-off restarting failed container ${s.spec.name} in pod ${st.info.name}_${st.info.namespace}(${st.uid})`);
      }
      s.status = {
        ...s.status, ready: false, started: false, lastState: 'terminated' in state ? state : s.status.lastState,
        state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${s.spec.name} pod=${st.info.name}_${st.info.namespace}(${st.uid})` } },
      };
      wake(due);
      return false;
    }
    s.window++;
    // restartCount counts instances: a container waiting in back-off already moved its last state
    const fromWaiting = 'waiting' in state;
    if (fromWaiting) s.status = { ...s.status, state: s.status.lastState! };
    return started(true);
  }

  async function postStatus(st: PodState): Promise<void> {
    const p = st.info;
    const status = computePodStatus({
      pod: p, sandboxReady: st.sandboxReady, podIPs: st.podIPs, hostIPs: opts.internalIPs, startTime: st.startTime,
      init: [...st.init.values()].map((s) => s.status),
      containers: [...st.containers.values()].map((s) => s.status),
      now: apiTime(),
    });
    const comparable = JSON.parse(JSON.stringify(status)) as { conditions: { lastTransitionTime?: string }[] };
    for (const c of comparable.conditions) delete c.lastTransitionTime;
    if (st.lastPosted !== undefined && sameStatus(st.lastPosted, comparable)) return;
    const cur = podsByUid.get(st.uid);
    if (!cur) return;
    await client.resource(PODS, p.namespace).patch(p.name, 'merge', { status }, { subresource: 'status' });
    st.lastPosted = comparable;
    st.info = { ...st.info, status: { ...st.info.status, phase: status.phase, conditions: status.conditions } };
  }

  async function finishPod(uid: string, st: PodState | undefined, p: PodInfo | undefined): Promise<void> {
    if (st) {
      const grace = p?.deletionGracePeriodSeconds ?? st.info.terminationGracePeriodSeconds;
      await killAll(st, p ? grace : Math.min(grace, 2));
      await teardownSandbox(st);
      await fs.rm(st.dir, { recursive: true, force: true });
      states.delete(uid);
    }
    if (p?.deletionTimestamp) {
      try {
        await client.resource(PODS, p.namespace).delete(p.name, { gracePeriodSeconds: 0, preconditions: { uid } });
      } catch (e) {
        if (!(e instanceof StatusError && (e.code === 404 || e.code === 409))) throw e;
      }
    }
  }

  async function syncPod(uid: string): Promise<void> {
    if (stopped) return;
    const p = podsByUid.get(uid);
    let st = states.get(uid);
    if (!p || p.deletionTimestamp) { await finishPod(uid, st, p); return; }
    if (!st) { st = newState(p); states.set(uid, st); }
    st.info = { ...p, status: { ...p.status, phase: st.info.status.phase === 'Succeeded' || st.info.status.phase === 'Failed' ? st.info.status.phase : p.status.phase } };
    const terminal = p.status.phase === 'Succeeded' || p.status.phase === 'Failed';
    if (terminal) {
      await killAll(st, 0);
      await teardownSandbox(st);
      return;
    }
    if (!st.sandboxReady && !st.sandboxGone) {
      if (!p.hostNetwork && !cni) { await postStatus(st); queue.addAfter(uid, 1000); return; }
      try {
        await ensureSandbox(st);
      } catch (e) {
        event(p, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${(e as Error).message}`);
        if (st.netns) await destroySandbox(cni, uid, st.netns).catch(() => undefined);
        throw e;
      }
    }
    let wakeAt = Infinity;
    const wake = (at: number) => { wakeAt = Math.min(wakeAt, at); };
    let initDone = true;
    for (const c of p.initContainers) {
      const s = slotFor(st.init, st, c);
      if (!(await stepContainer(st, s, true, wake))) { initDone = false; break; }
    }
    if (initDone) for (const c of p.containers) await stepContainer(st, slotFor(st.containers, st, c), false, wake);
    await postStatus(st);
    if (wakeAt !== Infinity) queue.addAfter(uid, Math.max(10, wakeAt - Date.now()));
    const phase = st.info.status.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      await killAll(st, 0);
      await teardownSandbox(st);
    }
  }

  // ConfigMaps and Secrets referenced by env, fetched when a container starts.
  const cache = new Map<string, Record<string, string>>();
  /** The Services whose variables a container in `namespace` gets (its namespace's, plus default/kubernetes). */
  async function serviceLinks(namespace: string): Promise<Record<string, string>> {
    const list = services.list().filter((o) => o.metadata.namespace === namespace).map((o) => o.link);
    if (namespace !== 'default' && !list.some((s) => s.name === 'kubernetes')) {
      const k = services.get('default', 'kubernetes');
      if (k) list.push(k.link);
    }
    return serviceEnv(list);
  }

  async function loadRefs(p: PodInfo, only: Container): Promise<void> {
    for (const c of [only]) {
      const refs = [
        ...(c.env ?? []).map((e) => ({ cm: e.valueFrom?.configMapKeyRef?.name, sec: e.valueFrom?.secretKeyRef?.name })),
        ...(c.envFrom ?? []).map((f) => ({ cm: f.configMapRef?.name, sec: f.secretRef?.name })),
      ];
      for (const { cm, sec } of refs) {
        try {
          if (cm) {
            const o = await client.resource(CONFIGMAPS, p.namespace).get(cm);
            cache.set(`cm/${p.namespace}/${cm}`, { ...((o.data ?? {}) as Record<string, string>) });
          }
          if (sec) {
            const o = await client.resource(SECRETS, p.namespace).get(sec);
            const d = (o.data ?? {}) as Record<string, string>;
            cache.set(`secret/${p.namespace}/${sec}`, Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])));
          }
        } catch (err) {
          if (!(err instanceof StatusError && err.code === 404)) throw err;
          cache.delete(cm ? `cm/${p.namespace}/${cm}` : `secret/${p.namespace}/${sec}`);
        }
      }
    }
  }

  // ---- sandboxes left by an earlier run ----
  const found = new Map<string, SandboxState & { dir: string }>();
  for (const d of await fs.readdir(podsDir).catch(() => [] as string[])) {
    try {
      const rec = JSON.parse(await fs.readFile(path.join(podsDir, d, 'sandbox.json'), 'utf8')) as SandboxState;
      found.set(rec.uid, { ...rec, dir: path.join(podsDir, d) });
    } catch { /* not a sandbox record */ }
  }

  informer.start();
  services.start();
  await informer.waitForSync();
  await services.waitForSync();
  // Pod cgroups whose sandbox record is gone (a crash between the two) go too.
  for (const uid of (await cgroups?.podUids()) ?? []) {
    if (!found.has(uid)) await cgroups!.removePod(uid).catch((e: Error) => log(e.message));
  }
  // Adopt or clean up what an earlier run left: containers are restarted (their output pipes
  // went with the old process), the sandbox and its addresses are kept.
  for (const [uid, rec] of found) {
    for (const pid of Object.values(rec.pids)) await killStale(pid);
    // the old instances' cgroups (and anything still in them, which an earlier run of this agent started)
    await cgroups?.removePod(uid).catch((e: Error) => log(e.message));
    const p = podsByUid.get(uid);
    if (p && !p.deletionTimestamp && p.status.phase !== 'Succeeded' && p.status.phase !== 'Failed') {
      const st = newState(p);
      st.podIPs = rec.podIPs;
      st.sandboxReady = rec.podIPs.length > 0;
      st.carried = Object.fromEntries(p.status.containerStatuses.map((c) => [String(c.name), Number(c.restartCount ?? 0) + 1]));
      states.set(uid, st);
      log(`adopted sandbox ${rec.netns || '(host network)'} of ${rec.namespace}/${rec.name}`);
    } else {
      if (rec.netns) await destroySandbox(cni, uid, rec.netns).catch((e: Error) => log(e.message));
      await fs.rm(rec.dir, { recursive: true, force: true });
    }
  }

  const initial = opts.podCIDRs?.length ? opts.podCIDRs : podCIDRsOf(node);
  if (initial.length) await setupNetwork(initial);
  every(opts.heartbeatMs ?? 10_000, heartbeat);
  // Until node IPAM has given the node its ranges, look every 500 ms (kubelet waits on a watch).
  if (!cni) every(500, () => { if (!cni) void heartbeatCidrs(); });
  async function heartbeatCidrs(): Promise<void> {
    if (stopped || cni) return;
    try {
      const cidrs = podCIDRsOf(await client.resource(NODES).get(nodeName));
      if (cidrs.length && !cni) await setupNetwork(cidrs);
    } catch (e) { log(`waiting for pod CIDRs: ${(e as Error).message}`); }
  }
  every(10_000, () => { for (const uid of podsByUid.keys()) queue.add(uid); });

  const workers = runWorkers(queue, 4, syncPod, {
    onError: (k, e) => { if (!stopped && !(e instanceof StatusError && e.code === 409)) log(`pod ${String(k)}: ${(e as Error).message}`); },
  });

  /** `kubectl exec`: the running container's pod namespace and a minimal environment. */
  function execTargetOf(ns: string, name: string, container: string): { netns?: string; utsPid?: number; env: Record<string, string> } | undefined {
    const st = [...states.values()].find((x) => x.info.namespace === ns && x.info.name === name);
    const slot = st && (st.containers.get(container) ?? st.init.get(container));
    if (!st || !slot?.proc) return undefined;
    const hostname = podHostname(st.info);
    return {
      netns: st.netns || opts.nodeNetns,
      ...(st.netns && process.getuid?.() === 0 ? { utsPid: slot.proc.pid } : {}),
      ...(slot.proc.cgroupProcs ? { cgroupProcs: slot.proc.cgroupProcs } : {}),
      env: { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', ...slot.env, HOSTNAME: hostname, PODNET_HOSTNAME: hostname },
    };
  }

  const agent: Agent = {
    async stop(o = {}) {
      await kubelet?.close();
      stopped = true;
      for (const t of timers) clearInterval(t);
      queue.shutDown();
      await informer.stop();
      await services.stop();
      await Promise.race([workers, sleep(10_000)]);
      if (o.teardown) {
        for (const st of [...states.values()]) {
          await killAll(st, 1).catch((e: Error) => log(e.message));
          await teardownSandbox(st).catch((e: Error) => log(e.message));
          await fs.rm(st.dir, { recursive: true, force: true });
        }
        states.clear();
        await removeConflist(opts.cniConfDir, clusterName);
        await cgroups?.removeNode().catch((e: Error) => log(e.message));
      }
    },
    logPath(namespace, name, container, o = {}) {
      const st = [...states.values()].find((s) => s.info.namespace === namespace && s.info.name === name);
      if (!st) return undefined;
      const s = st.containers.get(container) ?? st.init.get(container);
      if (!s || (s.starts === 0 && s.status.restartCount === 0)) return undefined;
      const n = s.status.restartCount - (o.previous ? 1 : 0);
      return n < 0 ? undefined : containerLogPath(opts.stateDir, st.info, container, n);
    },
    sandboxOf(namespace, name) {
      const st = [...states.values()].find((s) => s.info.namespace === namespace && s.info.name === name);
      return st?.netns || undefined;
    },
  };
  agentRef = agent;
  return agent;
}
