import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '@wattbus/runtime';
import { startInflux, type InfluxServer } from '@wattbus/testing';
import { stampOf } from '../src/backup.js';
import { chainOf, readCatalog, type CatalogEntry } from '../src/catalog.js';
import { periodReader, planRotation } from '../src/rotation.js';
import { BackupService } from '../src/service.js';
import { FakeClock, makeConfig, tempDir } from './helpers.js';

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

describe('rotation', () => {
  let influx: InfluxServer;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    influx = await startInflux();
    dir = await tempDir('rotation');
    // Empty: this test is about which backups stay, and 816 runs must stay quick.
    await influx.createDatabase('wattbus');
  });

  after(async () => {
    await influx?.destroy();
    await dir?.remove();
  });

  test('keeps exactly the configured set over a simulated month of hourly schedules', async () => {
    const config = makeConfig({
      influx: { url: influx.url, database: 'wattbus' },
      directory: dir.path,
      schedule: '0 * * * *',
      full_schedule: '0 0 * * *',
      keep: { last: 10, daily: 7, weekly: 4, monthly: 3 },
    });
    const start = Date.parse('2026-02-25T23:30:00Z');
    const end = Date.parse('2026-03-31T23:00:00Z');
    const clock = new FakeClock(start);
    const service = new BackupService({ config, logger: silentLogger(), clock });
    await service.start();
    let runs = 0;
    const kinds: string[] = [];
    while (clock.now() < end) {
      const slot = clock.fireNext();
      await service.idle();
      await new Promise((resolve) => setImmediate(resolve));
      runs++;
      // The directory names say which backup each slot took (cheap enough for every run).
      const names = (await readdir(dir.path)).sort();
      const newest = names.filter((name) => name.startsWith(stampOf(slot)));
      assert.equal(newest.length, 1, `slot ${iso(slot)} took one backup`);
      kinds.push(newest[0]!.endsWith('-full') ? 'full' : 'incremental');
      assert.ok(names.length <= 10 + 24 + 7 + 4 + 3);
      assert.ok(!names.some((name) => name.endsWith('.partial')));
      if (runs % 6 === 0) {
        // Every kept backup is restorable: its chain back to a full backup is all there.
        const catalog = await readCatalog(dir.path);
        assert.equal(catalog.backups.length, names.length);
        for (const entry of catalog.backups) assert.doesNotThrow(() => chainOf(entry, catalog.backups));
      }
    }
    await service.stop();
    assert.equal(runs, 34 * 24, 'Feb 26 to Mar 31, hourly');
    assert.equal(kinds.filter((kind) => kind === 'full').length, 34, 'one full backup a day, at 00:00');

    const kept = (await readCatalog(dir.path)).backups.map((entry) => iso(entry.manifest.range.to_ms));
    const march31 = Array.from({ length: 24 }, (_, hour) =>
      iso(Date.parse('2026-03-31T00:00:00Z') + hour * HOUR),
    );
    const expected = [
      '2026-02-28T00:00:00Z', // monthly: February's newest full
      '2026-03-15T00:00:00Z', // weekly: ISO week 11
      '2026-03-22T00:00:00Z', // weekly: week 12
      '2026-03-25T00:00:00Z', // daily, 7 days back
      '2026-03-26T00:00:00Z',
      '2026-03-27T00:00:00Z',
      '2026-03-28T00:00:00Z',
      '2026-03-29T00:00:00Z', // daily, and weekly: week 13
      '2026-03-30T00:00:00Z',
      ...march31, // the last 10 and the chain they need back to today's full
    ];
    assert.deepEqual(kept, expected);
  });

  test('never deletes the only full backup, and keeps the chain of a kept incremental', () => {
    const entry = (
      id: string,
      kind: 'full' | 'incremental',
      parent: string | null,
      toMs: number,
    ): CatalogEntry =>
      ({
        directory: `/x/${id}`,
        manifest: { id, kind, parent, range: { from_ms: null, to_ms: toMs } },
      }) as CatalogEntry;
    const backups = [entry('f', 'full', null, 1)];
    for (let index = 1; index <= 30; index++)
      backups.push(entry(`i${index}`, 'incremental', backups.at(-1)!.manifest.id, 1 + index));
    const plan = planRotation(backups, { last: 3, daily: 0, weekly: 0, monthly: 0 }, 'UTC');
    assert.equal(plan.remove.length, 0, 'the 3 newest need every backup back to the only full one');
    const fullKept = plan.keep.find((kept) => kept.entry.manifest.id === 'f')!;
    assert.ok(fullKept.reasons.includes('newest full'));
  });

  test('periods are read in the configured time zone, weeks by ISO 8601', () => {
    const period = periodReader('Europe/Berlin');
    const lateSunday = Date.parse('2026-03-29T22:30:00Z'); // Monday 00:30 in Berlin (summer time)
    assert.equal(period(lateSunday, 'daily'), '2026-03-30');
    assert.equal(period(lateSunday, 'weekly'), '2026-W14');
    assert.equal(periodReader('UTC')(lateSunday, 'weekly'), '2026-W13');
    assert.equal(periodReader('UTC')(Date.parse('2027-01-01T12:00:00Z'), 'weekly'), '2026-W53');
    assert.equal(period(Date.parse('2026-01-31T23:30:00Z'), 'monthly'), '2026-02');
  });
});
