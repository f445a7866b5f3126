/**
 * One measured phase in its own process, so its peak RSS (getrusage maxRSS) is the backup's or
 * the restore's alone: `phase.ts backup <influx-url> <dir>` or `phase.ts restore <influx-url> <dir>`.
 * Prints one JSON line.
 */
import { silentLogger } from '@wattbus/runtime';
// The parts themselves, not the package index: the bench needs no MQTT client.
import { BackupWriter } from '../../services/backup/src/backup.js';
import { chainOf, readCatalog } from '../../services/backup/src/catalog.js';
import { loadBackupConfig } from '../../services/backup/src/config.js';
import { Restorer } from '../../services/backup/src/restore.js';

const [phase, url, directory] = process.argv.slice(2);
if (!phase || !url || !directory) throw new Error('usage: phase.ts backup|restore <influx-url> <dir>');
const config = loadBackupConfig(undefined, {
  WATTBUS_BACKUP_INFLUX__URL: url,
  WATTBUS_BACKUP_DIRECTORY: directory,
});
let peakSampledRss = 0;
let peakHeapUsed = 0;
const sampler = setInterval(() => {
  const usage = process.memoryUsage();
  peakSampledRss = Math.max(peakSampledRss, usage.rss);
  peakHeapUsed = Math.max(peakHeapUsed, usage.heapUsed);
}, 50);
const rssBeforeMb = process.memoryUsage().rss / 1024 / 1024;
const started = performance.now();
let points: number;
let bytes: number | undefined;
if (phase === 'backup') {
  const entry = await new BackupWriter({ config, logger: silentLogger() }).write({ now: Date.now() });
  points = entry.manifest.points;
  bytes = entry.manifest.files.reduce((sum, file) => sum + file.bytes, 0);
} else {
  const catalog = await readCatalog(directory);
  const chain = chainOf(catalog.backups.at(-1)!, catalog.backups);
  const summary = await new Restorer({
    influx: config.influx,
    write_batch_points: config.write_batch_points,
    logger: silentLogger(),
  }).restore(chain);
  points = summary.points_written;
}
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
process.stdout.write(
  `${JSON.stringify({
    phase,
    points,
    seconds: Number(seconds.toFixed(1)),
    points_per_second: Math.round(points / seconds),
    ...(bytes === undefined
      ? {}
      : {
          backup_mb: Number((bytes / 1024 / 1024).toFixed(1)),
          bytes_per_point: Number((bytes / points).toFixed(1)),
        }),
    max_rss_mb: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
    sampled_peak_rss_mb: Number((peakSampledRss / 1024 / 1024).toFixed(1)),
    sampled_peak_heap_used_mb: Number((peakHeapUsed / 1024 / 1024).toFixed(1)),
    rss_at_start_mb: Number(rssBeforeMb.toFixed(1)),
  })}\n`,
);
