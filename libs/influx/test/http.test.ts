import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startInflux, type InfluxServer } from '@wattbus/testing';
import {
  InfluxError,
  encodeLine,
  ensureDatabase,
  influxQuery,
  influxQueryStream,
  influxWrite,
  parseLine,
  type InfluxConnection,
} from '../src/index.js';

describe('the InfluxDB client every service uses', () => {
  let influx: InfluxServer;
  let connection: InfluxConnection;

  before(async () => {
    influx = await startInflux();
    // A name that needs quoting (influxd itself refuses backslashes and control characters in names).
    connection = { url: influx.url, database: `odd "name"; DROP DATABASE x`, timeout_ms: 2000 };
  });
  after(() => influx.destroy());

  it('ensureDatabase creates a database whatever its name, and is a no-op the second time', async () => {
    await ensureDatabase(connection);
    await ensureDatabase(connection);
    const [result] = await influxQuery(connection, 'SHOW DATABASES');
    const names = result!.series[0]!.values.map((row) => row[0]);
    assert.equal(names.filter((name) => name === connection.database).length, 1, JSON.stringify(names));
  });

  it('writes lines from the one encoder and reads them back, streamed in chunks', async () => {
    const lines = Array.from({ length: 5 }, (_, i) =>
      encodeLine({
        measurement: 'm',
        tags: { where: 'a, b=c' },
        fields: { n: { type: 'integer', value: i }, note: { type: 'string', value: `say "${i}"` } },
        timestamp: 1000 + i,
      }),
    );
    await influxWrite(connection, lines);
    const pieces = [];
    for await (const series of influxQueryStream(connection, 'SELECT * FROM "m" GROUP BY *', {
      chunkSize: 2,
    }))
      pieces.push(series);
    assert.ok(pieces.length >= 3, `5 rows in chunks of 2 come as 3 pieces, got ${pieces.length}`);
    assert.deepEqual(
      pieces.flatMap((series) => series.values.map((row) => [row[0], series.tags?.where, ...row.slice(1)])),
      [0, 1, 2, 3, 4].map((i) => [1000 + i, 'a, b=c', i, `say "${i}"`]),
    );
    assert.deepEqual(parseLine(lines[0]!).tags, { where: 'a, b=c' });
  });

  it('a refused write is QUERY_FAILED with the status and InfluxDB’s reason', async () => {
    await assert.rejects(influxWrite(connection, 'm n="text" 2000'), (error: unknown) => {
      assert.ok(error instanceof InfluxError);
      assert.equal(error.code, 'QUERY_FAILED');
      assert.equal(error.status, 400);
      assert.match(error.message, /field type conflict/);
      return true;
    });
  });

  it('a refused statement is QUERY_FAILED, a server that is not there STORE_UNAVAILABLE', async () => {
    await assert.rejects(
      influxQuery(connection, 'SELECT nonsense('),
      (error: unknown) => error instanceof InfluxError && error.code === 'QUERY_FAILED',
    );
    const nowhere = { ...connection, url: `http://127.0.0.1:${await freePort()}` };
    await assert.rejects(
      influxWrite(nowhere, 'm n=1i 1', { attempts: 2 }),
      (error: unknown) =>
        error instanceof InfluxError &&
        error.code === 'STORE_UNAVAILABLE' &&
        error.status === undefined &&
        /unreachable: ECONNREFUSED/.test(error.message),
    );
  });
});
