import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Bus } from '@wattbus/bus';
import {
  BackfillResultSchema,
  EnergyHistorySchema,
  fromLocal,
  localTime,
  validator,
  WattbusError,
  type BackfillResult,
  type EnergyHistory,
} from '@wattbus/contracts';
import { loadRegistry } from '@wattbus/devices';
import { ConfigError, UsageError } from '@wattbus/runtime';
import { SimulatedPlug } from '@wattbus/simulators';
import { startMosquitto, waitUntil, type MosquittoServer } from '@wattbus/testing';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { runBackfillCommand, type Agent } from '../src/index.js';
import { agentConfig, startAgent } from './helpers.js';

const ZONE = 'Europe/Madrid';
const checkResult = validator(BackfillResultSchema);
const checkHistory = validator(EnergyHistorySchema);

/** Local day `n` days before today in ZONE, as [year, month, day]. */
function daysAgo(n: number): [number, number, number] {
  const today = localTime(Date.now(), ZONE);
  const date = new Date(Date.UTC(today.year, today.month - 1, today.day - n));
  return [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
}

/** Energy of the day `n` days ago: distinct, so a day put in the wrong place shows. */
const energyOf = (n: number) => 2000 + 13 * n;

describe('backfill: a TP-Link plug’s daily energy onto the bus (mosquitto)', () => {
  let broker: MosquittoServer;
  let client: Bus;
  let agent: Agent;
  let dir: string;
  let file: string;
  const plugs: SimulatedPlug[] = [];
  const seen: EnergyHistory[] = [];

  before(async () => {
    broker = await startMosquitto({ persistence: false });
    client = await Bus.connect({ url: broker.url, service: 'gateway-test' });
    await client.subscribe(client.topics.allDevices('history'), checkHistory, (history) => {
      seen.push(history);
    });
    const plug = await SimulatedPlug.start({ model: 'hs110' });
    plugs.push(plug);
    // 70 days of records up to today; the plug keeps nothing older.
    for (let n = 0; n < 70; n++) plug.kasa.history.setDay(...daysAgo(n), energyOf(n));
    process.env.WATTBUS_TEST_TAPO_PASSWORD = 'secret';
    dir = await mkdtemp(join(tmpdir(), 'wattbus-backfill-'));
    file = join(dir, 'devices.yaml');
    const entry = { type: 'tplink', location: 'hq/floor-1', kind: 'workplace' };
    await writeFile(
      file,
      stringify({
        devices: [
          { ...entry, id: 'desk-1', name: 'Desk 1', connection: { host: plug.host, port: plug.port } },
          {
            ...entry,
            id: 'tapo-1',
            name: 'Tapo 1',
            connection: {
              host: '127.0.0.1',
              protocol: 'tapo',
              username: 'owner@example.com',
              password_env: 'WATTBUS_TEST_TAPO_PASSWORD',
            },
          },
        ],
      }),
    );
    agent = await startAgent(broker.url, await loadRegistry(file), {
      collector: false,
      device_wills: false,
      time_zone: ZONE,
    });
  });

  after(async () => {
    await agent?.stop();
    await client?.stop();
    await Promise.all(plugs.map((plug) => plug.stop()));
    await broker?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Asks the agent for a backfill and returns its answer and the history it published. */
  async function request(days: number): Promise<{ result: BackfillResult; published: EnergyHistory[] }> {
    seen.length = 0;
    const topic = client.topics.deviceRequest('desk-1', 'backfill');
    const result = await client.request<BackfillResult>(topic, { days }, { timeoutMs: 10_000 });
    assert.ok(checkResult(result), checkResult.errorText());
    await waitUntil('every batch seen', async () => seen.length === result.batches, { timeoutMs: 10_000 });
    return { result, published: [...seen] };
  }

  function checkSixtyDays(result: BackfillResult, published: EnergyHistory[]): void {
    const days = published.filter((batch) => batch.period === 'day').flatMap((batch) => batch.intervals);
    assert.equal(days.length, 60);
    days.forEach((day, i) => {
      const n = 59 - i;
      assert.equal(day.energy_wh, energyOf(n), `energy ${n} days ago`);
      assert.equal(
        day.start,
        new Date(fromLocal(...daysAgo(n), 0, 0, ZONE)).toISOString(),
        `start ${n} days ago`,
      );
    });
    const daySummary = result.periods.find((period) => period.period === 'day')!;
    let sum = 0;
    for (let n = 0; n < 60; n++) sum += energyOf(n);
    assert.equal(daySummary.intervals, 60);
    assert.equal(daySummary.energy_wh, sum);
    assert.equal(daySummary.source, 'tplink-daystat');
    assert.equal(result.from, new Date(fromLocal(...daysAgo(59), 0, 0, ZONE)).toISOString());
    // Every month that overlaps the range, from the plug's monthstat (sums of the days it keeps).
    const months = published.filter((batch) => batch.period === 'month').flatMap((batch) => batch.intervals);
    assert.ok(months.length >= 2 && months.length <= 4, `${months.length} months`);
  }

  it('reads 60 days from the plug through the agent and publishes each with its exact energy', async () => {
    const { result, published } = await request(60);
    checkSixtyDays(result, published);
  });

  it('publishes the same points when run again (they overwrite themselves in the store)', async () => {
    const first = await request(60);
    const second = await request(60);
    assert.deepEqual(second.published, first.published);
    assert.deepEqual(second.result, first.result);
  });

  it('answers NO_HISTORY for a device that keeps none, INVALID_PARAMS for bad days', async () => {
    const noHistory = await client
      .request(client.topics.deviceRequest('tapo-1', 'backfill'), { days: 7 }, { timeoutMs: 5000 })
      .catch((error: unknown) => error);
    assert.ok(noHistory instanceof WattbusError);
    assert.equal(noHistory.code, 'NO_HISTORY');
    for (let n = 0; n < 3; n++) {
      await client
        .request(client.topics.deviceRequest('tapo-1', 'backfill'), { days: 7 }, { timeoutMs: 5000 })
        .catch(() => undefined);
    }
    // Keeping no history is not a failure of the device: it never goes offline for it.
    assert.equal(agent.metrics()['tapo-1']!.failures, 0);
    const bad = await client
      .request(client.topics.deviceRequest('desk-1', 'backfill'), { days: 0 }, { timeoutMs: 5000 })
      .catch((error: unknown) => error);
    assert.ok(bad instanceof WattbusError);
    assert.equal(bad.code, 'INVALID_PARAMS');
    assert.match(bad.message, /days/);
  });

  it('the CLI prints each day as it publishes it, and publishes what the agent does', async () => {
    const fromAgent = await request(60);
    seen.length = 0;
    const lines: string[] = [];
    const config = agentConfig(broker.url, { registry_file: file, time_zone: ZONE });
    const result = await runBackfillCommand({
      config,
      device: 'desk-1',
      days: '60',
      logger: pino({ level: 'silent' }),
      out: (line) => lines.push(line),
    });
    await waitUntil('every batch seen', async () => seen.length === result.batches, { timeoutMs: 10_000 });
    assert.deepEqual(seen, fromAgent.published);
    checkSixtyDays(result, seen);
    const [year, month, day] = daysAgo(0);
    const today = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
    assert.ok(lines.includes(`  ${today}  ${energyOf(0)} Wh`), lines.join('\n'));
    assert.match(lines[0]!, /^desk-1: 60 days from \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d \(Europe\/Madrid\)$/);
    assert.match(lines.at(-1)!, /^published \d+ batches on wattbus\/devices\/desk-1\/history/);
  });

  it('the CLI names an unknown device, a device without history and bad days clearly', async () => {
    const config = agentConfig(broker.url, { registry_file: file, time_zone: ZONE });
    const base = { config, logger: pino({ level: 'silent' }), out: () => undefined };
    await assert.rejects(
      runBackfillCommand({ ...base, device: 'nope', days: '7' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /no device 'nope' in .*devices\.yaml \(its devices: desk-1, tapo-1\)/.test(error.message),
    );
    await assert.rejects(
      runBackfillCommand({ ...base, device: 'tapo-1', days: '7' }),
      (error: unknown) =>
        error instanceof WattbusError && error.code === 'NO_HISTORY' && /Tapo/.test(error.message),
    );
    for (const days of [undefined, '0', '1.5', 'ten', '3661']) {
      await assert.rejects(
        runBackfillCommand({ ...base, device: 'desk-1', days }),
        (error: unknown) =>
          error instanceof UsageError &&
          /--days must be a whole number of days from 1 to 3660/.test(error.message),
      );
    }
    await assert.rejects(
      runBackfillCommand({ ...base, device: undefined, days: '7' }),
      (error: unknown) => error instanceof UsageError && /--device/.test(error.message),
    );
  });
});
