import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DEVICE_ID_MAX_LENGTH, DEVICE_ID_PATTERN } from './ids.js';
import { ErrorCodeSchema } from './errors.js';
import { GetStateParamsSchema, SetPowerParamsSchema } from './commands.js';
import { ReadingLimitsSchema } from './reading-limits.js';
import {
  AlertListParamsSchema,
  AlertListResultSchema,
  AlertNotificationSchema,
  AlertSchema,
  AlertTransitionSchema,
  ServiceHealthSchema,
} from './alerts.js';

/**
 * The JSON Schemas of every message on the bus. They are the single source: validators,
 * TypeScript types (Static<>), asyncapi.yaml and openapi.yaml components all come from here.
 */

export const DeviceIdSchema = Type.String({
  $id: 'DeviceId',
  pattern: DEVICE_ID_PATTERN,
  maxLength: DEVICE_ID_MAX_LENGTH,
  description: 'Stable device id; also a topic segment and an InfluxDB tag value.',
  examples: ['desk-3', 'printer_2f'],
});

export const TimestampSchema = Type.String({
  format: 'date-time',
  description: 'ISO 8601 timestamp in UTC, millisecond precision.',
  examples: ['2026-11-23T18:45:00.000Z'],
});

export const PhaseSchema = Type.Union([Type.Literal('L1'), Type.Literal('L2'), Type.Literal('L3')], {
  description: 'Phase of a 3-phase meter; absent for single-phase devices and for 3-phase totals.',
});

export const ReadingSchema = Type.Object(
  {
    ts: TimestampSchema,
    device: DeviceIdSchema,
    power_w: Type.Number({
      description:
        'Active power in watts, signed where the device measures the direction: negative when exporting (returning energy to the grid).',
    }),
    voltage_v: Type.Optional(Type.Number({ minimum: 0 })),
    current_a: Type.Optional(Type.Number({ minimum: 0 })),
    energy_wh: Type.Optional(
      Type.Number({
        minimum: 0,
        description:
          'Cumulative energy counter in Wh (imported energy where the device counts both directions).',
      }),
    ),
    energy_returned_wh: Type.Optional(
      Type.Number({
        minimum: 0,
        description:
          'Cumulative counter of energy returned (exported) to the grid in Wh, where the device counts it: solar homes, a meter at the grid connection.',
      }),
    ),
    power_factor: Type.Optional(Type.Number({ minimum: -1, maximum: 1 })),
    frequency_hz: Type.Optional(Type.Number({ minimum: 0 })),
    phase: Type.Optional(PhaseSchema),
    type: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'Driver type, e.g. tplink.' }),
    ),
    location: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'Location path, e.g. hq/floor-2/room-214.' }),
    ),
  },
  {
    $id: 'Reading',
    additionalProperties: false,
    description: 'One measurement of one device (or one phase of it).',
    examples: [
      {
        ts: '2026-11-23T18:45:00.000Z',
        device: 'desk-3',
        power_w: 61.2,
        voltage_v: 231.4,
        current_a: 0.31,
        energy_wh: 15234.5,
        type: 'tplink',
        location: 'hq/floor-2/room-214/desk-3',
      },
      { ts: '2026-11-23T18:45:01.000Z', device: 'main-meter', phase: 'L2', power_w: 412, voltage_v: 229.8 },
      {
        ts: '2026-06-21T12:00:00.000Z',
        device: 'grid',
        power_w: -2450.5,
        energy_wh: 1834120.5,
        energy_returned_wh: 906310.25,
        type: 'shelly',
        location: 'home/cellar',
      },
    ],
  },
);
export type Reading = Static<typeof ReadingSchema>;

export const DeviceStateSchema = Type.Object(
  {
    on: Type.Boolean({ description: 'Relay state: true when the plug supplies power.' }),
    ts: TimestampSchema,
  },
  {
    $id: 'DeviceState',
    additionalProperties: false,
    examples: [{ on: true, ts: '2026-11-23T18:45:00.000Z' }],
  },
);
export type DeviceState = Static<typeof DeviceStateSchema>;

export const DeviceMetaSchema = Type.Object(
  {
    id: DeviceIdSchema,
    name: Type.String({ minLength: 1, maxLength: 200, description: 'Human name from the registry.' }),
    type: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'Driver type, e.g. tplink, shelly, modbus.',
    }),
    kind: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'What the device powers: workplace, meeting-room, printer, appliance, meter, …',
    }),
    location: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'Location path, e.g. hq/floor-2/room-214.',
    }),
    poll_interval_ms: Type.Integer({ minimum: 1, description: 'How often the collector reads it.' }),
    model: Type.Optional(Type.String({ maxLength: 128 })),
    limits: Type.Optional(ReadingLimitsSchema),
    ts: TimestampSchema,
  },
  {
    $id: 'DeviceMeta',
    additionalProperties: false,
    description:
      'Retained description of a device, published by the agent that owns it, so hooks and components know the fleet without reading the registry file.',
    examples: [
      {
        id: 'desk-3',
        name: 'Desk 3, room 214',
        type: 'tplink',
        kind: 'workplace',
        location: 'hq/floor-2/room-214/desk-3',
        poll_interval_ms: 1000,
        model: 'HS110(EU)',
        limits: { max_power_w: 4600, max_current_a: 20, max_voltage_v: 300 },
        ts: '2026-11-23T18:45:00.000Z',
      },
    ],
  },
);
export type DeviceMeta = Static<typeof DeviceMetaSchema>;

/** Availability is plain text (`online`/`offline`), not JSON, so it also works as an MQTT last will. */
export const AvailabilitySchema = Type.Union([Type.Literal('online'), Type.Literal('offline')], {
  $id: 'Availability',
  examples: ['online', 'offline'],
});
export type Availability = Static<typeof AvailabilitySchema>;

