import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Point } from '@influxdata/influxdb-client';
import {
  LineProtocolError,
  backoffDelayMs,
  checkTagValue,
  encodeLine,
  deviceOfLine,
  parseRetryAfterMs,
  pointToLine,
  readingToLine,
} from '../src/index.js';

const ts = '2026-11-23T18:45:00.000Z';
const ms = Date.parse(ts);

describe('readingToLine', () => {
  it('stores a reading as the electricity measurement: tags, float fields, ms time', () => {
    const line = readingToLine({
      ts,
      device: 'desk-3',
      power_w: 61,
      voltage_v: 231.4,
      current_a: 0.31,
      type: 'tplink',
      location: 'hq/floor-2',
    });
    assert.equal(
      line,
      `electricity,device=desk-3,location=hq/floor-2,type=tplink current_a=0.31,power_w=61,voltage_v=231.4 ${ms}`,
    );
  });

  it('escapes spaces, commas and equals signs in tags; quotes and unicode pass as they are', () => {
    const line = readingToLine({
      ts,
      device: 'a',
      power_w: 1,
      location: 'Bâtiment 2, "Süd"=ост 电',
      phase: 'L1',
    });
    assert.equal(
      line,
      `electricity,device=a,location=Bâtiment\\ 2\\,\\ "Süd"\\=ост\\ 电,phase=L1 power_w=1 ${ms}`,
    );
  });

  it('writes the line encodeLine writes for the same point (escapes, every field, fractional ms)', () => {
    const reading = {
      ts: '2026-11-23T18:45:00.123Z',
      device: 'meter_7',
      power_w: -12.5,
      voltage_v: 230.1,
      current_a: 0.43,
      energy_wh: 1e12,
      energy_returned_wh: 0,
      power_factor: -0.98,
      frequency_hz: 49.99,
      phase: 'L3' as const,
    };
    const registry = { type: 'a=b,c', location: 'tab\there\nnewline\rreturn' };
    const { ts: _, device, phase, ...numbers } = reading;
    const fields = Object.fromEntries(
      Object.entries(numbers)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, value]) => [key, { type: 'float' as const, value }]),
    );
    assert.equal(
      readingToLine(reading, registry),
      encodeLine({
        measurement: 'electricity',
        tags: { device, location: registry.location, phase, type: registry.type },
        fields,
        timestamp: Date.parse(reading.ts),
      }),
    );
  });

  it('fills type and location from the registry only where the reading lacks them', () => {
    const fromRegistry = readingToLine({ ts, device: 'a', power_w: 1 }, { type: 'shelly', location: 'x' });
    assert.match(fromRegistry, /^electricity,device=a,location=x,type=shelly /);
    const own = readingToLine({ ts, device: 'a', power_w: 1, type: 'kasa' }, { type: 'shelly' });
    assert.match(own, /,type=kasa /);
  });

  it('refuses a tag value ending in a backslash (it would escape the separator)', () => {
    assert.throws(
      () => readingToLine({ ts, device: 'a', power_w: 1, location: 'room\\' }),
      (error: unknown) =>
        error instanceof LineProtocolError && /location .* end with a backslash/.test(error.message),
    );
    assert.throws(() => checkTagValue('type', ''), LineProtocolError);
    assert.equal(checkTagValue('location', 'a\\b'), 'a\\b');
  });

  it('refuses what line protocol cannot carry: non-finite numbers, bad dates, no fields', () => {
    assert.throws(() => readingToLine({ ts, device: 'a', power_w: Number.NaN }), LineProtocolError);
    assert.throws(() => readingToLine({ ts: 'yesterday', device: 'a', power_w: 1 }), LineProtocolError);
    assert.throws(() => pointToLine(new Point('electricity').tag('device', 'a')), LineProtocolError);
  });

  it('finds the device of a line for dead letters', () => {
    assert.equal(deviceOfLine(readingToLine({ ts, device: 'printer_2f', power_w: 1 })), 'printer_2f');
    assert.equal(deviceOfLine('cpu,host=a value=1'), undefined);
    assert.equal(
      deviceOfLine(
        'energy_history,device=desk-3,period=day,source=tplink-daystat duration_ms=1,energy_wh=2 0',
      ),
      'desk-3',
    );
  });
});

describe('backoff', () => {
  it('grows exponentially with jitter inside its bounds', () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(1000, 100 * 2 ** (attempt - 1));
      const delay = backoffDelayMs(attempt, { minMs: 100, maxMs: 1000 });
      assert.ok(delay >= ceiling / 2 && delay <= ceiling, `attempt ${attempt}: ${delay}`);
    }
  });

  it('honours Retry-After in seconds or as an HTTP date, capped at five minutes', () => {
    assert.equal(parseRetryAfterMs('3'), 3000);
    assert.equal(parseRetryAfterMs(undefined), 0);
    assert.equal(parseRetryAfterMs('soon'), 0);
    const now = Date.parse('2026-11-23T18:45:00.000Z');
    assert.equal(parseRetryAfterMs('Mon, 23 Nov 2026 18:45:10 GMT', now), 10_000);
    assert.equal(backoffDelayMs(1, { minMs: 100, maxMs: 1000 }, 7000), 7000);
    assert.equal(backoffDelayMs(1, { minMs: 100, maxMs: 1000 }, 86_400_000), 300_000);
  });
});
