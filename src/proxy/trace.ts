// A packet tracer over a proxy ruleset (the fake's model, or a table read back from a node
// with `nft list table`): it walks the first packet of a connection through the base chains of
// each hook in priority order, follows jumps, gotos and verdict maps, and reports the rules that
// matched, the candidate endpoints of a random choice, the DNAT target, masquerading, and a
// reject or drop. It understands exactly the expressions the proxy emits — in the form podnet
// writes them and in the form nft prints them back — and throws on anything else, so a new rule
// shape cannot pass a test unexamined (STYLE.md item 3).

import { isIP } from 'node:net';
import { canonicalIP, cidrContains, parseCIDR } from '../net/cidr.js';
import { joinKey } from '../net/nft.js';
import type { Ruleset, RulesetChain } from '../net/nft-ruleset.js';

export type Origin = 'pod' | 'node' | 'outside';

export interface Packet {
  src: string;
  dst: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  dport: number;
  /** pod / outside: arrives on an interface (prerouting); node: sent by the node itself (output). */
  from: Origin;
}

export interface TraceOptions {
  /** The node's own addresses (for `fib … type local`); loopback is always local. */
  localAddresses: readonly string[];
  /** Which arm of a `numgen random` choice to follow (default: the first). */
  pick?: (n: number) => number;
  /** ClientIP affinity already recorded: affinity set name → source addresses. */
  affinity?: Record<string, readonly string[]>;
}

export interface TraceStep { hook: string; chain: string; rule: string; comment?: string }

export interface TraceResult {
  verdict: 'accept' | 'drop' | 'reject';
  /** For reject: "tcp reset" or "icmp port-unreachable". */
  rejectWith?: string;
  /** "ip:port" the packet was DNATed to. */
  dnat?: string;
  /** The endpoints ("ip:port") a random choice was made among (empty if there was none). */
  candidates: string[];
  masquerade: boolean;
  /** Affinity sets the connection was recorded in. */
  affinityUpdated: string[];
  /** Rules that matched, in order. */
  steps: TraceStep[];
  /** Chains entered, in order. */
  chains: string[];
}

export class UnknownRuleError extends Error {
  constructor(chain: string, rule: string, at: string) {
    super(`tracer: unsupported rule shape in chain ${chain}: "${rule}" (at "${at}")`);
    this.name = 'UnknownRuleError';
  }
}

/** 'continue': the chain ended (fell off its end or returned); the others end the hook or the packet. */
type Outcome = { kind: 'continue' } | { kind: 'accept' } | { kind: 'drop' } | { kind: 'reject'; with: string };
/** A rule's effect: 'nomatch' and 'next' go on with the next rule, 'return' ends the chain. */
type RuleOutcome = Outcome | 'nomatch' | 'next' | 'return';

interface PacketState { src: string; dst: string; dport: number; protocol: Packet['protocol']; family: 4 | 6; mark: number; from: Origin }

/** Splits a rule into tokens, keeping `{ … }` groups as one token. */
function tokenize(rule: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < rule.length) {
    if (rule[i] === ' ') { i++; continue; }
    if (rule[i] === '{') {
      let depth = 0, j = i;
      for (; j < rule.length; j++) { if (rule[j] === '{') depth++; else if (rule[j] === '}' && --depth === 0) break; }
      out.push(rule.slice(i, j + 1));
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < rule.length && rule[j] !== ' ') j++;
    out.push(rule.slice(i, j));
    i = j;
  }
  return out;
}

const braceItems = (tok: string) => tok.replace(/^\{\s*|\s*\}$/g, '').split(',').map((s) => s.trim()).filter(Boolean);
const canon = (ip: string) => (isIP(ip) ? canonicalIP(ip) : ip);

function addrMatches(value: string, pattern: string): boolean {
  if (pattern.includes('/')) {
    const c = parseCIDR(pattern);
    if (!c) throw new Error(`tracer: bad CIDR ${pattern}`);
    return isIP(value) !== 0 && (isIP(value) === 6) === (c.family === 'IPv6') && cidrContains(c, value);
  }
  return canon(value) === canon(pattern);
}

/** "10.0.0.1:80" / "[fd00::1]:80" from a dnat argument. */
function dnatTarget(arg: string): string {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(arg) ?? /^([^:]+):(\d+)$/.exec(arg);
  if (!m) throw new Error(`tracer: cannot read dnat target ${arg}`);
  const ip = canon(m[1]!);
  return ip.includes(':') ? `[${ip}]:${m[2]}` : `${ip}:${m[2]}`;
}

