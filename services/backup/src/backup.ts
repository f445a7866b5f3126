import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import {
  InfluxError,
  InfluxQL,
  causeOf,
  detectServer,
  influxQuery,
  influxQueryStream,
  rowToLine,
  type FieldType,
  type InfluxSeries,
} from '@wattbus/influx';
import type { Logger } from '@wattbus/runtime';
import { PARTIAL_SUFFIX, removeDirectory, type CatalogEntry } from './catalog.js';
import type { BackupConfig } from './config.js';
import { MANIFEST_FILE, MANIFEST_FORMAT, type CopiedFile, type DataFile, type Manifest } from './manifest.js';

export const TOOL_VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

const FIELD_TYPES = new Set<FieldType>(['float', 'integer', 'unsigned', 'string', 'boolean']);
/** Empty windows double up to this, so a sparse or years-long database needs few round trips. */
const MAX_WINDOW_MS = 31 * 24 * 3_600_000;

export interface BackupDeps {
  config: BackupConfig;
  logger: Logger;
}

export interface BackupRequest {
  /** The backup covers points with time < now. */
  now: number;
  /** The backup this one continues; absent for a full backup. */
  parent?: Manifest;
}

export interface BackupProgress {
  measurement: string;
  points: number;
}

/** Writes one backup: a gzip line protocol file per measurement, copied config files, a manifest. */
export class BackupWriter {
  #deps: BackupDeps;

  constructor(deps: BackupDeps) {
    this.#deps = deps;
  }

  async write(
    request: BackupRequest,
    onProgress?: (progress: BackupProgress) => void,
  ): Promise<CatalogEntry> {
    const { config, logger } = this.#deps;
    const connection = config.influx;
    const kind = request.parent === undefined ? 'full' : 'incremental';
    const from =
      request.parent === undefined ? null : Math.max(0, request.parent.range.to_ms - config.overlap_ms);
    const to = request.now;
    const root = resolve(config.directory);
    const id = freeId(root, `${stampOf(request.now)}-${kind}`);
    const partial = join(root, `${id}${PARTIAL_SUFFIX}`);
    const directory = join(root, id);
    const createdAt = new Date(request.now).toISOString();

    let server;
    try {
      server = await detectServer(connection);
    } catch (error) {
      throw new InfluxError(
        'STORE_UNAVAILABLE',
        `cannot reach InfluxDB at ${connection.url}: ${causeOf(error)}`,
      );
    }
    await mkdir(join(partial, 'data'), { recursive: true });
    try {
      const measurements = await this.#measurements();
      const files: DataFile[] = [];
      for (const [index, measurement] of measurements.entries()) {
        const file = `data/${String(index).padStart(3, '0')}-${safeName(measurement)}.lp.gz`;
        files.push(
          await this.#exportMeasurement(measurement, from, to, join(partial, file), file, onProgress),
        );
      }
      const copied = await copyFiles(config.copy_files, partial);
      const perMeasurement = Object.fromEntries(files.map((file) => [file.measurement, file.points]));
      const manifest: Manifest = {
        format: MANIFEST_FORMAT,
        id,
        kind,
        parent: request.parent?.id ?? null,
        created_at: createdAt,
        finished_at: new Date(Math.max(Date.now(), request.now)).toISOString(),
        tool_version: TOOL_VERSION,
        source: {
          url: connection.url,
          database: connection.database,
          server_version: server.version,
          server_build: server.build,
        },
        range: { from_ms: from, to_ms: to },
        points: files.reduce((sum, file) => sum + file.points, 0),
        points_per_measurement: perMeasurement,
        files,
        copied_files: copied,
      };
      // The manifest is written last and the directory renamed after it: a backup either has both or does not exist.
      await writeFile(join(partial, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
      await rename(partial, directory);
      logger.info({ id, kind, points: manifest.points, from_ms: from, to_ms: to }, 'backup written');
      return { directory, manifest };
    } catch (error) {
      await removeDirectory(partial);
      throw error;
    }
  }

  async #measurements(): Promise<string[]> {
    const { config } = this.#deps;
    // A misspelt database would otherwise give empty "successful" backups forever (1.x answers
    // SHOW MEASUREMENTS on a missing database with nothing).
    const databases = await this.#show('SHOW DATABASES').then(
      (series) => series.flatMap((entry) => entry.values.map((row) => String(row[0]))),
      // A server or token that may not list databases: the check is a courtesy, skip it.
      (error: unknown) => (error instanceof InfluxError ? undefined : Promise.reject(error)),
    );
    if (databases !== undefined && !databases.includes(config.influx.database)) {
      throw new InfluxError(
        'QUERY_FAILED',
        `database ${config.influx.database} does not exist on ${config.influx.url} (it has: ${databases.join(', ') || 'none'})`,
      );
    }
    const series = await this.#show('SHOW MEASUREMENTS');
    const names = series.flatMap((entry) => entry.values.map((row) => String(row[0])));
    return config.measurements === undefined
      ? names
      : names.filter((name) => config.measurements!.includes(name));
  }

