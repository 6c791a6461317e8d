// Flag parsing for podnet commands, with one-line errors that name the problem and the fix.

import { parseArgs, type ParseArgsConfig } from 'node:util';

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) { super(message); }
}

export interface FlagSpec {
  type: 'string' | 'boolean';
  default?: string | boolean;
  help: string;
  short?: string;
}

export function parseFlags<T extends Record<string, FlagSpec>>(command: string, argv: string[], spec: T,
  opts: { positionals?: boolean } = {}): { values: { [K in keyof T]: T[K]['type'] extends 'boolean' ? boolean : string | undefined }; positionals: string[] } | undefined {
  if (argv.includes('--help') || argv.includes('-h')) {
    const lines = [`Usage: podnet ${command} [flags]`, '', 'Flags:'];
    for (const [name, s] of Object.entries(spec)) {
      const d = s.default !== undefined && s.default !== false ? ` (default ${String(s.default)})` : '';
      lines.push(`  --${name}${s.type === 'string' ? ' VALUE' : ''}`.padEnd(28) + `${s.help}${d}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
    return undefined;
  }
  const options: ParseArgsConfig['options'] = {};
  for (const [name, s] of Object.entries(spec)) {
    options[name] = { type: s.type, ...(s.short ? { short: s.short } : {}), ...(s.default !== undefined ? { default: s.default } : {}) } as never;
  }
  try {
    const r = parseArgs({ args: argv, options, allowPositionals: opts.positionals ?? false, strict: true });
    return { values: r.values as never, positionals: r.positionals };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0].replace(/\. To specify a positional argument.*$/, '');
    throw new CliError(`${command}: ${msg} (run "podnet ${command} --help" for its flags)`);
  }
}

export function parsePort(command: string, flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`${command}: --${flag} ${v} is not a port number: give 1-65535 (or 0 for any free port)`);
  return n;
}
