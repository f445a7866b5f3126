import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BUILTIN_DEFAULTS, TplinkDriver, type HistoryBatch, type RegistryDevice } from '@wattbus/devices';
import { SimulatedKlapDevice, SimulatedPlug, type KasaState } from '@wattbus/simulators';
import { failureOf } from './helpers.js';

const ZONE = 'Europe/Madrid';
/** 2026-10-01T00:00 and 2026-11-30T00:00 in Madrid: 60 local days, one of them 25 hours long (Oct 25). */
const FROM = Date.parse('2026-09-30T22:00:00.000Z');
const TO = Date.parse('2026-11-29T23:00:00.000Z');
const ACCOUNT = { username: 'owner@example.com', password: 'correct horse' };

const plugs: Array<{ stop(): Promise<void> }> = [];
const drivers: TplinkDriver[] = [];

before(() => {
  process.env.WATTBUS_TEST_TPLINK_USER = ACCOUNT.username;
  process.env.WATTBUS_TEST_TPLINK_PASSWORD = ACCOUNT.password;
});

after(async () => {
  await Promise.all(drivers.map((driver) => driver.close()));
  await Promise.all(plugs.map((plug) => plug.stop()));
});

function driverFor(connection: Record<string, unknown>): TplinkDriver {
  const device: RegistryDevice = {
    ...BUILTIN_DEFAULTS,
    id: 'desk-1',
    name: 'Desk 1',
    type: 'tplink',
    location: 'hq',
    kind: 'workplace',
    connection,
    timeout_ms: 2000,
  };
  const driver = new TplinkDriver(device);
  drivers.push(driver);
  return driver;
}

/** Day n (0 = Oct 1) used 1,000 + 7n Wh; September is kept as a month total only; Dec 1 is outside the range. */
function fillTwoMonths(kasa: KasaState): void {
  for (let n = 0; n < 61; n++) {
    const date = new Date(Date.UTC(2026, 9, 1 + n));
    kasa.history.setDay(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), 1000 + 7 * n);
  }
  kasa.history.setMonth(2026, 9, 31_000);
}

async function collect(driver: TplinkDriver, fromMs = FROM, toMs = TO): Promise<HistoryBatch[]> {
  const batches: HistoryBatch[] = [];
  for await (const batch of driver.history({ fromMs, toMs, zone: ZONE })) batches.push(batch);
  return batches;
}

function checkTwoMonths(batches: HistoryBatch[]): void {
  const days = batches.filter((batch) => batch.period === 'day').flatMap((batch) => batch.intervals);
  assert.equal(days.length, 60);
  days.forEach((day, n) => {
    assert.equal(day.energyWh, 1000 + 7 * n, `day ${n}`);
    const date = new Date(Date.UTC(2026, 9, 1 + n));
    // Local midnight in Madrid: 22:00Z in summer time, 23:00Z in winter time.
    const offsetH = date < new Date(Date.UTC(2026, 9, 26)) ? 2 : 1;
    assert.equal(day.startMs, date.getTime() - offsetH * 3_600_000, `start of day ${n}`);
  });
  const oct25 = days[24]!;
  assert.equal(oct25.endMs - oct25.startMs, 25 * 3_600_000, 'the day the clocks go back has 25 hours');
  const months = batches.filter((batch) => batch.period === 'month').flatMap((batch) => batch.intervals);
  // October and November overlap the range; September (before it) and December (none kept) do not.
  assert.deepEqual(
    months.map((month) => [new Date(month.startMs).toISOString(), month.energyWh]),
    [
      ['2026-09-30T22:00:00.000Z', sumOfDays(0, 31)],
      ['2026-10-31T23:00:00.000Z', sumOfDays(31, 61)],
    ],
  );
  assert.deepEqual(
    batches.map((batch) => `${batch.source}:${batch.intervals.length}`),
    ['tplink-monthstat:2', 'tplink-daystat:31', 'tplink-daystat:29'],
  );
}

function sumOfDays(from: number, to: number): number {
  let sum = 0;
  for (let n = from; n < to; n++) sum += 1000 + 7 * n;
  return sum;
}

describe('TP-Link energy history (emeter.get_daystat / get_monthstat)', () => {
  it('reads 2 months of days from an HS110 v1 (kWh) in the plug calendar, exactly in Wh', async () => {
    const plug = await SimulatedPlug.start({ model: 'hs110' });
    plugs.push(plug);
    fillTwoMonths(plug.kasa);
    checkTwoMonths(await collect(driverFor({ host: plug.host, port: plug.port, time_zone: ZONE })));
  });

  it('reads energy_wh from v2 firmware over KLAP', async () => {
    const plug = await SimulatedKlapDevice.start({ ...ACCOUNT, family: 'kasa', kasaModel: 'hs110v2' });
    plugs.push(plug);
    fillTwoMonths(plug.kasa!);
    const driver = driverFor({
      host: plug.host,
      port: plug.port,
      protocol: 'klap',
      username_env: 'WATTBUS_TEST_TPLINK_USER',
      password_env: 'WATTBUS_TEST_TPLINK_PASSWORD',
    });
    checkTwoMonths(await collect(driver));
  });

  it('lists only the days the plug has records of', async () => {
    const plug = await SimulatedPlug.start({ model: 'hs110v2' });
    plugs.push(plug);
    plug.kasa.history.setDay(2026, 11, 28, 120);
    plug.kasa.history.setDay(2026, 11, 29, 0);
    const batches = await collect(driverFor({ host: plug.host, port: plug.port }), FROM, TO);
    const days = batches.filter((batch) => batch.period === 'day').flatMap((batch) => batch.intervals);
    // No zone in the entry: the range's (Madrid) is the plug's calendar.
    assert.deepEqual(
      days.map((day) => [new Date(day.startMs).toISOString(), day.energyWh]),
      [
        ['2026-11-27T23:00:00.000Z', 120],
        ['2026-11-28T23:00:00.000Z', 0],
      ],
    );
  });

  it('says NO_HISTORY for a Tapo plug, naming what is missing', async () => {
    const plug = await SimulatedKlapDevice.start({ ...ACCOUNT, family: 'tapo' });
    plugs.push(plug);
    const driver = driverFor({
      host: plug.host,
      port: plug.port,
      protocol: 'tapo',
      username_env: 'WATTBUS_TEST_TPLINK_USER',
      password_env: 'WATTBUS_TEST_TPLINK_PASSWORD',
    });
    const error = await failureOf(collect(driver));
    assert.equal(error.code, 'NO_HISTORY');
    assert.match(error.message, /Tapo/);
  });

  it('says NO_HISTORY for a plug that answers "module not support"', async () => {
    const plug = await SimulatedPlug.start({ model: 'hs110' });
    plugs.push(plug);
    const api = plug.kasa.device.api as Record<string, unknown>;
    delete api.emeter;
    const error = await failureOf(collect(driverFor({ host: plug.host, port: plug.port })));
    assert.equal(error.code, 'NO_HISTORY');
    assert.match(error.message, /module not support/);
  });
});
