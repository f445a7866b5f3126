import type { DeviceSummary, LatestResult } from '@wattbus/contracts';
import { Fleet as FleetView, type FleetDevice } from '@wattbus/fleet';

export type { FleetDevice };

export interface FleetFilter {
  location?: string;
  kind?: string;
}

/**
 * The query component's questions to the one fleet view (libs/fleet), so "what is drawing now"
 * needs no database: device summaries, latest readings, and the devices under a location or of a
 * kind. A device is known once anything about it was seen, a stored reading at warm-up included.
 */
export class Fleet extends FleetView {
  /** Known devices matching a location prefix and a kind, sorted by id. */
  matching(filter: FleetFilter): FleetDevice[] {
    return this.devices().filter((device) => {
      const location = device.meta?.location ?? device.reading?.location;
      if (filter.location !== undefined && !(location && underLocation(location, filter.location)))
        return false;
      if (filter.kind !== undefined && device.meta?.kind !== filter.kind) return false;
      return true;
    });
  }

  summaries(filter: FleetFilter): DeviceSummary[] {
    return this.matching(filter).map((device) => {
      const meta = device.meta;
      const summary: DeviceSummary = {
        id: device.id,
        availability: device.availability ?? 'unknown',
        state: device.state ?? null,
        reading: device.reading ?? null,
      };
      if (meta) {
        summary.name = meta.name;
        summary.type = meta.type;
        summary.kind = meta.kind;
        summary.location = meta.location;
        summary.poll_interval_ms = meta.poll_interval_ms;
        if (meta.model !== undefined) summary.model = meta.model;
      } else if (device.reading?.location) {
        summary.location = device.reading.location;
      }
      return summary;
    });
  }

  latest(ids: readonly string[]): LatestResult['devices'] {
    return ids.map((id) => {
      const device = this.get(id);
      return {
        device: id,
        reading: device?.reading ?? null,
        phases: device ? [...device.phases.values()].sort((a, b) => (a.phase! < b.phase! ? -1 : 1)) : [],
      };
    });
  }
}

/** `hq/floor-2` covers `hq/floor-2` and `hq/floor-2/…`, not `hq/floor-20`. */
export function underLocation(location: string, prefix: string): boolean {
  const trimmed = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return location === trimmed || location.startsWith(`${trimmed}/`);
}
