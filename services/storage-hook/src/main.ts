import {
  createLogger,
  loadConfig,
  parseCli,
  serveAdmin,
  ServiceMetrics,
  stopOnSignals,
} from '@wattbus/runtime';
import { ENV_PREFIX, StorageHookConfigSchema } from './config.js';
import { SERVICE_NAME, StorageHook } from './storage-hook.js';

const cli = parseCli({
  name: 'storage-hook',
  summary:
    'Writes every reading from the broker into InfluxDB (1.x, 2.x, 3.x) through a local write-ahead log: none lost across restarts or outages.',
  options: {
    config: { type: 'string', short: 'c', description: 'YAML or JSON config file (optional)' },
  },
  epilog: [
    'Environment (overrides the file):',
    `  ${ENV_PREFIX}MQTT__URL, ${ENV_PREFIX}MQTT__CLIENT_ID, ${ENV_PREFIX}MQTT__SHARE_GROUP,`,
    `  ${ENV_PREFIX}INFLUX__URL, ${ENV_PREFIX}INFLUX__DATABASE, ${ENV_PREFIX}INFLUX__USERNAME,`,
    `  ${ENV_PREFIX}INFLUX__PASSWORD, ${ENV_PREFIX}LOG__DIR, ${ENV_PREFIX}LOG__MAX_BYTES,`,
    `  ${ENV_PREFIX}ADMIN__HOST, ${ENV_PREFIX}ADMIN__PORT (9472: /metrics), … (see services/storage-hook/README.md)`,
    '  LOG_LEVEL (info)',
  ].join('\n'),
});

const logger = createLogger(SERVICE_NAME);
try {
  const config = loadConfig({
    schema: StorageHookConfigSchema,
    file: typeof cli.values.config === 'string' ? cli.values.config : undefined,
    envPrefix: ENV_PREFIX,
  });
  const metrics = new ServiceMetrics(SERVICE_NAME);
  const hook = new StorageHook({ config, logger, metrics });
  const admin = await serveAdmin(config.admin, [metrics.registry], logger);
  stopOnSignals(
    logger,
    async () => {
      await hook.stop();
      await admin?.stop();
    },
    { timeoutMs: config.stop_flush_timeout_ms + 10_000 },
  );
  await hook.start();
} catch (error) {
  logger.fatal({ err: error }, (error as Error).message);
  process.exit(1);
}
