// The pure core of the cluster DNS server: one question and a DnsIndex in, the records of an
// answer out (no I/O). It implements the Kubernetes DNS-Based Service Discovery specification,
// schema 1.1.0, the way CoreDNS's kubernetes plugin does:
//
//   dns-version.<zone>                          TXT "1.1.0"
//   <svc>.<ns>.svc.<zone>                       A/AAAA ClusterIPs | ready endpoints (headless) | CNAME (ExternalName)
//   <host>.<svc>.<ns>.svc.<zone>                A/AAAA of the ready endpoints with that hostname
//                                               (hostname field, else the address with '-' for '.'/':')
//   _<port>._<proto>.<svc>.<ns>.svc.<zone>      SRV per port (ClusterIP) or per ready endpoint × port
//                                               (headless); addresses of the targets in additional
//   <svc>.<ns>.svc.<zone> SRV                   SRV for every port (CoreDNS: no port labels match all)
//   <a>-<b>-<c>-<d>.<ns>.pod.<zone>            A (and the '-' form of IPv6 for AAAA): pods "verified"
//   reverse names (in-addr.arpa, ip6.arpa)      PTR to the Service of a ClusterIP, else to
//                                               <host>.<svc>.<ns>.svc.<zone> of each ready endpoint
//
// Negative answers: a name that does not exist is NXDOMAIN; a name that exists without records
// of the asked type is NODATA (NOERROR, empty answer). Both carry the zone's SOA in authority,
// with the negative TTL as its TTL and minimum (RFC 2308). A headless Service with no ready
// endpoint is NXDOMAIN (spec 2.4.1), as is a port or hostname that matches nothing. Names are
// matched case-insensitively; answers use the query's own spelling as owner name.
//
// Names outside the zone, and reverse names this cluster has no record for, are "outside":
// the shell forwards them upstream (CoreDNS's default Corefile falls through for in-addr.arpa
// and ip6.arpa), or refuses them when forwarding is off.

import { canonicalIP, formatIPv4, formatIPv6, parseIP } from '../net/cidr.js';
import type { DnsIndex, ServiceRecord } from './records.js';
import { CLASS_ANY, CLASS_IN, foldCase, RCODE, TYPE, type Question, type RR } from './wire.js';

export const DNS_SCHEMA_VERSION = '1.1.0';
/** CoreDNS answers dns-version with this TTL whatever the configured one (the spec's example). */
const SCHEMA_TTL = 28800;

export type PodMode = 'verified' | 'insecure' | 'disabled';

export interface ResolverConfig {
  /** The cluster domain, lower case, without a trailing dot. */
  zone: string;
  /** TTL of positive answers (seconds). */
  ttl: number;
  /** SOA TTL and minimum in negative answers (seconds). */
  negativeTtl: number;
  /**
   * Pod records: "verified" answers only for a pod with that IP in that namespace (CoreDNS
   * `pods verified`); "insecure" answers any well-formed address (kube-dns's old behaviour);
   * "disabled" makes them NXDOMAIN.
   */
  podMode: PodMode;
  /** The Service whose ClusterIPs are the zone's name server ns.dns.<zone> (kube-dns). */
  nsService: { namespace: string; name: string };
}

export function defaultResolverConfig(over: Partial<ResolverConfig> = {}): ResolverConfig {
  return {
    zone: 'cluster.local', ttl: 30, negativeTtl: 30, podMode: 'verified',
    nsService: { namespace: 'kube-system', name: 'kube-dns' }, ...over,
  };
}

export type Resolution =
  | {
    kind: 'answer';
    rcode: number;
    answer: RR[];
    authority: RR[];
    additional: RR[];
    /**
     * An ExternalName's CNAME points outside the zone: the shell may resolve `name`/`type`
     * upstream and append what it finds (CoreDNS does, through its upstream).
     */
    chase?: { name: string; type: number };
  }
  | { kind: 'outside' };

const isInZone = (lname: string, zone: string) => lname === zone || lname.endsWith('.' + zone);

export function soaRecord(cfg: ResolverConfig, index: DnsIndex, owner = cfg.zone): RR {
  return {
    name: owner, ttl: cfg.negativeTtl, type: 'SOA', mname: `ns.dns.${cfg.zone}`, rname: `hostmaster.${cfg.zone}`,
    serial: index.serial() >>> 0, refresh: 7200, retry: 1800, expire: 86400, minimum: cfg.negativeTtl,
  };
}

