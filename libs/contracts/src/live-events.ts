import { Type, type Static } from '@sinclair/typebox';
import { AlertSchema } from './alerts.js';
import {
  AvailabilitySchema,
  DeviceIdSchema,
  DeviceMetaSchema,
  DeviceStateSchema,
  ReadingSchema,
} from './schemas.js';

/**
 * The gateway's live events (`GET /api/v1/events`, text/event-stream): what happens on the bus,
 * as it happens, for browsers and scripts that do not speak MQTT. Each server-sent event has the
 * type as its `event:` field and the JSON of `data` below as its `data:` line.
 */

export const LIVE_EVENT_TYPES = ['reading', 'state', 'availability', 'meta', 'alert'] as const;
export const LiveEventTypeSchema = Type.Union(
  LIVE_EVENT_TYPES.map((type) => Type.Literal(type)),
  {
    $id: 'LiveEventType',
    description:
      'reading: a device reading; state: a relay changed; availability: a device went online or offline; meta: a device was announced, changed or removed; alert: an alert was raised or resolved.',
    examples: ['reading'],
  },
);
export type LiveEventType = Static<typeof LiveEventTypeSchema>;

const AlertNameSchema = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]*$', maxLength: 64 });

export const LiveEventSchema = Type.Union(
  [
    Type.Object(
      { event: Type.Literal('reading'), data: ReadingSchema },
      { additionalProperties: false, description: 'As published on `{base}/devices/{id}/readings`.' },
    ),
    Type.Object(
      {
        event: Type.Literal('state'),
        data: Type.Object(
          { device: DeviceIdSchema, state: DeviceStateSchema },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        event: Type.Literal('availability'),
        data: Type.Object(
          { device: DeviceIdSchema, availability: AvailabilitySchema },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        event: Type.Literal('meta'),
        data: Type.Object(
          {
            device: DeviceIdSchema,
            meta: Type.Union([DeviceMetaSchema, Type.Null()], {
              description: 'null: the device was removed.',
            }),
          },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        event: Type.Literal('alert'),
        data: Type.Object(
          {
            rule: AlertNameSchema,
            subject: AlertNameSchema,
            alert: Type.Union([AlertSchema, Type.Null()], {
              description: 'The active alert; null when it resolved (its retained topic was cleared).',
            }),
          },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
  ],
  {
    $id: 'LiveEvent',
    description:
      'One server-sent event of `GET /api/v1/events`: `event` is its `event:` field, `data` the JSON on its `data:` line.',
    examples: [
      {
        event: 'reading',
        data: { ts: '2026-11-23T18:45:00.000Z', device: 'desk-3', power_w: 61.2, voltage_v: 231.4 },
      },
      { event: 'state', data: { device: 'desk-3', state: { on: false, ts: '2026-11-23T18:45:01.000Z' } } },
      { event: 'availability', data: { device: 'desk-3', availability: 'offline' } },
      { event: 'alert', data: { rule: 'offline', subject: 'desk-3', alert: null } },
    ],
  },
);
export type LiveEvent = Static<typeof LiveEventSchema>;

/** Query parameters of `GET /api/v1/events`: both narrow the stream, neither is required. */
export const LiveEventsParamsSchema = Type.Object(
  {
    events: Type.Optional(
      Type.Array(LiveEventTypeSchema, {
        minItems: 1,
        uniqueItems: true,
        description: 'Only these event types (default: all).',
      }),
    ),
    devices: Type.Optional(
      Type.Array(DeviceIdSchema, {
        minItems: 1,
        maxItems: 1000,
        uniqueItems: true,
        description: 'Only events about these devices (alerts: whose subject is one of them).',
      }),
    ),
  },
  {
    $id: 'LiveEventsParams',
    additionalProperties: false,
    examples: [{}, { events: ['reading', 'state'], devices: ['desk-3'] }],
  },
);
export type LiveEventsParams = Static<typeof LiveEventsParamsSchema>;
