import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, type Logger } from '@wattbus/runtime';
import { multistream } from 'pino';
import roll from 'pino-roll';
import { ConsoleLog } from './console-log.js';

export type LogFormat = 'console' | 'json';

export interface PlatformLogger {
  logger: Logger;
  /** Where the JSON log files go (console format only). */
  logDir?: string;
  /** The console: lets its lines out after the banner. Undefined with `json`. */
  console?: ConsoleLog;
}

/**
 * `json`: every log line to stdout, as every other service does. `console`: every line to rotated
 * files under `logDir` (pino-roll: a new file each day or at 10 MB, seven kept, `current.log`
 * points at the newest) and the calm console on stdout.
 */
export async function createPlatformLogger(options: {
  format: LogFormat;
  logDir: string;
  level?: string;
}): Promise<PlatformLogger> {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  if (options.format === 'json') return { logger: createLogger('platform', level) };
  // Made here: pino-roll links current.log before its own mkdir has run.
  mkdirSync(options.logDir, { recursive: true });
  const files = await roll({
    file: join(options.logDir, 'wattbus'),
    extension: '.log',
    frequency: 'daily',
    size: '10m',
    limit: { count: 7 },
    symlink: true,
    mkdir: true,
  });
  // The last lines of a stop or a crash reach the file before the process ends.
  process.once('exit', () => files.flushSync());
  const console = new ConsoleLog({ out: (text) => process.stdout.write(text) });
  const streams = multistream([
    { level: level as 'info', stream: files },
    // The console sees warnings and the notable info lines, whatever LOG_LEVEL says.
    { level: 'info', stream: console },
  ]);
  const logger = createLogger('platform', minLevel(level, 'info'), streams);
  return { logger, logDir: options.logDir, console };
}

function minLevel(a: string, b: string): string {
  const order = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  return order.indexOf(a) <= order.indexOf(b) ? a : b;
}
