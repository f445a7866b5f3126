/**
 * `new Date(ms).toISOString()` for many timestamps in a row (the points of an answer): the date
 * part is formatted once per UTC day and the time of day from lookup tables, several times faster
 * than a Date per point (1,440 points of a day at 1 min: ~1.5 ms with Dates on the bench machine).
 */
export function isoTimes(): (ms: number) => string {
  let dayStart = Number.NaN;
  let datePart = '';
  return (ms) => {
    if (!(ms >= dayStart && ms < dayStart + DAY_MS)) {
      // Negative, fractional or past year 9999: toISOString's own (rare) forms.
      if (!Number.isInteger(ms) || ms < 0 || ms >= YEAR_10000_MS) return new Date(ms).toISOString();
      dayStart = ms - (ms % DAY_MS);
      datePart = new Date(dayStart).toISOString().slice(0, 11); // 2026-11-30T
    }
    const t = ms - dayStart;
    return `${datePart}${TWO[Math.floor(t / 3_600_000)]}:${TWO[Math.floor(t / 60_000) % 60]}:${TWO[Math.floor(t / 1000) % 60]}.${THREE[t % 1000]}Z`;
  };
}

const DAY_MS = 86_400_000;
const YEAR_10000_MS = Date.UTC(10000, 0, 1);
const TWO = Array.from({ length: 60 }, (_, n) => String(n).padStart(2, '0'));
const THREE = Array.from({ length: 1000 }, (_, n) => String(n).padStart(3, '0'));
