import { Type, type Static } from '@sinclair/typebox';
import { MqttConnectionSchema, shareGroupSchema } from '@wattbus/bus';
import { DEFAULT_FUTURE_TOLERANCE_MS } from '@wattbus/contracts';
import { InfluxConnectionSchema } from '@wattbus/influx';
import { adminSchema } from '@wattbus/runtime';

/** Environment variables: `WATTBUS_STORAGE_HOOK_<KEY>`, nested keys joined by `__` (e.g. `..._INFLUX__URL`). */
export const ENV_PREFIX = 'WATTBUS_STORAGE_HOOK_';

export const StorageHookConfigSchema = Type.Object(
  {
    mqtt: Type.Object(
      {
        ...MqttConnectionSchema.properties,
        // Required here (with a default): a persistent session needs a fixed id.
        client_id: Type.String({
          default: 'wattbus-storage-hook',
          minLength: 1,
          pattern: '^[^+#/\\s]+$',
          description:
            'Fixed client id: the broker keeps this session (and queues readings) while the hook is away; two hooks must not share it.',
        }),
        share_group: shareGroupSchema('storage hooks'),
        leave_group_on_stop: Type.Boolean({
          default: true,
          description:
            "With share_group: on stop, leave the group (stop taking readings, store those already dealt, unsubscribe, end the session) so the other hooks take this hook's share; false keeps the session, its share queueing for this client id's return.",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    partition: Type.Optional(
      Type.Object(
        {
          index: Type.Integer({ minimum: 0, description: "This hook's partition, 0 to count - 1." }),
          count: Type.Integer({
            minimum: 1,
            maximum: 1024,
            description: 'How many partitions (hooks) there are.',
          }),
        },
        {
          additionalProperties: false,
          description:
            'Store only the readings of the devices that hash to this partition: count hooks without a share group each write 1/count while every hook receives everything (works on any broker; run every index). Unset: store every reading.',
        },
      ),
    ),
    influx: Type.Object(
      {
        ...InfluxConnectionSchema.properties,
        create_database: Type.Boolean({
          default: true,
          description: 'Create the database (1.x) or bucket (2.x) when it is missing.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    log: Type.Object(
      {
        dir: Type.String({
          default: './data/storage-hook',
          description: 'Write-ahead log directory (a local disk, not NFS).',
        }),
        max_bytes: Type.Integer({
          minimum: 1024,
          default: 1024 ** 3,
          description: 'Bound of the log; when full the hook stops acknowledging and the broker queues.',
        }),
        warn_ratio: Type.Number({
          exclusiveMinimum: 0,
          maximum: 1,
          default: 0.8,
          description: 'Warn when the log passes this share of its bound.',
        }),
        fsync_interval_ms: Type.Integer({
          minimum: 0,
          default: 1000,
          description:
            'How often the log is flushed to disk; 0 = after every log write, before its PUBACKs (slow, power-loss safe).',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    batch: Type.Object(
      {
        max_lines: Type.Integer({
          minimum: 1,
          maximum: 100_000,
          default: 5000,
          description: 'Lines per write (and per log segment).',
        }),
        max_delay_ms: Type.Integer({
          minimum: 1,
          default: 200,
          description: 'A reading waits at most this long before its batch is written.',
        }),
        retry_min_ms: Type.Integer({
          minimum: 1,
          default: 200,
          description: 'Shortest backoff of a failed write.',
        }),
        retry_max_ms: Type.Integer({
          minimum: 1,
          default: 30_000,
          description: 'Longest backoff of a failed write.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    future_tolerance_ms: Type.Integer({
      minimum: 0,
      default: DEFAULT_FUTURE_TOLERANCE_MS,
      description:
        'A reading stamped further ahead of this host clock is refused as implausible (a device with a wrong clock).',
    }),
    counters_log_interval_ms: Type.Integer({
      minimum: 0,
      default: 60_000,
      description: 'How often the counters are logged; 0 = never.',
    }),
    stop_flush_timeout_ms: Type.Integer({
      minimum: 0,
      default: 5000,
      description:
        'On SIGTERM, how long to keep writing the log out before exiting (the rest replays on start).',
    }),
    admin: adminSchema(9472),
  },
  { additionalProperties: false },
);
export type StorageHookConfig = Static<typeof StorageHookConfigSchema>;
