import { readdirSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import jsonata from 'jsonata';
import { validator } from '@wattbus/contracts';
import {
  ProfileError,
  problemsOf,
  readYamlFileSync,
  type ReadingField,
  type RegistryProblem,
} from '@wattbus/devices';
import { MqttProfileFileSchema, type MqttProfileFile, type PayloadFormat } from './profile-schema.js';
import { isKnownUnit, unitsOf } from './values.js';

/** The profiles shipped with the bridge, one YAML file each. */
export const BUILTIN_PROFILES_DIR = fileURLToPath(new URL('../profiles/', import.meta.url));

const PROFILE_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const PROFILE_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
const PLACEHOLDER = /\{([^{}]*)\}/g;

/** A compiled JSONata expression with its text, for messages that name it. */
export interface CompiledExpression {
  source: string;
  evaluate(input: unknown, bindings: Record<string, unknown>): Promise<unknown>;
}

export interface FieldRule {
  field: ReadingField;
  value: CompiledExpression;
  unit: string;
}

export interface MessageRule {
  /** Topic template, `{id}` and variables not yet filled in. */
  topic: string;
  payload: PayloadFormat;
  reading: FieldRule[];
  state?: { value: CompiledExpression; on?: string[]; off?: string[] };
  availability?: { value: CompiledExpression; online?: string[]; offline?: string[] };
}

export interface CommandRule {
  topic: string;
  payload: CompiledExpression;
}

export interface MqttProfile {
  /** Built-in name, or the file's absolute path. */
  name: string;
  file: string;
  model: string;
  description?: string;
  report_interval_ms: number;
  coalesce_ms: number;
  variables: Record<string, string>;
  messages: MessageRule[];
  set?: CommandRule;
  get?: CommandRule;
}

const checkFile = validator(MqttProfileFileSchema);
const cache = new Map<string, MqttProfile>();

/** Built-in profile names with their files. */
export function builtinMqttProfiles(): Map<string, string> {
  const index = new Map<string, string>();
  for (const entry of readdirSync(BUILTIN_PROFILES_DIR).sort()) {
    if (PROFILE_EXTENSIONS.has(extname(entry)))
      index.set(basename(entry, extname(entry)), join(BUILTIN_PROFILES_DIR, entry));
  }
  return index;
}

/**
 * A profile by built-in name (`tasmota`) or by path (anything with a `/` or a .yaml/.yml/.json
 * extension, relative to `baseDir`). Loaded and compiled once per process; a file that is
 * missing, malformed or whose expressions do not compile throws ProfileError naming each problem.
 */
export function loadMqttProfile(reference: string, baseDir = process.cwd()): MqttProfile {
  const byPath = reference.includes('/') || PROFILE_EXTENSIONS.has(extname(reference));
  if (!byPath && PROFILE_NAME.test(reference)) {
    const file = builtinMqttProfiles().get(reference);
    if (!file) {
      throw new ProfileError(
        reference,
        [
          {
            path: '/',
            message: `no built-in MQTT profile '${reference}'; built-in: ${[...builtinMqttProfiles().keys()].join(', ')} — or give the path of a profile file`,
          },
        ],
        'unknown MQTT device profile',
      );
    }
    return { ...loadProfileFile(file), name: reference };
  }
  return loadProfileFile(resolve(baseDir, reference));
}

function loadProfileFile(file: string): MqttProfile {
  const cached = cache.get(file);
  if (cached) return cached;
  const fail = (problems: RegistryProblem[]) =>
    new ProfileError(file, problems, `invalid MQTT device profile ${file}`);
  const parsed = readYamlFileSync(file, fail);
  const where = (pointer: string) => parsed.lineOf(pointer);
  const value = parsed.value;
  if (!checkFile(value)) throw fail(problemsOf(checkFile.errors(), '', where, value));
  const problems: RegistryProblem[] = [];
  const profile = compile(file, value, (path, message) =>
    problems.push({ path, line: where(path), message }),
  );
  if (problems.length > 0) throw fail(problems);
  cache.set(file, profile);
  return profile;
}

type Report = (path: string, message: string) => void;

/** What the schema cannot say: expressions that compile, units that fit, known placeholders. */
function compile(file: string, value: MqttProfileFile, report: Report): MqttProfile {
  const variables = value.variables ?? {};
  const known = new Set(['id', ...Object.keys(variables)]);
  const expression = (source: string, path: string): CompiledExpression => {
    try {
      const compiled = jsonata(source);
      return { source, evaluate: (input, bindings) => compiled.evaluate(input, bindings) };
    } catch (error) {
      report(path, `JSONata expression does not compile: ${(error as Error).message}`);
      return { source, evaluate: async () => undefined };
    }
  };
  const topic = (template: string, path: string): string => {
    const names = [...template.matchAll(PLACEHOLDER)].map((match) => match[1] ?? '');
    if (!names.includes('id')) report(path, `topic '${template}' has no {id} placeholder`);
    for (const name of names.filter((candidate) => !known.has(candidate))) {
      report(path, `unknown placeholder {${name}}; known: ${[...known].map((k) => `{${k}}`).join(', ')}`);
    }
    return template;
  };
  const messages = value.messages.map((message, index): MessageRule => {
    const path = `/messages/${index}`;
    if (!message.reading && message.state === undefined && message.availability === undefined) {
      report(path, 'maps nothing: give it reading, state or availability');
    }
    const reading = Object.entries(message.reading ?? {}).map(([name, mapping]): FieldRule => {
      const field = name as ReadingField;
      const rule = typeof mapping === 'string' ? { value: mapping } : mapping!;
      const unit = rule.unit ?? unitsOf(field)[0]!;
      if (!isKnownUnit(field, unit)) {
        report(
          `${path}/reading/${field}/unit`,
          `unit '${unit}' does not fit ${field}; expected ${unitsOf(field)
            .map((u) => `'${u}'`)
            .join(' or ')}`,
        );
      }
      return { field, value: expression(rule.value, `${path}/reading/${field}`), unit };
    });
    const state = withValue(message.state);
    const availability = withValue(message.availability);
    return {
      topic: topic(message.topic, `${path}/topic`),
      payload: message.payload ?? 'auto',
      reading,
      ...(state ? { state: { ...state, value: expression(state.value, `${path}/state`) } } : {}),
      ...(availability
        ? { availability: { ...availability, value: expression(availability.value, `${path}/availability`) } }
        : {}),
    };
  });
  const command = (key: 'set' | 'get'): CommandRule | undefined => {
    const rule = value[key];
    if (!rule) return undefined;
    return {
      topic: topic(rule.topic, `/${key}/topic`),
      payload: expression(rule.payload, `/${key}/payload`),
    };
  };
  if (value.set && !messages.some((message) => message.state)) {
    report('/set', 'a profile that switches must map a state message, which confirms the command');
  }
  return {
    name: file,
    file,
    model: value.model,
    ...(value.description ? { description: value.description } : {}),
    report_interval_ms: value.report_interval_ms,
    coalesce_ms: value.coalesce_ms ?? 0,
    variables,
    messages,
    ...(value.set ? { set: command('set') } : {}),
    ...(value.get ? { get: command('get') } : {}),
  };
}

/** `expr` and `{ value: expr, … }` are the same mapping. */
function withValue<T extends { value: string }>(
  mapping: string | T | undefined,
): T | { value: string } | undefined {
  return typeof mapping === 'string' ? { value: mapping } : mapping;
}

/** Fills `{id}` and `{variable}` into a topic template. */
export function fillTopic(template: string, values: Record<string, string>): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => values[name] ?? whole);
}
