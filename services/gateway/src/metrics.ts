import { busMetrics, type ServiceMetrics } from '@wattbus/runtime';
import type { Bus } from '@wattbus/bus';

export interface GatewayMetrics {
  in_flight: number;
  known_devices: number;
  event_streams: number;
}

/** What the metrics read of the gateway (its own module imports this one). */
interface MeteredGateway {
  readonly bus: Bus | undefined;
  metrics(): GatewayMetrics;
}

/** One finished HTTP request, as the request log has it. */
export interface RequestDone {
  method: string;
  /** The openapi.yaml operationId; `none` for a path that is no operation (404). */
  operation: string;
  status: number;
  duration_ms: number;
}

/**
 * The gateway's metrics: requests by method, operation and status with their latency, requests
 * in flight, devices known, and its bus (pending MQTT requests among them). Returns what the
 * HTTP app calls when a request finishes.
 */
export function gatewayMetrics(
  metrics: ServiceMetrics,
  gateway: MeteredGateway,
): (request: RequestDone) => void {
  busMetrics(metrics, () => gateway.bus);
  metrics.gauge(
    'wattbus_http_requests_in_flight',
    'API requests admitted and not yet answered.',
    () => gateway.metrics().in_flight,
  );
  metrics.gauge(
    'wattbus_gateway_known_devices',
    'Devices agents announced (retained meta).',
    () => gateway.metrics().known_devices,
  );
  const requests = metrics.histogram(
    'wattbus_http_request_duration_seconds',
    'HTTP requests by method, operation (openapi.yaml operationId) and status, with their latency.',
    ['method', 'operation', 'status'],
  );
  return (request) =>
    requests.observe(
      { method: request.method, operation: request.operation, status: String(request.status) },
      request.duration_ms / 1000,
    );
}
