import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  digestAuthorization,
  loadRegistry,
  parseDigestChallenge,
  RegistryError,
  type ShellyConnection,
} from '@wattbus/devices';
import { capturingLogger, failureOf } from './helpers.js';
import { assertValidReadings, driverFor, shelly } from './shelly-helpers.js';

describe('RFC 7616 digest', () => {
  it('computes the RFC 7616 §3.9.1 example responses (SHA-256 and MD5)', () => {
    const challenge = {
      realm: 'http-auth@example.org',
      nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
      qop: 'auth',
      opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS',
    };
    const request = {
      method: 'GET',
      uri: '/dir/index.html',
      nc: 1,
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    };
    const credentials = { username: 'Mufasa', password: 'Circle of Life' };
    assert.match(
      digestAuthorization({ ...challenge, algorithm: 'SHA-256' }, credentials, request),
      /response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"/,
    );
    assert.match(
      digestAuthorization({ ...challenge, algorithm: 'MD5' }, credentials, request),
      /response="8ca523f5e9506fed4657c9700eebdbec"/,
    );
  });

  it('parses a Shelly challenge and refuses ones it cannot answer', () => {
    assert.deepEqual(
      parseDigestChallenge(
        'Digest qop="auth", realm="shellyplusplugs-a8032ab1c2d3", nonce="1631525035", algorithm=SHA-256',
      ),
      { realm: 'shellyplusplugs-a8032ab1c2d3', nonce: '1631525035', algorithm: 'SHA-256', qop: 'auth' },
    );
    assert.equal(parseDigestChallenge('Basic realm="x"'), undefined);
    assert.equal(parseDigestChallenge('Digest realm="x", nonce="1", algorithm=SHA-512-256'), undefined);
    assert.equal(parseDigestChallenge('Digest realm="x", nonce="1", qop="auth-int"'), undefined);
    assert.equal(parseDigestChallenge(null), undefined);
  });
});

