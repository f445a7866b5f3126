import { Type, type Static } from '@sinclair/typebox';
import { MqttConnectionSchema, shareGroupSchema } from '@wattbus/bus';
import { DEFAULT_COUNTER_RULES, InfluxConnectionSchema } from '@wattbus/influx';
import { adminSchema } from '@wattbus/runtime';

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

export const TariffPeriodSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 64, description: 'e.g. peak, valley.' })),
    days: Type.Array(Type.Union(WEEKDAYS.map((day) => Type.Literal(day))), {
      default: [...WEEKDAYS],
      uniqueItems: true,
      description: 'Local weekdays the period applies to (default every day).',
    }),
    from_hour: Type.Integer({ minimum: 0, maximum: 23, description: 'First local hour, inclusive.' }),
    to_hour: Type.Integer({ minimum: 1, maximum: 24, description: 'Last local hour, exclusive.' }),
    price_per_kwh: Type.Number({ minimum: 0, description: 'Price of a kWh in this period.' }),
  },
  { additionalProperties: false },
);

export const TariffSchema = Type.Object(
  {
    currency: Type.String({ pattern: '^[A-Z]{3}$', default: 'EUR', description: 'ISO 4217 code.' }),
    price_per_kwh: Type.Number({
      minimum: 0,
      default: 0,
      description: 'Flat price, and the price of hours no period covers.',
    }),
    periods: Type.Array(TariffPeriodSchema, {
      default: [],
      description: 'Time-of-use periods by local hour and weekday; the first that matches wins.',
    }),
  },
  { additionalProperties: false, default: {} },
);
export type TariffConfig = Static<typeof TariffSchema>;

export const QueryConfigSchema = Type.Object(
  {
    mqtt: Type.Object(
      {
        ...MqttConnectionSchema.properties,
        share_group: shareGroupSchema('query components'),
      },
      { additionalProperties: false, default: {} },
    ),
    influx: InfluxConnectionSchema,
    influx_params: Type.Union([Type.Literal('auto'), Type.Literal('bound'), Type.Literal('inline')], {
      default: 'auto',
      description:
        'How values reach InfluxQL: auto = bound params on 1.x/2.x, escaped literals on 3.x (detected from /ping).',
    }),
    time_zone: Type.String({
      default: 'UTC',
      description: 'IANA zone of the site: default for calendar buckets, and the zone of tariff hours.',
    }),
    tariff: TariffSchema,
    limits: Type.Object(
      {
        max_points: Type.Integer({
          minimum: 1,
          default: 10_000,
          description: 'Most points (raw or buckets) one readings answer may hold.',
        }),
        max_buckets: Type.Integer({
          minimum: 1,
          default: 5_000,
          description: 'Most calendar buckets of energy and cost.',
        }),
        max_rows: Type.Integer({
          minimum: 1,
          default: 200_000,
          description: 'Most rows one energy/cost/totals computation may read from InfluxDB.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    energy: Type.Object(
      {
        counter_lookback_ms: Type.Integer({
          minimum: 0,
          default: 3_600_000,
          description: 'How far before `from` to look for the counter value the first step starts from.',
        }),
        integral_max_gap_ms: Type.Integer({
          minimum: 1,
          default: 3_600_000,
          description:
            'Power readings further apart than this are a gap: no energy is assumed across it. A longer counter step (its energy is known, not when) counts only what power readings inside it did not.',
        }),
        counter_jitter_wh: Type.Number({
          minimum: 0,
          default: DEFAULT_COUNTER_RULES.jitterWh,
          description:
            'Backward steps of the energy counter up to this size are rounding jitter; larger ones are read back as a dip, a spike or a reset.',
        }),
        counter_glitch_readings: Type.Integer({
          minimum: 1,
          maximum: 100,
          default: DEFAULT_COUNTER_RULES.glitchReadings,
          description:
            'A counter that leaves its trend and is back within this many readings had a one-off dip or spike (ignored); one that stays down was reset.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    health_name: Type.String({
      default: 'query',
      pattern: '^[a-z0-9][a-z0-9_-]*$',
      maxLength: 64,
      description:
        'Publishes ServiceHealth on {base}/health/<name>; give each of several components its own.',
    }),
    health_interval_ms: Type.Integer({
      minimum: 0,
      default: 30_000,
      description:
        'How often ServiceHealth is published (and on every change of InfluxDB reachability); 0 disables it.',
    }),
    warmup_lookback_ms: Type.Integer({
      minimum: 0,
      default: 7 * 86_400_000,
      description: 'At start, read the latest reading of every device from this far back (0 disables).',
    }),
    admin: adminSchema(9473),
  },
  { additionalProperties: false },
);
export type QueryConfig = Static<typeof QueryConfigSchema>;
