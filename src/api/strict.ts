// Strict field checking, as the API server's decoder does it: unknown fields (reported by
// fieldValidation=Strict as errors, Warn as warnings) and type mismatches (always a 400:
// `Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string
// into Go struct field DeploymentSpec.spec.replicas of type int32`).
//
// The walk follows the compiled model shape from schema.ts, so it touches only the fields the
// object has. It never throws: any input (deep, huge, cyclic, odd JS values) gives a result.

import type { FieldError } from './errors.js';
import { shapeOf } from './schema.js';
import type { Shape } from './schema.js';

export interface FieldCheck {
  /** Unknown field paths in document order, as upstream prints them: `spec.containers[0].imagee`. */
  unknown: string[];
  /** Every value whose JSON type does not fit the Go field (detail is the decoder's message). */
  typeErrors: FieldError[];
  /**
   * The error the API server's decoder returns for this object (its first type error, or a
   * custom unmarshaler's error), e.g. `json: cannot unmarshal string into Go struct field
   * DeploymentSpec.spec.replicas of type int32`. Undefined when the object decodes.
   */
  decodeError?: string;
}

/** Bounds so hostile input cannot make a check slow or deep. */
const MAX_DEPTH = 100;
const MAX_REPORTS = 1000;

const QUANTITY_RE = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
export const QUANTITY_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const RFC3339 = '2006-01-02T15:04:05Z07:00';
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

interface Ctx {
  unknown: string[];
  typeErrors: FieldError[];
  /** First saved type error (encoding/json keeps only the first). */
  saved?: string;
  /** An unmarshaler's error: aborts decoding, so it wins over a saved one. */
  hard?: string;
  seen: Set<object>;
}

