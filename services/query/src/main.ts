import { Bus, busConnection } from '@wattbus/bus';
import {
  ConfigError,
  createLogger,
  loadConfig,
  parseCli,
  serveAdmin,
  ServiceMetrics,
  stopOnSignals,
} from '@wattbus/runtime';
import { QueryConfigSchema } from './config.js';
import { QueryComponent, checkConfig } from './component.js';

const cli = parseCli({
  name: 'wattbus-query',
  summary:
    'Answers wattbus/query/req/{method} (devices, latest, readings, energy, totals, cost) from memory and InfluxDB.',
  options: { config: { type: 'string', short: 'c', description: 'YAML or JSON config file' } },
  epilog: [
    'Environment (overrides the file): WATTBUS_QUERY_<KEY>, nested keys joined by __, e.g.',
    '  WATTBUS_QUERY_MQTT__URL=mqtt://broker:1883  WATTBUS_QUERY_INFLUX__URL=http://influxdb:8086',
    '  WATTBUS_QUERY_INFLUX__DATABASE=wattbus       WATTBUS_QUERY_TIME_ZONE=Europe/Madrid',
    '  WATTBUS_QUERY_MQTT__SHARE_GROUP=""          (brokers without shared subscriptions, e.g. aedes)',
    '  WATTBUS_QUERY_TARIFF=\'{"currency":"EUR","price_per_kwh":0.2}\'',
    '  WATTBUS_QUERY_ADMIN__HOST=0.0.0.0  WATTBUS_QUERY_ADMIN__PORT=9473  (/metrics)',
    'See services/query/README.md for every key.',
  ].join('\n'),
});

const logger = createLogger('query');

async function main(): Promise<void> {
  const config = loadConfig({
    schema: QueryConfigSchema,
    file: cli.values.config as string | undefined,
    envPrefix: 'WATTBUS_QUERY_',
  });
  try {
    checkConfig(config); // before connecting: a typo'd zone should not wait for the broker first
  } catch (error) {
    throw new ConfigError(`invalid configuration: ${(error as Error).message}`);
  }
  const bus = await Bus.connect({
    ...busConnection(config.mqtt),
    service: 'query',
    logger,
  });
  const metrics = new ServiceMetrics('query');
  const component = new QueryComponent({ bus, config, logger, metrics });
  const admin = await serveAdmin(config.admin, [metrics.registry], logger);
  stopOnSignals(logger, async () => {
    await component.stop();
    await bus.stop();
    await admin?.stop();
  });
  await component.start();
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) process.stderr.write(`wattbus-query: ${error.message}\n`);
  else logger.fatal({ err: error }, 'query component failed to start');
  process.exit(1);
});
