import { busMetrics, type ServiceMetrics } from '@wattbus/runtime';
import type { Bus } from '@wattbus/bus';

/** What the metrics read of the hook (its own module imports this one). */
interface MeteredHook {
  readonly bus: Bus | undefined;
  metrics(): Record<string, number>;
}

/** The alert hook's counters as Prometheus metrics, read at each scrape. */
export function alertHookMetrics(metrics: ServiceMetrics, hook: MeteredHook): void {
  busMetrics(metrics, () => hook.bus);
  const counts = () => hook.metrics();
  metrics.gauge('wattbus_alerts_active', 'Alerts raised and not resolved.', () => counts().active_alerts);
  metrics.gauge(
    'wattbus_alert_notifications_pending',
    'Notifications in the outbox, not yet delivered.',
    () => counts().notifications_pending,
  );
  metrics.counter(
    'wattbus_alert_notifications_total',
    'Notifications handled, by result (delivered, retried, dropped).',
    () => ({
      delivered: counts().notifications_delivered!,
      retried: counts().notifications_retried!,
      dropped: counts().notifications_dropped!,
    }),
    'result',
  );
}
