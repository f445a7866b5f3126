import { runService } from '@wattbus/runtime';
import { ENV_PREFIX, GatewayConfigSchema } from './config.js';
import { connectGatewayBus } from './connect-bus.js';
import { Gateway } from './gateway.js';
import { runMakeKey } from './make-key-command.js';

await runService({
  name: 'gateway',
  summary:
    'The WattBus REST gateway: HTTP calls become correlated MQTT requests (openapi.yaml, Swagger UI at /docs).',
  schema: GatewayConfigSchema,
  envPrefix: ENV_PREFIX,
  options: {
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
  commands: {
    'make-key': {
      summary: 'print a new API key and its config entry (sha256); --scopes, --name',
      run: async ({ cli }) =>
        runMakeKey({ scopes: String(cli.values.scopes), name: String(cli.values.name) }, process.stdout),
    },
  },
  epilog: 'Without a command it runs the gateway. See services/gateway/README.md for every key.',
  // stop() itself gives in-flight requests stop_timeout_ms; leave it room to close the rest.
  stopTimeoutMs: (config) => config.stop_timeout_ms + 5_000,
  async start({ config, logger, connect, metrics }) {
    const bus = await connectGatewayBus(config, logger, connect);
    const gateway = new Gateway({ config, bus, logger, metrics });
    await gateway.start();
    return gateway;
  },
});
