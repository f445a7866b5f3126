import {
  createLogger,
  loadConfig,
  parseCli,
  serveMetrics,
  ServiceMetrics,
  stopOnSignals,
} from '@wattbus/runtime';
import { ENV_PREFIX, PrometheusHookConfigSchema } from './config.js';
import { PrometheusHook, SERVICE_NAME } from './hook.js';

const cli = parseCli({
  name: SERVICE_NAME,
  summary:
    'Serves the fleet as Prometheus metrics on /metrics: wattbus_* series for every device, and the kasa_* names of tplink-plug-exporter for TP-Link plugs.',
  options: {
    config: { type: 'string', short: 'c', description: 'YAML or JSON config file (optional)' },
  },
  epilog: [
    'Environment (overrides the file):',
    `  ${ENV_PREFIX}MQTT__URL, ${ENV_PREFIX}MQTT__USERNAME, ${ENV_PREFIX}MQTT__PASSWORD,`,
    `  ${ENV_PREFIX}HOST (127.0.0.1), ${ENV_PREFIX}PORT (9233), ${ENV_PREFIX}STALE_AFTER_POLLS (5)`,
    '  LOG_LEVEL (info). See services/prometheus/README.md.',
  ].join('\n'),
});

const logger = createLogger(SERVICE_NAME);
try {
  const config = loadConfig({
    schema: PrometheusHookConfigSchema,
    file: typeof cli.values.config === 'string' ? cli.values.config : undefined,
    envPrefix: ENV_PREFIX,
  });
  const metrics = new ServiceMetrics(SERVICE_NAME);
  const hook = new PrometheusHook({ config, logger, metrics });
  await hook.start();
  // Device series and the hook's own on one page: one scrape target, as the exporter was.
  const server = await serveMetrics({
    host: config.host,
    port: config.port,
    registries: [hook.registry, metrics.registry],
    logger,
  });
  stopOnSignals(logger, async () => {
    await server.stop();
    await hook.stop();
  });
} catch (error) {
  logger.fatal({ err: error }, (error as Error).message);
  process.exit(1);
}
