import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { STORABLE_FROM_MS, STORABLE_UNTIL_MS } from '@wattbus/contracts';
import { isoTimes } from '../src/iso-times.js';

describe('isoTimes', () => {
  it('gives what toISOString gives, for any timestamps in any order', () => {
    const edges = [0, 1, 86_399_999, 86_400_000, Date.UTC(2024, 1, 29, 23, 59, 59, 999), -1, 0.5];
    const iso = isoTimes();
    for (const ms of edges) assert.equal(iso(ms), new Date(ms).toISOString(), String(ms));
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: STORABLE_FROM_MS, max: STORABLE_UNTIL_MS }), { maxLength: 50 }),
        (timestamps) => {
          const format = isoTimes();
          for (const ms of timestamps) assert.equal(format(ms), new Date(ms).toISOString());
        },
      ),
    );
  });

  it('a day at one minute, point after point', () => {
    const iso = isoTimes();
    const start = Date.UTC(2026, 10, 29, 12, 30);
    for (let ms = start; ms < start + 86_400_000; ms += 60_000)
      assert.equal(iso(ms), new Date(ms).toISOString());
  });
});
