import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '@wattbus/runtime';
import { startInflux, type InfluxServer } from '@wattbus/testing';
import { chainOf, readCatalog } from '../src/catalog.js';
import { Restorer } from '../src/restore.js';
import { BackupService } from '../src/service.js';
import { makeConfig, rows, tempDir, writeLines } from './helpers.js';

const DB = 'wattbus';

describe('backup while readings stream in', () => {
  let influx: InfluxServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    influx = await startInflux();
    dir = await tempDir('stream');
    await influx.createDatabase(DB);
  });

  after(async () => {
    await influx?.destroy();
    await dir?.remove();
  });

  test('misses no reading: the next backup covers the overlap, late points included', async () => {
    const config = makeConfig({
      influx: { url: influx.url, database: DB },
      directory: dir.path,
      overlap_ms: 60_000,
    });
    const service = new BackupService({ config, logger: silentLogger() });
    const written = new Map<string, number>();
    let stop = false;
    let batches = 0;
    let sequence = 0;
    const waiters: Array<{ at: number; resolve: () => void }> = [];
    // Three devices, one point each per batch at the current time, like collectors publishing.
    const stream = (async () => {
      while (!stop) {
        const now = Date.now();
        const lines = ['plug-1', 'plug-2', 'meter-1'].map((device) => {
          written.set(device, (written.get(device) ?? 0) + 1);
          return `electricity,device=${device},type=hs110 power_w=${sequence++},energy_wh=${sequence}i ${now}`;
        });
        await writeLines(influx, DB, lines);
        // Distinct timestamps per batch, so no point overwrites another one.
        while (Date.now() === now) await new Promise((resolve) => setImmediate(resolve));
        batches++;
        for (const waiter of waiters.filter((entry) => batches >= entry.at)) waiter.resolve();
      }
    })();
    const afterBatches = (count: number) =>
      new Promise<void>((resolve) => {
        if (batches >= count) resolve();
        else waiters.push({ at: count, resolve });
      });

    await afterBatches(40);
    const first = await service.runOnce();
    assert.equal(first.ok, true, first.error?.message);
    const firstEnd = first.entry!.manifest.range.to_ms;
    // A reading that arrives late (an agent's buffer flushed after a network outage), older than the first backup's end.
    await writeLines(influx, DB, [`electricity,device=late,type=hs110 power_w=1 ${firstEnd - 30_000}`]);
    written.set('late', 1);
    await afterBatches(batches + 40);
    stop = true;
    await stream;

    // Readings are still arriving while the first backup ran, so it cannot have them all.
    const total = [...written.values()].reduce((sum, count) => sum + count, 0);
    assert.ok(first.entry!.manifest.points < total);
    const second = await service.runOnce();
    assert.equal(second.kind, 'incremental');
    assert.ok(
      second.entry!.manifest.range.from_ms! <= firstEnd - 30_000,
      'the window reaches back over the late reading',
    );

    const before = await rows(
      influx,
      DB,
      'SELECT count(power_w) AS n, sum(power_w) AS power FROM electricity GROUP BY device',
    );
    assert.deepEqual(
      Object.fromEntries(before.map((row) => [row.device, row.n])),
      Object.fromEntries([...written].sort()),
    );
    await influx.query(DB, `DROP DATABASE ${DB}`);
    const catalog = await readCatalog(dir.path);
    const chain = chainOf(catalog.backups.at(-1)!, catalog.backups);
    await new Restorer({ influx: config.influx, write_batch_points: 5000, logger: silentLogger() }).restore(
      chain,
    );
    const after = await rows(
      influx,
      DB,
      'SELECT count(power_w) AS n, sum(power_w) AS power FROM electricity GROUP BY device',
    );
    assert.deepEqual(after, before);
  });
});
