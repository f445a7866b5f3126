import { DEFAULT_READING_LIMITS, STORABLE_FROM_MS, STORABLE_UNTIL_MS } from '@wattbus/contracts';
import {
  CounterSteps,
  seriesRows,
  stepInstant,
  type CounterSample,
  type InfluxQueryClient,
} from '@wattbus/influx';
import type { QueryConfig } from './config.js';
import type { CounterField, EnergySeries } from './series.js';
import { tooLarge } from './errors.js';

/** How far from a drop its readings are looked for: readings further apart are no one-off glitch. */
const SEARCH_MS = 30 * 86_400_000;

/** A backward counter step larger than the jitter tolerance, where InfluxQL cannot tell what it is. */
export interface Drop extends EnergySeries {
  ts: number;
}

/** Energy to add to (or take from) the base interval holding `ts`. */
export interface Correction {
  series: EnergySeries;
  ts: number;
  wh: number;
}

/**
 * Around every drop of a counter, the raw readings (glitchReadings + 1 before, glitchReadings + 2
 * from the drop on) are read back and classified by CounterSteps. The correction is what the
 * classified steps count minus what InfluxDB's `difference` counted for the same readings: a dip
 * or spike moves nothing between intervals and adds nothing; a reset adds the energy since restart.
 */
export class Glitches {
  #client: InfluxQueryClient;
  #config: QueryConfig;
  #counter: CounterField;

  constructor(deps: { client: InfluxQueryClient; config: QueryConfig; counter: CounterField }) {
    this.#client = deps.client;
    this.#config = deps.config;
    this.#counter = deps.counter;
  }

  async corrections(
    drops: readonly Drop[],
    maxPowerW: (series: EnergySeries) => number,
    timeoutMs: number,
  ): Promise<Correction[]> {
    if (drops.length === 0) return [];
    const { energy, limits } = this.#config;
    const readings = energy.counter_glitch_readings;
    const rows = drops.length * (2 * readings + 3);
    if (rows > limits.max_rows) {
      throw tooLarge(
        `the counters drop ${drops.length} times in this range; reading back the values around each needs ${rows} rows`,
        'limits.max_rows',
        limits.max_rows,
      );
    }
    const q = await this.#client.builder();
    const field = this.#counter;
    const counter = q.ident(field);
    const energyOk = `${counter} >= 0 AND ${counter} <= ${DEFAULT_READING_LIMITS.max_energy_wh}`;
    const statements = drops.map((drop) => {
      const series = `"device" = ${q.value(drop.device)} AND "phase" = ${q.value(drop.phase)} AND ${energyOk}`;
      const back = Math.max(STORABLE_FROM_MS, drop.ts - SEARCH_MS);
      const ahead = Math.min(STORABLE_UNTIL_MS, drop.ts + SEARCH_MS);
      return [
        q.statement(
          `SELECT ${counter} FROM "electricity" WHERE ${series} AND ${q.range(back, drop.ts)} ORDER BY time DESC LIMIT ${readings + 1}`,
        ),
        q.statement(
          `SELECT ${counter} FROM "electricity" WHERE ${series} AND ${q.range(drop.ts, ahead)} ORDER BY time ASC LIMIT ${readings + 2}`,
        ),
      ] as const;
    });
    const results = await this.#client.run(q, { timeoutMs });
    const samplesOf = (index: number): CounterSample[] =>
      (results[index]?.series ?? []).flatMap((s) =>
        seriesRows(s)
          .filter((row) => typeof row[field] === 'number')
          .map((row) => ({ ts: row.time as number, value: row[field] as number })),
      );
    const windows = new Map<string, { series: EnergySeries; samples: CounterSample[][] }>();
    drops.forEach((drop, i) => {
      const [before, after] = statements[i]!;
      const samples = [...samplesOf(before).reverse(), ...samplesOf(after)];
      const key = `${drop.device}\u0000${drop.phase}`;
      const entry = windows.get(key) ?? { series: { device: drop.device, phase: drop.phase }, samples: [] };
      entry.samples.push(samples);
      windows.set(key, entry);
    });
    const corrections: Correction[] = [];
    for (const { series, samples } of windows.values()) {
      const rules = {
        jitterWh: energy.counter_jitter_wh,
        glitchReadings: readings,
        maxPowerW: maxPowerW(series),
      };
      for (const window of merge(samples)) {
        for (const { ts, wh } of correct(window, rules)) corrections.push({ series, ts, wh });
      }
    }
    return corrections;
  }
}

/** Windows of consecutive readings that overlap become one (each is a run of the stored series). */
function merge(windows: CounterSample[][]): CounterSample[][] {
  const sorted = windows.filter((w) => w.length > 1).sort((a, b) => a[0]!.ts - b[0]!.ts);
  const merged: CounterSample[][] = [];
  for (const window of sorted) {
    const last = merged[merged.length - 1];
    if (last && window[0]!.ts <= last[last.length - 1]!.ts) {
      const seen = new Set(last.map((sample) => sample.ts));
      last.push(...window.filter((sample) => !seen.has(sample.ts)));
      last.sort((a, b) => a.ts - b.ts);
    } else {
      merged.push([...window]);
    }
  }
  return merged;
}

/** Classified steps minus raw differences, per reading time; the first reading is the reference. */
function correct(
  window: readonly CounterSample[],
  rules: ConstructorParameters<typeof CounterSteps>[0],
): { ts: number; wh: number }[] {
  const out: { ts: number; wh: number }[] = [];
  const steps = new CounterSteps(rules);
  for (const [i, sample] of window.entries()) {
    if (i > 0) out.push({ ts: sample.ts, wh: -(sample.value - window[i - 1]!.value) });
    for (const step of steps.push(sample)) out.push({ ts: stepInstant(step), wh: step.wh });
  }
  for (const step of steps.flush()) out.push({ ts: stepInstant(step), wh: step.wh });
  // The next raw difference after the window starts from the last reading; where that reading
  // was jitter below the reference, the jitter is given back so the sums keep adding up.
  const last = window[window.length - 1]!;
  const reference = steps.reference;
  if (reference && last.value < reference.value && last.value >= reference.value - rules!.jitterWh) {
    out.push({ ts: last.ts, wh: last.value - reference.value });
  }
  return out;
}
