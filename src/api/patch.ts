// The three PATCH formats the API server accepts:
//  - application/merge-patch+json: RFC 7386 JSON merge patch;
//  - application/json-patch+json: RFC 6902 JSON patch (via fast-json-patch);
//  - application/strategic-merge-patch+json: Kubernetes strategic merge patch, with the
//    semantics of k8s.io/apimachinery/pkg/util/strategicpatch (StrategicMergeMapPatch), which
//    is what `kubectl apply` (client-side), `kubectl patch`, `kubectl label` etc. send.
// None of them mutates its inputs. Failures throw PatchError, whose `code` says which HTTP
// status upstream answers with (400, 422, or 500 for the strategic-merge errors that upstream
// does not classify), except the JSON patch size limit, which throws the 413 StatusError.

import jsonpatch from 'fast-json-patch';
import type { StatusError } from './errors.js';
import { errTooLarge } from './errors.js';
import type { FieldPatchMeta, PatchMeta } from './patchmeta.js';

export class PatchError extends Error {
  /** The HTTP status upstream answers with: 400 BadRequest, 422 Invalid, 500 InternalError. */
  readonly code: 400 | 422 | 500;
  constructor(message: string, code: 400 | 422 | 500 = 422) {
    super(message);
    this.name = 'PatchError';
    this.code = code;
  }
}

type JsonMap = Record<string, unknown>;
const isMap = (v: unknown): v is JsonMap => v !== null && typeof v === 'object' && !Array.isArray(v);
const clone = <T>(v: T): T => (v === undefined ? v : structuredClone(v));

// ---- RFC 7386 JSON merge patch -------------------------------------------------------------

function mergePatchValue(target: unknown, patch: unknown): unknown {
  if (!isMap(patch)) return clone(patch);
  const out: JsonMap = isMap(target) ? target : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatchValue(out[k], v);
  }
  return out;
}

/**
 * RFC 7386: objects merge recursively, `null` deletes a key, everything else (arrays
 * included) replaces. A patch that is not an object replaces the whole document.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  return mergePatchValue(clone(target), patch);
}

// ---- RFC 6902 JSON patch ---------------------------------------------------------------------

/** Upstream's limit on operations in one JSON patch (maxJSONPatchOperations). */
export const maxJSONPatchOperations = 10000;

interface FjpError { name?: string; message?: string; operation?: { op?: unknown; path?: unknown; from?: unknown } }

/** Error text in the words of evanphx/json-patch, which the upstream server uses. */
function jsonPatchMessage(e: FjpError): string {
  const op = String(e.operation?.op ?? '');
  const path = String(e.operation?.path ?? '');
  const from = String(e.operation?.from ?? '');
  switch (e.name) {
    case 'TEST_OPERATION_FAILED':
      return `testing value ${path} failed: test failed`;
    case 'OPERATION_PATH_CANNOT_ADD':
    case 'OPERATION_PATH_UNRESOLVABLE':
      if (op === 'replace') return `replace operation does not apply: doc is missing key: ${path}: missing value`;
      return `${op} operation does not apply: doc is missing path: "${path}": missing value`;
    case 'OPERATION_FROM_UNRESOLVABLE':
      return `${op} operation does not apply: doc is missing from path: ${from}: missing value`;
    case 'OPERATION_VALUE_OUT_OF_BOUNDS':
    case 'OPERATION_PATH_ILLEGAL_ARRAY_INDEX':
      return `Unable to access invalid index: ${path}: invalid index referenced`;
    case 'OPERATION_OP_INVALID':
      return `Unexpected kind: ${op}`;
    case 'OPERATION_VALUE_REQUIRED':
    case 'OPERATION_VALUE_CANNOT_CONTAIN_UNDEFINED':
      return `${op} operation does not apply: value is required: missing value`;
    case 'OPERATION_FROM_REQUIRED':
      return `${op} operation does not apply: "from" is required: missing value`;
    case 'OPERATION_PATH_INVALID':
      return `${op} operation does not apply: invalid path ${JSON.stringify(path)}`;
    case 'OPERATION_NOT_AN_OBJECT':
      return 'operation is not an object';
    default:
      return (e.message ?? 'invalid JSON patch').split('\n')[0];
  }
}

/**
 * Applies an RFC 6902 patch (an array of operations). More than 10,000 operations → 413
 * StatusError; a patch that is not an array → PatchError 400; an operation that does not apply
 * (missing path, failed `test`, unknown op) → PatchError 422.
 */
