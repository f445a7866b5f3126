import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError, type Logger } from '@wattbus/runtime';
import { chainOf, readCatalog, type CatalogEntry } from './catalog.js';
import type { BackupConfig } from './config.js';
import { MANIFEST_FILE, readManifest } from './manifest.js';
import { ProgressBar } from './progress.js';
import { Restorer } from './restore.js';
import { BackupService } from './service.js';
import { verifyBackup } from './verify.js';

export { UsageError };

export interface CommandIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WriteStream;
  logger: Logger;
}

/** `now`: one backup (full when asked or due), then rotation. Exit code 1 when it failed. */
export async function commandNow(config: BackupConfig, full: boolean, io: CommandIo): Promise<number> {
  const service = new BackupService({ config, logger: io.logger });
  const bar = new ProgressBar(io.err);
  const result = await service.runOnce({
    full,
    onProgress: (progress) => bar.count(progress.points, `backing up ${progress.measurement}`),
  });
  bar.done();
  if (!result.ok) {
    io.err.write(`backup failed: ${result.error?.message}\n`);
    return 1;
  }
  const manifest = result.entry!.manifest;
  io.out.write(
    `backup ${manifest.id} (${result.kind}: ${result.reason}) in ${result.entry!.directory}\n` +
      `  ${manifest.points} points${formatPerMeasurement(manifest.points_per_measurement)}, ${formatRange(manifest.range)}\n` +
      `  ${manifest.copied_files.filter((file) => file.file !== null).length} config files copied, ${result.removed.length} old backups removed, ${result.duration_ms} ms\n`,
  );
  for (const missing of manifest.copied_files.filter((file) => file.file === null))
    io.out.write(`  warning: ${missing.source} does not exist, not copied\n`);
  return 0;
}

export async function commandList(config: BackupConfig, io: CommandIo): Promise<number> {
  const catalog = await readCatalog(config.directory);
  if (catalog.backups.length === 0) io.out.write(`no backups in ${resolve(config.directory)}\n`);
  for (const entry of catalog.backups) {
    const manifest = entry.manifest;
    const bytes = manifest.files.reduce((sum, file) => sum + file.bytes, 0);
    let chain: string;
    try {
      chain = `chain ${chainOf(entry, catalog.backups).length}`;
    } catch {
      chain = 'CHAIN BROKEN';
    }
    io.out.write(
      `${manifest.id.padEnd(36)} ${manifest.kind.padEnd(11)} ${String(manifest.points).padStart(10)} points ${formatBytes(bytes).padStart(9)}  ${formatRange(manifest.range)}  ${chain}\n`,
    );
  }
  for (const entry of catalog.unreadable)
    io.out.write(`${entry.directory}: not a backup (${entry.problem})\n`);
  for (const directory of catalog.partial) io.out.write(`${directory}: unfinished backup\n`);
  return 0;
}

/** `verify <dir>`: one backup, or every backup when `dir` is the backup root. Exit code 1 on any problem. */
export async function commandVerify(target: string, io: CommandIo): Promise<number> {
  const isRoot = !existsSync(join(target, MANIFEST_FILE));
  const catalog = isRoot ? await readCatalog(target) : undefined;
  // A root with only unreadable backups is reported below as damage, not as a usage error.
  const entries =
    catalog && catalog.backups.length === 0 && catalog.unreadable.length > 0 ? [] : await entriesAt(target);
  let problems = 0;
  for (const entry of entries) {
    const result = await verifyBackup(entry);
    if (isRoot) {
      try {
        chainOf(entry, entries);
      } catch (error) {
        result.problems.push({
          file: join(entry.directory, MANIFEST_FILE),
          problem: (error as Error).message,
        });
      }
    }
    problems += result.problems.length;
    io.out.write(
      `${result.problems.length === 0 ? 'ok     ' : 'DAMAGED'} ${entry.manifest.id}: ${result.files} files, ${result.points} points\n`,
    );
    for (const problem of result.problems) io.out.write(`  ${problem.file}: ${problem.problem}\n`);
  }
  if (isRoot) {
    // A directory that should be a backup but has no readable manifest is damage too.
    for (const entry of catalog?.unreadable ?? []) {
      problems++;
      io.out.write(`DAMAGED ${entry.directory}: ${entry.problem}\n`);
    }
  }
  io.out.write(`${entries.length} backups verified, ${problems} problems\n`);
  return problems === 0 ? 0 : 1;
}

