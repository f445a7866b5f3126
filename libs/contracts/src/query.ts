import {
  Type,
  type Static,
  type TNull,
  type TNumber,
  type TOptional,
  type TSchema,
  type TUnion,
} from '@sinclair/typebox';
import {
  MESSAGE_SCHEMAS,
  DeviceIdSchema,
  DeviceStateSchema,
  PhaseSchema,
  ReadingSchema,
  TimestampSchema,
} from './schemas.js';
import { storableDateTime } from './time-range.js';

/**
 * Params and results of the query component's methods (`wattbus/query/req/{method}`). The REST
 * gateway and asyncapi.yaml use these schemas; the query component validates params with them.
 */

const From = storableDateTime({
  description:
    'Start of the range, inclusive (ISO 8601, a year from 1678 to 2261: the instants InfluxDB can store).',
  examples: ['2026-11-01T00:00:00.000Z'],
});
const To = storableDateTime({
  description: 'End of the range, exclusive (ISO 8601, a year from 1678 to 2261). Must be after `from`.',
  examples: ['2026-11-08T00:00:00.000Z'],
});

export const TimeZoneSchema = Type.String({
  $id: 'TimeZone',
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$',
  description: 'IANA time zone (checked against the zones the runtime knows); default from config.',
  examples: ['Europe/Madrid', 'UTC'],
});

export const LocationPrefixSchema = Type.String({
  minLength: 1,
  maxLength: 256,
  description:
    'Location path prefix, matched by whole levels: `hq/floor-2` matches `hq/floor-2` and `hq/floor-2/room-214`, not `hq/floor-20`.',
  examples: ['hq/floor-2'],
});

export const KindSchema = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'Device kind from its DeviceMeta: workplace, meeting-room, printer, …',
  examples: ['workplace'],
});

export const READING_FIELDS = [
  'power_w',
  'voltage_v',
  'current_a',
  'energy_wh',
  'energy_returned_wh',
  'power_factor',
  'frequency_hz',
] as const;
export const ReadingFieldSchema = Type.Union(
  READING_FIELDS.map((field) => Type.Literal(field)),
  { $id: 'ReadingField', description: 'A stored field of a reading.', examples: ['power_w'] },
);
export type ReadingField = Static<typeof ReadingFieldSchema>;

export const AGGREGATE_FUNCTIONS = ['mean', 'min', 'max', 'last', 'sum', 'count'] as const;
export const AggregateFunctionSchema = Type.Union(
  AGGREGATE_FUNCTIONS.map((fn) => Type.Literal(fn)),
  { $id: 'AggregateFunction', examples: ['mean'] },
);
export type AggregateFunction = Static<typeof AggregateFunctionSchema>;

export const FILL_MODES = ['none', 'null', 'previous', 'linear', 'zero'] as const;
export const FillModeSchema = Type.Union(
  FILL_MODES.map((fill) => Type.Literal(fill)),
  { $id: 'FillMode', description: 'What an empty bucket holds; `none` leaves it out.', examples: ['none'] },
);
export type FillMode = Static<typeof FillModeSchema>;

/** Fixed-length buckets of `readings`: 1s … 99999d. */
export const ReadingsEverySchema = Type.String({
  $id: 'ReadingsEvery',
  pattern: '^[1-9][0-9]{0,4}(s|m|h|d)$',
  description: 'Bucket length: a number and s, m, h or d.',
  examples: ['1m', '15m', '1h'],
});

/** Calendar buckets of `energy` and `cost`, in the request's time zone. */
export const ENERGY_BUCKETS = ['15m', '1h', '1d', '1w', '1mo', '1y'] as const;
export const EnergyEverySchema = Type.Union(
  ENERGY_BUCKETS.map((every) => Type.Literal(every)),
  {
    $id: 'EnergyEvery',
    description:
      'Calendar bucket in the time zone: a day is a local day (23 or 25 h across DST), a week starts on Monday.',
    examples: ['1d'],
  },
);
export type EnergyEvery = Static<typeof EnergyEverySchema>;

const Nullable = <S extends TSchema>(schema: S) => Type.Union([schema, Type.Null()]);
const Kwh = Type.Number({ description: 'Energy in kWh (rounded to 1 mWh).' });
const Money = Type.Number({ description: 'Cost in the tariff currency (rounded to 1/10000).' });
const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code.', examples: ['EUR'] });

