import type { DeviceMeta, Reading } from '@wattbus/contracts';
import type { FleetDevice } from '@wattbus/fleet';
import { Registry, observed, type Emit, type ObservedMetric } from '@wattbus/runtime';

/** Driver types whose devices are also exposed under tplink-plug-exporter's `kasa_*` names. */
export const KASA_TYPES: ReadonlySet<string> = new Set(['tplink']);

/** Without a meta (so without a poll interval), a reading counts as fresh for this long. */
const DEFAULT_POLL_INTERVAL_MS = 60_000;

export interface DeviceMetricsOptions {
  /** Every known device (libs/fleet's view). */
  devices: () => readonly FleetDevice[];
  /** A device's reading series disappear after this many poll intervals without a reading; 0: never. */
  staleAfterPolls: number;
  /** Milliseconds since the epoch; default Date.now. */
  clock?: () => number;
}

/** What one scrape shows of one device. */
interface Exposed {
  id: string;
  meta: DeviceMeta | undefined;
  /** From the retained availability; undefined while the agent has not said. */
  online: boolean | undefined;
  /** On/off from the retained state, unless the device is offline. */
  relayOn: boolean | undefined;
  /** The latest total reading, if fresh and the device is not offline. */
  reading: Reading | undefined;
  /** Fresh per-phase readings (3-phase meters), with the total first when there is one. */
  readings: Reading[];
}

type Metric = Omit<ObservedMetric, 'labelNames'>;
type Field = (reading: Reading) => number | undefined;

const gauge = (name: string, help: string): Metric => ({ name, help, type: 'gauge' });
const counter = (name: string, help: string): Metric => ({ name, help, type: 'counter' });
const flag = (value: boolean | undefined) => (value === undefined ? undefined : Number(value));

/** `wattbus_*` series of every reading (total and per phase), by Prometheus naming conventions. */
const READING_SERIES: [Metric, Field][] = [
  [gauge('wattbus_power_watts', 'Active power in watts (negative when exporting).'), (r) => r.power_w],
  [gauge('wattbus_voltage_volts', 'Voltage in volts.'), (r) => r.voltage_v],
  [gauge('wattbus_current_amperes', 'Current in amperes.'), (r) => r.current_a],
  // Prometheus' base unit of energy is the joule (promtool refuses `hours`): Wh × 3600.
  [
    counter(
      'wattbus_energy_joules_total',
      "Energy in joules (1 Wh = 3600 J), from the device's own cumulative counter.",
    ),
    (r) => (r.energy_wh === undefined ? undefined : r.energy_wh * 3600),
  ],
  [
    counter(
      'wattbus_energy_returned_joules_total',
      "Energy returned (exported) to the grid in joules, from the device's own cumulative counter.",
    ),
    (r) => (r.energy_returned_wh === undefined ? undefined : r.energy_returned_wh * 3600),
  ],
  [gauge('wattbus_power_factor', 'Power factor (-1 to 1).'), (r) => r.power_factor],
  [gauge('wattbus_frequency_hertz', 'Grid frequency in hertz.'), (r) => r.frequency_hz],
  [
    gauge(
      'wattbus_reading_timestamp_seconds',
      'Time of the latest reading (its own ts), in seconds since the epoch.',
    ),
    (r) => Date.parse(r.ts) / 1000,
  ],
];

/** `wattbus_*` series of a device's availability and state. */
const DEVICE_SERIES: [Metric, (device: Exposed) => number | undefined][] = [
  [
    gauge('wattbus_online', '1 while the device is online, 0 once offline (its availability).'),
    (d) => flag(d.online),
  ],
  [
    gauge('wattbus_relay_on', '1 while the relay is on, 0 while off (its retained state).'),
    (d) => flag(d.relayOn),
  ],
];

/** tplink-plug-exporter's series (names, types, units and help as it has them). */
const KASA_SERIES: [Metric, (device: Exposed) => number | undefined][] = [
  [gauge('kasa_online', 'Device online.'), (d) => flag(d.online)],
  [gauge('kasa_relay_state', 'Relay state (switch on/off).'), (d) => flag(d.relayOn)],
  [gauge('kasa_current', 'Current flowing through device in Ampere.'), (d) => d.reading?.current_a],
  [gauge('kasa_voltage', 'Current voltage connected to device in Volt.'), (d) => d.reading?.voltage_v],
  [gauge('kasa_power_load', 'Current power in Watt.'), (d) => d.reading?.power_w],
  [
    counter('kasa_power_total', 'Power consumption since device connected in kWh.'),
    (d) => (d.reading?.energy_wh === undefined ? undefined : d.reading.energy_wh / 1000),
  ],
];

