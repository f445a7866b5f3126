/**
 * Writes libs/contracts/schemas/<Name>.json from MESSAGE_SCHEMAS: one JSON Schema file per named
 * schema, a named schema nested in another becoming a `$ref` to its own file. asyncapi.yaml points
 * at these files, so the contract there is the contracts' schemas, never a hand-written copy.
 *
 *   node --import tsx libs/contracts/scripts/export-schemas.ts     (npm run schemas:export -w @wattbus/contracts)
 *
 * A test fails when the committed files differ from what this writes.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import prettier from 'prettier';
import { MESSAGE_SCHEMAS } from '../src/index.js';

export const SCHEMAS_DIRECTORY = fileURLToPath(new URL('../schemas/', import.meta.url));

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Keywords whose values are data (examples), not subschemas: a `$id` inside them stays as it is. */
const DATA_KEYWORDS = new Set(['examples', 'example', 'default', 'const', 'enum']);

/** File name → file text for every named schema reachable from MESSAGE_SCHEMAS. */
export async function exportedSchemas(
  roots: Record<string, TSchema> = MESSAGE_SCHEMAS,
): Promise<Map<string, string>> {
  const pending = new Map<string, Json>();
  for (const [name, schema] of Object.entries(roots)) pending.set(name, plain(schema));
  const files = new Map<string, string>();
  while (pending.size > 0) {
    const [name, schema] = pending.entries().next().value as [string, Json];
    pending.delete(name);
    if (files.has(`${name}.json`)) continue;
    const body = replaceNested(schema as { [key: string]: Json }, true, (id, nested) => {
      if (!files.has(`${id}.json`) && !pending.has(id)) pending.set(id, nested);
    });
    const document = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      title: name,
      ...(body as { [key: string]: Json }),
    };
    files.set(`${name}.json`, JSON.stringify(document));
  }
  // Formatted as the repository's Prettier formats JSON, so `prettier --check .` agrees.
  const options = (await prettier.resolveConfig(join(SCHEMAS_DIRECTORY, 'x.json'))) ?? {};
  for (const [name, text] of files)
    files.set(name, await prettier.format(text, { ...options, parser: 'json' }));
  return new Map([...files.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** TypeBox schemas carry symbols; JSON keeps only what a JSON Schema reader sees. */
function plain(schema: TSchema): Json {
  return JSON.parse(JSON.stringify(schema)) as Json;
}

function replaceNested(
  node: { [key: string]: Json },
  root: boolean,
  found: (id: string, schema: Json) => void,
): Json {
  if (!root && typeof node.$id === 'string') {
    found(node.$id, node);
    return { $ref: `./${node.$id}.json` };
  }
  const copy: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$id') continue;
    copy[key] = DATA_KEYWORDS.has(key) ? value : walk(value, found);
  }
  return copy;
}

function walk(value: Json, found: (id: string, schema: Json) => void): Json {
  if (Array.isArray(value)) return value.map((item) => walk(item, found));
  if (value !== null && typeof value === 'object') return replaceNested(value, false, found);
  return value;
}

async function main(): Promise<void> {
  const files = await exportedSchemas();
  mkdirSync(SCHEMAS_DIRECTORY, { recursive: true });
  for (const stale of readdirSync(SCHEMAS_DIRECTORY)) {
    if (stale.endsWith('.json') && !files.has(stale)) rmSync(join(SCHEMAS_DIRECTORY, stale));
  }
  for (const [name, text] of files) writeFileSync(join(SCHEMAS_DIRECTORY, name), text);
  process.stdout.write(`wrote ${files.size} schemas to ${SCHEMAS_DIRECTORY}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
