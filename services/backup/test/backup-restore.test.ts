import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '@wattbus/runtime';
import { startInflux, type InfluxServer } from '@wattbus/testing';
import { BackupWriter } from '../src/backup.js';
import { chainOf, readCatalog } from '../src/catalog.js';
import { Restorer } from '../src/restore.js';
import { BackupService } from '../src/service.js';
import { verifyBackup } from '../src/verify.js';
import { fingerprint, makeConfig, readings, rows, tempDir, writeLines } from './helpers.js';

const DB = 'wattbus';
const T0 = Date.parse('2026-11-20T00:00:00Z');

describe('backup, drop, restore (real influxd)', () => {
  let influx: InfluxServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    influx = await startInflux();
    dir = await tempDir('restore');
    await influx.createDatabase(DB);
    const lines = [
      ...readings('plug-1', 3000, T0, 10_000),
      ...readings('plug-2', 2000, T0 + 5, 15_000),
      ...readings('meter-1', 1500, T0, 20_000, 'l1'),
      ...readings('meter-1', 1500, T0, 20_000, 'l2'),
      // Awkward names and values: spaces, commas, equals, quotes, backslashes, unicode, newlines.
      `electricity,device=plug-odd,type=shelly\\ plus,location=caf\u00e9\\,\\ k\u00fcche\\=1 power_w=1.5,energy_wh=7i,note="he said \\"hi\\" \\\\ ok",ok=true ${T0 + 1}`,
      `electricity,device=plug-odd,type=back\\slash,location=\u26a1 power_w=2,energy_wh=-3i,note="line one\nline two, with = and space",ok=false ${T0 + 2}`,
      `alerts,rule=overload,subject=plug-1 active=true,value=2500.5,message="plug-1 above 2000 W" ${T0 + 60_000}`,
      `my\\ "odd"\\,measurement,k=v count=1i ${T0}`,
      `alerts,rule=overload,subject=plug-1 active=false,value=10,message="cleared" ${T0 + 120_000}`,
    ];
    for (let start = 0; start < lines.length; start += 5000)
      await writeLines(influx, DB, lines.slice(start, start + 5000));
  });

  after(async () => {
    await influx?.destroy();
    await dir?.remove();
  });

  test('restores per-device counts and sums, field types, tags and awkward values exactly; twice is the same', async () => {
    const config = makeConfig({
      influx: { url: influx.url, database: DB },
      directory: dir.path,
      window_ms: 6 * 3_600_000,
      chunk_size: 1000,
    });
    const before = await fingerprint(influx, DB);
    assert.equal((before.odd as unknown[]).length, 1, 'the oddly named measurement is compared too');
    const [plug] = before.electricity as Array<{ device: string; n: number }>;
    assert.ok(plug && plug.n > 0);

    const entry = await new BackupWriter({ config, logger: silentLogger() }).write({ now: T0 + 86_400_000 });
    assert.equal(entry.manifest.kind, 'full');
    assert.equal(entry.manifest.points, 3000 + 2000 + 3000 + 2 + 2 + 1);
    assert.deepEqual(entry.manifest.points_per_measurement, {
      alerts: 2,
      electricity: 8002,
      'my "odd",measurement': 1,
    });
    assert.equal(entry.manifest.source.server_version.startsWith('1.6'), true);
    const electricity = entry.manifest.files.find((file) => file.measurement === 'electricity')!;
    assert.deepEqual(electricity.fields.energy_wh, ['integer']);
    assert.deepEqual(electricity.tags, ['device', 'location', 'phase', 'type']);
    assert.deepEqual((await verifyBackup(entry)).problems, []);

    await influx.query(DB, `DROP DATABASE ${DB}`);
    assert.deepEqual(
      await rows(influx, '_internal', 'SHOW DATABASES')
        .then((list) => list.map((row) => row.name))
        .then((names) => names.includes(DB)),
      false,
    );

    const restorer = new Restorer({ influx: config.influx, write_batch_points: 700, logger: silentLogger() });
    const summary = await restorer.restore([entry]);
    assert.equal(summary.points_written, 8005);
    assert.deepEqual(await fingerprint(influx, DB), before);

    await restorer.restore([entry]);
    assert.deepEqual(await fingerprint(influx, DB), before, 'a second restore overwrites the same points');
  });

  test('a chain of full and incremental backups restores, and --from/--to restores a slice', async () => {
    const config = makeConfig({
      influx: { url: influx.url, database: DB },
      directory: `${dir.path}/chain`,
      overlap_ms: 60_000,
    });
    let now = T0 + 86_400_000;
    const clock = { now: () => now, setTimeout: () => undefined, clearTimeout: () => undefined };
    const service = new BackupService({ config, logger: silentLogger(), clock });
    const first = await service.runOnce();
    assert.equal(first.ok, true, first.error?.message);
    assert.equal(first.kind, 'full');

    const later = T0 + 86_400_000 + 1000;
    await writeLines(influx, DB, readings('plug-3', 100, later, 1000));
    now = later + 200_000;
    const second = await service.runOnce();
    assert.equal(second.kind, 'incremental');
    assert.equal(second.entry!.manifest.parent, first.entry!.manifest.id);
    assert.equal(second.entry!.manifest.range.from_ms, first.entry!.manifest.range.to_ms - 60_000);
    assert.equal(second.entry!.manifest.points, 100);

    const before = await fingerprint(influx, DB);
    await influx.query(DB, `DROP DATABASE ${DB}`);
    const catalog = await readCatalog(config.directory);
    const chain = chainOf(catalog.backups.at(-1)!, catalog.backups);
    assert.deepEqual(
      chain.map((entry) => entry.manifest.kind),
      ['full', 'incremental'],
    );
    const restorer = new Restorer({
      influx: config.influx,
      write_batch_points: 5000,
      logger: silentLogger(),
    });
    await restorer.restore(chain);
    assert.deepEqual(await fingerprint(influx, DB), before);

    await influx.query(DB, `DROP DATABASE ${DB}`);
    const summary = await restorer.restore(chain, { from_ms: T0, to_ms: T0 + 100_000 });
    const counts = await rows(influx, DB, 'SELECT count(power_w) AS n FROM electricity GROUP BY device');
    assert.deepEqual(
      counts.map((row) => [row.device, row.n]),
      [
        ['meter-1', 10],
        ['plug-1', 10],
        ['plug-2', 7],
        ['plug-odd', 2],
      ],
    );
    assert.equal(summary.points_written, 10 + 10 + 7 + 2 + 1 + 1, 'and one alert and the odd measurement');
    // Leave the database complete for later tests.
    await restorer.restore(chain);
  });

  test('a database that does not exist fails the backup instead of writing an empty one', async () => {
    const config = makeConfig({
      influx: { url: influx.url, database: 'wattbsu' },
      directory: `${dir.path}/typo`,
    });
    await assert.rejects(
      new BackupWriter({ config, logger: silentLogger() }).write({ now: Date.now() }),
      /database wattbsu does not exist on http:\/\/127\.0\.0\.1:\d+ \(it has: .*wattbus/,
    );
    assert.deepEqual((await readCatalog(`${dir.path}/typo`)).backups, []);
  });

  test('configuration and registry files are copied with their checksums; a changed copy is found by verify', async () => {
    const registry = join(dir.path, 'registry.yaml');
    await writeFile(registry, 'devices:\n  - id: plug-1\n    type: hs110\n');
    const missing = join(dir.path, 'not-there.yaml');
    const config = makeConfig({
      influx: { url: influx.url, database: DB },
      directory: `${dir.path}/copies`,
      measurements: ['alerts'],
      copy_files: [registry, missing],
    });
    const entry = await new BackupWriter({ config, logger: silentLogger() }).write({ now: T0 + 86_400_000 });
    assert.deepEqual(
      Object.keys(entry.manifest.points_per_measurement),
      ['alerts'],
      'only the configured measurements',
    );
    const [copied, absent] = entry.manifest.copied_files;
    assert.equal(copied?.source, registry);
    assert.equal(
      await readFile(join(entry.directory, copied!.file!), 'utf8'),
      await readFile(registry, 'utf8'),
    );
    assert.deepEqual(absent, { source: missing, file: null, bytes: 0, sha256: null });
    assert.deepEqual((await verifyBackup(entry)).problems, []);

    await writeFile(join(entry.directory, copied!.file!), 'devices: []\n');
    const problems = (await verifyBackup(entry)).problems;
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.file, join(entry.directory, copied!.file!));
  });
});
