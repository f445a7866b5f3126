import type { ServiceMetrics } from '@wattbus/runtime';

export interface BackupServiceMetrics {
  runs_ok: number;
  runs_failed: number;
  last_success_ms: number | undefined;
  last_duration_ms: number | undefined;
}

/** The backup service's runs as Prometheus metrics, read at each scrape. */
export function backupMetrics(metrics: ServiceMetrics, service: { metrics(): BackupServiceMetrics }): void {
  const counts = () => service.metrics();
  metrics.counter(
    'wattbus_backup_runs_total',
    'Backup runs, by result (ok, failed).',
    () => ({ ok: counts().runs_ok, failed: counts().runs_failed }),
    'result',
  );
  metrics.gauge(
    'wattbus_backup_last_success_timestamp_seconds',
    'When the last good backup finished, in seconds since the epoch (absent before the first).',
    () => (counts().last_success_ms === undefined ? undefined : counts().last_success_ms! / 1000),
  );
  metrics.gauge('wattbus_backup_last_run_duration_seconds', 'How long the last backup run took.', () =>
    counts().last_duration_ms === undefined ? undefined : counts().last_duration_ms! / 1000,
  );
}
