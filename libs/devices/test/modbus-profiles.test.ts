import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ProfileError,
  RegistryError,
  decodeWords,
  encodeWords,
  loadProfile,
  planReads,
  withOverrides,
  type MeterRegister,
} from '@wattbus/devices';
import { ModbusRegistry } from './modbus-helpers.js';

const VALID = `model: Test meter
phases: 1
registers:
  - { field: voltage_v, address: 0x10, type: u16, scale: 0.1, unit: V }
  - { field: power_w, address: 0x11, type: s32, unit: W }
`;

function register(address: number, type: MeterRegister['type'], fc: 3 | 4 = 3): MeterRegister {
  return { field: 'power_w', address, function: fc, type, word_order: 'big', scale: 1, unit: 'W', factor: 1 };
}

describe('Modbus codec and read planning', () => {
  it('decodes and encodes every data type in both word orders', () => {
    assert.equal(decodeWords([0xffff], 'u16', 'big'), 65535);
    assert.equal(decodeWords([0xffff], 's16', 'big'), -1);
    assert.equal(decodeWords([0x0001, 0x0002], 'u32', 'big'), 0x00010002);
    assert.equal(decodeWords([0x0002, 0x0001], 'u32', 'little'), 0x00010002);
    assert.equal(decodeWords([0xffff, 0xfffe], 's32', 'big'), -2);
    assert.equal(decodeWords([0x4366, 0xcccd], 'float32', 'big'), Math.fround(230.8));
    assert.equal(decodeWords([0xcccd, 0x4366], 'float32', 'little'), Math.fround(230.8));
    for (const type of ['u16', 's16', 'u32', 's32', 'float32'] as const) {
      for (const order of ['big', 'little'] as const) {
        const value = type.startsWith('u') ? 1234 : -1234;
        assert.equal(decodeWords(encodeWords(value, type, order), type, order), value, `${type} ${order}`);
      }
    }
  });

  it('merges contiguous registers of one function code, up to 125 per read', () => {
    const blocks = planReads([
      register(0, 'u16'),
      register(1, 'u32'),
      register(3, 'float32'),
      register(10, 'u16'),
      register(0, 'u16', 4),
    ]);
    assert.deepEqual(
      blocks.map((block) => [block.function, block.address, block.count, block.registers.length]),
      [
        [3, 0, 5, 3],
        [3, 10, 1, 1],
        [4, 0, 1, 1],
      ],
    );
    assert.equal(planReads([register(0, 'u16'), register(10, 'u16')], 9).length, 1, 'a gap of 9 is joined');
    const many = Array.from({ length: 70 }, (_, index) => register(index * 2, 'float32'));
    assert.deepEqual(
      planReads(many).map((block) => block.count),
      [124, 16],
    );
  });
});

describe('Modbus profile files', () => {
  let registry: ModbusRegistry;

  before(async () => {
    registry = await ModbusRegistry.create();
  });

  after(async () => {
    await registry?.cleanup();
  });

  async function problemOf(content: string): Promise<{ error: ProfileError; file: string }> {
    const file = await registry.write(`profile-${Math.random().toString(36).slice(2)}.yaml`, content);
    try {
      loadProfile(file);
    } catch (error) {
      assert.ok(error instanceof ProfileError, String(error));
      assert.ok(error instanceof RegistryError, 'the agent CLI prints it as a configuration error');
      return { error, file };
    }
    return assert.fail('expected a ProfileError');
  }

  it('loads a user profile by path, hex addresses as YAML integers or "0x" strings', async () => {
    const file = await registry.write('mine.yaml', VALID);
    const profile = loadProfile(file);
    assert.equal(profile.model, 'Test meter');
    assert.deepEqual(
      profile.registers.map((entry) => [entry.field, entry.address, entry.function, entry.factor]),
      [
        ['voltage_v', 16, 3, 0.1],
        ['power_w', 17, 3, 1],
      ],
    );
    const json = await registry.write(
      'mine.json',
      JSON.stringify({
        model: 'J',
        phases: 1,
        function: 4,
        registers: [{ field: 'power_w', address: '0x0C', type: 'float32', unit: 'kW' }],
      }),
    );
    assert.deepEqual(
      loadProfile(json).registers.map((entry) => [entry.address, entry.function, entry.factor]),
      [[12, 4, 1000]],
    );
  });

  it('names the file, the path and the line of an unknown data type', async () => {
    const { error, file } = await problemOf(VALID.replace('type: s32', 'type: int32'));
    assert.match(error.message, new RegExp(`invalid Modbus meter profile ${file}`));
    assert.match(
      error.message,
      new RegExp(
        `${file}:5 /registers/1/type: unknown data type "int32"; expected one of u16, s16, u32, s32, float32`,
      ),
    );
  });

  it('names malformed YAML, missing and unknown keys, bad values and inconsistent registers', async () => {
    assert.match((await problemOf('model: [unclosed\n')).error.message, /not valid YAML\/JSON/);
    const missing = await problemOf('model: X\nphases: 1\n');
    assert.match(missing.error.message, /\/: missing required key 'registers'/);
    const unknown = await problemOf(VALID.replace('phases: 1', 'phases: 1\nbaud: 9600'));
    assert.match(unknown.error.message, /:3 \/baud: unknown key 'baud'/);
    const address = await problemOf(VALID.replace('address: 0x10', 'address: "16h"'));
    assert.match(address.error.message, /\/registers\/0\/address: must match pattern/);
    const phases = await problemOf(VALID.replace('phases: 1', 'phases: 2'));
    assert.match(phases.error.message, /\/phases: 2 is not allowed; expected one of 1, 3/);
    const unit = await problemOf(VALID.replace('unit: V', 'unit: kV'));
    assert.match(
      unit.error.message,
      /:4 \/registers\/0\/unit: unit 'kV' does not fit voltage_v; expected 'V'/,
    );
    const noPower = await problemOf(
      VALID.replace('field: power_w', 'field: current_a').replace('unit: W', 'unit: A'),
    );
    assert.match(noPower.error.message, /every reading needs power_w/);
    const twice = await problemOf(
      VALID.replace('field: voltage_v', 'field: power_w').replace('unit: V', 'unit: W'),
    );
    assert.match(twice.error.message, /\/registers\/1\/field: power_w is already read by \/registers\/0/);
    const phased = await problemOf(VALID.replace('field: voltage_v,', 'field: voltage_v, phase: L1,'));
    assert.match(phased.error.message, /1-phase profile/);
    assert.match((await problemOf('')).error.message, /missing required key 'model'/);
  });

  it('names a missing file and an unknown built-in name', () => {
    assert.throws(
      () => loadProfile('/nonexistent/meter.yaml'),
      /invalid Modbus meter profile \/nonexistent\/meter.yaml:\n.*cannot read the file/,
    );
    assert.throws(
      () => loadProfile('orno-we-999'),
      /no built-in Modbus profile 'orno-we-999'; built-in: .*eastron-sdm120.*orno-we-514/,
    );
  });

  it('checks per-device overrides against the profile', () => {
    const orno = loadProfile('orno-we-514');
    assert.equal(
      withOverrides(orno, { registers: { energy_wh: { type: 'float32' } } }, 'x').registers.at(-1)?.type,
      'float32',
    );
    assert.throws(
      () => withOverrides(orno, { registers: { 'voltage_v:L1': { scale: 1 } } }, 'flat'),
      /invalid Modbus overrides of device 'flat':\n.*\/connection\/registers\/voltage_v:L1: profile orno-we-514 has no register for 'voltage_v:L1'/,
    );
    assert.throws(
      () =>
        withOverrides(
          loadProfile('eastron-sdm630'),
          { registers: { energy_wh: { address: 0x156 } } },
          'main',
        ),
      /names 4 registers \(one per phase\); give the address per phase/,
    );
    assert.throws(
      () => withOverrides(orno, { registers: { power_w: { unit: 'kWh' } } }, 'flat'),
      /unit 'kWh' does not fit power_w/,
    );
  });
});

