import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ReadingSchema, validator } from '@wattbus/contracts';
import { discoverTplink, discoveryAsRegistryYaml, normalizeRealtime, TplinkDriver } from '@wattbus/devices';
import { SimulatedPlug } from '@wattbus/simulators';
import { failureOf, legacyDriverFor } from './helpers.js';

const checkReading = validator(ReadingSchema);
const plugs: SimulatedPlug[] = [];
const drivers: TplinkDriver[] = [];

after(async () => {
  await Promise.all(drivers.map((driver) => driver.close()));
  await Promise.all(plugs.map((plug) => plug.stop()));
});

async function plug(options: Parameters<typeof SimulatedPlug.start>[0]): Promise<SimulatedPlug> {
  const started = await SimulatedPlug.start(options);
  plugs.push(started);
  return started;
}

function driverFor(target: { host: string; port: number }, timeout_ms = 1000): TplinkDriver {
  return legacyDriverFor(drivers, target, timeout_ms);
}

async function codeOf(work: Promise<unknown>): Promise<string> {
  return (await failureOf(work)).code;
}

describe('normalizeRealtime', () => {
  it('turns both firmware styles into reading units', () => {
    assert.deepEqual(normalizeRealtime({ power: 61.2, voltage: 231.4, current: 0.31, total: 15.2345 }, 'x'), {
      power_w: 61.2,
      voltage_v: 231.4,
      current_a: 0.31,
      energy_wh: 15234.5,
    });
    assert.deepEqual(
      normalizeRealtime({ power_mw: 61200, voltage_mv: 231400, current_ma: 310, total_wh: 15234 }, 'x'),
      { power_w: 61.2, voltage_v: 231.4, current_a: 0.31, energy_wh: 15234 },
    );
    assert.deepEqual(normalizeRealtime({ power_mw: 5000 }, 'x'), { power_w: 5 });
  });

  it('refuses data without power as a device error', () => {
    assert.throws(() => normalizeRealtime({ voltage: 230 }, 'desk-1'), { code: 'DEVICE_ERROR' });
    assert.throws(() => normalizeRealtime(undefined, 'desk-1'), { code: 'DEVICE_ERROR' });
  });
});

describe('TP-Link driver against tplink-smarthome-simulator', () => {
  for (const model of ['hs110', 'hs110v2'] as const) {
    it(`reads the emeter of a ${model} in reading units, with the relay state`, async () => {
      const simulated = await plug({
        model,
        realtime: { power: 61.234, voltage: 231.456, current: 0.3125, total: 15.2345 },
      });
      const driver = driverFor(simulated);
      simulated.relayOn = true;
      const reading = await driver.read();
      assert.deepEqual(reading, { values: [simulated.expected()], on: true });
      const full = { ts: new Date().toISOString(), device: 'desk-1', ...reading.values[0] };
      assert.ok(checkReading(full), checkReading.errorText());
      simulated.setRealtime({ power: 0.5, total: 15.3 });
      simulated.relayOn = false;
      assert.deepEqual(await driver.read(), { values: [simulated.expected()], on: false });
      const description = await driver.describe();
      assert.match(description.model ?? '', /^HS110/);
    });
  }

  it('switches the relay and reads the state back', async () => {
    const simulated = await plug({ model: 'hs110v2' });
    const driver = driverFor(simulated);
    await driver.setPower(true);
    assert.equal(simulated.relayOn, true);
    assert.deepEqual(await driver.getState(), { on: true });
    await driver.setPower(false);
    assert.equal(simulated.relayOn, false);
    assert.deepEqual(await driver.getState(), { on: false });
  });

  it('classifies a stopped plug as unreachable and recovers when it is back', async () => {
    const simulated = await plug({ model: 'hs110' });
    const driver = driverFor(simulated);
    await driver.read();
    await simulated.stop();
    assert.equal(await codeOf(driver.read()), 'DEVICE_UNREACHABLE');
    assert.equal(await codeOf(driver.setPower(true)), 'DEVICE_UNREACHABLE');
    await simulated.start();
    assert.equal((await driver.read()).values.length, 1);
  });

  it('classifies a plug slower than the timeout as a timeout', async () => {
    const simulated = await plug({ model: 'hs110', responseDelay: 400 });
    const driver = driverFor(simulated, 100);
    assert.equal(await codeOf(driver.read()), 'DEVICE_TIMEOUT');
    assert.equal(await codeOf(driver.getState()), 'DEVICE_TIMEOUT');
  });

  it('classifies a host that does not exist as unreachable', async () => {
    const driver = driverFor({ host: 'no-such-plug.invalid', port: 9999 });
    assert.equal(await codeOf(driver.read()), 'DEVICE_UNREACHABLE');
  });
});

describe('TP-Link discovery', () => {
  it('finds simulated plugs asked directly on loopback and prints registry entries', async () => {
    const first = await plug({ model: 'hs110', alias: 'Printer 2F' });
    const second = await plug({ model: 'hs110v2', alias: 'Kettle' });
    const found = await discoverTplink({
      timeoutMs: 800,
      broadcast: '127.255.255.255',
      devices: [first, second].map((simulated) => ({ host: simulated.host, port: simulated.port })),
    });
    const ports = found.map((entry) => entry.port).sort();
    assert.deepEqual(ports, [first.port, second.port].sort());
    const yaml = discoveryAsRegistryYaml(found);
    assert.match(yaml, /id: printer-2f/);
    assert.match(yaml, /id: kettle/);
    assert.match(yaml, new RegExp(`port: ${second.port}`));
    assert.match(yaml, /type: tplink/);
  });
});
