import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import addFormatsPlugin from 'ajv-formats';
import { Type } from '@sinclair/typebox';
import fc from 'fast-check';
import { isCanonicalUtcTimestamp, timestampMs } from '../src/timestamp-format.js';
import { validator } from '../src/validation.js';

// ajv-formats is CommonJS; under ESM interop its function may sit on `.default`.
const addFormats = ((addFormatsPlugin as unknown as { default?: typeof addFormatsPlugin }).default ??
  addFormatsPlugin) as typeof addFormatsPlugin;
const fullCheck = addFormats.get('date-time') as { validate: (text: string) => boolean };
const checkTimestamp = validator(Type.String({ format: 'date-time' }));

const ACCEPTED = [
  '2026-11-23T18:45:00.000Z',
  '2026-11-23T18:45:00Z',
  '2024-02-29T23:59:59.9Z',
  '2000-02-29T00:00:00.123456789Z',
  '0001-01-01T00:00:00Z',
];
/** Refused by the quick test: each is either no date-time or left to the full check. */
const NOT_QUICK = [
  '2025-02-29T00:00:00Z', // not a leap year
  '1900-02-29T00:00:00Z',
  '2026-04-31T00:00:00Z',
  '2026-13-01T00:00:00Z',
  '2026-00-01T00:00:00Z',
  '2026-01-00T00:00:00Z',
  '2026-01-01T24:00:00Z',
  '2026-01-01T23:60:00Z',
  '2026-12-31T23:59:60Z', // a leap second: valid, for the full check to say
  '2026-01-01T00:00:00.Z',
  '2026-01-01T00:00:00.1',
  '2026-01-01t00:00:00z', // lower case: valid, for the full check
  '2026-01-01 00:00:00Z',
  '2026-01-01T00:00:00+01:00',
  '2026-1-01T00:00:00Z',
  '+2026-01-01T00:00:00Z',
  '2026-01-01T00:00:0aZ',
  '2026-01-01T00:00:00.1a2Z',
  '２０２６-01-01T00:00:00Z',
  '',
  'yesterday',
];

describe('the date-time format', () => {
  it('answers the common UTC form quickly, and the full check agrees', () => {
    for (const text of ACCEPTED) {
      assert.equal(isCanonicalUtcTimestamp(text), true, text);
      assert.equal(fullCheck.validate(text), true, text);
      assert.equal(checkTimestamp(text), true, text);
    }
  });

  it("leaves everything else to the full check, so the verdicts stay ajv-formats' own", () => {
    for (const text of NOT_QUICK) {
      assert.equal(isCanonicalUtcTimestamp(text), false, text);
      assert.equal(checkTimestamp(text), fullCheck.validate(text), text);
    }
    assert.equal(checkTimestamp('2026-12-31T23:59:60Z'), true);
    assert.equal(checkTimestamp('2026-02-30T00:00:00Z'), false);
    assert.match(checkTimestamp.errorText(), /must match format "date-time"/);
  });

  it('never accepts what the full check refuses (every day and time field of many strings)', () => {
    let checked = 0;
    for (let month = 0; month <= 13; month++) {
      for (let day = 0; day <= 32; day++) {
        for (const year of ['1900', '2000', '2024', '2026']) {
          for (const time of ['00:00:00', '23:59:59.5', '24:00:00', '12:60:00', '12:00:61']) {
            const text = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T${time}Z`;
            if (isCanonicalUtcTimestamp(text)) assert.equal(fullCheck.validate(text), true, text);
            assert.equal(checkTimestamp(text), fullCheck.validate(text), text);
            checked++;
          }
        }
      }
    }
    assert.equal(checked, 14 * 33 * 4 * 5);
  });
});

/** Strings shaped like `YYYY-MM-DDTHH:MM:SS[.fff]Z`, each part possibly out of range or malformed. */
const timestampLike = fc
  .tuple(
    fc.integer({ min: 0, max: 9999 }),
    fc.integer({ min: 0, max: 13 }),
    fc.integer({ min: 0, max: 32 }),
    fc.integer({ min: 0, max: 25 }),
    fc.integer({ min: 0, max: 61 }),
    fc.integer({ min: 0, max: 61 }),
    fc.constantFrom('', '.', '.5', '.12', '.123', '.1234', '.12a'),
    fc.constantFrom('Z', 'z', '+01:00', ''),
    fc.constantFrom('T', 't', ' '),
  )
  .map(([year, month, day, hour, minute, second, fraction, zone, separator]) => {
    const two = (n: number) => String(n).padStart(2, '0');
    return `${String(year).padStart(4, '0')}-${two(month)}-${two(day)}${separator}${two(hour)}:${two(minute)}:${two(second)}${fraction}${zone}`;
  });

describe('timestampMs', () => {
  const sameAsDateParse = (text: string) => Object.is(timestampMs(text), Date.parse(text));

  it('is Date.parse for every instant JavaScript can write (property)', () => {
    const instant = fc.date({
      min: new Date(-62_198_755_200_000),
      max: new Date(253_402_300_799_999),
      noInvalidDate: true,
    });
    fc.assert(
      fc.property(instant, (date) => sameAsDateParse(date.toISOString())),
      { numRuns: 20_000 },
    );
    fc.assert(fc.property(instant, (date) => sameAsDateParse(date.toISOString().replace(/\.\d{3}Z$/, 'Z'))));
  });

  it('is Date.parse for timestamp-like strings with any part out of range (property)', () => {
    fc.assert(fc.property(timestampLike, sameAsDateParse), { numRuns: 20_000 });
  });

  it('is Date.parse for any string, and the same string asked twice (property)', () => {
    fc.assert(fc.property(fc.string(), (text) => sameAsDateParse(text) && sameAsDateParse(text)));
    for (const text of [...ACCEPTED, ...NOT_QUICK, '0000-01-01T00:00:00Z', '0099-12-31T23:59:59.999Z'])
      assert.ok(sameAsDateParse(text), text);
  });
});
