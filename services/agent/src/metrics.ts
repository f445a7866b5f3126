import { busMetrics, type ServiceMetrics } from '@wattbus/runtime';
import type { Bus } from '@wattbus/bus';
import type { Availability } from '@wattbus/contracts';
import type { PollerMetrics } from './poller.js';

export interface AgentDeviceMetrics extends Partial<PollerMetrics> {
  availability: Availability | 'unknown';
  operations: number;
  failures: number;
}

/** What the metrics read of the agent (its own module imports this one). */
interface MeteredAgent {
  readonly bus: Bus | undefined;
  metrics(): Record<string, AgentDeviceMetrics>;
}

/** The agent's counters as Prometheus metrics (summed over its devices), read at each scrape. */
export function agentMetrics(metrics: ServiceMetrics, agent: MeteredAgent): void {
  busMetrics(metrics, () => agent.bus);
  const total = (pick: (device: AgentDeviceMetrics) => number | undefined) => () =>
    Object.values(agent.metrics()).reduce((sum, device) => sum + (pick(device) ?? 0), 0);
  metrics.counter(
    'wattbus_agent_polls_total',
    'Polls started, by timing: on_time (within a quarter interval of their tick) or late.',
    () => ({
      on_time: total((device) => device.polls_on_time)(),
      late: total((device) => device.polls_late)(),
    }),
    'timing',
  );
  metrics.counter(
    'wattbus_agent_polls_failed_total',
    'Polls that got no reading.',
    total((device) => device.failed_polls),
  );
  metrics.counter(
    'wattbus_agent_ticks_skipped_total',
    'Poll ticks skipped because the previous poll (or a command) still held the device.',
    total((device) => device.skipped_ticks),
  );
  metrics.counter(
    'wattbus_agent_readings_published_total',
    'Readings published.',
    total((device) => device.readings_published),
  );
  metrics.gauge(
    'wattbus_agent_devices',
    'Devices of this agent, by availability (online, offline, unknown).',
    () => {
      const counts: Record<string, number> = { online: 0, offline: 0, unknown: 0 };
      for (const device of Object.values(agent.metrics())) counts[device.availability]!++;
      return counts;
    },
    'availability',
  );
}
