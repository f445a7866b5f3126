import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import type { Static, TSchema } from '@sinclair/typebox';
import { STORABLE_RANGE_MESSAGE, isStorableRangeError } from './time-range.js';

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
  check.errors = () => fn?.errors ?? [];
  check.errorText = () => formatErrors(fn?.errors ?? []);
  return check;
}

/** Named schemas are embedded in others; ajv refuses a second schema with the same $id, so drop them. */
function withoutIds(schema: TSchema): object {
  return JSON.parse(JSON.stringify(schema), (key, value) => (key === '$id' ? undefined : value)) as object;
}

export function formatErrors(errors: readonly ErrorObject[]): string {
  return errors
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
