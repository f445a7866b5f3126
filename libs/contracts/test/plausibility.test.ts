import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AlertListParamsSchema,
  DEFAULT_READING_LIMITS,
  EnergyParamsSchema,
  STORABLE_RANGE_MESSAGE,
  TotalsParamsSchema,
  isFromTheFuture,
  mergeLimits,
  plausibilityProblem,
  validator,
  type Reading,
} from '../src/index.js';

const NOW = Date.parse('2026-11-23T18:45:00.000Z');
const reading = (values: Partial<Reading>): Reading => ({
  ts: '2026-11-23T18:45:00.000Z',
  device: 'desk-3',
  power_w: 61.2,
  ...values,
});
const HS110 = { max_power_w: 4600, max_current_a: 20, max_voltage_v: 300 };

describe('plausibility of readings', () => {
  it('accepts what the device can report, at its limits and below', () => {
    assert.equal(plausibilityProblem(reading({}), HS110, { nowMs: NOW }), undefined);
    assert.equal(plausibilityProblem(reading({ power_w: -4600 }), HS110, { nowMs: NOW }), undefined);
    assert.equal(plausibilityProblem(reading({ energy_wh: 1_000_000 }), HS110, { nowMs: NOW }), undefined);
  });

  it('refuses the HS110 firmware glitch and float32 garbage, naming field, value and limit', () => {
    assert.equal(
      plausibilityProblem(reading({ power_w: 23_456_789 }), HS110, { nowMs: NOW }),
      "power_w 23456789 W is beyond the device's limit of ±4600 W (max_power_w)",
    );
    assert.match(
      plausibilityProblem(reading({ energy_wh: 3.4e38 }), HS110, { nowMs: NOW })!,
      /^energy_wh 3\.4e\+38 Wh is beyond the device's limit of 10000000000000 Wh \(max_energy_wh\)$/,
    );
    assert.match(plausibilityProblem(reading({ current_a: 21 }), HS110, { nowMs: NOW })!, /max_current_a/);
    // A device without any known limits still has the defaults: nothing a building can draw.
    assert.match(plausibilityProblem(reading({ power_w: 1e308 }), {}, { nowMs: NOW })!, /max_power_w/);
    assert.match(
      plausibilityProblem(reading({ frequency_hz: 5e4 }), {}, { nowMs: NOW })!,
      /max_frequency_hz/,
    );
  });

  it('bounds the returned-energy counter like the imported one', () => {
    assert.equal(
      plausibilityProblem(reading({ energy_returned_wh: 906_310.25 }), HS110, { nowMs: NOW }),
      undefined,
    );
    assert.match(
      plausibilityProblem(reading({ energy_returned_wh: 3.4e38 }), HS110, { nowMs: NOW })!,
      /^energy_returned_wh 3\.4e\+38 Wh is beyond the device's limit of 10000000000000 Wh \(max_energy_wh\)$/,
    );
  });

  it('refuses a timestamp from the future beyond the tolerance', () => {
    const ahead = new Date(NOW + 400 * 86_400_000).toISOString();
    assert.match(
      plausibilityProblem(reading({ ts: ahead }), HS110, { nowMs: NOW })!,
      /is 400 days in the future \(more than 300000 ms\)/,
    );
    const skewed = new Date(NOW + 60_000).toISOString();
    assert.equal(plausibilityProblem(reading({ ts: skewed }), HS110, { nowMs: NOW }), undefined);
    assert.ok(plausibilityProblem(reading({ ts: skewed }), HS110, { nowMs: NOW, futureToleranceMs: 1000 }));
    assert.equal(isFromTheFuture(NOW + 300_000, NOW), false);
    assert.equal(isFromTheFuture(NOW + 300_001, NOW), true);
  });

  it('merges layers of limits key by key, later layers winning', () => {
    assert.deepEqual(mergeLimits(), DEFAULT_READING_LIMITS);
    assert.deepEqual(mergeLimits(HS110, { max_power_w: 2000 }), {
      ...DEFAULT_READING_LIMITS,
      ...HS110,
      max_power_w: 2000,
    });
  });
});

describe('dates a query may name', () => {
  const energy = validator(EnergyParamsSchema);
  const params = { device: 'desk-3', every: '1d', from: '2026-11-01T00:00:00Z' };

  it('are the years InfluxDB can store; outside them the message names the range', () => {
    assert.equal(energy({ ...params, to: '9999-12-31T23:59:59.999999999Z' }), false);
    assert.equal(energy.errorText(), `/to: ${STORABLE_RANGE_MESSAGE}`);
    assert.match(STORABLE_RANGE_MESSAGE, /1678-01-01T00:00:00\.000Z.*2262-01-01T00:00:00\.000Z/);
    assert.equal(energy({ ...params, from: '1677-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }), false);
    assert.match(energy.errorText(), /^\/from: must be from 1678/);
    // Both ends are fine, with any offset.
    assert.ok(energy({ ...params, from: '1678-01-01T00:00:00Z', to: '2261-12-31T23:59:59.999+01:00' }));
    const alerts = validator(AlertListParamsSchema);
    assert.equal(alerts({ to: '9999-12-31T23:59:59Z' }), false);
    assert.match(alerts.errorText(), /\/to: must be from 1678/);
  });

  it('totals accept tz, as openapi.yaml documents', () => {
    const totals = validator(TotalsParamsSchema);
    const base = { from: '2026-11-01T00:00:00Z', to: '2026-11-02T00:00:00Z', group_by: 'kind' };
    assert.ok(totals({ ...base, tz: 'Europe/Madrid' }), totals.errorText());
  });
});
