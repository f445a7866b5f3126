import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startInflux, startInfluxV2StandIn, type InfluxServer, type InfluxV2StandIn } from '@wattbus/testing';
import {
  InfluxError,
  InfluxQueryClient,
  InfluxWriter,
  detectServer,
  ensureDatabase,
  influxQuery,
  influxWrite,
  readingToLine,
  type InfluxConnection,
  type WriterLogger,
} from '../src/index.js';

const T0 = Date.parse('2026-11-23T00:00:00.000Z');
const TOKEN = 'all-access-token';
const READ_TOKEN = 'read-only-token';

function lines(device: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    readingToLine({ ts: new Date(T0 + i * 1000).toISOString(), device, power_w: 10 + i }),
  );
}

function recordingLogger(): WriterLogger & { errors: string[] } {
  const errors: string[] = [];
  const quiet = () => undefined;
  return {
    errors,
    debug: quiet,
    info: quiet,
    warn: quiet,
    error: (_details, message) => errors.push(message),
  };
}

describe('the InfluxDB 2.x API path, against InfluxV2StandIn over influxd 1.6.7', () => {
  let influx: InfluxServer;
  let standIn: InfluxV2StandIn;
  const writers: InfluxWriter[] = [];

  function connection(database: string, extra: Partial<InfluxConnection> = {}): InfluxConnection {
    return { url: standIn.url, database, token: TOKEN, org: 'home', timeout_ms: 5000, ...extra };
  }

  /** A writer that keeps failing: its error log lines once it has retried, stopped. */
  async function failingWrite(target: InfluxConnection) {
    const logger = recordingLogger();
    const writer = new InfluxWriter({ connection: target, logger, retryMinMs: 10, retryMaxMs: 20 });
    writers.push(writer);
    writer.start();
    const writing = writer.write(lines('plug-9', 1));
    while (logger.errors.length < 2) await new Promise((resolve) => setImmediate(resolve));
    writer.stop();
    await assert.rejects(writing, { name: 'WriterStoppedError' });
    return { errors: logger.errors, metrics: writer.metrics() };
  }

  before(async () => {
    influx = await startInflux();
    standIn = await startInfluxV2StandIn({ influx, token: TOKEN, readToken: READ_TOKEN, org: 'home' });
  });
  after(async () => {
    for (const writer of writers) writer.stop();
    await standIn?.stop();
    await influx?.destroy();
  });

  it('detects a 2.x from /ping, or takes api_version from the config', async () => {
    assert.equal((await detectServer(connection('any'))).generation, 2);
    assert.equal((await detectServer({ url: influx.url, database: 'any', timeout_ms: 5000 })).generation, 1);
    const pinned = { url: influx.url, database: 'any', timeout_ms: 5000, api_version: '2' as const };
    assert.equal((await detectServer(pinned)).generation, 2);
  });

  it('creates the missing bucket, writes through /api/v2/write with the token and reads back with InfluxQL', async () => {
    const v2 = connection('v2_writer');
    const writer = new InfluxWriter({ connection: v2, createDatabase: true });
    writers.push(writer);
    writer.start();
    const from = standIn.requests.length;
    const outcome = await writer.write(lines('plug-1', 100));
    assert.deepEqual(outcome, { written: 100, rejected: [] });
    const seen = standIn.requests.slice(from);
    assert.ok(seen.includes('GET /api/v2/buckets'), seen.join(', '));
    assert.ok(seen.includes('POST /api/v2/buckets'), seen.join(', '));
    assert.ok(seen.includes('POST /api/v2/write'), seen.join(', '));
    // Read back through the stand-in's v1-compatible /query, with Token auth.
    const client = new InfluxQueryClient({ connection: v2 });
    const query = await client.builder();
    assert.equal(query.mode, 'bound');
    query.statement(
      `SELECT count(power_w), sum(power_w) FROM electricity WHERE device = ${query.value('plug-1')}`,
    );
    const [result] = await client.run(query);
    assert.deepEqual(result!.series[0]!.values[0]!.slice(1), [100, 100 * 10 + (99 * 100) / 2]);
    // …and the real influxd holds them in the database named after the bucket.
    const direct = await influx.query('v2_writer', 'SELECT count(power_w) FROM electricity');
    assert.equal(direct.results?.[0]?.series?.[0]?.values[0]?.[1], 100);
  });

  it('hands back a field type conflict (2.x: 422) as a refused line and stores the rest', async () => {
    const v2 = connection('v2_conflict');
    await ensureDatabase(v2);
    await influxWrite(v2, `electricity,device=old frequency_hz="fifty" ${T0}`);
    const writer = new InfluxWriter({ connection: v2 });
    writers.push(writer);
    writer.start();
    const outcome = await writer.write([
      ...lines('plug-2', 3),
      readingToLine({ ts: new Date(T0).toISOString(), device: 'old', power_w: 1, frequency_hz: 50 }),
    ]);
    assert.equal(outcome.written, 3);
    assert.equal(outcome.rejected.length, 1);
    assert.match(outcome.rejected[0]!.reason, /^422: .*field type conflict/);
  });

  it('influxWrite and influxQuery speak 2.x: /api/v2/write, and /query with Token auth', async () => {
    const v2 = connection('v2_http');
    await ensureDatabase(v2);
    const from = standIn.requests.length;
    await influxWrite(v2, lines('plug-3', 5));
    assert.ok(standIn.requests.slice(from).includes('POST /api/v2/write'));
    assert.ok(!standIn.requests.slice(from).some((request) => request.startsWith('POST /write')));
    const [result] = await influxQuery(v2, 'SELECT count(power_w) FROM electricity');
    assert.equal(result!.series[0]!.values[0]![1], 5);
  });

  it('names the token when it is refused (401), and the writer keeps retrying loudly', async () => {
    const bad = connection('v2_http', { token: 'wrong' });
    await assert.rejects(influxQuery(bad, 'SELECT count(power_w) FROM electricity'), (error: InfluxError) => {
      assert.equal(error.code, 'STORE_UNAVAILABLE');
      assert.equal(error.status, 401);
      assert.match(
        error.message,
        /refused our credentials \(401: unauthorized access\): check influx\.token/,
      );
      return true;
    });
    await assert.rejects(
      influxWrite(bad, lines('plug-3', 1)),
      /\/api\/v2\/write refused our credentials \(401: unauthorized access\): check influx\.token/,
    );
    await assert.rejects(
      ensureDatabase(bad),
      /refused looking up bucket "v2_http" \(401: unauthorized access\): check influx\.token/,
    );
    const { errors, metrics } = await failingWrite(bad);
    assert.match(errors[0]!, /InfluxDB refuses our credentials: check influx\.token/);
    assert.match(metrics.last_error!, /^401: unauthorized access/);
  });

  it('says when the token may not create the bucket, and names a missing bucket or org', async () => {
    await assert.rejects(
      ensureDatabase(connection('v2_readonly', { token: READ_TOKEN })),
      /refused creating bucket "v2_readonly" \(401: write:orgs\/[0-9a-f]{16}\/buckets is unauthorized\): check influx\.token .*may create buckets/,
    );
    await assert.rejects(influxWrite(connection('v2_absent'), lines('plug-4', 1)), (error: InfluxError) => {
      assert.equal(error.status, 404);
      assert.match(error.message, /\/api\/v2\/write answered 404: bucket "v2_absent" not found/);
      return true;
    });
    await assert.rejects(
      ensureDatabase(connection('v2_absent', { org: 'nobody' })),
      /404: organization name "nobody" not found/,
    );
    await assert.rejects(
      ensureDatabase(connection('v2_absent', { org: undefined })),
      /InfluxDB 2\.x needs influx\.org/,
    );
    const { errors } = await failingWrite(connection('v2_absent'));
    assert.equal(
      errors[0],
      'InfluxDB has no bucket "v2_absent" in organisation "home"; readings are kept and retried',
    );
  });
});
