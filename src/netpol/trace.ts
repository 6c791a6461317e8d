// A packet tracer for the netpol table (the fake's model, or a table read back with `nft list
// table`): it walks the first packet of a connection through the forward hook, following
// verdict maps and jumps, and reports accept or drop and the rules that decided. It knows
// exactly the rule shapes rules.ts emits — as podnet writes them and as nft prints them back —
// and throws on anything else, so a new shape cannot pass the tests unexamined (STYLE.md item 3).

import { isIP } from 'node:net';
import { canonicalIP, cidrContains, parseCIDR, parseIP } from '../net/cidr.js';
import type { Ruleset, RulesetChain } from '../net/nft-ruleset.js';

export interface NetpolPacket {
  src: string;
  dst: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  dport: number;
  /** Conntrack state; the tracer follows a connection's first packet by default. */
  state?: 'new' | 'established';
}

export interface NetpolTraceStep { chain: string; rule: string; comment?: string }

export interface NetpolTraceResult {
  verdict: 'accept' | 'drop';
  /** Rules that matched, in order. */
  steps: NetpolTraceStep[];
  /** Chains entered, in order. */
  chains: string[];
}

export interface NetpolTraceOptions {
  /** The node's own addresses (for `fib saddr type local`). */
  localAddresses: readonly string[];
}

type Outcome = 'accept' | 'drop' | 'continue';

const canon = (ip: string) => (isIP(ip) ? canonicalIP(ip) : ip);

/** Whether an address matches one element of an address set: an address, a prefix or a range. */
function addrInElement(ip: string, el: string): boolean {
  if (el.includes('/')) { const c = parseCIDR(el); return !!c && cidrContains(c, ip); }
  const dash = el.indexOf('-');
  if (dash > 0) {
    const a = parseIP(el.slice(0, dash)), b = parseIP(el.slice(dash + 1)), v = parseIP(ip);
    return !!a && !!b && !!v && v.family === a.family && v.value >= a.value && v.value <= b.value;
  }
  return isIP(el) !== 0 && canon(el) === canon(ip);
}

function portInElement(port: number, el: string): boolean {
  const m = /^(\d+)(?:-(\d+))?$/.exec(el);
  if (!m) throw new Error(`tracer: bad port element ${el}`);
  return port >= Number(m[1]) && port <= Number(m[2] ?? m[1]);
}

