import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Keys that never reach a log line, wherever they appear. */
const SECRET_PATHS = [
  'password',
  'token',
  'api_key',
  'authorization',
  '*.password',
  '*.token',
  '*.api_key',
  '*.authorization',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
];

/** JSON logs, one line per event, with the service name on every line; to stdout unless `destination` is given. */
export function createLogger(
  service: string,
  level: string = process.env.LOG_LEVEL ?? 'info',
  destination?: DestinationStream,
): Logger {
  const options = { name: service, level, redact: { paths: SECRET_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that discards everything, for tests that start many parts in one process. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
