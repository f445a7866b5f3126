import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { TSchema } from '@sinclair/typebox';

/**
 * A service README's configuration table, generated from its config schema, so the two cannot
 * drift (the schema's `description`s are the one source). The README says where its table goes
 * and which schema it shows:
 *
 *   <!-- config-table:start src/config.ts#StorageHookConfigSchema -->
 *   …generated…
 *   <!-- config-table:end -->
 *
 * `npm run docs:config` rewrites every table; each service's test fails while one is stale.
 */

const START = /<!-- config-table:start (\S+)#(\w+) -->\n/;
const END = '<!-- config-table:end -->';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  patternProperties?: Record<string, JsonSchema>;
  /** What the table shows as the default where the schema's is computed (e.g. from the host name). */
  'x-default-text'?: string;
}

export interface ConfigTableRow {
  key: string;
  type: string;
  default: string;
  description: string;
}

/**
 * One row per setting: nested objects become `mqtt.url`, the fields of a list of objects
 * `webhooks[].url`. Throws naming every setting that has no description.
 */
export function configTableRows(schema: TSchema): ConfigTableRow[] {
  const rows: ConfigTableRow[] = [];
  const undescribed: string[] = [];
  /** `optionalParent`: the section this key is in may be left out as a whole (backup's `mqtt`). */
  const walk = (object: JsonSchema, prefix: string, optionalParent?: string) => {
    for (const [name, property] of Object.entries(object.properties ?? {})) {
      const key = `${prefix}${name}`;
      const required = object.required?.includes(name) ?? false;
      if (isRecord(property)) {
        const optional = !required && property.default === undefined;
        walk(property, `${key}.`, optional ? key : optionalParent);
        continue;
      }
      if (property.description === undefined) undescribed.push(key);
      rows.push({
        key,
        type: typeText(property),
        default: defaultText(property, required, optionalParent),
        description: property.description ?? '',
      });
      if (property.items && isRecord(property.items)) walk(property.items, `${key}[].`);
    }
  };
  walk(schema as JsonSchema, '');
  if (undescribed.length > 0)
    throw new Error(`config settings without a description: ${undescribed.join(', ')}`);
  return rows;
}

/** The rows as a markdown table. */
export function configTable(schema: TSchema): string {
  const cells = (row: string[]) => `| ${row.join(' | ')} |`;
  return [
    cells(['key', 'type', 'default', 'description']),
    cells(['---', '---', '---', '---']),
    ...configTableRows(schema).map((row) =>
      cells([`\`${row.key}\``, row.type, row.default, escapeText(row.description)]),
    ),
  ].join('\n');
}

/** The README's text with its table as the schema makes it; unchanged when it has no markers. */
export async function renderConfigTables(readmePath: string): Promise<string> {
  const text = await readFile(readmePath, 'utf8');
  const start = START.exec(text);
  if (!start) return text;
  const end = text.indexOf(END, start.index);
  if (end < 0) throw new Error(`${readmePath}: ${start[0].trim()} has no ${END}`);
  const [, module, exportName] = start as unknown as [string, string, string];
  const source = resolve(dirname(readmePath), module);
  const exports = (await import(pathToFileURL(source).href)) as Record<string, unknown>;
  const schema = exports[exportName] as TSchema | undefined;
  if (schema === undefined) throw new Error(`${readmePath}: ${source} exports no ${exportName}`);
  const table = configTable(schema);
  return `${text.slice(0, start.index + start[0].length)}${table}\n${text.slice(end)}`;
}

function isRecord(schema: JsonSchema): boolean {
  return (
    schema.type === 'object' && schema.properties !== undefined && schema.patternProperties === undefined
  );
}

function typeText(schema: JsonSchema): string {
  if (schema.const !== undefined) return `\`${String(schema.const)}\``;
  if (schema.enum) return schema.enum.map((value) => `\`${String(value)}\``).join(' \\| ');
  if (schema.anyOf) return [...new Set(schema.anyOf.map(typeText))].join(' \\| ');
  if (schema.type === 'array') {
    const item = schema.items ? typeText(schema.items) : 'any';
    return item.includes(' ') ? `(${item})[]` : `${item}[]`;
  }
  if (schema.type === 'object') return 'object';
  if (Array.isArray(schema.type)) return schema.type.join(' \\| ');
  return schema.type ?? 'any';
}

function defaultText(schema: JsonSchema, required: boolean, optionalParent?: string): string {
  const value = schema['x-default-text'] ?? schema.default;
  if (value === undefined) {
    if (!required) return '—';
    return optionalParent === undefined ? 'required' : `required with \`${optionalParent}\``;
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text === '' ? '`""`' : `\`${escapeCell(text)}\``;
}

/** One table cell: no line breaks, pipes escaped. */
function escapeCell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
}

/** Prose in a cell: `<group>` outside code spans would be taken for an HTML tag. */
function escapeText(text: string): string {
  return escapeCell(text)
    .split('`')
    .map((part, index) => (index % 2 === 0 ? part.replace(/</g, '\\<') : part))
    .join('`');
}

/** For each service's test: throws while the README's table is not the one its schema makes. */
export async function checkConfigTables(readme: URL | string): Promise<void> {
  const path = readme instanceof URL ? fileURLToPath(readme) : readme;
  if ((await renderConfigTables(path)) !== (await readFile(path, 'utf8')))
    throw new Error(`${path}: the configuration table is out of date; run npm run docs:config`);
}