describe('Modbus entries in the device registry', () => {
  let registry: ModbusRegistry;

  before(async () => {
    registry = await ModbusRegistry.create();
  });

  after(async () => {
    await registry?.cleanup();
  });

  async function registryProblem(connection: Record<string, unknown>): Promise<string> {
    const error = await registry.load([{ connection }]).then(
      () => assert.fail('expected a RegistryError'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof RegistryError, String(error));
    return error.message;
  }

  it('refuses incomplete or wrong connections with the line of the entry', async () => {
    assert.match(
      await registryProblem({ profile: 'orno-we-514', transport: 'rtu' }),
      /devices\.yaml:\d+ \/devices\/0\/connection: missing required key 'path'/,
    );
    assert.match(
      await registryProblem({ profile: 'orno-we-514', transport: 'tcp' }),
      /missing required key 'host'/,
    );
    assert.match(
      await registryProblem({ profile: 'orno-we-514', transport: 'serial', path: '/dev/ttyUSB0' }),
      /\/devices\/0\/connection\/transport: must be equal to one of the allowed values/,
    );
    assert.match(
      await registryProblem({
        profile: 'orno-we-514',
        transport: 'rtu',
        path: '/dev/ttyUSB0',
        registers: { energy_wh: { type: 'int32' } },
      }),
      /\/connection\/registers\/energy_wh\/type: must be equal to one of the allowed values/,
    );
    assert.match(
      await registryProblem({
        profile: 'orno-we-514',
        transport: 'rtu',
        path: '/dev/ttyUSB0',
        registers: { energy: { scale: 1 } },
      }),
      /unknown key 'energy'/,
    );
  });

  it('fails creating a device whose profile file is malformed, naming that file', async () => {
    const bad = await registry.write('bad-meter.yaml', VALID.replace('type: u16', 'type: uint16'));
    const loaded = await registry.load([
      { connection: { profile: bad, transport: 'rtu', path: '/dev/ttyUSB9' } },
    ]);
    assert.throws(
      () => registry.drivers(loaded),
      (error: unknown) => {
        assert.ok(error instanceof ProfileError);
        assert.match(error.message, new RegExp(`${bad}:4 /registers/0/type: unknown data type "uint16"`));
        return true;
      },
    );
  });

  it('refuses two devices that disagree about the settings of their bus', async () => {
    const loaded = await registry.load([
      { connection: { profile: 'orno-we-514', transport: 'rtu', path: '/dev/ttyUSB7' } },
      { connection: { profile: 'eastron-sdm120', transport: 'rtu', path: '/dev/ttyUSB7', unit_id: 2 } },
    ]);
    assert.throws(
      () => registry.drivers(loaded),
      /invalid Modbus bus settings of device 'meter-2':\n.*\/connection\/baud_rate: the devices on \/dev\/ttyUSB7 disagree: baud_rate is 2400 here but 9600/,
    );
  });
});
