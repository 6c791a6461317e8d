// How objects are keyed and serialized in the store. The resourceVersion is never stored: it
// is the key's mod revision, filled in on read (as kube-apiserver does over etcd).

import type { KObject } from '../api/meta.js';
import type { ResourceType } from '../api/registry.js';
import type { KeyValue } from './storage/types.js';

/** `/registry/pods/` for core, `/registry/apps/deployments/` for others. */
export function resourcePrefix(rt: ResourceType): string {
  const { group, plural } = rt.storedAs ?? rt;
  return group ? `/registry/${group}/${plural}/` : `/registry/${plural}/`;
}

/** Prefix for one namespace's objects, or every object when `namespace` is empty. */
export function listPrefix(rt: ResourceType, namespace?: string): string {
  const base = resourcePrefix(rt);
  return rt.namespaced && namespace ? `${base}${namespace}/` : base;
}

export function objectKey(rt: ResourceType, namespace: string | undefined, name: string): string {
  return rt.namespaced ? `${resourcePrefix(rt)}${namespace}/${name}` : `${resourcePrefix(rt)}${name}`;
}

/** Serializes with apiVersion, kind and metadata first (kubectl and humans read them first). */
export function encodeObject(obj: KObject): string {
  // Objects built or decoded by the server mostly have that order already and no
  // resourceVersion (create removes it): then one JSON.stringify, without copying them first.
  if (obj.metadata?.resourceVersion === undefined) {
    let i = 0;
    let ordered = true;
    for (const k in obj) {
      if (i > 2) break;
      if (k !== (i === 0 ? 'apiVersion' : i === 1 ? 'kind' : 'metadata')) { ordered = false; break; }
      i++;
    }
    if (ordered && i >= 3) return JSON.stringify(obj);
  }
  const { apiVersion, kind, metadata, ...rest } = obj;
  const { resourceVersion: _rv, ...meta } = metadata;
  return JSON.stringify({ apiVersion, kind, metadata: meta, ...rest });
}

export function decodeObject(kv: KeyValue): KObject {
  const obj = JSON.parse(kv.value) as KObject;
  obj.metadata.resourceVersion = String(kv.modRevision);
  return obj;
}

/** A stored value as the resource `rt` shows it (converted when rt lives in another's storage). */
export function decodeFor(rt: ResourceType, kv: KeyValue): KObject {
  const o = decodeObject(kv);
  return rt.storedAs ? rt.storedAs.fromStorage(o) : o;
}

/** An object of resource `rt` as it is stored. */
export function encodeFor(rt: ResourceType, obj: KObject): string {
  return encodeObject(rt.storedAs ? rt.storedAs.toStorage(obj) : obj);
}

/**
 * The stored JSON with resourceVersion spliced in, without parsing: used by list and watch,
 * which pass most objects through untouched. Relies on encodeObject's layout.
 */
export function objectJsonWithRv(kv: KeyValue): string {
  return jsonWithResourceVersion(kv.value, String(kv.modRevision));
}

/** Stored JSON text (encodeObject's layout) with metadata.resourceVersion `rv` spliced in. */
export function jsonWithResourceVersion(v: string, rv: string): string {
  const i = v.indexOf('"metadata":{');
  if (i < 0) {
    const obj = JSON.parse(v) as KObject;
    obj.metadata.resourceVersion = rv;
    return JSON.stringify(obj);
  }
  const at = i + '"metadata":{'.length;
  const sep = v[at] === '}' ? '' : ',';
  return `${v.slice(0, at)}"resourceVersion":"${rv}"${sep}${v.slice(at)}`;
}

/**
 * Several stored objects as a comma-separated run of JSON, resourceVersion spliced in, encoded
 * straight into one Buffer: no intermediate strings, and nothing left for the socket to encode.
 * The hot path of large lists.
 */
export function objectsJsonBuffer(kvs: readonly KeyValue[], leadingComma: boolean): Buffer {
  let chars = leadingComma ? 1 : 0;
  for (const kv of kvs) chars += kv.value.length + 48;
  // UTF-16 units → UTF-8 bytes: at most 3 bytes each.
  const buf = Buffer.allocUnsafe(chars * 3);
  let off = 0;
  const MARK = '"metadata":{';
  for (let i = 0; i < kvs.length; i++) {
    if (i > 0 || leadingComma) buf[off++] = 0x2c; // ','
    const kv = kvs[i];
    const v = kv.value;
    const at = v.indexOf(MARK);
    if (at < 0) { off += buf.write(JSON.stringify(decodeObject(kv)), off); continue; }
    const cut = at + MARK.length;
    off += buf.write(v.slice(0, cut), off);
    off += buf.write(`"resourceVersion":"${kv.modRevision}"${v[cut] === '}' ? '' : ','}`, off);
    off += buf.write(v.slice(cut), off);
  }
  return buf.subarray(0, off);
}
