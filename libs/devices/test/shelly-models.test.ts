import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { capturingLogger, failureOf } from './helpers.js';
import { assertValidReadings, driverFor, shelly } from './shelly-helpers.js';

/**
 * The Shellies users own beyond plugs and the triphase Pro 3EM: relays without a meter, the
 * single-phase em1 channels of the Pro EM and of the Pro 3EM in monophase profile, and answers
 * with nulls or components WattBus does not read.
 */
describe('Shelly relays without a meter (Plus 1, Pro 1)', () => {
  for (const model of ['plus-1', 'pro-1'] as const) {
    it(`${model}: reads the relay state and no reading; switches and confirms`, async () => {
      const relay = await shelly({ model, relayOn: false });
      const driver = driverFor(relay);
      assert.deepEqual(await driver.read(), { values: [], on: false });
      assert.equal(driver.profile?.component, 'switch');
      assert.equal(driver.profile?.relay, 0);
      await driver.setPower(true);
      assert.equal(relay.relays[0], true);
      assert.deepEqual(await driver.getState(), { on: true });
      assert.deepEqual(await driver.read(), { values: [], on: true });
      assert.ok(relay.requests.includes('GET /rpc/Switch.Set?id=0&on=true'));
      relay.stuckRelay = true;
      assert.match((await failureOf(driver.setPower(false))).message, /still on after switching it off/);
    });
  }

  it('refuses a relay answer whose output has the wrong type, naming it', async () => {
    const relay = await shelly({ model: 'plus-1' });
    const driver = driverFor(relay);
    await driver.read();
    relay.fault = 'wrong-type';
    const error = await failureOf(driver.read());
    assert.equal(error.code, 'DEVICE_ERROR');
    assert.match(error.message, /Switch\.GetStatus id=0 with an unexpected shape: \/output: must be boolean/);
  });

  it('refuses a switch that reports power without its counter (a broken meter answer, not a relay without one)', async () => {
    const plug = await shelly({ model: 'plus-plug-s', meter: { power_w: 5 } });
    const driver = driverFor(plug);
    plug.fault = 'missing-field';
    const error = await failureOf(driver.read());
    assert.match(error.message, /must have required property 'aenergy'/);
  });
});

