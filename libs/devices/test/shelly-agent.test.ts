import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ReadingSchema,
  ResponseEnvelopeSchema,
  validator,
  type Reading,
  type ResponseEnvelope,
} from '@wattbus/contracts';
import { SimulatedShelly } from '@wattbus/simulators';
import { startAedes, type AedesServer } from '@wattbus/testing';
import { stringify } from 'yaml';

/**
 * The Shelly driver inside the real agent process (services/agent/src/main.ts), against an aedes
 * broker: what a third-party subscriber sees. The agent is started as a process, not imported:
 * libs/devices must not depend on the service built on it.
 */
const AGENT_MAIN = fileURLToPath(new URL('../../../services/agent/src/main.ts', import.meta.url));
const checkReading = validator(ReadingSchema);
const checkResponse = validator(ResponseEnvelopeSchema);

/** Everything the broker routes under `wattbus/`, with waiters woken on every message. */
class BrokerLog {
  readonly readings = new Map<string, Reading[]>();
  readonly availability = new Map<string, string[]>();
  readonly states = new Map<string, boolean[]>();
  readonly replies = new Map<string, ResponseEnvelope>();
  readonly invalid: string[] = [];
  #waiters = new Set<() => void>();

  constructor(server: AedesServer) {
    server.broker.on('publish', (packet) => {
      const parts = packet.topic.split('/');
      if (parts[0] !== 'wattbus') return;
      const text = packet.payload.toString();
      if (parts[1] === 'devices' && parts.length === 4) {
        const [, , device, kind] = parts as [string, string, string, string];
        if (kind === 'readings') {
          const reading: unknown = JSON.parse(text);
          if (!checkReading(reading)) this.invalid.push(`${text}: ${checkReading.errorText()}`);
          else push(this.readings, device, reading);
        } else if (kind === 'availability') push(this.availability, device, text);
        else if (kind === 'state') push(this.states, device, (JSON.parse(text) as { on: boolean }).on);
      } else if (parts[1] === 'replies') {
        const envelope: unknown = JSON.parse(text);
        if (checkResponse(envelope)) this.replies.set(envelope.id, envelope);
      }
      for (const wake of this.#waiters) wake();
    });
  }

  count(device: string): number {
    return this.readings.get(device)?.length ?? 0;
  }

  until(what: string, test: () => boolean, timeoutMs = 20_000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const wake = () => {
        if (!test()) return;
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      this.#waiters.add(wake);
    });
  }
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key) ?? [];
  list.push(value);
  map.set(key, list);
}

