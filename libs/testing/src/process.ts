import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';

/**
 * Starts a server binary behind a tiny bash watchdog: the watchdog holds a pipe from us on
 * stdin and kills the server when that pipe closes, so a test process that dies (even by
 * SIGKILL) never leaves an influxd or mosquitto behind.
 */
const WATCHDOG = `
"$@" </dev/null &
child=$!
trap 'kill -TERM $child 2>/dev/null; wait $child; exit 0' TERM INT
read -r _
kill -TERM $child 2>/dev/null
wait $child
`;

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export class MissingBinaryError extends Error {
  constructor(binary: string, debianPackage: string) {
    super(
      `${binary} is not installed; the tests need a real ${binary}. Install it with: ` +
        `sudo apt-get install -y ${debianPackage}`,
    );
    this.name = 'MissingBinaryError';
  }
}

/** Full path of a binary on PATH or in the usual sbin folders, or a clear install hint. */
export function requireBinary(binary: string, debianPackage: string): string {
  for (const dir of [
    ...(process.env.PATH ?? '').split(':'),
    '/usr/sbin',
    '/usr/bin',
    '/sbin',
    '/usr/local/bin',
  ]) {
    if (dir && existsSync(`${dir}/${binary}`)) return `${dir}/${binary}`;
  }
  const which = spawnSync('which', [binary], { encoding: 'utf8' });
  if (which.status === 0) return which.stdout.trim();
  throw new MissingBinaryError(binary, debianPackage);
}

export interface WatchedProcess {
  readonly pid: number | undefined;
  /** Resolves once the server has exited. */
  readonly exited: Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** The server's own log output, for assertion messages. */
  log(): string;
}

export function startWatched(command: string, args: string[], logFile: string): WatchedProcess {
  const logFd = openSync(logFile, 'a');
  const child = spawn('bash', ['-c', WATCHDOG, 'watchdog', command, ...args], {
    stdio: ['pipe', logFd, logFd],
  });
  closeSync(logFd);
  running.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child);
      resolve();
    });
  });
  return {
    pid: child.pid,
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
}

/** Polls `probe` until it resolves true; the probe is the readiness event of a server we do not control. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number; diagnostics?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      const extra = options.diagnostics ? `\n${options.diagnostics().slice(-2000)}` : '';
      throw new Error(`${what} was not ready within ${options.timeoutMs ?? 30_000} ms${extra}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
}
