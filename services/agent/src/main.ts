#!/usr/bin/env -S node --import tsx
import { isTimeZone } from '@wattbus/contracts';
import { loadRegistry, RegistryError } from '@wattbus/devices';
import { ConfigError, runService } from '@wattbus/runtime';
import { Agent } from './agent.js';
import { RegistryWatcher } from './registry-watcher.js';
import { AgentConfigSchema, ENV_PREFIX } from './config.js';
import { runBackfillCommand } from './backfill-command.js';
import { runDiscovery, runEmporiaDiscovery } from './discover.js';

await runService({
  name: 'agent',
  summary:
    'Polls the devices of a registry and publishes their readings (collector), and switches them on request (controller).',
  schema: AgentConfigSchema,
  envPrefix: ENV_PREFIX,
  options: {
    registry: {
      type: 'string',
      short: 'r',
      description: `device registry file (YAML/JSON); or ${ENV_PREFIX}REGISTRY_FILE`,
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
    device: { type: 'string', description: 'backfill: the registry id of the device' },
    days: { type: 'string', description: 'backfill: how many days back, today included (1-3660)' },
    'discover-emporia': {
      type: 'boolean',
      description: 'sign in to an Emporia account, print one registry entry per channel, exit',
    },
    email: { type: 'string', description: 'Emporia account e-mail, for --discover-emporia' },
    'password-file': {
      type: 'string',
      description: 'file holding the Emporia password, for --discover-emporia',
    },
    'password-env': {
      type: 'string',
      description: 'environment variable holding the Emporia password, for --discover-emporia',
    },
    location: {
      type: 'string',
      description: 'location of the entries --discover-emporia prints',
      default: 'home',
    },
    'data-dir': {
      type: 'string',
      description: 'where --discover-emporia and the entries keep the sign-in tokens',
    },
    'emporia-api-url': { type: 'string', description: "Emporia's API root (default: the real cloud)" },
    'emporia-cognito-url': {
      type: 'string',
      description: 'Cognito endpoint of the sign-in (default: the real one)',
    },
  },
  commands: {
    discover: {
      summary: 'find TP-Link plugs on the LAN, print registry entries',
      flag: 'discover',
      async run({ cli }) {
        const timeoutMs = Number(cli.values['discover-timeout-ms']);
        if (!Number.isInteger(timeoutMs) || timeoutMs < 100) {
          throw new ConfigError('--discover-timeout-ms must be an integer of at least 100');
        }
        const hosts = typeof cli.values.hosts === 'string' ? cli.values.hosts.split(',').filter(Boolean) : [];
        const broadcast = cli.values.broadcast as string | undefined;
        process.stdout.write(await runDiscovery({ timeoutMs, broadcast, hosts }));
      },
    },
    backfill: {
      summary:
        "read a device's own history (a TP-Link plug's daily and monthly energy, an Emporia Vue's hourly and per-minute energy) and publish it for the storage hook",
      async run({ cli, config, logger }) {
        await runBackfillCommand({
          config: config(),
          device: cli.values.device,
          days: cli.values.days,
          logger,
          out: (line) => process.stdout.write(`${line}\n`),
        });
      },
    },
    'discover-emporia': {
      summary: 'sign in to an Emporia account, print one registry entry per channel',
      flag: 'discover-emporia',
      async run({ cli, logger }) {
        const text = (name: string) =>
          typeof cli.values[name] === 'string' ? (cli.values[name] as string) : undefined;
        const email = text('email');
        if (!email) throw new ConfigError('--discover-emporia needs --email');
        if (!text('password-file') && !text('password-env')) {
          throw new ConfigError('--discover-emporia needs --password-file or --password-env');
        }
        const keys = {
          email,
          password_file: text('password-file'),
          password_env: text('password-env'),
          data_dir: text('data-dir'),
          api_url: text('emporia-api-url'),
          cognito_url: text('emporia-cognito-url'),
        };
        const defined = Object.fromEntries(Object.entries(keys).filter(([, value]) => value !== undefined));
        process.stdout.write(
          await runEmporiaDiscovery(defined as typeof keys, { location: text('location') ?? 'home', logger }),
        );
      },
    },
  },
  fromCli(config, { values }) {
    if (typeof values.registry === 'string') config.registry_file = values.registry;
    if (values.collector || values.controller) {
      config.collector = values.collector === true;
      config.controller = values.controller === true;
    }
  },
  check(config) {
    if (!isTimeZone(config.time_zone)) {
      throw new ConfigError(
        `time_zone ${JSON.stringify(config.time_zone)} is not an IANA time zone (e.g. Europe/Madrid)`,
      );
    }
    if (!config.registry_file) {
      throw new ConfigError(`no device registry: pass --registry <file> or set ${ENV_PREFIX}REGISTRY_FILE`);
    }
  },
  configErrors: [RegistryError],
  epilog: `Examples:
  wattbus-agent --registry devices.yaml
  wattbus-agent --registry meters.yaml --collector
  wattbus-agent --discover >> devices.yaml
  wattbus-agent --registry devices.yaml backfill --device desk-3 --days 60
  wattbus-agent --discover-emporia --email me@example.com --password-file emporia.secret >> devices.yaml

See services/agent/README.md for every key, docs/devices.md for the registry file.`,
  stopTimeoutMs: () => 15_000,
  async start({ config, logger, connect, metrics }) {
    // The registry is configuration too: a bad file fails here, before any connection.
    const registry = await loadRegistry(config.registry_file!);
    const agent = new Agent({ config, registry, logger, connect, metrics });
    await agent.start();
    // Devices added to, changed in or removed from the file apply without a restart.
    const watcher = new RegistryWatcher({
      file: config.registry_file!,
      apply: (next) => agent.updateRegistry(next),
      logger,
    });
    await watcher.start();
    return {
      stop: async () => {
        await watcher.stop();
        await agent.stop();
      },
    };
  },
});
