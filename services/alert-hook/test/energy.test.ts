import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { silentLogger } from '@wattbus/runtime';
import { DailyEnergy } from '../src/index.js';

describe('daily energy', () => {
  test('sums counter increases since local midnight, survives a counter reset and a restart', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'energy-')), 'energy.json');
    // 2026-11-23 22:30 UTC is 23:30 in Berlin: the local day ends half an hour later.
    let now = Date.parse('2026-11-23T22:30:00.000Z');
    const deps = { file, time_zone: 'Europe/Berlin', clock: () => now, logger: silentLogger() };
    const energy = new DailyEnergy(deps);
    await energy.start();
    assert.equal(energy.today('heater'), undefined, 'never read');
    energy.record('heater', 10_000); // the baseline
    energy.record('heater', 10_400);
    energy.record('heater', 50); // the plug's counter was reset: 50 Wh since then
    energy.record('heater', 150);
    assert.equal(energy.today('heater'), 550);
    assert.equal(energy.day(now), '2026-11-23');
    await energy.save();

    const restarted = new DailyEnergy(deps);
    await restarted.start();
    assert.equal(restarted.today('heater'), 550, 'the morning is not forgotten');
    now = Date.parse('2026-11-23T23:00:00.000Z'); // local midnight in Berlin
    assert.equal(restarted.day(now), '2026-11-24');
    assert.equal(restarted.today('heater'), 0, 'a new local day starts at zero');
    // Issue 17 #6: the step from yesterday's last reading (150) to today's first (200) used to
    // count toward neither day; a step counts in the day of its later reading, so 50 + 60.
    restarted.record('heater', 200);
    restarted.record('heater', 260);
    assert.equal(restarted.today('heater'), 110);
  });

  test('the step across local midnight counts in the day of its later reading, as in the query component', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'energy-')), 'energy.json');
    let now = Date.parse('2026-11-23T22:58:00.000Z'); // 23:58 in Berlin
    const energy = new DailyEnergy({
      file,
      time_zone: 'Europe/Berlin',
      clock: () => now,
      logger: silentLogger(),
    });
    await energy.start();
    energy.record('heater', 1000);
    now += 2 * 60_000;
    energy.record('heater', 1040); // 00:00: the 40 Wh since 23:58 end in the new day
    now += 2 * 60_000;
    energy.record('heater', 1080);
    assert.equal(energy.day(now), '2026-11-24');
    assert.equal(energy.today('heater'), 80);
  });

  test('a one-off zero of the counter is a glitch, not a reset; a spike is one too', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'energy-')), 'energy.json');
    let now = Date.parse('2026-11-23T08:00:00.000Z');
    const energy = new DailyEnergy({ file, time_zone: 'UTC', clock: () => now, logger: silentLogger() });
    await energy.start();
    for (const value of [1_000_000, 1_000_010, 0, 1_000_050, 9_999_999, 1_000_060, 1_000_070]) {
      energy.record('meter', value);
      now += 60_000;
    }
    assert.equal(energy.today('meter'), 70, 'not 1,000 kWh');
    await energy.save();
    const restarted = new DailyEnergy({ file, time_zone: 'UTC', clock: () => now, logger: silentLogger() });
    await restarted.start();
    assert.equal(restarted.today('meter'), 70);
  });
});