/** Answers one question about the cluster (or says it is not the cluster's). */
export function resolve(q: Question, index: DnsIndex, cfg: ResolverConfig): Resolution {
  const lname = foldCase(q.name.endsWith('.') ? q.name.slice(0, -1) : q.name);
  if (isInZone(lname, cfg.zone)) {
    if (q.class !== CLASS_IN && q.class !== CLASS_ANY) return result(RCODE.REFUSED, [], []);
    return new ZoneAnswer(q, index, cfg).run(lname, 0);
  }
  if (q.type === TYPE.PTR && (lname.endsWith('.in-addr.arpa') || lname.endsWith('.ip6.arpa'))) {
    return reverse(q, lname, index, cfg);
  }
  return { kind: 'outside' };
}

function result(rcode: number, answer: RR[], authority: RR[], additional: RR[] = []): Resolution {
  return { kind: 'answer', rcode, answer, authority, additional };
}

/** The '-' form of an address CoreDNS uses as an endpoint's hostname when it has none. */
export function dashedAddress(ip: string): string { return ip.replace(/[.:]/g, '-'); }

/** `10-244-1-5` → 10.244.1.5, `fd00-10-244--5` → fd00:10:244::5 (as CoreDNS), canonical; or undefined. */
export function podLabelToIP(label: string): string | undefined {
  const dashes = label.split('-').length - 1;
  const text = dashes === 3 && !label.includes('--') ? label.replace(/-/g, '.') : label.replace(/-/g, ':');
  const ip = parseIP(text);
  return ip ? canonicalIP(text) : undefined;
}

/** The address in a reverse name (all four or all 32 labels), canonical; or undefined. */
export function reverseNameToIP(lname: string): string | undefined {
  if (lname.endsWith('.in-addr.arpa')) {
    const labels = lname.slice(0, -'.in-addr.arpa'.length).split('.');
    if (labels.length !== 4 || !labels.every((l) => /^(0|[1-9][0-9]{0,2})$/.test(l) && Number(l) < 256)) return undefined;
    return labels.reverse().join('.');
  }
  if (lname.endsWith('.ip6.arpa')) {
    const labels = lname.slice(0, -'.ip6.arpa'.length).split('.');
    if (labels.length !== 32 || !labels.every((l) => /^[0-9a-f]$/.test(l))) return undefined;
    return formatIPv6(BigInt('0x' + labels.reverse().join('')));
  }
  return undefined;
}

/** The reverse name of an address (for tests and tools). */
export function reverseName(ip: string): string {
  const p = parseIP(ip);
  if (!p) throw new Error(`not an IP address: ${ip}`);
  if (p.family === 'IPv4') return `${formatIPv4(p.value).split('.').reverse().join('.')}.in-addr.arpa`;
  return `${p.value.toString(16).padStart(32, '0').split('').reverse().join('.')}.ip6.arpa`;
}

function reverse(q: Question, lname: string, index: DnsIndex, cfg: ResolverConfig): Resolution {
  const ip = reverseNameToIP(lname);
  if (!ip) return { kind: 'outside' };
  const targets: string[] = [];
  // A ClusterIP names its Service (the first one, as CoreDNS); only otherwise endpoints.
  const svc = index.servicesByIP(ip)[0];
  if (svc) targets.push(`${svc.name}.${svc.namespace}.svc.${cfg.zone}`);
  else {
    for (const e of index.endpointsByIP(ip)) {
      const t = `${e.hostname || dashedAddress(ip)}.${e.service}.${e.namespace}.svc.${cfg.zone}`;
      if (!targets.includes(t)) targets.push(t);
    }
  }
  if (targets.length === 0) return { kind: 'outside' };
  return result(RCODE.NOERROR, targets.map((t): RR => ({ name: q.name, ttl: cfg.ttl, type: 'PTR', target: t })), []);
}

/** One item of a Service lookup: an address (with the SRV port and target) or a CNAME. */
interface Item { addr?: string; cname?: string; port: number; target: string }

const NO_PORT = -1;
const stripUnderscore = (s: string) => (s.startsWith('_') ? s.slice(1) : s);

class ZoneAnswer {
  constructor(private readonly q: Question, private readonly index: DnsIndex, private readonly cfg: ResolverConfig) {}

