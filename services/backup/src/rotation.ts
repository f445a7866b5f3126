import type { CatalogEntry } from './catalog.js';
import type { Keep } from './config.js';

export interface RotationPlan {
  /** Oldest first, each with why it is kept. */
  keep: Array<{ entry: CatalogEntry; reasons: string[] }>;
  remove: CatalogEntry[];
}

type Tier = 'daily' | 'weekly' | 'monthly';

/**
 * Which backups to keep: the newest `keep.last`, one restore point per period for the last
 * `keep.daily` days, `keep.weekly` ISO weeks and `keep.monthly` months (the newest full backup of
 * the period, else its newest backup), the newest full backup always, and every backup a kept
 * one needs to be restored (its chain back to its full backup). Everything else goes.
 * Pure: `backups` is the catalog (oldest first), periods are read in `timezone`.
 */
export function planRotation(backups: readonly CatalogEntry[], keep: Keep, timezone: string): RotationPlan {
  const newestFirst = [...backups].reverse();
  const reasons = new Map<CatalogEntry, string[]>();
  const select = (entry: CatalogEntry, reason: string) => {
    const list = reasons.get(entry) ?? [];
    if (!list.includes(reason)) list.push(reason);
    reasons.set(entry, list);
  };

  newestFirst.slice(0, keep.last).forEach((entry, index) => select(entry, `last ${index + 1}/${keep.last}`));
  const newestFull = newestFirst.find((entry) => entry.manifest.kind === 'full');
  if (newestFull) select(newestFull, 'newest full');

  const periodOf = periodReader(timezone);
  for (const [tier, count] of [
    ['daily', keep.daily],
    ['weekly', keep.weekly],
    ['monthly', keep.monthly],
  ] as Array<[Tier, number]>) {
    if (count === 0) continue;
    const periods = new Map<string, CatalogEntry[]>();
    for (const entry of newestFirst) {
      const period = periodOf(entry.manifest.range.to_ms, tier);
      if (!periods.has(period)) {
        if (periods.size === count) break;
        periods.set(period, []);
      }
      periods.get(period)!.push(entry);
    }
    for (const [period, entries] of periods) {
      const pick = entries.find((entry) => entry.manifest.kind === 'full') ?? entries[0]!;
      select(pick, `${tier} ${period}`);
    }
  }

  // A kept incremental is only worth something with the backups it continues.
  const byId = new Map(backups.map((entry) => [entry.manifest.id, entry]));
  for (const [entry] of [...reasons]) {
    let current = entry;
    while (current.manifest.kind !== 'full' && current.manifest.parent !== null) {
      const parent = byId.get(current.manifest.parent);
      if (parent === undefined) break;
      select(parent, `needed by ${entry.manifest.id}`);
      current = parent;
    }
  }

  return {
    keep: backups
      .filter((entry) => reasons.has(entry))
      .map((entry) => ({ entry, reasons: reasons.get(entry)! })),
    remove: backups.filter((entry) => !reasons.has(entry)),
  };
}

/** Period names in a time zone: `2026-03-07` (day), `2026-W10` (ISO week), `2026-03` (month). */
export function periodReader(timezone: string): (ms: number, tier: Tier) => string {
  const format = new Intl.DateTimeFormat('en-CA', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  });
  return (ms, tier) => {
    const parts = Object.fromEntries(
      format.formatToParts(new Date(ms)).map((part) => [part.type, part.value]),
    );
    const [year, month, day] = [Number(parts.year), Number(parts.month), Number(parts.day)];
    if (tier === 'monthly') return `${parts.year}-${parts.month}`;
    if (tier === 'daily') return `${parts.year}-${parts.month}-${parts.day}`;
    // ISO 8601 week: the week with the year's first Thursday is week 1.
    const date = new Date(Date.UTC(year, month - 1, day));
    const weekday = date.getUTCDay() || 7;
    date.setUTCDate(date.getUTCDate() + 4 - weekday);
    const weekYear = date.getUTCFullYear();
    const week = Math.ceil(((date.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000 + 1) / 7);
    return `${weekYear}-W${String(week).padStart(2, '0')}`;
  };
}
