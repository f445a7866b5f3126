import { Type, type Static } from '@sinclair/typebox';
import { DEFAULT_BASE_TOPIC } from '@wattbus/contracts';
import type { BusOptions } from './options.js';

/** The `mqtt:` keys of a TLS connection (mqtts://, wss://); also in the gateway's own `mqtt:`. */
export const MqttTlsSchema = Type.Object({
  ca_file: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        "PEM file of the CA that signed the broker's certificate (mqtts://, wss://); unset: the system's CAs.",
    }),
  ),
  cert_file: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'PEM client certificate, for a broker that verifies clients (with key_file).',
    }),
  ),
  key_file: Type.Optional(Type.String({ minLength: 1, description: "PEM key of cert_file's certificate." })),
});

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
    ...MqttTlsSchema.properties,
    base_topic: Type.String({ default: DEFAULT_BASE_TOPIC, description: 'First level(s) of every topic.' }),
    client_id: Type.Optional(
      Type.String({ minLength: 1, description: 'MQTT client id; a random one when unset.' }),
    ),
    protocol: Type.Union([Type.Literal('auto'), Type.Literal('5'), Type.Literal('3.1.1')], {
      default: 'auto',
      description:
        'MQTT version: auto tries 5 and falls back to 3.1.1 when the broker refuses it (aedes) or closes the socket without a CONNACK (RabbitMQ).',
    }),
  },
  { additionalProperties: false, default: {} },
);
export type MqttConnection = Static<typeof MqttConnectionSchema>;

/**
 * The `share_group` key of a service whose instances can split their messages. Unset by default:
 * a service relies on `$share` only when asked to, and then checks at start that the broker
 * delivers through it (`Bus.verifyShareGroup`). Empty means unset (so an environment variable can
 * clear a file's value).
 */
export function shareGroupSchema(instances: string) {
  return Type.Optional(
    Type.String({
      pattern: '^[^+#/\\s]*$',
      description: `Join $share/<group>/… so several ${instances} split the messages, each taken by one; checked at start (the service exits if the broker does not deliver through the group). Unset: every instance takes every message (hot standby). See docs/operations.md, "Scaling out".`,
    }),
  );
}

/** The Bus.connect options a config's `mqtt:` keys give. */
export function busConnection(
  connection: MqttConnection,
): Pick<
  BusOptions,
  'url' | 'clientId' | 'baseTopic' | 'username' | 'password' | 'protocol' | 'caFile' | 'certFile' | 'keyFile'
> {
  return {
    url: connection.url,
    ...(connection.client_id ? { clientId: connection.client_id } : {}),
    baseTopic: connection.base_topic,
    username: connection.username,
    password: connection.password,
    ...busTls(connection),
    protocol: busProtocol(connection.protocol),
  };
}

/** `mqtt.protocol` as Bus.connect takes it (an absent value is `auto`). */
export function busProtocol(protocol: MqttConnection['protocol'] | undefined): BusOptions['protocol'] {
  if (protocol === '5') return 5;
  if (protocol === '3.1.1') return 4;
  return 'auto';
}

/** The Bus.connect TLS options of `mqtt.ca_file`, `mqtt.cert_file` and `mqtt.key_file`. */
export function busTls(
  connection: Static<typeof MqttTlsSchema>,
): Pick<BusOptions, 'caFile' | 'certFile' | 'keyFile'> {
  return { caFile: connection.ca_file, certFile: connection.cert_file, keyFile: connection.key_file };
}