export interface RestoreCommandOptions {
  target: string;
  influxUrl?: string;
  database?: string;
  from?: string;
  to?: string;
}

/** `restore <dir>`: the backup at dir (with the chain it continues), or the newest one when dir is the root. */
export async function commandRestore(
  config: BackupConfig,
  options: RestoreCommandOptions,
  io: CommandIo,
): Promise<number> {
  const fromMs = options.from === undefined ? undefined : parseTime(options.from, '--from');
  const toMs = options.to === undefined ? undefined : parseTime(options.to, '--to');
  if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs)
    throw new UsageError('--from must be before --to');
  const [target, catalog] = await targetAt(options.target);
  const chain = chainOf(target, catalog);
  const influx = {
    ...config.influx,
    url: options.influxUrl ?? config.influx.url,
    database: options.database ?? config.influx.database,
  };
  if (options.influxUrl !== undefined) {
    try {
      new URL(options.influxUrl);
    } catch {
      throw new UsageError(`--influx-url '${options.influxUrl}' is not a URL`);
    }
  }
  const restorer = new Restorer({ influx, write_batch_points: config.write_batch_points, logger: io.logger });
  const bar = new ProgressBar(io.err);
  const summary = await restorer.restore(chain, {
    from_ms: fromMs,
    to_ms: toMs,
    onProgress: (progress) => bar.update(progress.points_done, progress.points_total, progress.backup),
  });
  bar.done();
  io.out.write(
    `restored ${summary.backups.length} backups (${summary.backups.join(' → ')}) into ${influx.database} at ${influx.url}\n` +
      `  ${summary.points_written} points written${formatPerMeasurement(summary.per_measurement)}, ${summary.points_skipped} outside the range, ${summary.files} files, ${summary.duration_ms} ms\n`,
  );
  return 0;
}

/** Epoch milliseconds or an ISO 8601 date. */
export function parseTime(text: string, option: string): number {
  const ms = /^-?\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(ms))
    throw new UsageError(`${option} '${text}' is neither epoch milliseconds nor an ISO 8601 date`);
  return ms;
}

async function entriesAt(target: string): Promise<CatalogEntry[]> {
  if (existsSync(join(target, MANIFEST_FILE)))
    return [{ directory: resolve(target), manifest: await readManifest(target) }];
  if (!existsSync(target)) throw new UsageError(`${resolve(target)} does not exist`);
  const catalog = await readCatalog(target);
  if (catalog.backups.length === 0) {
    const why = catalog.unreadable.map((entry) => `\n  ${entry.problem}`).join('');
    throw new UsageError(`${resolve(target)} holds no backup (no ${MANIFEST_FILE})${why}`);
  }
  return catalog.backups;
}

async function targetAt(target: string): Promise<[CatalogEntry, CatalogEntry[]]> {
  if (existsSync(join(target, MANIFEST_FILE))) {
    const entry: CatalogEntry = { directory: resolve(target), manifest: await readManifest(target) };
    const siblings = (await readCatalog(dirname(resolve(target)))).backups.filter(
      (other) => other.manifest.id !== entry.manifest.id,
    );
    return [entry, [...siblings, entry]];
  }
  const backups = await entriesAt(target);
  return [backups.at(-1)!, backups];
}

function formatPerMeasurement(counts: Record<string, number>): string {
  const parts = Object.entries(counts).map(([name, count]) => `${name} ${count}`);
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

function formatRange(range: { from_ms: number | null; to_ms: number }): string {
  const from = range.from_ms === null ? 'beginning' : new Date(range.from_ms).toISOString();
  return `${from} .. ${new Date(range.to_ms).toISOString()}`;
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
