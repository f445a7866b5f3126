import assert from 'node:assert/strict';
import { cp, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { silentLogger } from '@wattbus/runtime';
import { startInflux, type InfluxServer } from '@wattbus/testing';
import { BackupWriter, sha256File } from '../src/backup.js';
import type { CatalogEntry } from '../src/catalog.js';
import { readManifest } from '../src/manifest.js';
import { Restorer, RestoreRefusedError } from '../src/restore.js';
import { verifyBackup } from '../src/verify.js';
import { makeConfig, readings, rows, runMain, tempDir, writeLines } from './helpers.js';

const DB = 'wattbus';
const T0 = Date.parse('2026-11-20T00:00:00Z');
describe('damaged backups', () => {
  let influx: InfluxServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let good: CatalogEntry;

  before(async () => {
    influx = await startInflux();
    dir = await tempDir('verify');
    await influx.createDatabase(DB);
    await writeLines(influx, DB, [
      ...readings('plug-1', 2000, T0, 1000),
      `alerts,rule=overload,subject=plug-1 active=true ${T0}`,
    ]);
    const config = makeConfig({
      influx: { url: influx.url, database: DB },
      directory: join(dir.path, 'good'),
    });
    good = await new BackupWriter({ config, logger: silentLogger() }).write({ now: T0 + 86_400_000 });
  });

  after(async () => {
    await influx?.destroy();
    await dir?.remove();
  });

  async function copyOf(name: string): Promise<CatalogEntry> {
    const directory = join(dir.path, name, good.manifest.id);
    await cp(good.directory, directory, { recursive: true });
    return { directory, manifest: await readManifest(directory) };
  }

  test('a good backup verifies', async () => {
    const result = await verifyBackup(good);
    assert.deepEqual(result.problems, []);
    assert.equal(result.points, 2001);
  });

  test('a corrupted and a truncated file are found by verify and refused by restore, naming the files', async () => {
    const damaged = await copyOf('damaged');
    const [electricity, alerts] = [damaged.manifest.files[1]!, damaged.manifest.files[0]!];
    assert.equal(electricity.measurement, 'electricity');
    const corruptPath = join(damaged.directory, electricity.file);
    const bytes = await readFile(corruptPath);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(corruptPath, bytes);
    const truncatedPath = join(damaged.directory, alerts.file);
    await truncate(truncatedPath, Math.floor(alerts.bytes / 2));

    const result = await verifyBackup(damaged);
    assert.deepEqual(
      result.problems.map((problem) => problem.file),
      [truncatedPath, corruptPath].sort(),
    );
    assert.match(
      result.problems.find((problem) => problem.file === corruptPath)!.problem,
      /sha256 .* \(corrupted\)/,
    );
    assert.match(result.problems.find((problem) => problem.file === truncatedPath)!.problem, /truncated/);

    await influx.query(DB, `DROP DATABASE ${DB}`);
    const restorer = new Restorer({
      influx: { url: influx.url, database: DB, timeout_ms: 10_000 },
      write_batch_points: 5000,
      logger: silentLogger(),
    });
    await assert.rejects(restorer.restore([damaged]), (error: unknown) => {
      assert.ok(error instanceof RestoreRefusedError);
      assert.ok(error.message.includes(corruptPath) && error.message.includes(truncatedPath));
      return true;
    });
    assert.deepEqual(
      await rows(influx, '_internal', 'SHOW DATABASES').then((list) => list.some((row) => row.name === DB)),
      false,
      'nothing was written',
    );

    // verify of the whole directory also reports a backup whose manifest is unreadable.
    const garbled = join(dir.path, 'damaged', '2026-01-01T00-00-00Z-full');
    await cp(join(damaged.directory, 'data'), join(garbled, 'data'), { recursive: true });
    await writeFile(join(garbled, 'manifest.json'), '{"format": "wattbus-backup/1", "id": ');
    const verify = await runMain(['verify', join(dir.path, 'damaged')]);
    assert.equal(verify.code, 1);
    assert.match(verify.stdout, /DAMAGED .*2026-01-01T00-00-00Z-full: .*manifest\.json is not JSON/);
    assert.match(verify.stdout, new RegExp(`DAMAGED ${damaged.manifest.id}`));
    assert.ok(verify.stdout.includes(corruptPath) && verify.stdout.includes(truncatedPath));
    const restore = await runMain(['restore', damaged.directory], { WATTBUS_BACKUP_INFLUX__URL: influx.url });
    assert.equal(restore.code, 1);
    assert.match(restore.stderr, /restore refused, the backup is damaged/);
    assert.ok(restore.stderr.includes(corruptPath));
  });

  test('a line that does not parse is found by verify even when its checksum was updated', async () => {
    const tampered = await copyOf('tampered');
    const file = tampered.manifest.files[0]!;
    const path = join(tampered.directory, file.file);
    await writeFile(
      path,
      gzipSync(`alerts,rule=overload active=true ${T0}\nalerts,rule=overload active=maybe ${T0}\n`),
    );
    const { sha256, bytes } = await sha256File(path);
    const manifest = {
      ...tampered.manifest,
      files: tampered.manifest.files.map((entry) =>
        entry === file ? { ...entry, sha256, bytes, points: 2 } : entry,
      ),
    };
    await writeFile(join(tampered.directory, 'manifest.json'), JSON.stringify(manifest));
    const result = await verifyBackup({ directory: tampered.directory, manifest });
    assert.equal(result.problems.length, 1);
    assert.equal(result.problems[0]!.file, path);
    assert.match(result.problems[0]!.problem, /record 2: bad value "maybe" for field active/);
  });
});
