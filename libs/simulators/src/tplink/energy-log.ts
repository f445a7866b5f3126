/**
 * The daily and monthly energy a Kasa plug with an energy meter remembers, answered as
 * `emeter.get_daystat {year, month}` and `emeter.get_monthstat {year}` the way plugs do
 * (python-kasa's `Emeter`, tplink-smarthome-api's `emeter.getDayStats`, observed HS110 answers):
 *
 * - days and months are the plug's own calendar (its time zone), named by year, month, day;
 * - only days (months) with a record are listed, in order: a plug set up on the 28th lists the
 *   28th onwards, never invented zeros before it;
 * - HS110 v1 firmware gives `energy` in kWh, v2 firmware and HS300/KP115 `energy_wh` in Wh;
 * - the month's total is the sum of its days, unless the plug kept only the total (`setMonth`);
 * - a call without its arguments is refused with err_code -3 "invalid argument".
 *
 * tplink-smarthome-simulator answers both with random numbers for every day; tests need exact ones.
 */
export class KasaEnergyLog {
  /** `yyyy-mm-dd` → Wh. */
  #days = new Map<string, number>();
  /** `yyyy-mm` → Wh, for months whose days the plug no longer keeps. */
  #months = new Map<string, number>();
  readonly #milliUnits: boolean;

  constructor(milliUnits: boolean) {
    this.#milliUnits = milliUnits;
  }

  /** Energy of one day of the plug's calendar, Wh (v1 firmware reports it to 1 Wh, as kWh with 3 decimals). */
  setDay(year: number, month: number, day: number, wh: number): void {
    this.#days.set(key(year, month, day), wh);
  }

  /** A month's total the plug kept after forgetting its days. */
  setMonth(year: number, month: number, wh: number): void {
    this.#months.set(key(year, month), wh);
  }

  clear(): void {
    this.#days.clear();
    this.#months.clear();
  }

  daystat(args: unknown): Record<string, unknown> {
    const { year, month } = (args ?? {}) as { year?: unknown; month?: unknown };
    if (!isWhole(year) || !isWhole(month)) return INVALID_ARGUMENT;
    const day_list = [...this.#days.entries()]
      .filter(([date]) => date.startsWith(`${key(year, month)}-`))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([date, wh]) => ({ year, month, day: Number(date.slice(8)), ...this.#energy(wh) }));
    return { day_list, err_code: 0 };
  }

  monthstat(args: unknown): Record<string, unknown> {
    const { year } = (args ?? {}) as { year?: unknown };
    if (!isWhole(year)) return INVALID_ARGUMENT;
    const month_list = [];
    for (let month = 1; month <= 12; month++) {
      const prefix = key(year, month);
      const days = [...this.#days.entries()].filter(([date]) => date.startsWith(`${prefix}-`));
      const kept = this.#months.get(prefix);
      if (kept === undefined && days.length === 0) continue;
      const wh = kept ?? days.reduce((sum, [, value]) => sum + value, 0);
      month_list.push({ year, month, ...this.#energy(wh) });
    }
    return { month_list, err_code: 0 };
  }

  #energy(wh: number): Record<string, number> {
    return this.#milliUnits ? { energy_wh: Math.round(wh) } : { energy: Math.round(wh) / 1000 };
  }
}

const INVALID_ARGUMENT = { err_code: -3, err_msg: 'invalid argument' };

function isWhole(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

function key(year: number, month: number, day?: number): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${year}-${pad(month)}${day === undefined ? '' : `-${pad(day)}`}`;
}