export function applyJsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) {
    throw new PatchError(`json: cannot unmarshal ${ops === null ? 'null' : isMap(ops) ? 'object' : typeof ops} into Go value of type jsonpatch.Patch`, 400);
  }
  if (ops.length > maxJSONPatchOperations) throw jsonPatchTooLarge(ops.length);
  for (const op of ops) {
    if (!isMap(op)) throw new PatchError('json: cannot unmarshal non-object into Go struct field of type jsonpatch.Operation', 400);
  }
  try {
    const res = jsonpatch.applyPatch(clone(target), clone(ops) as jsonpatch.Operation[], true, true, true);
    return res.newDocument;
  } catch (e) {
    if (e instanceof TypeError && /__proto__|prototype/.test(e.message)) {
      throw new PatchError('modifying __proto__ or constructor/prototype is not allowed', 422);
    }
    throw new PatchError(jsonPatchMessage(e as FjpError), 422);
  }
}

function jsonPatchTooLarge(n: number): StatusError {
  return errTooLarge(`Request entity too large: The allowed maximum operations in a JSON patch is ${maxJSONPatchOperations}, got ${n}`);
}

// ---- Strategic merge patch --------------------------------------------------------------------

const directiveMarker = '$patch';
const deleteDirective = 'delete';
const replaceDirective = 'replace';
const mergeDirective = 'merge';
const retainKeysStrategy = 'retainKeys';
const retainKeysDirective = '$retainKeys';
const deleteFromPrimitiveListPrefix = '$deleteFromPrimitiveList';
const setElementOrderPrefix = '$setElementOrder';

// mergepatch's well-known errors (upstream answers the first four with 400, lists of lists 422).
const errBadPatchFormatForPrimitiveList = () => new PatchError('invalid patch format of primitive list', 400);
const errBadPatchFormatForRetainKeys = () => new PatchError('invalid patch format of retainKeys', 400);
const errBadPatchFormatForSetElementOrderList = () => new PatchError('invalid patch format of setElementOrder list', 400);
const errNoListOfLists = () => new PatchError('lists of lists are not supported', 422);

/** Go's type name for a decoded JSON value, as reflect.TypeOf prints it. */
function goType(v: unknown): string {
  if (v === null || v === undefined) return '%!s(<nil>)';
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'object') return 'map[string]interface {}';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int64' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  return 'string';
}

