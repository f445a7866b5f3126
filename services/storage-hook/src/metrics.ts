import type { WriteRequestTiming } from '@wattbus/influx';
import { busMetrics, type ServiceMetrics } from '@wattbus/runtime';
import type { StorageHook } from './storage-hook.js';

/**
 * The storage hook's counters as Prometheus metrics, read at each scrape, and the InfluxDB
 * write latency histogram; returns what the writer calls after each write request.
 */
export function storageHookMetrics(
  metrics: ServiceMetrics,
  hook: StorageHook,
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
