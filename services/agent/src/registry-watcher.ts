import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { loadRegistry, RegistryError, type Registry } from '@wattbus/devices';
import type { Logger } from 'pino';

export interface RegistryWatcherDeps {
  file: string;
  /** Called with every valid new version of the file, one at a time. */
  apply: (registry: Registry) => Promise<unknown>;
  logger: Logger;
  /** Quiet time after the last change before the file is read (editors write in several steps). */
  debounceMs?: number;
}

/**
 * Watches a device registry file and hands each valid new version to `apply`, so devices added
 * (or removed) in the file are picked up without a restart. It watches the file's folder, not the
 * file: editors save by writing a new file and renaming it over the old one, which would end a
 * watch on the file itself. A version that is not valid is reported and the running devices stay.
 * It never writes the file.
 */
export class RegistryWatcher {
  #deps: RegistryWatcherDeps;
  #file: string;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastDigest: string | undefined;
  #checking: Promise<void> = Promise.resolve();

  constructor(deps: RegistryWatcherDeps) {
    this.#deps = deps;
    this.#file = resolve(deps.file);
  }

  /** Starts watching; the file's current content counts as applied already. */
  async start(): Promise<void> {
    this.#lastDigest = await this.#digest();
    const name = basename(this.#file);
    this.#watcher = watch(dirname(this.#file), (_event, changed) => {
      if (changed !== null && changed !== name) return;
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => void this.check(), this.#deps.debounceMs ?? 300);
    });
    this.#watcher.on('error', (error) =>
      this.#deps.logger.warn({ err: error, file: this.#file }, 'cannot watch the devices file'),
    );
  }

  stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
    return this.#checking;
  }

  /** Reads the file now and applies it when its content changed (also for a SIGHUP or an API call). */
  check(): Promise<void> {
    this.#checking = this.#checking
      .then(() => this.#check())
      .catch((error: unknown) =>
        this.#deps.logger.error({ err: error, file: this.#file }, 'could not read the devices file'),
      );
    return this.#checking;
  }

  async #check(): Promise<void> {
    const { logger } = this.#deps;
    const digest = await this.#digest();
    if (digest === undefined) {
      if (this.#lastDigest !== undefined) {
        logger.warn({ file: this.#file }, 'the devices file is gone; the devices keep running');
      }
      this.#lastDigest = undefined;
      return;
    }
    if (digest === this.#lastDigest) return;
    let registry: Registry;
    try {
      registry = await loadRegistry(this.#file);
    } catch (error) {
      if (!(error instanceof RegistryError)) throw error;
      // Remembered, so the same broken version is reported once, not on every save of another file.
      this.#lastDigest = digest;
      logger.error(
        { file: this.#file, problems: error.problems.length },
        `devices file not applied; the devices keep running as before. ${error.message}`,
      );
      return;
    }
    this.#lastDigest = digest;
    try {
      await this.#deps.apply(registry);
    } catch (error) {
      logger.error({ err: error, file: this.#file }, 'could not apply the changed devices file');
    }
  }

  async #digest(): Promise<string | undefined> {
    try {
      return createHash('sha256')
        .update(await readFile(this.#file))
        .digest('hex');
    } catch {
      return undefined;
    }
  }
}
