/**
 * Energy from a cumulative `energy_wh` counter that survives the glitches real meters produce.
 * Four kinds of backward or sudden movement, told apart by what the counter does next:
 *
 * - rounding jitter: a backward step of at most `jitterWh` is not energy, and neither is the
 *   climb back over it (the reference stays at the highest value seen);
 * - a one-off dip (1,000,010 → 0 → 1,000,050): the counter falls below the trend and is back at
 *   or above it within `glitchReadings` readings; the readings of the dip are ignored. (Readings
 *   down there that rose steadily, followed by a climb back the device could make, are a reset
 *   and the use after it: 1400 → 50 → 250 → 400 → 1400.)
 * - a one-off spike (1,000,010 → 9,999,999 → 1,000,050): the counter rises and falls back to the
 *   trend within `glitchReadings` readings, or rises faster than the device's `maxPowerW` could;
 *   the readings of the spike are ignored;
 * - a reset: the counter falls and stays down (no return within `glitchReadings`). Falling to
 *   at most half of the reference (toward zero), it restarted: the new value is the energy since
 *   the restart. Staying higher, the counter was replaced or rebased: nothing is counted.
 *
 * Used by the query component (on raw readings around every drop) and by the alert hook's daily
 * budget (on the live stream), so both count the same energy.
 */

export interface CounterSample {
  /** Time of the reading, ms since the epoch. */
  ts: number;
  /** The counter value, Wh. */
  value: number;
}

/** Energy between two readings; it counts at its later reading (see `stepInstant`). */
export interface EnergyStep {
  fromMs: number;
  toMs: number;
  wh: number;
}

export interface CounterRules {
  /** Backward steps up to this size are rounding jitter (Wh). */
  jitterWh: number;
  /** A dip or spike lasts at most this many readings before the counter is back on its trend. */
  glitchReadings: number;
  /** A rise implying more average power than this is a spike (W); absent: no rate check. */
  maxPowerW?: number;
}

export const DEFAULT_COUNTER_RULES: CounterRules = { jitterWh: 10, glitchReadings: 3 };

/** What a CounterSteps remembers between readings (the alert hook keeps it in a file). */
export interface CounterState {
  /** The trusted reference: the highest accepted value, at the time of the latest accepted reading. */
  reference?: CounterSample;
  /** Readings after the reference, waiting for the readings that tell what they are. */
  pending: CounterSample[];
}

/**
 * The instant a step counts at: its later reading. A step is not split across a bucket boundary;
 * it counts whole in the bucket (hour, local day…) that holds its later reading. For a gap we know
 * how much energy, not when; and the query component's InfluxQL sums steps by their later reading.
 * The query component and the alert hook both bucket steps by this instant.
 */
export function stepInstant(step: Pick<EnergyStep, 'toMs'>): number {
  return step.toMs;
}

/**
 * Classifies a counter's readings (in time order) into energy steps. `push()` returns the steps
 * decided by that reading; a reading is decided once `glitchReadings` readings followed it (or
 * earlier, when the next ones already tell). `preview()` is what `flush()` would return now,
 * without deciding: the best answer while the last readings are still pending.
 */
export class CounterSteps {
  #rules: CounterRules;
  #reference: CounterSample | undefined;
  #pending: CounterSample[];

  constructor(rules: CounterRules = DEFAULT_COUNTER_RULES, state?: CounterState) {
    this.#rules = rules;
    this.#reference = state?.reference;
    this.#pending = [...(state?.pending ?? [])];
  }

  get state(): CounterState {
    return {
      ...(this.#reference ? { reference: { ...this.#reference } } : {}),
      pending: this.#pending.map((sample) => ({ ...sample })),
    };
  }

  /** The trusted counter value (the highest accepted), once there is one. */
  get reference(): CounterSample | undefined {
    return this.#reference;
  }

  push(sample: CounterSample): EnergyStep[] {
    this.#pending.push(sample);
    return this.#decide(false);
  }

  /** Decides every pending reading as if no more will come. */
  flush(): EnergyStep[] {
    return this.#decide(true);
  }

  preview(): EnergyStep[] {
    return new CounterSteps(this.#rules, this.state).flush();
  }

  #decide(final: boolean): EnergyStep[] {
    const steps: EnergyStep[] = [];
    const { jitterWh, glitchReadings } = this.#rules;
    const pending = this.#pending;
    while (pending.length > 0) {
      const head = pending[0]!;
      const reference = this.#reference;
      if (!reference) {
        this.#reference = pending.shift();
        continue;
      }
      const trend = reference.value - jitterWh;
      if (head.value < trend) {
        // Below the trend: a dip if the counter is back within glitchReadings readings, unless the
        // readings down there rose steadily and the climb back was possible: a reset, then use.
        const back = pending.findIndex((sample, i) => i > 0 && i <= glitchReadings && sample.value >= trend);
        if (back > 0 && this.#isDip(pending.slice(0, back), pending[back]!)) {
          pending.splice(0, back);
          continue;
        }
        if (back < 0 && !final && pending.length <= glitchReadings) break;
        const restarted = head.value <= reference.value / 2;
        steps.push({ fromMs: reference.ts, toMs: head.ts, wh: restarted ? head.value : 0 });
        this.#reference = pending.shift();
        continue;
      }
      if (head.value <= reference.value) {
        // Flat or jitter: nothing counted; the reference keeps its value and moves on in time.
        this.#reference = { ts: head.ts, value: reference.value };
        pending.shift();
        continue;
      }
      if (this.#tooFast(reference, head)) {
        pending.shift();
        continue;
      }
      // A rise: a spike if the counter falls back onto the trend within glitchReadings readings.
      const fall = pending.findIndex(
        (sample, i) => i > 0 && i <= glitchReadings && sample.value < head.value - jitterWh,
      );
      if (fall > 0 && pending[fall]!.value >= trend) {
        pending.shift();
        continue;
      }
      if (fall < 0 && !final && pending.length <= glitchReadings) break;
      steps.push({ fromMs: reference.ts, toMs: head.ts, wh: head.value - reference.value });
      this.#reference = pending.shift();
    }
    return steps;
  }

  /** Readings below the trend that did not rise steadily, or a climb back faster than the device can. */
  #isDip(low: readonly CounterSample[], back: CounterSample): boolean {
    const { jitterWh } = this.#rules;
    const rose =
      low.length > 1 &&
      low[low.length - 1]!.value - low[0]!.value > jitterWh &&
      low.every((sample, i) => i === 0 || sample.value >= low[i - 1]!.value - jitterWh);
    return !rose || this.#tooFast(low[low.length - 1]!, back);
  }

  /** More energy than the device's maximum power could deliver in the time (when time passed). */
  #tooFast(reference: CounterSample, head: CounterSample): boolean {
    const { maxPowerW } = this.#rules;
    const elapsedMs = head.ts - reference.ts;
    if (maxPowerW === undefined || elapsedMs <= 0) return false;
    return ((head.value - reference.value) * 3_600_000) / elapsedMs > maxPowerW;
  }
}
