import { WattbusError } from '@wattbus/contracts';
import type { ReadingValues } from '../driver.js';

/**
 * HS110 v1 firmware answers `emeter.get_realtime` in base units (`power` W, `voltage` V,
 * `current` A, `total` kWh); v2 firmware and KP115 in milli-units (`power_mw`, `voltage_mv`,
 * `current_ma`, `total_wh` Wh). Both become the reading schema's units.
 */
export function normalizeRealtime(raw: unknown, where: string): ReadingValues {
  if (typeof raw !== 'object' || raw === null) {
    throw new WattbusError('DEVICE_ERROR', `${where} sent no emeter data`);
  }
  const realtime = raw as Record<string, unknown>;
  const pick = (base: string, milli: string, milliPerBase: number): number | undefined => {
    const direct = realtime[base];
    if (typeof direct === 'number' && Number.isFinite(direct)) return direct;
    const scaled = realtime[milli];
    if (typeof scaled === 'number' && Number.isFinite(scaled)) return scaled / milliPerBase;
    return undefined;
  };
  const power = pick('power', 'power_mw', 1000);
  if (power === undefined) {
    throw new WattbusError('DEVICE_ERROR', `${where} sent emeter data without power`, { realtime });
  }
  const values: ReadingValues = { power_w: round(power) };
  const voltage = pick('voltage', 'voltage_mv', 1000);
  const current = pick('current', 'current_ma', 1000);
  // `total` is kWh, `total_wh` is Wh: the reading wants Wh.
  const totalKwh = pick('total', 'total_wh', 1000);
  if (voltage !== undefined) values.voltage_v = round(voltage);
  if (current !== undefined) values.current_a = round(current);
  if (totalKwh !== undefined) values.energy_wh = round(totalKwh * 1000);
  return values;
}

/** Six decimals: below the meters' resolution, and no `51493.00000000001` from kWh × 1000. */
export function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
