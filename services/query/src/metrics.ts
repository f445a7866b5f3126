import { busMetrics, type ServiceMetrics } from '@wattbus/runtime';
import type { Bus } from '@wattbus/bus';

/** What the metrics read of the component (its own module imports this one). */
interface MeteredComponent {
  readonly bus: Bus | undefined;
  metrics(): Record<string, number>;
}

/** The query component's counters as Prometheus metrics, read at each scrape. */
export function queryMetrics(metrics: ServiceMetrics, component: MeteredComponent): void {
  busMetrics(metrics, () => component.bus);
  const counts = () => component.metrics();
  metrics.counter('wattbus_query_requests_total', 'Query requests answered.', () => counts().requests);
  metrics.counter(
    'wattbus_query_errors_total',
    'Query requests answered with an error, by code.',
    () => ({
      STORE_UNAVAILABLE: counts().store_unavailable!,
      QUERY_FAILED: counts().query_failed!,
      QUERY_TOO_LARGE: counts().query_too_large!,
    }),
    'code',
  );
  metrics.gauge(
    'wattbus_query_known_devices',
    'Devices in the in-memory fleet.',
    () => counts().devices_known,
  );
}