/** A value as Go's %v prints a decoded JSON value (maps with sorted keys). */
function goFmt(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goFmt).join(' ')}]`;
  if (isMap(v)) {
    return `map[${Object.keys(v).sort().map((k) => `${k}:${goFmt(v[k])}`).join(' ')}]`;
  }
  return String(v);
}

const errBadArgType = (expected: string, actual: unknown) =>
  new PatchError(`expected a ${expected}, but received a ${goType(actual)}`, 500);
const errNoMergeKey = (m: unknown, k: string) =>
  new PatchError(`map: ${goFmt(m)} does not contain declared merge key: ${k}`, 500);
const errBadPatchType = (t: unknown, m: unknown) =>
  new PatchError(`unknown patch type: ${goFmt(t)} in map: ${goFmt(m)}`, 500);

type Kind = 'map' | 'slice' | 'string' | 'number' | 'bool' | 'nil';
function kindOf(v: unknown): Kind {
  if (v === null || v === undefined) return 'nil';
  if (Array.isArray(v)) return 'slice';
  if (typeof v === 'object') return 'map';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'bool';
  return 'string';
}

/** Equality of decoded JSON scalars as Go's interface ==; undefined (missing) equals null. */
function scalarEq(a: unknown, b: unknown): boolean {
  return (a ?? null) === (b ?? null);
}

/** The strategy other than retainKeys, as upstream's extractRetainKeysPatchStrategy. */
function patchStrategy(fm: FieldPatchMeta | undefined): string {
  const s = fm?.strategies ?? [];
  switch (s.length) {
    case 0:
      return '';
    case 1:
      return s[0] === retainKeysStrategy ? '' : s[0];
    case 2:
      if (s[0] === retainKeysStrategy) return s[1];
      if (s[1] === retainKeysStrategy) return s[0];
      break;
    default:
      break;
  }
  throw new PatchError(`unexpected patch strategy: [${s.join(' ')}]`, 500);
}

/**
 * Meta for the value of a field that holds a map: for an object, its fields; for a map
 * (additionalProperties), every key has the values' meta.
 */
function childMeta(fm: FieldPatchMeta | undefined): PatchMeta | undefined {
  if (!fm?.elem) return undefined;
  if (fm.type !== 'map') return fm.elem;
  const valueMeta: FieldPatchMeta = { strategies: [], type: 'object', elem: fm.elem };
  return { field: () => valueMeta };
}

/** strings.SplitN(s, "/", 2) with the prefix check of upstream's extractKey. */
function extractKey(s: string, prefix: string): string {
  const i = s.indexOf('/');
  if (i < 0 || s.slice(0, i) !== prefix) {
    if (prefix === deleteFromPrimitiveListPrefix) throw errBadPatchFormatForPrimitiveList();
    throw errBadPatchFormatForSetElementOrderList();
  }
  return s.slice(i + 1);
}

/** Removes null-valued keys throughout (upstream's discardNullValuesFromPatch). */
function discardNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(discardNulls);
  if (isMap(v)) {
    const out: JsonMap = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = discardNulls(x);
    return out;
  }
  return v;
}

/**
 * Applies a Kubernetes strategic merge patch to `target` using the field metadata in `meta`
 * (x-kubernetes-patch-strategy / x-kubernetes-patch-merge-key). Where meta has nothing for a
 * field, maps still merge recursively and lists are replaced (JSON merge semantics).
 */
export function applyStrategicMergePatch(target: unknown, patch: unknown, meta: PatchMeta): JsonMap {
  if (!isMap(patch)) {
    throw new PatchError(`json: cannot unmarshal ${Array.isArray(patch) ? 'array' : kindOf(patch)} into Go value of type map[string]interface {}`, 400);
  }
  const original = target === undefined || target === null ? {} : clone(target);
  if (!isMap(original)) throw new PatchError('invalid JSON document', 400);
  return mergeMap(original, clone(patch), meta);
}

/** Merges `patch` into `original` (both owned, mutated). */
function mergeMap(original: JsonMap, patch: JsonMap, meta: PatchMeta | undefined): JsonMap {
  if (Object.hasOwn(patch, directiveMarker)) {
    const d = patch[directiveMarker];
    if (d === replaceDirective) {
      delete patch[directiveMarker];
      return patch;
    }
    if (d === deleteDirective) return {};
    throw errBadPatchType(d, patch);
  }

  applyRetainKeysDirective(original, patch);
  mergeSetElementOrder(original, patch, meta);

  for (const k of Object.keys(patch)) {
    const patchV = patch[k];
    let key = k;
    let isDeleteList = false;
    if (k.startsWith(deleteFromPrimitiveListPrefix)) {
      key = extractKey(k, deleteFromPrimitiveListPrefix);
      isDeleteList = true;
    }

    if (patchV === null) {
      delete original[key];
      continue;
    }
    const fm = meta?.field(key);
    if (!Object.hasOwn(original, key) || kindOf(original[key]) !== kindOf(patchV)) {
      // Not in the original (or of another type): take the patch value, with its own
      // directives resolved against nothing and its nulls dropped.
      if (!isDeleteList) original[key] = fromEmpty(patchV, fm);
      continue;
    }
    const origV = original[key];
    switch (kindOf(origV)) {
      case 'map': {
        const strategy = patchStrategy(fm);
        original[key] = strategy === replaceDirective ? patchV : mergeMap(origV as JsonMap, patchV as JsonMap, childMeta(fm));
        break;
      }
      case 'slice':
        original[key] = mergeSliceHandler(origV as unknown[], patchV as unknown[], fm, key, isDeleteList);
        break;
      default:
        original[key] = patchV;
    }
  }
  return original;
}

/** A patch value for a field the original does not have. */
function fromEmpty(v: unknown, fm: FieldPatchMeta | undefined): unknown {
  if (isMap(v)) {
    if (patchStrategy(fm) === replaceDirective) return discardNulls(v);
    return mergeMap({}, v, childMeta(fm));
  }
  if (Array.isArray(v)) {
    if (patchStrategy(fm) !== mergeDirective) return discardNulls(v);
    return listFromEmpty(v, fm);
  }
  return v;
}

/** A merging list added by the patch: drop `$patch` items, resolve the others' directives. */
function listFromEmpty(list: unknown[], fm: FieldPatchMeta | undefined): unknown[] {
  const out: unknown[] = [];
  for (const item of list) {
    if (Array.isArray(item)) throw errNoListOfLists();
    if (!isMap(item)) {
      out.push(item);
      continue;
    }
    if (Object.hasOwn(item, directiveMarker)) {
      const d = item[directiveMarker];
      if (d === deleteDirective || d === replaceDirective) continue;
      if (d === mergeDirective) throw new PatchError('merging lists cannot yet be specified in the patch', 500);
      throw errBadPatchType(d, item);
    }
    out.push(mergeMap({}, item, fm?.elem));
  }
  return out;
}

/** `$retainKeys`: drop original keys not listed; every non-null patch key must be listed. */
function applyRetainKeysDirective(original: JsonMap, patch: JsonMap): void {
  if (!Object.hasOwn(patch, retainKeysDirective)) return;
  const list = patch[retainKeysDirective];
  delete patch[retainKeysDirective];
  if (!Array.isArray(list)) throw errBadPatchFormatForRetainKeys();
  const keep = new Set<unknown>(list);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(deleteFromPrimitiveListPrefix) || k.startsWith(setElementOrderPrefix)) continue;
    if (!keep.has(k)) throw errBadPatchFormatForRetainKeys();
  }
  for (const k of Object.keys(original)) if (!keep.has(k)) delete original[k];
}

/**
 * `$setElementOrder/<field>`: merges the field's patch list (if any) into the original list and
 * then orders the result: items named in the order list in that order, server-only items kept
 * in their live relative order, interleaved as upstream's mergePatchIntoOriginal does.
 */
function mergeSetElementOrder(original: JsonMap, patch: JsonMap, meta: PatchMeta | undefined): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(setElementOrderPrefix)) continue;
    const order = patch[key];
    delete patch[key];
    if (!Array.isArray(order)) throw errBadArgType('[]interface {}', order);
    const originalKey = extractKey(key, setElementOrderPrefix);

    const foundOriginal = Object.hasOwn(original, originalKey);
    const foundPatch = Object.hasOwn(patch, originalKey);
    let originalList: unknown[] = [];
    let patchList: unknown[] = [];
    if (foundOriginal) {
      if (!Array.isArray(original[originalKey])) throw errBadArgType('[]interface {}', original[originalKey]);
      originalList = original[originalKey] as unknown[];
    }
    if (foundPatch) {
      if (!Array.isArray(patch[originalKey])) throw errBadArgType('[]interface {}', patch[originalKey]);
      patchList = patch[originalKey] as unknown[];
    }
    const fm = meta?.field(originalKey);
    patchStrategy(fm); // validates the strategies, as upstream does here
    const mergeKey = fm?.mergeKey ?? '';
    validatePatchWithSetOrderList(patchList, order, mergeKey);

    let merged: unknown[];
    if (foundOriginal && !foundPatch) merged = originalList;
    else if (!foundOriginal && foundPatch) merged = fromEmpty(patchList, fm) as unknown[];
    else if (foundOriginal && foundPatch) merged = mergeSliceHandler(originalList, patchList, fm, originalKey, false);
    else continue;

    const [patchItems, serverOnly] = partitionByPresence(merged, order, mergeKey);
    const kind = sliceElementKind(originalList, patchList);
    original[originalKey] = normalizeElementOrder(patchItems, serverOnly, order, originalList, mergeKey, kind);
    delete patch[originalKey];
  }
}

function validatePatchWithSetOrderList(patchList: unknown[], order: unknown[], mergeKey: string): void {
  if (order.length === 0 || patchList.length === 0) return;
  const nonDelete = mergeKey ? extractToDeleteItems(patchList)[0] : patchList;
  let pi = 0;
  let oi = 0;
  while (pi < nonDelete.length && oi < order.length) {
    if (isMap(nonDelete[pi]) && Object.hasOwn(nonDelete[pi] as JsonMap, directiveMarker)) {
      pi++;
      continue;
    }
    if (mergeKeyValueEqual(nonDelete[pi], order[oi], mergeKey)) pi++;
    oi++;
  }
  if (pi < nonDelete.length && oi >= order.length) {
    throw new PatchError(
      `The order in patch list:\n${goFmt(patchList)}\n doesn't match ${setElementOrderPrefix} list:\n${goFmt(order)}\n`, 500);
  }
}

