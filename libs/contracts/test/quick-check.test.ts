import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isWellFormedReading, quickReadingCheckEnabled, schemaShape } from '../src/quick-check.js';
import { ReadingSchema } from '../src/schemas.js';
import { quickValidator, validator } from '../src/validation.js';

const quick = isWellFormedReading;
const full = validator(ReadingSchema);
const checkReading = quickValidator(ReadingSchema, isWellFormedReading);

/** Mostly plausible values, sometimes anything at all. */
const maybe = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: good, weight: 30 }, { arbitrary: fc.anything(), weight: 1 });
const number = (min: number, max: number) =>
  fc.oneof({ arbitrary: fc.double({ min, max, noNaN: true }), weight: 30 }, fc.double(), fc.anything());
/** Strings around `limit` (the schema's maxLength), in ASCII and in characters of two UTF-16 units. */
const text = (limit: number) =>
  maybe(
    fc.oneof(
      fc.string({ minLength: 1, maxLength: limit + 6 }),
      fc.string({ unit: 'binary', maxLength: limit + 6 }),
      fc.constantFrom(0, 1, limit - 1, limit, limit + 1).map((length) => 'x'.repeat(length)),
      fc.constantFrom(1, limit / 2, limit / 2 + 1, limit).map((length) => '😀'.repeat(length)),
    ),
  );

/** Reading-like objects: optional keys present or not, values in and out of the schema, sometimes a stray key. */
const readingLike = fc
  .tuple(
    fc.record(
      {
        ts: maybe(
          fc.oneof(
            {
              weight: 5,
              arbitrary: fc
                .date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true })
                .map((date) => date.toISOString()),
            },
            fc.constantFrom('2026-02-30T00:00:00Z', '2026-12-31T23:59:60Z', '2026-01-01t00:00:00z', ''),
          ),
        ),
        device: maybe(
          fc.oneof({ arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,70}$/), weight: 5 }, fc.string()),
        ),
        power_w: number(-1e7, 1e7),
        voltage_v: number(0, 500),
        current_a: number(0, 500),
        energy_wh: number(0, 1e9),
        energy_returned_wh: number(0, 1e9),
        power_factor: number(-1, 1),
        frequency_hz: number(0, 70),
        phase: fc.oneof(
          { arbitrary: fc.constantFrom('L1', 'L2', 'L3'), weight: 5 },
          fc.constantFrom('L4', 'l1', 1),
        ),
        type: text(64),
        location: text(256),
      },
      { requiredKeys: ['ts', 'device', 'power_w'] },
    ),
    fc.oneof({ arbitrary: fc.constant(null), weight: 10 }, fc.tuple(fc.string(), fc.anything())),
  )
  .map(([reading, extra]) => (extra ? { ...reading, [extra[0]]: extra[1] } : reading));

describe('the quick reading check', () => {
  it('accepts the common well-formed reading without ajv', () => {
    assert.equal(quickReadingCheckEnabled, true);
    const reading = {
      ts: '2026-11-23T18:45:00.000Z',
      device: 'meter-7',
      power_w: 142.3,
      voltage_v: 230.1,
      current_a: 0.62,
      energy_wh: 1000,
      type: 'modbus',
      location: 'hq/floor-1/panel-a',
    };
    assert.equal(quick(reading), true);
    for (const example of ReadingSchema.examples as unknown[]) assert.equal(quick(example), true);
  });

  it('never accepts what ajv refuses, and the validator gives ajv’s verdicts (property)', () => {
    let quickOnes = 0;
    fc.assert(
      fc.property(readingLike, (value) => {
        const verdict = full(value);
        if (quick(value)) {
          quickOnes++;
          assert.equal(verdict, true, JSON.stringify(value));
        }
        assert.equal(checkReading(value), verdict, JSON.stringify(value));
      }),
      { numRuns: 10_000 },
    );
    // The property is worth something only if both answers came up often.
    assert.ok(quickOnes > 500, `${quickOnes} quick acceptances`);
  });

  it('explains a refused reading as ajv does', () => {
    assert.equal(checkReading({ ts: '2026-11-23T18:45:00Z', device: 'Meter 7', power_w: 1 }), false);
    assert.match(checkReading.errorText(), /\/device: must match pattern/);
  });

  it('is on only while ReadingSchema is the schema it was written for', () => {
    assert.equal(
      quickReadingCheckEnabled,
      true,
      `update isWellFormedReading for ${schemaShape(ReadingSchema)}`,
    );
  });
});