  async #exportMeasurement(
    measurement: string,
    from: number | null,
    to: number,
    path: string,
    file: string,
    onProgress?: (progress: BackupProgress) => void,
  ): Promise<DataFile> {
    const { config } = this.#deps;
    // Only names and instants enter these statements, as quoted identifiers and integers.
    const influxql = new InfluxQL('inline');
    const quoted = influxql.ident(measurement);
    const fieldTypes = async () => {
      const found: Record<string, FieldType[]> = {};
      for (const entry of await this.#show(`SHOW FIELD KEYS FROM ${quoted}`)) {
        for (const row of entry.values) {
          const [name, type] = [String(row[0]), String(row[1])];
          if (!FIELD_TYPES.has(type as FieldType)) {
            throw new InfluxError(
              'QUERY_FAILED',
              `field ${name} of ${measurement} has an unknown type ${type}`,
            );
          }
          (found[name] ??= []).push(type as FieldType);
        }
      }
      return found;
    };
    const fields = await fieldTypes();
    const tagSeries = await this.#show(`SHOW TAG KEYS FROM ${quoted}`);
    const tags = tagSeries.flatMap((entry) => entry.values.map((row) => String(row[0])));

    const start = from ?? (await this.#firstTime(quoted));
    const stats = { points: 0, first: null as number | null, last: null as number | null };
    const lines = async function* (): AsyncGenerator<string> {
      if (start === null) return;
      let windowStart = start;
      let windowMs = config.window_ms;
      while (windowStart < to) {
        const windowEnd = Math.min(to, windowStart + windowMs);
        const query = `SELECT * FROM ${quoted} WHERE ${influxql.range(windowStart, windowEnd)} GROUP BY *`;
        let inWindow = 0;
        const answer = influxQueryStream(config.influx, query, {
          chunkSize: config.chunk_size,
          // A window of a large measurement streams for long: bound it generously, not per request.
          timeoutMs: Math.max(config.influx.timeout_ms, 60_000) * 10,
        });
        for await (const series of answer) {
          // A field written since SHOW FIELD KEYS: ask again; still unknown, its JSON value decides.
          if (series.columns.slice(1).some((name) => fields[name] === undefined))
            Object.assign(fields, await fieldTypes());
          const columns = series.columns
            .slice(1)
            .map((name) => ({ name, type: fields[name]?.[0] ?? 'float' }));
          let text = '';
          for (const row of series.values) {
            const time = row[0] as number;
            const line = rowToLine(measurement, series.tags ?? {}, columns, row.slice(1), time);
            if (line === undefined) continue;
            text += `${line}\n`;
            stats.points++;
            inWindow++;
            if (stats.first === null || time < stats.first) stats.first = time;
            if (stats.last === null || time > stats.last) stats.last = time;
          }
          if (text !== '') yield text;
          onProgress?.({ measurement, points: stats.points });
        }
        windowStart = windowEnd;
        windowMs = inWindow === 0 ? Math.min(windowMs * 2, MAX_WINDOW_MS) : config.window_ms;
      }
    };
    const hash = createHash('sha256');
    let bytes = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        bytes += chunk.length;
        callback(null, chunk);
      },
    });
    await pipeline(Readable.from(lines()), createGzip(), tap, createWriteStream(path));
    return {
      measurement,
      file,
      points: stats.points,
      bytes,
      sha256: hash.digest('hex'),
      first_ms: stats.first,
      last_ms: stats.last,
      fields,
      tags,
    };
  }

  /** The oldest point's time (ms), or null for an empty measurement. */
  async #firstTime(quoted: string): Promise<number | null> {
    const series = await this.#show(`SELECT * FROM ${quoted} ORDER BY time ASC LIMIT 1`);
    const time = series[0]?.values[0]?.[0];
    return typeof time === 'number' ? time : null;
  }

  /** A statement with a small answer (SHOW …), its series collected. */
  async #show(statement: string): Promise<InfluxSeries[]> {
    const [result] = await influxQuery(this.#deps.config.influx, statement);
    return result?.series ?? [];
  }
}

/** Streams a file through sha256. */
export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

async function copyFiles(sources: readonly string[], backupDirectory: string): Promise<CopiedFile[]> {
  const copied: CopiedFile[] = [];
  if (sources.length > 0) await mkdir(join(backupDirectory, 'config'), { recursive: true });
  for (const [index, source] of sources.entries()) {
    const absolute = resolve(source);
    let content: Buffer;
    try {
      content = await readFile(absolute);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        copied.push({ source: absolute, file: null, bytes: 0, sha256: null });
        continue;
      }
      throw new Error(`cannot copy ${absolute} into the backup: ${(error as Error).message}`);
    }
    const file = `config/${String(index).padStart(2, '0')}-${basename(absolute)}`;
    await writeFile(join(backupDirectory, file), content);
    copied.push({
      source: absolute,
      file,
      bytes: content.length,
      sha256: createHash('sha256').update(content).digest('hex'),
    });
  }
  return copied;
}

/** `2026-11-23T19-00-00Z`: sortable, and no colons, which SMB shares refuse. */
export function stampOf(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
}

function freeId(root: string, base: string): string {
  let id = base;
  for (
    let suffix = 2;
    existsSync(join(root, id)) || existsSync(join(root, `${id}${PARTIAL_SUFFIX}`));
    suffix++
  )
    id = `${base}-${suffix}`;
  return id;
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 60) || 'measurement';
}
