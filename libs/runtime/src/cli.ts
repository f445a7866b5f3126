import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface CliOption {
  type: 'string' | 'boolean';
  short?: string;
  description: string;
  default?: string | boolean;
}

export interface CliSpec {
  name: string;
  summary: string;
  options: Record<string, CliOption>;
  /** Extra lines for --help: environment variables, examples. */
  epilog?: string;
}

export interface CliResult {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Parses argv with node's parseArgs; prints --help and exits; exits 2 with a clear line on bad flags. */
export function parseCli(spec: CliSpec, argv: string[] = process.argv.slice(2)): CliResult {
  const options: ParseArgsConfig['options'] = { help: { type: 'boolean', short: 'h' } };
  for (const [name, option] of Object.entries(spec.options)) {
    options[name] = { type: option.type, ...(option.short ? { short: option.short } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    process.stderr.write(`${spec.name}: ${(error as Error).message}\nTry '${spec.name} --help'.\n`);
    process.exit(2);
  }
  if (parsed.values.help) {
    process.stdout.write(helpText(spec));
    process.exit(0);
  }
  const values: CliResult['values'] = {};
  for (const [name, option] of Object.entries(spec.options)) {
    values[name] = (parsed.values[name] as string | boolean | undefined) ?? option.default;
  }
  return { values, positionals: parsed.positionals };
}

export function helpText(spec: CliSpec): string {
  const lines = [`Usage: ${spec.name} [options]`, '', spec.summary, '', 'Options:'];
  for (const [name, option] of Object.entries(spec.options)) {
    const flag = `${option.short ? `-${option.short}, ` : '    '}--${name}${option.type === 'string' ? ' <value>' : ''}`;
    const fallback = option.default !== undefined ? ` (default: ${String(option.default)})` : '';
    lines.push(`  ${flag.padEnd(28)} ${option.description}${fallback}`);
  }
  lines.push(`  ${'-h, --help'.padEnd(28)} show this help`);
  if (spec.epilog) lines.push('', spec.epilog);
  return `${lines.join('\n')}\n`;
}
