// Label and field selectors: parsing (with upstream's error wording), matching, canonical form.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  isEmpty, matches, parseLabelSelector, requiresExactMatch, selectorFromLabelSelector,
  selectorFromLabelSelectorOrEverything, selectorFromSet, selectorToString,
} from '../../src/api/labels.js';
import {
  checkFieldSelector, exactMatch, fieldSelectorFields, fieldSelectorToString, matchesFields,
  parseFieldSelector, unsupportedFieldError,
} from '../../src/api/fields.js';

const qualifiedNameRegexMsg =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character " +
  "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const labelValueRegexMsg =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end " +
  "with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is " +
  "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

describe('parseLabelSelector: canonical form', () => {
  const cases: [string, string][] = [
    ['', ''],
    ['a=b', 'a=b'],
    ['a==b', 'a==b'],
    ['a!=b', 'a!=b'],
    ['a', 'a'],
    ['!a', '!a'],
    ['a=', 'a='],
    ['  a = b ,  c in ( y , x )  ', 'a=b,c in (x,y)'],
    ['tier in (b,a),app=web', 'app=web,tier in (a,b)'],
    ['x in (foo,,baz),y,z notin ()', 'x in (,baz,foo),y,z notin ()'],
    ['x in (a,a,b)', 'x in (a,b)'],
    ['example.com/role notin (db)', 'example.com/role notin (db)'],
    ['in in (in,notin)', 'in in (in,notin)'],
    ['a>1,b<5', 'a>1,b<5'],
    ['\ta\n=\rb', 'a=b'],
  ];
  for (const [input, want] of cases) {
    it(JSON.stringify(input), () => assert.equal(selectorToString(parseLabelSelector(input)), want));
  }
});

describe('parseLabelSelector: errors as upstream', () => {
  const cases: [string, string][] = [
    ['a=b,', "found '', expected: identifier after ','"],
    ['a=b,,c', "found ',', expected: identifier after ','"],
    ['x=a b', "found 'b', expected: ',' or 'end of string'"],
    ['a b', "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"],
    ['x in a', "unable to parse requirement: found 'a' expected: '('"],
    ['x in (a', "unable to parse requirement: found '', expected: ',' or ')'"],
    ['x in (a b)', "unable to parse requirement: found 'b', expected: ',' or ')'"],
    ['x in (=)', "unable to parse requirement: found '=', expected: ',', ')' or identifier"],
    ['x=(', "unable to parse requirement: found '(', expected: identifier"],
    ['=a', "found '=', expected: !, identifier, or 'end of string'"],
    ['!', "unable to parse requirement: found '', expected: identifier"],
    ['!a=b', "found '=', expected: ',' or 'end of string'"],
    ['a@b=c', `unable to parse requirement: <nil>: Invalid value: "a@b": name part ${qualifiedNameRegexMsg}`],
    ['a=-b', `unable to parse requirement: values[0][a]: Invalid value: "-b": ${labelValueRegexMsg}`],
    ['a>b', `unable to parse requirement: values[0]: Invalid value: "b": for 'Gt', 'Lt' operators, the value must be an integer`],
    [`a=${'x'.repeat(64)}`, `unable to parse requirement: values[0][a]: Invalid value: "${'x'.repeat(64)}": must be no more than 63 characters`],
    ['Example.com/a=b', 'unable to parse requirement: <nil>: Invalid value: "Example.com/a": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character (e.g. \'example.com\', regex used for validation is \'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\')'],
  ];
  for (const [input, want] of cases) {
    it(JSON.stringify(input), () => assert.throws(() => parseLabelSelector(input), { message: want }));
  }
});

describe('matches', () => {
  const labels = { app: 'web', tier: 'front', n: '7' };
  const cases: [string, Record<string, string> | undefined, boolean][] = [
    ['', labels, true],
    ['', undefined, true],
    ['app=web', labels, true],
    ['app==web', labels, true],
    ['app=db', labels, false],
    ['app!=db', labels, true],
    ['missing!=x', labels, true],
    ['app!=web', labels, false],
    ['tier in (front,back)', labels, true],
    ['tier in (back)', labels, false],
    ['missing in (x)', labels, false],
    ['tier notin (back)', labels, true],
    ['missing notin (x)', labels, true],
    ['tier notin (front)', labels, false],
    ['app', labels, true],
    ['missing', labels, false],
    ['!missing', labels, true],
    ['!app', labels, false],
    ['app=web,tier=front', labels, true],
    ['app=web,tier=back', labels, false],
    ['n>5', labels, true],
    ['n>7', labels, false],
    ['n<8', labels, true],
    ['app>1', labels, false],
    ['missing>1', labels, false],
    ['app=', { app: '' }, true],
    ['app=', {}, false],
  ];
  for (const [sel, ls, want] of cases) {
    it(`${JSON.stringify(sel)} on ${JSON.stringify(ls)}`, () => assert.equal(matches(parseLabelSelector(sel), ls), want));
  }
});

