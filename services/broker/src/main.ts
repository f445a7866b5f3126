import { parseArgs } from 'node:util';
import { createLogger, serveAdmin, ServiceMetrics } from '@wattbus/runtime';
import { Broker } from './broker.js';
import { parseBrokerConfig } from './config.js';
import { loadBrokerConfigFile } from './config-file.js';
import { runHashPassword } from './hash-password-command.js';

const USAGE = `Usage:
  broker [--config <file>]   run the MQTT broker (config is YAML or JSON; defaults without it)
  broker hash-password       read a password on stdin, print its scrypt hash for password_hash
  broker --help              show this help

Every setting is in the config file (host, port, ws_port, users, anonymous, …); the only
environment variable is LOG_LEVEL (pino level, default info). See services/broker/README.md.
`;

async function main(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { help: { type: 'boolean', short: 'h' }, config: { type: 'string', short: 'c' } },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const [command, ...extra] = positionals;
  if (command === 'hash-password' && extra.length === 0) {
    if (process.stdin.isTTY) {
      process.stderr.write('Type the password, then Enter and Ctrl-D (it is echoed; prefer a pipe).\n');
    }
    await runHashPassword(process.stdin, process.stdout);
    return;
  }
  if (command !== undefined) {
    throw new UsageError(`unexpected argument: ${positionals.join(' ')}`);
  }
  const config =
    values.config === undefined ? parseBrokerConfig({}) : await loadBrokerConfigFile(values.config);
  const logger = createLogger('broker');
  if (config.users.length === 0 && !config.anonymous.enabled) {
    logger.warn('no users and anonymous access disabled: every client will be refused');
  }
  const metrics = new ServiceMetrics('broker');
  const broker = new Broker({ config, logger, metrics });
  const ports = await broker.start();
  const admin = await serveAdmin(config.admin, [metrics.registry], logger);
  logger.info({ host: config.host, mqtt_port: ports.mqttPort, ws_port: ports.wsPort }, 'broker listening');

  const stop = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'stopping');
    // A second signal means "now": do not wait for clients any longer.
    process.once(signal, () => process.exit(1));
    Promise.all([broker.stop(), admin?.stop()]).then(
      () => logger.info('stopped'),
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

class UsageError extends Error {}

main(process.argv.slice(2)).catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  const isUsageError =
    error instanceof UsageError || (error as { code?: unknown }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
  process.stderr.write(`broker: ${message}\n${isUsageError ? USAGE : ''}`);
  process.exitCode = isUsageError ? 2 : 1;
});
