import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  CounterSteps,
  DEFAULT_COUNTER_RULES,
  stepInstant,
  type CounterRules,
  type CounterState,
  type EnergyStep,
} from '@wattbus/influx';
import type { Logger } from 'pino';

/** What the file keeps per device. */
interface SavedDevice {
  /** Local day, `YYYY-MM-DD` in the configured zone, of `consumed_wh`. */
  day: string;
  /** Energy of the decided steps that count in `day`. */
  consumed_wh: number;
  counter: CounterState;
}

/** The file's shape before the counter rules: a baseline per day. Read, never written. */
interface LegacySavedDevice {
  day: string;
  consumed_wh: number;
  last_counter_wh: number;
}

export interface DailyEnergyDeps {
  file: string;
  time_zone: string;
  clock: () => number;
  logger: Logger;
}

/**
 * The query component's counter rules, without the rate check: readings are timed by their
 * arrival, and a burst (queued readings after a reconnect) would look faster than any device.
 */
const RULES: CounterRules = DEFAULT_COUNTER_RULES;

/**
 * Energy per device per local day, from the cumulative `energy_wh` counter of readings, with the
 * query component's rules (`CounterSteps`): rounding jitter, one-off dips and spikes count
 * nothing, a reset counts the energy since the restart. A step counts, whole, in the day of its
 * later reading (`stepInstant`), so the step from the last reading before local midnight to the
 * first after it counts in the new day. Readings are timed by their arrival (this host's clock).
 * The last readings wait for the ones that tell what they were; until then `today()` counts them as
 * if no more came. Kept in a small file so a restart does not forget the morning.
 */
export class DailyEnergy {
  #deps: DailyEnergyDeps;
  #counters = new Map<string, CounterSteps>();
  #days = new Map<string, { day: string; consumed_wh: number }>();
  #dayFormat: Intl.DateTimeFormat;
  #dirty = false;
  #saving: Promise<void> = Promise.resolve();

  constructor(deps: DailyEnergyDeps) {
    this.#deps = deps;
    this.#dayFormat = new Intl.DateTimeFormat('en-CA', {
      timeZone: deps.time_zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
  }

  async start(): Promise<void> {
    try {
      const saved = JSON.parse(await readFile(this.#deps.file, 'utf8')) as Record<
        string,
        SavedDevice | LegacySavedDevice
      >;
      for (const [device, entry] of Object.entries(saved)) {
        const counter =
          'counter' in entry
            ? entry.counter
            : { reference: { ts: 0, value: entry.last_counter_wh }, pending: [] };
        this.#counters.set(device, new CounterSteps(RULES, counter));
        this.#days.set(device, { day: entry.day, consumed_wh: entry.consumed_wh });
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.#deps.logger.warn(
          { file: this.#deps.file, err: (error as Error).message },
          'energy counters unreadable; starting afresh',
        );
      }
    }
  }

  /** The local day of a clock time. */
  day(atMs: number): string {
    return this.#dayFormat.format(atMs);
  }

  record(device: string, counterWh: number): void {
    let counter = this.#counters.get(device);
    if (!counter) {
      counter = new CounterSteps(RULES);
      this.#counters.set(device, counter);
    }
    for (const step of counter.push({ ts: this.#deps.clock(), value: counterWh })) this.#count(device, step);
    this.#dirty = true;
  }

  /** Wh in the current local day; 0 on a day with no reading yet; undefined for a device never read. */
  today(device: string): number | undefined {
    const counter = this.#counters.get(device);
    if (!counter) return undefined;
    const today = this.day(this.#deps.clock());
    const decided = this.#days.get(device);
    let wh = decided?.day === today ? decided.consumed_wh : 0;
    for (const step of counter.preview()) if (this.day(stepInstant(step)) === today) wh += step.wh;
    return wh;
  }

  /** Writes the counters if they changed (temp file + rename); overlapping calls run one after another. */
  save(): Promise<void> {
    const run = this.#saving.catch(() => undefined).then(() => this.#write());
    this.#saving = run;
    return run;
  }

  /** A decided step adds to the day of its later reading; a step of a day already past is dropped. */
  #count(device: string, step: EnergyStep): void {
    const day = this.day(stepInstant(step));
    const current = this.#days.get(device);
    if (!current || current.day < day) this.#days.set(device, { day, consumed_wh: step.wh });
    else if (current.day === day) current.consumed_wh += step.wh;
  }

  async #write(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    try {
      await mkdir(dirname(this.#deps.file), { recursive: true });
      const temp = `${this.#deps.file}.tmp`;
      const saved: Record<string, SavedDevice> = {};
      for (const [device, counter] of this.#counters) {
        const days = this.#days.get(device) ?? { day: this.day(this.#deps.clock()), consumed_wh: 0 };
        saved[device] = { ...days, counter: counter.state };
      }
      await writeFile(temp, JSON.stringify(saved));
      await rename(temp, this.#deps.file);
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }
}
