import { createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WattbusError } from '@wattbus/contracts';
import { freePort, startInflux, type InfluxServer } from '@wattbus/testing';
import {
  InfluxQL,
  InfluxQueryClient,
  calendarBuckets,
  fromLocal,
  isTimeZone,
  localTime,
  parseDuration,
  quote,
  seriesRows,
} from '../src/index.js';

const NASTY = [
  `x' OR device='y`,
  `x" OR "device"='y`,
  `a;DROP DATABASE q`,
  `line\nbreak`,
  `back\\slash'`,
  `/.*/`,
  `' OR 1=1 --`,
  `\\' OR 1=1`,
  `tab\there`,
];

describe('quote', () => {
  it('wraps in the right quote and escapes backslash, that quote and newlines', () => {
    assert.equal(quote('desk-3', 'string'), `'desk-3'`);
    assert.equal(quote('power_w', 'identifier'), `"power_w"`);
    assert.equal(quote(`x' OR 'a`, 'string'), `'x\\' OR \\'a'`);
    assert.equal(quote(`a"b'c`, 'identifier'), `"a\\"b'c"`);
    assert.equal(quote('a\\', 'string'), `'a\\\\'`);
    assert.equal(quote('a\nb', 'string'), `'a\\nb'`);
    assert.throws(() => quote('a\u0000b', 'string'), RangeError);
  });
});

describe('whitelists and builder', () => {
  it('accepts durations and IANA zones from the whitelist only', () => {
    assert.equal(parseDuration('15m').ms, 900_000);
    assert.equal(parseDuration('1w').ms, 604_800_000);
    for (const bad of ['0m', '1mo', '1m;', '1 m', '-1h', '1h OR 1=1'])
      assert.throws(() => parseDuration(bad));
    assert.ok(isTimeZone('Europe/Madrid'));
    assert.ok(isTimeZone('UTC'));
    assert.ok(isTimeZone('America/Argentina/Buenos_Aires'));
    for (const bad of ['Europe/Nowhere', "UTC')", 'Mars/Olympus', '', '../etc'])
      assert.equal(isTimeZone(bad), false);
  });

  it('binds values in bound mode and quotes them inline; functions, fills and zones are whitelisted', () => {
    const bound = new InfluxQL('bound');
    const where = bound.anyOf('device', ['a', `x' OR 1=1`]);
    assert.equal(where, `("device" = $p0 OR "device" = $p1)`);
    bound.statement(`SELECT ${bound.fn('mean', bound.ident('power_w'))} FROM "electricity" WHERE ${where}`);
    assert.deepEqual(bound.build().params, { p0: 'a', p1: `x' OR 1=1` });

    const inline = new InfluxQL('inline');
    assert.equal(inline.anyOf('device', [`x' OR 1=1`]), `("device" = 'x\\' OR 1=1')`);
    assert.equal(inline.range(0, 1000), 'time >= 0 AND time < 1000000000');
    assert.equal(inline.time(1_767_225_600_000), '1767225600000000000');
    assert.equal(inline.fill('zero'), 'fill(0)');
    assert.equal(inline.tz('Europe/Madrid'), `tz('Europe/Madrid')`);
    assert.throws(() => inline.tz(`UTC') ; DROP`), RangeError);
    assert.throws(() => inline.fill('bogus' as never), RangeError);
    assert.throws(() => inline.fn('drop' as never), RangeError);
    assert.throws(() => inline.range(10, 10), RangeError);
    assert.throws(() => inline.build(), RangeError);
  });
});