const WATTBUS_LABELS = ['device', 'location', 'kind', 'phase'] as const;
/** The exporter's `alias` and `id`, with `model` and `type` (the plug model, the driver type). */
const KASA_LABELS = ['alias', 'id', 'model', 'type'] as const;

/**
 * The fleet as Prometheus metrics, computed at every scrape from the view: one series per
 * device (and phase) from its latest reading, state and availability. Per Prometheus
 * conventions a device's reading and relay series disappear once its availability says
 * offline or its readings go stale (Prometheus then marks them stale), while `*_online`
 * stays, at 0. A device removed from the fleet (meta cleared) disappears altogether.
 */
export function deviceMetrics(options: DeviceMetricsOptions): Registry {
  const registry = new Registry();
  const clock = options.clock ?? Date.now;
  // One scrape collects every metric in the same turn of the event loop: the fleet is looked at
  // once per scrape, not once per metric, and every metric sees the same moment.
  let snapshot: Exposed[] | undefined;
  const exposed = () => {
    if (snapshot === undefined) {
      const now = clock();
      snapshot = options.devices().map((device) => expose(device, now, options.staleAfterPolls));
      setImmediate(() => (snapshot = undefined));
    }
    return snapshot;
  };
  const define = (
    metric: Metric,
    labelNames: readonly string[],
    collect: (devices: Exposed[], emit: Emit) => void,
  ) => observed(registry, { ...metric, labelNames }, (emit) => collect(exposed(), emit));
  /** One series per device (of those `which` keeps) where `value` finds one. */
  const perDevice = (
    metric: Metric,
    labelNames: readonly string[],
    labels: (device: Exposed) => Record<string, string>,
    value: (device: Exposed) => number | undefined,
    which: (device: Exposed) => boolean = () => true,
  ) =>
    define(metric, labelNames, (devices, emit) => {
      for (const device of devices) {
        const sample = which(device) ? value(device) : undefined;
        if (sample !== undefined) emit(labels(device), sample);
      }
    });

  define(
    gauge('wattbus_device_info', 'Always 1: what a device is, from its meta.'),
    ['device', 'name', 'type', 'kind', 'location', 'model'],
    (devices, emit) => {
      for (const { id, meta } of devices) {
        if (!meta) continue;
        const { name, type, kind, location, model = '' } = meta;
        emit({ device: id, name, type, kind, location, model }, 1);
      }
    },
  );
  for (const [metric, value] of DEVICE_SERIES)
    perDevice(metric, WATTBUS_LABELS, (d) => wattbusLabels(d), value);
  for (const [metric, value] of READING_SERIES) {
    define(metric, WATTBUS_LABELS, (devices, emit) => {
      for (const device of devices) {
        for (const reading of device.readings) {
          const sample = value(reading);
          if (sample !== undefined) emit(wattbusLabels(device, reading.phase), sample);
        }
      }
    });
  }
  for (const [metric, value] of KASA_SERIES) perDevice(metric, KASA_LABELS, kasaLabels, value, isKasa);
  return registry;
}

function expose(device: FleetDevice, now: number, staleAfterPolls: number): Exposed {
  const online = device.availability === undefined ? undefined : device.availability === 'online';
  const intervalMs = device.meta?.poll_interval_ms ?? DEFAULT_POLL_INTERVAL_MS;
  const fresh =
    online !== false &&
    device.reading_received_ms !== undefined &&
    (staleAfterPolls === 0 || now - device.reading_received_ms <= staleAfterPolls * intervalMs);
  const phases = [...device.phases.values()].sort((a, b) => (a.phase! < b.phase! ? -1 : 1));
  const readings = fresh ? [...(device.reading ? [device.reading] : []), ...phases] : [];
  return {
    id: device.id,
    meta: device.meta,
    online,
    relayOn: online === false ? undefined : device.state?.on,
    reading: fresh ? device.reading : undefined,
    readings,
  };
}

function isKasa(device: Exposed): boolean {
  const type = device.meta?.type ?? device.reading?.type;
  return type !== undefined && KASA_TYPES.has(type);
}

function wattbusLabels(device: Exposed, phase?: string): Record<string, string> {
  const labels: Record<string, string> = {
    device: device.id,
    location: device.meta?.location ?? device.reading?.location ?? '',
    kind: device.meta?.kind ?? '',
  };
  if (phase !== undefined) labels.phase = phase;
  return labels;
}

function kasaLabels(device: Exposed): Record<string, string> {
  return {
    alias: device.meta?.name ?? device.id,
    id: device.id,
    model: device.meta?.model ?? '',
    type: device.meta?.type ?? device.reading?.type ?? '',
  };
}
