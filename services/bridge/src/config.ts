import { Type, type Static } from '@sinclair/typebox';
import { hostBasedId } from '@wattbus/agent';
import { MqttConnectionSchema, MqttTlsSchema } from '@wattbus/bus';
import { adminSchema } from '@wattbus/runtime';

/** The broker keys every service shares, less client_id: the bridge's client ids come from its `id`. */
const { client_id: _clientId, ...brokerKeys } = MqttConnectionSchema.properties;

export const ENV_PREFIX = 'WATTBUS_BRIDGE_';

/** Bridge settings: a YAML/JSON file (`--config`) overlaid by `WATTBUS_BRIDGE_*` environment variables. */
export const BridgeConfigSchema = Type.Object(
  {
    mqtt: Type.Object(brokerKeys, { additionalProperties: false, default: {} }),
    foreign_mqtt: Type.Optional(
      Type.Object(
        {
          url: Type.String({
            minLength: 1,
            description:
              'Broker the devices publish on, e.g. mqtt://homeassistant:1883 (default: the `mqtt` broker).',
          }),
          username: Type.Optional(Type.String({ description: "The devices' broker user." })),
          password: Type.Optional(
            Type.String({ description: "The devices' broker password (redacted from logs)." }),
          ),
          ...MqttTlsSchema.properties,
        },
        {
          additionalProperties: false,
          description: "The devices' broker, when it is not the WattBus broker (default: the `mqtt` one).",
        },
      ),
    ),
    id: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[a-z0-9][a-z0-9_-]*$',
      default: hostBasedId('bridge'),
      'x-default-text': 'bridge-<hostname>',
      description:
        'Unique per bridge: names its MQTT client ids, its availability topic and the `src` of Shelly Gen2 RPC.',
    }),
    registry_file: Type.Optional(
      Type.String({ minLength: 1, description: 'The device registry (YAML/JSON) of `type: mqtt` devices.' }),
    ),
    device_wills: Type.Boolean({
      default: true,
      description:
        "One small extra MQTT connection per device whose last will publishes that device's `offline`.",
    }),
    max_payload_bytes: Type.Integer({
      minimum: 64,
      maximum: 16 * 1024 * 1024,
      default: 64 * 1024,
      description: 'Foreign messages larger than this are dead-lettered unread.',
    }),
    admin: adminSchema(9478),
  },
  { additionalProperties: false },
);
export type BridgeConfig = Static<typeof BridgeConfigSchema>;
