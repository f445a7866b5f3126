import {
  ConfigError,
  createLogger,
  parseCli,
  serveAdmin,
  ServiceMetrics,
  stopOnSignals,
} from '@wattbus/runtime';
import { ENV_PREFIX, loadAlertHookConfig } from './config.js';
import { AlertHook, SERVICE_NAME } from './hook.js';

const cli = parseCli({
  name: SERVICE_NAME,
  summary:
    'Raises and resolves alerts (offline, overload, outage, energy budget, platform health) from the WattBus topics, retains active alerts on {base}/alerts/{rule}/{subject}, and notifies webhooks.',
  options: {
    config: { type: 'string', short: 'c', description: 'YAML or JSON config file' },
    'check-config': { type: 'boolean', description: 'validate the configuration and exit' },
  },
  epilog: `Environment: every key can be set as ${ENV_PREFIX}<KEY>, nested keys joined by __, e.g.
  ${ENV_PREFIX}MQTT__URL=mqtt://broker:1883  ${ENV_PREFIX}INFLUX__URL=http://influx:8086
  ${ENV_PREFIX}DATA_DIR=/var/lib/wattbus/alerts  ${ENV_PREFIX}TIME_ZONE=Europe/Berlin
  ${ENV_PREFIX}RULES='[{"name":"offline","kind":"offline","for_ms":60000}]'
  ${ENV_PREFIX}ADMIN__HOST=0.0.0.0  ${ENV_PREFIX}ADMIN__PORT=9475  (/metrics)
LOG_LEVEL sets the log level (default info). See services/alert-hook/README.md for the rules.`,
});

const logger = createLogger(SERVICE_NAME);

async function main(): Promise<void> {
  const file = cli.values.config as string | undefined;
  const config = loadAlertHookConfig({ file });
  if (cli.values['check-config']) {
    process.stdout.write(
      `configuration ok: ${config.rules.length} rules, ${config.webhooks.length} webhooks\n`,
    );
    return;
  }
  const metrics = new ServiceMetrics(SERVICE_NAME);
  const hook = new AlertHook({ config, logger, metrics });
  const admin = await serveAdmin(config.admin, [metrics.registry], logger);
  const starting = hook.start();
  // Signals are handled from the first moment: a stop during start-up waits for it, then stops.
  stopOnSignals(logger, async () => {
    await starting.catch(() => undefined);
    await hook.stop();
    await admin?.stop();
  });
  await starting;
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${SERVICE_NAME}: ${error.message}\n`);
  } else {
    logger.error({ err: error }, 'alert hook failed to start');
    process.stderr.write(`${SERVICE_NAME}: ${(error as Error).message}\n`);
  }
  process.exit(1);
});
