import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProfile } from '@wattbus/devices';
import { SimulatedMeters, SimulatedPlug, SimulatedShelly, type SimulatedServer } from '@wattbus/simulators';
import { freePort, waitUntil } from '@wattbus/testing';
import { bannerOf, run, startPlatform, storedDevices, type Ports, type RunningPlatform } from './helpers.js';

/**
 * A user's own fleet under `npm start`: devices the test starts on loopback (the platform did
 * not) stand in for real ones. Discovery writes the devices file, `npm start --devices FILE
 * --discover` adds a meter to it and runs it; then the file is edited while running, outside
 * clients publish and subscribe with the printed accounts, and two restarts leave the file as
 * the user wrote it. One platform start serves most assertions: starts are slow.
 */
const main = new URL('../src/main.ts', import.meta.url).pathname;

describe('npm start --devices FILE: the user’s own fleet', { timeout: 300_000 }, () => {
  let dir: string;
  let dataDir: string;
  let file: string;
  let ports: Ports;
  let running: RunningPlatform | undefined;
  let kitchen: SimulatedPlug;
  let office: SimulatedPlug;
  let shelly: SimulatedShelly;
  const meters = new SimulatedMeters();
  let meterServer: SimulatedServer;
  let discoveryOutput: string;
  let contentAfterEdit: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wattbus-own-fleet-'));
    dataDir = join(dir, 'data');
    file = join(dir, 'my-devices.yaml');
    kitchen = await SimulatedPlug.start({ alias: 'Kitchen plug', realtime: { power: 61, voltage: 230 } });
    office = await SimulatedPlug.start({ alias: 'Office plug', realtime: { power: 35, voltage: 231 } });
    shelly = await SimulatedShelly.start({
      model: 'plus-plug-s',
      meter: { power_w: 12.5, voltage_v: 229, current_a: 0.05 },
    });
    const profile = loadProfile('eastron-sdm630');
    meters.setMeter(1, profile, [
      ...(['L1', 'L2', 'L3'] as const).map((phase) => ({
        phase,
        power_w: 500,
        voltage_v: 230,
        current_a: 2.2,
        power_factor: 0.95,
        energy_wh: 100_000,
      })),
      { power_w: 1500, energy_wh: 300_000, power_factor: 0.95, frequency_hz: 50 },
    ]);
    meterServer = await meters.serveTcp();
    ports = {
      http: await freePort(),
      mqtt: await freePort(),
      ws: await freePort(),
      influx: await freePort(),
    };

    // `npm run discover`: the Kasa plug by UDP discovery, the Shelly by probing a range over HTTP.
    const discovery = await run(process.execPath, [
      '--import',
      'tsx',
      main,
      'discover',
      '--devices',
      file,
      '--kasa',
      `127.0.0.1:${kitchen.port}`,
      '--shelly',
      `127.0.0.1-127.0.0.3:${shelly.port}`,
      '--discover-timeout-ms',
      '1500',
    ]);
    assert.equal(discovery.status, 0, discovery.stderr);
    discoveryOutput = discovery.stdout;

    // npm start -- --discover: the meter joins the file, then the platform runs it.
    running = startPlatform(
      dataDir,
      ports,
      [
        '--devices',
        file,
        '--discover',
        '--modbus',
        `127.0.0.1:${meterServer.port}@1`,
        '--discover-timeout-ms',
        '1500',
      ],
      { LOG_LEVEL: 'info' },
    );
    await bannerOf(running);
  });

  after(async () => {
    if (running?.child.exitCode === null) {
      running.child.kill('SIGKILL');
      await once(running.child, 'exit');
    }
    await Promise.all([kitchen?.stop(), office?.stop(), shelly?.stop(), meterServer?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('discovery prints what it found and writes it to the devices file', async () => {
    assert.match(discoveryOutput, /Found 2 device\(s\)/);
    assert.match(discoveryOutput, /tplink .*HS110.*"Kitchen plug".*no password/);
    assert.match(discoveryOutput, /shelly .*SNPL-00112EU/);
    assert.match(discoveryOutput, /"Kitchen plug".*\n *added as 'kitchen-plug'/);
    assert.match(running!.output(), /modbus .*Eastron SDM630.*\n *added as 'eastron-sdm630'/);
    const text = readFileSync(file, 'utf8');
    for (const id of ['kitchen-plug', 'plusplugs', 'eastron-sdm630']) {
      assert.match(text, new RegExp(`id: ${id}\\n`));
    }
    assert.match(text, /type: shelly/);
  });

  it('stores readings of the devices in the file, and runs no simulated demo', async () => {
    await waitUntil(
      'readings of the discovered devices in InfluxDB',
      async () => {
        const stored = await storedDevices(ports.influx);
        return ['kitchen-plug', 'plusplugs', 'eastron-sdm630'].every((id) => stored.includes(id));
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.ok(!(await storedDevices(ports.influx)).includes('desk-1'), 'the demo fleet ran');
    assert.match(running!.output(), /Devices {6}3 from .*my-devices\.yaml \(watched/);
  });

  it('keeps the console calm: banner first, event lines, JSON logs in data/logs', () => {
    const stdout = running!.stdout();
    const afterDiscovery = stdout.slice(stdout.indexOf('\nWattBus is running.'));
    assert.ok(!/^\{"level"/m.test(stdout), 'JSON log lines on the console');
    assert.ok(!stdout.includes('does not speak MQTT 5'));
    assert.match(afterDiscovery, /Notable events follow:\n/);
    const logs = readFileSync(join(dataDir, 'logs', 'current.log'), 'utf8');
    assert.match(logs, /^\{"level":\d+/);
    assert.equal(logs.match(/does not speak MQTT 5/g)?.length ?? 0, 1, 'said once for its own broker');
  });

  it('starts a device added to the file while running, without a restart', async () => {
    appendFileSync(
      file,
      [
        '  # added by hand while npm start runs',
        '  - id: office-plug',
        '    type: tplink',
        '    location: home/office',
        '    kind: workplace',
        `    connection: { host: 127.0.0.1, port: ${office.port} }`,
        '',
      ].join('\n'),
    );
    contentAfterEdit = readFileSync(file, 'utf8');
    await waitUntil(
      'readings of office-plug in InfluxDB',
      async () => (await storedDevices(ports.influx)).includes('office-plug'),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.match(running!.stdout(), /devices file applied: added office-plug/);
  });

  it('stores readings an outside collector publishes with the printed operator line', async () => {
    const line = running!.output().match(/^ *(mosquitto_pub .* -u operator .*)$/m)?.[1];
    assert.ok(line, 'no mosquitto_pub line for operator in the banner');
    const result = await run('bash', ['-c', line]);
    assert.equal(result.status, 0, result.stderr);
    await waitUntil(
      'the published reading of my-meter in InfluxDB',
      async () => (await storedDevices(ports.influx)).includes('my-meter'),
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  });

  it('lets the hook account subscribe but not publish', async () => {
    const password = passwordOf(running!.output(), 'hook');
    const login = ['-h', '127.0.0.1', '-p', String(ports.mqtt), '-u', 'hook', '-P', password];
    const watched = await run('mosquitto_sub', [
      ...login,
      '-t',
      'wattbus/devices/+/readings',
      '-C',
      '2',
      '-W',
      '20',
      '-v',
    ]);
    assert.equal(watched.status, 0, watched.stderr);
    assert.equal(watched.stdout.trim().split('\n').length, 2);
    const reading = JSON.stringify({ ts: new Date().toISOString(), device: 'by-hook', power_w: 1 });
    const refused = await run('mosquitto_pub', [
      ...login,
      '-q',
      '1',
      '-t',
      'wattbus/devices/by-hook/readings',
      '-m',
      reading,
    ]);
    assert.notEqual(refused.status, 0, 'the broker took a publish from the read-only hook account');
    // A reading published after the refused one is stored; the refused one never is.
    const operator = passwordOf(running!.output(), 'operator');
    const fence = JSON.stringify({ ts: new Date().toISOString(), device: 'after-hook', power_w: 1 });
    const published = await run('mosquitto_pub', [
      ...login.slice(0, 4),
      '-u',
      'operator',
      '-P',
      operator,
      '-q',
      '1',
      '-t',
      'wattbus/devices/after-hook/readings',
      '-m',
      fence,
    ]);
    assert.equal(published.status, 0, published.stderr);
    await waitUntil(
      'the operator reading',
      async () => (await storedDevices(ports.influx)).includes('after-hook'),
      {
        timeoutMs: 30_000,
        intervalMs: 500,
      },
    );
    assert.ok(!(await storedDevices(ports.influx)).includes('by-hook'));
  });

  it('leaves the devices file as the user wrote it across two restarts, and keeps the passwords', async () => {
    const passwords = ['operator', 'hook'].map((name) => passwordOf(running!.output(), name));
    for (let restart = 1; restart <= 2; restart++) {
      running!.child.kill('SIGTERM');
      const [code] = await once(running!.child, 'exit');
      assert.equal(code, 0, running!.output());
      running = startPlatform(dataDir, ports, ['--devices', file]);
      await bannerOf(running);
      assert.equal(readFileSync(file, 'utf8'), contentAfterEdit, `the file changed on restart ${restart}`);
      assert.deepEqual(
        ['operator', 'hook'].map((name) => passwordOf(running!.output(), name)),
        passwords,
      );
    }
    assert.ok(!existsSync(join(dataDir, 'devices.yaml')), 'a devices file appeared in the data dir');
    assert.ok(!existsSync(join(dataDir, 'demo')), 'the demo ran');
    running!.child.kill('SIGTERM');
    const [code] = await once(running!.child, 'exit');
    assert.equal(code, 0, running!.output());
  });
});

/** The password the banner prints for an account (in its mosquitto lines). */
function passwordOf(output: string, username: string): string {
  const password = output.match(new RegExp(`-u ${username} -P '([^']+)'`))?.[1];
  assert.ok(password, `no password for ${username} in the banner`);
  return password;
}
