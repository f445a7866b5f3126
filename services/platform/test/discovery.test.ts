import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProfile, loadRegistry, type ReadingValues } from '@wattbus/devices';
import { SimulatedMeters, SimulatedPlug, SimulatedShelly, type SimulatedServer } from '@wattbus/simulators';
import { AddressError, interfaceNamed, parseTargets } from '../src/discovery/addresses.js';
import { mergeIntoDevicesFile } from '../src/discovery/devices-file.js';
import { discoveryRequestOf } from '../src/discovery/discover.js';
import type { FoundDevice } from '../src/discovery/found.js';
import { discoverKasa } from '../src/discovery/kasa.js';
import { parseModbusTargets, probeModbus } from '../src/discovery/modbus.js';
import { probeShellys, SHELLY_PASSWORD_ENV, targetOfService } from '../src/discovery/shelly.js';

describe('discovery: the addresses it may ask', () => {
  it('writes ranges out in full, with the port given or the default', () => {
    assert.deepEqual(
      parseTargets('10.0.0.1-3:8080,10.0.0.9,shelly-plug-2', 80, '--shelly').map(
        (t) => `${t.host}:${t.port}`,
      ),
      ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080', '10.0.0.9:80', 'shelly-plug-2:80'],
    );
    const network = parseTargets('192.168.7.0/24', 80, '--shelly');
    assert.equal(network.length, 254);
    assert.equal(network[0]!.host, '192.168.7.1');
    assert.equal(network.at(-1)!.host, '192.168.7.254');
    assert.equal(parseTargets('10.0.0.250-10.0.1.5', 80, '--shelly').length, 12);
  });

  it('refuses what it cannot read or what would ask too many', () => {
    assert.throws(() => parseTargets('10.0.0.0/8', 80, '--shelly'), /use \/16 to \/32/);
    assert.throws(() => parseTargets('10.0.0.0/16', 80, '--shelly'), /65534 addresses; at most 1024/);
    assert.throws(() => parseTargets('10.0.0.9-3', 80, '--shelly'), /ends before it starts/);
    assert.throws(() => parseTargets('10.0.0.1:99999', 80, '--shelly'), /not a port/);
    assert.throws(() => parseTargets('10.0.0.300', 80, '--shelly'), AddressError);
    assert.throws(() => parseModbusTargets('meter:502@300'), /host\[:port\]\[@unit\]/);
    assert.deepEqual(parseModbusTargets('meter,10.0.0.5:1502@3'), [
      { host: 'meter', port: 502, unitId: 1 },
      { host: '10.0.0.5', port: 1502, unitId: 3 },
    ]);
  });

  it('derives the broadcast address from the named interface', () => {
    assert.equal(interfaceNamed('lo').broadcast, '127.255.255.255');
    assert.throws(() => interfaceNamed('no-such-nic'), /no IPv4 interface 'no-such-nic'/);
    const request = discoveryRequestOf({ interface: 'lo', 'discover-timeout-ms': '500' });
    assert.equal(request.broadcast, '127.255.255.255');
  });

  it('sends nothing unless told where, and says what to give', () => {
    assert.throws(
      () => discoveryRequestOf({ 'discover-timeout-ms': '3000' }),
      /asks only the addresses you name[\s\S]*--interface <name>/,
    );
    assert.throws(() => discoveryRequestOf({ mdns: true }), /--mdns needs --interface/);
  });

  it('takes an mDNS answer’s IPv4 address and port', () => {
    assert.deepEqual(targetOfService({ addresses: ['fe80::1', '192.168.1.7'], port: 80 }), {
      host: '192.168.1.7',
      port: 80,
    });
    assert.deepEqual(
      targetOfService({ addresses: [], referer: { address: '10.1.1.1' } as never, port: 8080 }),
      { host: '10.1.1.1', port: 8080 },
    );
  });
});

