import { setTimeout as sleep } from 'node:timers/promises';
import {
  Bus,
  busConnection,
  shareGroupFilter,
  type BusOptions,
  type MessageContext,
  type Subscription,
} from '@wattbus/bus';
import {
  EnergyHistorySchema,
  isWellFormedReading,
  ReadingSchema,
  plausibilityProblem,
  quickValidator,
  validator,
  type EnergyHistory,
  type Reading,
} from '@wattbus/contracts';
import { Fleet } from '@wattbus/fleet';
import {
  InfluxWriter,
  LineProtocolError,
  deviceOfLine,
  ENERGY_HISTORY_MEASUREMENT,
  historyToLines,
  readingToLine,
  type RejectedLine,
  type WriteRequestTiming,
} from '@wattbus/influx';
import { HealthPublisher, type Logger, type ServiceMetrics } from '@wattbus/runtime';
import type { StorageHookConfig } from './config.js';
import { LogDrain } from './drain.js';
import { storageHookMetrics, type StorageHookCounters } from './metrics.js';
import { WriteAheadLog } from './wal.js';

export const SERVICE_NAME = 'storage-hook';

// Well-formed readings skip ajv (same verdicts; libs/contracts/test/quick-check.test.ts).
const checkReading = quickValidator(ReadingSchema, isWellFormedReading);
/** A device without limits in its meta: the defaults apply. */
const NO_LIMITS = Object.freeze({});
const checkHistory = validator(EnergyHistorySchema);

export interface StorageHookDeps {
  config: StorageHookConfig;
  logger: Logger;
  /** How to connect to the broker: the front door's (it names a failure clearly); default Bus.connect. */
  connect?: (options: BusOptions) => Promise<Bus>;
  /** The hook's counters, log and InfluxDB write latency go here. */
  metrics?: ServiceMetrics;
}

/**
 * Readings from the broker into InfluxDB, none lost: persistent session, QoS 1, each reading
 * appended to the write-ahead log before its PUBACK, a drain writing the log out in batches.
 */
export class StorageHook {
  #deps: StorageHookDeps;
  #bus: Bus | undefined;
  #wal: WriteAheadLog | undefined;
  #writer: InfluxWriter | undefined;
  #drain: LogDrain | undefined;
  /** Type and location from the retained meta, for readings that do not carry them. */
  #fleet: Fleet | undefined;
  #health: HealthPublisher | undefined;
  #countersTimer: NodeJS.Timeout | undefined;
  #received = 0;
  #implausible = 0;
  #skipped = 0;
  #readings: Subscription | undefined;
  #history: Subscription | undefined;
  /** History intervals (a backfill's days and months) taken into the log. */
  #historyIntervals = 0;
  #stopping = false;
  /** Lines InfluxDB refused during the replay, before the bus was connected. */
  #earlyRejections: RejectedLine[] = [];
  #onWriteRequest: ((request: WriteRequestTiming) => void) | undefined;

  constructor(deps: StorageHookDeps) {
    this.#deps = deps;
    if (deps.metrics) this.#onWriteRequest = storageHookMetrics(deps.metrics, this);
  }

