import { WattbusError } from '@wattbus/contracts';
import type { Logger } from 'pino';
import type { DeviceSession } from './device-session.js';
import { deviceLimits, type PlausibilityGate } from './plausibility-gate.js';
import type { DevicePublisher } from './publisher.js';

export interface PollerMetrics {
  polls: number;
  /** Polls that started within a quarter interval of their tick on the grid. */
  polls_on_time: number;
  /** Polls that started later than that (a busy event loop, a device queue held by a command). */
  polls_late: number;
  failed_polls: number;
  readings_published: number;
  /** Ticks dropped because the previous poll (or a command) still held the device. */
  skipped_ticks: number;
  /** Readings not published: beyond the device's limits, or from the future. */
  implausible_readings: number;
}

/**
 * Where each of `count` pollers of one agent puts its grid within its interval: evenly spread
 * (index × interval / count), so 1,000 plugs at 1 s are polled one per millisecond instead of all
 * in the same instant, where the last of them would wait for the other 999 (bench/collector).
 */
export function gridOffsetMs(index: number, count: number, intervalMs: number): number {
  return count > 0 ? Math.floor((index * intervalMs) / count) % intervalMs : 0;
}

/**
 * Polls one device on a fixed grid (origin + offset + k × interval), so timing does not drift. The
 * first poll is at start (every device is read at once when the agent starts); the grid's
 * `offsetMs` applies from the second poll on. The next
 * poll is scheduled only after the current one finished, so polls never overlap: when a poll
 * overruns, the ticks it covered are skipped, not queued. Once the device is offline the wait
 * grows (interval × 2^n up to max_backoff_ms), so an unplugged device costs little.
 */
export class Poller {
  #session: DeviceSession;
  #publisher: DevicePublisher;
  #gate: PlausibilityGate;
  #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;
  #nextAt = 0;
  #offsetMs = 0;
  #described = false;
  #metrics: PollerMetrics = {
    polls: 0,
    polls_on_time: 0,
    polls_late: 0,
    failed_polls: 0,
    readings_published: 0,
    skipped_ticks: 0,
    implausible_readings: 0,
  };

  constructor(deps: {
    session: DeviceSession;
    publisher: DevicePublisher;
    gate: PlausibilityGate;
    logger: Logger;
  }) {
    this.#session = deps.session;
    this.#publisher = deps.publisher;
    this.#gate = deps.gate;
    this.#logger = deps.logger;
  }

  metrics(): PollerMetrics {
    return { ...this.#metrics };
  }

  /**
   * `offsetMs`: where this poller's grid lies within its interval (see gridOffsetMs); `originMs`:
   * the grid's start, the same for every poller of an agent however long starting them all takes.
   */
  start(offsetMs = 0, originMs = Date.now()): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#nextAt = originMs;
    this.#offsetMs = offsetMs;
    this.#schedule();
  }

  /** Stops scheduling and waits for a poll in flight (bounded: a lost broker must not hold the stop). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#running) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#running,
      new Promise((resolve) => (timer = setTimeout(resolve, this.#session.device.timeout_ms * 2))),
    ]);
    clearTimeout(timer);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(
      () => {
        this.#countTiming();
        this.#running = this.#poll().finally(() => {
          this.#running = undefined;
          this.#advance();
          this.#schedule();
        });
      },
      Math.max(0, this.#nextAt - Date.now()),
    );
  }

  /** On time or late, against the tick this poll was scheduled for. */
  #countTiming(): void {
    const lateByMs = Date.now() - this.#nextAt;
    if (lateByMs > this.#session.device.poll_interval_ms / 4) this.#metrics.polls_late++;
    else this.#metrics.polls_on_time++;
  }

  #advance(): void {
    const device = this.#session.device;
    const now = Date.now();
    if (this.#session.availability === 'offline') {
      const beyond = this.#session.consecutiveFailures - device.offline_after_failures;
      const backoff = Math.min(
        device.max_backoff_ms,
        device.poll_interval_ms * 2 ** Math.min(beyond + 1, 30),
      );
      // A new grid starts after the wait; a recovered device polls at its interval from there.
      this.#nextAt = now + backoff;
      return;
    }
    this.#nextAt += device.poll_interval_ms + this.#offsetMs;
    this.#offsetMs = 0;
    if (this.#nextAt <= now) {
      const missed = Math.ceil((now - this.#nextAt) / device.poll_interval_ms);
      this.#metrics.skipped_ticks += missed;
      this.#nextAt += missed * device.poll_interval_ms;
      if (this.#nextAt <= now) this.#nextAt += device.poll_interval_ms;
    }
  }

  async #poll(): Promise<void> {
    const session = this.#session;
    const device = session.device;
    this.#metrics.polls++;
    let readings;
    let on: boolean | undefined;
    try {
      // Built inside the device's turn, so values that break the schema count as a failed poll.
      ({ readings, on } = await session.run(async (driver) => {
        const sample = await driver.read();
        return { readings: this.#publisher.readingsOf(device, sample.values, new Date()), on: sample.on };
      }));
    } catch (error) {
      this.#metrics.failed_polls++;
      // Per-poll failures are debug: the session logs the change to offline once.
      this.#logger.debug(
        { device: device.id, code: (error as WattbusError).code, err: (error as Error).message },
        'poll failed',
      );
      return;
    }
    const plausible = this.#gate.filter(device, deviceLimits(device, session.driver), readings);
    this.#metrics.implausible_readings += readings.length - plausible.length;
    try {
      await this.#publisher.readings(plausible);
      this.#metrics.readings_published += plausible.length;
      if (on !== undefined && on !== session.lastOn) {
        session.lastOn = on;
        await this.#publisher.state(device, on);
      }
    } catch (error) {
      this.#logger.warn({ device: device.id, err: error }, 'could not publish a reading');
    }
    if (!this.#described) await this.#describe();
  }

  /** Once per agent run, after the first good poll: the model goes into the retained meta. */
  async #describe(): Promise<void> {
    this.#described = true;
    try {
      const { device, driver } = this.#session;
      const description = await this.#session.run((driver) => driver.describe());
      // The model may narrow the driver's rating: the meta carries the limits it now knows.
      await this.#publisher.meta(device, { model: description.model, limits: deviceLimits(device, driver) });
    } catch (error) {
      this.#logger.debug({ device: this.#session.device.id, err: error }, 'could not describe the device');
    }
  }
}
