// Field selectors, as k8s.io/apimachinery/pkg/fields: `?fieldSelector=metadata.name=foo,
// status.phase!=Running`. Only `=`, `==` and `!=` exist; values may escape `\`, `,` and `=`
// with a backslash. Which fields a resource supports is the server's business: it asks
// fieldSelectorFields() and answers unsupportedFieldError() for the others.

import type { StatusError } from './errors.js';
import { errBadRequest } from './errors.js';

export interface FieldRequirement {
  field: string;
  /** '=' for both `=` and `==` (upstream folds them into one hasTerm). */
  operator: '=' | '!=';
  value: string;
}

/** An AND of terms, sorted as upstream sorts the raw terms before parsing. */
export interface FieldSelector {
  terms: FieldRequirement[];
}

const termOperators = ['!=', '==', '='] as const;

/** Splits on unescaped commas; escapes stay in the terms. */
function splitTerms(s: string): string[] {
  if (s.length === 0) return [];
  const terms: string[] = [];
  let start = 0;
  let inSlash = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inSlash) inSlash = false;
    else if (c === '\\') inSlash = true;
    else if (c === ',') {
      terms.push(s.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(s.slice(start));
  return terms;
}

/** The first operator occurrence splits the term (no escaping on the left-hand side). */
function splitTerm(term: string): [string, string, string] | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of termOperators) {
      if (term.startsWith(op, i)) return [term.slice(0, i), op, term.slice(i + op.length)];
    }
  }
  return undefined;
}

/** fields.UnescapeValue: `\\`, `\,`, `\=` are the only escapes; bare `,` / `=` are errors. */
export function unescapeValue(s: string): string {
  if (!/[\\,=]/.test(s)) return s;
  let out = '';
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c === '\\' || c === ',' || c === '=') out += c;
      else throw new Error(`invalid field selector: invalid escape sequence: \\${c}`);
      inSlash = false;
      continue;
    }
    if (c === '\\') inSlash = true;
    // Upstream prints the rune with %v, i.e. as its code point number.
    else if (c === ',' || c === '=') throw new Error(`invalid field selector: unescaped character in value: ${c.codePointAt(0)}`);
    else out += c;
  }
  if (inSlash) throw new Error('invalid field selector: invalid escape sequence: \\');
  return out;
}

/** fields.EscapeValue. */
export function escapeValue(s: string): string {
  return s.replace(/[\\,=]/g, (c) => `\\${c}`);
}

/** Byte-wise order as Go's sort.Strings. */
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Parses a field selector as upstream's fields.ParseSelector. The empty string selects
 * everything. Throws Error with upstream's message (`invalid selector: '...'; can't understand
 * '...'`, or an escape error).
 */
export function parseFieldSelector(s: string): FieldSelector {
  const parts = splitTerms(s).sort(cmp);
  const terms: FieldRequirement[] = [];
  for (const part of parts) {
    if (part === '') continue;
    const t = splitTerm(part);
    if (!t) throw new Error(`invalid selector: '${s}'; can't understand '${part}'`);
    const [lhs, op, rhs] = t;
    terms.push({ field: lhs, operator: op === '!=' ? '!=' : '=', value: unescapeValue(rhs) });
  }
  return { terms };
}

/** Builds `field=value` terms from a map (fields.SelectorFromSet / OneTermEqualSelector). */
export function fieldSelectorFromSet(set: Record<string, string>): FieldSelector {
  return {
    terms: Object.keys(set).sort(cmp).map((field) => ({ field, operator: '=' as const, value: set[field] })),
  };
}

/** True when the selector does not restrict anything. */
export function isFieldSelectorEmpty(sel: FieldSelector): boolean {
  return sel.terms.length === 0;
}

/**
 * Matches an object's fields, obtained through `get` (a missing field reads as '', as in
 * upstream's fields.Set).
 */
export function matchesFields(sel: FieldSelector, get: (field: string) => string | undefined): boolean {
  for (const t of sel.terms) {
    const v = get(t.field) ?? '';
    if (t.operator === '=' ? v !== t.value : v === t.value) return false;
  }
  return true;
}

/** The distinct field names the selector uses, in order of first use. */
export function fieldSelectorFields(sel: FieldSelector): string[] {
  return [...new Set(sel.terms.map((t) => t.field))];
}

/** The value `field` must equal (`metadata.name=foo` → 'foo'), when the selector requires one. */
export function exactMatch(sel: FieldSelector, field: string): string | undefined {
  for (const t of sel.terms) {
    if (t.field === field && t.operator === '=') return t.value;
  }
  return undefined;
}

/** Canonical string form (`a=b,c!=d`, values escaped), as upstream's Selector.String(). */
export function fieldSelectorToString(sel: FieldSelector): string {
  return sel.terms.map((t) => `${t.field}${t.operator}${escapeValue(t.value)}`).join(',');
}

/** 400 BadRequest `field label not supported: <name>`, as the server answers for unknown fields. */
export function unsupportedFieldError(field: string): StatusError {
  return errBadRequest(`field label not supported: ${field}`);
}

/**
 * Checks every field against the supported set; returns the 400 for the first unsupported one
 * (upstream converts terms in order and fails on the first).
 */
export function checkFieldSelector(sel: FieldSelector, supported: Iterable<string>): StatusError | undefined {
  const ok = new Set(supported);
  for (const f of fieldSelectorFields(sel)) if (!ok.has(f)) return unsupportedFieldError(f);
  return undefined;
}