function mergeKeyValueEqual(left: unknown, right: unknown, mergeKey: string): boolean {
  if (!mergeKey) return scalarEq(left, right);
  if (!isMap(left)) throw errBadArgType('map[string]interface {}', left);
  if (!isMap(right)) throw errBadArgType('map[string]interface {}', right);
  if (!Object.hasOwn(left, mergeKey)) throw errNoMergeKey(left, mergeKey);
  if (!Object.hasOwn(right, mergeKey)) throw errNoMergeKey(right, mergeKey);
  return scalarEq(left[mergeKey], right[mergeKey]);
}

function mergeSliceHandler(
  original: unknown[], patch: unknown[], fm: FieldPatchMeta | undefined, field: string, isDeleteList: boolean,
): unknown[] {
  // Deletion lists apply whatever the field's strategy is.
  if (patchStrategy(fm) !== mergeDirective && !isDeleteList) return patch;
  return mergeSlice(original, patch, fm, field, isDeleteList);
}

/** The kind shared by all elements of the given lists ('map' or a scalar kind). */
function sliceElementKind(...lists: unknown[][]): Kind {
  let prev: Kind | undefined;
  for (const l of lists) {
    for (const v of l) {
      const k = kindOf(v);
      if (prev === undefined) {
        if (k === 'slice') throw errNoListOfLists();
        prev = k;
      } else if (prev !== k) {
        throw new PatchError(`list element types are not identical: ${goFmt(lists)}`, 500);
      }
    }
  }
  if (prev === undefined) throw new PatchError('no elements in any of the given slices', 500);
  return prev;
}

