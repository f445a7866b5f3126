import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Alert } from '@wattbus/contracts';
import type { Logger } from 'pino';

/** One notification still owed to one sink (a webhook, or InfluxDB). */
export interface OutboxEntry {
  /** `{sink}:{alert id}.{state}`: unique per sink and transition. */
  id: string;
  sink: string;
  /** Idempotency key of the transition: `{alert id}.{state}`. */
  key: string;
  alert: Alert;
}

type Line = { op: 'add'; entry: OutboxEntry } | { op: 'done'; id: string };

export interface OutboxDeps {
  file: string;
  logger: Logger;
}

/**
 * The durable queue of notifications: an append-only JSON-lines file. An entry is fsynced
 * before the transition is announced, and marked done after its sink accepted it, so a
 * restart delivers what was owed (at least once). Compacted on start and as it grows.
 */
export class Outbox {
  #deps: OutboxDeps;
  #entries = new Map<string, OutboxEntry>();
  #handle: FileHandle | undefined;
  #doneSinceCompaction = 0;
  #writes: Promise<unknown> = Promise.resolve();

  constructor(deps: OutboxDeps) {
    this.#deps = deps;
  }

  async start(): Promise<void> {
    await mkdir(dirname(this.#deps.file), { recursive: true });
    let text = '';
    try {
      text = await readFile(this.#deps.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    let skipped = 0;
    for (const raw of text.split('\n')) {
      if (raw.trim() === '') continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        skipped++; // a line cut short by a crash mid-write
        continue;
      }
      if (line.op === 'add') this.#entries.set(line.entry.id, line.entry);
      else if (line.op === 'done') this.#entries.delete(line.id);
    }
    if (skipped > 0)
      this.#deps.logger.warn({ file: this.#deps.file, skipped }, 'outbox: skipped unreadable lines');
    await this.#compact();
    if (this.#entries.size > 0) {
      this.#deps.logger.info({ pending: this.#entries.size }, 'outbox: notifications still owed from before');
    }
  }

  /** Durably records the entries (resolves after fsync). */
  add(entries: OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    for (const entry of entries) this.#entries.set(entry.id, entry);
    const text = entries.map((entry) => `${JSON.stringify({ op: 'add', entry } satisfies Line)}\n`).join('');
    return this.#write(text, true);
  }

  /** Marks entries delivered. Not fsynced: losing it only means one more delivery after a crash. */
  done(ids: string[]): Promise<void> {
    const removed = ids.filter((id) => this.#entries.delete(id));
    if (removed.length === 0) return Promise.resolve();
    this.#doneSinceCompaction += removed.length;
    const text = removed.map((id) => `${JSON.stringify({ op: 'done', id } satisfies Line)}\n`).join('');
    const write = this.#write(text, false);
    if (this.#doneSinceCompaction >= 1000) return write.then(() => this.#enqueue(() => this.#compact()));
    return write;
  }

  pending(sink: string): OutboxEntry[] {
    return [...this.#entries.values()].filter((entry) => entry.sink === sink);
  }

  /** Names of the sinks that are owed something. */
  sinks(): string[] {
    return [...new Set([...this.#entries.values()].map((entry) => entry.sink))];
  }

  get size(): number {
    return this.#entries.size;
  }

  async stop(): Promise<void> {
    await this.#writes.catch(() => undefined);
    await this.#handle?.close();
    this.#handle = undefined;
  }

  #write(text: string, sync: boolean): Promise<void> {
    return this.#enqueue(async () => {
      if (!this.#handle) throw new Error('outbox is not open');
      await this.#handle.appendFile(text);
      if (sync) await this.#handle.datasync();
    });
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#writes.then(task, task);
    this.#writes = run.catch(() => undefined);
    return run;
  }

  /** Rewrites the file with only the pending entries (write to a temp file, fsync, rename). */
  async #compact(): Promise<void> {
    await this.#handle?.close();
    const temp = `${this.#deps.file}.tmp`;
    const handle = await open(temp, 'w');
    const text = [...this.#entries.values()]
      .map((entry) => `${JSON.stringify({ op: 'add', entry } satisfies Line)}\n`)
      .join('');
    await handle.writeFile(text);
    await handle.datasync();
    await handle.close();
    await rename(temp, this.#deps.file);
    this.#handle = await open(this.#deps.file, 'a');
    this.#doneSinceCompaction = 0;
  }
}