export function trace(rs: Ruleset, packet: Packet, opts: TraceOptions): TraceResult {
  const family = isIP(packet.dst) === 6 ? 6 : 4;
  const st: PacketState = { src: canon(packet.src), dst: canon(packet.dst), dport: packet.dport, protocol: packet.protocol, family, mark: 0, from: packet.from };
  const res: TraceResult = { verdict: 'accept', candidates: [], masquerade: false, affinityUpdated: [], steps: [], chains: [] };
  const local = new Set(opts.localAddresses.map(canon));
  const isLocal = (ip: string) => local.has(canon(ip)) || (family === 4 ? ip.startsWith('127.') : canon(ip) === '::1');
  let dnatDone = false;
  let hook = '';

  const baseChains = (h: string) => [...rs.chains.values()].filter((c) => c.hook === h).sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0));

  const setHas = (name: string, key: string): boolean => {
    const s = rs.sets.get(name);
    if (!s) throw new Error(`tracer: rule uses missing set @${name}`);
    return s.elements.has(key) || (opts.affinity?.[name]?.some((a) => canon(a) === key) ?? false);
  };

  const endpointOf = (chainName: string): string | undefined => {
    for (const r of rs.chains.get(chainName)?.rules ?? []) {
      const m = /\bdnat(?: ip6?)? to (\S+)/.exec(r.rule);
      if (m) return dnatTarget(m[1]!);
    }
    return undefined;
  };

  const runChain = (chain: RulesetChain, depth: number): Outcome => {
    if (depth > 64) throw new Error(`tracer: chain nesting too deep at ${chain.name}`);
    res.chains.push(chain.name);
    for (const r of chain.rules) {
      const out = runRule(chain, r.rule, r.comment, depth);
      if (out === 'nomatch' || out === 'next') continue;
      if (out === 'return') return { kind: 'continue' };
      return out;
    }
    return { kind: 'continue' };
  };

  /** jump: back to the next rule when the target ends; goto: the current chain ends with it. */
  const follow = (chain: RulesetChain, verb: string, target: string, depth: number): RuleOutcome => {
    const t = rs.chains.get(target);
    if (!t) throw new Error(`tracer: ${chain.name} jumps to missing chain ${target}`);
    const o = runChain(t, depth + 1);
    if (o.kind !== 'continue') return o;
    return verb === 'goto' ? 'return' : 'next';
  };

  const verdictOf = (chain: RulesetChain, v: string, depth: number): RuleOutcome => {
    const m = /^(jump|goto)\s+(\S+)$/.exec(v);
    if (m) return follow(chain, m[1]!, m[2]!, depth);
    if (v === 'drop') return { kind: 'drop' };
    if (v === 'accept') return { kind: 'accept' };
    if (v === 'return') return 'return';
    throw new Error(`tracer: unsupported verdict "${v}" in ${chain.name}`);
  };

  /** Evaluates one rule: 'nomatch', or what happens to the packet. */
  const runRule = (chain: RulesetChain, rule: string, comment: string | undefined, depth: number): RuleOutcome => {
    const t = tokenize(rule);
    let i = 0;
    const at = () => t.slice(i).join(' ');
    const fail = (): never => { throw new UnknownRuleError(chain.name, rule, at()); };
    const step = () => res.steps.push({ hook, chain: chain.name, rule, ...(comment !== undefined ? { comment } : {}) });
    // Matches, left to right; the first that fails ends the rule.
    for (;;) {
      const w = t[i];
      if (w === undefined) return 'nomatch'; // a rule of matches only
      if (w === 'ct' && t[i + 1] === 'state' && t[i + 2] === 'new') { i += 3; continue; } // the tracer follows a connection's first packet
      if (w === 'ct' && t[i + 1] === 'status' && t[i + 2] === 'dnat') { if (!dnatDone) return 'nomatch'; i += 3; continue; }
      // saddr . daddr @set (hairpin): both addresses of the packet as it is now (after DNAT in postrouting).
      if ((w === 'ip' || w === 'ip6') && t[i + 1] === 'saddr' && t[i + 2] === '.' && t[i + 3] === w && t[i + 4] === 'daddr' && t[i + 5]?.startsWith('@')) {
        if ((w === 'ip') !== (family === 4)) return 'nomatch';
        if (!setHas(t[i + 5]!.slice(1), joinKey([st.src, st.dst]))) return 'nomatch';
        i += 6; continue;
      }
      if ((w === 'ip' || w === 'ip6') && (t[i + 1] === 'saddr' || t[i + 1] === 'daddr') && t[i + 2] !== '.') {
        if ((w === 'ip') !== (family === 4)) return 'nomatch';
        const value = t[i + 1] === 'saddr' ? st.src : st.dst;
        let j = i + 2;
        const neg = t[j] === '!=';
        if (neg) j++;
        const pat = t[j] ?? fail();
        let hit: boolean;
        if (pat.startsWith('@')) hit = setHas(pat.slice(1), canon(value));
        else if (pat.startsWith('{')) hit = braceItems(pat).some((p) => addrMatches(value, p));
        else hit = addrMatches(value, pat);
        if (hit === neg) return 'nomatch';
        i = j + 1;
        continue;
      }
      if ((w === 'tcp' || w === 'udp' || w === 'sctp') && t[i + 1] === 'dport') {
        if (st.protocol !== w || String(st.dport) !== t[i + 2]) return 'nomatch';
        i += 3; continue;
      }
      if (w === 'meta' && t[i + 1] === 'l4proto' && t[i + 2] !== '.') {
        const p = t[i + 2] ?? fail();
        if (p !== st.protocol) return 'nomatch';
        i += 3; continue;
      }
      if (w === 'fib' && (t[i + 1] === 'saddr' || t[i + 1] === 'daddr') && t[i + 2] === 'type' && t[i + 3] === 'local') {
        if (!isLocal(t[i + 1] === 'saddr' ? st.src : st.dst)) return 'nomatch';
        i += 4; continue;
      }
      if (w === 'meta' && t[i + 1] === 'mark' && t[i + 2] === '&' && t[i + 4] === '==') {
        if ((st.mark & Number(t[i + 3])) !== Number(t[i + 5])) return 'nomatch';
        i += 6; continue;
      }
      break;
    }
    // The statement.
    const w = t[i];
    const rest = t.slice(i);
    let m: RegExpExecArray | null;
    // Verdict maps on the packet's tuple.
    if ((m = /^(?:(ip6?) daddr \. )?meta l4proto \. th dport vmap @(\S+)$/.exec(rest.join(' ')))) {
      if (m[1] && (m[1] === 'ip') !== (family === 4)) return 'nomatch';
      const key = joinKey(m[1] ? [st.dst, st.protocol, String(st.dport)] : [st.protocol, String(st.dport)]);
      const map = rs.sets.get(m[2]!);
      if (!map?.isMap) throw new Error(`tracer: ${chain.name} uses missing map @${m[2]}`);
      const e = map.elements.get(key);
      if (!e?.value) return 'nomatch';
      step();
      return verdictOf(chain, e.value, depth);
    }
    // DNAT through an endpoints map: the entry key (service address or node port) and a random index.
    // (nft prints "th dport" back as "tcp dport" when the map's value names tcp.)
    // The key may name the protocol (maps of an older table) or not (the map is per protocol).
    if ((m = /^dnat (ip6?) to (?:(ip6?) daddr \. )?(meta l4proto \. )?(?:th|tcp|udp|sctp) dport \. numgen random mod (\d+) map @(\S+)$/.exec(rest.join(' ')))) {
      if ((m[1] === 'ip') !== (family === 4) || (m[2] && m[2] !== m[1])) return 'nomatch';
      if (dnatDone) throw new Error(`tracer: second dnat in ${chain.name}`);
      const map = rs.sets.get(m[5]!);
      if (!map?.isMap) throw new Error(`tracer: ${chain.name} uses missing map @${m[5]}`);
      const n = Number(m[4]);
      const proto = m[3] ? [st.protocol] : [];
      const entry = m[2] ? [st.dst, ...proto, String(st.dport)] : [...proto, String(st.dport)];
      const targets = Array.from({ length: n }, (_, k) => {
        const v = map.elements.get(joinKey([...entry, String(k)]))?.value;
        const vm = v ? /^(\S+) \. (\d+)$/.exec(v) : null;
        return vm ? dnatTarget(vm[1]!.includes(':') ? `[${vm[1]}]:${vm[2]}` : `${vm[1]}:${vm[2]}`) : undefined;
      });
      res.candidates = targets.filter((x): x is string => x !== undefined);
      const target = targets[opts.pick ? opts.pick(n) : 0];
      if (target === undefined) return 'nomatch'; // the kernel's lookup misses: the rule does nothing
      step();
      res.dnat = target;
      st.dst = /^\[?([^\]]+?)\]?:\d+$/.exec(target)![1]!;
      st.dport = Number(target.slice(target.lastIndexOf(':') + 1));
      dnatDone = true;
      return { kind: 'accept' };
    }
    if (w === 'numgen' && t[i + 1] === 'random' && t[i + 2] === 'mod' && t[i + 4] === 'vmap' && t[i + 5]?.startsWith('{') && t.length === i + 6) {
      const n = Number(t[i + 3]);
      const arms = braceItems(t[i + 5]!).map((a) => { const am = /^(\d+) : (goto|jump) (\S+)$/.exec(a); if (!am) fail(); return am!; });
      if (arms.length !== n) throw new Error(`tracer: ${chain.name}: numgen mod ${n} with ${arms.length} arms`);
      res.candidates = arms.map((a) => endpointOf(a[3]!) ?? a[3]!);
      step();
      const k = opts.pick ? opts.pick(n) : 0;
      const arm = arms.find((a) => Number(a[1]) === k) ?? fail();
      return follow(chain, arm[2]!, arm[3]!, depth);
    }
    if ((w === 'jump' || w === 'goto') && t.length === i + 2) {
      step();
      return follow(chain, w, t[i + 1]!, depth);
    }
    if ((w === 'return' || w === 'accept' || w === 'drop') && t.length === i + 1) {
      step();
      return w === 'return' ? 'return' : { kind: w };
    }
    if (w === 'reject') {
      const how = rest.join(' ');
      step();
      if (how === 'reject') return { kind: 'reject', with: 'icmp port-unreachable' };
      if (how === 'reject with tcp reset') return { kind: 'reject', with: 'tcp reset' };
      fail();
    }
    if (w === 'meta' && t[i + 1] === 'mark' && t[i + 2] === 'set' && t[i + 3] === 'meta' && t[i + 4] === 'mark' && t.length === i + 7) {
      const v = Number(t[i + 6]);
      if (t[i + 5] === '|') st.mark |= v; else if (t[i + 5] === '^') st.mark ^= v; else fail();
      step();
      return 'next';
    }
    if (w === 'masquerade' && (t.length === i + 1 || (t.length === i + 2 && t[i + 1] === 'fully-random'))) {
      step();
      res.masquerade = true;
      return { kind: 'accept' };
    }
    if (w === 'update' && t[i + 1]?.startsWith('@') && t.length === i + 3 && /^\{ ip6? saddr \}$/.test(t[i + 2]!)) {
      step();
      res.affinityUpdated.push(t[i + 1]!.slice(1));
      return 'next';
    }
    if (w === 'dnat' && (t.length === i + 3 && t[i + 1] === 'to' || t.length === i + 4 && (t[i + 1] === 'ip' || t[i + 1] === 'ip6') && t[i + 2] === 'to')) {
      if (dnatDone) throw new Error(`tracer: second dnat in ${chain.name}`);
      step();
      res.dnat = dnatTarget(t[t.length - 1]!);
      const ipPart = /^\[?([^\]]+?)\]?:\d+$/.exec(res.dnat)![1]!;
      st.dst = ipPart;
      st.dport = Number(res.dnat.slice(res.dnat.lastIndexOf(':') + 1));
      dnatDone = true;
      return { kind: 'accept' };
    }
    return fail();
  };

  const runHook = (h: string): Outcome => {
    hook = h;
    for (const base of baseChains(h)) {
      if (base.type === 'nat' && h !== 'postrouting' && dnatDone) continue; // one DNAT per connection
      const o = runChain(base, 0);
      if (o.kind === 'drop' || o.kind === 'reject') return o;
      if (o.kind === 'continue' && base.policy === 'drop') return { kind: 'drop' };
    }
    return { kind: 'accept' };
  };

  const hooks = packet.from === 'node' ? ['output', 'postrouting'] : ['prerouting', 'FORWARD_OR_INPUT', 'postrouting'];
  for (const h0 of hooks) {
    const h = h0 === 'FORWARD_OR_INPUT' ? (isLocal(st.dst) ? 'input' : 'forward') : h0;
    if (h === 'input' && hooks.includes('postrouting')) hooks.splice(hooks.indexOf('postrouting'), 1);
    const o = runHook(h);
    if (o.kind === 'drop') { res.verdict = 'drop'; return res; }
    if (o.kind === 'reject') { res.verdict = 'reject'; res.rejectWith = o.with; return res; }
  }
  return res;
}
