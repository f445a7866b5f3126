import { Type, type Static } from '@sinclair/typebox';
import { Cron } from 'croner';
import { MqttConnectionSchema } from '@wattbus/bus';
import { InfluxConnectionSchema } from '@wattbus/influx';
import { adminSchema, ConfigError, loadConfig } from '@wattbus/runtime';

export const KeepSchema = Type.Object(
  {
    last: Type.Integer({ minimum: 1, default: 10, description: 'The newest N backups.' }),
    daily: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'One restore point for each of the last N days.',
    }),
    weekly: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'One restore point for each of the last N ISO weeks.',
    }),
    monthly: Type.Integer({
      minimum: 0,
      default: 0,
      description: 'One restore point for each of the last N months.',
    }),
  },
  { additionalProperties: false, default: {} },
);
export type Keep = Static<typeof KeepSchema>;

export const BackupConfigSchema = Type.Object(
  {
    influx: InfluxConnectionSchema,
    directory: Type.String({
      minLength: 1,
      default: './backups',
      description: 'Where backups are written (a local disk or a mounted NAS).',
    }),
    schedule: Type.String({
      minLength: 1,
      default: '0 * * * *',
      description: 'Cron expression of the backup runs, 5 or 6 fields (default hourly).',
    }),
    full_schedule: Type.String({
      minLength: 1,
      default: '0 0 * * 1',
      description:
        'A run is a full backup when this cron expression fired since the last full one (default weekly, Monday 00:00).',
    }),
    time_zone: Type.String({
      minLength: 1,
      default: 'UTC',
      description: 'Time zone of the cron expressions and of the daily/weekly/monthly tiers.',
    }),
    overlap_ms: Type.Integer({
      minimum: 0,
      default: 900_000,
      description:
        'An incremental backup starts this long before the previous one ended, so late points are caught.',
    }),
    window_ms: Type.Integer({
      minimum: 1000,
      default: 3_600_000,
      description: 'Time window of one read query.',
    }),
    chunk_size: Type.Integer({
      minimum: 100,
      maximum: 100_000,
      default: 10_000,
      description: 'Rows per chunk of a streamed read.',
    }),
    write_batch_points: Type.Integer({
      minimum: 1,
      maximum: 100_000,
      default: 5000,
      description: 'Points per /write request on restore.',
    }),
    measurements: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { description: 'Only these measurements (default: all).' }),
    ),
    copy_files: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Configuration and registry files copied into every backup.',
    }),
    keep: KeepSchema,
    mqtt: Type.Object(MqttConnectionSchema.properties, {
      additionalProperties: false,
      default: {},
      description: 'The broker the `run` service publishes its health on (wattbus/health/backup).',
    }),
    admin: adminSchema(9476),
  },
  { additionalProperties: false },
);
export type BackupConfig = Static<typeof BackupConfigSchema>;

export const ENV_PREFIX = 'WATTBUS_BACKUP_';

/** Loads and checks the config: schema first, then what a schema cannot say (cron syntax, time zone). */
export function loadBackupConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): BackupConfig {
  const config = loadConfig({ schema: BackupConfigSchema, file, env, envPrefix: ENV_PREFIX });
  checkBackupConfig(config, file);
  return config;
}

export function checkBackupConfig(config: BackupConfig, file?: string): void {
  const where = file === undefined ? '' : ` in ${file}`;
  const problems: string[] = [];
  try {
    new Intl.DateTimeFormat('en', { timeZone: config.time_zone });
  } catch {
    problems.push(
      `/time_zone: unknown time zone '${config.time_zone}' (use an IANA name such as Europe/Berlin)`,
    );
  }
  for (const key of ['schedule', 'full_schedule'] as const) {
    try {
      cronOf(config[key], 'UTC');
    } catch (error) {
      problems.push(`/${key}: '${config[key]}' is not a cron expression: ${(error as Error).message}`);
    }
  }
  try {
    new URL(config.influx.url);
  } catch {
    problems.push(`/influx/url: '${config.influx.url}' is not a URL`);
  }
  if (problems.length > 0)
    throw new ConfigError(`invalid configuration${where}:\n  ${problems.join('\n  ')}`);
}

/** A paused croner job: we only ask it for the next run, our own timer does the waiting. */
export function cronOf(pattern: string, timeZone: string): Cron {
  return new Cron(pattern, { paused: true, timezone: timeZone, mode: '5-or-6-parts' });
}
