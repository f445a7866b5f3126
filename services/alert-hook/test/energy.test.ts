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
    restarted.record('heater', 200); // the first reading of the day is the new baseline
    restarted.record('heater', 260);
    assert.equal(restarted.today('heater'), 60);
  });
});
