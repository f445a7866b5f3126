import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BUILTIN_DEFAULTS,
  discoverTplink,
  discoveryAsRegistryYaml,
  KlapCipher,
  TplinkDriver,
  klapAuthHash,
  klapClientProof,
  klapServerProof,
  loadRegistry,
  RegistryError,
  type RegistryDevice,
} from '@wattbus/devices';
import { SimulatedKlapDevice, SimulatedPlug, type SimulatedKlapOptions } from '@wattbus/simulators';
import { failureOf } from './helpers.js';

const ACCOUNT = { username: 'owner@example.com', password: 'correct horse' };
const devices: SimulatedKlapDevice[] = [];
const plugs: SimulatedPlug[] = [];
const drivers: TplinkDriver[] = [];
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wattbus-tplink-'));
  process.env.WATTBUS_TEST_TPLINK_USER = ACCOUNT.username;
  process.env.WATTBUS_TEST_TPLINK_PASSWORD = ACCOUNT.password;
});

after(async () => {
  await Promise.all(drivers.map((driver) => driver.close()));
  await Promise.all([...devices, ...plugs].map((device) => device.stop()));
  await rm(dir, { recursive: true, force: true });
});

async function device(options: SimulatedKlapOptions): Promise<SimulatedKlapDevice> {
  const started = await SimulatedKlapDevice.start({ ...ACCOUNT, ...options });
  devices.push(started);
  return started;
}

function driverFor(
  target: { host: string; port: number },
  connection: Record<string, unknown>,
): TplinkDriver {
  const entry: RegistryDevice = {
    ...BUILTIN_DEFAULTS,
    id: 'plug-1',
    name: 'Plug 1',
    type: 'tplink',
    location: 'home',
    kind: 'appliance',
    connection: {
      host: target.host,
      port: target.port,
      username_env: 'WATTBUS_TEST_TPLINK_USER',
      password_env: 'WATTBUS_TEST_TPLINK_PASSWORD',
      ...connection,
    },
    timeout_ms: 1500,
  };
  const driver = new TplinkDriver(entry);
  drivers.push(driver);
  return driver;
}

describe('KLAP cryptography', () => {
  // Expected values computed outside Node (Python hashlib and the openssl command line).
  const local = Buffer.from([...Array(16).keys()]);
  const remote = Buffer.from([...Array(16).keys()].map((n) => n + 16));

  it('derives the auth hashes and handshake proofs of both generations', () => {
    const v1 = klapAuthHash(1, 'user@example.com', 'secret');
    const v2 = klapAuthHash(2, 'user@example.com', 'secret');
    assert.equal(v1.toString('hex'), '9d6ce791ce44316e9e52fc1bc9d36496');
    assert.equal(v2.toString('hex'), 'b039216532fc844e9ae0cc8fe3ea911c9ba09c641bb96a3e1f776d93f7b5ae9b');
    assert.equal(
      klapServerProof(1, local, remote, v1).toString('hex'),
      'c2d456076f946c707000874d2e226a1c09e89a21e459272b8ec0f01cdaf774cf',
    );
    assert.equal(
      klapServerProof(2, local, remote, v2).toString('hex'),
      '8ed3b905e654fbee23900d0244156a33029c025b71b03bfcc601eff33aaebb70',
    );
    assert.equal(
      klapClientProof(2, local, remote, v2).toString('hex'),
      '1e590e7a4dc128da48ed17e06fe23ddb6ec646bb6da2eb00708d590f194201d7',
    );
  });

  it('encrypts and signs a request with the derived key, iv and sequence number', () => {
    const cipher = new KlapCipher(local, remote, klapAuthHash(2, 'user@example.com', 'secret'));
    const request = '{"system":{"get_sysinfo":{}}}';
    const { body, seq } = cipher.encryptRequest(request);
    assert.equal(seq, -903964343);
    assert.equal(
      body.toString('hex'),
      'ee33583262ebfd6b6977db181b8ba22a26f04b66d42c628224c0a40961942c64b2ea7862e52efd2186b9d6c73afb86a8b9821180993deb7e55bf8d03b44290d9',
    );
    assert.equal(cipher.open(body, seq).toString('utf8'), request);
    const tampered = Buffer.from(body);
    tampered[40] = (tampered[40] ?? 0) ^ 1;
    assert.throws(() => cipher.open(tampered, seq), /signature does not match/);
  });
});