describe('Shelly Gen1 (simulated Plug S and 3EM)', () => {
  it('reads a Plug S: power, watt-minutes converted to Wh, relay state; detects Gen1 from /shelly', async () => {
    const plug = await shelly({ model: 'plug-s', meter: { power_w: 61.23, energy_wh: 12345 / 60 } });
    const driver = driverFor(plug);
    const reading = await driver.read();
    // 12345 watt-minutes = 205.75 Wh.
    assert.deepEqual(reading, { values: [{ power_w: 61.23, energy_wh: 205.75 }], on: true });
    assertValidReadings(reading);
    assert.deepEqual(driver.profile?.generation, 1);
    assert.deepEqual(driver.profile?.component, 'switch');
    // 100 watt-minutes: 1.666… Wh, to 6 decimals.
    plug.setMeter({ energy_wh: 100 / 60, power_w: 0.5 });
    assert.deepEqual((await driver.read()).values, [{ power_w: 0.5, energy_wh: 1.666667 }]);
    assert.deepEqual(await driver.describe(), {
      model: 'SHPLG-S',
      details: { mac: plug.mac, firmware: '20230913-112003/v1.14.0-gcb84623' },
    });
    assert.deepEqual(plug.requests.filter((request) => request === 'GET /shelly').length, 1, 'detected once');
  });

  it('reads a 3EM: three phases L1..L3 with power, voltage, current, pf, Wh, and a total', async () => {
    const meter = await shelly({ model: '3em' });
    meter.setMeter(
      { power_w: 1200.5, voltage_v: 231.2, current_a: 5.21, power_factor: 0.98, energy_wh: 100000.4 },
      0,
    );
    meter.setMeter(
      { power_w: -350.25, voltage_v: 229.9, current_a: 1.55, power_factor: -0.91, energy_wh: 2000 },
      1,
    );
    meter.setMeter({ power_w: 10, voltage_v: 230.4, current_a: 0.08, power_factor: 0.5, energy_wh: 3.3 }, 2);
    const driver = driverFor(meter);
    const reading = await driver.read();
    assert.deepEqual(reading, {
      values: [
        {
          power_w: 1200.5,
          voltage_v: 231.2,
          current_a: 5.21,
          power_factor: 0.98,
          energy_wh: 100000.4,
          energy_returned_wh: 0,
          phase: 'L1',
        },
        {
          power_w: -350.25,
          voltage_v: 229.9,
          current_a: 1.55,
          power_factor: -0.91,
          energy_wh: 2000,
          energy_returned_wh: 0,
          phase: 'L2',
        },
        {
          power_w: 10,
          voltage_v: 230.4,
          current_a: 0.08,
          power_factor: 0.5,
          energy_wh: 3.3,
          energy_returned_wh: 0,
          phase: 'L3',
        },
        { power_w: 860.25, energy_wh: 102003.7, energy_returned_wh: 0 },
      ],
      on: true,
    });
    assertValidReadings(reading);
    assert.equal(driver.profile?.component, 'em');
  });

  it('switches a Plug S and confirms it from the answer; reads the state back', async () => {
    const plug = await shelly({ model: 'plug-s', relayOn: false });
    const driver = driverFor(plug);
    assert.deepEqual(await driver.getState(), { on: false });
    await driver.setPower(true);
    assert.equal(plug.relays[0], true);
    assert.deepEqual(await driver.getState(), { on: true });
    await driver.setPower(false);
    assert.equal(plug.relays[0], false);
    assert.equal((await driver.read()).on, false);
    assert.ok(plug.requests.includes('GET /relay/0?turn=on'));
  });

  it('switches the contactor relay of a 3EM', async () => {
    const meter = await shelly({ model: '3em' });
    const driver = driverFor(meter);
    await driver.setPower(false);
    assert.equal(meter.relays[0], false);
    assert.deepEqual(await driver.getState(), { on: false });
  });

  it('reports a relay that did not switch as DEVICE_ERROR', async () => {
    const plug = await shelly({ model: 'plug-s', relayOn: true });
    plug.stuckRelay = true;
    const error = await failureOf(driverFor(plug).setPower(false));
    assert.equal(error.code, 'DEVICE_ERROR');
    assert.match(error.message, /still on after switching it off/);
  });

  it('reads one channel of a two-relay device per registry entry', async () => {
    const device = await shelly({ model: 'plug-s', channels: 2 });
    device.setMeter({ power_w: 11, energy_wh: 1 }, 0);
    device.setMeter({ power_w: 22, energy_wh: 2 }, 1);
    const first = driverFor(device, { channel: 0 }, { id: 'hall-light' });
    const second = driverFor(device, { channel: 1 }, { id: 'hall-fan' });
    const [a, b] = await Promise.all([first.read(), second.read()]);
    assert.deepEqual(a.values, [{ power_w: 11, energy_wh: 1 }]);
    assert.deepEqual(b.values, [{ power_w: 22, energy_wh: 2 }]);
    await second.setPower(false);
    assert.deepEqual(device.relays, [true, false]);
  });

  it('authenticates with HTTP Basic; a wrong or missing password is DEVICE_AUTH_FAILED', async () => {
    const plug = await shelly({
      model: 'plug-s',
      password: 's3cret',
      username: 'owner',
      meter: { power_w: 5 },
    });
    assert.equal(
      (await driverFor(plug, { username: 'owner', password: 's3cret' }).read()).values[0]?.power_w,
      5,
    );
    const wrong = await failureOf(driverFor(plug, { username: 'owner', password: 'guess' }).read());
    assert.equal(wrong.code, 'DEVICE_AUTH_FAILED');
    assert.match(wrong.message, /refused the password of 'owner'/);
    const missing = await failureOf(driverFor(plug).read());
    assert.equal(missing.code, 'DEVICE_AUTH_FAILED');
    assert.match(missing.message, /requires a password/);
    assert.equal(
      (await failureOf(driverFor(plug, { username: 'owner', password: 'guess' }).setPower(false))).code,
      'DEVICE_AUTH_FAILED',
    );
    assert.equal(plug.relays[0], true, 'an unauthenticated switch command changed nothing');
  });
});

