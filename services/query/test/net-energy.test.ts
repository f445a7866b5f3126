import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Bus } from '@wattbus/bus';
import { EnergyResultSchema, validator, type EnergyResult, type Reading } from '@wattbus/contracts';
import { readingToLine } from '@wattbus/influx';
import { ask, startQueryStack, type QueryStack } from './helpers.js';

const MINUTE = 60_000;
const DAY = Date.parse('2026-06-21T00:00:00Z');
const checkResult = validator(EnergyResultSchema);

/**
 * A Pro 3EM at the grid connection of a solar home, over one day (issue 19), read every 5 minutes
 * as the Shelly driver publishes it: three phases and a total, each with the imported counter
 * (`energy_wh`), the returned counter (`energy_returned_wh`) and signed power. Steps ending in
 * 00:00–05:55 and 18:00–23:55 import 40 Wh (480 W); steps ending in 06:00–17:55 export 100 Wh
 * (1200 W). One one-off dip of the returned counter to 0 is a glitch, not a reset.
 */
function exportingDay(): Reading[] {
  const readings: Reading[] = [];
  let imported = 1_000_000;
  let returned = 500_000;
  const split = [0.5, 0.25, 0.25];
  for (let ts = DAY - 5 * MINUTE; ts <= DAY + 24 * 60 * MINUTE; ts += 5 * MINUTE) {
    const hour = new Date(ts).getUTCHours();
    const exporting = ts > DAY - 5 * MINUTE && hour >= 6 && hour < 18;
    if (ts > DAY - 5 * MINUTE) {
      if (exporting) returned += 100;
      else imported += 40;
    }
    const power = exporting ? -1200 : 480;
    const iso = new Date(ts).toISOString();
    const base = { ts: iso, device: 'solar-home', type: 'shelly', location: 'home/cellar' };
    readings.push({ ...base, power_w: power, energy_wh: imported, energy_returned_wh: returned });
    (['L1', 'L2', 'L3'] as const).forEach((phase, index) =>
      readings.push({
        ...base,
        phase,
        power_w: power * split[index]!,
        energy_wh: (imported - 1_000_000) * split[index]!,
        energy_returned_wh: (returned - 500_000) * split[index]!,
      }),
    );
  }
  // The meter answers 0 once for its returned counter at 12:02:30, then is back on its trend.
  readings.push({
    ts: new Date(DAY + 12 * 60 * MINUTE + 150_000).toISOString(),
    device: 'solar-home',
    power_w: -1200,
    energy_wh: 1_000_000 + 6 * 12 * 40,
    energy_returned_wh: 0,
  });
  // A plug beside it counts imported energy only: 10 Wh every 5 minutes.
  for (let step = -1; step < 288; step++) {
    readings.push({
      ts: new Date(DAY + step * 5 * MINUTE).toISOString(),
      device: 'fridge',
      power_w: 120,
      energy_wh: 510 + step * 10,
    });
  }
  return readings;
}

describe('import, export and net energy of an exporting meter (aedes, influxd)', () => {
  let client: Bus;
  let stack: QueryStack;

  before(async () => {
    // Stored as the storage hook stores readings: one line each from readingToLine.
    stack = await startQueryStack({
      lines: exportingDay().map((reading) => readingToLine(reading)),
      extra: { warmup_lookback_ms: 0 },
    });
    client = stack.client;
  });

  after(() => stack?.stop());

  const energy = async (device: string, every: string, from = DAY, to = DAY + 86_400_000) => {
    const result = await ask<EnergyResult>(client, 'energy', {
      device,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      every,
      tz: 'UTC',
    });
    assert.ok(checkResult(result), checkResult.errorText());
    return result;
  };

  it('over the day: 5.76 kWh imported, 14.4 kWh exported, net −8.64 kWh', async () => {
    const result = await energy('solar-home', '1d');
    assert.equal(result.method, 'counter');
    assert.deepEqual(result.buckets, [
      {
        start: '2026-06-21T00:00:00.000Z',
        end: '2026-06-22T00:00:00.000Z',
        energy_kwh: 5.76,
        export_kwh: 14.4,
        net_kwh: -8.64,
      },
    ]);
    assert.equal(result.total_kwh, 5.76);
    assert.equal(result.total_export_kwh, 14.4);
    assert.equal(result.total_net_kwh, -8.64);
  });

  it('per hour: import at night, export by day, net of each; the glitch at 12:02 counts nothing', async () => {
    const result = await energy('solar-home', '1h');
    assert.equal(result.buckets.length, 24);
    const hours = result.buckets.map((bucket) => [bucket.energy_kwh, bucket.export_kwh, bucket.net_kwh]);
    for (const [hour, values] of hours.entries()) {
      const exporting = hour >= 6 && hour < 18;
      assert.deepEqual(values, exporting ? [0, 1.2, -1.2] : [0.48, 0, 0.48], `hour ${hour}`);
    }
    assert.equal(result.total_export_kwh, 14.4);
    assert.equal(result.total_net_kwh, -8.64);
  });

  it('a part of the day: 05:00–07:00 imports 0.48 and exports 1.2 kWh', async () => {
    const result = await energy('solar-home', '1h', DAY + 5 * 60 * MINUTE, DAY + 7 * 60 * MINUTE);
    assert.deepEqual(
      result.buckets.map((bucket) => [bucket.energy_kwh, bucket.export_kwh, bucket.net_kwh]),
      [
        [0.48, 0, 0.48],
        [0, 1.2, -1.2],
      ],
    );
    assert.equal(result.total_net_kwh, -0.72);
  });

  it('a device without a returned-energy counter answers import only, as before', async () => {
    const result = await energy('fridge', '1d');
    assert.equal(result.total_kwh, 2.88);
    assert.equal(result.total_export_kwh, undefined);
    assert.equal(result.total_net_kwh, undefined);
    assert.deepEqual(Object.keys(result.buckets[0]!).sort(), ['end', 'energy_kwh', 'start']);
  });
});
