import { Type, type Static } from '@sinclair/typebox';
import { DeviceIdSchema, MESSAGE_SCHEMAS, TimestampSchema } from './schemas.js';

/**
 * History a device remembers (a TP-Link plug's daily and monthly energy, an Emporia channel's
 * minute and hour usage), as energy per interval. The agent that owns the device reads it on a
 * `backfill` request and publishes it on `wattbus/devices/{id}/history`; the storage hook keeps
 * it in the `energy_history` measurement (docs/storage.md).
 */

export const HISTORY_PERIODS = ['minute', 'hour', 'day', 'month'] as const;

export const HistoryPeriodSchema = Type.Union(
  HISTORY_PERIODS.map((period) => Type.Literal(period)),
  {
    $id: 'HistoryPeriod',
    description:
      "Length of the intervals: a minute, an hour, or a day or month of the device's own calendar (local midnight to local midnight).",
    examples: ['day'],
  },
);
export type HistoryPeriod = Static<typeof HistoryPeriodSchema>;

export const EnergyIntervalSchema = Type.Object(
  {
    start: TimestampSchema,
    end: TimestampSchema,
    energy_wh: Type.Number({ minimum: 0, description: 'Energy used in [start, end), Wh.' }),
  },
  {
    $id: 'EnergyInterval',
    additionalProperties: false,
    description: 'Energy a device counted over one interval of its history.',
    examples: [{ start: '2026-10-01T22:00:00.000Z', end: '2026-10-02T22:00:00.000Z', energy_wh: 1234 }],
  },
);
export type EnergyInterval = Static<typeof EnergyIntervalSchema>;

/**
 * Intervals per message: a year of days fits, a day of minutes (1,440) is four messages. At most
 * ~105 bytes each, 400 stay well below the bus' default 64 KiB payload limit.
 */
export const HISTORY_MAX_INTERVALS = 400;

export const EnergyHistorySchema = Type.Object(
  {
    device: DeviceIdSchema,
    source: Type.String({
      pattern: '^[a-z0-9][a-z0-9_-]*$',
      maxLength: 64,
      description: 'What the device was asked: `tplink-daystat`, `tplink-monthstat`, `emporia-1min`…',
    }),
    period: HistoryPeriodSchema,
    intervals: Type.Array(EnergyIntervalSchema, { minItems: 1, maxItems: HISTORY_MAX_INTERVALS }),
  },
  {
    $id: 'EnergyHistory',
    additionalProperties: false,
    description:
      'A batch of history read from a device (one TP-Link month of days, say). Stored by interval start, device, period and source, so a batch published twice is stored once.',
    examples: [
      {
        device: 'desk-3',
        source: 'tplink-daystat',
        period: 'day',
        intervals: [{ start: '2026-10-01T22:00:00.000Z', end: '2026-10-02T22:00:00.000Z', energy_wh: 1234 }],
      },
    ],
  },
);
export type EnergyHistory = Static<typeof EnergyHistorySchema>;

/** Longest backfill a request may ask for: ten years. */
export const BACKFILL_MAX_DAYS = 3660;

export const BackfillParamsSchema = Type.Object(
  {
    days: Type.Integer({
      minimum: 1,
      maximum: BACKFILL_MAX_DAYS,
      description: "How far back, in days of the device's calendar, today included.",
    }),
  },
  { $id: 'BackfillParams', additionalProperties: false, examples: [{ days: 60 }] },
);
export type BackfillParams = Static<typeof BackfillParamsSchema>;

export const BackfillPeriodSummarySchema = Type.Object(
  {
    period: HistoryPeriodSchema,
    source: Type.String(),
    intervals: Type.Integer({ minimum: 0 }),
    energy_wh: Type.Number({ minimum: 0 }),
    first: Type.Union([TimestampSchema, Type.Null()]),
    last: Type.Union([TimestampSchema, Type.Null()]),
  },
  { additionalProperties: false },
);

export const BackfillResultSchema = Type.Object(
  {
    device: DeviceIdSchema,
    from: TimestampSchema,
    to: TimestampSchema,
    batches: Type.Integer({ minimum: 0, description: 'EnergyHistory messages published.' }),
    periods: Type.Array(BackfillPeriodSummarySchema, {
      description:
        'What was found per period and source (days with no energy recorded are not listed by the device).',
    }),
  },
  {
    $id: 'BackfillResult',
    additionalProperties: false,
    description:
      "What a backfill published on the device's history topic; the storage hook stores it. Running it again publishes the same points, which overwrite themselves.",
    examples: [
      {
        device: 'desk-3',
        from: '2026-09-30T22:00:00.000Z',
        to: '2026-11-29T23:00:00.000Z',
        batches: 5,
        periods: [
          {
            period: 'day',
            source: 'tplink-daystat',
            intervals: 60,
            energy_wh: 74040,
            first: '2026-09-30T22:00:00.000Z',
            last: '2026-11-28T23:00:00.000Z',
          },
        ],
      },
    ],
  },
);
export type BackfillResult = Static<typeof BackfillResultSchema>;

Object.assign(MESSAGE_SCHEMAS, {
  EnergyHistory: EnergyHistorySchema,
  BackfillParams: BackfillParamsSchema,
  BackfillResult: BackfillResultSchema,
});
