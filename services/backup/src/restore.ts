import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { ensureDatabase, influxWrite, records, timestampOf, type InfluxConnection } from '@wattbus/influx';
import type { Logger } from '@wattbus/runtime';
import type { CatalogEntry } from './catalog.js';
import { checkChecksums, type VerifyProblem } from './verify.js';

export class RestoreRefusedError extends Error {
  override name = 'RestoreRefusedError';
  constructor(readonly problems: VerifyProblem[]) {
    super(
      `restore refused, the backup is damaged:\n  ${problems.map((entry) => `${entry.file}: ${entry.problem}`).join('\n  ')}`,
    );
  }
}

export interface RestoreDeps {
  /** Where to write; its `database` is the target database. */
  influx: InfluxConnection;
  write_batch_points: number;
  logger: Logger;
}

export interface RestoreOptions {
  /** Only points with from_ms <= time < to_ms. */
  from_ms?: number;
  to_ms?: number;
  onProgress?: (progress: RestoreProgress) => void;
}

export interface RestoreProgress {
  backup: string;
  file: string;
  points_done: number;
  /** Points in every file of the chain (the manifests' counts), for a percentage. */
  points_total: number;
}

export interface RestoreSummary {
  backups: string[];
  files: number;
  points_written: number;
  points_skipped: number;
  per_measurement: Record<string, number>;
  duration_ms: number;
}

/**
 * Writes a chain of backups (full first) into InfluxDB. Points keep their series and timestamps,
 * so writing them again overwrites them: a restore can be repeated or resumed. Every checksum is
 * checked before the first write, so a damaged backup is refused as a whole.
 */
export class Restorer {
  #deps: RestoreDeps;

  constructor(deps: RestoreDeps) {
    this.#deps = deps;
  }

  async restore(chain: readonly CatalogEntry[], options: RestoreOptions = {}): Promise<RestoreSummary> {
    const { influx, logger } = this.#deps;
    const started = Date.now();
    const problems = (await Promise.all(chain.map((entry) => checkChecksums(entry)))).flat();
    if (problems.length > 0) throw new RestoreRefusedError(problems);

    try {
      await ensureDatabase(influx);
    } catch (error) {
      // A token without the right to create it: the database (or bucket and DBRP mapping) may still exist.
      logger.warn(
        { err: error, database: influx.database },
        'could not create the database; writing into it as it is',
      );
    }

    const from = options.from_ms ?? -Infinity;
    const to = options.to_ms ?? Infinity;
    const total = chain.reduce((sum, entry) => sum + entry.manifest.points, 0);
    const summary: RestoreSummary = {
      backups: chain.map((entry) => entry.manifest.id),
      files: 0,
      points_written: 0,
      points_skipped: 0,
      per_measurement: {},
      duration_ms: 0,
    };
    let done = 0;
    for (const entry of chain) {
      for (const file of entry.manifest.files) {
        // A file wholly outside the range is skipped without reading it.
        if (file.first_ms === null || file.last_ms === null || file.last_ms < from || file.first_ms >= to) {
          done += file.points;
          summary.points_skipped += file.points;
          continue;
        }
        const path = join(entry.directory, file.file);
        const text = createReadStream(path).pipe(createGunzip()).setEncoding('utf8') as AsyncIterable<string>;
        let batch: string[] = [];
        const flush = async () => {
          if (batch.length === 0) return;
          await influxWrite(influx, batch, { attempts: 4, timeoutMs: Math.max(influx.timeout_ms, 30_000) });
          summary.points_written += batch.length;
          summary.per_measurement[file.measurement] =
            (summary.per_measurement[file.measurement] ?? 0) + batch.length;
          batch = [];
          options.onProgress?.({
            backup: entry.manifest.id,
            file: path,
            points_done: done,
            points_total: total,
          });
        };
        for await (const record of records(text)) {
          done++;
          const time = timestampOf(record);
          if (time < from || time >= to) {
            summary.points_skipped++;
            continue;
          }
          batch.push(record);
          if (batch.length >= this.#deps.write_batch_points) await flush();
        }
        await flush();
        summary.files++;
      }
    }
    summary.duration_ms = Date.now() - started;
    logger.info({ ...summary }, 'restore finished');
    return summary;
  }
}
