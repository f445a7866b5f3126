import type { InfluxConnection } from './connection.js';
import { tokenHeader } from './connection.js';
import { InfluxError, causeOf, influxQuery } from './http.js';
import { quote } from './query/quote.js';
import { detectServer, type InfluxServerInfo } from './server.js';

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

/** 2.x: find the bucket, else create it in the configured org (untested here: the harness runs 1.x). */
async function ensureBucket(connection: InfluxConnection): Promise<void> {
  const headers = { ...tokenHeader(connection), 'content-type': 'application/json' };
  const org = connection.org ?? '';
  const signal = AbortSignal.timeout(connection.timeout_ms);
  const api = (path: string, init: RequestInit = {}) =>
    fetch(new URL(path, connection.url), { headers, signal, ...init }).catch((error: unknown) => {
      throw new InfluxError(
        'STORE_UNAVAILABLE',
        `InfluxDB at ${connection.url} is unreachable: ${causeOf(error)}`,
      );
    });
  const name = encodeURIComponent(connection.database);
  const found = await api(`/api/v2/buckets?org=${encodeURIComponent(org)}&name=${name}`);
  if (found.ok && ((await found.json()) as { buckets?: unknown[] }).buckets?.length) return;
  const orgs = await api(`/api/v2/orgs?org=${encodeURIComponent(org)}`);
  const orgId = ((await orgs.json()) as { orgs?: Array<{ id: string }> }).orgs?.[0]?.id;
  if (orgId === undefined)
    throw new InfluxError('QUERY_FAILED', `organisation ${JSON.stringify(org)} not found`);
  const created = await api('/api/v2/buckets', {
    method: 'POST',
    body: JSON.stringify({ orgID: orgId, name: connection.database, retentionRules: [] }),
  });
  if (!created.ok) {
    throw new InfluxError(
      'QUERY_FAILED',
      `creating the bucket answered ${created.status}: ${await created.text()}`,
      created.status,
    );
  }
}
