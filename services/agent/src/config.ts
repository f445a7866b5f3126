import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { MqttConnectionSchema } from '@wattbus/bus';
import { DEFAULT_FUTURE_TOLERANCE_MS } from '@wattbus/contracts';
import { adminSchema } from '@wattbus/runtime';

/** The broker keys every service shares, less client_id: an agent's client ids come from its `id`. */
const { client_id: _clientId, ...brokerKeys } = MqttConnectionSchema.properties;

export const ENV_PREFIX = 'WATTBUS_AGENT_';

/** Agent settings: a YAML/JSON file (`--config`) overlaid by `WATTBUS_AGENT_*` environment variables. */
export const AgentConfigSchema = Type.Object(
  {
    mqtt: Type.Object(brokerKeys, { additionalProperties: false, default: {} }),
    id: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[a-z0-9][a-z0-9_-]*$',
      default: hostBasedId('agent'),
      'x-default-text': 'agent-<hostname>',
      description: 'Unique per agent: names its MQTT client ids and its availability topic.',
    }),
    registry_file: Type.Optional(
      Type.String({ minLength: 1, description: 'The device registry (YAML/JSON).' }),
    ),
    collector: Type.Boolean({ default: true, description: 'Poll devices and publish readings.' }),
    controller: Type.Boolean({ default: true, description: 'Answer set/get requests for the devices.' }),
    device_wills: Type.Boolean({
      default: true,
      description:
        "One small extra MQTT connection per device whose last will publishes that device's `offline`.",
    }),
    future_tolerance_ms: Type.Integer({
      minimum: 0,
      default: DEFAULT_FUTURE_TOLERANCE_MS,
      description:
        "A reading stamped further ahead of this host's clock is not published (the storage hook refuses it too).",
    }),
    answer_unknown_devices: Type.Boolean({
      default: false,
      description:
        'Answer UNKNOWN_DEVICE for requests to devices this agent does not own. Only for single-agent deployments.',
    }),
    time_zone: Type.String({
      minLength: 1,
      maxLength: 64,
      default: 'UTC',
      description:
        "IANA zone the devices count their days in (a TP-Link plug's daily energy): a backfill's days are local days there. A registry entry's connection `time_zone` overrides it for that plug.",
    }),
    admin: adminSchema(9471),
  },
  { additionalProperties: false },
);
export type AgentConfig = Static<typeof AgentConfigSchema>;

/** `<prefix>-<hostname>` as an id (`[a-z0-9][a-z0-9_-]*`, at most 64): a default that differs per machine. */
export function hostBasedId(prefix: string): string {
  const host = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '');
  return `${prefix}-${host || 'local'}`.slice(0, 64);
}
