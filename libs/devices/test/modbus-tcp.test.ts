import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ReadingSchema, validator } from '@wattbus/contracts';
import {
  MAX_REGISTERS_PER_READ,
  ModbusDriver,
  builtinProfiles,
  loadProfile,
  withOverrides,
} from '@wattbus/devices';
import { SimulatedMeters, type SimulatedServer } from '@wattbus/simulators';
import { ModbusRegistry, sampleValues } from './modbus-helpers.js';

const checkReading = validator(ReadingSchema);
const PROFILES = ['orno-we-514', 'orno-we-516', 'eastron-sdm120', 'eastron-sdm630'];

describe('Modbus driver against ServerTCP holding each profile', () => {
  const meters = new SimulatedMeters();
  let server: SimulatedServer;
  let registry: ModbusRegistry;

  before(async () => {
    server = await meters.serveTcp();
    registry = await ModbusRegistry.create();
  });

  after(async () => {
    await registry?.cleanup();
    await server?.close();
  });

  it('ships the four profiles, each loading cleanly', () => {
    const names = [...builtinProfiles().keys()];
    for (const name of PROFILES) assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
    for (const name of PROFILES) assert.ok(loadProfile(name).registers.length > 0);
    assert.equal(loadProfile('orno-we-515').model, 'ORNO OR-WE-514/515');
  });

  it('reads every field of every profile as encoded, per phase and total, in merged requests', async () => {
    PROFILES.forEach((name, index) =>
      meters.setMeter(index + 1, loadProfile(name), sampleValues(loadProfile(name))),
    );
    const drivers = registry.drivers(
      await registry.load(
        PROFILES.map((profile, index) => ({
          connection: { profile, transport: 'tcp', host: server.host, port: server.port, unit_id: index + 1 },
        })),
      ),
    ) as ModbusDriver[];
    assert.equal(registry.shared.size, 1, 'four unit ids share one connection');
    for (const [index, name] of PROFILES.entries()) {
      const driver = drivers[index]!;
      const profile = loadProfile(name);
      const before = meters.requestsOf(index + 1).length;
      const reading = await driver.read();
      assert.deepEqual(reading.values, sampleValues(profile), name);
      // Every register of the profile became a field of some reading.
      const fields = reading.values.reduce(
        (count, values) => count + Object.keys(values).filter((key) => key !== 'phase').length,
        0,
      );
      assert.equal(fields, profile.registers.length, `${name}: one field per register`);
      for (const values of reading.values) {
        const full = { ts: new Date().toISOString(), device: 'meter', ...values };
        assert.ok(checkReading(full), `${name}: ${checkReading.errorText()}`);
      }
      if (profile.phases === 3) {
        assert.deepEqual(
          reading.values.map((values) => values.phase),
          ['L1', 'L2', 'L3', undefined],
        );
      }
      const requests = meters.requestsOf(index + 1).slice(before);
      assert.equal(requests.length, driver.reads.length, `${name}: one request per planned read`);
      for (const request of requests) assert.ok(request.count <= MAX_REGISTERS_PER_READ);
      // New values on the meter show up in the next read.
      meters.setMeter(index + 1, profile, sampleValues(profile, 3));
      assert.deepEqual((await driver.read()).values, sampleValues(profile, 3), `${name} after a change`);
    }
    // Contiguous registers share a request: ORNO 514 reads 5 runs, the 3-phase SDM630 3 (gaps ≤ 16,
    // at most 40 registers per read: Eastron firmware refuses long reads).
    assert.deepEqual(
      drivers.map((driver) => driver.reads.length),
      [5, 3, 2, 3],
    );
  });

  it('drops a request whose deadline passed while a silent unit held the line', async () => {
    meters.silence(21);
    meters.setMeter(22, loadProfile('eastron-sdm120'), sampleValues(loadProfile('eastron-sdm120')));
    const tcp = { profile: 'eastron-sdm120', transport: 'tcp', host: server.host, port: server.port };
    const [silent, hurried] = registry.drivers(
      await registry.load([
        { id: 'silent', connection: { ...tcp, unit_id: 21, response_timeout_ms: 300, retries: 0 } },
        { id: 'hurried', timeout_ms: 100, connection: { ...tcp, unit_id: 22 } },
      ]),
    ) as ModbusDriver[];
    const line = silent!.line;
    const before = line.metrics();
    const results = await Promise.allSettled([silent!.read(), hurried!.read()]);
    assert.deepEqual(
      results.map((result) => result.status === 'rejected' && (result.reason as { code: string }).code),
      ['DEVICE_TIMEOUT', 'DEVICE_TIMEOUT'],
    );
    assert.match(
      String((results[1] as PromiseRejectedResult).reason),
      /hurried .* waited for the busy Modbus line/,
    );
    assert.equal(line.metrics().expired - before.expired, 1, 'never sent');
    assert.equal(meters.requestsOf(22).length, 0);
  });

  it('reconnects after the TCP server went away and came back on the same port', async () => {
    const [meter] = registry.drivers(
      await registry.load([
        {
          connection: {
            profile: 'orno-we-514',
            transport: 'tcp',
            host: server.host,
            port: server.port,
            unit_id: 1,
          },
        },
      ]),
    );
    await meter!.read();
    const port = server.port;
    await server.close();
    const lost = await meter!.read().then(
      () => 'read',
      (error: { code: string }) => error.code,
    );
    assert.ok(['DEVICE_UNREACHABLE', 'DEVICE_TIMEOUT'].includes(lost), lost);
    server = await meters.serveTcp({ port });
    assert.deepEqual((await meter!.read()).values.length, 1);
  });

  it('honours a per-device word order and register override', async () => {
    const profile = loadProfile('orno-we-514');
    const swapped = withOverrides(
      profile,
      { word_order: 'little', registers: { energy_wh: { scale: 0.1 } } },
      'test',
    );
    meters.setMeter(11, swapped, sampleValues(swapped));
    const [overridden, plain] = registry.drivers(
      await registry.load([
        {
          id: 'swapped',
          connection: {
            profile: 'orno-we-514',
            transport: 'tcp',
            host: server.host,
            port: server.port,
            unit_id: 11,
            word_order: 'little',
            registers: { energy_wh: { scale: 0.1 } },
          },
        },
        {
          id: 'plain',
          connection: {
            profile: 'orno-we-514',
            transport: 'tcp',
            host: server.host,
            port: server.port,
            unit_id: 11,
          },
        },
      ]),
    );
    assert.deepEqual((await overridden!.read()).values, sampleValues(swapped));
    assert.notDeepEqual((await plain!.read()).values, sampleValues(swapped));
  });
});