describe('selectorFromLabelSelector (metav1.LabelSelectorAsSelector)', () => {
  it('nil selects nothing, empty selects everything', () => {
    const nil = selectorFromLabelSelector(undefined);
    assert.equal(matches(nil, { a: 'b' }), false);
    assert.equal(matches(nil, {}), false);
    assert.equal(isEmpty(nil), false);
    assert.equal(selectorToString(nil), '');
    const empty = selectorFromLabelSelector({});
    assert.equal(matches(empty, { a: 'b' }), true);
    assert.equal(isEmpty(empty), true);
    assert.equal(isEmpty(selectorFromLabelSelector({ matchLabels: {}, matchExpressions: [] })), true);
    assert.equal(matches(selectorFromLabelSelectorOrEverything(null), { a: 'b' }), true);
  });
  it('matchLabels and matchExpressions, sorted by key', () => {
    const sel = selectorFromLabelSelector({
      matchLabels: { tier: 'web', app: 'shop' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'dev'] },
        { key: 'track', operator: 'NotIn', values: ['canary'] },
        { key: 'owner', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    });
    assert.equal(selectorToString(sel), 'app=shop,env in (dev,prod),!legacy,owner,tier=web,track notin (canary)');
    assert.equal(matches(sel, { app: 'shop', tier: 'web', env: 'dev', owner: 'x' }), true);
    assert.equal(matches(sel, { app: 'shop', tier: 'web', env: 'dev', owner: 'x', legacy: '1' }), false);
    assert.equal(matches(sel, { app: 'shop', tier: 'web', env: 'dev', owner: 'x', track: 'canary' }), false);
    assert.equal(matches(sel, { app: 'shop', tier: 'web', env: 'qa', owner: 'x' }), false);
  });
  it('errors as upstream', () => {
    assert.throws(() => selectorFromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Foo' }] }),
      { message: '"Foo" is not a valid label selector operator' });
    assert.throws(() => selectorFromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'In' }] }),
      { message: "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty" });
    assert.throws(() => selectorFromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }),
      { message: 'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist' });
    assert.throws(() => selectorFromLabelSelector({ matchLabels: { 'a b': '-' } }), {
      message: `[key: Invalid value: "a b": name part ${qualifiedNameRegexMsg}, values[0][a b]: Invalid value: "-": ${labelValueRegexMsg}]`,
    });
  });
  it('selectorFromSet and requiresExactMatch', () => {
    const sel = selectorFromSet({ b: '2', a: '1' });
    assert.equal(selectorToString(sel), 'a=1,b=2');
    assert.equal(requiresExactMatch(sel, 'a'), '1');
    assert.equal(requiresExactMatch(parseLabelSelector('a in (x)'), 'a'), 'x');
    assert.equal(requiresExactMatch(parseLabelSelector('a in (x,y)'), 'a'), undefined);
    assert.equal(requiresExactMatch(parseLabelSelector('a!=x'), 'a'), undefined);
    assert.equal(isEmpty(selectorFromSet({})), true);
  });
});

describe('field selectors', () => {
  const obj: Record<string, string> = { 'metadata.name': 'foo', 'metadata.namespace': 'ns', 'status.phase': 'Running' };
  const get = (f: string) => obj[f];
  const cases: [string, boolean, string][] = [
    ['', true, ''],
    ['metadata.name=foo', true, 'metadata.name=foo'],
    ['metadata.name==foo', true, 'metadata.name=foo'],
    ['metadata.name!=foo', false, 'metadata.name!=foo'],
    ['status.phase!=Pending,metadata.name=foo', true, 'metadata.name=foo,status.phase!=Pending'],
    ['metadata.name=bar', false, 'metadata.name=bar'],
    ['spec.nodeName=', true, 'spec.nodeName='],
    ['spec.nodeName!=', false, 'spec.nodeName!='],
    ['metadata.name=foo,', true, 'metadata.name=foo'],
    ['a=x\\,y', false, 'a=x\\,y'],
  ];
  for (const [s, want, str] of cases) {
    it(JSON.stringify(s), () => {
      const sel = parseFieldSelector(s);
      assert.equal(matchesFields(sel, get), want);
      assert.equal(fieldSelectorToString(sel), str);
    });
  }
  it('escapes', () => {
    const sel = parseFieldSelector('a=x\\,y\\=z\\\\');
    assert.equal(sel.terms[0].value, 'x,y=z\\');
    assert.equal(fieldSelectorToString(sel), 'a=x\\,y\\=z\\\\');
  });
  const errors: [string, string][] = [
    ['a', "invalid selector: 'a'; can't understand 'a'"],
    ['a=b,c', "invalid selector: 'a=b,c'; can't understand 'c'"],
    ['a=b=c', 'invalid field selector: unescaped character in value: 61'],
    ['a=b\\x', 'invalid field selector: invalid escape sequence: \\x'],
    ['a=b\\', 'invalid field selector: invalid escape sequence: \\'],
  ];
  for (const [s, msg] of errors) {
    it(`error ${JSON.stringify(s)}`, () => assert.throws(() => parseFieldSelector(s), { message: msg }));
  }
  it('exactMatch, fields, unsupported field', () => {
    const sel = parseFieldSelector('metadata.namespace!=x,metadata.name=foo');
    assert.equal(exactMatch(sel, 'metadata.name'), 'foo');
    assert.equal(exactMatch(sel, 'metadata.namespace'), undefined);
    assert.deepEqual(fieldSelectorFields(sel), ['metadata.name', 'metadata.namespace']);
    const e = unsupportedFieldError('spec.foo');
    assert.equal(e.code, 400);
    assert.equal(e.status.reason, 'BadRequest');
    assert.equal(e.status.message, 'field label not supported: spec.foo');
    assert.equal(checkFieldSelector(sel, ['metadata.name', 'metadata.namespace']), undefined);
    assert.equal(checkFieldSelector(parseFieldSelector('spec.x=1'), ['metadata.name'])?.status.message,
      'field label not supported: spec.x');
  });
});
