import type { Logger, ServiceMetrics } from '@wattbus/runtime';
import { BackupWriter, type BackupProgress } from './backup.js';
import { chainOf, readCatalog, removeDirectory, type Catalog, type CatalogEntry } from './catalog.js';
import { systemClock, type Clock } from './clock.js';
import { cronOf, type BackupConfig } from './config.js';
import type { HealthReporter } from './health-reporter.js';
import { backupMetrics, type BackupServiceMetrics } from './metrics.js';
import { planRotation } from './rotation.js';

/** Node timers overflow above 2^31-1 ms (24.8 days); longer waits are taken in steps. */
const MAX_TIMER_MS = 2_147_483_647;

export interface BackupServiceDeps {
  config: BackupConfig;
  logger: Logger;
  clock?: Clock;
  /** Where runs (failures and recoveries) are reported; absent for one-shot commands. */
  health?: HealthReporter;
  /** Runs by result and the last good one go here. */
  metrics?: ServiceMetrics;
}

export interface RunResult {
  ok: boolean;
  kind?: 'full' | 'incremental';
  /** Why this kind: `requested`, `no backup yet`, `full_schedule`, `chain broken`, `continues <id>`. */
  reason?: string;
  entry?: CatalogEntry;
  error?: Error;
  removed: string[];
  duration_ms: number;
}

export interface KindDecision {
  parent?: CatalogEntry;
  reason: string;
}

/**
 * Full or incremental: full when asked, when there is no usable backup to continue, or when
 * `full_schedule` fired since the newest full backup; otherwise continue the newest backup.
 */
export function decideKind(catalog: Catalog, now: number, config: BackupConfig, full: boolean): KindDecision {
  if (full) return { reason: 'requested' };
  const newest = catalog.backups.at(-1);
  if (newest === undefined) return { reason: 'no backup yet' };
  if (
    newest.manifest.source.database !== config.influx.database ||
    newest.manifest.source.url !== config.influx.url
  ) {
    return { reason: 'source changed' };
  }
  let chain: CatalogEntry[];
  try {
    chain = chainOf(newest, catalog.backups);
  } catch {
    return { reason: 'chain broken' };
  }
  const newestFull = chain[0]!;
  const fullDue = cronOf(config.full_schedule, config.time_zone).nextRun(
    new Date(newestFull.manifest.range.to_ms),
  );
  if (fullDue !== null && fullDue.getTime() <= now) return { reason: 'full_schedule' };
  return { parent: newest, reason: `continues ${newest.manifest.id}` };
}

/** Runs backups on the cron schedule, rotates after each good one, reports health. */
export class BackupService {
  #deps: BackupServiceDeps;
  #clock: Clock;
  #writer: BackupWriter;
  #timer: unknown;
  #running: Promise<RunResult> | undefined;
  #stopped = true;
  #lastSlot = -Infinity;
  #metrics: BackupServiceMetrics = {
    runs_ok: 0,
    runs_failed: 0,
    last_success_ms: undefined,
    last_duration_ms: undefined,
  };

  constructor(deps: BackupServiceDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#writer = new BackupWriter({ config: deps.config, logger: deps.logger });
    if (deps.metrics) backupMetrics(deps.metrics, this);
  }

  metrics(): BackupServiceMetrics {
    return { ...this.#metrics };
  }

  async start(): Promise<void> {
    this.#stopped = false;
    const catalog = await readCatalog(this.#deps.config.directory);
    // Leftovers of a run that was killed; one service owns a directory, so none is in progress.
    for (const directory of catalog.partial) await removeDirectory(directory);
    await this.#deps.health?.start();
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    await this.#running;
    await this.#deps.health?.stop();
  }

  /** Resolves when no run is in progress (a test drives the clock, then awaits this). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** One backup now (full when asked), then rotation; never throws, the result says what happened. */
  runOnce(
    options: { full?: boolean; onProgress?: (progress: BackupProgress) => void } = {},
  ): Promise<RunResult> {
    if (this.#running) return this.#running.then(() => this.runOnce(options));
    const run = this.#run(options.full ?? false, options.onProgress).finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }

  async #run(full: boolean, onProgress?: (progress: BackupProgress) => void): Promise<RunResult> {
    const { config, logger, health } = this.#deps;
    const started = this.#clock.now();
    const now = Math.max(started, this.#lastSlot);
    const result: RunResult = { ok: false, removed: [], duration_ms: 0 };
    try {
      const catalog = await readCatalog(config.directory);
      const decision = decideKind(catalog, now, config, full);
      result.kind = decision.parent === undefined ? 'full' : 'incremental';
      result.reason = decision.reason;
      result.entry = await this.#writer.write({ now, parent: decision.parent?.manifest }, onProgress);
      result.ok = true;
      result.removed = await this.#rotate([...catalog.backups, result.entry]);
    } catch (error) {
      result.error = error as Error;
      logger.error(
        { err: error, kind: result.kind, reason: result.reason },
        `backup failed: ${(error as Error).message}`,
      );
    }
    result.duration_ms = Math.max(0, this.#clock.now() - started);
    this.#metrics.last_duration_ms = result.duration_ms;
    if (result.ok) {
      this.#metrics.runs_ok++;
      this.#metrics.last_success_ms = this.#clock.now();
    } else {
      this.#metrics.runs_failed++;
    }
    if (health) {
      const detail = result.ok
        ? `backup ${result.entry!.manifest.id} (${result.kind}, ${result.entry!.manifest.points} points)`
        : `backup failed: ${result.error!.message}`;
      await health.report(result.ok, detail, {
        last_run_ok: result.ok ? 1 : 0,
        last_run_points: result.entry?.manifest.points ?? 0,
        last_run_duration_ms: result.duration_ms,
        removed_backups: result.removed.length,
      });
    }
    return result;
  }

  async #rotate(backups: CatalogEntry[]): Promise<string[]> {
    const { config, logger } = this.#deps;
    const plan = planRotation(backups, config.keep, config.time_zone);
    for (const entry of plan.remove) {
      await removeDirectory(entry.directory);
      logger.info({ id: entry.manifest.id }, 'rotation removed a backup');
    }
    return plan.remove.map((entry) => entry.manifest.id);
  }

  #schedule(): void {
    if (this.#stopped) return;
    const { config, logger } = this.#deps;
    const now = this.#clock.now();
    // After the slot that just ran, even if the timer fired a little early.
    const next = cronOf(config.schedule, config.time_zone).nextRun(new Date(Math.max(now, this.#lastSlot)));
    if (next === null) {
      logger.warn({ schedule: config.schedule }, 'the schedule has no future run');
      return;
    }
    const slot = next.getTime();
    const wait = slot - now;
    this.#timer = this.#clock.setTimeout(
      () => {
        if (wait > MAX_TIMER_MS) return this.#schedule();
        this.#lastSlot = slot;
        void this.runOnce().finally(() => this.#schedule());
      },
      Math.min(wait, MAX_TIMER_MS),
    );
  }
}