describe('Kasa plug over KLAP', () => {
  for (const klapVersion of [1, 2] as const) {
    it(`reads, switches and describes a plug with KLAP v${klapVersion} hashes`, async () => {
      const plug = await device({ family: 'kasa', kasaModel: 'hs110v2', klapVersion, alias: 'Kettle' });
      plug.kasa!.setRealtime({ power: 1834.5, voltage: 231.2, current: 7.93, total: 12.5 });
      plug.kasa!.relayOn = true;
      const driver = driverFor(plug, { protocol: 'klap' });
      assert.deepEqual(await driver.read(), { values: [plug.kasa!.expected()], on: true });
      await driver.setPower(false);
      assert.equal(plug.kasa!.relayOn, false);
      assert.deepEqual(await driver.getState(), { on: false });
      const description = await driver.describe();
      assert.match(description.model ?? '', /^HS110/);
      assert.equal(description.details?.alias, 'Kettle');
      assert.equal(plug.handshakes, 1, 'one session for all of it');
    });
  }

  it('renews an expired session inside the same operation', async () => {
    const plug = await device({ family: 'kasa' });
    const driver = driverFor(plug, { protocol: 'klap' });
    await driver.read();
    plug.expireSessions();
    assert.equal((await driver.read()).values.length, 1);
    assert.equal(plug.handshakes, 2);
    assert.equal(plug.refusedSessions, 1);
  });

  it('renews a session when the TIMEOUT the device announced has passed', async () => {
    const plug = await device({ family: 'kasa', sessionSeconds: 0.2 });
    const driver = driverFor(plug, { protocol: 'klap' });
    await driver.read();
    await new Promise((resolve) => setTimeout(resolve, 250));
    await driver.read();
    assert.equal(plug.handshakes, 2);
    assert.equal(plug.refusedSessions, 0, 'renewed before the device refused');
  });

  it('says the account is wrong, without the password, when the handshake hash does not match', async () => {
    const plug = await device({ family: 'kasa', username: 'someone@else.com', password: 'other' });
    const error = await failureOf(driverFor(plug, { protocol: 'klap' }).read());
    assert.equal(error.code, 'DEVICE_AUTH_FAILED');
    assert.match(error.message, /does not accept the configured TP-Link account/);
    assert.doesNotMatch(error.message, /correct horse|owner@example/);
  });

  it('accepts a plug bound to no account with blank credentials', async () => {
    const plug = await device({ family: 'kasa', username: '', password: '' });
    const driver = driverFor(plug, { protocol: 'klap', username_env: undefined, password_env: undefined });
    assert.equal((await driver.read()).values.length, 1);
  });

  it('names an unset environment variable, not a value', async () => {
    const plug = await device({ family: 'kasa' });
    const error = await failureOf(
      driverFor(plug, { protocol: 'klap', password_env: 'WATTBUS_TEST_UNSET' }).read(),
    );
    assert.equal(error.code, 'DEVICE_AUTH_FAILED');
    assert.match(error.message, /environment variable WATTBUS_TEST_UNSET \(password_env\) is not set/);
  });

  it('reads the password from a secret file', async () => {
    const file = join(dir, 'password');
    await writeFile(file, `${ACCOUNT.password}\n`);
    const plug = await device({ family: 'kasa' });
    const driver = driverFor(plug, { protocol: 'klap', password_env: undefined, password_file: file });
    assert.equal((await driver.read()).values.length, 1);
    const missing = await failureOf(
      driverFor(plug, { protocol: 'klap', password_env: undefined, password_file: join(dir, 'nope') }).read(),
    );
    assert.equal(missing.code, 'DEVICE_AUTH_FAILED');
    assert.match(missing.message, /cannot read password_file .*nope \(ENOENT\)/);
  });

  const faults = [
    ['http-500', 'DEVICE_ERROR', /answered KLAP handshake1 with HTTP 500/],
    ['short', 'DEVICE_ERROR', /answered KLAP handshake1 with 10 bytes \(expected 48/],
    ['bad-hash', 'DEVICE_AUTH_FAILED', /KLAP handshake hash matches neither/],
  ] as const;
  for (const [fault, code, message] of faults) {
    it(`gives ${code} for a device whose handshake answer is ${fault}`, async () => {
      const plug = await device({ family: 'kasa' });
      plug.fault = fault;
      const error = await failureOf(driverFor(plug, { protocol: 'klap' }).read());
      assert.equal(error.code, code);
      assert.match(error.message, message);
    });
  }

  it('gives DEVICE_ERROR for garbage or short answers to a request, after one new handshake', async () => {
    const plug = await device({ family: 'kasa' });
    const driver = driverFor(plug, { protocol: 'klap' });
    await driver.read();
    plug.fault = 'garbage';
    const garbage = await failureOf(driver.read());
    assert.equal(garbage.code, 'DEVICE_ERROR');
    assert.match(
      garbage.message,
      /sent a body whose signature does not match the session right after a new handshake/,
    );
    plug.fault = 'short';
    const short = await failureOf(driver.read());
    assert.match(short.message, /handshake1 with 10 bytes/);
    plug.fault = undefined;
    assert.equal((await driver.read()).values.length, 1, 'recovers when the device does');
  });
});

describe('Tapo plugs', () => {
  it('reads power and relay of a P110 over KLAP and switches it', async () => {
    const p110 = await device({ family: 'tapo', alias: 'Dryer' });
    p110.tapo!.power_w = 812.25;
    p110.tapo!.on = true;
    const driver = driverFor(p110, { protocol: 'tapo' });
    assert.deepEqual(await driver.read(), { values: [{ power_w: 812.25 }], on: true });
    await driver.setPower(false);
    assert.equal(p110.tapo!.on, false);
    assert.deepEqual(await driver.getState(), { on: false });
    const description = await driver.describe();
    assert.equal(description.model, 'P110');
    assert.equal(description.details?.alias, 'Dryer');
  });

  it('takes get_current_power when get_energy_usage has no current power', async () => {
    const p110 = await device({ family: 'tapo' });
    p110.tapo!.power_w = 60;
    p110.tapo!.omitUsagePower = true;
    assert.deepEqual((await driverFor(p110, { protocol: 'tapo' }).read()).values, [{ power_w: 60 }]);
  });

  it('falls back to securePassthrough when the device has no KLAP endpoint, and renews its session', async () => {
    const old = await device({ family: 'tapo', transport: 'passthrough' });
    old.tapo!.power_w = 5;
    const driver = driverFor(old, { protocol: 'tapo' });
    assert.deepEqual(await driver.read(), { values: [{ power_w: 5 }], on: false });
    await driver.setPower(true);
    assert.equal(old.tapo!.on, true);
    old.expireSessions();
    assert.deepEqual((await driver.read()).on, true);
    assert.equal(old.handshakes, 2);
  });

  it('says the account is wrong on securePassthrough too', async () => {
    const old = await device({ family: 'tapo', transport: 'passthrough', password: 'not ours' });
    const error = await failureOf(driverFor(old, { protocol: 'tapo' }).read());
    assert.equal(error.code, 'DEVICE_AUTH_FAILED');
    assert.match(error.message, /refused the configured TP-Link account at login/);
  });

  it('reads and switches the outlets of a P304M one by one', async () => {
    const strip = await device({ family: 'tapo', tapoModel: 'P304M' });
    strip.tapo!.outlets.forEach((outlet, index) => (outlet.power_w = [100, 0, 7.5][index]!));
    const second = driverFor(strip, { protocol: 'tapo', outlet: 2 });
    const third = driverFor(strip, { protocol: 'tapo', child_id: strip.tapo!.outlets[2]!.device_id });
    assert.deepEqual(await second.read(), { values: [{ power_w: 0 }], on: false });
    assert.deepEqual(await third.read(), { values: [{ power_w: 7.5 }], on: false });
    await second.setPower(true);
    assert.deepEqual(
      strip.tapo!.outlets.map((outlet) => outlet.on),
      [false, true, false],
    );
    const missing = await failureOf(driverFor(strip, { protocol: 'tapo', outlet: 4 }).read());
    assert.equal(missing.code, 'DEVICE_ERROR');
    assert.match(missing.message, /lists 3 outlet\(s\) .*none is outlet 4/);
  });
});

describe('Kasa power strips (HS300)', () => {
  const WATTS = [5, 1200, 60, 0, 300, 40];

  it('reads each outlet with its own emeter and switches only the outlet asked for', async () => {
    const strip = await SimulatedPlug.start({ model: 'hs300' });
    plugs.push(strip);
    WATTS.forEach((power, index) => strip.kasa.setOutletRealtime(index + 1, { power }));
    const outlets = WATTS.map((_, index) => driverFor(strip, { outlet: index + 1 }));
    for (const [index, driver] of outlets.entries()) {
      const reading = await driver.read();
      assert.deepEqual(reading.values, [strip.kasa.expectedOutlet(index + 1)]);
      assert.equal(reading.values[0]?.power_w, WATTS[index]);
    }
    await outlets[1]!.setPower(true);
    assert.deepEqual(
      WATTS.map((_, index) => strip.kasa.outletOn(index + 1)),
      [false, true, false, false, false, false],
    );
    assert.deepEqual(await outlets[1]!.getState(), { on: true });
    assert.deepEqual(await outlets[2]!.getState(), { on: false });
    const byId = driverFor(strip, { child_id: strip.kasa.outletId(5).slice(-2) });
    assert.equal((await byId.read()).values[0]?.power_w, 300);
    assert.equal((await outlets[4]!.describe()).details?.outlet, '5');
  });

  it('lists the outlets when discovered, one registry entry each', async () => {
    const strip = await SimulatedPlug.start({ model: 'hs300', alias: 'Desk strip' });
    plugs.push(strip);
    const found = await discoverTplink({
      timeoutMs: 800,
      broadcast: '127.255.255.255',
      devices: [{ host: strip.host, port: strip.port }],
    });
    assert.equal(found[0]?.outlets?.length, 6);
    const yaml = discoveryAsRegistryYaml(found);
    assert.match(yaml, /strip with 6 outlets, one entry each/);
    for (let outlet = 1; outlet <= 6; outlet++) assert.match(yaml, new RegExp(`outlet: ${outlet}\n`));
    const ids = [...yaml.matchAll(/- id: (\S+)/g)].map((match) => match[1]);
    assert.equal(new Set(ids).size, 6, 'six distinct ids');
  });

  it('refuses a strip without an outlet, and an outlet the strip does not list', async () => {
    const strip = await SimulatedPlug.start({ model: 'hs300' });
    plugs.push(strip);
    const whole = await failureOf(driverFor(strip, {}).getState());
    assert.match(whole.message, /is a power strip with 6 outlets: give each outlet its own registry entry/);
    strip.kasa.keepOutlets(4);
    const fifth = await failureOf(driverFor(strip, { outlet: 5 }).read());
    assert.equal(fifth.code, 'DEVICE_ERROR');
    assert.match(fifth.message, /lists 4 outlet\(s\) .*none is outlet 5/);
  });
});

describe('protocol detection and registry keys', () => {
  it('says that port 80 answers KLAP when port 9999 refuses the connection', async () => {
    // A loopback address of its own, so this test can hold port 80 on it.
    const host = `127.${20 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}.7`;
    const plug = await device({ family: 'kasa', host, port: 80 });
    const error = await failureOf(driverFor({ host: plug.host, port: 9999 }, {}).read());
    assert.equal(error.code, 'DEVICE_UNREACHABLE');
    assert.match(error.message, /unreachable \(ECONNREFUSED\); but port 80 answers KLAP.*protocol: klap/);
  });

  it('fills port 80 for klap and tapo, 9999 for legacy, and refuses two ways of saying one thing', async () => {
    const file = join(dir, 'devices.yaml');
    await writeFile(
      file,
      `devices:
  - { id: a, type: tplink, location: home, kind: appliance, connection: { host: a.lan } }
  - { id: b, type: tplink, location: home, kind: appliance, connection: { host: b.lan, protocol: klap, username: me@example.com, password_env: KASA_PASSWORD } }
  - { id: c, type: tplink, location: home, kind: appliance, connection: { host: c.lan, protocol: tapo, outlet: 2 } }
`,
    );
    const registry = await loadRegistry(file);
    assert.deepEqual(
      registry.devices.map((entry) => (entry.connection as { port: number }).port),
      [9999, 80, 80],
    );
    await writeFile(
      file,
      `devices:
  - { id: a, type: tplink, location: home, kind: appliance, connection: { host: a.lan, outlet: 1, child_id: '00' } }
  - { id: b, type: tplink, location: home, kind: appliance, connection: { host: b.lan, protocol: kasa } }
`,
    );
    const error = await loadRegistry(file).catch((caught: unknown) => caught);
    assert.ok(error instanceof RegistryError);
    assert.match(
      error.message,
      /:2 \/devices\/0\/connection: has keys that cannot be used together \(keys: host, outlet, child_id/,
    );
    assert.match(error.message, /:3 \/devices\/1\/connection\/protocol: /);
  });
});