describe('Shelly em1 channels (Pro EM-50, Pro 3EM in monophase profile)', () => {
  it('detects a Pro EM channel as em1, not as its contactor switch:0, and reads both channels', async () => {
    const meter = await shelly({ model: 'pro-em' });
    meter.setMeter(
      {
        power_w: 2310.4,
        voltage_v: 231.2,
        current_a: 10.1,
        power_factor: 0.99,
        frequency_hz: 50.01,
        energy_wh: 1234567.8,
        returned_wh: 0.5,
      },
      0,
    );
    meter.setMeter(
      {
        power_w: -1520.25,
        voltage_v: 231.2,
        current_a: 6.6,
        power_factor: -0.98,
        frequency_hz: 50.01,
        energy_wh: 42,
        returned_wh: 98765.4321,
      },
      1,
    );
    const grid = driverFor(meter, { channel: 0 }, { id: 'grid' });
    const solar = driverFor(meter, { channel: 1 }, { id: 'solar' });
    const [a, b] = await Promise.all([grid.read(), solar.read()]);
    assert.deepEqual(a, {
      values: [
        {
          power_w: 2310.4,
          voltage_v: 231.2,
          current_a: 10.1,
          power_factor: 0.99,
          frequency_hz: 50.01,
          energy_wh: 1234567.8,
          energy_returned_wh: 0.5,
        },
      ],
    });
    assert.deepEqual(b.values, [
      {
        power_w: -1520.25,
        voltage_v: 231.2,
        current_a: 6.6,
        power_factor: -0.98,
        frequency_hz: 50.01,
        energy_wh: 42,
        energy_returned_wh: 98765.4321,
      },
    ]);
    assertValidReadings(a);
    assertValidReadings(b);
    assert.equal(grid.profile?.component, 'em1');
    assert.equal(solar.profile?.component, 'em1');
    assert.ok(meter.requests.includes('GET /rpc/EM1.GetStatus?id=1'));
    assert.ok(meter.requests.includes('GET /rpc/EM1Data.GetStatus?id=1'));
    assert.ok(!meter.requests.some((request) => request.startsWith('GET /rpc/Switch.GetStatus')));
  });

  it('switches the Pro EM contactor (switch:0) from an em1 entry and confirms it', async () => {
    const meter = await shelly({ model: 'pro-em', relayOn: true });
    const driver = driverFor(meter, { channel: 1 });
    await driver.setPower(false);
    assert.deepEqual(meter.relays, [false]);
    assert.deepEqual(await driver.getState(), { on: false });
    assert.ok(meter.requests.includes('GET /rpc/Switch.Set?id=0&on=false'));
  });

  it('reads the Pro EM contactor as its own entry: a relay without a meter', async () => {
    const meter = await shelly({ model: 'pro-em', relayOn: true });
    const relay = driverFor(meter, { generation: 2, component: 'switch' });
    assert.deepEqual(await relay.read(), { values: [], on: true });
  });

  it('reads the three em1 channels of a Pro 3EM in monophase profile; it has no relay', async () => {
    const meter = await shelly({ model: 'pro-3em', profile: 'monophase' });
    [100, 200, -300].forEach((power_w, channel) =>
      meter.setMeter({ power_w, current_a: Math.abs(power_w) / 230, energy_wh: 10 * (channel + 1) }, channel),
    );
    const drivers = [0, 1, 2].map((channel) => driverFor(meter, { channel }, { id: `circuit-${channel}` }));
    const readings = await Promise.all(drivers.map((driver) => driver.read()));
    assert.deepEqual(
      readings.map((reading) => [reading.values[0]?.power_w, reading.values[0]?.energy_wh]),
      [
        [100, 10],
        [200, 20],
        [-300, 30],
      ],
    );
    assert.equal(drivers[2]!.profile?.component, 'em1');
    const noRelay = await failureOf(drivers[0]!.setPower(true));
    assert.equal(noRelay.code, 'DEVICE_ERROR');
    assert.match(noRelay.message, /has no relay to switch/);
  });

  it('names the components a device has when the entry asks for one it lacks', async () => {
    const meter = await shelly({ model: 'pro-3em', profile: 'monophase' });
    const error = await failureOf(driverFor(meter, { channel: 5 }).read());
    assert.equal(error.code, 'DEVICE_ERROR');
    assert.match(error.message, /has none of switch:5, em:5, em1:5 \(components: em1:0, em1data:0, em1:1/);
  });

  it('explains a configured component: em on a device whose meters are em1', async () => {
    const meter = await shelly({ model: 'pro-em' });
    const error = await failureOf(driverFor(meter, { generation: 2, component: 'em' }).read());
    assert.equal(error.code, 'DEVICE_ERROR');
    assert.match(error.message, /HTTP 404/);
    assert.match(error.message, /has em1 channels: set component: em1 \(or auto\)/);
  });

  it('refuses em1 answers with a wrong type or a missing counter, naming the field; recovers', async () => {
    const meter = await shelly({ model: 'pro-em', meter: { power_w: 3 } });
    const log = capturingLogger();
    const driver = driverFor(meter, {}, { logger: log.logger });
    await driver.read();
    meter.fault = 'wrong-type';
    assert.match(
      (await failureOf(driver.read())).message,
      /EM1\.GetStatus id=0 .*\/act_power: must be number/,
    );
    meter.fault = 'missing-field';
    assert.match(
      (await failureOf(driver.read())).message,
      /EM1Data\.GetStatus id=0 .*must have required property 'total_act_energy'/,
    );
    meter.fault = undefined;
    assert.equal((await driver.read()).values[0]?.power_w, 3);
    assert.ok(log.lines.some((line) => line.msg === 'shelly answers again'));
  });
});

describe('Shelly answers with nulls', () => {
  const cases = [
    { model: 'plus-plug-s', expected: [{ power_w: 60, energy_wh: 5, energy_returned_wh: 0 }] },
    { model: 'pro-em', expected: [{ power_w: 60, energy_wh: 5, energy_returned_wh: 0 }] },
    { model: '3em', phases: true },
    { model: 'pro-3em', phases: true },
  ] as const;
  for (const entry of cases) {
    it(`${entry.model}: null voltage, current, power factor and frequency are left out; the reading is published`, async () => {
      const device = await shelly({ model: entry.model, meter: { power_w: 60, energy_wh: 5 } });
      device.fault = 'null-readings';
      const reading = await driverFor(device).read();
      assertValidReadings(reading);
      if ('expected' in entry) {
        assert.deepEqual(reading.values, entry.expected);
      } else {
        assert.deepEqual(
          reading.values.map((values) => Object.keys(values).sort()),
          [
            ['energy_returned_wh', 'energy_wh', 'phase', 'power_w'],
            ['energy_returned_wh', 'energy_wh', 'phase', 'power_w'],
            ['energy_returned_wh', 'energy_wh', 'phase', 'power_w'],
            ['energy_returned_wh', 'energy_wh', 'power_w'],
          ],
        );
        assert.deepEqual(reading.values[3], { power_w: 180, energy_wh: 15, energy_returned_wh: 0 });
      }
    });
  }
});

describe('Shelly returned energy', () => {
  it('3EM (Gen1): total_returned per phase and summed in the total; power negative while exporting', async () => {
    const meter = await shelly({ model: '3em' });
    meter.setMeter({ power_w: -2000, energy_wh: 100, returned_wh: 4000.5 }, 0);
    meter.setMeter({ power_w: -100, energy_wh: 200, returned_wh: 0.25 }, 1);
    meter.setMeter({ power_w: 50, energy_wh: 300, returned_wh: 0 }, 2);
    const reading = await driverFor(meter).read();
    assert.deepEqual(
      reading.values.map((values) => [
        values.phase,
        values.power_w,
        values.energy_wh,
        values.energy_returned_wh,
      ]),
      [
        ['L1', -2000, 100, 4000.5],
        ['L2', -100, 200, 0.25],
        ['L3', 50, 300, 0],
        [undefined, -2050, 600, 4000.75],
      ],
    );
    assertValidReadings(reading);
  });

  it('a Gen2 switch that reports ret_aenergy: energy_returned_wh, power negative while it feeds back', async () => {
    const plug = await shelly({
      model: 'plus-plug-s',
      meter: { power_w: -300, energy_wh: 10, returned_wh: 123.456 },
    });
    assert.deepEqual((await driverFor(plug).read()).values, [
      {
        power_w: -300,
        voltage_v: 230,
        current_a: 0,

        frequency_hz: 50,
        energy_wh: 10,
        energy_returned_wh: 123.456,
      },
    ]);
  });
});
