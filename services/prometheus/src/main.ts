import { runService, serveMetrics } from '@wattbus/runtime';
import { ENV_PREFIX, PrometheusHookConfigSchema } from './config.js';
import { PrometheusHook, SERVICE_NAME } from './hook.js';

await runService({
  name: SERVICE_NAME,
  summary:
    'Serves the fleet as Prometheus metrics on /metrics: wattbus_* series for every device, and the kasa_* names of tplink-plug-exporter for TP-Link plugs.',
  schema: PrometheusHookConfigSchema,
  envPrefix: ENV_PREFIX,
  epilog: 'See services/prometheus/README.md and docs/prometheus.md.',
  async start({ config, logger, connect, metrics }) {
    const hook = new PrometheusHook({ config, logger, connect, metrics });
    await hook.start();
    // Device series and the hook's own on one page: one scrape target, as the exporter was.
    const server = await serveMetrics({
      host: config.host,
      port: config.port,
      registries: [hook.registry, metrics.registry],
      logger,
    });
    return {
      async stop() {
        await server.stop();
        await hook.stop();
      },
    };
  },
});
