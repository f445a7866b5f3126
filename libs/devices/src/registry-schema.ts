import { Type, type Static } from '@sinclair/typebox';
import { DEVICE_ID_MAX_LENGTH, DEVICE_ID_PATTERN, ReadingLimitsSchema } from '@wattbus/contracts';

/** The built-in fallbacks for keys a registry may leave out (per device, or once under `defaults:`). */
export const BUILTIN_DEFAULTS = {
  poll_interval_ms: 1000,
  timeout_ms: 2000,
  offline_after_failures: 3,
  max_backoff_ms: 30_000,
} as const;

const PollIntervalSchema = Type.Integer({
  minimum: 10,
  maximum: 86_400_000,
  description: `How often the collector reads the device, in ms (default ${BUILTIN_DEFAULTS.poll_interval_ms}).`,
});
const TimeoutSchema = Type.Integer({
  minimum: 10,
  maximum: 120_000,
  description: `Deadline of one device operation, in ms (default ${BUILTIN_DEFAULTS.timeout_ms}).`,
});
const OfflineAfterSchema = Type.Integer({
  minimum: 1,
  maximum: 1000,
  description: `Consecutive failed polls before the device is published offline (default ${BUILTIN_DEFAULTS.offline_after_failures}).`,
});
const MaxBackoffSchema = Type.Integer({
  minimum: 10,
  maximum: 3_600_000,
  description: `Longest wait between polls of an unreachable device, in ms (default ${BUILTIN_DEFAULTS.max_backoff_ms}).`,
});

export const RegistryDefaultsSchema = Type.Object(
  {
    poll_interval_ms: Type.Optional(PollIntervalSchema),
    timeout_ms: Type.Optional(TimeoutSchema),
    offline_after_failures: Type.Optional(OfflineAfterSchema),
    max_backoff_ms: Type.Optional(MaxBackoffSchema),
  },
  { additionalProperties: false },
);

/** One `devices:` entry as written in the file. */
export const RegistryEntrySchema = Type.Object(
  {
    id: Type.String({
      pattern: DEVICE_ID_PATTERN,
      maxLength: DEVICE_ID_MAX_LENGTH,
      description: 'Stable id: topic segment and storage tag. Never reuse one for another device.',
    }),
    name: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'Human name; default: the id.' }),
    ),
    type: Type.String({ minLength: 1, maxLength: 64, description: 'Driver name, e.g. tplink.' }),
    location: Type.String({
      minLength: 1,
      maxLength: 256,
      // Path segments separated by '/', none empty, no control characters.
      pattern: '^[^/\\u0000-\\u001f]+(/[^/\\u0000-\\u001f]+)*$',
      description: 'Location path, e.g. hq/floor-2/room-214/desk-3.',
    }),
    kind: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[a-z0-9][a-z0-9_-]*$',
      description: 'What the device powers: workplace, meeting-room, printer, appliance, meter, …',
    }),
    connection: Type.Record(Type.String(), Type.Unknown(), {
      description: "Driver-specific connection options, checked against the driver's own schema.",
    }),
    poll_interval_ms: Type.Optional(PollIntervalSchema),
    timeout_ms: Type.Optional(TimeoutSchema),
    offline_after_failures: Type.Optional(OfflineAfterSchema),
    max_backoff_ms: Type.Optional(MaxBackoffSchema),
    limits: Type.Optional(
      Type.Object(ReadingLimitsSchema.properties, {
        additionalProperties: false,
        description:
          "Plausibility limits of this device's readings (max_power_w, max_current_a, max_voltage_v, max_energy_wh, max_frequency_hz), overriding its driver's rating key by key.",
      }),
    ),
  },
  { additionalProperties: false },
);
export type RegistryEntry = Static<typeof RegistryEntrySchema>;

export const RegistryFileSchema = Type.Object(
  {
    drivers: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: 'Paths of driver modules to load, relative to the registry file.',
      }),
    ),
    defaults: Type.Optional(RegistryDefaultsSchema),
    devices: Type.Array(RegistryEntrySchema),
  },
  { additionalProperties: false },
);
export type RegistryFile = Static<typeof RegistryFileSchema>;

/** A device after loading: every default filled in, `connection` checked by its driver's schema. */
export type RegistryDevice = Omit<RegistryEntry, 'name'> & {
  name: string;
  poll_interval_ms: number;
  timeout_ms: number;
  offline_after_failures: number;
  max_backoff_ms: number;
};