// --- devices ---------------------------------------------------------------------------------

export const DevicesParamsSchema = Type.Object(
  { location: Type.Optional(LocationPrefixSchema), kind: Type.Optional(KindSchema) },
  {
    $id: 'DevicesParams',
    additionalProperties: false,
    examples: [{}, { location: 'hq/floor-2', kind: 'workplace' }],
  },
);
export type DevicesParams = Static<typeof DevicesParamsSchema>;

export const DeviceSummarySchema = Type.Object(
  {
    id: DeviceIdSchema,
    name: Type.Optional(Type.String()),
    type: Type.Optional(Type.String()),
    kind: Type.Optional(Type.String()),
    location: Type.Optional(Type.String()),
    model: Type.Optional(Type.String()),
    poll_interval_ms: Type.Optional(Type.Integer()),
    availability: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('unknown')]),
    state: Nullable(DeviceStateSchema),
    reading: Nullable(ReadingSchema),
  },
  { $id: 'DeviceSummary', additionalProperties: false },
);
export type DeviceSummary = Static<typeof DeviceSummarySchema>;

export const DevicesResultSchema = Type.Object(
  { devices: Type.Array(DeviceSummarySchema) },
  {
    $id: 'DevicesResult',
    additionalProperties: false,
    examples: [
      {
        devices: [
          {
            id: 'desk-3',
            name: 'Desk 3, room 214',
            type: 'tplink',
            kind: 'workplace',
            location: 'hq/floor-2/room-214/desk-3',
            poll_interval_ms: 1000,
            availability: 'online',
            state: { on: true, ts: '2026-11-23T18:45:00.000Z' },
            reading: { ts: '2026-11-23T18:45:00.000Z', device: 'desk-3', power_w: 61.2 },
          },
        ],
      },
    ],
  },
);
export type DevicesResult = Static<typeof DevicesResultSchema>;

// --- latest ----------------------------------------------------------------------------------

export const LatestParamsSchema = Type.Object(
  {
    devices: Type.Array(DeviceIdSchema, { minItems: 1, maxItems: 1000, uniqueItems: true }),
  },
  { $id: 'LatestParams', additionalProperties: false, examples: [{ devices: ['desk-3', 'main-meter'] }] },
);
export type LatestParams = Static<typeof LatestParamsSchema>;

export const LatestEntrySchema = Type.Object(
  {
    device: DeviceIdSchema,
    reading: Nullable(ReadingSchema),
    phases: Type.Array(ReadingSchema, { description: 'Latest per-phase readings of a 3-phase meter.' }),
  },
  { $id: 'LatestEntry', additionalProperties: false },
);

export const LatestResultSchema = Type.Object(
  { devices: Type.Array(LatestEntrySchema) },
  {
    $id: 'LatestResult',
    additionalProperties: false,
    examples: [
      {
        devices: [
          {
            device: 'desk-3',
            reading: { ts: '2026-11-23T18:45:00.000Z', device: 'desk-3', power_w: 61.2 },
            phases: [],
          },
        ],
      },
    ],
  },
);
export type LatestResult = Static<typeof LatestResultSchema>;

// --- readings --------------------------------------------------------------------------------

export const ReadingsParamsSchema = Type.Object(
  {
    device: DeviceIdSchema,
    from: From,
    to: To,
    fields: Type.Optional(
      Type.Array(ReadingFieldSchema, { minItems: 1, uniqueItems: true, description: 'Default [power_w].' }),
    ),
    every: Type.Optional(ReadingsEverySchema),
    fn: Type.Optional(AggregateFunctionSchema),
    fill: Type.Optional(FillModeSchema),
    phase: Type.Optional(PhaseSchema),
    tz: Type.Optional(TimeZoneSchema),
  },
  {
    $id: 'ReadingsParams',
    additionalProperties: false,
    description: 'Raw readings without `every`; with `every`, one point per bucket of `fn` (default mean).',
    examples: [
      {
        device: 'desk-3',
        from: '2026-11-23T08:00:00.000Z',
        to: '2026-11-23T09:00:00.000Z',
        fields: ['power_w'],
        every: '1m',
        fn: 'mean',
      },
      { device: 'main-meter', from: '2026-11-23T08:00:00.000Z', to: '2026-11-23T08:01:00.000Z', phase: 'L2' },
    ],
  },
);
export type ReadingsParams = Static<typeof ReadingsParamsSchema>;

