import { authorizationHeader, tokenHeader, type InfluxConnection } from './connection.js';
import { InfluxError } from './errors.js';
import { influxRequest } from './transport.js';

export type InfluxGeneration = 1 | 2 | 3;

export interface InfluxServerInfo {
  generation: InfluxGeneration;
  version: string;
  build: string;
  /** Bound `params` ($name) in InfluxQL: 1.x and 2.x have them, 3.x does not. */
  supportsBoundParams: boolean;
}

/**
 * Tells which InfluxDB answers, from `GET /ping` headers: `X-Influxdb-Version` (1.8.10, v2.7.4,
 * 3.0.1…) and `X-Influxdb-Build` (OSS/oss on 1.x and 2.x, Core/Enterprise on 3.x). A configured
 * `api_version` (1, 2 or 3) wins over the headers, for servers behind a proxy that drops them.
 */
export async function detectServer(connection: InfluxConnection): Promise<InfluxServerInfo> {
  const response = await influxRequest(new URL('/ping', connection.url), {
    method: 'GET',
    headers: authorizationHeader(connection),
    signal: AbortSignal.timeout(connection.timeout_ms),
  });
  await response.text(); // 204, empty: read so the socket goes back to the keep-alive pool
  if (response.status >= 500)
    throw new Error(`InfluxDB at ${connection.url} answered /ping with ${response.status}`);
  const version = headerText(response.headers['x-influxdb-version']);
  const build = headerText(response.headers['x-influxdb-build']);
  const configured = connection.api_version ?? 'auto';
  const classified = configured === 'auto' ? classify(version, build) : classify(configured, '');
  return { ...classified, version, build };
}

function headerText(value: string | string[] | undefined): string {
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

/**
 * detectServer once per connection object (again after a failure), for the one-shot helpers in
 * http.ts; a server replaced by another generation is seen after the service restarts.
 */
export function serverOf(connection: InfluxConnection): Promise<InfluxServerInfo> {
  let known = detected.get(connection);
  if (known === undefined) {
    known = detectServer(connection);
    detected.set(connection, known);
    known.catch(() => detected.delete(connection));
  }
  return known;
}

const detected = new WeakMap<InfluxConnection, Promise<InfluxServerInfo>>();

export function classify(
  version: string,
  build: string,
): Pick<InfluxServerInfo, 'generation' | 'supportsBoundParams'> {
  const major = Number(/^v?(\d+)/.exec(version)?.[1] ?? NaN);
  const generation: InfluxGeneration =
    major === 3 || /core|enterprise|clustered|cloud/i.test(build) ? 3 : major === 2 ? 2 : 1;
  return { generation, supportsBoundParams: generation !== 3 };
}

/** The write endpoint's credentials: HTTP Basic (or a token) on 1.x, `Token …` on /api/v2/write. */
export function writeCredentials(
  connection: InfluxConnection,
  generation: InfluxGeneration,
): Record<string, string> {
  return generation === 1 ? authorizationHeader(connection) : tokenHeader(connection);
}

/** The write endpoint of each generation, line protocol with ms timestamps. */
export function writePath(
  connection: InfluxConnection,
  generation: InfluxGeneration,
  database: string,
): string {
  const bucket = encodeURIComponent(database);
  return generation === 1
    ? `/write?db=${bucket}&precision=ms`
    : `/api/v2/write?org=${encodeURIComponent(generation === 2 ? requireOrg(connection) : '')}&bucket=${bucket}&precision=ms`;
}

/** 2.x addresses a bucket by org and name; without an org every write would be refused (400). */
export function requireOrg(connection: InfluxConnection): string {
  if (!connection.org) {
    throw new InfluxError(
      'QUERY_FAILED',
      `InfluxDB 2.x needs influx.org, the organisation of bucket ${JSON.stringify(connection.database)}`,
    );
  }
  return connection.org;
}
