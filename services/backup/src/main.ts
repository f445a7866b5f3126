import { busConnection } from '@wattbus/bus';
import { busMetrics, runService, type Logger } from '@wattbus/runtime';
import { commandList, commandNow, commandRestore, commandVerify, type CommandIo } from './cli.js';
import { BackupConfigSchema, checkBackupConfig, ENV_PREFIX } from './config.js';
import { HealthReporter, SERVICE_NAME } from './health-reporter.js';
import { BackupService } from './service.js';

const io = (logger: Logger): CommandIo => ({ out: process.stdout, err: process.stderr, logger });

await runService({
  name: SERVICE_NAME,
  summary: 'Backs up InfluxDB (all measurements, as gzip line protocol with a manifest) and restores it.',
  schema: BackupConfigSchema,
  envPrefix: ENV_PREFIX,
  check: checkBackupConfig,
  options: {
    full: { type: 'boolean', description: 'now: take a full backup' },
    'influx-url': { type: 'string', description: 'restore: write to this InfluxDB instead of influx.url' },
    database: { type: 'string', description: 'restore: write into this database instead of influx.database' },
    from: {
      type: 'string',
      description: 'restore: only points at or after this time (ISO 8601 or epoch ms)',
    },
    to: { type: 'string', description: 'restore: only points before this time (ISO 8601 or epoch ms)' },
  },
  commands: {
    now: {
      summary: 'take a backup now (incremental, or full when due or with --full), then rotate',
      run: ({ cli, config, logger }) => commandNow(config(), cli.values.full === true, io(logger)),
    },
    list: {
      summary: 'list the backups in the configured directory',
      run: ({ config, logger }) => commandList(config(), io(logger)),
    },
    verify: {
      args: '<dir>',
      summary: 'check checksums and parse every line of one backup, or of every backup in <dir>',
      run: ({ args, logger }) => commandVerify(args[0]!, io(logger)),
    },
    restore: {
      args: '<dir>',
      summary:
        'write a backup (and the backups it continues) into InfluxDB; idempotent; <dir> is one backup, or the backup directory for its newest backup',
      run: ({ cli, args, config, logger }) =>
        commandRestore(
          config(),
          {
            target: args[0]!,
            influxUrl: cli.values['influx-url'] as string | undefined,
            database: cli.values.database as string | undefined,
            from: cli.values.from as string | undefined,
            to: cli.values.to as string | undefined,
          },
          io(logger),
        ),
    },
  },
  serviceCommand: {
    name: 'run',
    summary: 'the service: back up on the cron schedule, rotate, report health',
  },
  epilog: 'See services/backup/README.md and docs/backup.md.',
  // A run in progress finishes; a killed one leaves only a .partial directory.
  stopTimeoutMs: () => 60_000,
  async start({ config, logger, connect, metrics }) {
    const bus = await connect({ ...busConnection(config.mqtt), service: SERVICE_NAME });
    busMetrics(metrics, () => bus);
    const service = new BackupService({
      config,
      logger,
      health: new HealthReporter({ bus, logger }),
      metrics,
    });
    await service.start();
    logger.info(
      { schedule: config.schedule, full_schedule: config.full_schedule, directory: config.directory },
      'backup service started',
    );
    return service;
  },
});