function mergeSlice(
  original: unknown[], patch: unknown[], fm: FieldPatchMeta | undefined, field: string, isDeleteList: boolean,
): unknown[] {
  if (original.length === 0 && patch.length === 0) return original;
  const kind = sliceElementKind(original, patch);
  const mergeKey = fm?.mergeKey ?? '';
  if (kind !== 'map') {
    if (isDeleteList) return deleteFromSlice(original, patch);
    const merged = dedupeScalars([...original, ...patch]);
    const [patchItems, serverOnly] = partitionByPresence(merged, patch, '');
    return normalizeElementOrder(patchItems, serverOnly, patch, original, '', kind);
  }
  if (!mergeKey) throw new PatchError(`cannot merge lists without merge key for ${field}`, 500);
  const view = new SliceView(original);
  const [serverOrder, plain] = mergeSliceWithSpecialElements(view, patch, mergeKey);
  const merged = mergeSliceWithoutSpecialElements(view, plain, mergeKey, fm?.elem);
  const [patchItems, serverOnly] = partitionByPresence(merged, plain, mergeKey);
  return normalizeElementOrder(patchItems, serverOnly, plain, serverOrder, mergeKey, kind);
}

/**
 * A Go slice over a caller's array. Upstream deletes list items with
 * `append(s[:i], s[i+1:]...)` and adds them with `append(s, v)`, both of which write into
 * the array the caller's own slice of the live list still shows; $setElementOrder then orders
 * server-only items by that (changed) view. Writing through to the caller's array reproduces
 * the orders upstream produces.
 */
class SliceView {
  len: number;
  constructor(public arr: unknown[]) {
    this.len = arr.length;
  }
  items(): unknown[] {
    return this.arr.slice(0, this.len);
  }
  find(mergeKey: string, value: unknown): number {
    return findByMergeKey(this.items(), mergeKey, value);
  }
  remove(i: number): void {
    for (let k = i; k < this.len - 1; k++) this.arr[k] = this.arr[k + 1];
    this.len--;
  }
  append(v: unknown): void {
    if (this.len >= this.arr.length) this.arr = this.items(); // grows into a new array
    this.arr[this.len++] = v;
  }
}

/**
 * Handles `$patch: delete` / `replace` items; returns the list order the server-only items
 * keep (the live list after deletions, or the replacement list) and the plain patch items.
 */
