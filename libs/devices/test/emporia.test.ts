import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { ReadingSchema, validator } from '@wattbus/contracts';
import {
  BUILTIN_DEFAULTS,
  discoverEmporia,
  EmporiaChannelDriver,
  EmporiaConnectionSchema,
  HoldOff,
  SharedResources,
  tokenFileOf,
  type EmporiaConnection,
  type RegistryDevice,
} from '@wattbus/devices';
import { EmporiaCloud, MINUTE_RETENTION_MS } from '@wattbus/simulators';
import type { Logger } from 'pino';
import { capturingLogger, failureOf } from './helpers.js';

const checkReading = validator(ReadingSchema);
const HOUR_MS = 3_600_000;

describe('emporia driver against the emulated cloud', () => {
  let dir: string;
  const clouds: EmporiaCloud[] = [];
  const shared: SharedResources[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'wattbus-emporia-'));
  });

  after(async () => {
    await Promise.all(shared.map((resources) => resources.closeAll()));
    await Promise.all(clouds.map((cloud) => cloud.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function cloudWith(options: Parameters<typeof EmporiaCloud.start>[0] = {}) {
    const cloud = await EmporiaCloud.start(options);
    clouds.push(cloud);
    const passwordFile = join(dir, `password-${cloud.port}`);
    writeFileSync(passwordFile, `${cloud.password}\n`);
    const dataDir = join(dir, `data-${cloud.port}`);
    return { cloud, passwordFile, dataDir };
  }

  /** Drivers for channels of one account, sharing one account object as the agent's would. */
  function channels(
    setup: { cloud: EmporiaCloud; passwordFile: string; dataDir: string },
    list: [number, string][],
    options: {
      scale?: '1S' | '1MIN';
      logger?: Logger;
      poll_interval_ms?: number;
      max_backoff_ms?: number;
    } = {},
  ): EmporiaChannelDriver[] {
    const resources = new SharedResources();
    shared.push(resources);
    const logger = options.logger ?? capturingLogger().logger;
    return list.map(([device_gid, channel]) => {
      const device: RegistryDevice = {
        ...BUILTIN_DEFAULTS,
        poll_interval_ms: options.poll_interval_ms ?? 1000,
        max_backoff_ms: options.max_backoff_ms ?? BUILTIN_DEFAULTS.max_backoff_ms,
        timeout_ms: 5000,
        id: `emporia-${device_gid}-${channel}`.toLowerCase().replace(/[^a-z0-9-]+/g, '-'),
        name: channel,
        type: 'emporia',
        location: 'home',
        kind: 'circuit',
        connection: Value.Default(EmporiaConnectionSchema, {
          email: setup.cloud.email,
          password_file: setup.passwordFile,
          device_gid,
          channel,
          scale: options.scale ?? '1S',
          data_dir: setup.dataDir,
          api_url: setup.cloud.apiUrl,
          cognito_url: setup.cloud.cognitoUrl,
        }) as EmporiaConnection,
      };
      return new EmporiaChannelDriver(device, { logger, shared: resources });
    });
  }

  it('signs in by SRP, reads mains, circuits, balance and the nested plug with one usage request, as the cloud answered', async () => {
    const setup = await cloudWith();
    const { logger, lines } = capturingLogger();
    const list: [number, string][] = [
      [1001, '1,2,3'],
      ...Array.from({ length: 16 }, (_, index): [number, string] => [1001, String(index + 1)]),
      [1001, 'Balance'],
      [1002, '1,2,3'],
    ];
    const drivers = channels(setup, list, { logger, scale: '1MIN', poll_interval_ms: 60_000 });
    const readings = await Promise.all(drivers.map((driver) => driver.read()));
    assert.equal(setup.cloud.cognito.counts.srp_sign_ins, 1);
    // One device list and one usage answer for all 19 channels.
    assert.deepEqual(
      setup.cloud.requests.map((request) => request.call),
      ['customers/devices', 'getDeviceListUsages'],
    );
    readings.forEach((reading, index) => {
      const [gid, channel] = list[index]!;
      const answered = setup.cloud.answeredPowerW(gid, channel);
      assert.equal(answered.length, 1);
      assert.ok(Math.abs(reading.values[0]!.power_w - answered[0]!) < 1e-6, `${gid}/${channel}`);
      assert.ok(checkReading({ ts: new Date().toISOString(), device: 'x', ...reading.values[0] }));
    });
    // Balance is what the mains see beyond the circuits.
    const power = readings.map((reading) => reading.values[0]!.power_w);
    const circuits = power.slice(1, 17).reduce((sum, watts) => sum + watts, 0);
    assert.ok(Math.abs(power[0]! - circuits - power[17]!) < 1e-6);
    // The token cache is private to the agent's user and no token reaches the log.
    const file = tokenFileOf(setup.dataDir, setup.cloud.email);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.doesNotMatch(JSON.stringify(lines), /eyJ/);
    const description = await drivers[1]!.describe();
    assert.equal(description.model, 'VUE002');
    assert.equal(description.details?.channel, 'Kitchen');
  });

  it('1S power is the kWh of one second as watts; energy grows by power × time between answers', async () => {
    const setup = await cloudWith();
    const [driver] = channels(setup, [[1001, '5']], { scale: '1S', poll_interval_ms: 10 });
    const first = await driver!.read();
    assert.equal(first.values[0]!.energy_wh, 0);
    const answered = setup.cloud.answeredPowerW(1001, '5');
    assert.ok(Math.abs(first.values[0]!.power_w - answered.at(-1)!) < 1e-6);
    // The account asks again once the last answer is a poll interval old.
    let second = await driver!.read();
    while (setup.cloud.answeredPowerW(1001, '5').length < 2 || second.values[0]!.energy_wh === 0) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      second = await driver!.read();
    }
    assert.ok(second.values[0]!.energy_wh! > 0);
    assert.ok(second.values[0]!.energy_wh! <= (second.values[0]!.power_w * 20) / 3_600_000 + 1e-9);
  });

  it('reuses the cached tokens after a restart and renews them ahead of expiry, without a 401', async () => {
    const setup = await cloudWith({ tokenLifetimeS: 2 });
    const [first] = channels(setup, [[1001, '1']], { poll_interval_ms: 10 });
    await first!.read();
    assert.equal(setup.cloud.cognito.counts.srp_sign_ins, 1);
    // A new account object (an agent restart) on the same data dir: no password sign-in.
    const [second] = channels(setup, [[1001, '1']], { poll_interval_ms: 10 });
    await second!.read();
    assert.equal(setup.cloud.cognito.counts.srp_sign_ins, 1);
    // Polls go on while the 2 s token ages: in its last quarter it is renewed before use.
    const started = Date.now();
    while (setup.cloud.cognito.counts.refreshes === 0 && Date.now() - started < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await second!.read();
    }
    assert.ok(setup.cloud.cognito.counts.refreshes >= 1, 'the token was renewed');
    assert.equal(setup.cloud.cognito.counts.srp_sign_ins, 1);
    assert.equal(setup.cloud.requests.filter((request) => request.status === 401).length, 0);
  });

  it('renews the token after a 401 and repeats the request, so the poll is not lost', async () => {
    const setup = await cloudWith();
    const [driver] = channels(setup, [[1001, '3']], { poll_interval_ms: 10 });
    await driver!.read();
    setup.cloud.expireTokens();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const reading = await driver!.read();
    assert.ok(reading.values[0]!.power_w > 0);
    assert.equal(setup.cloud.cognito.counts.refreshes, 1);
    assert.deepEqual(
      setup.cloud.requests.slice(-2).map((request) => request.status),
      [401, 200],
    );
  });

  it('a wrong password gives one clear DEVICE_AUTH_FAILED and is not tried again', async () => {
    const setup = await cloudWith();
    writeFileSync(setup.passwordFile, 'not the password\n');
    const { logger, lines } = capturingLogger();
    const drivers = channels(
      setup,
      [
        [1001, '1,2,3'],
        [1001, '1'],
      ],
      { logger },
    );
    const errors = await Promise.all(drivers.map((driver) => failureOf(driver.read())));
    for (const error of errors) {
      assert.equal(error.code, 'DEVICE_AUTH_FAILED');
      assert.match(error.message, /Emporia sign-in of owner@example\.com failed: wrong e-mail or password/);
    }
    assert.equal((await failureOf(drivers[0]!.read())).code, 'DEVICE_AUTH_FAILED');
    assert.equal(setup.cloud.cognito.counts.failed_sign_ins, 1, 'the same wrong password is sent once');
    assert.equal(lines.filter((line) => line.level === 50).length, 1, 'one error line');
    assert.doesNotMatch(JSON.stringify(lines), /not the password/);
    // A corrected password file is picked up.
    writeFileSync(setup.passwordFile, setup.cloud.password);
    assert.ok((await drivers[1]!.read()).values[0]!.power_w > 0);
  });

  it('holds off after a 429 or 5xx: polls during the hold-off send nothing', async () => {
    const setup = await cloudWith();
    const [driver] = channels(setup, [[1001, '2']], { poll_interval_ms: 10 });
    await driver!.read();
    setup.cloud.fail(429, 1, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const refused = await failureOf(driver!.read());
    assert.match(refused.message, /rate limit \(429\); next request in 1 s/);
    const sent = setup.cloud.requests.length;
    for (let poll = 0; poll < 5; poll++) {
      assert.match((await failureOf(driver!.read())).message, /holding off/);
    }
    assert.equal(setup.cloud.requests.length, sent, 'no request while holding off');
    assert.equal(setup.cloud.earlyRetries, 0);
    // A 5xx holds off the same way; here it meets the first request, the device list.
    const other = await cloudWith();
    const [fresh] = channels(other, [[1001, '2']]);
    other.cloud.fail(503, 1);
    assert.match(
      (await failureOf(fresh!.read())).message,
      /device list\): server error \(503\); next request in 1 s/,
    );
    assert.match((await failureOf(fresh!.read())).message, /holding off/);
    assert.deepEqual(
      other.cloud.requests.map((request) => `${request.call} ${request.status}`),
      ['customers/devices 503'],
    );
    const holdOff = new HoldOff(30_000);
    assert.deepEqual(
      [holdOff.refused(0, 0), holdOff.refused(0, 0), holdOff.refused(5000, 0), holdOff.refused(0, 0)],
      [1000, 2000, 5000, 8000],
    );
    holdOff.succeeded();
    assert.equal(holdOff.remainingMs(0), 0);
  });

  it('reads history: minutes within the last 7 days, hours before, each the energy the cloud integrates', async () => {
    const setup = await cloudWith();
    const [driver] = channels(setup, [[1001, '4']]);
    const now = Date.now();
    const to = new Date(Math.floor(now / HOUR_MS) * HOUR_MS - HOUR_MS);
    const from = new Date(to.getTime() - 9 * 24 * HOUR_MS);
    const intervals = await driver!.readHistory(from, to, 'auto');
    const hours = intervals.filter(
      (interval) => Date.parse(interval.end) - Date.parse(interval.start) === HOUR_MS,
    );
    const minutes = intervals.filter(
      (interval) => Date.parse(interval.end) - Date.parse(interval.start) === 60_000,
    );
    assert.equal(hours.length + minutes.length, intervals.length);
    assert.ok(hours.length >= 2 * 24 && hours.length <= 2 * 24 + 2, `${hours.length} hours`);
    assert.ok(Date.parse(minutes[0]!.start) >= now - MINUTE_RETENTION_MS);
    assert.equal(minutes.at(-1)!.end, to.toISOString());
    // Contiguous, and the total is the cloud's own integral of the channel's power.
    for (let index = 1; index < intervals.length; index++)
      assert.equal(intervals[index]!.start, intervals[index - 1]!.end);
    const total = intervals.reduce((sum, interval) => sum + interval.energy_wh, 0);
    const expected =
      setup.cloud.home.energyKwh(1001, '4', Date.parse(intervals[0]!.start), to.getTime()) * 1000;
    assert.ok(Math.abs(total - expected) < 1e-6 * expected, `${total} vs ${expected}`);
    // Asked for minutes beyond retention, the cloud has none: those are left out, not zeros.
    const old = await driver!.readHistory(
      new Date(from.getTime()),
      new Date(from.getTime() + HOUR_MS),
      '1MIN',
    );
    assert.deepEqual(old, []);
  });

  it('gives its history to a backfill as batches: a day at a time, hours then minutes, nothing twice', async () => {
    const setup = await cloudWith();
    const [driver] = channels(setup, [[1001, '4']]);
    const now = Date.now();
    const toMs = Math.floor(now / HOUR_MS) * HOUR_MS - HOUR_MS;
    const fromMs = toMs - 9 * 24 * HOUR_MS;
    const batches = [];
    for await (const batch of driver!.history({ fromMs, toMs, zone: 'UTC' })) batches.push(batch);
    const sources = new Set(batches.map((batch) => `${batch.period}:${batch.source}`));
    assert.deepEqual([...sources].sort(), ['hour:emporia-1h', 'minute:emporia-1min']);
    assert.ok(batches.length >= 10 && batches.length <= 12, `${batches.length} batches (one or two per day)`);
    const intervals = batches.flatMap((batch) => batch.intervals).sort((a, b) => a.startMs - b.startMs);
    for (let index = 1; index < intervals.length; index++)
      assert.equal(intervals[index]!.startMs, intervals[index - 1]!.endMs, 'contiguous, no interval twice');
    assert.equal(intervals.at(-1)!.endMs, toMs);
    const total = intervals.reduce((sum, interval) => sum + interval.energyWh, 0);
    const expected = setup.cloud.home.energyKwh(1001, '4', intervals[0]!.startMs, toMs) * 1000;
    assert.ok(Math.abs(total - expected) < 1e-6 * expected, `${total} vs ${expected}`);
  });

  it('discovers every channel of the account as a registry entry named from the account', async () => {
    const setup = await cloudWith();
    const entries = await discoverEmporia(
      {
        email: setup.cloud.email,
        password_file: setup.passwordFile,
        data_dir: setup.dataDir,
        api_url: setup.cloud.apiUrl,
        cognito_url: setup.cloud.cognitoUrl,
      },
      { location: 'home/panel', logger: capturingLogger().logger },
    );
    assert.equal(entries.length, 19);
    const byId = new Map(entries.map((entry) => [entry.id, entry]));
    assert.equal(byId.get('emporia-1001-mains')?.name, 'Home mains');
    assert.equal(byId.get('emporia-1001-1')?.name, 'Kitchen');
    assert.equal(byId.get('emporia-1001-16')?.name, 'Home circuit 16');
    assert.equal(byId.get('emporia-1001-balance')?.name, 'Home balance');
    assert.equal(byId.get('emporia-1002-mains')?.name, 'Aquarium');
    assert.equal(byId.get('emporia-1002-mains')?.kind, 'appliance');
    assert.deepEqual(byId.get('emporia-1001-7')?.connection, {
      email: setup.cloud.email,
      password_file: setup.passwordFile,
      data_dir: setup.dataDir,
      api_url: setup.cloud.apiUrl,
      cognito_url: setup.cloud.cognitoUrl,
      device_gid: 1001,
      channel: '7',
    });
  });
});