export const ReadingsPointSchema = Type.Object(
  {
    ts: TimestampSchema,
    ...(Object.fromEntries(
      READING_FIELDS.map((field) => [field, Type.Optional(Nullable(Type.Number()))]),
    ) as Record<ReadingField, TOptional<TUnion<[TNumber, TNull]>>>),
  },
  {
    $id: 'ReadingsPoint',
    additionalProperties: false,
    description: 'A time (a bucket start when aggregated) and one value or null per requested field.',
  },
);

export const ReadingsResultSchema = Type.Object(
  {
    device: DeviceIdSchema,
    from: From,
    to: To,
    fields: Type.Array(ReadingFieldSchema),
    every: Nullable(Type.String()),
    fn: Nullable(AggregateFunctionSchema),
    phase: Nullable(PhaseSchema),
    points: Type.Array(ReadingsPointSchema),
  },
  {
    $id: 'ReadingsResult',
    additionalProperties: false,
    examples: [
      {
        device: 'desk-3',
        from: '2026-11-23T08:00:00.000Z',
        to: '2026-11-23T08:02:00.000Z',
        fields: ['power_w'],
        every: '1m',
        fn: 'mean',
        phase: null,
        points: [
          { ts: '2026-11-23T08:00:00.000Z', power_w: 61.5 },
          { ts: '2026-11-23T08:01:00.000Z', power_w: 60.25 },
        ],
      },
    ],
  },
);
export type ReadingsResult = Static<typeof ReadingsResultSchema>;

// --- energy ----------------------------------------------------------------------------------

export const EnergyParamsSchema = Type.Object(
  { device: DeviceIdSchema, from: From, to: To, every: EnergyEverySchema, tz: Type.Optional(TimeZoneSchema) },
  {
    $id: 'EnergyParams',
    additionalProperties: false,
    examples: [
      {
        device: 'desk-3',
        from: '2026-10-01T00:00:00+02:00',
        to: '2026-11-01T00:00:00+01:00',
        every: '1d',
        tz: 'Europe/Madrid',
      },
    ],
  },
);
export type EnergyParams = Static<typeof EnergyParamsSchema>;

export const EnergyMethodSchema = Type.Union(
  [
    Type.Literal('counter'),
    Type.Literal('integral'),
    Type.Literal('history'),
    Type.Literal('mixed'),
    Type.Literal('none'),
  ],
  {
    description:
      'counter: from the cumulative energy_wh counter; integral: from power_w (no counter readings); history: from the daily/monthly energy a backfill read from the device (no raw readings there); mixed: some intervals from each (a history of counter and power-only readings); none: no data. A meter that publishes only per-phase readings is the sum of its phases.',
  },
);

const ExportKwh = Type.Optional(
  Type.Number({
    description:
      'Energy returned (exported) to the grid in kWh, from the energy_returned_wh counter; present when the device counts it.',
  }),
);
const NetKwh = Type.Optional(
  Type.Number({
    description:
      'Imported minus exported energy in kWh (negative when the device returned more than it drew); present with the export.',
  }),
);

export const EnergyBucketSchema = Type.Object(
  {
    start: TimestampSchema,
    end: TimestampSchema,
    energy_kwh: Type.Number({
      description:
        'Energy in kWh (rounded to 1 mWh): imported energy where the device counts both directions.',
    }),
    export_kwh: ExportKwh,
    net_kwh: NetKwh,
  },
  { $id: 'EnergyBucket', additionalProperties: false },
);

