import {
  ConfigError,
  createLogger,
  parseCli,
  serveAdmin,
  ServiceMetrics,
  stopOnSignals,
} from '@wattbus/runtime';
import { ChainError } from './catalog.js';
import { commandList, commandNow, commandRestore, commandVerify, UsageError, type CommandIo } from './cli.js';
import { ENV_PREFIX, loadBackupConfig } from './config.js';
import { InfluxError } from './influx-http.js';
import { ManifestError } from './manifest.js';
import { RestoreRefusedError } from './restore.js';
import { BackupService } from './service.js';

const spec = {
  name: 'wattbus backup',
  summary: `Backs up InfluxDB (all measurements, as gzip line protocol with a manifest) and restores it.

Commands:
  now                 take a backup now (incremental, or full when due or with --full), then rotate
  list                list the backups in the configured directory
  verify <dir>        check checksums and parse every line of one backup, or of every backup in <dir>
  restore <dir>       write a backup (and the backups it continues) into InfluxDB; idempotent;
                      <dir> is one backup, or the backup directory for its newest backup
  run                 the service: back up on the cron schedule, rotate, report health`,
  options: {
    config: { type: 'string', short: 'c', description: 'YAML or JSON config file' },
    full: { type: 'boolean', description: 'now: take a full backup' },
    'influx-url': { type: 'string', description: 'restore: write to this InfluxDB instead of influx.url' },
    database: { type: 'string', description: 'restore: write into this database instead of influx.database' },
    from: {
      type: 'string',
      description: 'restore: only points at or after this time (ISO 8601 or epoch ms)',
    },
    to: { type: 'string', description: 'restore: only points before this time (ISO 8601 or epoch ms)' },
  },
  epilog: `Every config key can also come from the environment: ${ENV_PREFIX}DIRECTORY, ${ENV_PREFIX}INFLUX__URL,
${ENV_PREFIX}INFLUX__PASSWORD, ${ENV_PREFIX}KEEP__LAST, ${ENV_PREFIX}MQTT__URL, ${ENV_PREFIX}ADMIN__PORT (run: /metrics on 9476), …
Exit codes: 0 done, 1 failed (a damaged backup, an unreachable server), 2 bad usage or config.
See services/backup/README.md and docs/backup.md.`,
} as const;

async function main(): Promise<number> {
  const { values, positionals } = parseCli(spec);
  const [command, ...args] = positionals;
  // The one-shot commands print their own summary; JSON log lines are for the service (or LOG_LEVEL).
  const logger = createLogger('backup', process.env.LOG_LEVEL ?? (command === 'run' ? 'info' : 'silent'));
  const io: CommandIo = { out: process.stdout, err: process.stderr, logger };
  const expectArgs = (count: number, usage: string) => {
    if (args.length !== count) throw new UsageError(`usage: wattbus backup ${usage}`);
  };
  const config = () => loadBackupConfig(values.config as string | undefined);
  switch (command) {
    case 'now':
      expectArgs(0, 'now [--full]');
      return commandNow(config(), values.full === true, io);
    case 'list':
      expectArgs(0, 'list');
      return commandList(config(), io);
    case 'verify':
      expectArgs(1, 'verify <dir>');
      return commandVerify(args[0]!, io);
    case 'restore':
      expectArgs(1, 'restore <dir> [--influx-url …] [--database …] [--from …] [--to …]');
      return commandRestore(
        config(),
        {
          target: args[0]!,
          influxUrl: values['influx-url'] as string | undefined,
          database: values.database as string | undefined,
          from: values.from as string | undefined,
          to: values.to as string | undefined,
        },
        io,
      );
    case 'run': {
      expectArgs(0, 'run');
      const loaded = config();
      // Loaded only here: the one-shot commands need no MQTT client.
      const { HealthReporter } = await import('./health-reporter.js');
      const health = loaded.mqtt
        ? new HealthReporter({ mqtt: loaded.mqtt, logger, now: Date.now })
        : undefined;
      const metrics = new ServiceMetrics('backup');
      const service = new BackupService({ config: loaded, logger, health, metrics });
      const admin = await serveAdmin(loaded.admin, [metrics.registry], logger);
      await service.start();
      logger.info(
        { schedule: loaded.schedule, full_schedule: loaded.full_schedule, directory: loaded.directory },
        'backup service started',
      );
      stopOnSignals(
        logger,
        async () => {
          await service.stop();
          await admin?.stop();
        },
        { timeoutMs: 60_000 },
      );
      return new Promise<number>(() => undefined); // runs until a signal
    }
    case undefined:
      throw new UsageError(
        "a command is missing: now, list, verify <dir>, restore <dir> or run (try 'wattbus backup --help')",
      );
    default:
      throw new UsageError(`unknown command '${command}': use now, list, verify <dir>, restore <dir> or run`);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const known = error instanceof UsageError || error instanceof ConfigError;
    const refused =
      error instanceof RestoreRefusedError ||
      error instanceof ChainError ||
      error instanceof ManifestError ||
      error instanceof InfluxError;
    process.stderr.write(`wattbus backup: ${(error as Error).message}\n`);
    if (!known && !refused) process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    process.exitCode = known ? 2 : 1;
  },
);
