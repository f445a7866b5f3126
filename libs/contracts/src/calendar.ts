/**
 * Local calendars in IANA zones, computed with Intl.DateTimeFormat: the query component's
 * buckets, and the days and months a device's own history is counted in.
 */

let zones: Set<string> | undefined;

/** True for an IANA zone the runtime knows (Intl.supportedValuesOf plus what DateTimeFormat accepts). */
export function isTimeZone(zone: string): boolean {
  if (typeof zone !== 'string' || !/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(zone)) return false;
  zones ??= new Set(Intl.supportedValuesOf('timeZone'));
  if (zones.has(zone) || zone === 'UTC') return true;
  try {
    // Aliases (Europe/Kiev, Etc/GMT+1…) are valid but not listed.
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Calendar buckets in an IANA zone: a day is a local day (23 or 25 hours across DST). */
export const CALENDAR_UNITS = ['15m', '1h', '1d', '1w', '1mo', '1y'] as const;
export type CalendarUnit = (typeof CALENDAR_UNITS)[number];

/** Shortest length of each unit, to bound a bucket count before computing any bucket. */
export const CALENDAR_MIN_MS: Record<CalendarUnit, number> = {
  '15m': 900_000,
  '1h': 3_600_000,
  '1d': 23 * 3_600_000,
  '1w': 7 * 86_400_000 - 3_600_000,
  '1mo': 28 * 86_400_000 - 3_600_000,
  '1y': 365 * 86_400_000 - 3_600_000,
};

export interface LocalTime {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 0 = Monday … 6 = Sunday */
  weekday: number;
}

export interface Bucket {
  start: number;
  end: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

function format(zone: string): Intl.DateTimeFormat {
  let found = formats.get(zone);
  if (!found) {
    if (!isTimeZone(zone)) throw new RangeError(`unknown time zone ${JSON.stringify(zone)}`);
    found = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    formats.set(zone, found);
  }
  return found;
}

export function localTime(ms: number, zone: string): LocalTime {
  const parts: Record<string, string> = {};
  for (const part of format(zone).formatToParts(ms)) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: WEEKDAYS.indexOf(parts.weekday ?? ''),
  };
}

/** Offset of the zone from UTC at `ms`, in ms (Madrid in summer: 7,200,000). */
export function zoneOffset(ms: number, zone: string): number {
  const local = localTime(ms, zone);
  const asUtc = Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute, local.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** The instant a local wall time happens (the later side of a DST gap; the first of a repeated hour). */
export function fromLocal(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  zone: string,
): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  let guess = wall - zoneOffset(wall, zone);
  guess = wall - zoneOffset(guess, zone);
  const earlier = wall - zoneOffset(guess - 3_600_000, zone);
  // In a repeated hour both offsets fit; take the first occurrence.
  if (earlier < guess && zoneOffset(earlier, zone) === wall - earlier) return earlier;
  return guess;
}

/** Start of the calendar unit that contains `ms`. */
export function unitStart(ms: number, unit: CalendarUnit, zone: string): number {
  const t = localTime(ms, zone);
  switch (unit) {
    case '15m':
      return ms - (((t.minute % 15) * 60 + t.second) * 1000 + (ms % 1000));
    case '1h':
      return ms - ((t.minute * 60 + t.second) * 1000 + (ms % 1000));
    case '1d':
      return fromLocal(t.year, t.month, t.day, 0, 0, zone);
    case '1w': {
      const monday = new Date(Date.UTC(t.year, t.month - 1, t.day - t.weekday));
      return fromLocal(monday.getUTCFullYear(), monday.getUTCMonth() + 1, monday.getUTCDate(), 0, 0, zone);
    }
    case '1mo':
      return fromLocal(t.year, t.month, 1, 0, 0, zone);
    case '1y':
      return fromLocal(t.year, 1, 1, 0, 0, zone);
  }
}

/** Start of the unit after the one starting at `start`. */
export function nextUnitStart(start: number, unit: CalendarUnit, zone: string): number {
  if (unit === '15m') return start + 900_000;
  if (unit === '1h') return unitStart(start + 3_600_000 + 1_000, unit, zone);
  const t = localTime(start, zone);
  const step = unit === '1d' ? [0, 0, 1] : unit === '1w' ? [0, 0, 7] : unit === '1mo' ? [0, 1, 0] : [1, 0, 0];
  const next = new Date(Date.UTC(t.year + step[0]!, t.month - 1 + step[1]!, t.day + step[2]!));
  return fromLocal(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), 0, 0, zone);
}

/** Buckets covering [from, to), the first and last clipped to the range. */
export function calendarBuckets(fromMs: number, toMs: number, unit: CalendarUnit, zone: string): Bucket[] {
  const buckets: Bucket[] = [];
  let start = unitStart(fromMs, unit, zone);
  while (start < toMs) {
    const end = nextUnitStart(start, unit, zone);
    buckets.push({ start: Math.max(start, fromMs), end: Math.min(end, toMs) });
    start = end;
  }
  return buckets;
}

/** Upper bound of the number of buckets, without computing them. */
export function maxBucketCount(fromMs: number, toMs: number, unit: CalendarUnit): number {
  return Math.ceil((toMs - fromMs) / CALENDAR_MIN_MS[unit]) + 1;
}
