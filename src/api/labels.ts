// Label selectors, as k8s.io/apimachinery/pkg/labels: the string syntax used by
// `?labelSelector=` and `kubectl -l`, the structured metav1.LabelSelector used in object specs,
// matching, and the canonical string form (what Scale's status.selector shows).
//
// Parse errors carry upstream's wording (`unable to parse requirement: ...`,
// `found 'x', expected: ...`); the server returns them as 400 BadRequest.

import { isQualifiedName, isValidLabelValue } from './validation/common.js';

/** Operators as upstream's selection.Operator strings. */
export type LabelOperator = '=' | '==' | '!=' | 'in' | 'notin' | 'exists' | '!' | 'gt' | 'lt';

export interface Requirement {
  key: string;
  operator: LabelOperator;
  /** Values as given (the string parser gives them sorted and de-duplicated). */
  values: string[];
}

/**
 * A parsed selector: an AND of requirements sorted by key. `nothing` is upstream's
 * labels.Nothing() (what a nil metav1.LabelSelector means): it matches no object.
 */
export interface LabelSelector {
  requirements: Requirement[];
  nothing?: boolean;
}

/** metav1.LabelSelector, as it appears in object specs. */
export interface LabelSelectorSpec {
  matchLabels?: Record<string, string> | null;
  matchExpressions?: LabelSelectorRequirementSpec[] | null;
}
export interface LabelSelectorRequirementSpec {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | string;
  values?: string[] | null;
}

/** Matches every object (labels.Everything()). */
export const everything = (): LabelSelector => ({ requirements: [] });
/** Matches no object (labels.Nothing()). */
export const nothing = (): LabelSelector => ({ requirements: [], nothing: true });

/** True when the selector does not restrict anything (upstream Empty(); Nothing() is not empty). */
export function isEmpty(sel: LabelSelector): boolean {
  return !sel.nothing && sel.requirements.length === 0;
}

// ---- validation (NewRequirement) ---------------------------------------------------------

/** Renders a value as Go's %q / %#v do in field.Error bodies. */
function goValue(v: string | string[] | null): string {
  if (v === null) return '[]string(nil)';
  if (typeof v === 'string') return JSON.stringify(v);
  return `[]string{${v.map((s) => JSON.stringify(s)).join(', ')}}`;
}
const fieldInvalid = (path: string, value: string | string[] | null, detail: string) =>
  `${path}: Invalid value: ${goValue(value)}: ${detail}`;

function validateLabelKey(key: string, path: string): string | undefined {
  const errs = isQualifiedName(key);
  return errs.length ? fieldInvalid(path, key, errs.join('; ')) : undefined;
}

/** An aggregate of field errors, printed as upstream's utilerrors.Aggregate. */
function aggregate(msgs: string[]): string | undefined {
  const uniq = [...new Set(msgs)];
  if (uniq.length === 0) return undefined;
  return uniq.length === 1 ? uniq[0] : `[${uniq.join(', ')}]`;
}

const intRe = /^[+-]?[0-9]+$/;
function parseInt64(s: string): bigint | undefined {
  if (!intRe.test(s)) return undefined;
  const n = BigInt(s);
  if (n > 9223372036854775807n || n < -9223372036854775808n) return undefined;
  return n;
}

/**
 * Builds a requirement, validating it as upstream's NewRequirement (key, value count for the
 * operator, each value). `values === null` stands for a nil Go slice (printed `[]string(nil)`).
 * Throws an Error with the aggregated field errors.
 */
