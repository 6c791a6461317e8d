// Command-line parsing with the semantics of spf13/pflag + cobra, which agnhost uses:
// `--name=value`, `--name value` (not for booleans), `--bool`, `--bool=false`, `-s value`,
// `-s=value`, `-svalue`, `--` ends flags, flags and positional arguments may be interleaved.
// Errors carry pflag's / cobra's wording so that a caller sees what the Go binary would print.

export type FlagType = 'int' | 'string' | 'bool' | 'duration';

export interface FlagDef {
  name: string;
  short?: string;
  type: FlagType;
  /** default value: number for int, string, boolean, or milliseconds for duration */
  def: number | string | boolean;
  usage: string;
}

export type FlagValues = Record<string, number | string | boolean>;

export class FlagError extends Error {}

/** Go's time.ParseDuration; returns milliseconds (may be fractional). */
export function parseGoDuration(s: string): number {
  const orig = s;
  const bad = () => new FlagError(`time: invalid duration "${orig}"`);
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw bad();
  const units: Record<string, number> = {
    ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000,
  };
  let total = 0;
  const re = /^(\d*)(?:\.(\d*))?([a-zµμ]*)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m || m[0] === '') throw bad();
    const [whole, intPart, fracPart, unit] = m;
    if (intPart === '' && (fracPart === undefined || fracPart === '')) throw bad();
    if (unit === '') throw new FlagError(`time: missing unit in duration "${orig}"`);
    const mult = units[unit];
    if (mult === undefined) throw new FlagError(`time: unknown unit "${unit}" in duration "${orig}"`);
    total += Number(`${intPart || '0'}.${fracPart || '0'}`) * mult;
    s = s.slice(whole.length);
  }
  return neg ? -total : total;
}

/** Go's time.Duration.String for a value in milliseconds. */
export function formatGoDuration(ms: number): string {
  let ns = Math.round(ms * 1e6);
  if (ns === 0) return '0s';
  const neg = ns < 0;
  if (neg) ns = -ns;
  const trim = (v: string) => v.replace(/\.?0+$/, '');
  let out: string;
  if (ns < 1000) out = `${ns}ns`;
  else if (ns < 1e6) out = `${trim((ns / 1e3).toFixed(3))}µs`;
  else if (ns < 1e9) out = `${trim((ns / 1e6).toFixed(6))}ms`;
  else {
    const h = Math.floor(ns / 3.6e12);
    const m = Math.floor((ns % 3.6e12) / 6e10);
    const sec = (ns % 6e10) / 1e9;
    const secStr = `${trim(sec.toFixed(9))}s`;
    out = h > 0 ? `${h}h${m}m${secStr}` : m > 0 ? `${m}m${secStr}` : secStr;
  }
  return neg ? `-${out}` : out;
}

/** Go's strconv.Atoi; throws with Go's message. */
export function atoi(s: string): number {
  if (!/^[+-]?\d+$/.test(s)) throw new FlagError(`strconv.Atoi: parsing ${JSON.stringify(s)}: invalid syntax`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new FlagError(`strconv.Atoi: parsing ${JSON.stringify(s)}: value out of range`);
  return n;
}

function parseIntFlag(s: string): number {
  // pflag uses strconv.ParseInt(s, 0, 64): accepts 0x, 0o, 0b prefixes and underscores.
  const m = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(s);
  if (!m) throw new FlagError(`strconv.ParseInt: parsing ${JSON.stringify(s)}: invalid syntax`);
  let body = m[2].replace(/_/g, '');
  let n: number;
  if (/^0[xX]/.test(body)) n = parseInt(body.slice(2), 16);
  else if (/^0[oO]/.test(body)) n = parseInt(body.slice(2), 8);
  else if (/^0[bB]/.test(body)) n = parseInt(body.slice(2), 2);
  else if (body.length > 1 && body.startsWith('0')) n = parseInt(body.slice(1), 8);
  else n = parseInt(body, 10);
  if (!Number.isSafeInteger(n)) throw new FlagError(`strconv.ParseInt: parsing ${JSON.stringify(s)}: value out of range`);
  return m[1] === '-' ? -n : n;
}

function parseBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  throw new FlagError(`strconv.ParseBool: parsing ${JSON.stringify(s)}: invalid syntax`);
}

function flagLabel(d: FlagDef): string {
  return d.short ? `-${d.short}, --${d.name}` : `--${d.name}`;
}

function convert(d: FlagDef, raw: string): number | string | boolean {
  try {
    switch (d.type) {
      case 'int': return parseIntFlag(raw);
      case 'bool': return parseBool(raw);
      case 'duration': return parseGoDuration(raw);
      default: return raw;
    }
  } catch (e) {
    throw new FlagError(`invalid argument ${JSON.stringify(raw)} for "${flagLabel(d)}" flag: ${(e as Error).message}`);
  }
}

