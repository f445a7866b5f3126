import { Type, type Static } from '@sinclair/typebox';
import { MqttConnectionSchema } from '@wattbus/bus';

/** Environment variables: `WATTBUS_PROMETHEUS_<KEY>`, nested keys joined by `__` (e.g. `..._MQTT__URL`). */
export const ENV_PREFIX = 'WATTBUS_PROMETHEUS_';

/** tplink-plug-exporter's port, so a Prometheus scraping the exporter finds the hook where it was. */
export const DEFAULT_PORT = 9233;

export const PrometheusHookConfigSchema = Type.Object(
  {
    mqtt: MqttConnectionSchema,
    host: Type.String({
      default: '127.0.0.1',
      description: 'Address of the /metrics listener; 0.0.0.0 to let a Prometheus elsewhere scrape it.',
    }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: DEFAULT_PORT,
      description: "Port of /metrics (tplink-plug-exporter's 9233); 0 lets the OS choose.",
    }),
    stale_after_polls: Type.Integer({
      minimum: 0,
      default: 5,
      description:
        "A device's reading series disappear when no reading arrived for this many poll intervals; 0 keeps them until availability says offline.",
    }),
  },
  { additionalProperties: false },
);
export type PrometheusHookConfig = Static<typeof PrometheusHookConfigSchema>;