  private nodata(): Resolution { return result(RCODE.NOERROR, [], [soaRecord(this.cfg, this.index)]); }
  private nxdomain(): Resolution { return result(RCODE.NXDOMAIN, [], [soaRecord(this.cfg, this.index)]); }

  /** `depth` bounds CNAME chains inside the zone (ExternalName pointing at another Service). */
  run(lname: string, depth: number): Resolution {
    const { cfg, index } = this;
    const type = this.q.type;
    const owner = depth === 0 ? this.q.name : lname;
    const rel = lname === cfg.zone ? '' : lname.slice(0, -(cfg.zone.length + 1));

    if (rel === '') {
      if (type === TYPE.SOA) return result(RCODE.NOERROR, [{ ...soaRecord(cfg, index, owner), ttl: cfg.ttl }], []);
      if (type === TYPE.NS) {
        const ns = `ns.dns.${cfg.zone}`;
        return result(RCODE.NOERROR, [{ name: owner, ttl: cfg.ttl, type: 'NS', target: ns }], [], this.nsAddresses(ns, TYPE.ANY));
      }
      return this.nodata();
    }
    if (rel === 'ns.dns') {
      const addrs = this.nsAddresses(owner, type);
      return addrs.length ? result(RCODE.NOERROR, addrs, []) : this.nodata();
    }
    if (rel === 'dns') return this.nodata(); // an empty non-terminal above ns.dns
    if (rel === 'dns-version') {
      if (type !== TYPE.TXT) return this.nodata();
      return result(RCODE.NOERROR, [{ name: owner, ttl: SCHEMA_TTL, type: 'TXT', text: [DNS_SCHEMA_VERSION] }], []);
    }

    const segs = rel.split('.');
    const kind = segs[segs.length - 1];
    if (kind !== 'svc' && kind !== 'pod') return this.nxdomain();
    if (segs.length === 1) return this.nodata();
    const ns = segs[segs.length - 2];
    if (!index.namespaceExists(ns)) return this.nxdomain();
    if (segs.length === 2) return this.nodata();
    if (kind === 'pod') return this.pod(owner, segs, ns);

    const svc = index.service(ns, segs[segs.length - 3]);
    if (!svc) return this.nxdomain();
    const rest = segs.slice(0, -3);
    if (rest.length > 2) return this.nxdomain();
    const items = this.items(svc, rest);
    if (items.length === 0) return this.nxdomain();
    return this.fromItems(owner, items, depth);
  }

  private nsAddresses(owner: string, type: number): RR[] {
    const s = this.index.service(this.cfg.nsService.namespace, this.cfg.nsService.name);
    const out: RR[] = [];
    for (const ip of s?.clusterIPs ?? []) {
      const v6 = ip.includes(':');
      if (!v6 && (type === TYPE.A || type === TYPE.ANY)) out.push({ name: owner, ttl: this.cfg.ttl, type: 'A', address: ip });
      if (v6 && (type === TYPE.AAAA || type === TYPE.ANY)) out.push({ name: owner, ttl: this.cfg.ttl, type: 'AAAA', address: ip });
    }
    return out;
  }

  private pod(owner: string, segs: string[], ns: string): Resolution {
    if (segs.length !== 3 || this.cfg.podMode === 'disabled') return this.nxdomain();
    const ip = podLabelToIP(segs[0]);
    if (!ip) return this.nxdomain();
    if (this.cfg.podMode === 'verified' && !this.index.podsByIP(ip).some((p) => p.namespace === ns)) return this.nxdomain();
    const v6 = ip.includes(':');
    if (this.q.type === TYPE.A && !v6) return result(RCODE.NOERROR, [{ name: owner, ttl: this.cfg.ttl, type: 'A', address: ip }], []);
    if (this.q.type === TYPE.AAAA && v6) return result(RCODE.NOERROR, [{ name: owner, ttl: this.cfg.ttl, type: 'AAAA', address: ip }], []);
    return this.nodata();
  }

