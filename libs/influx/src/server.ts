import { authorizationHeader, type InfluxConnection } from './connection.js';

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
 * 3.0.1…) and `X-Influxdb-Build` (OSS/oss on 1.x and 2.x, Core/Enterprise on 3.x).
 */
export async function detectServer(connection: InfluxConnection): Promise<InfluxServerInfo> {
  const response = await fetch(new URL('/ping', connection.url), {
    headers: authorizationHeader(connection),
    signal: AbortSignal.timeout(connection.timeout_ms),
  });
  if (response.status >= 500)
    throw new Error(`InfluxDB at ${connection.url} answered /ping with ${response.status}`);
  const version = response.headers.get('x-influxdb-version') ?? '';
  const build = response.headers.get('x-influxdb-build') ?? '';
  return { ...classify(version, build), version, build };
}

export function classify(
  version: string,
  build: string,
): Pick<InfluxServerInfo, 'generation' | 'supportsBoundParams'> {
  const major = Number(/^v?(\d+)/.exec(version)?.[1] ?? NaN);
  const generation: InfluxGeneration =
    major === 3 || /core|enterprise|clustered|cloud/i.test(build) ? 3 : major === 2 ? 2 : 1;
  return { generation, supportsBoundParams: generation !== 3 };
}