function mergeSliceWithSpecialElements(view: SliceView, patch: unknown[], mergeKey: string): [unknown[], unknown[]] {
  const plain: unknown[] = [];
  let replace = false;
  for (const v of patch) {
    const m = v as JsonMap;
    if (!Object.hasOwn(m, directiveMarker)) {
      plain.push(v);
      continue;
    }
    const d = m[directiveMarker];
    switch (d) {
      case deleteDirective:
        if (!Object.hasOwn(m, mergeKey)) throw errNoMergeKey(m, mergeKey);
        for (let i = view.find(mergeKey, m[mergeKey]); i >= 0; i = view.find(mergeKey, m[mergeKey])) view.remove(i);
        break;
      case replaceDirective:
        replace = true;
        break;
      case mergeDirective:
        throw new PatchError('merging lists cannot yet be specified in the patch', 500);
      default:
        throw errBadPatchType(d, m);
    }
  }
  if (replace) {
    view.arr = [...plain];
    view.len = plain.length;
    return [[...plain], []];
  }
  return [view.items(), plain];
}

function findByMergeKey(list: unknown[], mergeKey: string, value: unknown): number {
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (!isMap(v)) throw new PatchError(`value for key ${i} is not a map.`, 500);
    if (Object.hasOwn(v, mergeKey) && scalarEq(v[mergeKey], value)) return i;
  }
  return -1;
}

function mergeSliceWithoutSpecialElements(
  view: SliceView, patch: unknown[], mergeKey: string, elemMeta: PatchMeta | undefined,
): unknown[] {
  for (const v of patch) {
    const m = v as JsonMap;
    if (!Object.hasOwn(m, mergeKey)) throw errNoMergeKey(m, mergeKey);
    const i = view.find(mergeKey, m[mergeKey]);
    if (i >= 0) view.arr[i] = mergeMap(view.arr[i] as JsonMap, m, elemMeta);
    else view.append(mergeMap({}, m, elemMeta));
  }
  return view.items();
}

function deleteFromSlice(current: unknown[], toDelete: unknown[]): unknown[] {
  return current.filter((v) => !toDelete.some((d) => scalarEq(d, v)));
}

/** Upstream's in-place deduplication (moves the last element into a duplicate's slot). */
function dedupeScalars(s: unknown[]): unknown[] {
  let length = s.length - 1;
  for (let i = 0; i < length; i++) {
    for (let j = i + 1; j <= length; j++) {
      if (scalarEq(s[i], s[j])) {
        s[j] = s[length];
        s.length = length;
        length--;
        j--;
      }
    }
  }
  return s;
}

/** Splits `list` into items present in `by` (by merge key, or by value for scalars) and the rest. */
function partitionByPresence(list: unknown[], by: unknown[], mergeKey: string): [unknown[], unknown[]] {
  const inPatch: unknown[] = [];
  const serverOnly: unknown[] = [];
  for (const v of list) {
    let found: boolean;
    if (mergeKey) {
      if (!isMap(v)) throw errBadArgType('map[string]interface {}', v);
      if (!Object.hasOwn(v, mergeKey)) throw errNoMergeKey(v, mergeKey);
      found = findByMergeKey(by, mergeKey, v[mergeKey]) >= 0;
    } else {
      if (isMap(v) || Array.isArray(v)) throw new PatchError(`runtime error: hash of unhashable type ${goType(v)}`, 500);
      found = by.some((b) => scalarEq(b, v));
    }
    (found ? inPatch : serverOnly).push(v);
  }
  return [inPatch, serverOnly];
}

function indexIn(list: unknown[], v: unknown, mergeKey: string, kind: Kind): number {
  const key = (x: unknown) => (kind === 'map' ? (isMap(x) ? x[mergeKey] : undefined) : x);
  const want = key(v);
  return list.findIndex((x) => scalarEq(key(x), want));
}

function extractToDeleteItems(l: unknown[]): [unknown[], unknown[]] {
  const keep: unknown[] = [];
  const del: unknown[] = [];
  for (const v of l) {
    if (!isMap(v)) throw errBadArgType('map[string]interface {}', v);
    (v[directiveMarker] === deleteDirective ? del : keep).push(v);
  }
  return [keep, del];
}

