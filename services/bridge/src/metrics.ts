import { busMetrics, type ServiceMetrics } from '@wattbus/runtime';
import type { Bus } from '@wattbus/bus';
import type { DeadLetter } from '@wattbus/contracts';
import type { LinkMetrics } from './device-link.js';

export interface BridgeMetrics {
  devices: Record<string, LinkMetrics & { availability: string }>;
  /** Foreign messages that did not map, by dead-letter reason. */
  dead_lettered: Record<DeadLetter['reason'], number>;
}

/** What the metrics read of the bridge (its own module imports this one). */
interface MeteredBridge {
  readonly bus: Bus | undefined;
  metrics(): BridgeMetrics;
}

/** The bridge's counters as Prometheus metrics (summed over its devices), read at each scrape. */
export function bridgeMetrics(metrics: ServiceMetrics, bridge: MeteredBridge): void {
  busMetrics(metrics, () => bridge.bus);
  const links = () => Object.values(bridge.metrics().devices);
  const total = (key: 'messages' | 'readings' | 'commands' | 'unconfirmed') => () =>
    links().reduce((sum, link) => sum + link[key], 0);
  metrics.counter(
    'wattbus_bridge_messages_total',
    'Foreign messages taken from the devices.',
    total('messages'),
  );
  metrics.counter('wattbus_bridge_readings_total', 'Readings published from them.', total('readings'));
  metrics.counter('wattbus_bridge_commands_total', 'Commands sent to the devices.', total('commands'));
  metrics.counter(
    'wattbus_bridge_commands_unconfirmed_total',
    'Commands the device did not confirm with its state.',
    total('unconfirmed'),
  );
  metrics.counter(
    'wattbus_bridge_foreign_dead_letters_total',
    'Foreign messages that did not map, by dead-letter reason.',
    () => bridge.metrics().dead_lettered,
    'reason',
  );
  metrics.gauge(
    'wattbus_bridge_devices',
    'Devices of this bridge, by availability (online, offline, unknown).',
    () => {
      const counts: Record<string, number> = { online: 0, offline: 0, unknown: 0 };
      for (const link of links()) counts[link.availability] = (counts[link.availability] ?? 0) + 1;
      return counts;
    },
    'availability',
  );
}