describe('shelly devices in the agent (process) through an aedes broker', () => {
  let broker: AedesServer;
  let log: BrokerLog;
  let dir: string;
  let agent: ChildProcess | undefined;
  let exited: Promise<number | null>;
  let output = '';
  const devices = new Map<string, SimulatedShelly>();
  const BAD = ['garbage', 'server-error', 'wrong-type', 'wrong-password'];

  before(async () => {
    broker = await startAedes();
    log = new BrokerLog(broker);
    dir = await mkdtemp(join(tmpdir(), 'wattbus-shelly-agent-'));
    devices.set(
      'kettle',
      await SimulatedShelly.start({
        model: 'plus-plug-s',
        password: 'kettle-pw',
        meter: { power_w: 1850.5, voltage_v: 230.1, current_a: 8.04, frequency_hz: 50, energy_wh: 42.125 },
      }),
    );
    devices.set(
      'mains',
      await SimulatedShelly.start({
        model: '3em',
        meter: { power_w: 100, voltage_v: 230, current_a: 0.5, power_factor: 0.9, energy_wh: 1000 },
      }),
    );
    devices.set('garbage', await SimulatedShelly.start({ model: 'plug-s' }));
    devices.set('server-error', await SimulatedShelly.start({ model: 'pro-3em' }));
    devices.set('wrong-type', await SimulatedShelly.start({ model: 'plus-plug-s', meter: { power_w: 7 } }));
    devices.set('wrong-password', await SimulatedShelly.start({ model: 'plus-plug-s', password: 'right' }));
    // Shellies as users own them: a relay without a meter, a Pro EM's two em1 channels (one exporting),
    // a Pro 3EM in monophase profile, and a Pro 3EM that sends nulls for what it cannot measure.
    devices.set('porch', await SimulatedShelly.start({ model: 'plus-1', relayOn: false }));
    const proEm = await SimulatedShelly.start({ model: 'pro-em' });
    proEm.setMeter(
      { power_w: 812.5, voltage_v: 230.4, current_a: 3.6, power_factor: 0.98, energy_wh: 5000 },
      0,
    );
    proEm.setMeter(
      {
        power_w: -1200,
        voltage_v: 230.4,
        current_a: 5.3,
        power_factor: -0.99,
        energy_wh: 7,
        returned_wh: 3456.5,
      },
      1,
    );
    devices.set('grid', proEm);
    devices.set('pv', proEm);
    const circuits = await SimulatedShelly.start({ model: 'pro-3em', profile: 'monophase' });
    circuits.setMeter({ power_w: 400, voltage_v: 229, current_a: 1.75, power_factor: 1, energy_wh: 90 }, 2);
    devices.set('heat-pump', circuits);
    devices.set(
      'nulls',
      await SimulatedShelly.start({ model: 'pro-3em', meter: { power_w: 50, energy_wh: 9 } }),
    );
    devices.get('nulls')!.fault = 'null-readings';
    // A Pro 3EM at the grid connection of a solar home, exporting on two phases.
    const house = await SimulatedShelly.start({ model: 'pro-3em' });
    house.setMeter(
      { power_w: -1500.5, current_a: 6.6, power_factor: -1, energy_wh: 1000, returned_wh: 2500.25 },
      0,
    );
    house.setMeter(
      { power_w: -800, current_a: 3.5, power_factor: -1, energy_wh: 2000, returned_wh: 1200 },
      1,
    );
    house.setMeter({ power_w: 300, current_a: 1.3, power_factor: 1, energy_wh: 3000.5, returned_wh: 10 }, 2);
    devices.set('house', house);
    devices.get('garbage')!.fault = 'garbage';
    devices.get('server-error')!.fault = 'server-error';
    devices.get('wrong-type')!.fault = 'wrong-type';

    const registry = join(dir, 'devices.yaml');
    const connection: Record<string, Record<string, unknown>> = {
      kettle: { password: 'kettle-pw' },
      'wrong-password': { password: 'wrong' },
      pv: { channel: 1 },
      'heat-pump': { channel: 2 },
    };
    await writeFile(
      registry,
      stringify({
        defaults: { poll_interval_ms: 100, timeout_ms: 1000, offline_after_failures: 2, max_backoff_ms: 200 },
        devices: [...devices].map(([id, device]) => ({
          id,
          type: 'shelly',
          location: `home/${id}`,
          kind: ['mains', 'grid', 'pv', 'nulls', 'house'].includes(id) ? 'meter' : 'appliance',
          connection: { host: device.host, port: device.port, ...connection[id] },
        })),
      }),
    );
    agent = spawn(process.execPath, ['--import', 'tsx', AGENT_MAIN, '--registry', registry], {
      env: {
        ...process.env,
        LOG_LEVEL: 'debug',
        WATTBUS_AGENT_MQTT__URL: broker.url,
        WATTBUS_AGENT_ID: 'agent-shelly',
        WATTBUS_AGENT_DEVICE_WILLS: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    agent.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    exited = new Promise((resolve) => agent!.once('exit', (code) => resolve(code)));
  });

  /** Sends `set {on}` to a device and waits for its correlated answer. */
  const request = async (device: string, on: boolean): Promise<ResponseEnvelope> => {
    const id = randomUUID();
    const payload = JSON.stringify({ id, reply_to: `wattbus/replies/shelly-test/${id}`, params: { on } });
    await new Promise<void>((resolve, reject) =>
      broker.broker.publish(
        {
          cmd: 'publish',
          topic: `wattbus/devices/${device}/req/set`,
          payload: Buffer.from(payload),
          qos: 1,
          retain: false,
          dup: false,
        },
        (error) => (error ? reject(error) : resolve()),
      ),
    );
    await log.until(`the reply to set ${device}`, () => log.replies.has(id));
    return log.replies.get(id)!;
  };

  after(async () => {
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      agent.kill('SIGTERM');
      await exited;
    }
    await Promise.all([...devices.values()].map((device) => device.stop()));
    await broker?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('publishes exact readings of good devices: one plug, a 3EM as three phases plus a total', async () => {
    await log.until(
      'readings of the kettle and a whole poll of the mains',
      () => log.count('kettle') >= 2 && log.count('mains') >= 4,
    );
    const kettle = log.readings.get('kettle')![0]!;
    assert.deepEqual(
      { ...kettle, ts: undefined },
      {
        ts: undefined,
        device: 'kettle',
        power_w: 1850.5,
        voltage_v: 230.1,
        current_a: 8.04,
        frequency_hz: 50,
        energy_wh: 42.125,
        energy_returned_wh: 0,
        type: 'shelly',
        location: 'home/kettle',
      },
    );
    const poll = log.readings.get('mains')!.slice(0, 4);
    assert.deepEqual(
      poll.map((reading) => [reading.phase, reading.power_w, reading.energy_wh]),
      [
        ['L1', 100, 1000],
        ['L2', 100, 1000],
        ['L3', 100, 1000],
        [undefined, 300, 3000],
      ],
    );
    assert.equal(new Set(poll.map((reading) => reading.ts)).size, 1, 'one poll, one timestamp');
    assert.deepEqual(log.availability.get('kettle'), ['online']);
    assert.deepEqual(log.states.get('kettle'), [true]);
  });

  it('skips readings of garbage, a 500, a wrong-typed field and a wrong password, with a logged reason; never online', async () => {
    await log.until('every bad device offline', () =>
      BAD.every((id) => log.availability.get(id)?.at(-1) === 'offline'),
    );
    for (const id of BAD) {
      assert.equal(log.count(id), 0, `${id} published no reading`);
      assert.deepEqual(log.availability.get(id), ['offline'], `${id} was never online`);
    }
    assert.deepEqual(log.invalid, [], 'nothing outside the reading schema reached the broker');
    const lines = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const reasonOf = (device: string) =>
      lines.find((line) => line.device === device && line.msg === 'shelly answer refused')?.err as
        string | undefined;
    assert.match(reasonOf('garbage') ?? '', /not JSON: "<html>/);
    assert.match(reasonOf('server-error') ?? '', /HTTP 500/);
    assert.match(reasonOf('wrong-type') ?? '', /\/apower: must be number/);
    assert.match(reasonOf('wrong-password') ?? '', /refused the password of 'admin'/);
  });

  it('keeps polling the good devices and answers commands while the bad ones fail', async () => {
    const before = log.count('kettle');
    await log.until('more kettle readings', () => log.count('kettle') >= before + 3);
    assert.equal(agent!.exitCode, null, 'the agent is still running');

    const switched = await request('kettle', false);
    assert.equal(switched.ok, true, JSON.stringify(switched));
    assert.equal(devices.get('kettle')!.relays[0], false);
    await log.until('the kettle state off', () => log.states.get('kettle')?.at(-1) === false);

    const refused = await request('wrong-password', true);
    assert.deepEqual(refused.ok ? undefined : refused.error.code, 'DEVICE_AUTH_FAILED');
    const broken = await request('garbage', false);
    assert.deepEqual(broken.ok ? undefined : broken.error.code, 'DEVICE_ERROR');
  });

  it('brings a device online once its answers are right again', async () => {
    devices.get('wrong-type')!.fault = undefined;
    await log.until('readings of the repaired device', () => log.count('wrong-type') >= 1);
    assert.equal(log.readings.get('wrong-type')![0]!.power_w, 7);
    await log.until(
      'the repaired device online',
      () => log.availability.get('wrong-type')?.at(-1) === 'online',
    );
  });

  it('a relay without a meter (Plus 1): online, its state, no readings; set answers ok:true once it switched', async () => {
    await log.until('the porch relay online with its state', () => log.states.get('porch')?.length === 1);
    assert.deepEqual(log.availability.get('porch'), ['online']);
    assert.deepEqual(log.states.get('porch'), [false]);
    const switched = await request('porch', true);
    assert.equal(switched.ok, true, JSON.stringify(switched));
    assert.equal(switched.ok ? (switched.result as { on: boolean }).on : undefined, true);
    assert.equal(devices.get('porch')!.relays[0], true);
    await log.until('the porch state on', () => log.states.get('porch')?.at(-1) === true);
    assert.equal(log.count('porch'), 0, 'no meter, no reading');
    assert.deepEqual(log.availability.get('porch'), ['online']);
  });

  it('em1 channels (Pro EM, Pro 3EM in monophase profile): exact readings, exporting channel negative, online', async () => {
    await log.until('readings of both Pro EM channels and the heat pump circuit', () =>
      ['grid', 'pv', 'heat-pump'].every((id) => log.count(id) >= 1),
    );
    const values = (id: string) => {
      const { ts, device, type, location, ...rest } = log.readings.get(id)![0]!;
      assert.equal(device, id);
      assert.equal(type, 'shelly');
      assert.equal(location, `home/${id}`);
      assert.ok(ts);
      return rest;
    };
    assert.deepEqual(values('grid'), {
      power_w: 812.5,
      voltage_v: 230.4,
      current_a: 3.6,
      power_factor: 0.98,
      frequency_hz: 50,
      energy_wh: 5000,
      energy_returned_wh: 0,
    });
    assert.deepEqual(values('pv'), {
      power_w: -1200,
      voltage_v: 230.4,
      current_a: 5.3,
      power_factor: -0.99,
      frequency_hz: 50,
      energy_wh: 7,
      energy_returned_wh: 3456.5,
    });
    assert.deepEqual(values('heat-pump'), {
      power_w: 400,
      voltage_v: 229,
      current_a: 1.75,
      power_factor: 1,
      frequency_hz: 50,
      energy_wh: 90,
      energy_returned_wh: 0,
    });
    for (const id of ['grid', 'pv', 'heat-pump']) assert.deepEqual(log.availability.get(id), ['online']);
  });

  it('a meter sending nulls (n_current, voltages, power factors): readings without those fields, online', async () => {
    await log.until('a whole poll of the meter with nulls', () => log.count('nulls') >= 4);
    const poll = log.readings.get('nulls')!.slice(0, 4);
    assert.deepEqual(
      poll.map((reading) => [reading.phase, reading.power_w, reading.energy_wh, reading.voltage_v]),
      [
        ['L1', 50, 9, undefined],
        ['L2', 50, 9, undefined],
        ['L3', 50, 9, undefined],
        [undefined, 150, 27, undefined],
      ],
    );
    assert.deepEqual(log.availability.get('nulls'), ['online']);
    assert.deepEqual(log.invalid, []);
  });

  it('an exporting Pro 3EM: negative power and returned energy per phase and in total, online', async () => {
    await log.until('a whole poll of the house meter', () => log.count('house') >= 4);
    const poll = log.readings.get('house')!.slice(0, 4);
    assert.deepEqual(
      poll.map((reading) => [reading.phase, reading.power_w, reading.energy_wh, reading.energy_returned_wh]),
      [
        ['L1', -1500.5, 1000, 2500.25],
        ['L2', -800, 2000, 1200],
        ['L3', 300, 3000.5, 10],
        [undefined, -2000.5, 6000.5, 3710.25],
      ],
    );
    assert.equal(new Set(poll.map((reading) => reading.ts)).size, 1, 'one poll, one timestamp');
    assert.deepEqual(log.availability.get('house'), ['online']);
  });
});