describe('Shelly Gen2+ (simulated Plus Plug S and Pro 3EM)', () => {
  it('reads a Plus Plug S: apower, voltage, current, frequency, aenergy Wh, output', async () => {
    const plug = await shelly({
      model: 'plus-plug-s',
      meter: { power_w: 61.4, voltage_v: 231.7, current_a: 0.312, frequency_hz: 50.02, energy_wh: 15234.567 },
    });
    const driver = driverFor(plug);
    const reading = await driver.read();
    assert.deepEqual(reading, {
      values: [
        {
          power_w: 61.4,
          voltage_v: 231.7,
          current_a: 0.312,
          frequency_hz: 50.02,
          energy_wh: 15234.567,
          energy_returned_wh: 0,
        },
      ],
      on: true,
    });
    assertValidReadings(reading);
    assert.equal(driver.profile?.generation, 2);
    assert.equal(driver.profile?.component, 'switch');
    assert.equal((await driver.describe()).model, 'SNPL-00112EU');
  });

  it('reads a Pro 3EM: EM.GetStatus and EMData.GetStatus per phase and in total', async () => {
    const meter = await shelly({ model: 'pro-3em' });
    meter.setMeter(
      {
        power_w: 2300.1,
        voltage_v: 232.1,
        current_a: 9.95,
        power_factor: 0.99,
        frequency_hz: 50,
        energy_wh: 500000.25,
      },
      0,
    );
    meter.setMeter(
      {
        power_w: 15.5,
        voltage_v: 231,
        current_a: 0.2,
        power_factor: 0.34,
        frequency_hz: 50,
        energy_wh: 1234.5,
      },
      1,
    );
    meter.setMeter(
      { power_w: -800, voltage_v: 229.5, current_a: 3.5, power_factor: -1, frequency_hz: 50, energy_wh: 0 },
      2,
    );
    const driver = driverFor(meter);
    const reading = await driver.read();
    assert.deepEqual(reading, {
      values: [
        {
          power_w: 2300.1,
          voltage_v: 232.1,
          current_a: 9.95,
          power_factor: 0.99,
          frequency_hz: 50,
          energy_wh: 500000.25,
          energy_returned_wh: 0,
          phase: 'L1',
        },
        {
          power_w: 15.5,
          voltage_v: 231,
          current_a: 0.2,
          power_factor: 0.34,
          frequency_hz: 50,
          energy_wh: 1234.5,
          energy_returned_wh: 0,
          phase: 'L2',
        },
        {
          power_w: -800,
          voltage_v: 229.5,
          current_a: 3.5,
          power_factor: -1,
          frequency_hz: 50,
          energy_wh: 0,
          energy_returned_wh: 0,
          phase: 'L3',
        },
        { power_w: 1515.6, energy_wh: 501234.75, energy_returned_wh: 0 },
      ],
    });
    assertValidReadings(reading);
    assert.equal(driver.profile?.component, 'em');
    const noRelay = await failureOf(driver.setPower(true));
    assert.equal(noRelay.code, 'DEVICE_ERROR');
    assert.match(noRelay.message, /has no relay/);
  });

  it('switches a Plus Plug S with Switch.Set and confirms with Switch.GetStatus', async () => {
    const plug = await shelly({ model: 'plus-plug-s', relayOn: false, meter: { power_w: 40 } });
    const driver = driverFor(plug, { generation: 2, component: 'switch' });
    await driver.setPower(true);
    assert.equal(plug.relays[0], true);
    assert.deepEqual(await driver.getState(), { on: true });
    await driver.setPower(false);
    const reading = await driver.read();
    assert.equal(reading.on, false);
    assert.equal(reading.values[0]?.power_w, 0, 'an open relay draws nothing');
    assert.ok(plug.requests.includes('GET /rpc/Switch.Set?id=0&on=true'));
    assert.ok(
      !plug.requests.includes('GET /shelly'),
      'generation and component set in the registry: no detection',
    );
    plug.stuckRelay = true;
    assert.match((await failureOf(driver.setPower(true))).message, /still off after switching it on/);
    assert.equal((await driver.describe()).model, 'SNPL-00112EU', 'describe() asks /shelly for the model');
  });

  it('authenticates with SHA-256 digest, reusing the nonce with a growing nc', async () => {
    const plug = await shelly({ model: 'plus-plug-s', password: 'Pa55:word"x', meter: { power_w: 12 } });
    const driver = driverFor(plug, { password: 'Pa55:word"x' });
    for (let poll = 0; poll < 5; poll++) assert.equal((await driver.read()).values[0]?.power_w, 12);
    await driver.setPower(false);
    assert.equal(plug.relays[0], false);
    assert.equal(plug.unauthorized, 1, 'one challenge, then the nonce is reused');
    // A reboot forgets nonces: the driver takes the fresh challenge without failing.
    plug.forgetNonces();
    assert.equal((await driver.read()).on, false);
    assert.equal(plug.unauthorized, 2);
  });

  it('gives DEVICE_AUTH_FAILED for a wrong or missing digest password', async () => {
    const plug = await shelly({ model: 'pro-3em', password: 'right' });
    const wrong = await failureOf(driverFor(plug, { password: 'wrong' }).read());
    assert.equal(wrong.code, 'DEVICE_AUTH_FAILED');
    assert.match(wrong.message, /refused the password of 'admin'/);
    const missing = await failureOf(driverFor(plug).read());
    assert.equal(missing.code, 'DEVICE_AUTH_FAILED');
    assert.match(missing.message, /requires a password/);
    const unset = await failureOf(driverFor(plug, { password_env: 'WATTBUS_TEST_NO_SUCH_PASSWORD' }).read());
    assert.equal(unset.code, 'DEVICE_AUTH_FAILED');
    assert.match(unset.message, /WATTBUS_TEST_NO_SUCH_PASSWORD/);
    process.env.WATTBUS_TEST_SHELLY_PASSWORD = 'right';
    try {
      const reading = await driverFor(plug, { password_env: 'WATTBUS_TEST_SHELLY_PASSWORD' }).read();
      assert.equal(reading.values.length, 4);
    } finally {
      delete process.env.WATTBUS_TEST_SHELLY_PASSWORD;
    }
  });
});

