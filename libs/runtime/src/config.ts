import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { closest } from 'fastest-levenshtein';
import { parse as parseYaml } from 'yaml';
import type { Static, TObject, TSchema } from '@sinclair/typebox';
import { validator } from '@wattbus/contracts';

/** A configuration problem, with the file and key named, so start-up fails with a useful line. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions<S extends TObject> {
  schema: S;
  /** YAML or JSON file; optional, every key can come from defaults and the environment. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * `WATTBUS_GATEWAY_` maps `WATTBUS_GATEWAY_HTTP_PORT` to `http_port` and `..._INFLUX__URL` to
   * `influx.url`. A variable with the prefix that names no key is an error naming the closest one.
   */
  envPrefix?: string;
  /**
   * Validates the merged file and environment values instead of the schema's validator, for a
   * service with its own messages (the broker); it throws a ConfigError naming `source`.
   */
  parse?: (value: Record<string, unknown>, source: string | undefined) => Static<S>;
}

/** Fills defaults and validates an in-memory config (e.g. one process wiring several services). */
export function parseConfig<S extends TObject>(
  schema: S,
  value: Record<string, unknown>,
  source: string,
): Static<S> {
  const copy = structuredClone(value);
  const check = validator(schema);
  if (!check(copy)) {
    throw new ConfigError(
      `invalid configuration of ${source}:\n  ${check.errorText().split('; ').join('\n  ')}`,
    );
  }
  return copy as Static<S>;
}

/** Reads a config file, overlays environment variables, fills defaults and validates against the schema. */
export function loadConfig<S extends TObject>(options: LoadConfigOptions<S>): Static<S> {
  const fileValues = options.file ? readConfigFile(options.file) : {};
  const envSources = new Map<string, string>();
  const envProblems: string[] = [];
  const merged = options.envPrefix
    ? overlayEnv(
        fileValues,
        options.schema,
        options.env ?? process.env,
        options.envPrefix,
        envSources,
        envProblems,
      )
    : fileValues;
  const where = options.file ? ` in ${resolve(options.file)}` : '';
  if (options.parse && envProblems.length === 0) {
    return options.parse(merged, options.file === undefined ? undefined : resolve(options.file));
  }
  const check = validator(options.schema);
  const valid = options.parse ? true : check(merged);
  if (!valid || envProblems.length > 0) {
    const problems = [...envProblems];
    if (!valid) problems.push(...describeErrors(check.errors(), envSources, options.schema));
    throw new ConfigError(`invalid configuration${where}:\n  ${problems.join('\n  ')}`);
  }
  return merged as Static<S>;
}

function describeErrors(
  errors: ReturnType<ReturnType<typeof validator>['errors']>,
  envSources: Map<string, string>,
  schema: TSchema,
): string[] {
  return errors.map((error) => {
    const path = error.instancePath || '/';
    const source = envSources.get(path);
    const from = source ? ` (from ${source})` : '';
    if (error.keyword === 'additionalProperties') {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      const siblings = Object.keys(propertiesOf(schemaAtPointer(schema, path)) ?? {});
      const hint = siblings.length > 0 ? ` (did you mean ${closest(key, siblings)}?)` : '';
      return `${path === '/' ? '' : path}/${key}${from}: unknown key${hint}`;
    }
    if (error.keyword === 'required') {
      const key = (error.params as { missingProperty: string }).missingProperty;
      return `${path === '/' ? '' : path}/${key}: is required`;
    }
    return `${path}${from}: ${error.message ?? 'is invalid'}`;
  });
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${resolve(file)}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(`cannot parse config file ${resolve(file)}: ${(error as Error).message}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`config file ${resolve(file)} must hold an object (key: value pairs)`);
  }
  return value as Record<string, unknown>;
}

function overlayEnv(
  base: Record<string, unknown>,
  schema: TSchema,
  env: NodeJS.ProcessEnv,
  prefix: string,
  sources: Map<string, string>,
  problems: string[],
): Record<string, unknown> {
  const result = structuredClone(base);
  let known: string[] | undefined;
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(prefix) || raw === undefined) continue;
    const path = name.slice(prefix.length).toLowerCase().split('__');
    const property = schemaAt(schema, path);
    if (!property) {
      // A typo here would otherwise leave the service silently on its default.
      known ??= envNames(schema, prefix);
      const hint = known.length > 0 ? ` (did you mean ${closest(name, known)}?)` : '';
      problems.push(`${name}: names no configuration key${hint}`);
      continue;
    }
    try {
      setPath(result, path, coerce(raw, property));
    } catch (error) {
      problems.push(`/${path.join('/')} (from ${name}): ${(error as Error).message}`);
      continue;
    }
    sources.set(`/${path.join('/')}`, name);
  }
  return result;
}

/**
 * Every environment variable the schema takes: each key, and each key of a nested object (whole
 * objects too, as JSON, unless `leaves`).
 */
export function envNames(schema: TSchema, prefix: string, options: { leaves?: boolean } = {}): string[] {
  return Object.entries(propertiesOf(schema) ?? {}).flatMap(([key, property]) => {
    const name = `${prefix}${key.toUpperCase()}`;
    if (!propertiesOf(property)) return [name];
    return [...(options.leaves ? [] : [name]), ...envNames(property, `${name}__`, options)];
  });
}

function propertiesOf(schema: TSchema | undefined): Record<string, TSchema> | undefined {
  return (schema as { properties?: Record<string, TSchema> } | undefined)?.properties;
}

function schemaAt(schema: TSchema, path: string[]): TSchema | undefined {
  let current: TSchema | undefined = schema;
  for (const key of path) {
    current = propertiesOf(current)?.[key];
    if (!current) return undefined;
  }
  return current;
}

/** The schema of the object at an ajv instance path such as `/influx` (array items by index). */
function schemaAtPointer(schema: TSchema, pointer: string): TSchema | undefined {
  let current: TSchema | undefined = schema;
  for (const key of pointer.split('/').filter(Boolean)) {
    const node = current as { properties?: Record<string, TSchema>; items?: TSchema } | undefined;
    current = /^\d+$/.test(key) && node?.items ? node.items : node?.properties?.[key];
  }
  return current;
}

/** Environment values are text; turn them into what the schema expects so ajv can judge them. */
function coerce(raw: string, schema: TSchema): unknown {
  const types = (schema as { type?: string | string[] }).type;
  // `['integer', 'null']`: the text null is null, anything else is judged as the other type.
  if (Array.isArray(types) && types.includes('null') && raw === 'null') return null;
  const type = Array.isArray(types) ? types.find((candidate) => candidate !== 'null') : types;
  if (type === 'integer' || type === 'number') {
    // Text that is not a number stays text, so ajv says "must be integer" once, not NaN's three lines.
    const value = Number(raw);
    return raw.trim() === '' || Number.isNaN(value) ? raw : value;
  }
  if (type === 'boolean')
    return raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw;
  if (type === 'array' || type === 'object') {
    try {
      return JSON.parse(raw);
    } catch (error) {
      // `a,b` is a list; text that starts like JSON was meant as JSON, so say what is wrong with it.
      if (/^\s*[[{]/.test(raw)) throw new Error(`is not valid JSON: ${(error as Error).message}`);
      return type === 'array' ? raw.split(',').map((item) => item.trim()) : raw;
    }
  }
  return raw;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}
