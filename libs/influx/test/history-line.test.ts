import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { historyToLines, LineProtocolError } from '@wattbus/influx';

describe('historyToLines', () => {
  it('writes one energy_history point per interval, by its start, with its length', () => {
    const lines = historyToLines({
      device: 'desk-3',
      source: 'tplink-daystat',
      period: 'day',
      intervals: [
        { start: '2026-10-24T22:00:00.000Z', end: '2026-10-25T23:00:00.000Z', energy_wh: 1168 },
        { start: '2026-10-25T23:00:00.000Z', end: '2026-10-26T23:00:00.000Z', energy_wh: 0 },
      ],
    });
    assert.deepEqual(lines, [
      'energy_history,device=desk-3,period=day,source=tplink-daystat duration_ms=90000000,energy_wh=1168 1792879200000',
      'energy_history,device=desk-3,period=day,source=tplink-daystat duration_ms=86400000,energy_wh=0 1792969200000',
    ]);
  });

  it('refuses an interval that ends before it starts', () => {
    assert.throws(
      () =>
        historyToLines({
          device: 'desk-3',
          source: 'tplink-daystat',
          period: 'day',
          intervals: [{ start: '2026-10-25T23:00:00.000Z', end: '2026-10-25T23:00:00.000Z', energy_wh: 1 }],
        }),
      (error: unknown) =>
        error instanceof LineProtocolError && /must end after it starts/.test(error.message),
    );
  });
});
