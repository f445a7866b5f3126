import { randomUUID } from 'node:crypto';
import { Bus, busConnection, type BusOptions } from '@wattbus/bus';
import { BACKFILL_MAX_DAYS, localTime, type BackfillResult } from '@wattbus/contracts';
import { loadRegistry, SharedResources, type HistoryBatch } from '@wattbus/devices';
import { ConfigError, UsageError, type Logger } from '@wattbus/runtime';
import { backfill, backfillRange, historyOf } from './backfill.js';
import type { AgentConfig } from './config.js';

export interface BackfillCommandOptions {
  config: AgentConfig;
  /** `--device` and `--days` as given on the command line. */
  device: unknown;
  days: unknown;
  logger: Logger;
  /** Where progress goes (stdout). */
  out: (line: string) => void;
  connect?: (options: BusOptions) => Promise<Bus>;
  now?: () => number;
}

/**
 * `wattbus-agent backfill --device ID --days N`: reads the device's history itself (from the
 * registry entry, as the agent would) and publishes it on the device's history topic, printing
 * each month and day as it goes. The storage hook stores it; a second run publishes the same points.
 */
export async function runBackfillCommand(options: BackfillCommandOptions): Promise<BackfillResult> {
  const { config, logger, out } = options;
  const deviceId = typeof options.device === 'string' ? options.device : undefined;
  if (!deviceId) throw new UsageError('backfill needs --device <id>');
  const days = Number(options.days);
  if (typeof options.days !== 'string' || !Number.isInteger(days) || days < 1 || days > BACKFILL_MAX_DAYS) {
    throw new UsageError(`--days must be a whole number of days from 1 to ${BACKFILL_MAX_DAYS}`);
  }
  const registry = await loadRegistry(config.registry_file!);
  const device = registry.devices.find((entry) => entry.id === deviceId);
  if (!device) {
    const known = registry.devices.map((entry) => entry.id).join(', ') || 'none';
    throw new ConfigError(`no device '${deviceId}' in ${registry.file} (its devices: ${known})`);
  }
  const shared = new SharedResources();
  const driver = registry.drivers.get(device.type)!.create(device, { logger, shared });
  const range = backfillRange(days, config.time_zone, (options.now ?? Date.now)());
  try {
    const batches = historyOf(driver, device, range);
    const connect = options.connect ?? ((busOptions: BusOptions) => Bus.connect(busOptions));
    const bus = await connect({
      ...busConnection(config.mqtt),
      service: 'agent',
      clientId: `${config.id}-backfill-${randomUUID().slice(0, 8)}`,
      logger,
    });
    try {
      const zone = config.time_zone;
      out(
        `${device.id}: ${days} days from ${label(range.fromMs, 'day', zone)} to ${label(range.toMs - 1, 'day', zone)} (${zone})`,
      );
      const result = await backfill(
        {
          topics: bus.topics,
          publish: (topic, history) => bus.publish(topic, history, { qos: 1 }),
          onBatch: (batch) => printBatch(batch, zone, out),
        },
        device.id,
        range,
        batches,
      );
      out(
        `published ${result.batches} batches on ${bus.topics.history(device.id)}; the storage hook stores them in energy_history`,
      );
      return result;
    } finally {
      await bus.stop();
    }
  } finally {
    await driver.close();
    await shared.closeAll();
  }
}

/** One line per batch, and one per day or month (minutes and hours are too many to list). */
function printBatch(batch: HistoryBatch, zone: string, out: (line: string) => void): void {
  const total = batch.intervals.reduce((sum, interval) => sum + interval.energyWh, 0);
  const unit = batch.intervals.length === 1 ? batch.period : `${batch.period}s`;
  out(`${batch.source}: ${batch.intervals.length} ${unit}, ${formatWh(total)}`);
  if (batch.period !== 'day' && batch.period !== 'month') return;
  for (const interval of batch.intervals) {
    out(`  ${label(interval.startMs, batch.period, zone)}  ${formatWh(interval.energyWh)}`);
  }
}

function label(ms: number, period: 'day' | 'month', zone: string): string {
  const t = localTime(ms, zone);
  const pad = (n: number) => String(n).padStart(2, '0');
  return period === 'month' ? `${t.year}-${pad(t.month)}` : `${t.year}-${pad(t.month)}-${pad(t.day)}`;
}

function formatWh(wh: number): string {
  return `${Math.round(wh * 1000) / 1000} Wh`;
}
