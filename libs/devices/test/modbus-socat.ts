import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { requireBinary, startWatched, waitUntil, type WatchedProcess } from '@wattbus/testing';

/**
 * A socat pty pair (`a` for the master, `b` for the simulated meters), started behind the
 * harness's watchdog so it never outlives the test. `stop()` and `start()` play an RS485
 * adapter unplugged and plugged in again: the ptys vanish and come back under the same links.
 */
export class PtyPair {
  readonly a: string;
  readonly b: string;
  #dir: string;
  #process: WatchedProcess | undefined;

  constructor(dir: string) {
    this.#dir = dir;
    this.a = join(dir, 'a');
    this.b = join(dir, 'b');
  }

  async start(): Promise<void> {
    const socat = requireBinary('socat', 'socat');
    this.#process = startWatched(
      socat,
      ['-d', '-d', `pty,raw,echo=0,link=${this.a}`, `pty,raw,echo=0,link=${this.b}`],
      join(this.#dir, 'socat.log'),
    );
    const process = this.#process;
    await waitUntil('socat pty links', async () => existsSync(this.a) && existsSync(this.b), {
      timeoutMs: 10_000,
      diagnostics: () => process.log(),
    });
  }

  async stop(): Promise<void> {
    await this.#process?.stop();
    this.#process = undefined;
    // socat removes its links on exit; a restart must not find the old ones.
    await waitUntil('socat links removed', async () => !existsSync(this.a) && !existsSync(this.b), {
      timeoutMs: 5000,
    });
  }
}

/** RTU frames through a TCP gateway: socat between a listening TCP port and a pty for the meters. */
export class RtuGateway {
  readonly tty: string;
  readonly port: number;
  #dir: string;
  #process: WatchedProcess | undefined;

  constructor(dir: string, port: number) {
    this.#dir = dir;
    this.tty = join(dir, 'gateway');
    this.port = port;
  }

  async start(): Promise<void> {
    const socat = requireBinary('socat', 'socat');
    // The pty first: socat opens it at once, then waits for the TCP client.
    this.#process = startWatched(
      socat,
      ['-d', '-d', `pty,raw,echo=0,link=${this.tty}`, `tcp-listen:${this.port},bind=127.0.0.1,reuseaddr`],
      join(this.#dir, 'gateway.log'),
    );
    const process = this.#process;
    await waitUntil('socat gateway pty', async () => existsSync(this.tty), {
      timeoutMs: 10_000,
      diagnostics: () => process.log(),
    });
  }

  async stop(): Promise<void> {
    await this.#process?.stop();
    this.#process = undefined;
  }
}
