import { Ajv, type ErrorObject, type FormatDefinition, type Options, type ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import type { Static, TSchema } from '@sinclair/typebox';
import { WattbusError } from './errors.js';
import { STORABLE_RANGE_MESSAGE, isStorableRangeError } from './time-range.js';
import { quickDateTime } from './timestamp-format.js';

/**
 * One ajv instance for the process (and one that skips formats, for shapeValidator): schemas
 * compile once, on their first check, and are cached by identity.
 */
// ajv-formats is CommonJS; under ESM interop its function may sit on `.default`.
const addFormats = ((addFormatsPlugin as unknown as { default?: typeof addFormatsPlugin }).default ??
  addFormatsPlugin) as typeof addFormatsPlugin;

const AJV_OPTIONS = { allErrors: true, strict: false, useDefaults: true, coerceTypes: false } as const;
/** Made on first use: a service that checks nothing does not build one. */
function lazyAjv(options: Options): () => Ajv {
  let instance: Ajv | undefined;
  return () => {
    if (!instance) {
      instance = new Ajv(options);
      addFormats(instance);
      instance.addFormat('date-time', quickDateTime(addFormats.get('date-time') as FormatDefinition<string>));
    }
    return instance;
  };
}
const fullAjv = lazyAjv(AJV_OPTIONS);
/** For shapeValidator: formats are known (no "unknown format" error) but not checked. */
const shapesOnlyAjv = lazyAjv({ ...AJV_OPTIONS, validateFormats: false });

const compiled = new WeakMap<TSchema, ValidateFunction>();
const compiledShapes = new WeakMap<TSchema, ValidateFunction>();

export interface Validator<T> {
  (value: unknown): value is T;
  readonly schema: TSchema;
  /** Errors of the last failed call, as `path: message` lines. */
  errorText(): string;
  errors(): ErrorObject[];
}

export function validator<S extends TSchema>(schema: S): Validator<Static<S>> {
  return wrap(schema, compiled, fullAjv);
}

/**
 * validator() with `quick` in front, which answers `true` only where ajv would (and `false` when
 * unsure): the same verdicts, the common well-formed message accepted without ajv, which still
 * decides and explains everything else. For a message checked on a hot path: the storage hook's
 * readings (isWellFormedReading).
 */
export function quickValidator<S extends TSchema>(
  schema: S,
  quick: (value: unknown) => boolean,
): Validator<Static<S>> {
  const full = validator(schema);
  const check = ((value: unknown) => quick(value) || full(value)) as Validator<Static<S>>;
  Object.defineProperty(check, 'schema', { value: schema });
  check.errors = full.errors;
  check.errorText = full.errorText;
  return check;
}

/**
 * Checks types, required keys, enums and bounds but not string formats (`date-time`, …): for a hot
 * path that checks what a WattBus component produced, whose tests check it against the whole
 * schema. A day of readings has 1,440 timestamps; their format checks cost 20× the rest.
 */
export function shapeValidator<S extends TSchema>(schema: S): Validator<Static<S>> {
  return wrap(schema, compiledShapes, shapesOnlyAjv);
}

/**
 * Compiles on the first check, not when the validator is made: services make theirs at import
 * for every message and method they might see, and ajv's code for all of them was a few MB of an
 * idle service's heap (bench/rss). The schemas themselves are compiled in their tests.
 */
function wrap<S extends TSchema>(
  schema: S,
  cache: WeakMap<TSchema, ValidateFunction>,
  ajvOf: () => Ajv,
): Validator<Static<S>> {
  let fn: ValidateFunction | undefined;
  const compiled = (): ValidateFunction => {
    if (fn) return fn;
    fn = cache.get(schema);
    if (!fn) {
      fn = ajvOf().compile(withoutIds(schema));
      cache.set(schema, fn);
    }
    return fn;
  };
  const check = ((value: unknown) => (fn ?? compiled())(value)) as Validator<Static<S>>;
  Object.defineProperty(check, 'schema', { value: schema });
  check.errors = () => simplifyErrors(fn?.errors ?? []);
  check.errorText = () => formatErrors(fn?.errors ?? []);
  return check;
}

/** Named schemas are embedded in others; ajv refuses a second schema with the same $id, so drop them. */
function withoutIds(schema: TSchema): object {
  return JSON.parse(JSON.stringify(schema), (key, value) => (key === '$id' ? undefined : value)) as object;
}

/**
 * ajv's errors as a reader needs them: a union of literals (TypeBox's `Type.Union` of
 * `Type.Literal`, an `anyOf` of `const`s) fails with one `must be equal to constant` per literal and
 * then `must match a schema in anyOf`; those become one error that lists the allowed values, as an
 * `enum` does (whose message gets the values too). The REST gateway and every bus answer use it,
 * so a parameter is explained the same way over HTTP and MQTT.
 */
export function simplifyErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const merged = new Map<ErrorObject, ErrorObject>();
  const absorbed = new Set<ErrorObject>();
  for (const error of errors) {
    if (error.keyword !== 'anyOf' && error.keyword !== 'oneOf') continue;
    const prefix = `${error.schemaPath}/`;
    const branches = errors.filter((other) => other !== error && other.schemaPath.startsWith(prefix));
    const literals = branches.every(
      (branch) => branch.keyword === 'const' && branch.instancePath === error.instancePath,
    );
    if (branches.length === 0 || !literals) continue;
    const allowedValues = branches.map((branch) => (branch.params as { allowedValue: unknown }).allowedValue);
    for (const branch of branches) absorbed.add(branch);
    merged.set(error, {
      ...error,
      keyword: 'enum',
      params: { allowedValues },
      message: allowedText(allowedValues),
    });
  }
  return errors
    .filter((error) => !absorbed.has(error))
    .map((error) => {
      if (error.keyword === 'enum' && !merged.has(error)) {
        return {
          ...error,
          message: allowedText((error.params as { allowedValues: unknown[] }).allowedValues),
        };
      }
      return merged.get(error) ?? error;
    });
}

function allowedText(values: readonly unknown[]): string {
  const shown = values.map((value) => (typeof value === 'string' ? value : JSON.stringify(value)));
  return `must be equal to one of the allowed values: ${shown.join(', ')}`;
}

export function formatErrors(errors: readonly ErrorObject[]): string {
  return simplifyErrors(errors)
    .map((error) => {
      const path = error.instancePath || '/';
      if (error.keyword === 'additionalProperties') {
        return `${path}: unknown key '${(error.params as { additionalProperty: string }).additionalProperty}'`;
      }
      if (isStorableRangeError(error)) return `${path}: ${STORABLE_RANGE_MESSAGE}`;
      return `${path}: ${error.message ?? 'is invalid'}`;
    })
    .join('; ');
}

/**
 * The INVALID_PARAMS error for params `check` just refused: each failing parameter named with what
 * it may be, and `details.errors` as `{ path, message }` for programs. Every component answers so.
 */
export function invalidParams(check: Validator<unknown>): WattbusError {
  return new WattbusError('INVALID_PARAMS', `invalid params: ${check.errorText()}`, {
    errors: check.errors().map((error) => ({ path: error.instancePath || '/', message: error.message })),
  });
}
