import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, portOpen } from './ports.js';
import { requireBinary, startWatched, waitUntil, type WatchedProcess } from './process.js';

/**
 * A server binary on a free loopback port with a throw-away dir, behind the watchdog: the shared
 * lifecycle of the harness's mosquitto, redis-server and Prometheus. stop()/start() keep port and dir.
 */
export abstract class LocalServer {
  readonly dir: string;
  readonly #binary: string;
  #port = 0;
  #process: WatchedProcess | undefined;

  constructor(binary: string, debianPackage: string, dirPrefix: string) {
    this.#binary = requireBinary(binary, debianPackage);
    this.dir = mkdtempSync(join(tmpdir(), dirPrefix));
  }

  get port(): number {
    return this.#port;
  }

  abstract get url(): string;

  /** Writes the config for `port` (first start only) and returns the binary's arguments. */
  protected abstract configure(port: number): string[];

  /** Whether the server answers yet; an open port unless the server says readiness another way. */
  protected ready(port: number): Promise<boolean> {
    return portOpen(port);
  }

  async start(): Promise<this> {
    const first = this.#port === 0;
    if (first) this.#port = await freePort();
    const args = this.configure(this.#port);
    const process = startWatched(this.#binary, args, join(this.dir, 'server.log'));
    this.#process = process;
    await waitUntil(`${this.#binary} on ${this.url}`, () => this.ready(this.#port), {
      diagnostics: () => process.log(),
    });
    return this;
  }

  async stop(): Promise<void> {
    await this.#process?.stop();
    this.#process = undefined;
  }

  /** Stops the server and deletes its dir. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The server's own log output, for assertion messages. */
  log(): string {
    return this.#process?.log() ?? '';
  }
}