/** JSON kind of a value as encoding/json names it in errors. */
function jsonKind(v: unknown): string {
  switch (typeof v) {
    case 'string': return 'string';
    case 'number': case 'bigint': return 'number';
    case 'boolean': return 'bool';
    case 'object': return v === null ? 'null' : Array.isArray(v) ? 'array' : 'object';
    default: return 'object';
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeError(ctx: Ctx, path: string, value: string, struct: string, field: string, goType: string, shown?: unknown): void {
  const msg = struct
    ? `json: cannot unmarshal ${value} into Go struct field ${struct}.${field} of type ${goType}`
    : `json: cannot unmarshal ${value} into Go value of type ${goType}`;
  if (ctx.typeErrors.length < MAX_REPORTS) {
    const fe: FieldError = { type: 'FieldValueTypeInvalid', field: path, detail: msg };
    if (shown !== undefined && (typeof shown !== 'object' || shown === null)) fe.value = typeof shown === 'bigint' ? String(shown) : shown;
    ctx.typeErrors.push(fe);
  }
  if (ctx.saved === undefined) ctx.saved = msg;
}

function otherError(ctx: Ctx, path: string, msg: string, hard: boolean, shown?: unknown): void {
  if (ctx.typeErrors.length < MAX_REPORTS) {
    const fe: FieldError = { type: 'FieldValueTypeInvalid', field: path, detail: msg };
    if (typeof shown === 'string' || typeof shown === 'number') fe.value = shown;
    ctx.typeErrors.push(fe);
  }
  if (hard) { if (ctx.hard === undefined) ctx.hard = msg; } else if (ctx.saved === undefined) ctx.saved = msg;
}

function numberText(v: unknown): string {
  return typeof v === 'bigint' ? v.toString() : String(v);
}

/**
 * Checks value `v` against `shape`. `path` is the display path (with [i]); `field` the dotted
 * Go field path (no indices, no map keys) and `struct` the enclosing Go struct's name, both
 * for encoding/json-style messages.
 */
function check(ctx: Ctx, shape: Shape, v: unknown, path: string, struct: string, field: string, depth: number): void {
  if (v === null || v === undefined) return; // null decodes to the zero value
  switch (shape.k) {
    case 'struct': {
      if (!isPlainObject(v)) { typeError(ctx, path, jsonKind(v), struct, field, shape.go); return; }
      walkStruct(ctx, shape, v, path, field, depth);
      return;
    }
    case 'array': {
      if (!Array.isArray(v)) { typeError(ctx, path, jsonKind(v), struct, field, shape.go); return; }
      if (depth >= MAX_DEPTH || ctx.seen.has(v)) return;
      ctx.seen.add(v);
      const el = shape.elem;
      // Scalars of the right kind need no per-item path strings.
      for (let i = 0; i < v.length; i++) {
        const item = v[i];
        if (item === null || item === undefined) continue;
        if (el.k === 'string' && typeof item === 'string') continue;
        check(ctx, el, item, `${path}[${i}]`, struct, field, depth + 1);
        if (ctx.unknown.length >= MAX_REPORTS && ctx.typeErrors.length >= MAX_REPORTS) break;
      }
      ctx.seen.delete(v);
      return;
    }
    case 'map': {
      if (!isPlainObject(v)) { typeError(ctx, path, jsonKind(v), struct, field, shape.go); return; }
      if (depth >= MAX_DEPTH || ctx.seen.has(v)) return;
      ctx.seen.add(v);
      const el = shape.elem;
      for (const k of Object.keys(v)) {
        const item = v[k];
        if (item === null || item === undefined) continue;
        if (el.k === 'string' && typeof item === 'string') continue;
        check(ctx, el, item, `${path}.${k}`, struct, field, depth + 1);
      }
      ctx.seen.delete(v);
      return;
    }
    case 'string':
      if (typeof v !== 'string') typeError(ctx, path, jsonKind(v), struct, field, shape.go, v);
      return;
    case 'bool':
      if (typeof v !== 'boolean') typeError(ctx, path, jsonKind(v), struct, field, shape.go, v);
      return;
    case 'int': {
      if (typeof v === 'bigint') {
        if (v < BigInt(shape.min) || v > BigInt(shape.max)) typeError(ctx, path, `number ${v}`, struct, field, shape.go, v);
        return;
      }
      if (typeof v !== 'number') { typeError(ctx, path, jsonKind(v), struct, field, shape.go, v); return; }
      if (!Number.isInteger(v) || v < shape.min || v > shape.max) typeError(ctx, path, `number ${numberText(v)}`, struct, field, shape.go, v);
      return;
    }
    case 'float':
      if (typeof v !== 'number' && typeof v !== 'bigint') typeError(ctx, path, jsonKind(v), struct, field, shape.go, v);
      return;
    case 'intstr': {
      // intstr.IntOrString.UnmarshalJSON: a string, else an int32 through a nested Unmarshal.
      if (typeof v === 'string') return;
      if (typeof v === 'number' || typeof v === 'bigint') {
        const n = Number(v);
        if (!Number.isInteger(n) || n < -2147483648 || n > 2147483647) {
          otherError(ctx, path, `json: cannot unmarshal number ${numberText(v)} into Go struct field ${struct}.${field} of type int32`, true, n);
        }
        return;
      }
      otherError(ctx, path, `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${struct}.${field} of type int32`, true);
      return;
    }
    case 'quantity': {
      // resource.Quantity.UnmarshalJSON parses strings and bare numbers alike.
      const s = typeof v === 'string' ? v.trim() : typeof v === 'number' || typeof v === 'bigint' ? numberText(v) : '';
      if (!s || !QUANTITY_RE.test(s) || (typeof v === 'number' && !Number.isFinite(v))) otherError(ctx, path, QUANTITY_ERROR, true, v);
      return;
    }
    case 'time': {
      if (typeof v !== 'string') {
        otherError(ctx, path, `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${struct}.${field} of type string`, true, v);
        return;
      }
      if (v !== '' && !RFC3339_RE.test(v)) otherError(ctx, path, `parsing time ${JSON.stringify(v)} as "${RFC3339}": cannot parse ${JSON.stringify(v)} as "2006"`, true, v);
      return;
    }
    case 'bytes': {
      if (typeof v !== 'string') { typeError(ctx, path, jsonKind(v), struct, field, shape.go, v); return; }
      if (v.length % 4 !== 0 || !BASE64_RE.test(v)) {
        let at = 0;
        while (at < v.length && /[A-Za-z0-9+/]/.test(v[at])) at++;
        if (at === v.length) at = v.length - (v.length % 4);
        otherError(ctx, path, `illegal base64 data at input byte ${at}`, false);
      }
      return;
    }
    case 'any':
    default:
      return;
  }
}

function walkStruct(ctx: Ctx, shape: Extract<Shape, { k: 'struct' }>, obj: Record<string, unknown>, path: string, field: string, depth: number): void {
  if (depth >= MAX_DEPTH || ctx.seen.has(obj)) return;
  ctx.seen.add(obj);
  let fields: Map<string, Shape>;
  try { fields = shape.fields(); } catch { fields = new Map(); }
  const prefix = path ? `${path}.` : '';
  const fprefix = field ? `${field}.` : '';
  for (const k of Object.keys(obj)) {
    const fs = fields.get(k);
    if (!fs) {
      if (ctx.unknown.length < MAX_REPORTS) ctx.unknown.push(prefix + k);
      continue;
    }
    const v = obj[k];
    if (v === null || v === undefined) continue;
    if (fs.k === 'string' && typeof v === 'string') continue;
    check(ctx, fs, v, prefix + k, shape.name, fprefix + k, depth + 1);
  }
  ctx.seen.delete(obj);
}

/**
 * Checks an object against a client-node model (`V1Pod`): unknown fields and type errors.
 * An unknown model gives an empty result.
 */
export function checkFields(model: string, obj: unknown): FieldCheck {
  const ctx: Ctx = { unknown: [], typeErrors: [], seen: new Set() };
  try {
    const shape = shapeOf(model);
    if (shape && shape.k === 'struct') {
      if (isPlainObject(obj)) walkStruct(ctx, shape, obj, '', '', 0);
      else if (obj !== null && obj !== undefined) typeError(ctx, '', jsonKind(obj), '', '', shape.go);
    }
  } catch {
    // Never throw: a failure inside the walk leaves what was found so far.
  }
  const out: FieldCheck = { unknown: ctx.unknown, typeErrors: ctx.typeErrors };
  const err = ctx.hard ?? ctx.saved;
  if (err !== undefined) out.decodeError = err;
  return out;
}

/** `unknown field "spec.foo", unknown field "spec.bar"`, as strict decoding lists them. */
export function unknownFieldsMessage(unknown: readonly string[]): string {
  return unknown.map((p) => `unknown field ${JSON.stringify(p)}`).join(', ');
}

/** The 400 message for an object that cannot be decoded or (Strict) has unknown fields. */
export function cannotBeHandledMessage(kind: string, version: string, detail: string): string {
  return `${kind} in version ${JSON.stringify(version)} cannot be handled as a ${kind}: ${detail}`;
}

/** The message for fieldValidation=Strict with unknown fields. */
export function strictDecodingMessage(kind: string, version: string, unknown: readonly string[]): string {
  return cannotBeHandledMessage(kind, version, `strict decoding error: ${unknownFieldsMessage(unknown)}`);
}

export type FieldValidationMode = 'Ignore' | 'Warn' | 'Strict';

/**
 * What the API server does with a create/update body under `fieldValidation` (default Warn):
 * a decode (type) error is always a 400; unknown fields are a 400 under Strict, one warning
 * each (`unknown field "spec.foo"`) under Warn, and nothing under Ignore.
 */
export function validateFields(
  model: string, kind: string, version: string, obj: unknown, mode: FieldValidationMode = 'Warn',
): { error?: string; warnings: string[] } {
  const r = checkFields(model, obj);
  if (r.decodeError !== undefined) return { error: cannotBeHandledMessage(kind, version, r.decodeError), warnings: [] };
  if (!r.unknown.length || mode === 'Ignore') return { warnings: [] };
  if (mode === 'Strict') return { error: strictDecodingMessage(kind, version, r.unknown), warnings: [] };
  return { warnings: r.unknown.map((p) => `unknown field ${JSON.stringify(p)}`) };
}