export const EnergyResultSchema = Type.Object(
  {
    device: DeviceIdSchema,
    from: From,
    to: To,
    every: EnergyEverySchema,
    tz: Type.String(),
    method: EnergyMethodSchema,
    buckets: Type.Array(EnergyBucketSchema),
    total_kwh: Kwh,
    total_export_kwh: ExportKwh,
    total_net_kwh: NetKwh,
  },
  {
    $id: 'EnergyResult',
    additionalProperties: false,
    examples: [
      {
        device: 'desk-3',
        from: '2026-03-28T23:00:00.000Z',
        to: '2026-03-30T22:00:00.000Z',
        every: '1d',
        tz: 'Europe/Madrid',
        method: 'counter',
        buckets: [
          { start: '2026-03-28T23:00:00.000Z', end: '2026-03-29T22:00:00.000Z', energy_kwh: 1.15 },
          { start: '2026-03-29T22:00:00.000Z', end: '2026-03-30T22:00:00.000Z', energy_kwh: 1.2 },
        ],
        total_kwh: 2.35,
      },
      {
        device: 'grid',
        from: '2026-06-21T00:00:00.000Z',
        to: '2026-06-22T00:00:00.000Z',
        every: '1d',
        tz: 'UTC',
        method: 'counter',
        buckets: [
          {
            start: '2026-06-21T00:00:00.000Z',
            end: '2026-06-22T00:00:00.000Z',
            energy_kwh: 9.6,
            export_kwh: 14.4,
            net_kwh: -4.8,
          },
        ],
        total_kwh: 9.6,
        total_export_kwh: 14.4,
        total_net_kwh: -4.8,
      },
    ],
  },
);
export type EnergyResult = Static<typeof EnergyResultSchema>;

// --- totals ----------------------------------------------------------------------------------

