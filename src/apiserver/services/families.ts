// ipFamilyPolicy / ipFamilies defaulting for Services, against the families this cluster's
// service ranges are configured for (upstream's initIPFamilyFields in the Service REST
// allocator). Pure: it mutates the Service spec it is given and returns field errors.

import { type FieldError, invalid } from '../../api/errors.js';
import { validateClusterIPsRelated } from '../../api/kinds/service.js';
import { type KObject, isObject } from '../../api/meta.js';
import { type IPFamily, ipFamilyOf } from '../../net/cidr.js';

export type Spec = Record<string, unknown>;

export interface ClusterFamilies {
  /** Families with a configured service range; the first is the default (primary) family. */
  families: IPFamily[];
}

export const specOf = (o: KObject): Spec => {
  if (!isObject(o.spec)) o.spec = {};
  return o.spec as Spec;
};
export const typeOf = (s: Spec): string => (typeof s.type === 'string' ? s.type : '');
export const clusterIPsOf = (s: Spec): string[] => (Array.isArray(s.clusterIPs) ? s.clusterIPs.map(String) : []);
export const familiesOf = (s: Spec): string[] => (Array.isArray(s.ipFamilies) ? s.ipFamilies.map(String) : []);
export const policyOf = (s: Spec): string => (typeof s.ipFamilyPolicy === 'string' ? s.ipFamilyPolicy : '');
export const isHeadless = (s: Spec): boolean => clusterIPsOf(s)[0] === 'None';
const hasSelector = (s: Spec): boolean => isObject(s.selector) && Object.keys(s.selector).length > 0;
const otherFamily = (f: string): IPFamily => (f === 'IPv4' ? 'IPv6' : 'IPv4');
const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * A PreferDualStack Service whose type, IPs and families did not change is left as it is, so a
 * cluster turning dual-stack (or back) never upgrades or downgrades it behind the user's back.
 */
export function isUnchangedPreferDualStack(spec: Spec, old: Spec | undefined): boolean {
  if (!old || !policyOf(spec)) return false;
  if (typeOf(old) !== typeOf(spec)) return false;
  if (!['ClusterIP', 'NodePort', 'LoadBalancer'].includes(typeOf(spec))) return false;
  if (policyOf(spec) !== 'PreferDualStack') return false;
  if (policyOf(old) && policyOf(old) !== 'PreferDualStack') return false;
  return sameList(clusterIPsOf(old), clusterIPsOf(spec)) && sameList(familiesOf(old), familiesOf(spec));
}

/**
 * Defaults ipFamilyPolicy and ipFamilies of a Service being created (old undefined) or updated,
 * and checks them against the cluster's families. Returns the errors upstream reports as a
 * 422 before any allocation happens.
 */
export function initIPFamilyFields(svc: KObject, old: KObject | undefined, cluster: ClusterFamilies): FieldError[] {
  const spec = specOf(svc);
  const oldSpec = old ? specOf(old) : undefined;
  if (typeOf(spec) === 'ExternalName') return [];
  if (isUnchangedPreferDualStack(spec, oldSpec)) return [];
  const configured = new Set<string>(cluster.families);
  const dualCluster = cluster.families.length >= 2;

  // No policy given: keep the old one on update; headless without selector is dual by
  // default; anything else is single-stack.
  if (!policyOf(spec)) {
    if (oldSpec && policyOf(oldSpec)) spec.ipFamilyPolicy = policyOf(oldSpec);
    else if (spec.clusterIP === 'None' && !hasSelector(spec)) spec.ipFamilyPolicy = 'RequireDualStack';
    else spec.ipFamilyPolicy = 'SingleStack';
  }

  // Loose pre-validation, so the rest need not consider malformed input.
  const pre = validateClusterIPsRelated(spec);
  if (pre.length) return pre;

  const errs: FieldError[] = [];
  const policy = policyOf(spec);
  if (oldSpec) {
    if (policy === 'SingleStack') {
      // Choosing single-stack with the old IPs and families is a clear request to drop the
      // secondary; the primary is immutable, so keeping it is safe.
      if (sameList(clusterIPsOf(oldSpec), clusterIPsOf(spec)) && clusterIPsOf(spec).length > 1) spec.clusterIPs = clusterIPsOf(spec).slice(0, 1);
      if (sameList(familiesOf(oldSpec), familiesOf(spec)) && familiesOf(spec).length > 1) spec.ipFamilies = familiesOf(spec).slice(0, 1);
    } else {
      const ips = clusterIPsOf(spec);
      if (ips.length > 0 && ips.length < clusterIPsOf(oldSpec).length) {
        errs.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, "must be 'SingleStack' to release the secondary cluster IP"));
      }
      const fams = familiesOf(spec);
      if (fams.length > 0 && fams.length < familiesOf(oldSpec).length) {
        errs.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, "must be 'SingleStack' to release the secondary IP family"));
      }
    }
  }

  if (policy === 'SingleStack') {
    if (clusterIPsOf(spec).length === 2) {
      errs.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"));
    }
    if (familiesOf(spec).length === 2) {
      errs.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"));
    }
  }

  // Infer missing families from the IPs given.
  const ips = clusterIPsOf(spec);
  for (let i = 0; i < ips.length; i++) {
    if (ips[i] === 'None') break;
    const fam = ipFamilyOf(ips[i]);
    if (!fam) continue; // validated above
    const fams = familiesOf(spec);
    if (i >= fams.length) {
      if (!configured.has(fam)) errs.push(invalid(`spec.clusterIPs[${i}]`, ips, `${fam} is not configured on this cluster`));
      else spec.ipFamilies = [...fams, fam];
    }
  }
  if (errs.length) return errs;

  // Headless without selector: may carry families the cluster does not have.
  if (spec.clusterIP === 'None' && !hasSelector(spec)) {
    if (familiesOf(spec).length === 0) spec.ipFamilies = [cluster.families[0]];
    const fams = familiesOf(spec);
    if (fams.length < 2 && policyOf(spec) !== 'SingleStack') spec.ipFamilies = [...fams, otherFamily(fams[0])];
    return [];
  }

  if (policyOf(spec) === 'RequireDualStack' && !dualCluster) {
    errs.push(invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, 'this cluster is not configured for dual-stack services'));
  }
  familiesOf(spec).forEach((f, i) => {
    if (!configured.has(f)) errs.push(invalid(`spec.ipFamilies[${i}]`, f, 'not configured on this cluster'));
  });
  if (errs.length) return errs;

  if (familiesOf(spec).length === 0) spec.ipFamilies = [cluster.families[0]];
  const fams = familiesOf(spec);
  if (policyOf(spec) !== 'SingleStack' && fams.length === 1 && dualCluster) spec.ipFamilies = [...fams, otherFamily(fams[0])];
  return [];
}
