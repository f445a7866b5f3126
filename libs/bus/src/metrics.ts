import type { DeadLetter } from '@wattbus/contracts';

/** The bus' counters since connect (`Bus.metrics()` returns a copy). */
export interface BusMetrics {
  received: number;
  published: number;
  dead_lettered: number;
  dead_lettered_by_reason: Record<DeadLetter['reason'], number>;
  handler_errors: number;
  requests_sent: number;
  requests_timed_out: number;
  /** Responses no request waits for any more: late (after a timeout) or a second answer (hot standby). */
  responses_unmatched: number;
  requests_served: number;
  pending_requests: number;
}

export function newBusMetrics(): BusMetrics {
  return {
    received: 0,
    published: 0,
    dead_lettered: 0,
    dead_lettered_by_reason: { unparsable: 0, schema: 0, oversize: 0, implausible: 0, rejected: 0 },
    handler_errors: 0,
    requests_sent: 0,
    requests_timed_out: 0,
    responses_unmatched: 0,
    requests_served: 0,
    pending_requests: 0,
  };
}
