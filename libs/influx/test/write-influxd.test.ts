import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startInflux, waitUntil, type InfluxServer } from '@wattbus/testing';
import { InfluxWriter, WriterStoppedError, readingToLine, type WriterLogger } from '../src/index.js';

const T0 = Date.parse('2026-11-23T00:00:00.000Z');

function lines(device: string, count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, i) =>
    readingToLine({ ts: new Date(T0 + (from + i) * 1000).toISOString(), device, power_w: from + i }),
  );
}

function recordingLogger(): WriterLogger & {
  entries: Array<{ level: string; message: string; details: object }>;
} {
  const entries: Array<{ level: string; message: string; details: object }> = [];
  const log = (level: string) => (details: object, message: string) =>
    entries.push({ level, message, details });
  return { entries, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

async function count(influx: InfluxServer, db: string, where = ''): Promise<number> {
  const result = await influx.query(db, `SELECT count(power_w) FROM electricity ${where}`);
  return Number(result.results?.[0]?.series?.[0]?.values[0]?.[1] ?? 0);
}

/** Answers the next writes with scripted statuses (429, 401…), then forwards to the real influxd. */
async function faultProxy(
  target: string,
  script: Array<{ status: number; headers?: Record<string, string> }>,
) {
  const seen: number[] = [];
  const server: Server = createServer((req, res) => {
    const fault = req.url?.startsWith('/write') ? script.shift() : undefined;
    if (fault) {
      seen.push(fault.status);
      req.resume();
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
      res.end(JSON.stringify({ error: `injected ${fault.status}` }));
      return;
    }
    const upstream = request(
      new URL(req.url ?? '/', target),
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('InfluxWriter against influxd 1.6.7', () => {
  let influx: InfluxServer;
  const writers: InfluxWriter[] = [];
  const newWriter = (
    database: string,
    extra: Partial<ConstructorParameters<typeof InfluxWriter>[0]> = {},
  ) => {
    const writer = new InfluxWriter({
      connection: { url: influx.url, database, timeout_ms: 5000 },
      createDatabase: true,
      retryMinMs: 50,
      retryMaxMs: 500,
      ...extra,
    });
    writer.start();
    writers.push(writer);
    return writer;
  };

  before(async () => {
    influx = await startInflux();
  });
  after(async () => {
    for (const writer of writers) writer.stop();
    await influx.destroy();
  });

  it('creates the database, writes batches through /write?precision=ms, stores a duplicate once', async () => {
    const writer = newWriter('basic', { maxBatchLines: 300 });
    const batch = lines('d1', 1000);
    assert.deepEqual(await writer.write([...batch, batch[0]!, batch[999]!]), { written: 1002, rejected: [] });
    assert.equal(writer.server?.generation, 1);
    assert.equal(await count(influx, 'basic'), 1000);
    const sum = await influx.query('basic', 'SELECT sum(power_w) FROM electricity');
    assert.equal(sum.results?.[0]?.series?.[0]?.values[0]?.[1], (999 * 1000) / 2);
    assert.ok(writer.metrics().requests >= 4);
  });

  it('writes a block of newline-ended lines in one request; a refused block is isolated line by line', async () => {
    const writer = newWriter('block', { maxBatchLines: 300 });
    const batch = lines('b1', 300);
    assert.deepEqual(await writer.writeBlock(`${batch.join('\n')}\n`), { written: 300, rejected: [] });
    assert.equal(writer.metrics().requests, 1);
    assert.equal(await count(influx, 'block'), 300);
    // Longer than a request: written in batches, as write() does.
    assert.deepEqual(await writer.writeBlock(`${lines('b2', 450).join('\n')}\n`), {
      written: 450,
      rejected: [],
    });
    await writer.write([`electricity,device=old frequency_hz="fifty" ${T0}`]);
    const bad = `electricity,device=b3 frequency_hz=50 ${T0 + 5000}`;
    const refused = await writer.writeBlock(`${[...lines('b3', 3), bad].join('\n')}\n`);
    assert.equal(refused.written, 3);
    assert.deepEqual(
      refused.rejected.map((rejected) => rejected.line),
      [bad],
    );
    await assert.rejects(writer.writeBlock('no newline at its end'), /must end with a newline/);
    assert.deepEqual(await writer.writeBlock(''), { written: 0, rejected: [] });
  });

  it('stores tag values with spaces, commas, equals signs, quotes and unicode exactly', async () => {
    const writer = newWriter('escaping');
    const location = 'Bâtiment 2, "Süd"=ост 电 ⚡';
    await writer.write([
      readingToLine({ ts: new Date(T0).toISOString(), device: 'x', power_w: 5, location }),
    ]);
    const result = await influx.query('escaping', 'SHOW TAG VALUES FROM electricity WITH KEY = "location"');
    assert.deepEqual(result.results?.[0]?.series?.[0]?.values, [['location', location]]);
  });

  it('isolates the lines of a field-type conflict and stores the rest of the batch', async () => {
    const writer = newWriter('conflict');
    await writer.write([`electricity,device=old frequency_hz="fifty" ${T0}`]);
    const batch = lines('d2', 200);
    const bad = [17, 150].map((i) =>
      readingToLine({
        ts: new Date(T0 + i * 1000).toISOString(),
        device: 'd3',
        power_w: i,
        frequency_hz: 50,
      }),
    );
    const outcome = await writer.write([...batch.slice(0, 100), bad[0]!, ...batch.slice(100), bad[1]!]);
    assert.equal(outcome.written, 200);
    assert.deepEqual(
      outcome.rejected.map((rejected) => rejected.line),
      bad,
    );
    for (const rejected of outcome.rejected)
      assert.match(rejected.reason, /^400: partial write: field type conflict/);
    assert.equal(await count(influx, 'conflict', `WHERE device = 'd2'`), 200);
    assert.equal(await count(influx, 'conflict', `WHERE device = 'd3'`), 0);
  });

  it('keeps retrying while influxd is down and writes everything once it is back', async () => {
    const writer = newWriter('outage');
    await writer.write(lines('d4', 1)); // database created while the server is up
    await influx.stop();
    const pending = writer.write(lines('d4', 500, 1));
    await waitUntil('two failed attempts', async () => writer.metrics().retries >= 2);
    await influx.start();
    assert.deepEqual(await pending, { written: 500, rejected: [] });
    assert.equal(await count(influx, 'outage'), 501);
    assert.match(writer.metrics().last_error ?? '', /ECONNREFUSED/);
  });

  it('waits out 429 and 503 with Retry-After, and says loudly when credentials are refused', async () => {
    const proxy = await faultProxy(influx.url, [
      { status: 429, headers: { 'retry-after': '1' } },
      { status: 503 },
      { status: 401 },
      { status: 403 },
    ]);
    try {
      const logger = recordingLogger();
      const proxied = new InfluxWriter({
        connection: { url: proxy.url, database: 'faults', timeout_ms: 5000 },
        createDatabase: true,
        retryMinMs: 20,
        retryMaxMs: 100,
        logger,
      });
      proxied.start();
      writers.push(proxied);
      assert.deepEqual(await proxied.write(lines('d5', 10)), { written: 10, rejected: [] });
      assert.deepEqual(proxy.seen, [429, 503, 401, 403]);
      const delays = logger.entries
        .map((entry) => (entry.details as { retry_in_ms?: number }).retry_in_ms)
        .filter((delay) => delay !== undefined);
      assert.equal(delays[0], 1000, 'Retry-After: 1 outranks the 20 ms backoff');
      assert.equal(proxied.metrics().retries, 4);
      const loud = logger.entries.filter(
        (entry) => entry.level === 'error' && /credentials/.test(entry.message),
      );
      assert.equal(loud.length, 2);
      assert.equal(await count(influx, 'faults'), 10);
    } finally {
      await proxy.close();
    }
  });

  it('stop() ends a write that cannot succeed with WriterStoppedError', async () => {
    const writer = new InfluxWriter({
      connection: { url: 'http://127.0.0.1:9', database: 'never', timeout_ms: 1000 },
      retryMinMs: 10,
      retryMaxMs: 50,
    });
    writer.start();
    const pending = writer.write(lines('d6', 3));
    await waitUntil('a failed attempt', async () => writer.metrics().retries >= 1);
    writer.stop();
    await assert.rejects(pending, WriterStoppedError);
  });
});
