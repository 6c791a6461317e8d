// The declarative description of one API resource. The API server, discovery, OpenAPI,
// tables and field selectors are all driven from these records, so adding a kind is one file
// in src/api/kinds/ plus one line in src/api/kinds/index.ts.

import type { FieldError } from './errors.js';
import type { KObject } from './meta.js';

export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: string;
  description: string;
  /** 0: always shown; 1: only with `-o wide` (as upstream). */
  priority: number;
}

export interface TableConvertor {
  columns: TableColumn[];
  /** One cell per column, in order. `now` is passed so ages are testable. */
  row(obj: KObject, now: Date): unknown[];
}

export interface ScaleSubresource {
  /** JSON paths (dotted) of the replica fields, as a CRD's scale subresource names them. */
  specReplicasPath: string;
  statusReplicasPath: string;
  /** Path of the status field holding the label selector string, or of spec.selector. */
  labelSelectorPath: string;
}

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  /** Lower-case plural used in URLs: `pods`, `networkpolicies`. */
  plural: string;
  singular: string;
  shortNames?: string[];
  categories?: string[];
  namespaced: boolean;
  /** Name of the @kubernetes/client-node model for this kind (`V1Pod`); the OpenAPI schema and
   *  strict field checking are built from it. */
  model: string;
  subresources?: { status?: boolean; scale?: ScaleSubresource };
  /** Verbs the resource supports; all of them when omitted. */
  verbs?: string[];
  /** Field selectors beyond metadata.name and metadata.namespace (which every kind has). */
  fieldSelectors?: Record<string, (obj: KObject) => string>;
  /** Columns for `kubectl get`; NAME and AGE when omitted. */
  table?: TableConvertor;
  /** Fill defaults in place, as upstream's SetDefaults_*; applied on create and update. */
  defaults?(obj: KObject): void;
  /**
   * Objects kept in another resource's storage, converted on the way in and out (upstream:
   * events.k8s.io/v1 Events are core/v1 Events in etcd, so both APIs show the same events).
   */
  storedAs?: { group: string; plural: string; toStorage(o: KObject): KObject; fromStorage(o: KObject): KObject };
  /** Checks metadata.name (and generateName, with prefix=true); DNS-1123 subdomain when omitted. */
  nameValidator?(name: string, prefix?: boolean): string[];
  /** Kind-specific validation on create (ObjectMeta is validated generically). */
  validateCreate?(obj: KObject): FieldError[];
  /** Kind-specific validation on update, including immutability rules. */
  validateUpdate?(obj: KObject, old: KObject): FieldError[];
  /** Validation of a write to the status subresource. */
  validateStatusUpdate?(obj: KObject, old: KObject): FieldError[];
  /** Strategy hook on create: clear fields a client may not set (status, as upstream). */
  prepareForCreate?(obj: KObject): void;
  /** Strategy hook on a spec update: e.g. keep old status. */
  prepareForUpdate?(obj: KObject, old: KObject): void;
  /**
   * Graceful deletion (pods): the grace period to use when the client gives none, or
   * undefined when the object should go at once (e.g. an unscheduled pod).
   */
  gracePeriodSeconds?(obj: KObject): number | undefined;
}

export const gvk = (r: ResourceType) => ({ group: r.group, version: r.version, kind: r.kind });
export const groupVersion = (r: ResourceType) => (r.group ? `${r.group}/${r.version}` : r.version);

/** Age as kubectl/upstream's duration.HumanDuration prints it ("5s", "3m2s", "4h", "2d3h", "3y"). */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 0) return '<invalid>';
  if (s < 60 * 2) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) { const rs = s % 60; return rs === 0 ? `${m}m` : `${m}m${rs}s`; }
  if (m < 60 * 3) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) { const rm = m % 60; return rm === 0 ? `${h}h` : `${h}h${rm}m`; }
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) { const d = Math.floor(h / 24); const rh = h % 24; return rh === 0 ? `${d}d` : `${d}d${rh}h`; }
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`;
  if (h < 24 * 365 * 8) { const y = Math.floor(h / 24 / 365); const rd = Math.floor(h / 24) % 365; return rd === 0 ? `${y}y` : `${y}y${rd}d`; }
  return `${Math.floor(h / 24 / 365)}y`;
}

/** The AGE cell for an object. */
export function ageOf(obj: KObject, now: Date): string {
  const ts = obj.metadata.creationTimestamp;
  if (!ts) return '<unknown>';
  return humanDuration(now.getTime() - Date.parse(ts));
}

export const defaultTable: TableConvertor = {
  columns: [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    { name: 'Age', type: 'string', description: 'CreationTimestamp is a timestamp representing the server time when this object was created.', priority: 0 },
  ],
  row: (o, now) => [o.metadata.name, ageOf(o, now)],
};