/** klog's flags, which agnhost adds to every command as persistent flags; accepted and ignored. */
export const KLOG_FLAGS: FlagDef[] = [
  { name: 'add_dir_header', type: 'bool', def: false, usage: 'If true, adds the file directory to the header of the log messages' },
  { name: 'alsologtostderr', type: 'bool', def: false, usage: 'log to standard error as well as files (no effect when -logtostderr=true)' },
  { name: 'log_backtrace_at', type: 'string', def: ':0', usage: 'when logging hits line file:N, emit a stack trace' },
  { name: 'log_dir', type: 'string', def: '', usage: 'If non-empty, write log files in this directory (no effect when -logtostderr=true)' },
  { name: 'log_file', type: 'string', def: '', usage: 'If non-empty, use this log file (no effect when -logtostderr=true)' },
  { name: 'log_file_max_size', type: 'int', def: 1800, usage: 'Defines the maximum size a log file can grow to (no effect when -logtostderr=true). Unit is megabytes. If the value is 0, the maximum file size is unlimited.' },
  { name: 'logtostderr', type: 'bool', def: true, usage: 'log to standard error instead of files' },
  { name: 'one_output', type: 'bool', def: false, usage: 'If true, only write logs to their native severity level (vs also writing to each lower severity level; no effect when -logtostderr=true)' },
  { name: 'skip_headers', type: 'bool', def: false, usage: 'If true, avoid header prefixes in the log messages' },
  { name: 'skip_log_headers', type: 'bool', def: false, usage: 'If true, avoid headers when opening log files (no effect when -logtostderr=true)' },
  { name: 'stderrthreshold', type: 'string', def: '2', usage: 'logs at or above this threshold go to stderr when writing to files and stderr (no effect when -logtostderr=true or -alsologtostderr=true)' },
  { name: 'v', short: 'v', type: 'int', def: 0, usage: 'number for the log level verbosity' },
  { name: 'vmodule', type: 'string', def: '', usage: 'comma-separated list of pattern=N settings for file-filtered logging' },
];

export const HELP_FLAG: FlagDef = { name: 'help', short: 'h', type: 'bool', def: false, usage: 'help' };

export interface Parsed {
  values: FlagValues;
  /** flags that were explicitly set */
  set: Set<string>;
  args: string[];
}

export function parseFlags(defs: FlagDef[], argv: string[]): Parsed {
  const byName = new Map<string, FlagDef>();
  const byShort = new Map<string, FlagDef>();
  for (const d of defs) {
    byName.set(d.name, d);
    if (d.short) byShort.set(d.short, d);
  }
  const values: FlagValues = {};
  for (const d of defs) values[d.name] = d.def;
  const set = new Set<string>();
  const args: string[] = [];
  const assign = (d: FlagDef, raw: string) => {
    values[d.name] = convert(d, raw);
    set.add(d.name);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const body = a.slice(2);
      const eq = body.indexOf('=');
      const name = eq >= 0 ? body.slice(0, eq) : body;
      if (name.length === 0 || name.startsWith('-') || name.startsWith('=')) {
        throw new FlagError(`bad flag syntax: ${a}`);
      }
      const d = byName.get(name);
      if (!d) throw new FlagError(`unknown flag: --${name}`);
      if (eq >= 0) assign(d, body.slice(eq + 1));
      else if (d.type === 'bool') assign(d, 'true');
      else if (i + 1 < argv.length) assign(d, argv[++i]);
      else throw new FlagError(`flag needs an argument: ${a}`);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      let rest = a.slice(1);
      while (rest.length > 0) {
        const c = rest[0];
        const d = byShort.get(c);
        if (!d) throw new FlagError(`unknown shorthand flag: '${c}' in ${a}`);
        rest = rest.slice(1);
        if (rest.startsWith('=')) {
          assign(d, rest.slice(1));
          rest = '';
        } else if (d.type === 'bool') {
          assign(d, 'true');
        } else if (rest.length > 0) {
          assign(d, rest);
          rest = '';
        } else if (i + 1 < argv.length) {
          assign(d, argv[++i]);
        } else {
          throw new FlagError(`flag needs an argument: '${c}' in -${c}`);
        }
      }
      continue;
    }
    args.push(a);
  }
  return { values, set, args };
}

function typeName(d: FlagDef): string {
  return d.type === 'bool' ? '' : d.type === 'duration' ? 'duration' : d.type;
}

/** The "Flags:" block of cobra's usage output. */
export function flagUsages(defs: FlagDef[]): string {
  const rows = defs.map((d) => {
    const left = `${d.short ? `-${d.short}, ` : '    '}--${d.name}${typeName(d) ? ` ${typeName(d)}` : ''}`;
    let def = '';
    if (d.type === 'string' && d.def !== '') def = ` (default ${JSON.stringify(d.def)})`;
    else if (d.type === 'int' && d.def !== 0) def = ` (default ${d.def})`;
    else if (d.type === 'bool' && d.def === true) def = ' (default true)';
    else if (d.type === 'duration' && d.def !== 0) def = ` (default ${formatGoDuration(d.def as number)})`;
    return [left, `${d.usage}${def}`];
  });
  const width = Math.max(0, ...rows.map((r) => r[0].length));
  return rows.map(([l, r]) => `  ${l.padEnd(width)}   ${r}`).join('\n');
}
