import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort, waitUntil } from '@wattbus/testing';
import { loadProfile, type DeviceDriver, type ModbusDriver } from '@wattbus/devices';
import { SimulatedMeters, type SimulatedServer } from '@wattbus/simulators';
import { failureOf } from './helpers.js';
import { ModbusRegistry, sampleValues } from './modbus-helpers.js';
import { PtyPair, RtuGateway } from './modbus-socat.js';

describe('Modbus RTU over a socat pty pair', () => {
  const meters = new SimulatedMeters();
  const orno = loadProfile('orno-we-514');
  const sdm = loadProfile('eastron-sdm120');
  let registry: ModbusRegistry;
  let pty: PtyPair;
  let server: SimulatedServer | undefined;
  let ornoMeter: DeviceDriver;
  let sdmMeter: DeviceDriver;
  let silentMeter: DeviceDriver;

  before(async () => {
    registry = await ModbusRegistry.create();
    pty = new PtyPair(registry.dir);
    await pty.start();
    meters.setMeter(1, orno, sampleValues(orno));
    meters.setMeter(2, sdm, sampleValues(sdm));
    meters.silence(3);
    server = await meters.serveSerial(pty.b, { baudRate: 9600, parity: 'even' });
    const rtu = { transport: 'rtu', path: pty.a, response_timeout_ms: 150, retries: 1 };
    [ornoMeter, sdmMeter, silentMeter] = registry.drivers(
      await registry.load([
        { id: 'flat', connection: { ...rtu, profile: 'orno-we-514', unit_id: 1 } },
        // The SDM120 ships at 2400 8N1; on this bus it was set to the ORNO's 9600 8E1.
        {
          id: 'heat-pump',
          connection: { ...rtu, profile: 'eastron-sdm120', unit_id: 2, baud_rate: 9600, parity: 'even' },
        },
        { id: 'garage', connection: { ...rtu, profile: 'orno-we-514', unit_id: 3 } },
      ]),
    ) as [DeviceDriver, DeviceDriver, DeviceDriver];
  });

  after(async () => {
    await registry?.cleanup();
    await server?.close();
    await pty?.stop();
  });

  it('reads two unit ids on one serial bus, one request on the wire at a time', async () => {
    assert.equal(registry.shared.size, 1, 'one line for the three meters');
    const [first, second] = await Promise.all([ornoMeter.read(), sdmMeter.read()]);
    assert.deepEqual(first.values, sampleValues(orno));
    assert.deepEqual(second.values, sampleValues(sdm));
    const line = (ornoMeter as ModbusDriver).line;
    assert.equal(line.metrics().max_in_flight, 1);
    assert.equal(line.label, `${pty.a} 9600 8E1`);
  });

  it('times a silent unit id out while the others keep answering', async () => {
    const line = (ornoMeter as ModbusDriver).line;
    const before = line.metrics();
    // The silent meter's read and the others' run side by side, as the collector's pollers do.
    const silent = failureOf(silentMeter.read());
    const others = await Promise.all([ornoMeter.read(), sdmMeter.read(), ornoMeter.read(), sdmMeter.read()]);
    for (const [index, reading] of others.entries()) {
      assert.deepEqual(reading.values, sampleValues(index % 2 === 0 ? orno : sdm));
    }
    const error = await silent;
    assert.equal(error.code, 'DEVICE_TIMEOUT');
    assert.match(error.message, /garage \(unit 3 on .*\) did not answer in time/);
    const after = line.metrics();
    assert.equal(after.timeouts - before.timeouts, 2, 'one attempt and one retry');
    assert.equal(after.retries - before.retries, 1);
    assert.equal(after.max_in_flight, 1);
    assert.equal(meters.requestsOf(3).length, 2, 'the silent meter was asked twice, for its first read only');
  });

  it('retries an answer with a broken CRC', async () => {
    const line = (ornoMeter as ModbusDriver).line;
    const before = line.metrics();
    meters.corruptNext(2);
    assert.deepEqual((await sdmMeter.read()).values, sampleValues(sdm));
    const after = line.metrics();
    assert.equal(after.corrupt_frames - before.corrupt_frames, 1);
    assert.equal(after.retries - before.retries, 1);
    // Twice in a row exceeds the one retry: the read fails as a device error.
    meters.corruptNext(2, 2);
    const error = await failureOf(sdmMeter.read());
    assert.equal(error.code, 'DEVICE_ERROR');
    assert.match(error.message, /sent a corrupt frame: CRC error/);
  });

  it('recovers by itself when the serial link vanishes and comes back', async () => {
    await server?.close();
    server = undefined;
    await pty.stop();
    const lost = await failureOf(ornoMeter.read());
    assert.ok(['DEVICE_UNREACHABLE', 'DEVICE_TIMEOUT'].includes(lost.code), lost.message);
    assert.equal((await failureOf(sdmMeter.read())).code, 'DEVICE_UNREACHABLE');
    await pty.start();
    server = await meters.serveSerial(pty.b, { baudRate: 9600, parity: 'even' });
    // Polled like the collector does: the same drivers, no restart.
    await waitUntil('readings after the link came back', async () => {
      const reading = await ornoMeter.read();
      return reading.values.length === 1;
    });
    assert.deepEqual((await sdmMeter.read()).values, sampleValues(sdm));
    assert.ok((ornoMeter as ModbusDriver).line.metrics().opens >= 2, 'the port was opened again');
  });
});

describe('Modbus RTU over TCP through a gateway', () => {
  const meters = new SimulatedMeters();
  const profile = loadProfile('eastron-sdm630');
  let registry: ModbusRegistry;
  let gateway: RtuGateway;
  let server: SimulatedServer | undefined;

  before(async () => {
    registry = await ModbusRegistry.create();
    gateway = new RtuGateway(registry.dir, await freePort());
    await gateway.start();
    meters.setMeter(7, profile, sampleValues(profile));
    server = await meters.serveSerial(gateway.tty);
  });

  after(async () => {
    await registry?.cleanup();
    await server?.close();
    await gateway?.stop();
  });

  it('reads a 3-phase meter in RTU frames over a TCP connection', async () => {
    const [meter] = registry.drivers(
      await registry.load([
        {
          connection: {
            profile: 'eastron-sdm630',
            transport: 'rtu-over-tcp',
            host: '127.0.0.1',
            port: gateway.port,
            unit_id: 7,
          },
        },
      ]),
    );
    assert.deepEqual((await meter!.read()).values, sampleValues(profile));
    assert.equal((meter as ModbusDriver).line.label, `rtu-over-tcp://127.0.0.1:${gateway.port}`);
  });
});
