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

const ajv = new Ajv({ allErrors: true, strict: false, useDefaults: true, coerceTypes: false });
addFormats(ajv);

const compiled = new WeakMap<TSchema, ValidateFunction>();

export interface Validator<T> {
  (value: unknown): value is T;
  readonly schema: TSchema;
  /** Errors of the last failed call, as `path: message` lines. */
  errorText(): string;
  errors(): ErrorObject[];
}

export function validator<S extends TSchema>(schema: S): Validator<Static<S>> {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(withoutIds(schema));
    compiled.set(schema, validate);
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
