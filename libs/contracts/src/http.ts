import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ERROR_CODES } from './errors.js';

/**
 * Schemas of the REST gateway's own bodies (problem details, health). The gateway's
 * openapi.yaml components are generated from these and from the bus message schemas.
 */

/** What an API key may do: `read` queries data, `control` switches devices. */
export const API_SCOPES = ['read', 'control'] as const;
export const ApiScopeSchema = Type.Union(
  API_SCOPES.map((scope) => Type.Literal(scope)),
  { $id: 'ApiScope', description: 'read: query data; control: switch devices.', examples: ['read'] },
);
export type ApiScope = Static<typeof ApiScopeSchema>;

/** Codes only HTTP has; everything a service can answer uses the bus' ErrorCode. */
export const HTTP_ERROR_CODES = [
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'BROKER_UNAVAILABLE',
] as const;

export const ProblemCodeSchema = Type.Union(
  [...ERROR_CODES, ...HTTP_ERROR_CODES].map((code) => Type.Literal(code)),
  {
    $id: 'ProblemCode',
    description: 'Stable machine-readable code: a bus ErrorCode, or an HTTP-only code.',
    examples: ['UNKNOWN_DEVICE', 'UNAUTHORIZED'],
  },
);
export type ProblemCode = Static<typeof ProblemCodeSchema>;

export const ProblemParameterSchema = Type.Object(
  {
    name: Type.String({ description: 'Parameter name, or a JSON pointer into the body.' }),
    in: Type.Union([
      Type.Literal('path'),
      Type.Literal('query'),
      Type.Literal('header'),
      Type.Literal('body'),
    ]),
  },
  { additionalProperties: false, description: 'The request parameter that failed.' },
);

export const ProblemSchema = Type.Object(
  {
    type: Type.String({
      description: 'URI naming the problem type; `urn:wattbus:problem:<code>`.',
      examples: ['urn:wattbus:problem:unknown-device'],
    }),
    title: Type.String({ description: 'Short summary of the problem type.' }),
    status: Type.Integer({ minimum: 400, maximum: 599, description: 'The HTTP status code.' }),
    detail: Type.Optional(Type.String({ description: 'What went wrong with this request.' })),
    instance: Type.Optional(Type.String({ description: 'The request path.' })),
    code: ProblemCodeSchema,
    request_id: Type.String({ description: 'Also the MQTT correlation id and the X-Request-Id header.' }),
    parameter: Type.Optional(ProblemParameterSchema),
    errors: Type.Optional(
      Type.Array(
        Type.Object(
          { parameter: ProblemParameterSchema, message: Type.String() },
          { additionalProperties: false },
        ),
        { description: 'Every failing parameter, when there are several.' },
      ),
    ),
    details: Type.Optional(Type.Unknown({ description: "The answering component's error details." })),
  },
  {
    $id: 'Problem',
    additionalProperties: false,
    description: 'RFC 9457 problem details, served as application/problem+json.',
    examples: [
      {
        type: 'urn:wattbus:problem:invalid-params',
        title: 'Invalid parameters',
        status: 400,
        detail: 'query parameter \'from\': must match format "date-time"',
        instance: '/api/v1/devices/desk-3/readings',
        code: 'INVALID_PARAMS',
        request_id: '0b6c3f0e-8a55-4a5e-9f57-0f3a7f3c1d2e',
        parameter: { name: 'from', in: 'query' },
      },
    ],
  },
);
export type Problem = Static<typeof ProblemSchema>;

export const LivenessSchema = Type.Object(
  { status: Type.Literal('ok') },
  { $id: 'Liveness', additionalProperties: false, examples: [{ status: 'ok' }] },
);
export type Liveness = Static<typeof LivenessSchema>;

export const ReadinessSchema = Type.Object(
  {
    ready: Type.Boolean({ description: 'True when every check is ok.' }),
    checks: Type.Record(
      Type.String(),
      Type.Object(
        {
          ok: Type.Boolean(),
          detail: Type.Optional(Type.String()),
          since: Type.String({ format: 'date-time' }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  {
    $id: 'Readiness',
    additionalProperties: false,
    examples: [{ ready: true, checks: { broker: { ok: true, since: '2026-11-23T18:45:00.000Z' } } }],
  },
);
export type Readiness = Static<typeof ReadinessSchema>;

/** Who the presented API key belongs to and what it may do (`GET /api/v1/whoami`). */
export const ApiKeyInfoSchema = Type.Object(
  {
    name: Type.String({ description: "The key's name in the gateway config." }),
    scopes: Type.Array(ApiScopeSchema, { description: 'What the key may do.' }),
  },
  { $id: 'ApiKeyInfo', additionalProperties: false, examples: [{ name: 'ops-team', scopes: ['read'] }] },
);
export type ApiKeyInfo = Static<typeof ApiKeyInfoSchema>;

/** The HTTP-only schemas, for openapi.yaml components and contract tests. */
export const HTTP_SCHEMAS: Record<string, TSchema> = {
  ApiScope: ApiScopeSchema,
  ProblemCode: ProblemCodeSchema,
  Problem: ProblemSchema,
  Liveness: LivenessSchema,
  Readiness: ReadinessSchema,
  ApiKeyInfo: ApiKeyInfoSchema,
};
