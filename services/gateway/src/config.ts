import { Type, type Static } from '@sinclair/typebox';
import { ApiScopeSchema, DEFAULT_BASE_TOPIC } from '@wattbus/contracts';
import { MqttTlsSchema } from '@wattbus/bus';
import { adminSchema } from '@wattbus/runtime';

export const ENV_PREFIX = 'WATTBUS_GATEWAY_';

export const ApiKeyEntrySchema = Type.Object(
  {
    name: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$',
      maxLength: 64,
      description: 'Who holds the key; logged instead of the key.',
    }),
    sha256: Type.String({
      pattern: '^[0-9a-f]{64}$',
      description:
        'sha256 hex of the key (make one with `main.ts make-key`); the key itself is never stored.',
    }),
    scopes: Type.Array(ApiScopeSchema, {
      minItems: 1,
      uniqueItems: true,
      description: 'read: the GET routes; control: switching devices too.',
    }),
  },
  { additionalProperties: false },
);
export type ApiKeyEntry = Static<typeof ApiKeyEntrySchema>;

const timeoutMs = (defaultMs: number, description: string) =>
  Type.Integer({ minimum: 1, maximum: 300_000, default: defaultMs, description });

export const GatewayConfigSchema = Type.Object(
  {
    host: Type.String({
      minLength: 1,
      default: '127.0.0.1',
      description: 'Address the HTTP server binds to.',
    }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 8080,
      description: 'HTTP port; 0 lets the OS choose (the `gateway listening` log line says which).',
    }),
    mqtt: Type.Object(
      {
        url: Type.String({ minLength: 1, default: 'mqtt://127.0.0.1:1883', description: 'Broker URL.' }),
        username: Type.Optional(Type.String({ minLength: 1, description: 'Broker user.' })),
        password: Type.Optional(Type.String({ description: 'Broker password (redacted from logs).' })),
        ...MqttTlsSchema.properties,
        base_topic: Type.String({
          minLength: 1,
          default: DEFAULT_BASE_TOPIC,
          description: 'First level(s) of every topic.',
        }),
        client_id: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              'Default gateway-<random>; also names the reply topic `wattbus/replies/<client_id>/+`, so keep it unique per gateway.',
          }),
        ),
        max_payload_bytes: Type.Integer({
          minimum: 1024,
          default: 8_388_608,
          description:
            'Largest reply accepted from a component; a 1-day readings answer at 1 min is ~70 KB, 10,000 points of 6 fields ~1.5 MB.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    api_keys: Type.Array(ApiKeyEntrySchema, {
      default: [],
      description: 'Keys that may call the API; none means every API request gets 401.',
    }),
    cors_origins: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: "Origins allowed to call the API from a browser; '*' allows any. Empty: no CORS headers.",
    }),
    query_timeout_ms: timeoutMs(10_000, 'How long a query waits for the query component before 504.'),
    device_timeout_ms: timeoutMs(5_000, 'How long a device command waits for its agent before 504.'),
    route_timeouts_ms: Type.Record(
      Type.String({ pattern: '^[A-Za-z][A-Za-z0-9]*$' }),
      timeoutMs(10_000, ''),
      {
        default: {},
        description: 'Per-operation overrides by operationId, e.g. { getEnergy: 30000 }.',
      },
    ),
    max_in_flight: Type.Integer({
      minimum: 1,
      default: 1024,
      description:
        'API requests in flight at once; beyond it 503 `OVERLOADED` with `Retry-After: 1`, at once.',
    }),
    max_body_bytes: Type.Integer({
      minimum: 64,
      maximum: 1_048_576,
      default: 16_384,
      description: 'Larger request bodies get 413.',
    }),
    max_event_streams: Type.Integer({
      minimum: 0,
      default: 100,
      description:
        'Live event streams (GET /api/v1/events, the dashboard) open at once; beyond it 503. They do not count in max_in_flight.',
    }),
    unknown_devices: Type.Union([Type.Literal('not_found'), Type.Literal('forward')], {
      default: 'not_found',
      description:
        'not_found: 404 for a device no agent announced on wattbus/devices/+/meta; forward: send the command anyway.',
    }),
    tls: Type.Optional(
      Type.Object(
        {
          cert_file: Type.String({
            minLength: 1,
            description: "PEM file of the gateway's certificate (its chain after it).",
          }),
          key_file: Type.String({ minLength: 1, description: "PEM file of the certificate's private key." }),
        },
        {
          additionalProperties: false,
          description:
            'Serve HTTPS with this certificate; unset: plain HTTP (e.g. behind a TLS reverse proxy).',
        },
      ),
    ),
    stop_timeout_ms: Type.Integer({
      minimum: 0,
      default: 15_000,
      description: 'How long stop() lets in-flight requests finish before closing their connections.',
    }),
    admin: adminSchema(9474),
  },
  { additionalProperties: false },
);
export type GatewayConfig = Static<typeof GatewayConfigSchema>;
