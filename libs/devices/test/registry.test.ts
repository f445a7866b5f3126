import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadRegistry, RegistryError } from '@wattbus/devices';

let dir: string;
const fixture = fileURLToPath(new URL('./fixtures/fixed-load-driver.ts', import.meta.url));

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wattbus-registry-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

/** Loads `text` and returns the RegistryError it must fail with. */
async function failure(text: string, name = 'registry.yaml'): Promise<RegistryError> {
  const file = await write(name, text);
  const error = await loadRegistry(file).then(
    () => assert.fail('expected the registry to be refused'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof RegistryError, `expected a RegistryError, got ${String(error)}`);
  assert.ok(error.message.includes(file), `the message names the file: ${error.message}`);
  return error;
}

const GOOD = `
defaults:
  timeout_ms: 1500
devices:
  - id: desk-3
    name: Desk 3, room 214
    type: tplink
    location: hq/floor-2/room-214/desk-3
    kind: workplace
    connection: { host: 10.0.4.21 }
  - id: washer
    type: tplink
    location: home/cellar
    kind: appliance
    poll_interval_ms: 10000
    max_backoff_ms: 60000
    connection: { host: washer.lan, port: 10000 }
`;

describe('registry', () => {
  it('loads a YAML registry and fills in the defaults', async () => {
    const registry = await loadRegistry(await write('good.yaml', GOOD));
    assert.equal(registry.devices.length, 2);
    const [desk, washer] = registry.devices;
    assert.deepEqual(desk, {
      id: 'desk-3',
      name: 'Desk 3, room 214',
      type: 'tplink',
      location: 'hq/floor-2/room-214/desk-3',
      kind: 'workplace',
      connection: { host: '10.0.4.21', port: 9999 },
      poll_interval_ms: 1000,
      timeout_ms: 1500,
      offline_after_failures: 3,
      max_backoff_ms: 30000,
    });
    assert.equal(washer?.name, 'washer');
    assert.equal(washer?.poll_interval_ms, 10000);
    assert.equal(washer?.max_backoff_ms, 60000);
    assert.deepEqual(washer?.connection, { host: 'washer.lan', port: 10000 });
  });

  it('loads the same registry written as JSON', async () => {
    const json = JSON.stringify({
      devices: [
        {
          id: 'printer-2f',
          type: 'tplink',
          location: 'hq/floor-2',
          kind: 'printer',
          connection: { host: '10.0.4.30' },
        },
      ],
    });
    const registry = await loadRegistry(await write('good.json', json));
    assert.equal(registry.devices[0]?.id, 'printer-2f');
    assert.equal(registry.devices[0]?.poll_interval_ms, 1000);
  });

  it('refuses a duplicate id, naming both places', async () => {
    const error = await failure(`devices:
  - { id: desk-1, type: tplink, location: hq, kind: workplace, connection: { host: a } }
  - { id: desk-1, type: tplink, location: hq, kind: workplace, connection: { host: b } }
`);
    assert.match(
      error.message,
      /:3 \/devices\/1\/id: duplicate device id 'desk-1' \(first used by \/devices\/0, line 2\)/,
    );
  });

  it('refuses a device without host', async () => {
    const error = await failure(`devices:
  - id: desk-1
    type: tplink
    location: hq
    kind: workplace
    connection:
      port: 9999
`);
    assert.match(
      error.message,
      /:6 \/devices\/0\/connection: missing required key 'host' \(device 'desk-1', type 'tplink'\)/,
    );
  });

  it('refuses an unknown type and lists the known ones', async () => {
    const error = await failure(`devices:
  - { id: desk-1, type: tplnk, location: hq, kind: workplace, connection: { host: a } }
`);
    assert.match(
      error.message,
      /:2 \/devices\/0\/type: unknown device type 'tplnk' \(device 'desk-1'\); expected one of: (.*, )?tplink\b/,
    );
  });

  it('refuses bad intervals', async () => {
    const error = await failure(`defaults:
  poll_interval_ms: fast
devices:
  - { id: desk-1, type: tplink, location: hq, kind: workplace, connection: { host: a }, poll_interval_ms: 0 }
  - { id: desk-2, type: tplink, location: hq, kind: workplace, connection: { host: a }, poll_interval_ms: 1.5 }
`);
    assert.match(error.message, /:2 \/defaults\/poll_interval_ms: must be integer, got "fast"/);
    assert.match(error.message, /:4 \/devices\/0\/poll_interval_ms: must be >= 10, got 0/);
    assert.match(error.message, /:5 \/devices\/1\/poll_interval_ms: must be integer, got 1.5/);
  });

  it('takes plausibility limits per device, overriding the driver rating key by key; refuses bad ones', async () => {
    const file = await write(
      'limits.yaml',
      `devices:
  - { id: lamp, type: tplink, location: hq, kind: appliance, connection: { host: a }, limits: { max_power_w: 100 } }
`,
    );
    const registry = await loadRegistry(file);
    assert.deepEqual(registry.devices[0]!.limits, { max_power_w: 100 });
    const error = await failure(`devices:
  - { id: lamp, type: tplink, location: hq, kind: appliance, connection: { host: a }, limits: { max_watts: 100, max_current_a: -1 } }
`);
    assert.match(error.message, /\/devices\/0\/limits\/max_watts: unknown key 'max_watts'/);
    assert.match(error.message, /\/devices\/0\/limits\/max_current_a: must be > 0/);
  });

  it('refuses unknown keys, at the top, in a device and in a connection', async () => {
    const error = await failure(`device:
  - { id: x }
devices:
  - id: desk-1
    type: tplink
    location: hq
    kind: workplace
    poll_interval: 1000
    connection: { host: a, hots: b }
`);
    assert.match(error.message, /:1 \/device: unknown key 'device'/);
    assert.match(error.message, /:8 \/devices\/0\/poll_interval: unknown key 'poll_interval'/);
    // The connection is checked by the driver only once the file's own shape is right.
    assert.doesNotMatch(error.message, /hots/);
    const second = await failure(`devices:
  - { id: desk-1, type: tplink, location: hq, kind: workplace, connection: { host: a, hots: b } }
`);
    assert.match(second.message, /\/devices\/0\/connection\/hots: unknown key 'hots'/);
  });

  it('refuses bad ids, locations and unparsable files with the line', async () => {
    const error = await failure(`devices:
  - { id: Desk 1, type: tplink, location: hq//room, kind: workplace, connection: { host: a } }
`);
    assert.match(error.message, /\/devices\/0\/id: must match pattern/);
    assert.match(error.message, /\/devices\/0\/location: must match pattern/);
    const broken = await failure('devices:\n  - id: [unclosed\n', 'broken.yaml');
    assert.match(broken.message, /not valid YAML\/JSON/);
    const missing = await loadRegistry(join(dir, 'nope.yaml')).catch((caught: unknown) => caught);
    assert.match(String(missing), /nope\.yaml.*cannot read the file/);
  });

  it('loads a user driver module by path and checks its connection schema', async () => {
    const text = `drivers: [${JSON.stringify(fixture)}]
devices:
  - { id: lamp, type: fixed-load, location: hq/lobby, kind: appliance, connection: { power_w: 60 } }
  - { id: desk-1, type: tplink, location: hq, kind: workplace, connection: { host: a } }
`;
    const registry = await loadRegistry(await write('user-driver.yaml', text));
    // The built-in drivers plus the file's own (other built-ins may join the list).
    assert.ok(registry.drivers.types().includes('fixed-load'));
    assert.ok(registry.drivers.types().includes('tplink'));
    const lamp = registry.devices[0]!;
    assert.deepEqual(lamp.connection, { power_w: 60, voltage_v: 230 });
    const driver = registry.drivers.get('fixed-load')!.create(lamp, {} as never);
    assert.deepEqual(await driver.read(), {
      values: [{ power_w: 60, voltage_v: 230, current_a: 0.261 }],
      on: true,
    });
    // A registry that does not name the module does not see its driver.
    const other = await failure(`devices:
  - { id: lamp, type: fixed-load, location: hq, kind: appliance, connection: { power_w: 60 } }
`);
    assert.match(other.message, /unknown device type 'fixed-load'/);
    const badOptions = await failure(`drivers: [${JSON.stringify(fixture)}]
devices:
  - { id: lamp, type: fixed-load, location: hq, kind: appliance, connection: { power_w: -1 } }
`);
    assert.match(badOptions.message, /\/devices\/0\/connection\/power_w: must be >= 0, got -1/);
    const notADriver = await failure(`drivers: [./good.yaml, ./absent.js]
devices: []
`);
    assert.match(notADriver.message, /\/drivers\/0: cannot load driver module|\/drivers\/0: driver module/);
    assert.match(notADriver.message, /\/drivers\/1: cannot load driver module .*absent\.js/);
  });
});
