import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';

/** Agent settings: a YAML/JSON file (`--config`) overlaid by `WATTBUS_*` environment variables. */
export const AgentConfigSchema = Type.Object(
  {
    mqtt_url: Type.String({
      minLength: 1,
      default: 'mqtt://localhost:1883',
      description: 'MQTT broker URL.',
    }),
    mqtt_username: Type.Optional(Type.String()),
    mqtt_password: Type.Optional(Type.String()),
    base_topic: Type.String({ minLength: 1, default: 'wattbus' }),
    agent_id: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[a-z0-9][a-z0-9_-]*$',
      default: defaultAgentId(),
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
    answer_unknown_devices: Type.Boolean({
      default: false,
      description:
        'Answer UNKNOWN_DEVICE for requests to devices this agent does not own. Only for single-agent deployments.',
    }),
  },
  { additionalProperties: false },
);
export type AgentConfig = Static<typeof AgentConfigSchema>;

function defaultAgentId(): string {
  const host = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '');
  return `agent-${host || 'local'}`.slice(0, 64);
}
