// The collector end to end: the real agent process (services/agent) polls Modbus meters on a
// TCP server and on a socat pty pair and publishes to an in-process aedes broker.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startAedes, startWatched, type AedesServer, type WatchedProcess } from '@wattbus/testing';
import { loadProfile, type ReadingValues } from '@wattbus/devices';
import { SimulatedMeters, type SimulatedServer } from '@wattbus/simulators';
import { ModbusRegistry, sampleValues } from './modbus-helpers.js';
import { PtyPair } from './modbus-socat.js';

const AGENT_MAIN = fileURLToPath(new URL('../../../services/agent/src/main.ts', import.meta.url));
const INTERVAL_MS = 1000;
const TCP_PROFILES = ['orno-we-514', 'orno-we-516', 'eastron-sdm120', 'eastron-sdm630'];

interface Message {
  topic: string;
  text: string;
  at: number;
}

/** Everything clients publish on the broker, in order. */
class Observer {
  readonly messages: Message[] = [];
  #waiters = new Set<() => void>();

  constructor(broker: AedesServer) {
    broker.broker.on('publish', (packet, client) => {
      if (!client) return;
      this.messages.push({ topic: packet.topic, text: packet.payload.toString(), at: Date.now() });
      for (const wake of this.#waiters) wake();
    });
  }

  readings(
    device: string,
  ): (ReadingValues & { ts: string; device: string; type?: string; location?: string })[] {
    return this.messages
      .filter((message) => message.topic === `wattbus/devices/${device}/readings`)
      .map((message) => JSON.parse(message.text));
  }

  availability(device: string): Message[] {
    return this.messages.filter((message) => message.topic === `wattbus/devices/${device}/availability`);
  }

  /** Resolves once `test` holds for the messages seen so far (checked on every new message). */
  async until<T>(what: string, test: () => T | undefined, timeoutMs = 15_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const result = test();
        if (result === undefined || result === false) return;
        cleanup();
        resolve(result);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }
}

describe(
  'agent collector with Modbus meters',
  { skip: !existsSync(AGENT_MAIN) && 'services/agent is not there' },
  () => {
    let broker: AedesServer;
    let observer: Observer;
    let registry: ModbusRegistry;
    let pty: PtyPair;
    let agent: WatchedProcess | undefined;
    let tcp: SimulatedServer;
    let serial: SimulatedServer | undefined;
    const tcpMeters = new SimulatedMeters();
    const busMeters = new SimulatedMeters();
    const orno = loadProfile('orno-we-514');
    const sdm = loadProfile('eastron-sdm120');

    function startAgent(file: string, log: string): WatchedProcess {
      return startWatched(
        'env',
        [
          `WATTBUS_AGENT_MQTT__URL=${broker.url}`,
          'WATTBUS_AGENT_ID=modbus-test',
          'WATTBUS_AGENT_DEVICE_WILLS=false',
          'LOG_LEVEL=info',
          process.execPath,
          '--import',
          'tsx',
          AGENT_MAIN,
          '--registry',
          file,
        ],
        log,
      );
    }

    before(async () => {
      broker = await startAedes();
      observer = new Observer(broker);
      registry = await ModbusRegistry.create();
      TCP_PROFILES.forEach((name, index) =>
        tcpMeters.setMeter(index + 1, loadProfile(name), sampleValues(loadProfile(name))),
      );
      // Meters as users own them: SDM630s whose firmware refuses reads of more than 50 registers
      // (one read with the shipped profile, one with a profile that merges 76 registers), and an
      // SDM120 that answers busy to its first request.
      const sdm630 = loadProfile('eastron-sdm630');
      tcpMeters.setMeter(5, sdm630, sampleValues(sdm630, 1), { maxRegistersPerRead: 50 });
      tcpMeters.setMeter(6, sdm630, sampleValues(sdm630, 2), { maxRegistersPerRead: 50 });
      tcpMeters.setMeter(7, sdm, sampleValues(sdm, 3));
      tcpMeters.failNext(7, 6);
      tcp = await tcpMeters.serveTcp();
      pty = new PtyPair(registry.dir);
      await pty.start();
      busMeters.setMeter(1, orno, sampleValues(orno));
      busMeters.setMeter(2, sdm, sampleValues(sdm));
      busMeters.silence(3);
      serial = await busMeters.serveSerial(pty.b, { baudRate: 9600, parity: 'even' });
      const rtu = { transport: 'rtu', path: pty.a, response_timeout_ms: 200, retries: 1 };
      const file = await registry.write('devices.yaml', {
        defaults: {
          poll_interval_ms: INTERVAL_MS,
          timeout_ms: 900,
          offline_after_failures: 2,
          max_backoff_ms: 1000,
        },
        devices: [
          ...TCP_PROFILES.map((profile, index) => ({
            id: `tcp-${profile}`,
            type: 'modbus',
            location: `hq/meters/${profile}`,
            kind: 'meter',
            connection: { profile, transport: 'tcp', host: tcp.host, port: tcp.port, unit_id: index + 1 },
          })),
          ...[
            { id: 'sdm-strict', unit_id: 5 },
            { id: 'sdm-long-reads', unit_id: 6, max_registers_per_read: 125 },
            { id: 'sdm-busy', unit_id: 7, profile: 'eastron-sdm120' },
          ].map(({ id, ...connection }) => ({
            id,
            location: `hq/meters/${id}`,
            connection: {
              profile: 'eastron-sdm630',
              transport: 'tcp',
              host: tcp.host,
              port: tcp.port,
              ...connection,
            },
          })),
          { id: 'flat', connection: { ...rtu, profile: 'orno-we-514', unit_id: 1 } },
          {
            id: 'heat-pump',
            connection: { ...rtu, profile: 'eastron-sdm120', unit_id: 2, baud_rate: 9600, parity: 'even' },
          },
          { id: 'garage', connection: { ...rtu, profile: 'orno-we-514', unit_id: 3 } },
        ].map((device) => ({ type: 'modbus', location: 'home/cellar', kind: 'meter', ...device })),
      });
      agent = startAgent(file, join(registry.dir, 'agent.log'));
    });

    after(async () => {
      await agent?.stop();
      await serial?.close();
      await pty?.stop();
      await tcp?.close();
      await registry?.cleanup();
      await broker?.stop();
    });

    it('publishes every field of every profile as encoded, per phase and total', async () => {
      for (const [index, name] of TCP_PROFILES.entries()) {
        const device = `tcp-${name}`;
        const profile = loadProfile(name);
        const expected = sampleValues(profile);
        // One poll publishes one reading per phase plus the total, all with the poll's ts.
        const poll = await observer.until(`readings of ${device}`, () => {
          const readings = observer.readings(device);
          const first = readings[0];
          return first && readings.filter((reading) => reading.ts === first.ts).length >= expected.length
            ? readings.filter((reading) => reading.ts === first.ts)
            : undefined;
        });
        assert.deepEqual(
          poll.map(({ ts: _ts, ...reading }) => reading),
          expected.map((values) => ({ device, ...values, type: 'modbus', location: `hq/meters/${name}` })),
          `${name} (unit ${index + 1})`,
        );
      }
    });

    it('meters with a small read limit or a busy answer: exact readings from the first poll, online, a split logged once', async () => {
      const cases = [
        ['sdm-strict', loadProfile('eastron-sdm630'), 1],
        ['sdm-long-reads', loadProfile('eastron-sdm630'), 2],
        ['sdm-busy', sdm, 3],
      ] as const;
      for (const [device, profile, seed] of cases) {
        const expected = sampleValues(profile, seed);
        const polls = await observer.until(`two polls of ${device}`, () => {
          const readings = observer.readings(device);
          return readings.length >= expected.length * 2 ? readings : undefined;
        });
        assert.deepEqual(
          polls.slice(0, expected.length * 2).map(({ ts: _ts, ...reading }) => reading),
          [...expected, ...expected].map((values) => ({
            device,
            ...values,
            type: 'modbus',
            location: `hq/meters/${device}`,
          })),
          device,
        );
        assert.deepEqual(
          observer.availability(device).map((message) => message.text),
          ['online'],
          device,
        );
      }
      assert.ok(tcpMeters.requestsOf(5).every((request) => request.count <= 40));
      const splits = agent!
        .log()
        .split('\n')
        .filter((line) => line.includes('refused a long read'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.deepEqual(
        splits.map((line) => [line.device, line.refused]),
        [['sdm-long-reads', ['76 registers at 0 (exception 2)']]],
        'logged once, for the meter whose plan changed',
      );
      const counts = tcpMeters.requestsOf(6).map((request) => request.count);
      assert.deepEqual(counts.slice(0, 7), [76, 36, 24, 6, 36, 24, 6], 'split once, the smaller plan kept');
    });

    it('reads two unit ids on one RTU bus at 1 s while a silent unit id goes offline', async () => {
      const offline = await observer.until('garage offline', () =>
        observer.availability('garage').find((message) => message.text === 'offline'),
      );
      // Two more periods with the silent meter offline and in backoff.
      await observer.until('two more readings of flat', () =>
        observer.readings('flat').filter((reading) => Date.parse(reading.ts) > offline.at).length >= 2
          ? true
          : undefined,
      );
      for (const [device, profile] of [
        ['flat', orno],
        ['heat-pump', sdm],
      ] as const) {
        const readings = observer.readings(device);
        assert.ok(readings.length >= 3, `${device}: ${readings.length} readings`);
        for (const reading of readings) {
          const { ts: _ts, device: _device, type: _type, location: _location, ...values } = reading;
          assert.deepEqual([values], sampleValues(profile), device);
        }
        // The pollers keep their 1 s grid although every read of the silent meter took 400 ms of the bus.
        const times = readings.map((reading) => Date.parse(reading.ts));
        const gaps = times.slice(1).map((time, index) => time - times[index]!);
        assert.ok(
          // A skipped tick would show as a gap of two periods.
          gaps.every((gap) => gap < INTERVAL_MS * 1.75),
          `${device}: gaps between readings ${gaps.join(', ')} ms`,
        );
        assert.deepEqual(
          observer.availability(device).map((message) => message.text),
          ['online'],
        );
      }
      assert.equal(observer.readings('garage').length, 0);
      const offlineLog = agent!
        .log()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((line) => line.msg === 'device offline' && line.device === 'garage');
      assert.equal(offlineLog?.code, 'DEVICE_TIMEOUT', 'the silent meter went offline on timeouts');
    });

    it('resumes by itself after the serial link is killed and restored', async () => {
      await serial?.close();
      serial = undefined;
      await pty.stop();
      const lostAt = Date.now();
      await observer.until('flat offline', () =>
        observer.availability('flat').find((message) => message.text === 'offline' && message.at >= lostAt),
      );
      await pty.start();
      serial = await busMeters.serveSerial(pty.b, { baudRate: 9600, parity: 'even' });
      const restoredAt = Date.now();
      for (const device of ['flat', 'heat-pump']) {
        await observer.until(`${device} back online`, () =>
          observer
            .availability(device)
            .find((message) => message.text === 'online' && message.at >= restoredAt),
        );
        await observer.until(`${device} readings after the restore`, () =>
          observer.readings(device).find((reading) => Date.parse(reading.ts) >= restoredAt),
        );
      }
      assert.deepEqual(
        observer.readings('flat').at(-1) && { ...observer.readings('flat').at(-1), ts: undefined },
        { ts: undefined, device: 'flat', ...sampleValues(orno)[0], type: 'modbus', location: 'home/cellar' },
      );
    });

    it('refuses to start with a malformed profile file, naming the file and the place', async () => {
      const bad = await registry.write(
        'bad-meter.yaml',
        'model: Bad meter\nphases: 1\nregisters:\n  - { field: power_w, address: 0x10, type: int32 }\n',
      );
      const file = await registry.write('bad-devices.yaml', {
        devices: [
          {
            id: 'bad',
            type: 'modbus',
            location: 'home',
            kind: 'meter',
            connection: { profile: bad, transport: 'tcp', host: tcp.host, port: tcp.port },
          },
        ],
      });
      const child = spawn(process.execPath, ['--import', 'tsx', AGENT_MAIN, '--registry', file], {
        env: {
          ...process.env,
          WATTBUS_AGENT_MQTT__URL: broker.url,
          WATTBUS_AGENT_ID: 'modbus-bad',
          WATTBUS_AGENT_DEVICE_WILLS: 'false',
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.equal(code, 2); // a configuration error, like every service (docs/operations.md)
      assert.match(
        stderr,
        new RegExp(
          `invalid Modbus meter profile ${bad}:\\n\\s+${bad}:4 /registers/0/type: unknown data type "int32"`,
        ),
      );
      assert.doesNotMatch(stderr, /\n\s+at /, 'a message, not a stack trace');
    });
  },
);
