import type { Logger } from 'pino';

export interface ShutdownOptions {
  /** Exit anyway after this long, so a stuck connection cannot keep a stopped service alive. */
  timeoutMs?: number;
  signals?: NodeJS.Signals[];
}

/**
 * Stops the service once on SIGINT/SIGTERM: stop() should stop taking work, finish or hand
 * back what is in flight, and close connections. A second signal exits at once.
 */
export function stopOnSignals(
  logger: Logger,
  stop: () => Promise<void>,
  options: ShutdownOptions = {},
): void {
  const timeoutMs = options.timeoutMs ?? 10_000;
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal, timeout_ms: timeoutMs }, 'stopping');
    const timer = setTimeout(() => {
      logger.error({ timeout_ms: timeoutMs }, 'stop did not finish in time; exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  for (const signal of options.signals ?? ['SIGINT', 'SIGTERM']) process.on(signal, handler);
}

/**
 * Runs a part's `start`; if it fails, runs its `stop` to undo what it had started (stop() must
 * cope with a half-started part) and throws the start's error.
 */
export async function startOrUndo(start: () => Promise<void>, stop: () => Promise<void>): Promise<void> {
  try {
    await start();
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}
