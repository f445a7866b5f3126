#!/usr/bin/env -S node --import tsx
import { RegistryError } from '@wattbus/devices';
import {
  ConfigError,
  createLogger,
  loadConfig,
  parseCli,
  silentLogger,
  stopOnSignals,
} from '@wattbus/runtime';
import { Bridge } from './bridge.js';
import { BridgeConfigSchema, ENV_PREFIX } from './config.js';
import { discoveryReport, listen, propose } from './discover.js';
import { loadBridgeRegistry } from './registry.js';

const cli = parseCli({
  name: 'wattbus-bridge',
  summary:
    'Bridges devices that already speak MQTT (Tasmota, Zigbee2MQTT, Shelly, ESPHome) into WattBus: their messages become readings, state and availability, and set/get requests become their commands.',
  options: {
    config: {
      type: 'string',
      short: 'c',
      description: 'bridge config file (YAML/JSON); WATTBUS_BRIDGE_* env overrides it',
    },
    registry: {
      type: 'string',
      short: 'r',
      description: 'device registry of type: mqtt devices (YAML/JSON); or WATTBUS_BRIDGE_REGISTRY_FILE',
    },
    discover: {
      type: 'boolean',
      description: "list what is published on the devices' broker, print registry entries, exit",
    },
    seconds: { type: 'string', description: 'how long --discover listens', default: '30' },
  },
  epilog: `Environment (overrides the config file):
  WATTBUS_BRIDGE_MQTT__URL, WATTBUS_BRIDGE_MQTT__USERNAME, WATTBUS_BRIDGE_MQTT__PASSWORD,
  WATTBUS_BRIDGE_MQTT__BASE_TOPIC, WATTBUS_BRIDGE_FOREIGN_MQTT__URL, WATTBUS_BRIDGE_FOREIGN_MQTT__USERNAME,
  WATTBUS_BRIDGE_FOREIGN_MQTT__PASSWORD, WATTBUS_BRIDGE_ID, WATTBUS_BRIDGE_REGISTRY_FILE,
  WATTBUS_BRIDGE_DEVICE_WILLS, WATTBUS_BRIDGE_MAX_PAYLOAD_BYTES, LOG_LEVEL

Examples:
  wattbus-bridge --registry mqtt-devices.yaml
  WATTBUS_BRIDGE_FOREIGN_MQTT__URL=mqtt://homeassistant:1883 wattbus-bridge --discover --seconds 30 > found.yaml

See services/bridge/README.md for every key, docs/devices.md for the profiles and registry entries.`,
});

async function main(): Promise<void> {
  const values = cli.values;
  const config = loadConfig({
    schema: BridgeConfigSchema,
    file: values.config as string | undefined,
    envPrefix: ENV_PREFIX,
  });
  if (values.discover) {
    const seconds = Number(values.seconds);
    if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
      throw new ConfigError('--seconds must be a number of seconds between 0 and 3600');
    }
    const connection = config.foreign_mqtt ?? config.mqtt;
    // Logs would mix with the YAML on stdout.
    const seen = await listen({
      connection,
      seconds,
      clientId: `${config.id}-discover`,
      logger: silentLogger(),
    });
    process.stdout.write(
      discoveryReport(
        seen,
        await propose(seen),
        `wattbus-bridge --discover on ${connection.url} for ${seconds} s`,
      ),
    );
    return;
  }
  if (typeof values.registry === 'string') config.registry_file = values.registry;
  if (!config.registry_file) {
    throw new ConfigError('no device registry: pass --registry <file> or set WATTBUS_BRIDGE_REGISTRY_FILE');
  }
  const logger = createLogger(`bridge:${config.id}`);
  const { devices } = await loadBridgeRegistry(config.registry_file);
  const bridge = new Bridge({ config, devices, logger });
  stopOnSignals(logger, () => bridge.stop(), { timeoutMs: 15_000 });
  await bridge.start();
}

main().catch((error: unknown) => {
  const expected = error instanceof ConfigError || error instanceof RegistryError;
  process.stderr.write(
    `wattbus-bridge: ${expected ? (error as Error).message : String((error as Error)?.stack ?? error)}\n`,
  );
  process.exit(1);
});
