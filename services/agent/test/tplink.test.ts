import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WattbusError, type DeviceState } from '@wattbus/contracts';
import { SimulatedKlapDevice, SimulatedPlug } from '@wattbus/simulators';
import { startAedes, type AedesServer } from '@wattbus/testing';
import { stringify } from 'yaml';
import { Observer } from './helpers.js';

/**
 * TP-Link as users own it today, through the real agent process: a Kasa plug on KLAP firmware, a
 * Tapo P110, a plug bound to another account, and an HS300 strip with one registry entry per
 * outlet (and one for a seventh outlet it does not have).
 */
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const USER = 'owner@example.com';
const PASSWORD = 'Zebra-Lantern-42';
const WATTS = [5, 1200, 60, 0, 300, 40];

interface LogLine {
  msg?: string;
  device?: string;
  code?: string;
  err?: string;
}

describe('TP-Link KLAP, Tapo and HS300 outlets in the agent process', () => {
  let dir: string;
  let broker: AedesServer;
  let observer: Observer;
  let kasa: SimulatedKlapDevice;
  let tapo: SimulatedKlapDevice;
  let stranger: SimulatedKlapDevice;
  let strip: SimulatedPlug;
  let agent: ChildProcess;
  let output = '';
  let exited: Promise<number | null>;

  const logLines = (): LogLine[] =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  /** Once the agent has logged a line `match` accepts: its stdout can trail its MQTT answer. */
  const logged = (what: string, match: (line: LogLine) => boolean) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the agent never logged ${what}:\n${output}`)), 10_000);
      const check = () => {
        if (!logLines().some(match)) return;
        clearTimeout(timer);
        agent.stdout!.off('data', check);
        resolve();
      };
      agent.stdout!.on('data', check);
      check();
    });
  const set = (id: string, on: boolean) =>
    observer.bus.request<DeviceState>(
      observer.bus.topics.deviceRequest(id, 'set'),
      { on },
      { timeoutMs: 8000 },
    );

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wattbus-agent-tplink-'));
    broker = await startAedes();
    observer = await Observer.connect(broker.url);
    kasa = await SimulatedKlapDevice.start({
      family: 'kasa',
      username: USER,
      password: PASSWORD,
      alias: 'Kettle',
    });
    kasa.kasa!.setRealtime({ power: 1834.5, voltage: 231.2, current: 7.93, total: 12.5 });
    tapo = await SimulatedKlapDevice.start({
      family: 'tapo',
      username: USER,
      password: PASSWORD,
      alias: 'Dryer',
    });
    tapo.tapo!.power_w = 812.25;
    stranger = await SimulatedKlapDevice.start({
      family: 'kasa',
      username: 'neighbour@example.com',
      password: 'x',
    });
    strip = await SimulatedPlug.start({ model: 'hs300' });
    WATTS.forEach((power, index) => strip.kasa.setOutletRealtime(index + 1, { power }));
    const account = { username: USER, password_env: 'WATTBUS_TEST_TPLINK_PASSWORD' };
    const entry = (id: string, connection: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      id,
      type: 'tplink',
      location: 'home/kitchen',
      kind: 'appliance',
      poll_interval_ms: 1000,
      connection,
      ...extra,
    });
    const registry = join(dir, 'devices.yaml');
    await writeFile(
      registry,
      stringify({
        devices: [
          entry('kettle', { host: kasa.host, port: kasa.port, protocol: 'klap', ...account }),
          entry('dryer', { host: tapo.host, port: tapo.port, protocol: 'tapo', ...account }),
          entry(
            'neighbour',
            { host: stranger.host, port: stranger.port, protocol: 'klap', ...account },
            { offline_after_failures: 1, max_backoff_ms: 2000 },
          ),
          ...WATTS.map((_, index) =>
            entry(`strip-${index + 1}`, { host: strip.host, port: strip.port, outlet: index + 1 }),
          ),
          entry('strip-7', { host: strip.host, port: strip.port, outlet: 7 }, { offline_after_failures: 1 }),
        ],
      }),
    );
    agent = spawn(process.execPath, ['--import', 'tsx', MAIN, '--registry', registry], {
      env: {
        ...process.env,
        LOG_LEVEL: 'debug',
        WATTBUS_AGENT_MQTT__URL: broker.url,
        WATTBUS_AGENT_ID: 'agent-tplink',
        WATTBUS_TEST_TPLINK_PASSWORD: PASSWORD,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    agent.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    exited = new Promise((resolve) => agent.once('exit', (code) => resolve(code)));
  });

  after(async () => {
    if (agent && agent.exitCode === null && agent.signalCode === null) agent.kill('SIGTERM');
    await exited;
    await observer?.stop();
    await Promise.all([kasa, tapo, stranger, strip].map((device) => device?.stop()));
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a Kasa plug on KLAP firmware and a Tapo P110 at 1 s and switches both with the confirmed state', async () => {
    await observer.until(
      '3 readings of each',
      () => observer.count('kettle') >= 3 && observer.count('dryer') >= 3,
      20_000,
    );
    const kettle = observer.readings.get('kettle')!.at(-1)!;
    assert.deepEqual(
      {
        power_w: kettle.power_w,
        voltage_v: kettle.voltage_v,
        current_a: kettle.current_a,
        energy_wh: kettle.energy_wh,
      },
      kasa.kasa!.expected(),
    );
    assert.equal(observer.readings.get('dryer')!.at(-1)!.power_w, 812.25);
    assert.equal(observer.meta.get('kettle')?.poll_interval_ms, 1000);

    const kettleOn = await set('kettle', true);
    assert.equal(kettleOn.on, true);
    assert.equal(kasa.kasa!.relayOn, true);
    const dryerOn = await set('dryer', true);
    assert.equal(dryerOn.on, true);
    assert.equal(tapo.tapo!.on, true);
    await observer.until('retained states on', () =>
      ['kettle', 'dryer'].every((id) => observer.states.get(id)?.at(-1)?.on === true),
    );
    assert.equal((await set('dryer', false)).on, false);
    assert.equal(tapo.tapo!.on, false);
  });

  it('renews an expired KLAP session without a lost poll', async () => {
    const handshakes = kasa.handshakes;
    const before = observer.count('kettle');
    kasa.expireSessions();
    await observer.until('two more kettle readings', () => observer.count('kettle') >= before + 2, 10_000);
    assert.equal(kasa.handshakes, handshakes + 1, 'one new handshake');
    assert.ok(kasa.refusedSessions >= 1, 'the device refused the old session');
    const failed = logLines().filter((line) => line.msg === 'poll failed' && line.device === 'kettle');
    assert.deepEqual(failed, [], 'no poll of the kettle failed');
    assert.deepEqual(observer.availability.get('kettle'), ['online']);
  });

  it('says clearly that a plug refuses the account, marks it offline, and keeps running', async () => {
    await observer.until('neighbour offline', () => observer.lastAvailability('neighbour') === 'offline');
    const offline = logLines().find((line) => line.msg === 'device offline' && line.device === 'neighbour');
    assert.equal(offline?.code, 'DEVICE_AUTH_FAILED');
    assert.match(offline?.err ?? '', /does not accept the configured TP-Link account/);
    assert.equal(observer.count('neighbour'), 0);
    const answer = await set('neighbour', true).then(
      () => assert.fail('expected an error answer'),
      (error: unknown) => error,
    );
    assert.ok(answer instanceof WattbusError);
    assert.equal(answer.code, 'DEVICE_AUTH_FAILED');
    assert.equal(agent.exitCode, null, 'the agent still runs');
    assert.doesNotMatch(output, new RegExp(PASSWORD), 'the password is never logged');
  });

  it('publishes the six HS300 outlets as six devices with their own power and switches only the one asked for', async () => {
    const ids = WATTS.map((_, index) => `strip-${index + 1}`);
    await observer.until(
      'a reading of every outlet',
      () => ids.every((id) => observer.count(id) >= 1),
      20_000,
    );
    assert.deepEqual(
      ids.map((id) => observer.readings.get(id)!.at(-1)!.power_w),
      WATTS,
    );
    const answer = await set('strip-3', true);
    assert.equal(answer.on, true);
    assert.deepEqual(
      WATTS.map((_, index) => strip.kasa.outletOn(index + 1)),
      [false, false, true, false, false, false],
    );
    await observer.until('outlet 3 on, the others off', () =>
      ids.every((id) => observer.states.get(id)?.at(-1)?.on === (id === 'strip-3')),
    );
    assert.ok(ids.every((id) => observer.lastAvailability(id) === 'online'));
  });

  it('marks an outlet the strip does not have offline, naming how many it has', async () => {
    await observer.until('strip-7 offline', () => observer.lastAvailability('strip-7') === 'offline');
    const offline = logLines().find((line) => line.msg === 'device offline' && line.device === 'strip-7');
    assert.equal(offline?.code, 'DEVICE_ERROR');
    assert.match(offline?.err ?? '', /lists 6 outlet\(s\) .*none is outlet 7/);
  });

  it('confirms a switch whose answer was lost from a fresh state read; a device that did not switch gets DEVICE_STATE_MISMATCH', async () => {
    await set('kettle', false);
    kasa.actThenFail = 1;
    const confirmed = await set('kettle', true);
    assert.equal(confirmed.on, true);
    assert.equal(kasa.kasa!.relayOn, true);
    await logged(
      'that the state read afterwards shows the switch acted',
      (line) => line.device === 'kettle' && /the state read afterwards shows it acted/.test(line.msg ?? ''),
    );
    kasa.stuckRelay = true;
    const refused = await set('kettle', false).then(
      () => assert.fail('expected an error answer'),
      (error: unknown) => error,
    );
    kasa.stuckRelay = false;
    assert.ok(refused instanceof WattbusError);
    assert.equal(refused.code, 'DEVICE_STATE_MISMATCH');
    assert.match(refused.message, /kettle did not switch off: read after the command, it reports on/);
  });
});