export function traceNetpol(rs: Ruleset, packet: NetpolPacket, opts: NetpolTraceOptions): NetpolTraceResult {
  const family = isIP(packet.dst) === 6 ? 6 : 4;
  const src = canon(packet.src), dst = canon(packet.dst);
  const local = new Set(opts.localAddresses.map(canon));
  const res: NetpolTraceResult = { verdict: 'accept', steps: [], chains: [] };

  const set = (name: string) => {
    const s = rs.sets.get(name);
    if (!s) throw new Error(`tracer: rule uses missing set @${name}`);
    return s;
  };
  /** Whether the tuple (one value per key part) is in the set; parts are 'addr' or 'proto' or 'port'. */
  const inSet = (name: string, values: Array<{ kind: 'addr' | 'proto' | 'port'; v: string }>): boolean => {
    for (const e of set(name).elements.values()) {
      if (e.key.length !== values.length) throw new Error(`tracer: @${name} key has ${e.key.length} parts, lookup ${values.length}`);
      const hit = values.every((x, i) => {
        const k = e.key[i]!;
        if (x.kind === 'addr') return addrInElement(x.v, k);
        if (x.kind === 'proto') return k === x.v;
        return portInElement(Number(x.v), k);
      });
      if (hit) return true;
    }
    return false;
  };

  const runChain = (chain: RulesetChain, depth: number): Outcome => {
    if (depth > 16) throw new Error(`tracer: chains nested too deep at ${chain.name}`);
    res.chains.push(chain.name);
    for (const r of chain.rules) {
      const o = runRule(chain, r.rule, r.comment, depth);
      if (o === 'nomatch' || o === 'next') continue;
      if (o === 'return') return 'continue';
      return o;
    }
    return 'continue';
  };

  const jumpTo = (chain: RulesetChain, verdict: string, depth: number): Outcome | 'next' | 'return' => {
    const m = /^(jump|goto) (\S+)$/.exec(verdict);
    if (m) {
      const t = rs.chains.get(m[2]!);
      if (!t) throw new Error(`tracer: ${chain.name} jumps to missing chain ${m[2]}`);
      const o = runChain(t, depth + 1);
      if (o !== 'continue') return o;
      return m[1] === 'goto' ? 'return' : 'next';
    }
    if (verdict === 'accept' || verdict === 'drop') return verdict;
    if (verdict === 'return') return 'return';
    throw new Error(`tracer: unsupported verdict "${verdict}" in ${chain.name}`);
  };

  const runRule = (chain: RulesetChain, rule: string, comment: string | undefined, depth: number): Outcome | 'nomatch' | 'next' | 'return' => {
    const t = rule.replace(/\bcounter packets \d+ bytes \d+/, 'counter').split(/\s+/).filter(Boolean);
    let i = 0;
    const fail = (): never => { throw new Error(`tracer: unsupported rule shape in chain ${chain.name}: "${rule}" (at "${t.slice(i).join(' ')}")`); };
    const step = () => res.steps.push({ chain: chain.name, rule, ...(comment !== undefined ? { comment } : {}) });
    for (;;) {
      const w = t[i];
      if (w === undefined) return 'nomatch';
      if (w === 'ct' && t[i + 1] === 'state') {
        const states = (t[i + 2] ?? fail()).split(',');
        if (!states.includes(packet.state ?? 'new')) return 'nomatch';
        i += 3; continue;
      }
      if (w === 'icmpv6' && t[i + 1] === 'type' && t[i + 2] === '{') {
        // Traced packets are TCP, UDP or SCTP: an ICMPv6 match never applies to them.
        if (!t.includes('}', i + 3)) fail();
        return 'nomatch';
      }
      if (w === 'fib' && t[i + 1] === 'saddr' && t[i + 2] === 'type' && t[i + 3] === 'local') {
        if (!local.has(src)) return 'nomatch';
        i += 4; continue;
      }
      if ((w === 'ip' || w === 'ip6') && (t[i + 1] === 'saddr' || t[i + 1] === 'daddr')) {
        if ((w === 'ip') !== (family === 4)) return 'nomatch';
        const addr = t[i + 1] === 'saddr' ? src : dst;
        if (t[i + 2] === 'vmap' && t[i + 3]?.startsWith('@')) {
          const m = set(t[i + 3]!.slice(1));
          const e = [...m.elements.values()].find((x) => addrInElement(addr, x.key[0]!));
          if (!e?.value) return 'nomatch';
          step();
          return jumpTo(chain, e.value, depth);
        }
        if (t[i + 2] === '.' && t[i + 3] === 'meta' && t[i + 4] === 'l4proto' && t[i + 5] === '.' && t[i + 6] === 'th' && t[i + 7] === 'dport' && t[i + 8]?.startsWith('@')) {
          if (!inSet(t[i + 8]!.slice(1), [{ kind: 'addr', v: addr }, { kind: 'proto', v: packet.protocol }, { kind: 'port', v: String(packet.dport) }])) return 'nomatch';
          i += 9; continue;
        }
        if (t[i + 2]?.startsWith('@')) {
          if (!inSet(t[i + 2]!.slice(1), [{ kind: 'addr', v: addr }])) return 'nomatch';
          i += 3; continue;
        }
        fail();
      }
      if (w === 'meta' && t[i + 1] === 'l4proto' && t[i + 2] === '.' && t[i + 3] === 'th' && t[i + 4] === 'dport' && t[i + 5]?.startsWith('@')) {
        if (!inSet(t[i + 5]!.slice(1), [{ kind: 'proto', v: packet.protocol }, { kind: 'port', v: String(packet.dport) }])) return 'nomatch';
        i += 6; continue;
      }
      break;
    }
    // Statements: an optional counter, then at most one verdict.
    if (t[i] === 'counter') i++;
    const v = t[i];
    if (v === undefined) { step(); return 'next'; }
    if ((v === 'accept' || v === 'drop' || v === 'return') && t.length === i + 1) { step(); return v === 'return' ? 'return' : v; }
    return fail();
  };

  const bases = [...rs.chains.values()].filter((c) => c.hook === 'forward').sort((a, b) => (a.priority ?? 0) - (b.priority ?? 0));
  for (const b of bases) {
    const o = runChain(b, 0);
    if (o === 'drop' || (o === 'continue' && b.policy === 'drop')) { res.verdict = 'drop'; return res; }
  }
  return res;
}
