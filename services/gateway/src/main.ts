import {
  ConfigError,
  createLogger,
  loadConfig,
  parseCli,
  serveAdmin,
  ServiceMetrics,
  stopOnSignals,
} from '@wattbus/runtime';
import { ENV_PREFIX, GatewayConfigSchema } from './config.js';
import { connectGatewayBus } from './connect-bus.js';
import { Gateway } from './gateway.js';
import { runMakeKey, UsageError } from './make-key-command.js';

const cli = parseCli({
  name: 'gateway',
  summary: [
    'The WattBus REST gateway: HTTP calls become correlated MQTT requests (openapi.yaml, Swagger UI at /docs).',
    '',
    'Commands:',
    '  gateway [--config <file>]                      run the gateway',
    '  gateway make-key --scopes read,control --name <who>',
    '                                                 print a new API key and its config entry (sha256)',
  ].join('\n'),
  options: {
    config: { type: 'string', short: 'c', description: 'YAML or JSON config file (every key has a default)' },
    scopes: {
      type: 'string',
      description: 'make-key: comma-separated scopes (read, control)',
      default: 'read',
    },
    name: {
      type: 'string',
      description: 'make-key: who holds the key (logged instead of it)',
      default: 'client',
    },
  },
  epilog: [
    'Environment (overrides the file; nested keys with __):',
    '  WATTBUS_GATEWAY_HOST, WATTBUS_GATEWAY_PORT, WATTBUS_GATEWAY_MQTT__URL, WATTBUS_GATEWAY_MQTT__USERNAME,',
    '  WATTBUS_GATEWAY_MQTT__PASSWORD, WATTBUS_GATEWAY_API_KEYS (JSON array), WATTBUS_GATEWAY_CORS_ORIGINS,',
    '  WATTBUS_GATEWAY_QUERY_TIMEOUT_MS, WATTBUS_GATEWAY_DEVICE_TIMEOUT_MS, WATTBUS_GATEWAY_MAX_IN_FLIGHT,',
    '  WATTBUS_GATEWAY_ADMIN__HOST, WATTBUS_GATEWAY_ADMIN__PORT (9474: /metrics), …',
    '  LOG_LEVEL (default info). See services/gateway/README.md for every key.',
  ].join('\n'),
});

async function main(): Promise<void> {
  const [command, ...extra] = cli.positionals;
  if (command === 'make-key' && extra.length === 0) {
    runMakeKey({ scopes: String(cli.values.scopes), name: String(cli.values.name) }, process.stdout);
    return;
  }
  if (command !== undefined) throw new UsageError(`unexpected argument: ${cli.positionals.join(' ')}`);

  const config = loadConfig({
    schema: GatewayConfigSchema,
    file: cli.values.config as string | undefined,
    envPrefix: ENV_PREFIX,
  });
  const logger = createLogger('gateway');
  const bus = await connectGatewayBus(config, logger);
  const metrics = new ServiceMetrics('gateway');
  const gateway = new Gateway({ config, bus, logger, metrics });
  await gateway.start();
  const admin = await serveAdmin(config.admin, [metrics.registry], logger);
  stopOnSignals(
    logger,
    async () => {
      await gateway.stop();
      await bus.stop();
      await admin?.stop();
    },
    // stop() itself gives in-flight requests stop_timeout_ms; leave it room to close the rest.
    { timeoutMs: config.stop_timeout_ms + 5_000 },
  );
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(
    `gateway: ${message}\n${error instanceof UsageError ? "Try 'gateway --help'.\n" : ''}`,
  );
  process.exitCode = error instanceof UsageError ? 2 : error instanceof ConfigError ? 78 : 1;
});
