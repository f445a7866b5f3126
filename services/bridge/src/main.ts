#!/usr/bin/env -S node --import tsx
import { RegistryError } from '@wattbus/devices';
import { brokerUrlProblem, ConfigError, runService, silentLogger } from '@wattbus/runtime';
import { Bridge } from './bridge.js';
import { BridgeConfigSchema, ENV_PREFIX } from './config.js';
import { discoveryReport, listen, propose } from './discover.js';
import { loadBridgeRegistry } from './registry.js';

await runService({
  name: 'bridge',
  summary:
    'Bridges devices that already speak MQTT (Tasmota, Zigbee2MQTT, Shelly, ESPHome) into WattBus: their messages become readings, state and availability, and set/get requests become their commands.',
  schema: BridgeConfigSchema,
  envPrefix: ENV_PREFIX,
  options: {
    registry: {
      type: 'string',
      short: 'r',
      description: `device registry of type: mqtt devices (YAML/JSON); or ${ENV_PREFIX}REGISTRY_FILE`,
    },
    discover: {
      type: 'boolean',
      description: "list what is published on the devices' broker, print registry entries, exit",
    },
    seconds: { type: 'string', description: 'how long --discover listens', default: '30' },
  },
  commands: {
    discover: {
      summary: "list what is published on the devices' broker, print registry entries",
      flag: 'discover',
      async run({ cli, config }) {
        const seconds = Number(cli.values.seconds);
        if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
          throw new ConfigError('--seconds must be a number of seconds between 0 and 3600');
        }
        const { foreign_mqtt, mqtt, id } = config();
        const connection = foreign_mqtt ?? mqtt;
        // The YAML goes to stdout: nothing may log there.
        const seen = await listen({
          connection,
          seconds,
          clientId: `${id}-discover`,
          logger: silentLogger(),
        });
        const title = `wattbus-bridge --discover on ${connection.url} for ${seconds} s`;
        process.stdout.write(discoveryReport(seen, await propose(seen), title));
      },
    },
  },
  fromCli(config, { values }) {
    if (typeof values.registry === 'string') config.registry_file = values.registry;
  },
  check(config, file) {
    const problem = config.foreign_mqtt && brokerUrlProblem(config.foreign_mqtt.url);
    if (problem) {
      throw new ConfigError(
        `invalid configuration${file ? ` in ${file}` : ''}:\n  /foreign_mqtt/url: ${problem}`,
      );
    }
  },
  configErrors: [RegistryError],
  epilog: `Examples:
  wattbus-bridge --registry mqtt-devices.yaml
  ${ENV_PREFIX}FOREIGN_MQTT__URL=mqtt://homeassistant:1883 wattbus-bridge --discover --seconds 30 > found.yaml

See services/bridge/README.md for every key, docs/devices.md for the profiles and registry entries.`,
  stopTimeoutMs: () => 15_000,
  async start({ config, logger, connect, metrics }) {
    // Needed to run, not to --discover: checked here, still before any connection.
    if (!config.registry_file) {
      throw new ConfigError(`no device registry: pass --registry <file> or set ${ENV_PREFIX}REGISTRY_FILE`);
    }
    const { devices } = await loadBridgeRegistry(config.registry_file);
    const bridge = new Bridge({ config, devices, logger, connect, metrics });
    await bridge.start();
    return bridge;
  },
});