describe('calendar buckets', () => {
  const zone = 'Europe/Madrid';

  it('a local day is 23 hours on the spring DST change and 25 on the autumn one', () => {
    const spring = calendarBuckets(
      Date.parse('2026-03-28T23:00:00Z'),
      Date.parse('2026-03-30T22:00:00Z'),
      '1d',
      zone,
    );
    assert.deepEqual(
      spring.map((b) => [new Date(b.start).toISOString(), (b.end - b.start) / 3_600_000]),
      [
        ['2026-03-28T23:00:00.000Z', 23],
        ['2026-03-29T22:00:00.000Z', 24],
      ],
    );
    const autumn = calendarBuckets(
      Date.parse('2026-10-24T22:00:00Z'),
      Date.parse('2026-10-25T23:00:00Z'),
      '1d',
      zone,
    );
    assert.deepEqual(
      autumn.map((b) => (b.end - b.start) / 3_600_000),
      [25],
    );
  });

  it('weeks start on local Monday, months and years on the local 1st; edges are clipped', () => {
    const weeks = calendarBuckets(
      Date.parse('2026-11-04T12:00:00Z'),
      Date.parse('2026-11-17T00:00:00Z'),
      '1w',
      zone,
    );
    assert.deepEqual(
      weeks.map((b) => new Date(b.start).toISOString()),
      ['2026-11-04T12:00:00.000Z', '2026-11-08T23:00:00.000Z', '2026-11-15T23:00:00.000Z'],
    );
    const months = calendarBuckets(
      Date.parse('2025-12-31T23:00:00Z'),
      Date.parse('2026-12-31T23:00:00Z'),
      '1mo',
      zone,
    );
    assert.equal(months.length, 12);
    assert.equal(new Date(months[3]!.start).toISOString(), '2026-03-31T22:00:00.000Z');
    assert.equal(localTime(months[3]!.start, zone).day, 1);
    const hours = calendarBuckets(
      Date.parse('2026-03-29T00:00:00Z'),
      Date.parse('2026-03-29T03:00:00Z'),
      '1h',
      zone,
    );
    assert.equal(hours.length, 3);
  });

  it('finds the first occurrence of a repeated local hour and skips a missing one', () => {
    assert.equal(new Date(fromLocal(2026, 10, 25, 2, 30, zone)).toISOString(), '2026-10-25T00:30:00.000Z');
    assert.equal(new Date(fromLocal(2026, 3, 29, 2, 30, zone)).toISOString(), '2026-03-29T01:30:00.000Z');
    assert.equal(
      new Date(fromLocal(2026, 1, 1, 0, 0, 'Asia/Kolkata')).toISOString(),
      '2025-12-31T18:30:00.000Z',
    );
  });
});

describe('InfluxQueryClient against influxd', () => {
  let influx: InfluxServer;
  let client: InfluxQueryClient;
  const database = 'quoting';

  before(async () => {
    influx = await startInflux();
    await influx.createDatabase(database);
    // Tag values with quotes, semicolons, slashes and backslashes, written through line protocol.
    const lines = NASTY.filter((value) => !value.includes('\n')).map(
      (value, i) =>
        `electricity,device=${value.replace(/[, =]/g, (c) => `\\${c}`)} power_w=${i + 1} ${1000 + i}`,
    );
    lines.push('electricity,device=y power_w=100 2000', 'electricity,device=x power_w=200 2001');
    await influx.write(database, lines);
    client = new InfluxQueryClient({ connection: { url: influx.url, database, timeout_ms: 2000 } });
    await client.start();
  });
  after(() => influx.destroy());

  for (const mode of ['bound', 'inline'] as const) {
    it(`${mode}: every hostile value is one literal and finds only its own series`, async () => {
      for (const value of NASTY) {
        const q = new InfluxQL(mode);
        q.statement(
          `SELECT "power_w" FROM "electricity" WHERE "device" = ${q.value(value)} AND ${q.range(0, 10_000)}`,
        );
        const [result] = await client.run(q);
        const rows = result!.series.flatMap(seriesRows);
        if (value.includes('\n')) {
          assert.deepEqual(rows, [], `${JSON.stringify(value)} found ${JSON.stringify(rows)}`);
        } else {
          assert.deepEqual(
            rows.map((row) => row.power_w),
            [NASTY.filter((v) => !v.includes('\n')).indexOf(value) + 1],
            JSON.stringify(value),
          );
        }
      }
    });
  }

  it('uses bound params on 1.x', async () => {
    assert.equal(await client.paramMode(), 'bound');
  });

  it('a statement InfluxDB refuses is QUERY_FAILED', async () => {
    await assert.rejects(client.run({ text: 'SELECT nonsense(', params: {} }), (error: WattbusError) => {
      assert.equal(error.code, 'QUERY_FAILED');
      return true;
    });
  });

  it('a server that accepts and never answers is STORE_UNAVAILABLE after timeout_ms', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const hung = new InfluxQueryClient({
        connection: { url: `http://127.0.0.1:${port}`, database, timeout_ms: 300 },
      });
      await assert.rejects(
        hung.run({ text: 'SHOW DATABASES', params: {} }),
        (error: WattbusError) =>
          error.code === 'STORE_UNAVAILABLE' && /did not answer within 300 ms/.test(error.message),
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('a server that is not there is STORE_UNAVAILABLE', async () => {
    const nowhere = new InfluxQueryClient({
      connection: { url: `http://127.0.0.1:${await freePort()}`, database, timeout_ms: 1000 },
    });
    await nowhere.start();
    await assert.rejects(nowhere.builder(), (error: WattbusError) => error.code === 'STORE_UNAVAILABLE');
    await assert.rejects(
      nowhere.run({ text: 'SHOW DATABASES', params: {} }),
      (error: WattbusError) => error.code === 'STORE_UNAVAILABLE' && /unreachable/.test(error.message),
    );
  });
});
