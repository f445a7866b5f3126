import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  unlinkSync,
  writeSync,
  close,
  fsync,
  fsyncSync,
  open,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@wattbus/runtime';

export interface WriteAheadLogOptions {
  dir: string;
  /** Appends wait (and so do the broker's acks) while the log holds this many bytes. */
  maxBytes: number;
  /** Warn once the log passes this share of maxBytes. */
  warnRatio: number;
  /** fdatasync period; 0 syncs after every append. */
  fsyncIntervalMs: number;
  /** A segment is sealed (ready to write out) at this many records… */
  segmentMaxRecords: number;
  /** …or this long after its first record. */
  segmentMaxAgeMs: number;
  /**
   * Grouped appends: append() only buffers, and flushPending() writes the group with one
   * write(2). The caller must call flushPending() before acknowledging what it appended
   * (the hook does it from the bus's beforeAcks). Default false: one write(2) per append.
   */
  grouped?: boolean;
}

export interface Segment {
  readonly seq: number;
  readonly file: string;
  bytes: number;
  records: number;
}

interface ActiveSegment extends Segment {
  fd: number;
  timer: NodeJS.Timeout;
}

export interface WriteAheadLogStats {
  depth_records: number;
  depth_bytes: number;
  segments: number;
  appended: number;
  replayed: number;
  max_bytes: number;
  /** Appends currently waiting for room (the broker is being held back). */
  waiting_for_room: number;
}

const SEGMENT_FILE = /^segment-(\d{16})\.log$/;

/**
 * The hook's write-ahead log: each accepted reading is one line appended with a synchronous
 * write(2), so it is in the OS page cache (and survives a crash of this process, even SIGKILL)
 * before the handler returns and mqtt.js sends the PUBACK. Lines go to segment files; a segment is
 * sealed at segmentMaxRecords lines or segmentMaxAgeMs, written out whole, then deleted. On start
 * every segment left on disk is replayed first. fdatasync runs every fsyncIntervalMs, which bounds
 * what a power loss (not a process crash) can take.
 */
export class WriteAheadLog {
  #options: WriteAheadLogOptions;
  #logger: Logger;
  #sealed: Segment[] = [];
  #active: ActiveSegment | undefined;
  #nextSeq = 1;
  #bytes = 0;
  #records = 0;
  #appended = 0;
  #replayed = 0;
  #warned = false;
  #roomWaiters: Array<() => void> = [];
  #segmentWaiter: (() => void) | undefined;
  #fsyncTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** The group's records, each ending in a newline: one string, no array to join at the write. */
  #pending = '';
  #pendingRecords = 0;

  constructor(deps: { options: WriteAheadLogOptions; logger: Logger }) {
    this.#options = deps.options;
    this.#logger = deps.logger;
  }

