import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface CliOption {
  type: 'string' | 'boolean';
  short?: string;
  description: string;
  default?: string | boolean;
}

export interface CliCommand {
  /** What follows the command's name in --help, e.g. `<dir>`. */
  args?: string;
  summary: string;
}

export interface CliSpec {
  name: string;
  summary: string;
  options: Record<string, CliOption>;
  commands?: Record<string, CliCommand>;
  /** Whether a command must be given (otherwise the program runs its service without one). */
  commandRequired?: boolean;
  /** Environment variables the program reads, listed under "Environment:". */
  environment?: string[];
  /** Extra lines for --help: examples, where to read more. */
  epilog?: string;
}

export interface CliResult {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  help: boolean;
}

/** A mistake in how the program was called (an unknown flag, a missing argument): exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The same for every WattBus program, so scripts and orchestrators can tell the cases apart. */
export const EXIT_CODES = {
  /** Done, or stopped cleanly by SIGTERM/SIGINT. */
  ok: 0,
  /** Failed while running: the broker unreachable or refusing us, a stop that did not finish, a damaged backup. */
  failed: 1,
  /** Usage or configuration error: nothing was started; fix the command line, the file or the environment. */
  usage: 2,
  /** A second SIGTERM/SIGINT during the stop: exited at once. */
  interrupted: 130,
} as const;

const EXIT_CODES_HELP =
  'Exit codes: 0 done or stopped cleanly, 1 failed (broker unreachable or refusing the credentials,\n' +
  '  a runtime error), 2 usage or configuration error (nothing started), 130 a second signal.';

/** Parses argv with node's parseArgs; throws UsageError on an unknown or malformed flag. */
export function parseCli(spec: CliSpec, argv: string[] = process.argv.slice(2)): CliResult {
  const options: ParseArgsConfig['options'] = { help: { type: 'boolean', short: 'h' } };
  for (const [name, option] of Object.entries(spec.options)) {
    options[name] = { type: option.type, ...(option.short ? { short: option.short } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values: CliResult['values'] = {};
  for (const [name, option] of Object.entries(spec.options)) {
    values[name] = (parsed.values[name] as string | boolean | undefined) ?? option.default;
  }
  return { values, positionals: parsed.positionals, help: parsed.values.help === true };
}

export function usageLine(spec: CliSpec): string {
  const command = spec.commands ? (spec.commandRequired ? ' <command>' : ' [command]') : '';
  return `Usage: ${spec.name}${command} [options]`;
}

/** One shape for every program: usage, summary, commands, options, environment, epilog, exit codes. */
export function helpText(spec: CliSpec): string {
  const lines = [usageLine(spec), '', spec.summary];
  if (spec.commands) {
    lines.push('', 'Commands:');
    for (const [name, command] of Object.entries(spec.commands)) {
      lines.push(`  ${`${name}${command.args ? ` ${command.args}` : ''}`.padEnd(28)} ${command.summary}`);
    }
  }
  lines.push('', 'Options:');
  for (const [name, option] of Object.entries(spec.options)) {
    const flag = `${option.short ? `-${option.short}, ` : '    '}--${name}${option.type === 'string' ? ' <value>' : ''}`;
    const fallback = option.default !== undefined ? ` (default: ${String(option.default)})` : '';
    lines.push(`  ${flag.padEnd(28)} ${option.description}${fallback}`);
  }
  lines.push(`  ${'-h, --help'.padEnd(28)} show this help`);
  if (spec.environment?.length) {
    lines.push(
      '',
      'Environment (overrides the config file; nested keys joined by __; LOG_LEVEL: pino level, default info):',
    );
    lines.push(...wrap(spec.environment, 100).map((line) => `  ${line}`));
  }
  if (spec.epilog) lines.push('', spec.epilog);
  lines.push('', EXIT_CODES_HELP);
  return `${lines.join('\n')}\n`;
}

function wrap(words: string[], width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line && line.length + word.length + 2 > width) {
      lines.push(`${line},`);
      line = '';
    }
    line = line ? `${line}, ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}
