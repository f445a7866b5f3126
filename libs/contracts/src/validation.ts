import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import type { Static, TSchema } from '@sinclair/typebox';
import { STORABLE_RANGE_MESSAGE, isStorableRangeError } from './time-range.js';

/**
 * One ajv instance for the process: schemas compile once and are cached by identity,
 * so calling `validator(schema)` on a hot path costs a map lookup.
 */
// ajv-formats is CommonJS; under ESM interop its function may sit on `.default`.
const addFormats = ((addFormatsPlugin as unknown as { default?: typeof addFormatsPlugin }).default ??
  addFormatsPlugin) as typeof addFormatsPlugin;

const AJV_OPTIONS = { allErrors: true, strict: false, useDefaults: true, coerceTypes: false } as const;
const ajv = new Ajv(AJV_OPTIONS);
addFormats(ajv);

/** For shapeValidator: formats are known (no "unknown format" error) but not checked. */
let shapesAjv: Ajv | undefined;

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
  return wrap(schema, compiled, ajv);
}

/**
 * Checks types, required keys, enums and bounds but not string formats (`date-time`, …): for a hot
 * path that checks what a WattBus component produced, whose tests check it against the whole
 * schema. A day of readings has 1,440 timestamps; their format checks cost 20× the rest.
 */
export function shapeValidator<S extends TSchema>(schema: S): Validator<Static<S>> {
  if (!shapesAjv) {
    shapesAjv = new Ajv({ ...AJV_OPTIONS, validateFormats: false });
    addFormats(shapesAjv);
  }
  return wrap(schema, compiledShapes, shapesAjv);
}

function wrap<S extends TSchema>(
  schema: S,
  cache: WeakMap<TSchema, ValidateFunction>,
  instance: Ajv,
): Validator<Static<S>> {
  let validate = cache.get(schema);
  if (!validate) {
    validate = instance.compile(withoutIds(schema));
    cache.set(schema, validate);
  }
  const fn = validate;
  const check = ((value: unknown) => fn(value)) as Validator<Static<S>>;
  Object.defineProperty(check, 'schema', { value: schema });
  check.errors = () => fn.errors ?? [];
  check.errorText = () => formatErrors(fn.errors ?? []);
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
