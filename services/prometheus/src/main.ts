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
    // Device series and the hook's own on one page: one scrape target, as the exporter was.
    // Listening first: the page is up (empty of devices) by the time the health says running.
    const server = await serveMetrics({
      host: config.host,
      port: config.port,
      registries: [hook.registry, metrics.registry],
      logger,
    });
    try {
      await hook.start();
    } catch (error) {
      await server.stop();
      throw error;
    }
    return {
      async stop() {
        await server.stop();
        await hook.stop();
      },
    };
  },
});
