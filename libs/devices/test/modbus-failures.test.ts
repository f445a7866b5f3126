import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  MODBUS_FAILURES,
  ModbusDriver,
  loadProfile,
  planReads,
  splitBlock,
  type MeterRegister,
} from '@wattbus/devices';
import { SimulatedMeters, type SimulatedServer } from '@wattbus/simulators';
import { capturingLogger, failureOf } from './helpers.js';
import { ModbusRegistry, sampleValues } from './modbus-helpers.js';

/**
 * Meters with a small per-request register limit, and every kind of Modbus failure: which are
 * retried within the poll and which fail it at once.
 */
const DOCS = fileURLToPath(new URL('../../../docs/modbus.md', import.meta.url));
const SPLIT_LOG = 'modbus meter refused a long read; reading it in smaller parts from now on';

function register(address: number): MeterRegister {
  return {
    field: 'power_w',
    address,
    function: 4,
    type: 'float32',
    word_order: 'big',
    scale: 1,
    unit: 'W',
    factor: 1,
  };
}

describe('Modbus read limits in the plan', () => {
  it('keeps every read of a profile within its max_registers_per_read', () => {
    const sdm630 = loadProfile('eastron-sdm630');
    assert.equal(sdm630.max_registers_per_read, 40);
    const blocks = planReads(sdm630.registers, sdm630.max_gap_registers, sdm630.max_registers_per_read);
    assert.deepEqual(
      blocks.map((block) => [block.address, block.count]),
      [
        [0x00, 36],
        [0x34, 24],
        [0x15a, 6],
      ],
    );
    assert.equal(
      planReads(sdm630.registers, sdm630.max_gap_registers).at(0)?.count,
      76,
      'without the limit the first read spans 76 registers',
    );
    assert.equal(loadProfile('orno-we-514').max_registers_per_read, 125, 'the Modbus limit by default');
  });

  it('splits a refused read at its widest gap, else in the middle; one register cannot be split', () => {
    const [gapped] = planReads([register(0), register(2), register(20), register(22)], 16);
    assert.deepEqual(
      splitBlock(gapped!)?.map((block) => [block.address, block.count, block.registers.length]),
      [
        [0, 4, 2],
        [20, 4, 2],
      ],
    );
    const [contiguous] = planReads([0, 2, 4, 6, 8].map(register));
    assert.deepEqual(
      splitBlock(contiguous!)?.map((block) => [block.address, block.count]),
      [
        [0, 4],
        [4, 6],
      ],
    );
    assert.equal(splitBlock(planReads([register(0)])[0]!), undefined);
  });
});

