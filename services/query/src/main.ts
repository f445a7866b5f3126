import { busConnection } from '@wattbus/bus';
import { ConfigError, runService } from '@wattbus/runtime';
import { QueryConfigSchema } from './config.js';
import { QueryComponent, checkConfig } from './component.js';

await runService({
  name: 'query',
  summary:
    'Answers wattbus/query/req/{method} (devices, latest, readings, energy, totals, cost) from memory and InfluxDB.',
  schema: QueryConfigSchema,
  envPrefix: 'WATTBUS_QUERY_',
  check(config, file) {
    try {
      checkConfig(config);
    } catch (error) {
      throw new ConfigError(`invalid configuration${file ? ` in ${file}` : ''}: ${(error as Error).message}`);
    }
  },
  epilog: [
    'Examples:',
    '  WATTBUS_QUERY_MQTT__URL=mqtt://broker:1883  WATTBUS_QUERY_TIME_ZONE=Europe/Madrid',
    '  WATTBUS_QUERY_MQTT__SHARE_GROUP=query       (split requests; brokers with $share, checked at start)',
    '  WATTBUS_QUERY_TARIFF=\'{"currency":"EUR","price_per_kwh":0.2}\'',
    'See services/query/README.md for every key.',
  ].join('\n'),
  async start({ config, logger, connect, metrics }) {
    const bus = await connect({ ...busConnection(config.mqtt), service: 'query' });
    const component = new QueryComponent({ bus, config, logger, metrics });
    await component.start();
    return component;
  },
});
