#!/usr/bin/env -S node --import tsx
import { loadRegistry, RegistryError } from '@wattbus/devices';
import {
  ConfigError,
  createLogger,
  loadConfig,
  parseCli,
  serveAdmin,
  ServiceMetrics,
  stopOnSignals,
} from '@wattbus/runtime';
import { Agent } from './agent.js';
import { AgentConfigSchema, ENV_PREFIX } from './config.js';
import { runDiscovery } from './discover.js';

const cli = parseCli({
  name: 'wattbus-agent',
  summary:
    'Polls the devices of a registry and publishes their readings (collector), and switches them on request (controller).',
  options: {
    config: {
      type: 'string',
      short: 'c',
      description: 'agent config file (YAML/JSON); WATTBUS_AGENT_* env overrides it',
    },
    registry: {
      type: 'string',
      short: 'r',
      description: 'device registry file (YAML/JSON); or WATTBUS_AGENT_REGISTRY_FILE',
    },
    collector: { type: 'boolean', description: 'run the collector role only (with --controller: both)' },
    controller: { type: 'boolean', description: 'run the controller role only (with --collector: both)' },
    discover: { type: 'boolean', description: 'find TP-Link plugs on the LAN, print registry entries, exit' },
    'discover-timeout-ms': { type: 'string', description: 'how long --discover listens', default: '3000' },
    broadcast: {
      type: 'string',
      description: 'broadcast address for --discover',
      default: '255.255.255.255',
    },
    hosts: { type: 'string', description: 'host[:port],… for --discover to ask directly (other subnets)' },
  },
  epilog: `Environment (overrides the config file):
  WATTBUS_AGENT_MQTT__URL, WATTBUS_AGENT_MQTT__USERNAME, WATTBUS_AGENT_MQTT__PASSWORD,
  WATTBUS_AGENT_MQTT__BASE_TOPIC, WATTBUS_AGENT_ID, WATTBUS_AGENT_REGISTRY_FILE,
  WATTBUS_AGENT_COLLECTOR, WATTBUS_AGENT_CONTROLLER, WATTBUS_AGENT_DEVICE_WILLS,
  WATTBUS_AGENT_ANSWER_UNKNOWN_DEVICES, WATTBUS_AGENT_ADMIN__HOST (127.0.0.1),
  WATTBUS_AGENT_ADMIN__PORT (9471: /metrics), WATTBUS_AGENT_ADMIN__ENABLED, LOG_LEVEL

Examples:
  wattbus-agent --registry devices.yaml
  wattbus-agent --registry meters.yaml --collector
  wattbus-agent --discover >> devices.yaml

See services/agent/README.md for every key, docs/devices.md for the registry file.`,
});

async function main(): Promise<void> {
  const values = cli.values;
  if (values.discover) {
    const timeoutMs = Number(values['discover-timeout-ms']);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 100) {
      throw new ConfigError('--discover-timeout-ms must be an integer of at least 100');
    }
    const hosts = typeof values.hosts === 'string' ? values.hosts.split(',').filter(Boolean) : [];
    process.stdout.write(
      await runDiscovery({ timeoutMs, broadcast: values.broadcast as string | undefined, hosts }),
    );
    return;
  }
  const config = loadConfig({
    schema: AgentConfigSchema,
    file: values.config as string | undefined,
    envPrefix: ENV_PREFIX,
  });
  if (typeof values.registry === 'string') config.registry_file = values.registry;
  if (values.collector || values.controller) {
    config.collector = values.collector === true;
    config.controller = values.controller === true;
  }
  if (!config.registry_file) {
    throw new ConfigError('no device registry: pass --registry <file> or set WATTBUS_AGENT_REGISTRY_FILE');
  }
  const logger = createLogger(`agent:${config.id}`);
  const registry = await loadRegistry(config.registry_file);
  const metrics = new ServiceMetrics('agent');
  const agent = new Agent({ config, registry, logger, metrics });
  const admin = await serveAdmin(config.admin, [metrics.registry], logger);
  stopOnSignals(
    logger,
    async () => {
      await agent.stop();
      await admin?.stop();
    },
    { timeoutMs: 15_000 },
  );
  await agent.start();
}

main().catch((error: unknown) => {
  const expected = error instanceof ConfigError || error instanceof RegistryError;
  process.stderr.write(
    `wattbus-agent: ${expected ? (error as Error).message : String((error as Error)?.stack ?? error)}\n`,
  );
  process.exit(1);
});
