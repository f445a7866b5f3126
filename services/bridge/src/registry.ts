import { dirname } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import {
  DriverRegistry,
  ProfileError,
  RegistryError,
  loadRegistry,
  readYamlFile,
  type DriverDefinition,
  type RegistryDevice,
  type RegistryProblem,
} from '@wattbus/devices';
import { ReportIntervalSchema, VariablesSchema } from './profile-schema.js';
import { loadMqttProfile, type MqttProfile } from './profiles.js';

/** The device type of registry entries the bridge serves. */
export const MQTT_DEVICE_TYPE = 'mqtt';

/** `connection:` of a `type: mqtt` registry entry. */
export const MqttDeviceConnectionSchema = Type.Object(
  {
    profile: Type.String({
      minLength: 1,
      description:
        'Built-in profile (tasmota, zigbee2mqtt, shelly-gen1, shelly-gen2, esphome) or a profile file.',
    }),
    id: Type.String({
      minLength: 1,
      maxLength: 256,
      pattern: '^[^/+#\\u0000]+(/[^/+#\\u0000]+)*$',
      description:
        "The device's own name on its broker: Tasmota topic, Zigbee2MQTT friendly name, Shelly id or prefix, ESPHome node.",
    }),
    variables: Type.Optional(
      VariablesSchema("Values for the profile's variables (relay channel, switch or sensor names)."),
    ),
    report_interval_ms: Type.Optional(
      ReportIntervalSchema("How often the device reports (meta poll_interval_ms); default the profile's."),
    ),
  },
  { additionalProperties: false },
);
export type MqttDeviceConnection = Static<typeof MqttDeviceConnectionSchema>;

/**
 * A DriverDefinition only so the registry loader checks `connection:`; the bridge never polls,
 * so create() is never called by it, and a polling agent does not know the type at all.
 */
export const mqttDeviceType: DriverDefinition<typeof MqttDeviceConnectionSchema> = {
  type: MQTT_DEVICE_TYPE,
  optionsSchema: MqttDeviceConnectionSchema,
  create: (device) => {
    throw new Error(`device ${device.id}: type '${MQTT_DEVICE_TYPE}' devices are served by wattbus-bridge`);
  },
};

/** One registry device as the bridge serves it: its entry, profile and the values for the profile's placeholders. */
export interface BridgeDevice {
  /** The entry; its poll_interval_ms is the report interval (the bridge polls nothing), so meta carries it. */
  device: RegistryDevice;
  connection: MqttDeviceConnection;
  profile: MqttProfile;
  /** `id` (the foreign id) and every variable, the device's values over the profile's defaults. */
  placeholders: Record<string, string>;
}

/**
 * Reads a device registry (the format of docs/devices.md) whose entries are `type: mqtt`, and
 * each entry's profile. Problems of the file, of a profile or of a device's variables are thrown
 * together as one RegistryError, each with its place in the registry file.
 */
export async function loadBridgeRegistry(file: string): Promise<{ file: string; devices: BridgeDevice[] }> {
  const registry = await loadRegistry(file, { drivers: new DriverRegistry([mqttDeviceType]) });
  const problems: { path: string; message: string }[] = [];
  const devices: BridgeDevice[] = [];
  for (const [index, device] of registry.devices.entries()) {
    const connection = device.connection as MqttDeviceConnection;
    let profile: MqttProfile;
    try {
      profile = loadMqttProfile(connection.profile, dirname(registry.file));
    } catch (error) {
      if (!(error instanceof ProfileError)) throw error;
      problems.push({
        path: `/devices/${index}/connection/profile`,
        message: error.message.replace(/\n\s*/g, ' '),
      });
      continue;
    }
    for (const name of Object.keys(connection.variables ?? {})) {
      if (!(name in profile.variables)) {
        const known = Object.keys(profile.variables);
        problems.push({
          path: `/devices/${index}/connection/variables/${name}`,
          message: `profile '${connection.profile}' has no variable '${name}'${known.length ? `; it has ${known.join(', ')}` : ''} (device '${device.id}')`,
        });
      }
    }
    devices.push({
      device: { ...device, poll_interval_ms: connection.report_interval_ms ?? profile.report_interval_ms },
      connection,
      profile,
      placeholders: { ...profile.variables, ...connection.variables, id: connection.id },
    });
  }
  if (problems.length > 0) {
    const parsed = await readYamlFile(registry.file, (found) => new RegistryError(registry.file, found));
    throw new RegistryError(
      registry.file,
      problems.map((problem): RegistryProblem => ({ ...problem, line: parsed.lineOf(problem.path) })),
    );
  }
  return { file: registry.file, devices };
}
