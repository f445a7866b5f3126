import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CounterSteps, DEFAULT_COUNTER_RULES, type CounterRules } from '../src/index.js';

const MINUTE = 60_000;
const T0 = Date.parse('2026-11-23T08:00:00Z');

/** Energy (Wh) a counter's readings give, one reading a minute, every reading decided. */
function energyOf(values: readonly number[], rules: CounterRules = DEFAULT_COUNTER_RULES): number {
  const steps = new CounterSteps(rules);
  const all = values.flatMap((value, i) => steps.push({ ts: T0 + i * MINUTE, value }));
  all.push(...steps.flush());
  return all.reduce((sum, step) => sum + step.wh, 0);
}

describe('energy from a counter', () => {
  it('one-off dip to zero: the dip is ignored (not a reset that counts the whole counter again)', () => {
    assert.equal(energyOf([1_000_000, 1_000_010, 0, 1_000_050, 1_000_060]), 60);
    // A dip lasting up to glitchReadings readings, and one to a non-zero garbage value.
    assert.equal(energyOf([1_000_000, 1_000_010, 0, 0, 0, 1_000_050]), 50);
    assert.equal(energyOf([1_000_000, 1_000_010, 512, 1_000_050]), 50);
  });

  it('one-off spike: the spike is ignored, whether it falls back or rises faster than the device can', () => {
    assert.equal(energyOf([1_000_000, 1_000_010, 9_999_999, 1_000_050]), 50);
    assert.equal(energyOf([1_000_000, 1_000_010, 3.4e12, 3.4e12, 1_000_050]), 50);
    const rated = { ...DEFAULT_COUNTER_RULES, maxPowerW: 4600 };
    // 5 kWh in a minute is 300 kW: not an HS110, even as the last reading (nothing to fall back to).
    assert.equal(energyOf([1_000_000, 1_000_010, 1_005_010], rated), 10);
  });

  it('a real reset counts the energy since the restart, as before', () => {
    assert.equal(energyOf([1400, 1500, 50, 250, 400]), 100 + 50 + 200 + 150);
    assert.equal(energyOf([1_000_000, 1_000_010, 3, 13, 23, 33]), 10 + 3 + 30);
    // Readings every 6 h: down to 50 and rising steadily back over the old value is use after a reset.
    assert.equal(energyOf([1400, 50, 250, 400, 1400]), 50 + 200 + 150 + 1000);
    // The counter was replaced by one at a higher value: a new baseline, nothing counted for it.
    assert.equal(energyOf([1_000_000, 1_000_010, 700_000, 700_010, 700_020, 700_030]), 10 + 30);
  });

  it('rounding jitter: tiny backward steps count nothing, and neither does the climb back', () => {
    assert.equal(energyOf([10_000, 9_999, 10_000, 9_998, 10_010, 10_009, 10_020]), 20);
    assert.equal(energyOf([10_000, 9_991, 9_991, 9_991, 9_991, 9_991]), 0);
  });

  it('decides a reading once glitchReadings readings followed it; preview answers before that', () => {
    const steps = new CounterSteps();
    assert.deepEqual(steps.push({ ts: T0, value: 100 }), []);
    assert.deepEqual(steps.push({ ts: T0 + MINUTE, value: 110 }), []);
    assert.deepEqual(steps.preview(), [{ fromMs: T0, toMs: T0 + MINUTE, wh: 10 }]);
    steps.push({ ts: T0 + 2 * MINUTE, value: 120 });
    steps.push({ ts: T0 + 3 * MINUTE, value: 130 });
    assert.deepEqual(steps.push({ ts: T0 + 4 * MINUTE, value: 140 }), [
      { fromMs: T0, toMs: T0 + MINUTE, wh: 10 },
    ]);
    // The state survives a restart (the alert hook keeps it in a file).
    const restored = new CounterSteps(DEFAULT_COUNTER_RULES, JSON.parse(JSON.stringify(steps.state)));
    assert.deepEqual(
      restored.flush().map((step) => step.wh),
      [10, 10, 10],
    );
  });
});