  /** What a Service name (with 0, 1 or 2 extra labels) stands for, as CoreDNS's findServices. */
  private items(svc: ServiceRecord, rest: string[]): Item[] {
    const zone = this.cfg.zone;
    const svcName = `${svc.name}.${svc.namespace}.svc.${zone}`;
    const port = rest.length === 2 ? stripUnderscore(rest[0]) : '';
    const proto = rest.length === 2 ? stripUnderscore(rest[1]) : '';
    const portMatches = (p: { name: string; protocol: string }) => (port === '' || p.name === port) && (proto === '' || p.protocol === proto);

    if (svc.kind === 'ExternalName') {
      // ExternalName Services have no endpoints; an address as target makes no CNAME.
      if (rest.length === 1 || !svc.externalName || parseIP(svc.externalName)) return [];
      return [{ cname: svc.externalName, port: NO_PORT, target: svcName }];
    }
    const out: Item[] = [];
    if (svc.kind === 'Headless' || rest.length === 1) {
      for (const ep of this.index.readyEndpoints(svc.namespace, svc.name)) {
        const host = ep.hostname || dashedAddress(ep.ip);
        if (rest.length === 1 && rest[0] !== host) continue;
        const target = `${host}.${svcName}`;
        // An endpoint without ports still has its address records (CoreDNS's port -1 sentinel).
        if (ep.ports.length === 0) { if (rest.length !== 2) out.push({ addr: ep.ip, port: NO_PORT, target }); continue; }
        for (const p of ep.ports) if (portMatches(p)) out.push({ addr: ep.ip, port: p.port, target });
      }
      return out;
    }
    for (const p of svc.ports) if (portMatches(p)) for (const ip of svc.clusterIPs) out.push({ addr: ip, port: p.port, target: svcName });
    // The Service name itself exists even in the (invalid) case of a ClusterIP without ports.
    if (rest.length === 0 && out.length === 0) for (const ip of svc.clusterIPs) out.push({ addr: ip, port: NO_PORT, target: svcName });
    return out;
  }

  private fromItems(owner: string, items: Item[], depth: number): Resolution {
    const { cfg } = this;
    const type = this.q.type;
    const ttl = cfg.ttl;
    const cname = items.find((i) => i.cname !== undefined);
    if (cname) {
      if (type === TYPE.SRV) return this.nodata(); // CoreDNS: no SRV for ExternalName Services
      const rr: RR = { name: owner, ttl, type: 'CNAME', target: cname.cname! };
      if (type === TYPE.CNAME) return result(RCODE.NOERROR, [rr], []);
      const target = foldCase(cname.cname!);
      if (isInZone(target, cfg.zone)) {
        // Follow the chain inside the zone, at most 8 links (CoreDNS's limit); a loop ends there.
        if (depth >= 8 || target === foldCase(owner)) return result(RCODE.NOERROR, [rr], []);
        const next = this.run(target, depth + 1);
        if (next.kind === 'answer' && next.rcode === RCODE.NOERROR) return result(RCODE.NOERROR, [rr, ...next.answer], [], next.additional);
        return result(RCODE.NOERROR, [rr], []);
      }
      return { kind: 'answer', rcode: RCODE.NOERROR, answer: [rr], authority: [], additional: [], chase: { name: cname.cname!, type } };
    }
    if (type === TYPE.A || type === TYPE.AAAA) {
      const want6 = type === TYPE.AAAA;
      const seen = new Set<string>();
      const answer: RR[] = [];
      for (const i of items) {
        if (!i.addr || i.addr.includes(':') !== want6 || seen.has(i.addr)) continue;
        seen.add(i.addr);
        answer.push(want6 ? { name: owner, ttl, type: 'AAAA', address: i.addr } : { name: owner, ttl, type: 'A', address: i.addr });
      }
      return answer.length ? result(RCODE.NOERROR, answer, []) : this.nodata();
    }
    if (type === TYPE.SRV) {
      const srvs = new Map<string, Item>();
      const extra = new Map<string, RR>();
      for (const i of items) {
        if (i.port === NO_PORT || !i.addr) continue;
        const k = `${i.target}/${i.port}`;
        if (!srvs.has(k)) srvs.set(k, i);
        const ek = `${i.target}/${i.addr}`;
        if (!extra.has(ek)) {
          extra.set(ek, i.addr.includes(':') ? { name: i.target, ttl, type: 'AAAA', address: i.addr } : { name: i.target, ttl, type: 'A', address: i.addr });
        }
      }
      if (srvs.size === 0) return this.nodata();
      // Equal shares of 100, as CoreDNS computes weights for records of one priority.
      const weight = Math.max(1, Math.floor(100 / srvs.size));
      const answer: RR[] = [...srvs.values()].map((i) => ({ name: owner, ttl, type: 'SRV', priority: 0, weight, port: i.port, target: i.target }));
      return result(RCODE.NOERROR, answer, [], [...extra.values()]);
    }
    return this.nodata();
  }
}