export const RequestEnvelopeSchema = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 128, pattern: '^[^+#/]+$', description: 'Correlation id.' }),
    reply_to: Type.String({ minLength: 1, maxLength: 512, description: 'Topic the response goes to.' }),
    params: Type.Record(Type.String(), Type.Unknown(), { description: 'Method parameters.' }),
    deadline: Type.Optional(
      Type.String({ format: 'date-time', description: 'After this instant the requester no longer waits.' }),
    ),
  },
  {
    $id: 'RequestEnvelope',
    additionalProperties: false,
    examples: [
      {
        id: '0b6c3f0e-8a55-4a5e-9f57-0f3a7f3c1d2e',
        reply_to: 'wattbus/replies/gateway-1/0b6c3f0e-8a55-4a5e-9f57-0f3a7f3c1d2e',
        params: { on: false },
        deadline: '2026-11-23T18:45:05.000Z',
      },
    ],
  },
);
export type RequestEnvelope = Static<typeof RequestEnvelopeSchema>;

export const ErrorBodySchema = Type.Object(
  {
    code: ErrorCodeSchema,
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  },
  { $id: 'ErrorBody', additionalProperties: false },
);
export type ErrorBody = Static<typeof ErrorBodySchema>;

export const SuccessResponseSchema = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    ok: Type.Literal(true),
    result_bytes: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          "The length in bytes of `result`'s JSON text, sent by a responder that wrote that text itself (the query component's `readings`), ahead of `result`, which then comes last: a requester may pass the result on without parsing the envelope (the REST gateway does). Only sent to a request that asked for it with the MQTT 5 user property `wattbus-result-bytes: 1`, so requesters of earlier releases never see it. The responder vouches that the text fits the method's result schema.",
      }),
    ),
    result: Type.Unknown(),
  },
  { additionalProperties: false },
);
export const ErrorResponseSchema = Type.Object(
  { id: Type.String({ minLength: 1 }), ok: Type.Literal(false), error: ErrorBodySchema },
  { additionalProperties: false },
);
export const ResponseEnvelopeSchema = Type.Union([SuccessResponseSchema, ErrorResponseSchema], {
  $id: 'ResponseEnvelope',
  examples: [
    {
      id: '0b6c3f0e-8a55-4a5e-9f57-0f3a7f3c1d2e',
      ok: true,
      result: { on: false, ts: '2026-11-23T18:45:00.123Z' },
    },
    {
      id: '0b6c3f0e-8a55-4a5e-9f57-0f3a7f3c1d2e',
      ok: false,
      error: { code: 'DEVICE_UNREACHABLE', message: 'desk-3 (10.0.4.21:9999) did not answer' },
    },
  ],
});
export type ResponseEnvelope = Static<typeof ResponseEnvelopeSchema>;

export const DEAD_LETTER_REASONS = ['unparsable', 'schema', 'oversize', 'implausible', 'rejected'] as const;

export const DeadLetterSchema = Type.Object(
  {
    topic: Type.String({ description: 'Topic the message arrived on.' }),
    reason: Type.Union(
      DEAD_LETTER_REASONS.map((reason) => Type.Literal(reason)),
      {
        description:
          'unparsable JSON, schema violation, payload too large, a reading beyond its device limits or from the future (implausible), or rejected downstream.',
      },
    ),
    message: Type.String({ description: 'Human-readable explanation, e.g. the failing schema path.' }),
    payload: Type.String({ description: 'The payload as UTF-8 text, truncated to 4 KiB.' }),
    payload_bytes: Type.Integer({ minimum: 0 }),
    service: Type.String({ description: 'Service that refused the message.' }),
    ts: TimestampSchema,
  },
  {
    $id: 'DeadLetter',
    additionalProperties: false,
    examples: [
      {
        topic: 'wattbus/devices/desk-3/readings',
        reason: 'implausible',
        message: "power_w 23456789 W is beyond the device's limit of ±4600 W (max_power_w)",
        payload: '{"ts":"2026-11-23T18:45:00.000Z","device":"desk-3","power_w":23456789}',
        payload_bytes: 70,
        service: 'storage-hook',
        ts: '2026-11-23T18:45:00.002Z',
      },
      {
        topic: 'wattbus/devices/desk-3/readings',
        reason: 'schema',
        message: '/power_w: must be number',
        payload: '{"ts":"2026-11-23T18:45:00.000Z","device":"desk-3","power_w":"lots"}',
        payload_bytes: 66,
        service: 'storage-hook',
        ts: '2026-11-23T18:45:00.002Z',
      },
    ],
  },
);
export type DeadLetter = Static<typeof DeadLetterSchema>;

/** Every named schema, for exporting into asyncapi.yaml / openapi.yaml and for contract tests. */
export const MESSAGE_SCHEMAS: Record<string, TSchema> = {
  DeviceId: DeviceIdSchema,
  Reading: ReadingSchema,
  DeviceState: DeviceStateSchema,
  DeviceMeta: DeviceMetaSchema,
  ReadingLimits: ReadingLimitsSchema,
  Availability: AvailabilitySchema,
  RequestEnvelope: RequestEnvelopeSchema,
  ResponseEnvelope: ResponseEnvelopeSchema,
  ErrorCode: ErrorCodeSchema,
  DeadLetter: DeadLetterSchema,
  SetPowerParams: SetPowerParamsSchema,
  GetStateParams: GetStateParamsSchema,
  Alert: AlertSchema,
  AlertNotification: AlertNotificationSchema,
  AlertTransition: AlertTransitionSchema,
  AlertListParams: AlertListParamsSchema,
  AlertListResult: AlertListResultSchema,
  ServiceHealth: ServiceHealthSchema,
};
