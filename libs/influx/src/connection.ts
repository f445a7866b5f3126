import { Type, type Static } from '@sinclair/typebox';

/** How to reach InfluxDB; the same keys work for 1.x (user/password) and 2.x/3.x (token). */
export const InfluxConnectionSchema = Type.Object(
  {
    url: Type.String({
      default: 'http://127.0.0.1:8086',
      description: 'InfluxDB base URL (1.x, 2.x or 3.x: the generation is detected from /ping).',
    }),
    database: Type.String({
      default: 'wattbus',
      minLength: 1,
      description: 'Database (1.x) or bucket (2.x/3.x, through its DBRP mapping).',
    }),
    username: Type.Optional(Type.String({ description: '1.x user; any name works with a 2.x/3.x token.' })),
    password: Type.Optional(Type.String({ description: '1.x password, or the 2.x/3.x token.' })),
    org: Type.Optional(Type.String({ description: '2.x organisation, for /api/v2/write.' })),
    timeout_ms: Type.Integer({ minimum: 100, default: 10_000, description: 'Longest wait for one request.' }),
  },
  { additionalProperties: false, default: {} },
);
export type InfluxConnection = Static<typeof InfluxConnectionSchema>;

/** HTTP Basic auth works on 1.x, 2.x and 3.x (token as the password), so it is the one scheme we use. */
export function authorizationHeader(connection: InfluxConnection): Record<string, string> {
  if (connection.password === undefined) return {};
  const credentials = `${connection.username ?? 'wattbus'}:${connection.password}`;
  return { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
}

/** /api/v2 wants the token as `Token …` on 2.x and 3.x. */
export function tokenHeader(connection: InfluxConnection): Record<string, string> {
  return connection.password === undefined ? {} : { authorization: `Token ${connection.password}` };
}
