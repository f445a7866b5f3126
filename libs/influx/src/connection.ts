import { Type, type Static } from '@sinclair/typebox';

/** How to reach InfluxDB: user/password for 1.x, an API token (and org) for 2.x and 3.x. */
export const InfluxConnectionSchema = Type.Object(
  {
    url: Type.String({
      default: 'http://127.0.0.1:8086',
      description:
        'InfluxDB base URL (1.x, 2.x or 3.x: the generation is detected from /ping unless api_version says).',
    }),
    api_version: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Literal('1'), Type.Literal('2'), Type.Literal('3')], {
        default: 'auto',
        description:
          "Which InfluxDB API to speak: auto (from /ping's X-Influxdb-Version), 1 (/write, /query, CREATE DATABASE), 2 (/api/v2/write, InfluxQL on /query through the bucket's DBRP mapping, /api/v2/buckets) or 3.",
      }),
    ),
    database: Type.String({
      default: 'wattbus',
      minLength: 1,
      description: 'Database (1.x) or bucket (2.x/3.x; InfluxQL reaches it through its DBRP mapping).',
    }),
    username: Type.Optional(Type.String({ description: '1.x user (HTTP Basic auth).' })),
    password: Type.Optional(
      Type.String({ description: '1.x password; on 2.x/3.x the token when `token` is not set.' }),
    ),
    token: Type.Optional(
      Type.String({
        description:
          '2.x/3.x API token, sent as `Authorization: Token …` on every request (writes, InfluxQL on /query, the bucket check).',
      }),
    ),
    org: Type.Optional(Type.String({ description: '2.x organisation (name) of the bucket.' })),
    timeout_ms: Type.Integer({ minimum: 100, default: 10_000, description: 'Longest wait for one request.' }),
  },
  { additionalProperties: false, default: {} },
);
export type InfluxConnection = Static<typeof InfluxConnectionSchema>;

/** `Token …` when a token is configured (2.x and 3.x want it), else HTTP Basic with user and password. */
export function authorizationHeader(connection: InfluxConnection): Record<string, string> {
  if (connection.token !== undefined) return { authorization: `Token ${connection.token}` };
  if (connection.password === undefined) return {};
  const credentials = `${connection.username ?? 'wattbus'}:${connection.password}`;
  return { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
}

/** /api/v2 wants the token as `Token …` on 2.x and 3.x (the password stands in when no token is set). */
export function tokenHeader(connection: InfluxConnection): Record<string, string> {
  const token = connection.token ?? connection.password;
  return token === undefined ? {} : { authorization: `Token ${token}` };
}

/** What to check when InfluxDB refuses our credentials, in the config's own key names. */
export function credentialsHint(connection: InfluxConnection): string {
  return connection.token !== undefined
    ? `check influx.token (an API token with read and write access to bucket ${JSON.stringify(connection.database)})`
    : 'check influx.username and influx.password (or set influx.token for InfluxDB 2.x/3.x)';
}
