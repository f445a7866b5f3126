import { localTime } from '@wattbus/influx';
import type { TariffConfig } from './config.js';

const DAY_INDEX = { mon: 0, tue: 1, wed: 2, thu: 3, fri: 4, sat: 5, sun: 6 } as const;

/** Price per kWh at an instant: a flat price, or time-of-use periods by local hour and weekday. */
export class Tariff {
  readonly currency: string;
  readonly zone: string;
  #config: TariffConfig;

  constructor(config: TariffConfig, zone: string) {
    this.#config = config;
    this.currency = config.currency;
    this.zone = zone;
  }

  /** Time-of-use prices need energy per local hour; a flat price only needs totals. */
  get timeOfUse(): boolean {
    return this.#config.periods.length > 0;
  }

  /** Price of energy used in the local hour containing `ms`. */
  priceAt(ms: number): number {
    if (!this.timeOfUse) return this.#config.price_per_kwh;
    const local = localTime(ms, this.zone);
    for (const period of this.#config.periods) {
      const day = period.days.some((name) => DAY_INDEX[name] === local.weekday);
      if (day && local.hour >= period.from_hour && local.hour < period.to_hour) return period.price_per_kwh;
    }
    return this.#config.price_per_kwh;
  }
}
