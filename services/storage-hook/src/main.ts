import { createLogger, loadConfig, parseCli, stopOnSignals } from '@wattbus/runtime';
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
    `  ${ENV_PREFIX}INFLUX__PASSWORD, ${ENV_PREFIX}LOG__DIR, ${ENV_PREFIX}LOG__MAX_BYTES, … (see services/storage-hook/README.md)`,
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
  const hook = new StorageHook({ config, logger });
  stopOnSignals(logger, () => hook.stop(), { timeoutMs: config.stop_flush_timeout_ms + 10_000 });
  await hook.start();
} catch (error) {
  logger.fatal({ err: error }, (error as Error).message);
  process.exit(1);
}