function normalizeSliceOrder(toSort: unknown[], order: unknown[], mergeKey: string, kind: Kind): unknown[] {
  let items = [...toSort];
  let del: unknown[] = [];
  if (kind === 'map') {
    for (const l of [items, order]) {
      for (const v of l) {
        if (!isMap(v)) throw errBadArgType('map[string]interface {}', v);
        if (!Object.hasOwn(v, mergeKey)) throw errNoMergeKey(v, mergeKey);
      }
    }
    [items, del] = extractToDeleteItems(items);
  }
  // Upstream's comparator answers "less" whenever either item is missing from `order`;
  // goStableSort reproduces sort.SliceStable step by step, so such lists end up the same.
  goStableSort(items, (a, b) => {
    const ia = indexIn(order, a, mergeKey, kind);
    if (ia >= 0) {
      const ib = indexIn(order, b, mergeKey, kind);
      if (ib >= 0) return ia < ib;
    }
    return true;
  });
  return [...items, ...del];
}

function normalizeElementOrder(
  patch: unknown[], serverOnly: unknown[], patchOrder: unknown[], serverOrder: unknown[], mergeKey: string, kind: Kind,
): unknown[] {
  const p = normalizeSliceOrder(patch, patchOrder, mergeKey, kind);
  const s = normalizeSliceOrder(serverOnly, serverOrder, mergeKey, kind);
  return mergeSortedSlice(s, p, serverOrder, mergeKey, kind);
}

/** Interleaves server-only items (left) into patch items (right) by their live order. */
function mergeSortedSlice(left: unknown[], right: unknown[], serverOrder: unknown[], mergeKey: string, kind: Kind): unknown[] {
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++]);
    else if (j >= right.length) out.push(left[i++]);
    else {
      const li = indexIn(serverOrder, left[i], mergeKey, kind);
      const ri = indexIn(serverOrder, right[j], mergeKey, kind);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
      else out.push(right[j++]);
    }
  }
  return out;
}

// ---- Go's sort.SliceStable (insertion sort in blocks of 20, then SymMerge) ---------------

function goStableSort<T>(data: T[], less: (a: T, b: T) => boolean): void {
  const n = data.length;
  const lessIdx = (i: number, j: number) => less(data[i], data[j]);
  const swap = (i: number, j: number) => {
    const t = data[i];
    data[i] = data[j];
    data[j] = t;
  };
  const insertionSort = (a: number, b: number) => {
    for (let i = a + 1; i < b; i++) for (let j = i; j > a && lessIdx(j, j - 1); j--) swap(j, j - 1);
  };
  const swapRange = (a: number, b: number, k: number) => {
    for (let i = 0; i < k; i++) swap(a + i, b + i);
  };
  const rotate = (a: number, m: number, b: number) => {
    let i = m - a;
    let j = b - m;
    while (i !== j) {
      if (i > j) {
        swapRange(m - i, m, j);
        i -= j;
      } else {
        swapRange(m - i, m + j - i, i);
        j -= i;
      }
    }
    swapRange(m - i, m, i);
  };
  const symMerge = (a: number, m: number, b: number): void => {
    if (m - a === 1) {
      let i = m;
      let j = b;
      while (i < j) {
        const h = (i + j) >>> 1;
        if (lessIdx(h, a)) i = h + 1;
        else j = h;
      }
      for (let k = a; k < i - 1; k++) swap(k, k + 1);
      return;
    }
    if (b - m === 1) {
      let i = a;
      let j = m;
      while (i < j) {
        const h = (i + j) >>> 1;
        if (!lessIdx(m, h)) i = h + 1;
        else j = h;
      }
      for (let k = m; k > i; k--) swap(k, k - 1);
      return;
    }
    const mid = (a + b) >>> 1;
    const nn = mid + m;
    let start: number;
    let r: number;
    if (m > mid) {
      start = nn - b;
      r = mid;
    } else {
      start = a;
      r = m;
    }
    const p = nn - 1;
    while (start < r) {
      const c = (start + r) >>> 1;
      if (!lessIdx(p - c, c)) start = c + 1;
      else r = c;
    }
    const end = nn - start;
    if (start < m && m < end) rotate(start, m, end);
    if (a < start && start < mid) symMerge(a, start, mid);
    if (mid < end && end < b) symMerge(mid, end, b);
  };

  let blockSize = 20;
  let a = 0;
  let b = blockSize;
  while (b <= n) {
    insertionSort(a, b);
    a = b;
    b += blockSize;
  }
  insertionSort(a, n);
  while (blockSize < n) {
    a = 0;
    b = 2 * blockSize;
    while (b <= n) {
      symMerge(a, a + blockSize, b);
      a = b;
      b += 2 * blockSize;
    }
    const m = a + blockSize;
    if (m < n) symMerge(a, m, n);
    blockSize *= 2;
  }
}