export const TotalsParamsSchema = Type.Object(
  {
    from: From,
    to: To,
    group_by: Type.Union([Type.Literal('device'), Type.Literal('location'), Type.Literal('kind')]),
    depth: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 16,
        description: 'With group_by=location: how many location levels form a group (default: all).',
      }),
    ),
    location: Type.Optional(LocationPrefixSchema),
    kind: Type.Optional(KindSchema),
    tz: Type.Optional(TimeZoneSchema),
  },
  {
    $id: 'TotalsParams',
    additionalProperties: false,
    examples: [
      { from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z', group_by: 'kind', location: 'hq/floor-2' },
      { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z', group_by: 'location', depth: 2 },
    ],
  },
);
export type TotalsParams = Static<typeof TotalsParamsSchema>;

export const TotalsGroupSchema = Type.Object(
  {
    key: Type.String({ description: 'Device id, location prefix or kind.' }),
    devices: Type.Array(DeviceIdSchema),
    energy_kwh: Kwh,
    cost: Money,
  },
  { $id: 'TotalsGroup', additionalProperties: false },
);

export const TotalsResultSchema = Type.Object(
  {
    from: From,
    to: To,
    group_by: Type.String(),
    currency: Currency,
    groups: Type.Array(TotalsGroupSchema),
    total_kwh: Kwh,
    total_cost: Money,
  },
  {
    $id: 'TotalsResult',
    additionalProperties: false,
    examples: [
      {
        from: '2026-01-01T00:00:00.000Z',
        to: '2027-01-01T00:00:00.000Z',
        group_by: 'kind',
        currency: 'EUR',
        groups: [
          { key: 'printer', devices: ['printer_2f'], energy_kwh: 120.5, cost: 24.1 },
          { key: 'workplace', devices: ['desk-3', 'desk-4'], energy_kwh: 310, cost: 62 },
        ],
        total_kwh: 430.5,
        total_cost: 86.1,
      },
    ],
  },
);
export type TotalsResult = Static<typeof TotalsResultSchema>;

// --- cost ------------------------------------------------------------------------------------

export const CostParamsSchema = Type.Object(
  {
    from: From,
    to: To,
    device: Type.Optional(DeviceIdSchema),
    location: Type.Optional(LocationPrefixSchema),
    kind: Type.Optional(KindSchema),
    every: Type.Optional(EnergyEverySchema),
    tz: Type.Optional(TimeZoneSchema),
  },
  {
    $id: 'CostParams',
    additionalProperties: false,
    description:
      'Cost of one device, or of every known device matching location/kind (all when none is given); one bucket for the range without `every`.',
    examples: [
      { device: 'desk-3', from: '2026-11-01T00:00:00Z', to: '2026-11-08T00:00:00Z', every: '1d' },
      { location: 'hq/floor-2', from: '2026-01-01T00:00:00Z', to: '2027-01-01T00:00:00Z' },
    ],
  },
);
export type CostParams = Static<typeof CostParamsSchema>;

export const CostBucketSchema = Type.Object(
  { start: TimestampSchema, end: TimestampSchema, energy_kwh: Kwh, cost: Money },
  { $id: 'CostBucket', additionalProperties: false },
);

export const CostResultSchema = Type.Object(
  {
    from: From,
    to: To,
    every: Nullable(EnergyEverySchema),
    tz: Type.String(),
    currency: Currency,
    devices: Type.Array(DeviceIdSchema),
    buckets: Type.Array(CostBucketSchema),
    total_kwh: Kwh,
    total_cost: Money,
  },
  {
    $id: 'CostResult',
    additionalProperties: false,
    examples: [
      {
        from: '2026-11-01T00:00:00.000Z',
        to: '2026-11-02T00:00:00.000Z',
        every: null,
        tz: 'UTC',
        currency: 'EUR',
        devices: ['desk-3'],
        buckets: [
          {
            start: '2026-11-01T00:00:00.000Z',
            end: '2026-11-02T00:00:00.000Z',
            energy_kwh: 1.2,
            cost: 0.252,
          },
        ],
        total_kwh: 1.2,
        total_cost: 0.252,
      },
    ],
  },
);
export type CostResult = Static<typeof CostResultSchema>;

/** Every method of `wattbus/query/req/{method}` with its params and result schema. */
export const QUERY_METHODS = {
  devices: {
    summary: 'The known devices with availability, relay state and latest reading (from memory).',
    params: DevicesParamsSchema,
    result: DevicesResultSchema,
  },
  latest: {
    summary: 'The last reading of one or many devices (from memory).',
    params: LatestParamsSchema,
    result: LatestResultSchema,
  },
  readings: {
    summary: "A device's fields over [from, to), raw or aggregated per bucket.",
    params: ReadingsParamsSchema,
    result: ReadingsResultSchema,
  },
  energy: {
    summary: 'kWh per calendar bucket in a time zone, and the total.',
    params: EnergyParamsSchema,
    result: EnergyResultSchema,
  },
  totals: {
    summary: 'Energy and cost for a period, grouped by device, location prefix or kind.',
    params: TotalsParamsSchema,
    result: TotalsResultSchema,
  },
  cost: {
    summary: 'Energy × tariff (flat or time-of-use) per bucket, and the total.',
    params: CostParamsSchema,
    result: CostResultSchema,
  },
} as const;
export type QueryMethod = keyof typeof QUERY_METHODS;
/** The params of each query method, from its schema: `QueryParams['energy']` is EnergyParams. */
export type QueryParams = { [M in QueryMethod]: Static<(typeof QUERY_METHODS)[M]['params']> };
/** The result of each query method, from its schema. */
export type QueryResults = { [M in QueryMethod]: Static<(typeof QUERY_METHODS)[M]['result']> };

export function isQueryMethod(name: string): name is QueryMethod {
  return Object.hasOwn(QUERY_METHODS, name);
}

/** Named query schemas for MESSAGE_SCHEMAS (asyncapi.yaml, contract tests). */
export const QUERY_SCHEMAS: Record<string, TSchema> = {
  DevicesParams: DevicesParamsSchema,
  DevicesResult: DevicesResultSchema,
  LatestParams: LatestParamsSchema,
  LatestResult: LatestResultSchema,
  ReadingsParams: ReadingsParamsSchema,
  ReadingsResult: ReadingsResultSchema,
  EnergyParams: EnergyParamsSchema,
  EnergyResult: EnergyResultSchema,
  TotalsParams: TotalsParamsSchema,
  TotalsResult: TotalsResultSchema,
  CostParams: CostParamsSchema,
  CostResult: CostResultSchema,
};

// Registered here rather than listed in schemas.ts, which this file imports (no import cycle).
Object.assign(MESSAGE_SCHEMAS, QUERY_SCHEMAS, {
  TimeZone: TimeZoneSchema,
  ReadingField: ReadingFieldSchema,
  AggregateFunction: AggregateFunctionSchema,
  FillMode: FillModeSchema,
  ReadingsEvery: ReadingsEverySchema,
  EnergyEvery: EnergyEverySchema,
});
