import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Bus } from '@wattbus/bus';
import { ServiceHealthSchema, validator, type ServiceHealth } from '@wattbus/contracts';
import { ServiceMetrics, silentLogger } from '@wattbus/runtime';
import {
  checkMetrics,
  freePort,
  runProgram,
  startAedes,
  startInflux,
  valueOf,
  type AedesServer,
  type InfluxServer,
} from '@wattbus/testing';
import { HealthReporter } from '../src/health-reporter.js';
import { BackupService } from '../src/service.js';
import { makeConfig, tempDir } from './helpers.js';

describe('health reports', () => {
  let influx: InfluxServer;
  let aedes: AedesServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let watcher: Bus;
  const received: ServiceHealth[] = [];
  const waiters: Array<() => void> = [];

  before(async () => {
    influx = await startInflux();
    aedes = await startAedes();
    dir = await tempDir('health');
    await influx.createDatabase('wattbus');
    watcher = await Bus.connect({ url: aedes.url, service: 'watcher', logger: silentLogger() });
    await watcher.subscribe('wattbus/health/+', validator(ServiceHealthSchema), (health) => {
      received.push(health);
      waiters.splice(0).forEach((wake) => wake());
    });
  });

  after(async () => {
    await watcher?.stop();
    await aedes?.stop();
    await influx?.destroy();
    await dir?.remove();
  });

  const nextHealth = (count: number) =>
    new Promise<ServiceHealth>((resolve) => {
      const check = () => (received.length >= count ? resolve(received[count - 1]!) : waiters.push(check));
      check();
    });
  /** The n-th record (1-based) published on a run: the start record has no `backup` check, the stop record is not running. */
  const nextRunReport = (count: number) =>
    new Promise<ServiceHealth>((resolve) => {
      const check = () => {
        const runs = received.filter((health) => health.checks.backup && health.checks.running?.ok);
        if (runs.length >= count) resolve(runs[count - 1]!);
        else waiters.push(check);
      };
      check();
    });

  async function runWith(influxUrl: string): Promise<void> {
    const config = makeConfig({
      influx: { url: influxUrl, database: 'wattbus' },
      directory: dir.path,
      mqtt: { url: aedes.url },
    });
    const bus = await Bus.connect({ url: config.mqtt.url, service: 'backup', logger: silentLogger() });
    const health = new HealthReporter({ bus, logger: silentLogger(), now: Date.now });
    const service = new BackupService({ config, logger: silentLogger(), health });
    await health.start();
    await service.runOnce();
    await health.stop();
    await bus.stop();
  }

  test('a failed backup publishes a ServiceHealth with check backup false and why; the next good one clears it', async () => {
    await runWith(`http://127.0.0.1:${await freePort()}`);
    const failed = await nextRunReport(1);
    assert.equal(failed.service, 'backup');
    assert.equal(failed.ready, false);
    assert.equal(failed.checks.backup?.ok, false);
    assert.match(
      failed.checks.backup?.detail ?? '',
      /backup failed: cannot reach InfluxDB at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/,
    );
    assert.equal(failed.metrics.last_run_ok, 0);

    await runWith(influx.url);
    const recovered = await nextRunReport(2);
    assert.equal(recovered.ready, true);
    assert.match(recovered.checks.backup?.detail ?? '', /^backup \S+-full \(full, 0 points\)$/);
  });

  test('counts runs by result and the last good one in its Prometheus metrics', async () => {
    const run = async (influxUrl: string) => {
      const metrics = new ServiceMetrics('backup', { processMetrics: false });
      await new BackupService({
        config: makeConfig({ influx: { url: influxUrl, database: 'wattbus' }, directory: dir.path }),
        logger: silentLogger(),
        metrics,
      }).runOnce();
      return metrics.registry.metrics();
    };
    const failed = await run(`http://127.0.0.1:${await freePort()}`);
    assert.equal(valueOf(failed, 'wattbus_backup_runs_total', { result: 'failed' }), 1);
    assert.equal(valueOf(failed, 'wattbus_backup_runs_total', { result: 'ok' }), 0);
    assert.equal(valueOf(failed, 'wattbus_backup_last_success_timestamp_seconds'), undefined);
    const before = Date.now() / 1000;
    const good = await run(influx.url);
    assert.equal(valueOf(good, 'wattbus_backup_runs_total', { result: 'ok' }), 1);
    assert.ok((valueOf(good, 'wattbus_backup_last_success_timestamp_seconds') ?? 0) >= before);
    const lint = checkMetrics(good);
    assert.ok(lint.ok, lint.problems);
  });

  test('main run: backs up on its schedule, reports health, stops on SIGTERM', async () => {
    const run = runProgram(fileURLToPath(new URL('../src/main.ts', import.meta.url)), {
      args: ['run'],
      env: {
        WATTBUS_BACKUP_INFLUX__URL: influx.url,
        WATTBUS_BACKUP_DIRECTORY: `${dir.path}/service`,
        WATTBUS_BACKUP_SCHEDULE: '* * * * * *', // every second (6 fields)
        WATTBUS_BACKUP_MQTT__URL: aedes.url,
      },
    });
    const count = received.length;
    const report = await nextHealth(count + 1);
    assert.equal(report.ready, true, report.checks.backup?.detail);
    const { code } = await run.stop('SIGTERM');
    assert.equal(code, 0);
  });
});