describe('discovery: devices on loopback', () => {
  let plug: SimulatedPlug;
  const shellys: SimulatedShelly[] = [];
  let other: Server;
  let otherPort: number;
  const meters = new SimulatedMeters();
  let meterServer: SimulatedServer;

  before(async () => {
    plug = await SimulatedPlug.start({ alias: 'Fridge plug' });
    shellys.push(await SimulatedShelly.start({ model: 'plus-plug-s' }));
    shellys.push(await SimulatedShelly.start({ model: 'plug-s', password: 'secret', channels: 1 }));
    shellys.push(await SimulatedShelly.start({ model: 'plus-plug-s', password: 'secret' }));
    shellys.push(await SimulatedShelly.start({ model: 'pro-3em' }));
    // Something else on HTTP: it answers /shelly, but not as a Shelly.
    other = createServer((_request, response) => response.end('{"hello":"world"}'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    otherPort = (other.address() as { port: number }).port;
    for (const [unitId, name] of [
      [1, 'eastron-sdm630'],
      [2, 'eastron-sdm120'],
      [3, 'orno-we-516'],
    ] as const) {
      const profile = loadProfile(name);
      meters.setMeter(unitId, profile, imageValues(profile.registers));
    }
    meters.silence(9);
    meterServer = await meters.serveTcp();
  });

  after(async () => {
    await plug?.stop();
    await Promise.all(shellys.map((shelly) => shelly.stop()));
    other?.close();
    await meterServer?.close();
  });

  it('finds a Kasa plug that answers the UDP discovery query', async () => {
    const found = await discoverKasa({ hosts: [{ host: plug.host, port: plug.port }], timeoutMs: 1500 });
    assert.equal(found.length, 1);
    assert.equal(found[0]!.name, 'Fridge plug');
    assert.match(found[0]!.model, /^HS110/);
    assert.deepEqual(found[0]!.connection, { host: '127.0.0.1', port: plug.port });
    assert.equal(found[0]!.credentialsNeeded, false);
  });

  it('finds the Shellys in an address range over HTTP: model, channels, whether a password is needed', async () => {
    const targets = [
      ...shellys.flatMap((shelly) => parseTargets(`127.0.0.1-127.0.0.2:${shelly.port}`, 80, '--shelly')),
      { host: '127.0.0.1', port: otherPort },
    ];
    const found = await probeShellys(targets, { timeoutMs: 1500 });
    const at = (shelly: SimulatedShelly) =>
      found.filter((device) => device.address === `127.0.0.1:${shelly.port}`);
    assert.equal(found.length, 4, JSON.stringify(found, null, 2));
    const [open, gen1, locked, meter] = shellys.map(at);
    assert.equal(open![0]!.model, 'SNPL-00112EU');
    assert.deepEqual(open![0]!.connection, { host: '127.0.0.1', port: shellys[0]!.port });
    assert.equal(open![0]!.credentialsNeeded, false);
    assert.equal(gen1![0]!.model, 'SHPLG-S');
    assert.equal(gen1![0]!.credentialsNeeded, true);
    assert.equal(gen1![0]!.connection.password_env, SHELLY_PASSWORD_ENV);
    assert.equal(locked![0]!.credentialsNeeded, true);
    assert.equal(meter![0]!.kind, 'meter');
    assert.match(meter![0]!.details, /energy meter/);
  });

  it('lists each em1 channel of a Pro EM as a meter, not its contactor as a relay', async () => {
    const proEm = await SimulatedShelly.start({ model: 'pro-em' });
    try {
      const found = await probeShellys([{ host: '127.0.0.1', port: proEm.port }], { timeoutMs: 1500 });
      assert.deepEqual(
        found.map((device) => [device.name, device.kind, device.connection.channel]),
        [
          ['ProEM 0', 'meter', 0],
          ['ProEM 1', 'meter', 1],
        ],
      );
    } finally {
      await proEm.stop();
    }
  });

  it('lists each relay of a 2-channel Shelly as its own entry', async () => {
    const two = await SimulatedShelly.start({ model: 'plug-s', channels: 2 });
    try {
      const found = await probeShellys([{ host: '127.0.0.1', port: two.port }], { timeoutMs: 1500 });
      assert.deepEqual(
        found.map((device) => device.connection.channel),
        [0, 1],
      );
    } finally {
      await two.stop();
    }
  });

  it('tells Modbus meters apart by their identifying registers', async () => {
    const at = (unitId: number) => ({ host: '127.0.0.1', port: meterServer.port!, unitId });
    const profiles = await Promise.all([1, 2, 3].map((unit) => probeModbus(at(unit), 500)));
    assert.deepEqual(
      profiles.map((found) => found?.connection.profile),
      ['eastron-sdm630', 'eastron-sdm120', 'orno-we-516'],
    );
    assert.equal(profiles[0]!.connection.unit_id, 1);
    assert.equal(await probeModbus(at(9), 300), undefined, 'a unit that never answers is not a meter');
  });
});

describe('discovery: merging into the devices file', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'wattbus-merge-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const found = (name: string, port: number, extra: Partial<FoundDevice> = {}): FoundDevice => ({
    type: 'tplink',
    name,
    model: 'HS110(EU)',
    address: `10.0.0.5:${port}`,
    details: 'plug with energy meter',
    credentialsNeeded: false,
    kind: 'appliance',
    connection: port === 9999 ? { host: '10.0.0.5' } : { host: '10.0.0.5', port },
    ...extra,
  });

  it('adds only what is new, keeps every line of the file, and makes ids unique', async () => {
    const file = join(dir, 'devices.yaml');
    const original = [
      '# my house',
      'devices:',
      '  # the fridge, keep it',
      '  - id: fridge',
      '    type: tplink',
      '    location: home/kitchen',
      '    kind: appliance',
      '    connection: { host: 10.0.0.5 }',
      '',
    ].join('\n');
    writeFileSync(file, original);
    chmodSync(file, 0o640);
    const result = mergeIntoDevicesFile(file, [
      found('Fridge', 9999),
      found('Fridge', 10000),
      found('Kettle', 10001),
    ]);
    assert.deepEqual(
      result.added.map((entry) => entry.id),
      ['fridge-2', 'kettle'],
    );
    assert.equal(result.known.length, 1, 'the fridge on 9999 is the entry the file has');
    const text = readFileSync(file, 'utf8');
    assert.ok(text.startsWith('# my house\ndevices:\n  # the fridge, keep it\n  - id: fridge\n'), text);
    assert.equal(statSync(file).mode & 0o777, 0o640);
    const registry = await loadRegistry(file);
    assert.deepEqual(
      registry.devices.map((device) => device.id),
      ['fridge', 'fridge-2', 'kettle'],
    );
    assert.equal(registry.devices[2]!.location, 'unassigned');

    const before = readFileSync(file, 'utf8');
    assert.equal(mergeIntoDevicesFile(file, [found('Kettle', 10001)]).added.length, 0);
    assert.equal(readFileSync(file, 'utf8'), before, 'nothing new: the file is not rewritten');
  });

  it('starts a new file with a header and entries npm start can load', async () => {
    const file = join(dir, 'new', 'devices.yaml');
    mergeIntoDevicesFile(file, [
      found('Living room', 9999),
      {
        ...found('SNPL-00112EU', 80),
        type: 'shelly',
        credentialsNeeded: true,
        connection: { host: '10.0.0.7', password_env: SHELLY_PASSWORD_ENV },
      },
    ]);
    const text = readFileSync(file, 'utf8');
    assert.match(text, /^# Your devices: npm start reads this file and never writes it/);
    assert.match(text, /needs its password: set WATTBUS_SHELLY_PASSWORD/);
    const registry = await loadRegistry(file);
    assert.deepEqual(
      registry.devices.map((device) => device.id),
      ['living-room', 'snpl-00112eu'],
    );
  });
});

/** Register values of a mains meter for every register of a profile: 230 V, 50 Hz, … */
function imageValues(registers: ReturnType<typeof loadProfile>['registers']): ReadingValues[] {
  const sample: Record<string, number> = {
    voltage_v: 230.1,
    frequency_hz: 50,
    power_w: 120,
    current_a: 0.52,
    power_factor: 0.93,
    energy_wh: 12_345,
  };
  const groups = new Map<string, ReadingValues>();
  for (const register of registers) {
    const key = register.phase ?? 'total';
    const group =
      groups.get(key) ??
      ({ power_w: 0, ...(register.phase ? { phase: register.phase } : {}) } as ReadingValues);
    (group as Record<string, unknown>)[register.field] = sample[register.field];
    groups.set(key, group);
  }
  return [...groups.values()];
}
