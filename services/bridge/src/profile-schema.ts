import { Type, type Static } from '@sinclair/typebox';
import { READING_FIELDS } from '@wattbus/devices';

/**
 * The file format of an MQTT device profile: which foreign topics a device publishes, how each
 * payload becomes reading fields, relay state and availability (JSONata expressions), and how a
 * command reaches the device. Built-in profiles live in services/bridge/profiles/; a registry
 * entry may name a file of its own instead (docs/devices.md).
 */

const Expression = Type.String({
  minLength: 1,
  maxLength: 2000,
  description: 'JSONata expression over the payload: `$` is the whole payload (parsed JSON, or the text).',
});

/** `{id}` and `{variable}` placeholders; concrete topics only, so no MQTT wildcards. */
const TopicTemplate = Type.String({
  minLength: 1,
  maxLength: 512,
  pattern: '^[^+#\\u0000]+$',
  description: 'Topic with `{id}` (the foreign id from the registry) and `{variable}` placeholders.',
});

const FieldMapping = Type.Union([
  Expression,
  Type.Object(
    {
      value: Expression,
      unit: Type.Optional(
        Type.String({ description: "The device's unit, e.g. kWh; default the field's own." }),
      ),
    },
    { additionalProperties: false },
  ),
]);

const Words = Type.Array(Type.String({ minLength: 1 }), { minItems: 1 });

const StateMapping = Type.Union([
  Expression,
  Type.Object(
    {
      value: Expression,
      on: Type.Optional(Words),
      off: Type.Optional(Words),
    },
    { additionalProperties: false },
  ),
]);

const AvailabilityMapping = Type.Union([
  Expression,
  Type.Object(
    {
      value: Expression,
      online: Type.Optional(Words),
      offline: Type.Optional(Words),
    },
    { additionalProperties: false },
  ),
]);

/** Names and values of a profile's `{variables}`: values are topic segments, so no `/`, `+`, `#`. */
export const VariablesSchema = (description: string) =>
  Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]*$' }), Type.String({ pattern: '^[^/+#\\u0000]+$' }), {
    description,
  });

export const ReportIntervalSchema = (description: string) =>
  Type.Integer({ minimum: 1, maximum: 86_400_000, description });

export const PAYLOAD_FORMATS = ['json', 'text', 'auto'] as const;
export type PayloadFormat = (typeof PAYLOAD_FORMATS)[number];

const MessageMapping = Type.Object(
  {
    topic: TopicTemplate,
    payload: Type.Optional(
      Type.Unsafe<PayloadFormat>({
        enum: [...PAYLOAD_FORMATS],
        description:
          'json: must parse as JSON; text: the raw text; auto (default): JSON when it parses, else text.',
      }),
    ),
    reading: Type.Optional(
      Type.Object(Object.fromEntries(READING_FIELDS.map((field) => [field, Type.Optional(FieldMapping)])), {
        additionalProperties: false,
        minProperties: 1,
      }),
    ),
    state: Type.Optional(StateMapping),
    availability: Type.Optional(AvailabilityMapping),
  },
  { additionalProperties: false },
);

const Command = Type.Object(
  {
    topic: TopicTemplate,
    payload: Type.String({
      minLength: 1,
      maxLength: 2000,
      description:
        'JSONata expression giving the payload: a string is sent as text, anything else as JSON. Bound: $on (set), $id, $bridge, every variable.',
    }),
  },
  { additionalProperties: false },
);

export const MqttProfileFileSchema = Type.Object(
  {
    model: Type.String({
      minLength: 1,
      maxLength: 128,
      description: "Published as the devices' meta `model`.",
    }),
    description: Type.Optional(Type.String({ maxLength: 500 })),
    report_interval_ms: ReportIntervalSchema(
      'How often such a device reports by default (meta poll_interval_ms, for silence alerts).',
    ),
    coalesce_ms: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 60_000,
        description:
          'Fields arriving on separate topics within this long make one reading (Shelly Gen1, ESPHome); 0: one reading per message.',
      }),
    ),
    variables: Type.Optional(
      VariablesSchema(
        'Defaults for `{name}` in topics and `$name` in expressions; a device may override them.',
      ),
    ),
    messages: Type.Array(MessageMapping, { minItems: 1 }),
    set: Type.Optional(Command),
    get: Type.Optional(Command),
  },
  { additionalProperties: false },
);
export type MqttProfileFile = Static<typeof MqttProfileFileSchema>;
