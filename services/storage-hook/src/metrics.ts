import type { WriteRequestTiming } from '@wattbus/influx';
import { busMetrics, type ServiceMetrics } from '@wattbus/runtime';
import type { Bus } from '@wattbus/bus';

export interface StorageHookCounters {
  /** Valid readings taken from the broker (re-deliveries included). */
  received: number;
  /** Lines InfluxDB accepted. */
  written: number;
  /** Write attempts that failed and were retried. */
  retried: number;
  /** History intervals (EnergyHistory messages of a backfill) taken into the log. */
  history_intervals: number;
  /** Valid readings of devices in another hook's partition (see `partition`), acked and not stored. */
  skipped: number;
  /** Readings appended to the write-ahead log since start. */
  spooled: number;
  /** Readings replayed from the log left by the previous run. */
  replayed: number;
  /** Everything this hook dead-lettered: bad JSON/schema (by the bus), implausible, bad tags, refused by InfluxDB. */
  dead_lettered: number;
  /** Readings refused as implausible (beyond their device's limits, or from the future); never stored. */
  implausible: number;
  /** Readings in the log not yet stored, and its size. */
  log_depth: number;
  log_bytes: number;
  log_segments: number;
  /** Appends waiting for room in a full log (the broker is being held back). */
  log_waiting: number;
  influx_server: string | undefined;
  influx_last_error: string | undefined;
}

/** What the metrics read of the hook (its own module imports this one). */
interface MeteredHook {
  readonly connectedBus: Bus | undefined;
  counters(): StorageHookCounters;
}

/**
 * The storage hook's counters as Prometheus metrics, read at each scrape, and the InfluxDB
 * write latency histogram; returns what the writer calls after each write request.
 */
export function storageHookMetrics(
  metrics: ServiceMetrics,
  hook: MeteredHook,
): (request: WriteRequestTiming) => void {
  const counters = () => hook.counters();
  busMetrics(metrics, () => hook.connectedBus);
  metrics.counter(
    'wattbus_readings_received_total',
    'Valid readings taken from the broker (re-deliveries included).',
    () => counters().received,
  );
  metrics.counter(
    'wattbus_history_intervals_received_total',
    'Intervals of device history (backfills) taken from the broker (re-deliveries included).',
    () => counters().history_intervals,
  );
  metrics.counter('wattbus_readings_stored_total', 'Readings InfluxDB accepted.', () => counters().written);
  metrics.counter(
    'wattbus_readings_replayed_total',
    'Readings replayed from the write-ahead log left by the previous run.',
    () => counters().replayed,
  );
  metrics.counter(
    'wattbus_wal_appended_total',
    'Readings appended to the write-ahead log.',
    () => counters().spooled,
  );
  metrics.gauge(
    'wattbus_wal_records',
    'Readings in the write-ahead log not yet stored.',
    () => counters().log_depth,
  );
  metrics.gauge('wattbus_wal_bytes', 'Size of the write-ahead log.', () => counters().log_bytes);
  metrics.gauge(
    'wattbus_wal_segments',
    'Segment files of the write-ahead log.',
    () => counters().log_segments,
  );
  metrics.gauge(
    'wattbus_wal_waiting_appends',
    'Appends waiting for room in a full log (the broker is being held back).',
    () => counters().log_waiting,
  );
  metrics.counter(
    'wattbus_influx_write_retries_total',
    'InfluxDB write attempts that failed and were retried.',
    () => counters().retried,
  );
  const latency = metrics.histogram(
    'wattbus_influx_write_duration_seconds',
    'InfluxDB write requests, by outcome (written, refused, failed).',
    ['outcome'],
  );
  return (request) => latency.observe({ outcome: request.outcome }, request.duration_ms / 1000);
}
