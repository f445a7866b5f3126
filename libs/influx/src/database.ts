import type { InfluxConnection } from './connection.js';
import { credentialsHint, tokenHeader } from './connection.js';
import { InfluxError, answerError, causeOf, influxQuery } from './http.js';
import { quote } from './query/quote.js';
import { detectServer, requireOrg, type InfluxServerInfo } from './server.js';
import { influxRequest } from './transport.js';

/**
 * Makes sure the connection's database exists: `CREATE DATABASE` on 1.x (a no-op when it is
 * there), the bucket in the configured org on 2.x; 3.x creates a database on its first write.
 * Throws an InfluxError when it cannot (no rights, unknown org, server down).
 */
export async function ensureDatabase(connection: InfluxConnection, server?: InfluxServerInfo): Promise<void> {
  const generation = (server ?? (await detectServer(connection))).generation;
  if (generation === 1) {
    await influxQuery(connection, `CREATE DATABASE ${quote(connection.database, 'identifier')}`);
  } else if (generation === 2) {
    await ensureBucket(connection);
  }
}

/**
 * 2.x: `GET /api/v2/buckets?org=&name=`; when the bucket is not there, create it in the org
 * (`POST /api/v2/buckets`, which needs the org's id). Each refusal names what to fix: the token
 * (401/403: unknown, or without the right to create buckets), the org (404).
 */
async function ensureBucket(connection: InfluxConnection): Promise<void> {
  const org = requireOrg(connection);
  const bucket = JSON.stringify(connection.database);
  const signal = AbortSignal.timeout(connection.timeout_ms);
  const api = async (
    action: string,
    path: string,
    init: { method: 'GET' | 'POST'; body?: string } = { method: 'GET' },
  ) => {
    const response = await influxRequest(new URL(path, connection.url), {
      headers: { ...tokenHeader(connection), 'content-type': 'application/json' },
      signal,
      ...init,
    }).catch((error: unknown) => {
      throw new InfluxError(
        'STORE_UNAVAILABLE',
        `InfluxDB at ${connection.url} is unreachable: ${causeOf(error)}`,
      );
    });
    const body = await response.text();
    if (response.ok) return JSON.parse(body) as unknown;
    // 422 conflict: another client created it since we looked.
    if (response.status === 422 && init.method === 'POST') return undefined;
    const said = `${response.status}: ${answerError(body)}`;
    if (response.status === 401 || response.status === 403) {
      const hint =
        action === 'creating' ? ', and that it may create buckets (or create the bucket yourself)' : '';
      throw new InfluxError(
        'STORE_UNAVAILABLE',
        `InfluxDB refused ${action} bucket ${bucket} (${said}): ${credentialsHint(connection)}${hint}`,
        response.status,
      );
    }
    const message = `InfluxDB answered ${said} ${action} bucket ${bucket} in organisation ${JSON.stringify(org)}`;
    throw new InfluxError(
      response.status >= 500 ? 'STORE_UNAVAILABLE' : 'QUERY_FAILED',
      message,
      response.status,
    );
  };
  const query = new URLSearchParams({ org, name: connection.database });
  const found = (await api('looking up', `/api/v2/buckets?${query}`)) as { buckets?: unknown[] };
  if (found.buckets?.length) return;
  const orgs = (await api('creating', `/api/v2/orgs?${new URLSearchParams({ org })}`)) as {
    orgs?: Array<{ id: string }>;
  };
  const orgId = orgs.orgs?.[0]?.id;
  if (orgId === undefined)
    throw new InfluxError(
      'QUERY_FAILED',
      `InfluxDB has no organisation ${JSON.stringify(org)} for bucket ${bucket}`,
    );
  await api('creating', '/api/v2/buckets', {
    method: 'POST',
    body: JSON.stringify({ orgID: orgId, name: connection.database, retentionRules: [] }),
  });
}