  /** Opens the directory and queues every segment left by an earlier run for writing out. */
  start(): { segments: number; records: number } {
    mkdirSync(this.#options.dir, { recursive: true });
    const files = readdirSync(this.#options.dir)
      .map((name) => ({ name, match: SEGMENT_FILE.exec(name) }))
      .filter((entry) => entry.match !== null)
      .sort((a, b) => a.name.localeCompare(b.name));
    for (const { name, match } of files) {
      const seq = Number(match![1]);
      const file = join(this.#options.dir, name);
      const text = readFileSync(file, 'utf8');
      const records = countLines(text);
      if (records === 0) {
        unlinkSync(file);
        continue;
      }
      this.#sealed.push({ seq, file, bytes: Buffer.byteLength(text), records });
      this.#bytes += Buffer.byteLength(text);
      this.#records += records;
      this.#replayed += records;
      this.#nextSeq = Math.max(this.#nextSeq, seq + 1);
    }
    if (this.#options.fsyncIntervalMs > 0) {
      this.#fsyncTimer = setInterval(() => this.#syncActive(), this.#options.fsyncIntervalMs);
      this.#fsyncTimer.unref();
    }
    if (this.#sealed.length > 0) {
      this.#logger.info(
        { segments: this.#sealed.length, records: this.#records, bytes: this.#bytes },
        'replaying the write-ahead log left by the last run',
      );
    }
    return { segments: this.#sealed.length, records: this.#records };
  }

  /**
   * Appends one record (no newlines). Synchronous while there is room; when the log is full it
   * returns a promise that resolves once the record is in, so the caller's ack waits too.
   */
  append(record: string): void | Promise<void> {
    if (this.#stopped) return Promise.reject(new Error('the write-ahead log is stopped'));
    if (record.includes('\n')) throw new Error('a write-ahead log record must not contain a newline');
    if (this.#bytes + this.#pending.length >= this.#options.maxBytes) return this.#appendWhenRoom(record);
    if (this.#options.grouped) {
      this.#pending += `${record}\n`;
      this.#pendingRecords++;
      return;
    }
    this.#write(`${record}\n`, 1);
  }

  /** Writes the buffered group (grouped mode) with one write(2); throws when the write fails. */
  flushPending(): void {
    if (this.#pendingRecords === 0) return;
    const text = this.#pending;
    const records = this.#pendingRecords;
    this.#pending = '';
    this.#pendingRecords = 0;
    this.#write(text, records);
  }

  /** The oldest sealed segment; waits for one (sealing the active segment when it is old enough). */
  async next(): Promise<Segment | undefined> {
    while (!this.#stopped) {
      const oldest = this.#sealed[0];
      if (oldest) return oldest;
      await new Promise<void>((resolve) => (this.#segmentWaiter = resolve));
    }
    return undefined;
  }

  /** The records of a sealed segment. A torn last line (power loss mid-append) is dropped. */
  read(segment: Segment): string[] {
    return this.readBlock(segment)
      .split('\n')
      .filter((line) => line.length > 0);
  }

  /** read() as the file holds it: the records, each ending in a newline, without a torn last line. */
  readBlock(segment: Segment): string {
    const text = readFileSync(segment.file, 'utf8');
    const end = text.lastIndexOf('\n') + 1;
    if (end < text.length) {
      this.#logger.warn(
        { file: segment.file, bytes: text.length - end },
        'dropping a torn record at the end of a log segment',
      );
    }
    return end < text.length ? text.slice(0, end) : text;
  }

  /** Deletes a segment once everything in it is stored (or dead-lettered). */
  remove(segment: Segment): void {
    const index = this.#sealed.indexOf(segment);
    if (index < 0) return;
    this.#sealed.splice(index, 1);
    unlinkSync(segment.file);
    this.#bytes -= segment.bytes;
    this.#records -= segment.records;
    if (this.#warned && this.#bytes < this.#options.maxBytes * this.#options.warnRatio * 0.5) {
      this.#warned = false;
      this.#logger.info({ depth_bytes: this.#bytes }, 'write-ahead log back to a comfortable size');
    }
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Seals the active segment now (on stop, to write out everything). */
  sealActive(): void {
    this.flushPending();
    const active = this.#active;
    if (!active || active.records === 0) return;
    this.#active = undefined;
    clearTimeout(active.timer);
    const fd = active.fd;
    // Sync before close without blocking the loop; the data is already in the page cache.
    fdatasync(fd, () => close(fd, () => undefined));
    this.#sealed.push({ seq: active.seq, file: active.file, bytes: active.bytes, records: active.records });
    this.#wakeSegmentWaiter();
  }

  stats(): WriteAheadLogStats {
    return {
      depth_records: this.#records + this.#pendingRecords,
      depth_bytes: this.#bytes + this.#pending.length,
      segments: this.#sealed.length + (this.#active ? 1 : 0),
      appended: this.#appended,
      replayed: this.#replayed,
      max_bytes: this.#options.maxBytes,
      waiting_for_room: this.#roomWaiters.length,
    };
  }

  /** Syncs and closes the active segment; what is on disk replays on the next start. */
  stop(): void {
    if (this.#stopped) return;
    try {
      this.flushPending();
    } catch (error) {
      this.#logger.error(
        { err: error },
        'could not write the last group to the log (it was not acknowledged)',
      );
    }
    this.#stopped = true;
    clearInterval(this.#fsyncTimer);
    const active = this.#active;
    this.#active = undefined;
    if (active) {
      clearTimeout(active.timer);
      fdatasyncSync(active.fd);
      closeSync(active.fd);
    }
    this.#wakeSegmentWaiter();
    const waiters = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Writes `records` newline-terminated records (`text`) with one write(2). */
  #write(text: string, records: number): void {
    const active = this.#active ?? this.#openSegment();
    const data = Buffer.from(text);
    let written = 0;
    try {
      written = writeSync(active.fd, data);
      if (written !== data.length)
        throw new Error(`short write to ${active.file} (${written} of ${data.length} bytes)`);
      if (this.#options.fsyncIntervalMs === 0) fdatasyncSync(active.fd);
    } catch (error) {
      // A partial line may now end this segment: close it (read() drops a torn tail) and let the
      // caller retry into a fresh segment. The reading is not acknowledged meanwhile.
      active.bytes += written;
      this.#bytes += written;
      this.#abandonActive();
      throw error;
    }
    active.bytes += written;
    active.records += records;
    this.#bytes += written;
    this.#records += records;
    this.#appended += records;
    if (!this.#warned && this.#bytes >= this.#options.maxBytes * this.#options.warnRatio) {
      this.#warned = true;
      this.#logger.warn(
        { depth_bytes: this.#bytes, max_bytes: this.#options.maxBytes },
        'write-ahead log is filling up (InfluxDB slow or down?); when full, readings stay queued at the broker',
      );
    }
    if (active.records >= this.#options.segmentMaxRecords) this.sealActive();
  }

  async #appendWhenRoom(record: string): Promise<void> {
    this.#logger.error(
      { depth_bytes: this.#bytes, max_bytes: this.#options.maxBytes },
      'write-ahead log is full: no longer acknowledging readings until InfluxDB takes some',
    );
    this.flushPending();
    while (this.#bytes >= this.#options.maxBytes) {
      if (this.#stopped) throw new Error('the write-ahead log is stopped');
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
    }
    if (this.#stopped) throw new Error('the write-ahead log is stopped');
    // Written at once (with any buffered group): this reading's ack comes when the promise settles.
    this.flushPending();
    this.#write(`${record}\n`, 1);
  }

  #abandonActive(): void {
    const active = this.#active;
    if (!active) return;
    if (active.records > 0) {
      this.sealActive();
      return;
    }
    this.#active = undefined;
    clearTimeout(active.timer);
    this.#bytes -= active.bytes;
    try {
      closeSync(active.fd);
      unlinkSync(active.file);
    } catch {
      // best effort: an empty or torn-only segment is dropped on the next start anyway
    }
  }

  #openSegment(): ActiveSegment {
    const seq = this.#nextSeq++;
    const file = join(this.#options.dir, `segment-${String(seq).padStart(16, '0')}.log`);
    const fd = openSync(file, 'a');
    this.#syncDirectory();
    const timer = setTimeout(() => {
      if (this.#active?.seq === seq) this.sealActive();
    }, this.#options.segmentMaxAgeMs);
    this.#active = { seq, file, fd, bytes: 0, records: 0, timer };
    return this.#active;
  }

  /** A new segment's directory entry must reach the disk too, or a power loss could orphan its data. */
  #syncDirectory(): void {
    if (this.#options.fsyncIntervalMs === 0) {
      const dirFd = openSync(this.#options.dir, 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
      return;
    }
    open(this.#options.dir, 'r', (error, dirFd) => {
      if (error) return;
      fsync(dirFd, () => close(dirFd, () => undefined));
    });
  }

  #syncActive(): void {
    const active = this.#active;
    if (active && active.records > 0) fdatasync(active.fd, () => undefined);
  }

  #wakeSegmentWaiter(): void {
    const wake = this.#segmentWaiter;
    this.#segmentWaiter = undefined;
    wake?.();
  }
}

function countLines(text: string): number {
  let count = 0;
  for (let index = text.indexOf('\n'); index >= 0; index = text.indexOf('\n', index + 1)) count++;
  return count;
}
