import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

interface DayCounter {
  /** Local day, `YYYY-MM-DD` in the configured zone. */
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
 * Energy per device per local day, from the cumulative `energy_wh` counter of readings: the sum
 * of its increases since local midnight (a counter that goes down was reset; its new value is
 * counted from zero). Kept in a small file so a restart does not forget the morning.
 */
export class DailyEnergy {
  #deps: DailyEnergyDeps;
  #counters = new Map<string, DayCounter>();
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
      const saved = JSON.parse(await readFile(this.#deps.file, 'utf8')) as Record<string, DayCounter>;
      for (const [device, counter] of Object.entries(saved)) this.#counters.set(device, counter);
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
    const today = this.day(this.#deps.clock());
    const counter = this.#counters.get(device);
    if (!counter || counter.day !== today) {
      // First reading of the day is the baseline; the little before it (since yesterday's last) is not counted.
      this.#counters.set(device, { day: today, consumed_wh: 0, last_counter_wh: counterWh });
    } else {
      const delta = counterWh - counter.last_counter_wh;
      counter.consumed_wh += delta >= 0 ? delta : counterWh;
      counter.last_counter_wh = counterWh;
    }
    this.#dirty = true;
  }

  /** Wh since local midnight; 0 on a day with no reading yet; undefined for a device never read. */
  today(device: string): number | undefined {
    const counter = this.#counters.get(device);
    if (!counter) return undefined;
    return counter.day === this.day(this.#deps.clock()) ? counter.consumed_wh : 0;
  }

  /** Writes the counters if they changed (temp file + rename); overlapping calls run one after another. */
  save(): Promise<void> {
    const run = this.#saving.catch(() => undefined).then(() => this.#write());
    this.#saving = run;
    return run;
  }

  async #write(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    try {
      await mkdir(dirname(this.#deps.file), { recursive: true });
      const temp = `${this.#deps.file}.tmp`;
      await writeFile(temp, JSON.stringify(Object.fromEntries(this.#counters)));
      await rename(temp, this.#deps.file);
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }
}