  async start(): Promise<void> {
    const { config, logger } = this.#deps;
    if (config.partition && config.partition.index >= config.partition.count) {
      throw new Error(
        `partition.index (${config.partition.index}) must be below partition.count (${config.partition.count})`,
      );
    }
    // The log first: what the last run left is written out before anything new.
    const wal = new WriteAheadLog({
      options: {
        dir: config.log.dir,
        maxBytes: config.log.max_bytes,
        warnRatio: config.log.warn_ratio,
        fsyncIntervalMs: config.log.fsync_interval_ms,
        segmentMaxRecords: config.batch.max_lines,
        segmentMaxAgeMs: config.batch.max_delay_ms,
        // Appends of one burst of messages go to disk in one write(2), just before their PUBACKs.
        grouped: true,
      },
      logger,
    });
    wal.start();
    this.#wal = wal;
    const { create_database: createDatabase, ...connection } = config.influx;
    const writer = new InfluxWriter({
      connection,
      createDatabase,
      maxBatchLines: config.batch.max_lines,
      retryMinMs: config.batch.retry_min_ms,
      retryMaxMs: config.batch.retry_max_ms,
      logger,
      onRequest: this.#onWriteRequest,
    });
    writer.start();
    this.#writer = writer;
    // The drain starts before the broker connection: the log replays even while the broker is away.
    this.#drain = new LogDrain({ wal, writer, logger, onRejected: (rejected) => this.#deadLetter(rejected) });
    this.#drain.start();

    let bus: Bus;
    try {
      bus = await (this.#deps.connect ?? Bus.connect)({
        ...busConnection(config.mqtt),
        service: SERVICE_NAME,
        clientId: config.mqtt.client_id,
        clean: false,
        // The broker sends our queued readings right after CONNACK, before subscribe() runs.
        holdUnroutedMs: 10_000,
        // A burst of PUBACKs leaves in one writev, and only after wal.flushPending() wrote the
        // burst's readings to the log (if that fails, the PUBACKs are withheld).
        batchAcks: true,
        beforeAcks: () => wal.flushPending(),
        logger,
      });
    } catch (error) {
      // Leave nothing running behind a failed start.
      await this.#drain.stop();
      wal.stop();
      throw error;
    }
    this.#bus = bus;
    this.#deadLetter(this.#earlyRejections.splice(0));
    this.#fleet = new Fleet({ bus, parts: ['meta'], logger });
    const filter = bus.topics.allDevices('readings');
    const group = config.mqtt.share_group || undefined;
    const shared = group ? shareGroupFilter(group, filter) : filter;
    const historyFilter = bus.topics.allDevices('history');
    // Both routes are registered synchronously, before either SUBACK: a held queued reading
    // stalls mqtt.js' input, so awaiting one SUBACK before the next subscribe() would deadlock.
    // For the same reason the share group is verified after, not before (a broker without
    // shared subscriptions delivers nothing through it meanwhile).
    try {
      [this.#readings, this.#history] = await Promise.all([
        bus.subscribe(shared, checkReading, (reading, context) => this.#take(reading, context), {
          qos: 1,
          ackAfterHandle: true,
        }),
        // A backfill's history (docs/storage.md, "Device history"): logged and acked like readings.
        bus.subscribe(
          group ? shareGroupFilter(group, historyFilter) : historyFilter,
          checkHistory,
          (history, context) => this.#takeHistory(history, context),
          { qos: 1, ackAfterHandle: true },
        ),
        this.#fleet.start(),
      ]);
      if (group) await bus.verifyShareGroup(group);
    } catch (error) {
      await this.stop();
      throw error;
    }
    if (config.counters_log_interval_ms > 0) {
      this.#countersTimer = setInterval(
        () => logger.info({ counters: this.counters() }, 'storage hook counters'),
        config.counters_log_interval_ms,
      );
      this.#countersTimer.unref();
    }
    this.#health = new HealthPublisher({
      bus,
      service: SERVICE_NAME,
      logger,
      probe: () => this.#influxCheck(),
      metrics: () => this.#healthMetrics(),
    });
    await this.#health.start();
    logger.info(
      {
        filter: shared,
        client_id: config.mqtt.client_id,
        log_dir: config.log.dir,
        influx: config.influx.url,
      },
      'storage hook started',
    );
  }

  counters(): StorageHookCounters {
    const wal = this.#wal?.stats();
    const writer = this.#writer?.metrics();
    return {
      received: this.#received,
      skipped: this.#skipped,
      history_intervals: this.#historyIntervals,
      written: writer?.lines_written ?? 0,
      retried: writer?.retries ?? 0,
      spooled: wal?.appended ?? 0,
      replayed: wal?.replayed ?? 0,
      dead_lettered: this.#bus?.metrics().dead_lettered ?? 0,
      implausible: this.#implausible,
      log_depth: wal?.depth_records ?? 0,
      log_bytes: wal?.depth_bytes ?? 0,
      log_segments: wal?.segments ?? 0,
      log_waiting: wal?.waiting_for_room ?? 0,
      influx_server: writer?.server,
      influx_last_error: writer?.last_error,
    };
  }

  /**
   * Stop taking readings, write out what the log holds (bounded by stop_flush_timeout_ms), close.
   * A member of a share group leaves it (see leave_group_on_stop); any other hook keeps its
   * session, so the broker queues readings for it while it is away.
   */
  async stop(): Promise<void> {
    const { config, logger } = this.#deps;
    if (this.#stopping) return;
    this.#stopping = true;
    clearInterval(this.#countersTimer);
    await this.#health?.stop();
    const leaving = Boolean(config.mqtt.share_group) && config.mqtt.leave_group_on_stop;
    if (leaving && this.#readings && this.#bus) {
      // Readings already dealt to us arrive and are logged; then no more come.
      const drained = await this.#bus.drain([this.#readings, ...(this.#history ? [this.#history] : [])]);
      if (!drained) logger.warn('the broker did not confirm the end of our queue; leaving the group anyway');
    }
    await this.#fleet?.stop();
    await this.#bus?.stop({ endSession: leaving });
    if (leaving)
      logger.info({ group: config.mqtt.share_group }, 'left the share group; its share goes to the others');
    if (this.#drain) {
      const flushed = await this.#drain.flush(config.stop_flush_timeout_ms);
      if (!flushed) {
        logger.warn(
          { log_depth: this.#wal?.stats().depth_records },
          'stopping with readings still in the log; they are written on the next start',
        );
      }
      await this.#drain.stop();
    }
    this.#wal?.stop();
    logger.info({ counters: this.counters() }, 'storage hook stopped');
  }

  /** Check `influx`: false while writes to InfluxDB fail (they are retried; the log holds the readings). */
  #influxCheck(): Record<string, { ok: boolean; detail?: string }> {
    const writer = this.#writer?.metrics();
    const failing = (writer?.failing_attempts ?? 0) > 0;
    return { influx: { ok: !failing, ...(failing ? { detail: writer?.last_error } : {}) } };
  }

  /** The numbers of docs/alerts.md: `wal_depth` and `wal_bytes` tell a growing backlog. */
  #healthMetrics(): Record<string, number> {
    const counters = this.counters();
    return {
      wal_depth: counters.log_depth,
      wal_bytes: counters.log_bytes,
      wal_waiting: counters.log_waiting,
      received: counters.received,
      written: counters.written,
      write_retries: counters.retried,
      dead_lettered: counters.dead_lettered,
      implausible: counters.implausible,
    };
  }

  /**
   * The handler the PUBACK waits for: buffers the reading's line in the log's current group
   * (written by beforeAcks before any PUBACK of the burst leaves); a promise only while the log
   * is full or failing.
   */
  #take(reading: Reading, context: MessageContext): void | Promise<void> {
    const { bus } = this;
    if (!this.#ours('reading', reading.device, context)) return;
    const meta = this.#fleet?.get(reading.device)?.meta;
    const problem = plausibilityProblem(reading, meta?.limits ?? NO_LIMITS, {
      nowMs: Date.now(),
      futureToleranceMs: this.#deps.config.future_tolerance_ms,
    });
    if (problem !== undefined) {
      this.#implausible++;
      bus.reject(context.topic, payloadOf(context), problem, 'implausible');
      return;
    }
    let line: string;
    try {
      line = readingToLine(reading, meta);
    } catch (error) {
      if (!(error instanceof LineProtocolError)) throw error;
      bus.reject(context.topic, payloadOf(context), error.message);
      return;
    }
    this.#received++;
    try {
      return this.#wal!.append(line);
    } catch (error) {
      return this.#appendHarder(line, error);
    }
  }

  /**
   * Whether this hook stores a message about `device`: it must name its topic's device (else it is
   * dead-lettered) and belong to this hook's partition (else it is skipped).
   */
  #ours(what: 'reading' | 'history', device: string, context: MessageContext): boolean {
    const topics = this.bus.topics;
    const kind = what === 'reading' ? 'readings' : 'history';
    const topicDevice = topics.isDeviceTopic(context.topic, device, kind)
      ? device
      : topics.parseDeviceTopic(context.topic)?.deviceId;
    if (topicDevice !== device) {
      this.bus.reject(
        context.topic,
        payloadOf(context),
        `${what} of ${device} published on the topic of ${String(topicDevice)}`,
      );
      return false;
    }
    const partition = this.#deps.config.partition;
    if (partition && partitionOf(device, partition.count) !== partition.index) {
      this.#skipped++;
      return false;
    }
    return true;
  }

  /** A batch of device history: its intervals' lines into the log, acked like a reading. */
  #takeHistory(history: EnergyHistory, context: MessageContext): void | Promise<void> {
    const { bus } = this;
    if (!this.#ours('history', history.device, context)) return;
    let lines: string[];
    try {
      lines = historyToLines(history);
    } catch (error) {
      if (!(error instanceof LineProtocolError)) throw error;
      bus.reject(context.topic, payloadOf(context), error.message);
      return;
    }
    this.#historyIntervals += lines.length;
    const pending: Promise<void>[] = [];
    for (const line of lines) {
      let appended: void | Promise<void>;
      try {
        appended = this.#wal!.append(line);
      } catch (error) {
        appended = this.#appendHarder(line, error);
      }
      if (appended) pending.push(appended);
    }
    if (pending.length > 0) return Promise.all(pending).then(() => undefined);
  }

  /** Disk full or failing: do not ack (the broker keeps the reading); keep trying. */
  async #appendHarder(line: string, firstError: unknown): Promise<void> {
    let error = firstError;
    for (let attempt = 1; ; attempt++) {
      if (this.#stopping) throw error; // no PUBACK goes out any more; the broker redelivers
      this.#deps.logger.error(
        { err: error, attempt },
        'cannot append to the write-ahead log; holding the reading',
      );
      await sleep(Math.min(5000, 100 * 2 ** attempt));
      try {
        const pending = this.#wal!.append(line);
        if (pending) await pending;
        return;
      } catch (next) {
        error = next;
      }
    }
  }

  #deadLetter(rejected: RejectedLine[]): void {
    if (rejected.length === 0) return;
    const bus = this.#bus;
    if (!bus) {
      this.#earlyRejections.push(...rejected);
      return;
    }
    for (const { line, reason } of rejected) {
      const device = deviceOfLine(line);
      const kind = line.startsWith(`${ENERGY_HISTORY_MEASUREMENT},`) ? 'history' : 'readings';
      const topic = device
        ? kind === 'history'
          ? bus.topics.history(device)
          : bus.topics.readings(device)
        : bus.topics.allDevices(kind);
      const what = kind === 'history' ? 'an interval of device history' : 'the reading';
      bus.reject(topic, line, `InfluxDB refused ${what}: ${reason}`);
    }
    this.#deps.logger.warn(
      { lines: rejected.length, reason: rejected[0]?.reason, first_line: rejected[0]?.line },
      'InfluxDB refused readings; dead-lettered',
    );
  }

  get bus(): Bus {
    if (!this.#bus) throw new Error('the storage hook is not started');
    return this.#bus;
  }

  /** The bus once connected (undefined before), for metrics. */
  get connectedBus(): Bus | undefined {
    return this.#bus;
  }
}

/** The partition of a device: FNV-1a of its id, modulo `count` (stable across hooks and restarts). */
export function partitionOf(device: string, count: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < device.length; i++) {
    hash ^= device.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % count;
}

function payloadOf(context: MessageContext): Buffer {
  const payload = context.packet.payload;
  return Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
}
