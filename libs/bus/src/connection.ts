import { Type, type Static } from '@sinclair/typebox';
import { DEFAULT_BASE_TOPIC } from '@wattbus/contracts';
import type { BusOptions } from './options.js';

/**
 * The `mqtt:` keys of a service's config: how to reach the broker. A service with more keys
 * spreads `MqttConnectionSchema.properties` into its own object schema.
 */
export const MqttConnectionSchema = Type.Object(
  {
    url: Type.String({
      default: 'mqtt://127.0.0.1:1883',
      description: 'Broker URL: mqtt://, mqtts://, ws:// or wss://.',
    }),
    username: Type.Optional(Type.String({ description: 'Broker user.' })),
    password: Type.Optional(Type.String({ description: 'Broker password (redacted from logs).' })),
    base_topic: Type.String({ default: DEFAULT_BASE_TOPIC, description: 'First level(s) of every topic.' }),
    client_id: Type.Optional(
      Type.String({ minLength: 1, description: 'MQTT client id; a random one when unset.' }),
    ),
  },
  { additionalProperties: false, default: {} },
);
export type MqttConnection = Static<typeof MqttConnectionSchema>;

/** The Bus.connect options a config's `mqtt:` keys give. */
export function busConnection(
  connection: MqttConnection,
): Pick<BusOptions, 'url' | 'clientId' | 'baseTopic' | 'username' | 'password'> {
  return {
    url: connection.url,
    ...(connection.client_id ? { clientId: connection.client_id } : {}),
    baseTopic: connection.base_topic,
    username: connection.username,
    password: connection.password,
  };
}
