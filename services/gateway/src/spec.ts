import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import {
  API_SCOPES,
  STORABLE_RANGE_MESSAGE,
  isStorableRangeError,
  simplifyErrors,
  type ApiScope,
} from '@wattbus/contracts';
import { HttpProblem, type ProblemParameter } from './problem.js';

/** The repository's openapi.yaml: the REST contract the gateway validates against and serves. */
export const OPENAPI_FILE = fileURLToPath(new URL('../../../openapi.yaml', import.meta.url));

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

type JsonObject = Record<string, unknown>;

interface ParameterSpec {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  /** `explode: false` arrays arrive comma-separated: `fields=power_w,voltage_v`. */
  commaSeparated: boolean;
  schema: JsonObject;
}

export interface Operation {
  operationId: string;
  method: HttpMethod;
  /** OpenAPI path template, e.g. `/api/v1/devices/{id}`. */
  path: string;
  /** The same path for express, e.g. `/api/v1/devices/:id`. */
  expressPath: string;
  /** Scopes any one of which grants access; null when the operation needs no key. */
  scopes: ApiScope[] | null;
  hasBody: boolean;
}

export interface RequestInput {
  path: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
}

interface OperationValidators {
  path: ValidateFunction;
  query: ValidateFunction;
  body: ValidateFunction | undefined;
}

interface CompiledOperation extends Operation {
  /**
   * Compiled on the operation's first request: ajv's code for every operation was ~5 MB of an
   * idle gateway's heap (bench/rss), and a deployment may never call some of them.
   */
  validators: () => OperationValidators;
  bodyRequired: boolean;
  commaSeparated: string[];
  responses: Record<string, JsonObject>;
}

// ajv-formats is CommonJS; under ESM interop its function may sit on `.default`.
const addFormats = ((addFormatsPlugin as unknown as { default?: typeof addFormatsPlugin }).default ??
  addFormatsPlugin) as typeof addFormatsPlugin;

/**
 * openapi.yaml, loaded once and compiled into validators: the one source of the gateway's
 * routes, their scopes, and what a request and a response may look like. Path and query
 * parameters are text on the wire, so their validators coerce ("5" → 5, one value → [value]).
 */
export class OpenApiSpec {
  readonly document: JsonObject;
  readonly operations: readonly Operation[];
  #compiled = new Map<string, CompiledOperation>();
  #strict: Ajv2020;
  #responseValidators = new Map<string, ValidateFunction>();

  static load(file: string = OPENAPI_FILE): OpenApiSpec {
    return new OpenApiSpec(parseYaml(readFileSync(file, 'utf8')) as JsonObject);
  }

