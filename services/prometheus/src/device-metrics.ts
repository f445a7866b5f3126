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

type Field = (reading: Reading) => number | undefined;

/** `wattbus_*` series of every reading (total and per phase), by Prometheus naming conventions. */
const READING_SERIES: { metric: Omit<ObservedMetric, 'labelNames'>; value: Field }[] = [
  {
    metric: {
      name: 'wattbus_power_watts',
      help: 'Active power in watts (negative when exporting).',
      type: 'gauge',
    },
    value: (reading) => reading.power_w,
  },
  {
    metric: { name: 'wattbus_voltage_volts', help: 'Voltage in volts.', type: 'gauge' },
    value: (reading) => reading.voltage_v,
  },
  {
    metric: { name: 'wattbus_current_amperes', help: 'Current in amperes.', type: 'gauge' },
    value: (reading) => reading.current_a,
  },
  {
    // Prometheus' base unit of energy is the joule (promtool refuses `hours`): Wh × 3600.
    metric: {
      name: 'wattbus_energy_joules_total',
      help: "Energy in joules (1 Wh = 3600 J), from the device's own cumulative counter.",
      type: 'counter',
    },
    value: (reading) => (reading.energy_wh === undefined ? undefined : reading.energy_wh * 3600),
  },
  {
    metric: { name: 'wattbus_power_factor', help: 'Power factor (-1 to 1).', type: 'gauge' },
    value: (reading) => reading.power_factor,
  },
  {
    metric: { name: 'wattbus_frequency_hertz', help: 'Grid frequency in hertz.', type: 'gauge' },
    value: (reading) => reading.frequency_hz,
  },
  {
    metric: {
      name: 'wattbus_reading_timestamp_seconds',
      help: 'Time of the latest reading (its own ts), in seconds since the epoch.',
      type: 'gauge',
    },
    value: (reading) => Date.parse(reading.ts) / 1000,
  },
];

/** tplink-plug-exporter's value series (names, units and help as it has them), from the total reading. */
const KASA_READING_SERIES: { metric: Omit<ObservedMetric, 'labelNames'>; value: Field }[] = [
  {
    metric: { name: 'kasa_current', help: 'Current flowing through device in Ampere.', type: 'gauge' },
    value: (reading) => reading.current_a,
  },
  {
    metric: { name: 'kasa_voltage', help: 'Current voltage connected to device in Volt.', type: 'gauge' },
    value: (reading) => reading.voltage_v,
  },
  {
    metric: { name: 'kasa_power_load', help: 'Current power in Watt.', type: 'gauge' },
    value: (reading) => reading.power_w,
  },
  {
    metric: {
      name: 'kasa_power_total',
      help: 'Power consumption since device connected in kWh.',
      type: 'counter',
    },
    value: (reading) => (reading.energy_wh === undefined ? undefined : reading.energy_wh / 1000),
  },
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
    metric: Omit<ObservedMetric, 'labelNames'>,
    labelNames: readonly string[],
    collect: (devices: Exposed[], emit: Emit) => void,
  ) => observed(registry, { ...metric, labelNames }, (emit) => collect(exposed(), emit));

  define(
    { name: 'wattbus_device_info', help: 'Always 1: what a device is, from its meta.', type: 'gauge' },
    ['device', 'name', 'type', 'kind', 'location', 'model'],
    (devices, emit) => {
      for (const { id, meta } of devices) {
        if (!meta) continue;
        const { name, type, kind, location, model = '' } = meta;
        emit({ device: id, name, type, kind, location, model }, 1);
      }
    },
  );
  define(
    {
      name: 'wattbus_online',
      help: '1 while the device is online, 0 once offline (its availability).',
      type: 'gauge',
    },
    WATTBUS_LABELS,
    (devices, emit) => {
      for (const device of devices)
        if (device.online !== undefined) emit(wattbusLabels(device), Number(device.online));
    },
  );
  define(
    {
      name: 'wattbus_relay_on',
      help: '1 while the relay is on, 0 while off (its retained state).',
      type: 'gauge',
    },
    WATTBUS_LABELS,
    (devices, emit) => {
      for (const device of devices)
        if (device.relayOn !== undefined) emit(wattbusLabels(device), Number(device.relayOn));
    },
  );
  for (const { metric, value } of READING_SERIES) {
    define(metric, WATTBUS_LABELS, (devices, emit) => {
      for (const device of devices) {
        for (const reading of device.readings) {
          const sample = value(reading);
          if (sample !== undefined) emit(wattbusLabels(device, reading.phase), sample);
        }
      }
    });
  }

  const kasa = (devices: Exposed[]) => devices.filter(isKasa);
  define({ name: 'kasa_online', help: 'Device online.', type: 'gauge' }, KASA_LABELS, (devices, emit) => {
    for (const device of kasa(devices))
      if (device.online !== undefined) emit(kasaLabels(device), Number(device.online));
  });
  define(
    { name: 'kasa_relay_state', help: 'Relay state (switch on/off).', type: 'gauge' },
    KASA_LABELS,
    (devices, emit) => {
      for (const device of kasa(devices))
        if (device.relayOn !== undefined) emit(kasaLabels(device), Number(device.relayOn));
    },
  );
  for (const { metric, value } of KASA_READING_SERIES) {
    define(metric, KASA_LABELS, (devices, emit) => {
      for (const device of kasa(devices)) {
        const sample = device.reading === undefined ? undefined : value(device.reading);
        if (sample !== undefined) emit(kasaLabels(device), sample);
      }
    });
  }
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