describe('Modbus meters that refuse long reads, and failures retried or not', () => {
  const meters = new SimulatedMeters();
  const sdm630 = loadProfile('eastron-sdm630');
  const sdm120 = loadProfile('eastron-sdm120');
  let server: SimulatedServer;
  let registry: ModbusRegistry;
  let tcp: Record<string, unknown>;

  before(async () => {
    server = await meters.serveTcp();
    registry = await ModbusRegistry.create();
    tcp = { transport: 'tcp', host: server.host, port: server.port };
  });

  after(async () => {
    await registry?.cleanup();
    await server?.close();
  });

  it('reads the shipped SDM630 profile from a meter that refuses more than 50 registers', async () => {
    meters.setMeter(1, sdm630, sampleValues(sdm630), { maxRegistersPerRead: 50 });
    const [driver] = registry.drivers(
      await registry.load([{ connection: { ...tcp, profile: 'eastron-sdm630', unit_id: 1 } }]),
    ) as ModbusDriver[];
    assert.deepEqual((await driver!.read()).values, sampleValues(sdm630));
    assert.ok(meters.requestsOf(1).every((request) => request.count <= 40));
  });

  it('learns: a 76-register read refused with exception 2 is split within the poll and the smaller plan kept, logged once', async () => {
    meters.setMeter(2, sdm630, sampleValues(sdm630, 1), { maxRegistersPerRead: 50 });
    const log = capturingLogger();
    const [driver] = registry.drivers(
      await registry.load([
        // A profile (or an old copy of it) without the limit: 76 registers in its first read.
        { connection: { ...tcp, profile: 'eastron-sdm630', unit_id: 2, max_registers_per_read: 125 } },
      ]),
      log.logger,
    ) as ModbusDriver[];
    assert.deepEqual(
      driver!.reads.map((block) => block.count),
      [76, 6],
    );
    assert.deepEqual(
      (await driver!.read()).values,
      sampleValues(sdm630, 1),
      'the first poll already succeeds',
    );
    assert.deepEqual(
      meters.requestsOf(2).map((request) => request.count),
      [76, 36, 24, 6],
      'refused once, then its two halves',
    );
    assert.deepEqual(
      driver!.reads.map((block) => [block.address, block.count]),
      [
        [0x00, 36],
        [0x34, 24],
        [0x15a, 6],
      ],
    );
    const before = meters.requestsOf(2).length;
    assert.deepEqual((await driver!.read()).values, sampleValues(sdm630, 1));
    assert.deepEqual(
      meters
        .requestsOf(2)
        .slice(before)
        .map((request) => request.count),
      [36, 24, 6],
      'the next poll uses the smaller plan',
    );
    const splits = log.lines.filter((line) => line.msg === SPLIT_LOG);
    assert.equal(splits.length, 1, 'logged once');
    assert.deepEqual(splits[0]?.refused, ['76 registers at 0 (exception 2)']);
    assert.deepEqual(splits[0]?.reads, ['36 registers at 0', '24 registers at 52', '6 registers at 346']);
  });

  it('keeps splitting a read refused again, down to what the meter answers', async () => {
    meters.setMeter(3, sdm120, sampleValues(sdm120), { maxRegistersPerRead: 8 });
    const [driver] = registry.drivers(
      await registry.load([{ connection: { ...tcp, profile: 'eastron-sdm120', unit_id: 3 } }]),
    ) as ModbusDriver[];
    assert.deepEqual((await driver!.read()).values, sampleValues(sdm120));
    assert.ok(driver!.reads.every((block) => block.count <= 8));
  });

  it('does not split a read of one register: exception 2 there is a wrong address, DEVICE_ERROR naming it', async () => {
    const orno = loadProfile('orno-we-514');
    meters.setMeter(4, orno, sampleValues(orno));
    const [driver] = registry.drivers(
      await registry.load([
        {
          connection: {
            ...tcp,
            profile: 'orno-we-514',
            unit_id: 4,
            registers: { voltage_v: { address: 0x999 } },
          },
        },
      ]),
    ) as ModbusDriver[];
    const error = await failureOf(driver!.read());
    assert.equal(error.code, 'DEVICE_ERROR');
    assert.match(error.message, /refused 1 register\(s\) at 2457 \(function 3\): Modbus exception 2/);
    assert.deepEqual(error.details, { modbus_exception: 2 });
  });

  it('retries transient failures (busy, gateway target silent) within the deadline; fails at once on permanent ones', async () => {
    meters.setMeter(5, sdm120, sampleValues(sdm120));
    const [driver] = registry.drivers(
      await registry.load([{ connection: { ...tcp, profile: 'eastron-sdm120', unit_id: 5, retries: 1 } }]),
    ) as ModbusDriver[];
    const line = driver!.line;
    const requests = () => meters.requestsOf(5).length;

    for (const transient of [6, 5, 11, 10]) {
      meters.failNext(5, transient);
      const [before, retries] = [requests(), line.metrics().retries];
      assert.deepEqual((await driver!.read()).values, sampleValues(sdm120), `exception ${transient} retried`);
      assert.equal(line.metrics().retries - retries, 1, `exception ${transient}: one retry`);
      assert.equal(requests() - before, driver!.reads.length + 1);
    }

    for (const [permanent, code] of [
      [4, 'DEVICE_ERROR'],
      [1, 'DEVICE_ERROR'],
      [8, 'DEVICE_ERROR'],
    ] as const) {
      meters.failNext(5, permanent);
      const before = requests();
      const error = await failureOf(driver!.read());
      assert.equal(error.code, code);
      assert.deepEqual(error.details, { modbus_exception: permanent });
      assert.equal(requests() - before, 1, `exception ${permanent} is not retried`);
    }

    meters.failNext(5, 6, 2);
    const busy = await failureOf(driver!.read());
    assert.match(busy.message, /Modbus exception 6/, 'busy twice: retries are used up');
    meters.failNext(5, 11, 2);
    assert.equal((await failureOf(driver!.read())).code, 'DEVICE_TIMEOUT');
  });

  it('documents every failure class of the code in docs/modbus.md, with the same transient or permanent', () => {
    const rows = new Map(
      readFileSync(DOCS, 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('| '))
        .map((line) => line.split('|').map((cell) => cell.trim()))
        .map((cells) => [cells[1]!.replace(/`/g, ''), cells.slice(2)] as const),
    );
    for (const failure of Object.values(MODBUS_FAILURES)) {
      const row = rows.get(failure.name);
      assert.ok(row, `docs/modbus.md has a row for '${failure.name}'`);
      assert.equal(row[1], failure.transient ? 'transient' : 'permanent', failure.name);
      assert.ok(row[2]?.includes(failure.code), `${failure.name}: ${failure.code} in '${row[2]}'`);
    }
  });
});
