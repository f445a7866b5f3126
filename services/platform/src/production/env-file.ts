/**
 * A docker-compose `.env` file: `KEY=value` lines, comments kept. Values that hold quotes or
 * spaces (the API keys' JSON) are single-quoted, which docker-compose reads literally.
 */
export interface EnvLine {
  key?: string;
  value?: string;
  /** The line as it stands, for comments and blank lines. */
  text: string;
}

export function parseEnvFile(text: string): EnvLine[] {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((text) => {
      const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(text);
      if (!match) return { text };
      const raw = match[2]!;
      const quoted = /^'(.*)'$/.exec(raw) ?? /^"(.*)"$/.exec(raw);
      return { key: match[1]!, value: quoted ? quoted[1]! : raw, text };
    });
}

export function envValues(lines: readonly EnvLine[]): Map<string, string> {
  return new Map(lines.filter((line) => line.key !== undefined).map((line) => [line.key!, line.value!]));
}

export function formatEnvFile(lines: readonly EnvLine[]): string {
  const format = (line: EnvLine) =>
    line.key === undefined
      ? line.text
      : `${line.key}=${/^[A-Za-z0-9_.,:/+=@-]*$/.test(line.value!) ? line.value : `'${line.value}'`}`;
  return `${lines.map(format).join('\n')}\n`;
}
