import { DEFAULT_BASE_TOPIC } from '@wattbus/contracts';
import { HealthPublisher, runService } from '@wattbus/runtime';
import { Broker } from './broker.js';
import { BrokerConfigSchema, ENV_PREFIX, parseBrokerConfig } from './config.js';
import { runHashPassword } from './hash-password-command.js';

await runService({
  name: 'broker',
  summary:
    'The embedded MQTT broker (aedes, MQTT 3.1.1): TCP and WebSocket listeners, users with scrypt password hashes, per-user topic ACLs.',
  schema: BrokerConfigSchema,
  envPrefix: ENV_PREFIX,
  parse: parseBrokerConfig,
  commands: {
    'hash-password': {
      summary: 'read a password on stdin, print its scrypt hash for password_hash',
      async run() {
        if (process.stdin.isTTY) {
          process.stderr.write('Type the password, then Enter and Ctrl-D (it is echoed; prefer a pipe).\n');
        }
        await runHashPassword(process.stdin, process.stdout);
      },
    },
  },
  epilog: 'Without a command it runs the broker. See services/broker/README.md for every key.',
  // The broker's own stop_timeout_ms cuts the clients that do not go; leave it room.
  stopTimeoutMs: (config) => config.stop_timeout_ms + 5_000,
  async start({ config, logger, metrics }) {
    if (config.users.length === 0 && !config.anonymous.enabled) {
      logger.warn('no users and anonymous access disabled: every client will be refused');
    }
    const broker = new Broker({ config, logger, metrics });
    const ports = await broker.start();
    // The broker is the bus: it publishes its health to itself, as no client.
    const health = new HealthPublisher({
      bus: {
        topics: { base: config.base_topic ?? DEFAULT_BASE_TOPIC },
        get connected() {
          return broker.running;
        },
        publish: (topic, payload, options) => broker.publish(topic, payload, options),
      },
      service: 'broker',
      logger,
      metrics: () => ({ ...broker.metrics() }),
    });
    await health.start();
    logger.info(
      {
        host: config.host,
        mqtt_port: ports.mqttPort,
        ws_port: ports.wsPort,
        tls_port: ports.tlsPort,
        wss_port: ports.wssPort,
      },
      'broker listening',
    );
    return {
      async stop() {
        await health.stop();
        await broker.stop();
      },
    };
  },
});
