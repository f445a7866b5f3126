import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { READING_FIELDS, STORABLE_FROM_MS, STORABLE_UNTIL_MS, type ReadingsResult } from '@wattbus/contracts';
import { PointTable } from '../src/point-table.js';
import { decimalText, round } from '../src/rounding.js';

const HEAD: Omit<ReadingsResult, 'points'> = {
  device: 'désk-1',
  from: '2026-11-30T00:00:00.000Z',
  to: '2026-12-01T00:00:00.000Z',
  fields: ['power_w', 'voltage_v'],
  every: '1m',
  fn: 'mean',
  phase: null,
};

describe('PointTable', () => {
  it('writes what JSON.stringify writes for the same points, in time order, fields of several statements on one row', () => {
    const table = new PointTable(['power_w', 'voltage_v']);
    // Two statements on the same grid, the second arriving out of order and with a new time.
    for (const [ms, watts] of [
      [120_000, 1.5],
      [60_000, -0],
      [180_000, null],
    ] as const)
      table.set(table.row(ms), 0, watts);
    for (const [ms, volts] of [
      [60_000, 230.1],
      [0, 229],
    ] as const)
      table.set(table.row(ms), 1, volts);
    const expected: ReadingsResult = {
      ...HEAD,
      points: [
        { ts: '1970-01-01T00:00:00.000Z', power_w: null, voltage_v: 229 },
        { ts: '1970-01-01T00:01:00.000Z', power_w: 0, voltage_v: 230.1 },
        { ts: '1970-01-01T00:02:00.000Z', power_w: 1.5, voltage_v: null },
        { ts: '1970-01-01T00:03:00.000Z', power_w: null, voltage_v: null },
      ],
    };
    assert.equal(table.size, 4);
    assert.equal(table.toJson(HEAD).bytes.toString('utf8'), JSON.stringify(expected));
  });

  it('is JSON.stringify of the points for any timestamps and values', () => {
    const value = fc.oneof(fc.constant(null), fc.double({ noNaN: true, noDefaultInfinity: true }));
    const rows = fc.array(
      fc.tuple(fc.integer({ min: STORABLE_FROM_MS, max: STORABLE_UNTIL_MS }), fc.nat(5), value),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(rows, (entries) => {
        const fields = READING_FIELDS.slice(0, 6);
        const table = new PointTable(fields);
        const byTime = new Map<number, Record<string, unknown>>();
        for (const [ms, field, v] of entries) {
          table.set(table.row(ms), field, v);
          const point = byTime.get(ms) ?? Object.fromEntries(fields.map((name) => [name, null]));
          point[fields[field]!] = v;
          byTime.set(ms, point);
        }
        const points = [...byTime]
          .sort(([a], [b]) => a - b)
          .map(([ms, point]) => ({ ts: new Date(ms).toISOString(), ...point }));
        const head = { ...HEAD, fields: [...fields] };
        assert.equal(table.toJson(head).bytes.toString('utf8'), JSON.stringify({ ...head, points }));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('decimalText', () => {
  it('is String() for every value round() gives, and for any other double', () => {
    for (const [value, decimals] of [
      [0, 3],
      [-0, 3],
      [-0.001, 3],
      [0.0001, 4],
      [1e15, 3],
      [123456789012.345, 3],
      [0.30000000000000004, 3],
      [5e-324, 4],
    ] as const)
      assert.equal(decimalText(value, decimals), String(value), `${value}`);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        ),
        fc.integer({ min: 0, max: 4 }),
        (value, decimals) => {
          const rounded = round(value, decimals);
          assert.equal(decimalText(rounded, decimals), String(rounded));
          assert.equal(decimalText(value, decimals), String(value));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