  constructor(document: JsonObject) {
    this.document = document;
    const coercing = new Ajv2020({ allErrors: true, strict: false, coerceTypes: 'array', useDefaults: true });
    this.#strict = new Ajv2020({ allErrors: true, strict: false });
    const strict = this.#strict;
    addFormats(coercing);
    addFormats(this.#strict);
    const paths = (document.paths ?? {}) as Record<string, JsonObject>;
    const globalSecurity = document.security as JsonObject[] | undefined;
    for (const [path, pathItem] of Object.entries(paths)) {
      const shared = (pathItem.parameters ?? []) as JsonObject[];
      for (const method of HTTP_METHODS) {
        const raw = pathItem[method] as JsonObject | undefined;
        if (!raw) continue;
        const operationId = raw.operationId;
        if (typeof operationId !== 'string')
          throw new Error(`${method.toUpperCase()} ${path} has no operationId`);
        const parameters = this.#parameters([...shared, ...((raw.parameters ?? []) as JsonObject[])]);
        const body = raw.requestBody ? this.#deref(raw.requestBody) : undefined;
        const bodySchema = body
          ? ((body.content as Record<string, JsonObject> | undefined)?.['application/json']?.schema as
              JsonObject | undefined)
          : undefined;
        // $refs are resolved now, so a broken openapi.yaml still stops the gateway at start.
        const pathSchema = objectOf(
          parameters.filter((p) => p.in === 'path'),
          true,
        );
        const querySchema = objectOf(
          parameters.filter((p) => p.in === 'query'),
          false,
        );
        const resolvedBody = bodySchema ? this.#resolveAll(bodySchema) : undefined;
        this.#compiled.set(operationId, {
          operationId,
          method,
          path,
          expressPath: path.replace(/\{([^}]+)\}/g, ':$1'),
          scopes: scopesOf((raw.security as JsonObject[] | undefined) ?? globalSecurity),
          hasBody: bodySchema !== undefined,
          bodyRequired: body?.required === true,
          commaSeparated: parameters.filter((p) => p.in === 'query' && p.commaSeparated).map((p) => p.name),
          validators: once(() => ({
            path: coercing.compile(pathSchema),
            query: coercing.compile(querySchema),
            body: resolvedBody ? strict.compile(resolvedBody) : undefined,
          })),
          responses: (raw.responses ?? {}) as Record<string, JsonObject>,
        });
      }
    }
    this.operations = [...this.#compiled.values()].map((op) => ({
      operationId: op.operationId,
      method: op.method,
      path: op.path,
      expressPath: op.expressPath,
      scopes: op.scopes,
      hasBody: op.hasBody,
    }));
  }

  operation(operationId: string): Operation {
    const operation = this.#compiled.get(operationId);
    if (!operation) throw new Error(`openapi.yaml has no operation ${operationId}`);
    return operation;
  }

  /**
   * Validates (and coerces) a request's parameters and body; throws an HttpProblem 400 that
   * names the first failing parameter and lists every one.
   */
  validateRequest(operationId: string, raw: RequestInput): RequestInput {
    const operation = this.#compiled.get(operationId);
    if (!operation) throw new Error(`openapi.yaml has no operation ${operationId}`);
    const path = { ...raw.path };
    const query = { ...raw.query };
    for (const name of operation.commaSeparated) {
      const value = query[name];
      if (typeof value === 'string') query[name] = value === '' ? [] : value.split(',');
    }
    const failures: { parameter: ProblemParameter; message: string }[] = [];
    const validate = operation.validators();
    if (!validate.path(path)) failures.push(...parameterErrors(validate.path.errors, 'path'));
    if (!validate.query(query)) {
      failures.push(...parameterErrors(validate.query.errors, 'query'));
    }
    let body = raw.body;
    if (validate.body) {
      if (body === undefined) {
        if (operation.bodyRequired) {
          failures.push({ parameter: { name: '/', in: 'body' }, message: 'a JSON body is required' });
        }
      } else if (!validate.body(body)) {
        failures.push(...bodyErrors(validate.body.errors));
      }
    } else {
      body = undefined;
    }
    const first = failures[0];
    if (first) {
      throw new HttpProblem('INVALID_PARAMS', failures.map(describeFailure).join('; '), {
        parameter: first.parameter,
        errors: failures,
      });
    }
    return { path, query, body };
  }

  /**
   * Checks a response against the operation's documented responses (status, content type,
   * body schema, required headers); returns the problems, empty when it conforms. For tests.
   */
  checkResponse(
    operationId: string,
    status: number,
    contentType: string | null,
    body: unknown,
    headers: Headers,
  ): string[] {
    const operation = this.#compiled.get(operationId);
    if (!operation) return [`no operation ${operationId}`];
    const documented = operation.responses[String(status)] ?? operation.responses.default;
    if (!documented) return [`status ${status} is not documented for ${operationId}`];
    const response = this.#deref(documented);
    const problems: string[] = [];
    for (const [name, header] of Object.entries((response.headers ?? {}) as Record<string, JsonObject>)) {
      if (this.#deref(header).required === true && !headers.has(name)) {
        problems.push(`header ${name} is required for ${status}`);
      }
    }
    const content = response.content as Record<string, JsonObject> | undefined;
    if (!content) return problems;
    const mediaType = (contentType ?? '').split(';')[0]!.trim();
    const media = content[mediaType];
    if (!media) {
      problems.push(
        `content type ${mediaType || '(none)'} is not documented for ${status}: ${Object.keys(content).join(', ')}`,
      );
      return problems;
    }
    const key = `${operationId} ${status} ${mediaType}`;
    let validate = this.#responseValidators.get(key);
    if (!validate) {
      validate = this.#strict.compile(this.#resolveAll((media.schema ?? {}) as JsonObject));
      this.#responseValidators.set(key, validate);
    }
    if (!validate(body)) {
      problems.push(
        ...(validate.errors ?? []).map((e) => `body${e.instancePath}: ${e.message ?? 'is invalid'}`),
      );
    }
    return problems;
  }

  /** Finds the operation a concrete request path and method belong to (for tests and 405). */
  match(method: string, path: string): Operation | undefined {
    return this.operations.find(
      (operation) => operation.method === method.toLowerCase() && templateRegex(operation.path).test(path),
    );
  }

  #parameters(raw: JsonObject[]): ParameterSpec[] {
    return raw.map((item) => {
      const parameter = this.#deref(item);
      return {
        name: String(parameter.name),
        in: parameter.in as ParameterSpec['in'],
        required: parameter.required === true,
        commaSeparated: parameter.explode === false,
        schema: this.#resolveAll((parameter.schema ?? {}) as JsonObject),
      };
    });
  }

  #deref(node: unknown): JsonObject {
    let current = node as JsonObject;
    for (let hops = 0; typeof current.$ref === 'string'; hops++) {
      if (hops > 32) throw new Error(`$ref chain too long at ${current.$ref}`);
      current = this.#pointer(current.$ref);
    }
    return current;
  }

  /** Inlines every local `$ref`, so each validator is self-contained. */
  #resolveAll(schema: JsonObject, seen: string[] = []): JsonObject {
    const visit = (node: unknown): unknown => {
      if (Array.isArray(node)) return node.map(visit);
      if (node === null || typeof node !== 'object') return node;
      const object = node as JsonObject;
      if (typeof object.$ref === 'string') {
        const ref = object.$ref;
        if (seen.includes(ref)) throw new Error(`recursive $ref ${ref} is not supported`);
        const { $ref: _ref, ...siblings } = object;
        return {
          ...this.#resolveAll(this.#pointer(ref), [...seen, ref]),
          ...(visit(siblings) as JsonObject),
        };
      }
      return Object.fromEntries(Object.entries(object).map(([key, value]) => [key, visit(value)]));
    };
    return visit(schema) as JsonObject;
  }

  #pointer(ref: string): JsonObject {
    if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported, not ${ref}`);
    let node: unknown = this.document;
    for (const token of ref.slice(2).split('/')) {
      const key = decodeURIComponent(token).replaceAll('~1', '/').replaceAll('~0', '~');
      node = (node as JsonObject | undefined)?.[key];
    }
    if (node === null || typeof node !== 'object') throw new Error(`$ref ${ref} does not resolve`);
    return node as JsonObject;
  }
}

/** `make()` on the first call, its result after. */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

function scopesOf(security: JsonObject[] | undefined): ApiScope[] | null {
  if (!security || security.length === 0) return null;
  const scopes = new Set<ApiScope>();
  for (const requirement of security) {
    for (const listed of Object.values(requirement) as string[][]) {
      for (const scope of listed) {
        if (!(API_SCOPES as readonly string[]).includes(scope))
          throw new Error(`unknown scope ${scope} in openapi.yaml`);
        scopes.add(scope as ApiScope);
      }
    }
  }
  return [...scopes];
}

function objectOf(parameters: ParameterSpec[], allowExtra: boolean): JsonObject {
  return {
    type: 'object',
    properties: Object.fromEntries(parameters.map((p) => [p.name, p.schema])),
    required: parameters.filter((p) => p.required).map((p) => p.name),
    additionalProperties: allowExtra,
  };
}

function parameterErrors(
  errors: ErrorObject[] | null | undefined,
  where: 'path' | 'query',
): { parameter: ProblemParameter; message: string }[] {
  return simplifyErrors(errors ?? []).map((error) => {
    if (error.keyword === 'required') {
      const name = (error.params as { missingProperty: string }).missingProperty;
      return { parameter: { name, in: where }, message: 'is required' };
    }
    if (error.keyword === 'additionalProperties') {
      const name = (error.params as { additionalProperty: string }).additionalProperty;
      return { parameter: { name, in: where }, message: 'is not a parameter of this operation' };
    }
    const [name = '', ...rest] = error.instancePath.slice(1).split('/');
    const inner = rest.length > 0 ? ` (/${rest.join('/')})` : '';
    const message = isStorableRangeError(error) ? STORABLE_RANGE_MESSAGE : (error.message ?? 'is invalid');
    return { parameter: { name, in: where }, message: `${message}${inner}` };
  });
}

function bodyErrors(
  errors: ErrorObject[] | null | undefined,
): { parameter: ProblemParameter; message: string }[] {
  return simplifyErrors(errors ?? []).map((error) => {
    let name = error.instancePath || '/';
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'additionalProperties') {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      name = `${error.instancePath}/${key}`;
      message = 'is not a known key';
    } else if (error.keyword === 'required') {
      const key = (error.params as { missingProperty: string }).missingProperty;
      name = `${error.instancePath}/${key}`;
      message = 'is required';
    }
    return { parameter: { name, in: 'body' }, message };
  });
}

function describeFailure(failure: { parameter: ProblemParameter; message: string }): string {
  const { name, in: where } = failure.parameter;
  return where === 'body'
    ? `body ${name}: ${failure.message}`
    : `${where} parameter '${name}': ${failure.message}`;
}

function templateRegex(template: string): RegExp {
  const pattern = template
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${pattern}$`);
}
