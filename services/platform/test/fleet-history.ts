import assert from 'node:assert/strict';
import { readingToLine } from '@wattbus/influx';
import { waitUntil, writeLineProtocol } from '@wattbus/testing';
import type { SimulatedDevice } from '../src/index.js';

const DAY_MS = 86_400_000;

/** How a kind of device draws over a day, 0..1: offices work weekdays 8-18 UTC, appliances cycle. */
function shape(kind: string, t: number): number {
  const date = new Date(t);
  const hour = date.getUTCHours() + date.getUTCMinutes() / 60;
  const weekday = date.getUTCDay() % 6 !== 0;
  const wobble = 1 + 0.15 * Math.sin(t / 170_000) + 0.05 * Math.sin(t / 23_000);
  if (kind === 'appliance')
    return (0.5 + 0.3 * Math.sin(t / 1_800_000) + (weekday && hour >= 8 && hour < 9 ? 0.8 : 0)) * wobble;
  return (weekday && hour >= 8 && hour < 18 ? 1 : 0.12) * wobble;
}

interface FirstLive {
  ts: number;
  energyWh: number;
}

async function firstLiveReadings(influxUrl: string, ids: readonly string[]): Promise<Map<string, FirstLive>> {
  const q = 'SELECT first(energy_wh) FROM electricity WHERE phase !~ /./ GROUP BY device';
  const found = new Map<string, FirstLive>();
  await waitUntil('every plug has a stored reading', async () => {
    const response = await fetch(`${influxUrl}/query?db=wattbus&epoch=ms&q=${encodeURIComponent(q)}`);
    const body = (await response.json()) as {
      results: { series?: { tags: { device: string }; values: [number, number][] }[] }[];
    };
    for (const series of body.results[0]?.series ?? []) {
      const [ts, energyWh] = series.values[0]!;
      found.set(series.tags.device, { ts, energyWh });
    }
    return ids.every((id) => found.has(id));
  });
  return found;
}

/**
 * 30 days of readings for every simulated TP-Link plug, as the storage hook would have written
 * them: one every 5 min, every 10 s in the last 2 h, ending just before the plug's first live
 * reading. Each plug's counter ends just below its live counter, so it never runs backwards, and
 * the 30 days hold 80 % of it.
 */
export async function writeFleetHistory(
  influxUrl: string,
  devices: readonly SimulatedDevice[],
): Promise<void> {
  const plugs = devices.filter((device) => device.type === 'tplink');
  const first = await firstLiveReadings(
    influxUrl,
    plugs.map((plug) => plug.id),
  );
  const lines: string[] = [];
  for (const plug of plugs) {
    const live = first.get(plug.id)!;
    const end = live.ts - 500;
    const times: number[] = [];
    for (let t = end - 30 * DAY_MS; t < end - 7_200_000; t += 300_000) times.push(t);
    for (let t = end - 7_200_000; t <= end; t += 10_000) times.push(t);
    const shapes = times.map((t) => shape(plug.kind, t));
    const area = shapes.reduce(
      (sum, value, index) =>
        sum + (index > 0 ? (value * (times[index]! - times[index - 1]!)) / 3_600_000 : 0),
      0,
    );
    const scale = (0.8 * live.energyWh) / area; // W per unit of shape
    let energy = live.energyWh - 0.8 * live.energyWh - 1;
    assert.ok(energy > 0);
    times.forEach((t, index) => {
      const power = scale * shapes[index]!;
      if (index > 0) energy += (power * (t - times[index - 1]!)) / 3_600_000;
      const voltage = 230 + 1.2 * Math.sin(t / 600_000) + 0.3 * Math.sin(t / 47_000);
      lines.push(
        readingToLine({
          ts: new Date(t).toISOString(),
          device: plug.id,
          type: plug.type,
          location: plug.location,
          power_w: Number(power.toFixed(2)),
          voltage_v: Number(voltage.toFixed(2)),
          current_a: Number((power / voltage).toFixed(3)),
          energy_wh: Number(energy.toFixed(2)),
        }),
      );
    });
  }
  for (let start = 0; start < lines.length; start += 10_000) {
    await writeLineProtocol(influxUrl, 'wattbus', lines.slice(start, start + 10_000));
  }
}
