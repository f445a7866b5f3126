/** How numbers and times read on the page (the browser's locale, units always shown). */

const numberFormats = new Map<string, Intl.NumberFormat>();
function number(value: number, digits: number): string {
  const key = String(digits);
  let format = numberFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(undefined, {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    numberFormats.set(key, format);
  }
  return format.format(value);
}

export function formatPower(watts: number | null | undefined): string {
  if (watts === null || watts === undefined || !Number.isFinite(watts)) return '–';
  if (Math.abs(watts) >= 10_000) return `${number(watts / 1000, 1)} kW`;
  if (Math.abs(watts) >= 1000) return `${number(watts / 1000, 2)} kW`;
  return `${number(watts, Math.abs(watts) >= 100 ? 0 : 1)} W`;
}

export function formatEnergy(kwh: number): string {
  return Math.abs(kwh) >= 100 ? `${number(kwh, 0)} kWh` : `${number(kwh, Math.abs(kwh) >= 10 ? 1 : 2)} kWh`;
}

export function formatMoney(amount: number, currency: string): string {
  return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(amount);
}

export function formatTime(iso: string | number): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function formatDay(iso: string): string {
  return new Date(iso).toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
}

export function formatMonth(iso: string): string {
  return new Date(iso).toLocaleDateString(undefined, { month: 'short', year: 'numeric' });
}
