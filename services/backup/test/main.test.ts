import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, startInflux, type InfluxServer } from '@wattbus/testing';
import { loadBackupConfig } from '../src/config.js';
import { readings, rows, runMain, tempDir, writeLines } from './helpers.js';

describe('config', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    dir = await tempDir('config');
  });
  after(() => dir?.remove());

  test('defaults: hourly, weekly full, keep 10', () => {
    const config = loadBackupConfig(undefined, {});
    assert.equal(config.schedule, '0 * * * *');
    assert.equal(config.full_schedule, '0 0 * * 1');
    assert.deepEqual(config.keep, { last: 10, daily: 0, weekly: 0, monthly: 0 });
  });

  test('a bad cron expression, time zone or key is named with the file', async () => {
    const file = join(dir.path, 'backup.yaml');
    await writeFile(file, "schedule: 'every hour'\ntime_zone: Mars/Olympus\n");
    assert.throws(
      () => loadBackupConfig(file, {}),
      (error: Error) => {
        assert.match(error.message, /invalid configuration in .*backup\.yaml/);
        assert.match(error.message, /\/schedule: 'every hour' is not a cron expression/);
        assert.match(error.message, /\/time_zone: unknown time zone 'Mars\/Olympus'/);
        return true;
      },
    );
    // The key was `timezone` before it was named like every other service's.
    await writeFile(file, 'timezone: Europe/Berlin\n');
    assert.throws(() => loadBackupConfig(file, {}), /\/timezone: unknown key \(did you mean time_zone\?\)/);
    await writeFile(file, 'keep:\n  last: 0\n  hourly: 3\n');
    assert.throws(
      () => loadBackupConfig(file, {}),
      /\/keep\/hourly: unknown key[\s\S]*\/keep\/last: must be >= 1/,
    );
    assert.throws(
      () => loadBackupConfig(undefined, { WATTBUS_BACKUP_KEEP__LAST: 'ten' }),
      /\/keep\/last \(from WATTBUS_BACKUP_KEEP__LAST\)/,
    );
  });
});

describe('command line', () => {
  let influx: InfluxServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    influx = await startInflux();
    dir = await tempDir('cli');
    await influx.createDatabase('wattbus');
    await writeLines(influx, 'wattbus', readings('plug-1', 500, Date.parse('2026-11-20T00:00:00Z'), 1000));
  });
  after(async () => {
    await influx?.destroy();
    await dir?.remove();
  });

  test('--help lists the commands; a bad config or command exits 2 with the reason', async () => {
    const help = await runMain(['--help']);
    assert.equal(help.code, 0);
    for (const command of ['now', 'list', 'verify <dir>', 'restore <dir>', 'run', '--influx-url', '--from'])
      assert.ok(help.stdout.includes(command), command);

    const file = join(dir.path, 'bad.json');
    await writeFile(file, JSON.stringify({ full_schedule: '61 * * * *' }));
    const bad = await runMain(['now', '--config', file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /bad\.json:\n\s+\/full_schedule: '61 \* \* \* \*' is not a cron expression/);

    const unknown = await runMain(['backup-everything']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'backup-everything'/);
  });

  test('now, list, then restore into another database prints summaries', async () => {
    const env = {
      WATTBUS_BACKUP_INFLUX__URL: influx.url,
      WATTBUS_BACKUP_DIRECTORY: join(dir.path, 'backups'),
    };
    const now = await runMain(['now'], env);
    assert.equal(now.code, 0, now.stderr);
    assert.match(now.stdout, /backup \S+-full \(full: no backup yet\)/);
    assert.match(now.stdout, /500 points \(electricity 500\)/);
    assert.equal(now.stderr, '', 'no progress bar when stderr is not a terminal');

    const list = await runMain(['list'], env);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /-full\s+full\s+500 points/);

    const restore = await runMain(
      [
        'restore',
        join(dir.path, 'backups'),
        '--database',
        'copy',
        '--from',
        '2026-11-20T00:00:00Z',
        '--to',
        '2026-11-20T00:01:40Z',
      ],
      env,
    );
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, /100 points written \(electricity 100\), 400 outside the range/);
    const [count] = await rows(influx, 'copy', 'SELECT count(power_w) AS n FROM electricity');
    assert.equal(count?.n, 100);

    const closed = `http://127.0.0.1:${await freePort()}`;
    const unreachable = await runMain(['now'], { ...env, WATTBUS_BACKUP_INFLUX__URL: closed });
    assert.equal(unreachable.code, 1);
    assert.match(
      unreachable.stderr,
      /backup failed: cannot reach InfluxDB at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/,
    );
  });
});