describe('Shelly answers that are not usable', () => {
  for (const model of ['plug-s', 'plus-plug-s', '3em', 'pro-3em'] as const) {
    it(`${model}: garbage, a 500, a wrong type and a missing field are DEVICE_ERRORs naming what is wrong`, async () => {
      const device = await shelly({ model, meter: { power_w: 1 } });
      const log = capturingLogger();
      const driver = driverFor(device, {}, { logger: log.logger });
      await driver.read();

      device.fault = 'garbage';
      const garbage = await failureOf(driver.read());
      assert.equal(garbage.code, 'DEVICE_ERROR');
      assert.match(garbage.message, /not JSON: "<html><body>Bad Gateway/);

      device.fault = 'server-error';
      const serverError = await failureOf(driver.read());
      assert.equal(serverError.code, 'DEVICE_ERROR');
      assert.match(serverError.message, /HTTP 500/);

      device.fault = 'wrong-type';
      const wrongType = await failureOf(driver.read());
      assert.equal(wrongType.code, 'DEVICE_ERROR');
      const power = {
        'plug-s': '/meters/0/power',
        '3em': '/emeters/0/power',
        'plus-plug-s': '/apower',
        'pro-3em': '/a_act_power',
      }[model];
      assert.ok(wrongType.message.includes(`${power}: must be number`), wrongType.message);

      device.fault = 'missing-field';
      const missing = await failureOf(driver.read());
      assert.equal(missing.code, 'DEVICE_ERROR');
      const energy = {
        'plug-s': 'total',
        '3em': 'total',
        'plus-plug-s': 'aenergy',
        'pro-3em': 'a_total_act_energy',
      }[model];
      assert.ok(missing.message.includes(`must have required property '${energy}'`), missing.message);

      // Each distinct problem is logged once at warn, with its reason.
      const warnings = log.lines.filter((line) => line.msg === 'shelly answer refused');
      assert.deepEqual(
        warnings.map((line) => line.err),
        [garbage.message, serverError.message, wrongType.message, missing.message],
      );
      assert.equal((await failureOf(driver.read())).code, 'DEVICE_ERROR');
      assert.equal(
        log.lines.filter((line) => line.msg === 'shelly answer refused').length,
        4,
        'a repeated problem is not logged again',
      );

      device.fault = undefined;
      assert.equal((await driver.read()).values[0]?.power_w, 1);
      assert.ok(log.lines.some((line) => line.msg === 'shelly answers again'));
    });
  }

  it('classifies a stopped device as unreachable and recovers when it is back', async () => {
    const plug = await shelly({ model: 'plus-plug-s', meter: { power_w: 3 } });
    const driver = driverFor(plug);
    await driver.read();
    await plug.stop();
    assert.equal((await failureOf(driver.read())).code, 'DEVICE_UNREACHABLE');
    await plug.start();
    assert.equal((await driver.read()).values[0]?.power_w, 3);
  });

  it('classifies a device that never answers as DEVICE_TIMEOUT within timeout_ms', async () => {
    const plug = await shelly({ model: 'plug-s' });
    const driver = driverFor(plug, {}, { timeout_ms: 200 });
    await driver.read();
    plug.fault = 'hang';
    assert.equal((await failureOf(driver.read())).code, 'DEVICE_TIMEOUT');
    assert.equal((await failureOf(driver.setPower(false))).code, 'DEVICE_TIMEOUT');
  });

  it('classifies a host that does not exist as unreachable', async () => {
    const driver = driverFor({ host: 'no-such-shelly.invalid', port: 80 });
    assert.equal((await failureOf(driver.read())).code, 'DEVICE_UNREACHABLE');
  });

  it('refuses a device that is not the configured generation, naming the field', async () => {
    const plug = await shelly({ model: 'plus-plug-s' });
    const error = await failureOf(driverFor(plug, { generation: 1 }).read());
    assert.equal(error.code, 'DEVICE_ERROR');
    assert.match(
      error.message,
      /GET \/shelly with an unexpected shape: \/: must have required property 'type'/,
    );
  });
});

describe('Shelly registry entries', () => {
  it('fills connection defaults and refuses bad options with their place', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wattbus-shelly-'));
    try {
      const good = join(dir, 'good.yaml');
      await writeFile(
        good,
        [
          'devices:',
          '  - { id: kettle, type: shelly, location: home/kitchen, kind: appliance, connection: { host: 10.0.0.5 } }',
          '  - id: main-meter',
          '    type: shelly',
          '    location: home/cellar',
          '    kind: meter',
          '    connection: { host: 10.0.0.6, generation: 2, component: em, password_env: SHELLY_PASSWORD }',
        ].join('\n'),
      );
      const registry = await loadRegistry(good);
      assert.deepEqual(registry.devices[0]?.connection, {
        host: '10.0.0.5',
        port: 80,
        generation: 'auto',
        component: 'auto',
        channel: 0,
        username: 'admin',
      });
      assert.equal((registry.devices[1]?.connection as ShellyConnection).generation, 2);

      const bad = join(dir, 'bad.yaml');
      await writeFile(
        bad,
        [
          'devices:',
          '  - id: kettle',
          '    type: shelly',
          '    location: home/kitchen',
          '    kind: appliance',
          '    connection: { host: "10.0.0.5/admin?x=", generation: 3, chanel: 1 }',
        ].join('\n'),
      );
      const error = await loadRegistry(bad).then(
        () => assert.fail('expected a RegistryError'),
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof RegistryError);
      assert.match(error.message, /:6 \/devices\/0\/connection\/chanel: unknown key 'chanel'/);
      assert.match(error.message, /\/devices\/0\/connection\/generation/);
      assert.match(error.message, /\/devices\/0\/connection\/host: must match pattern/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
