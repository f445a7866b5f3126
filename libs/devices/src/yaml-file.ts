import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import type { RegistryProblem } from './errors.js';

/**
 * Reading and parsing of the configuration files this library checks (device registry, Modbus
 * profiles): YAML, or JSON, which YAML reads too. A file that cannot be read or parsed becomes
 * the caller's error (`fail`) with one problem per syntax error and its line.
 */

export interface ParsedYaml {
  /** The document as plain data; `{}` for an empty file. */
  value: unknown;
  /** Line of the key (or item) at a JSON pointer, or of its closest existing ancestor; undefined at the root. */
  lineOf(pointer: string): number | undefined;
  /** Line where the document's content starts, when it has any. */
  rootLine: number | undefined;
}

export type FailWith = (problems: RegistryProblem[]) => Error;

export async function readYamlFile(file: string, fail: FailWith): Promise<ParsedYaml> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw fail([readProblem(error)]);
  }
  return parseYaml(text, fail);
}

export function readYamlFileSync(file: string, fail: FailWith): ParsedYaml {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw fail([readProblem(error)]);
  }
  return parseYaml(text, fail);
}

export function parseYaml(text: string, fail: FailWith): ParsedYaml {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  if (document.errors.length > 0) {
    throw fail(
      document.errors.map((error) => ({
        path: '/',
        line: error.linePos?.[0]?.line,
        message: `not valid YAML/JSON: ${error.message.split('\n')[0]}`,
      })),
    );
  }
  const range = (document.contents as { range?: [number, number, number] } | null)?.range;
  return {
    value: document.toJS() ?? {},
    lineOf: (pointer) => lineOf(document, lineCounter, pointer),
    rootLine: range ? lineCounter.linePos(range[0]).line : undefined,
  };
}

/** The value at a JSON pointer, or undefined where the path does not exist; works on unchecked input. */
export function valueAt(root: unknown, pointer: string): unknown {
  let node = root;
  for (const key of pointer.split('/').slice(1)) {
    if (key.length === 0) continue;
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function readProblem(error: unknown): RegistryProblem {
  return { path: '/', message: `cannot read the file: ${(error as Error).message}` };
}

function lineOf(document: Document, lineCounter: LineCounter, pointer: string): number | undefined {
  const keys: (string | number)[] = pointer
    .split('/')
    .slice(1)
    .filter((key) => key.length > 0)
    .map((key) => (/^\d+$/.test(key) ? Number(key) : key));
  for (let length = keys.length; length > 0; length--) {
    const parent = length === 1 ? document.contents : document.getIn(keys.slice(0, length - 1), true);
    const last = keys[length - 1];
    let range: [number, number, number] | undefined;
    if (isMap(parent)) {
      // The key's own line: a value may sit on a later line, or be missing.
      const pair = parent.items.find((item) => isScalar(item.key) && item.key.value === last);
      range = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
    } else if (isSeq(parent) && typeof last === 'number') {
      range = (parent.items[last] as { range?: [number, number, number] } | undefined)?.range;
    }
    if (range) return lineCounter.linePos(range[0]).line;
  }
  return undefined;
}