export function newRequirement(key: string, operator: LabelOperator, values: string[] | null = []): Requirement {
  const errs: string[] = [];
  const k = validateLabelKey(key, 'key');
  if (k) errs.push(k);
  const vals = values ?? [];
  switch (operator) {
    case 'in':
    case 'notin':
      if (vals.length === 0) errs.push(fieldInvalid('values', values, "for 'in', 'notin' operators, values set can't be empty"));
      break;
    case '=':
    case '==':
    case '!=':
      if (vals.length !== 1) errs.push(fieldInvalid('values', values, 'exact-match compatibility requires one single value'));
      break;
    case 'exists':
    case '!':
      if (vals.length !== 0) errs.push(fieldInvalid('values', values, 'values set must be empty for exists and does not exist'));
      break;
    case 'gt':
    case 'lt':
      if (vals.length !== 1) errs.push(fieldInvalid('values', values, "for 'Gt', 'Lt' operators, exactly one value is required"));
      vals.forEach((v, i) => {
        if (parseInt64(v) === undefined) {
          errs.push(fieldInvalid(`values[${i}]`, v, "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
      });
      break;
    default: {
      const supported = ['in', 'notin', '=', '==', '!=', 'gt', 'lt', 'exists', '!'];
      errs.push(`operator: Unsupported value: ${JSON.stringify(operator)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}`);
    }
  }
  vals.forEach((v, i) => {
    const verrs = isValidLabelValue(v);
    if (verrs.length) errs.push(fieldInvalid(`values[${i}][${key}]`, v, verrs.join('; ')));
  });
  const agg = aggregate(errs);
  if (agg) throw new Error(agg);
  return { key, operator, values: [...vals] };
}

// ---- lexer ---------------------------------------------------------------------------------

const enum Tok {
  Error = 0, End, ClosedPar, Comma, DoesNotExist, DoubleEquals, Equals, GreaterThan,
  Identifier, In, LessThan, NotEquals, NotIn, OpenPar,
}

const string2token: Record<string, Tok> = {
  ')': Tok.ClosedPar, ',': Tok.Comma, '!': Tok.DoesNotExist, '==': Tok.DoubleEquals, '=': Tok.Equals,
  '>': Tok.GreaterThan, in: Tok.In, '<': Tok.LessThan, '!=': Tok.NotEquals, notin: Tok.NotIn, '(': Tok.OpenPar,
};
const tokenOf = (s: string): Tok | undefined => (Object.hasOwn(string2token, s) ? string2token[s] : undefined);

const isWhitespace = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isSpecial = (c: string) => '=!(),><'.includes(c) && c !== '';

interface Item { tok: Tok; lit: string }

/** Tokenises like upstream's Lexer (byte-wise; a NUL byte ends the input, as there). */
function lex(s: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  const read = (): string => (pos < s.length ? s[pos++] : '\0');
  for (;;) {
    let ch = read();
    while (isWhitespace(ch)) ch = read();
    if (ch === '\0') {
      items.push({ tok: Tok.End, lit: '' });
      return items;
    }
    pos--;
    if (isSpecial(ch)) {
      let buf = '';
      let last: Item | undefined;
      for (;;) {
        const c = read();
        if (c === '\0') break;
        if (!isSpecial(c)) { pos--; break; }
        buf += c;
        const t = tokenOf(buf);
        if (t !== undefined) last = { tok: t, lit: buf };
        else if (last) { pos--; break; }
      }
      items.push(last ?? { tok: Tok.Error, lit: `error expected: keyword found '${buf}'` });
    } else {
      let buf = '';
      for (;;) {
        const c = read();
        if (c === '\0') break;
        if (isSpecial(c) || isWhitespace(c)) { pos--; break; }
        buf += c;
      }
      items.push({ tok: tokenOf(buf) ?? Tok.Identifier, lit: buf });
    }
  }
}

// ---- parser --------------------------------------------------------------------------------

const binaryOperators = ['in', 'notin', '=', '==', '!=', 'gt', 'lt'];

class Parser {
  private pos = 0;
  constructor(private readonly items: Item[]) {}

  /** In the Values context the keywords `in` / `notin` are plain identifiers. */
  private lookahead(values: boolean): Item {
    const it = this.items[this.pos];
    return values && (it.tok === Tok.In || it.tok === Tok.NotIn) ? { tok: Tok.Identifier, lit: it.lit } : it;
  }
  private consume(values: boolean): Item {
    const it = this.lookahead(values);
    this.pos++;
    return it;
  }

  parse(): Requirement[] {
    const reqs: Requirement[] = [];
    for (;;) {
      const { tok, lit } = this.lookahead(true);
      switch (tok) {
        case Tok.Identifier:
        case Tok.DoesNotExist: {
          let r: Requirement;
          try {
            r = this.parseRequirement();
          } catch (e) {
            throw new Error(`unable to parse requirement: ${(e as Error).message}`);
          }
          reqs.push(r);
          const t = this.consume(true);
          if (t.tok === Tok.End) return reqs;
          if (t.tok === Tok.Comma) {
            const t2 = this.lookahead(true);
            if (t2.tok !== Tok.Identifier && t2.tok !== Tok.DoesNotExist) {
              throw new Error(`found '${t2.lit}', expected: identifier after ','`);
            }
            break;
          }
          throw new Error(`found '${t.lit}', expected: ',' or 'end of string'`);
        }
        case Tok.End:
          return reqs;
        default:
          throw new Error(`found '${lit}', expected: !, identifier, or 'end of string'`);
      }
    }
  }

  private parseRequirement(): Requirement {
    const [key, inferred] = this.parseKeyAndInferOperator();
    if (inferred === 'exists' || inferred === '!') return newRequirement(key, inferred, []);
    const op = this.parseOperator();
    const values = op === 'in' || op === 'notin' ? this.parseValues() : this.parseExactValue();
    return newRequirement(key, op, [...values].sort(compareStrings));
  }

  private parseKeyAndInferOperator(): [string, LabelOperator | undefined] {
    let op: LabelOperator | undefined;
    let it = this.consume(true);
    if (it.tok === Tok.DoesNotExist) {
      op = '!';
      it = this.consume(true);
    }
    if (it.tok !== Tok.Identifier) throw new Error(`found '${it.lit}', expected: identifier`);
    const bad = validateLabelKey(it.lit, '<nil>');
    if (bad) throw new Error(bad);
    const next = this.lookahead(true).tok;
    if ((next === Tok.End || next === Tok.Comma) && op !== '!') op = 'exists';
    return [it.lit, op];
  }

  private parseOperator(): LabelOperator {
    const it = this.consume(false);
    switch (it.tok) {
      case Tok.In: return 'in';
      case Tok.Equals: return '=';
      case Tok.DoubleEquals: return '==';
      case Tok.GreaterThan: return 'gt';
      case Tok.LessThan: return 'lt';
      case Tok.NotIn: return 'notin';
      case Tok.NotEquals: return '!=';
      default: throw new Error(`found '${it.lit}', expected: ${binaryOperators.join(', ')}`);
    }
  }

  private parseValues(): Set<string> {
    const open = this.consume(true);
    if (open.tok !== Tok.OpenPar) throw new Error(`found '${open.lit}' expected: '('`);
    const { tok, lit } = this.lookahead(true);
    switch (tok) {
      case Tok.Identifier:
      case Tok.Comma: {
        const s = this.parseIdentifiersList();
        if (this.consume(true).tok !== Tok.ClosedPar) throw new Error(`found '${lit}', expected: ')'`);
        return s;
      }
      case Tok.ClosedPar:
        this.consume(true);
        return new Set(['']);
      default:
        throw new Error(`found '${lit}', expected: ',', ')' or identifier`);
    }
  }

  private parseIdentifiersList(): Set<string> {
    const s = new Set<string>();
    for (;;) {
      const { tok, lit } = this.consume(true);
      switch (tok) {
        case Tok.Identifier: {
          s.add(lit);
          const t2 = this.lookahead(true);
          if (t2.tok === Tok.Comma) continue;
          if (t2.tok === Tok.ClosedPar) return s;
          throw new Error(`found '${t2.lit}', expected: ',' or ')'`);
        }
        case Tok.Comma: {
          if (s.size === 0) s.add(''); // "(,"
          const t2 = this.lookahead(true).tok;
          if (t2 === Tok.ClosedPar) {
            s.add(''); // ",)"
            return s;
          }
          if (t2 === Tok.Comma) {
            this.consume(true);
            s.add(''); // ",,"
          }
          break;
        }
        default:
          throw new Error(`found '${lit}', expected: ',', or identifier`);
      }
    }
  }

  private parseExactValue(): Set<string> {
    const t = this.lookahead(true).tok;
    if (t === Tok.End || t === Tok.Comma) return new Set(['']);
    const it = this.consume(true);
    if (it.tok === Tok.Identifier) return new Set([it.lit]);
    throw new Error(`found '${it.lit}', expected: identifier`);
  }
}

/** Byte-wise string order, as Go's sort.Strings (UTF-16 order equals it for BMP text). */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
const byKey = (a: Requirement, b: Requirement) => compareStrings(a.key, b.key);

/**
 * Parses the string form (`a=b,c in (x,y),!d`), as upstream's labels.Parse. The empty string
 * selects everything. Throws an Error with upstream's message on bad input.
 */
export function parseLabelSelector(s: string): LabelSelector {
  const reqs = new Parser(lex(s)).parse();
  return { requirements: reqs.sort(byKey) };
}

// ---- matching --------------------------------------------------------------------------------

export function requirementMatches(r: Requirement, labels: Record<string, string> | undefined | null): boolean {
  const has = labels != null && Object.hasOwn(labels, r.key);
  const value = has ? labels[r.key] : '';
  switch (r.operator) {
    case 'in':
    case '=':
    case '==':
      return has && r.values.includes(value);
    case 'notin':
    case '!=':
      return !has || !r.values.includes(value);
    case 'exists':
      return has;
    case '!':
      return !has;
    case 'gt':
    case 'lt': {
      if (!has || r.values.length !== 1) return false;
      const lv = parseInt64(value);
      const rv = parseInt64(r.values[0]);
      if (lv === undefined || rv === undefined) return false;
      return r.operator === 'gt' ? lv > rv : lv < rv;
    }
    default:
      return false;
  }
}

/** True when every requirement matches (always false for Nothing()). */
export function matches(sel: LabelSelector, labels: Record<string, string> | undefined | null): boolean {
  if (sel.nothing) return false;
  return sel.requirements.every((r) => requirementMatches(r, labels));
}

// ---- structured selectors --------------------------------------------------------------------

/**
 * metav1.LabelSelectorAsSelector: null/undefined → Nothing() (matches no object);
 * an empty selector ({}) → Everything(); otherwise matchLabels as `=` and matchExpressions
 * (In, NotIn, Exists, DoesNotExist) as requirements, sorted by key. Throws on invalid input.
 */
export function selectorFromLabelSelector(ls: LabelSelectorSpec | null | undefined): LabelSelector {
  if (ls == null) return nothing();
  const ml = ls.matchLabels ?? {};
  const me = ls.matchExpressions ?? [];
  if (Object.keys(ml).length + me.length === 0) return everything();
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(ml)) reqs.push(newRequirement(k, '=', [v]));
  for (const e of me) {
    let op: LabelOperator;
    switch (e.operator) {
      case 'In': op = 'in'; break;
      case 'NotIn': op = 'notin'; break;
      case 'Exists': op = 'exists'; break;
      case 'DoesNotExist': op = '!'; break;
      default: throw new Error(`${JSON.stringify(e.operator)} is not a valid label selector operator`);
    }
    reqs.push(newRequirement(e.key, op, e.values == null ? null : [...e.values]));
  }
  return { requirements: reqs.sort(byKey) };
}

/**
 * As selectorFromLabelSelector, but a nil selector also selects everything: what callers that
 * treat "no selector" as "no restriction" want (e.g. NetworkPolicy's podSelector is required,
 * so it never is nil; a Service without a selector is handled by the caller instead).
 */
export function selectorFromLabelSelectorOrEverything(ls: LabelSelectorSpec | null | undefined): LabelSelector {
  return ls == null ? everything() : selectorFromLabelSelector(ls);
}

/** labels.SelectorFromSet: `k=v` for each entry, no validation; empty/undefined → everything. */
export function selectorFromSet(set: Record<string, string> | undefined | null): LabelSelector {
  const reqs = Object.entries(set ?? {}).map(([key, v]): Requirement => ({ key, operator: '=', values: [v] }));
  return { requirements: reqs.sort(byKey) };
}

// ---- string form -----------------------------------------------------------------------------

export function requirementToString(r: Requirement): string {
  let s = r.operator === '!' ? `!${r.key}` : r.key;
  switch (r.operator) {
    case '=': s += '='; break;
    case '==': s += '=='; break;
    case '!=': s += '!='; break;
    case 'in': s += ' in '; break;
    case 'notin': s += ' notin '; break;
    case 'gt': s += '>'; break;
    case 'lt': s += '<'; break;
    case 'exists':
    case '!':
      return s;
  }
  const vals = r.values.length === 1 ? r.values[0] : [...r.values].sort(compareStrings).join(',');
  return r.operator === 'in' || r.operator === 'notin' ? `${s}(${vals})` : s + vals;
}

/** Canonical form, as upstream's Selector.String(): `app=web,tier in (a,b)`; '' for Everything/Nothing. */
export function selectorToString(sel: LabelSelector): string {
  if (sel.nothing) return '';
  return sel.requirements.map(requirementToString).join(',');
}

/**
 * RequiresExactMatch: the single value a selector requires for `label` (via =, == or a
 * one-value `in`), if it does.
 */
export function requiresExactMatch(sel: LabelSelector, label: string): string | undefined {
  if (sel.nothing) return undefined;
  const r = sel.requirements.find((x) => x.key === label);
  if (!r) return undefined;
  if ((r.operator === '=' || r.operator === '==' || r.operator === 'in') && r.values.length === 1) return r.values[0];
  return undefined;
}
