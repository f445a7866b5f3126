import type { TSchema } from '@sinclair/typebox';
import {
  ApiKeyInfoSchema,
  AlertListParamsSchema,
  AlertListResultSchema,
  BackfillParamsSchema,
  BackfillResultSchema,
  DeviceIdSchema,
  DeviceStateSchema,
  LiveEventSchema,
  LiveEventsParamsSchema,
  LivenessSchema,
  ProblemSchema,
  QUERY_SCHEMAS,
  ReadinessSchema,
  SetPowerParamsSchema,
} from '@wattbus/contracts';

/**
 * openapi.yaml's `components.schemas` are generated from libs/contracts (the one source of every
 * schema); `npm run openapi:sync -w @wattbus/gateway` rewrites them and a test fails when the
 * committed file differs. Named schemas nested in others become `$ref`s, so each is written once.
 */
export const API_SCHEMAS: Record<string, TSchema> = {
  Problem: ProblemSchema,
  Liveness: LivenessSchema,
  Readiness: ReadinessSchema,
  ...QUERY_SCHEMAS,
  DeviceId: DeviceIdSchema,
  DeviceState: DeviceStateSchema,
  SetPowerParams: SetPowerParamsSchema,
  BackfillParams: BackfillParamsSchema,
  BackfillResult: BackfillResultSchema,
  AlertListParams: AlertListParamsSchema,
  AlertListResult: AlertListResultSchema,
  ApiKeyInfo: ApiKeyInfoSchema,
  LiveEvent: LiveEventSchema,
  LiveEventsParams: LiveEventsParamsSchema,
};

const DATA_KEYWORDS = new Set(['examples', 'example', 'default', 'const', 'enum']);
const MAP_KEYWORDS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** `components.schemas` for openapi.yaml: every root and every named schema they embed, sorted by name. */
export function openApiComponentSchemas(roots: Record<string, TSchema> = API_SCHEMAS): Record<string, Json> {
  const pending = new Map<string, Json>();
  for (const [name, schema] of Object.entries(roots)) pending.set(name, plain(schema));
  const done = new Map<string, Json>();
  while (pending.size > 0) {
    const [name, schema] = pending.entries().next().value as [string, Json];
    pending.delete(name);
    done.set(
      name,
      toComponent(schema, name, (id, nested) => {
        if (!done.has(id) && !pending.has(id)) pending.set(id, nested);
      }),
    );
  }
  return Object.fromEntries([...done.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** TypeBox schemas carry symbols (Kind, Optional); JSON keeps only the schema. */
function plain(schema: TSchema): Json {
  return JSON.parse(JSON.stringify(schema)) as Json;
}

function toComponent(schema: Json, name: string, found: (id: string, schema: Json) => void): Json {
  // `inMap`: the keys of `properties` are names, not keywords, so `examples` there is a schema.
  const visit = (node: Json, depth: number, inMap = false): Json => {
    if (Array.isArray(node)) return node.map((item) => visit(item, depth + 1));
    if (node === null || typeof node !== 'object') return node;
    const id = node.$id;
    if (!inMap && depth > 0 && typeof id === 'string') {
      found(id, node);
      return { $ref: `#/components/schemas/${id}` };
    }
    const out: Record<string, Json> = {};
    const literals = inMap ? undefined : literalUnion(node);
    for (const [key, value] of Object.entries(node)) {
      if (literals && key === 'anyOf') {
        // TypeBox writes a union of literals as anyOf/const; `enum` says the same and shows as a list in Swagger UI.
        Object.assign(out, literals);
        continue;
      }
      if (inMap) out[key] = visit(value, depth + 1);
      else if (key === '$id') continue;
      // `examples`, `default` and `const` hold data, not schemas: never rewrite inside them.
      else if (DATA_KEYWORDS.has(key)) out[key] = value;
      else out[key] = visit(value, depth + 1, MAP_KEYWORDS.has(key));
    }
    return out;
  };
  const result = visit(schema, 0);
  if (result === null || typeof result !== 'object' || Array.isArray(result)) {
    throw new Error(`schema ${name} is not an object`);
  }
  return result;
}

/** `{anyOf: [{const: 'a', type: 'string'}, …]}` → `{type: 'string', enum: ['a', …]}`; undefined otherwise. */
function literalUnion(node: { [key: string]: Json }): { type: string; enum: Json[] } | undefined {
  const options = node.anyOf;
  if (!Array.isArray(options) || options.length === 0) return undefined;
  const values: Json[] = [];
  let type: string | undefined;
  for (const option of options) {
    if (option === null || typeof option !== 'object' || Array.isArray(option)) return undefined;
    const keys = Object.keys(option);
    if (!('const' in option) || typeof option.type !== 'string' || keys.length !== 2) return undefined;
    if (type !== undefined && option.type !== type) return undefined;
    type = option.type;
    values.push(option.const as Json);
  }
  return type === undefined ? undefined : { type, enum: values };
}
