import { Type, type Static } from '@sinclair/typebox';
import { DEFAULT_BASE_TOPIC } from '@wattbus/contracts';
import type { BusOptions } from './options.js';

/**
 * The `mqtt:` keys of a service's config: how to reach the broker. A service with more keys
 * spreads `MqttConnectionSchema.properties` into its own object schema.
 */
export const MqttConnectionSchema = Type.Object(
  {
    url: Type.String({ default: 'mqtt://127.0.0.1:1883' }),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    base_topic: Type.String({ default: DEFAULT_BASE_TOPIC }),
    client_id: Type.Optional(Type.String({ minLength: 1 })),
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
