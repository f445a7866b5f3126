import type { JsonText } from '@wattbus/bus';
import {
  MAX_SPAN_MS,
  MAX_SPAN_YEARS,
  WattbusError,
  defaultFieldLimit,
  type CostParams,
  type CostResult,
  type DevicesParams,
  type DevicesResult,
  type EnergyParams,
  type EnergyResult,
  type LatestParams,
  type LatestResult,
  type QueryMethod,
  type QueryParams,
  type QueryResults,
  type ReadingsParams,
  type TotalsParams,
  type TotalsResult,
} from '@wattbus/contracts';
import {
  calendarBuckets,
  ENERGY_HISTORY_MEASUREMENT,
  isTimeZone,
  maxBucketCount,
  parseDuration,
  type Bucket,
  type InfluxQueryClient,
} from '@wattbus/influx';
import type { QueryConfig } from './config.js';
import { tooLarge } from './errors.js';
import { PointTable } from './point-table.js';
import { kwh, money, readingRounder } from './rounding.js';
import { chooseBase, EnergyReader, type DeviceEnergy } from './energy.js';
import { HistoryReader, withHistory } from './history.js';
import type { Fleet, FleetDevice } from './fleet.js';
import type { Tariff } from './tariff.js';

export interface QueryMethodsDeps {
  fleet: Fleet;
  client: InfluxQueryClient;
  config: QueryConfig;
  tariff: Tariff;
}

/** Per request: how long InfluxDB may take (the envelope's deadline or the configured timeout). */
export interface CallContext {
  timeoutMs: number;
}

/**
 * One handler per query method, typed by the contract: the component dispatches through this map.
 * A handler may answer with the result's JSON text (a JsonText, sent on as it is: `readings`).
 */
export type QueryHandlers = {
  [M in QueryMethod]: (
    params: QueryParams[M],
    call: CallContext,
  ) => QueryResults[M] | JsonText | Promise<QueryResults[M] | JsonText>;
};

/** The answers of every query method; params arrive validated against their contract schema. */
export class QueryMethods implements QueryHandlers {
  #deps: QueryMethodsDeps;
  #energy: EnergyReader;
  #returned: EnergyReader;
  #history: HistoryReader;

  constructor(deps: QueryMethodsDeps) {
    this.#deps = deps;
    const readerDeps = {
      client: deps.client,
      config: deps.config,
      limitsOf: (device: string) => deps.fleet.get(device)?.meta?.limits,
    };
    this.#energy = new EnergyReader(readerDeps);
    // The same counter arithmetic (glitches, resets, long steps) on the returned-energy counter.
    this.#returned = new EnergyReader({ ...readerDeps, counter: 'energy_returned_wh' });
    this.#history = new HistoryReader({ client: deps.client, config: deps.config });
  }

  devices(params: DevicesParams): DevicesResult {
    return { devices: this.#deps.fleet.summaries(params) };
  }

  latest(params: LatestParams): LatestResult {
    const unknown = params.devices.filter((id) => !this.#deps.fleet.has(id));
    if (unknown.length > 0) {
      throw new WattbusError(
        'UNKNOWN_DEVICE',
        `unknown device${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`,
        {
          devices: unknown,
        },
      );
    }
    return { devices: this.#deps.fleet.latest(params.devices) };
  }

  /** The ReadingsResult as JSON text, written from InfluxDB's rows (see PointTable). */
  async readings(params: ReadingsParams, call: CallContext): Promise<JsonText> {
    const { fromMs, toMs } = range(params.from, params.to);
    const zone = this.#zone(params.tz);
    const fields = params.fields ?? ['power_w'];
    const { max_points } = this.#deps.config.limits;
    const every = params.every === undefined ? undefined : parseDuration(params.every);
    for (const key of ['fn', 'fill'] as const) {
      if (!every && params[key] !== undefined) {
        throw new WattbusError(
          'INVALID_PARAMS',
          `invalid params: /${key}: needs every (raw readings are not aggregated)`,
          {
            errors: [{ path: `/${key}`, message: 'needs every' }],
          },
        );
      }
    }
    const fn = every ? (params.fn ?? 'mean') : null;
    if (every) {
      const buckets = Math.ceil((toMs - fromMs) / every.ms) + 1;
      if (buckets > max_points) {
        throw tooLarge(
          `${params.every} buckets over this range would be ${buckets} points`,
          'limits.max_points',
          max_points,
        );
      }
    } else {
      const interval = this.#deps.fleet.get(params.device)?.meta?.poll_interval_ms;
      const expected = interval ? Math.floor((toMs - fromMs) / interval) : 0;
      if (expected > max_points) {
        throw tooLarge(
          `raw readings every ${interval} ms over this range would be about ${expected} points; ask with every`,
          'limits.max_points',
          max_points,
        );
      }
    }
    await this.#ensureKnown(params.device, call);
    const q = await this.#deps.client.builder();
    const where = `"device" = ${q.value(params.device)} AND "phase" = ${q.value(params.phase ?? '')} AND ${q.range(fromMs, toMs)}`;
    if (every && fn) {
      // One statement per field, each leaving out values no device can report (stored before the
      // plausibility checks), so a sum of them cannot overflow; InfluxDB answers on the same grid.
      for (const field of fields) {
        const limit = defaultFieldLimit(field);
        const plausible =
          limit === undefined ? '' : ` AND ${q.ident(field)} >= -${limit} AND ${q.ident(field)} <= ${limit}`;
        q.statement(
          `SELECT ${q.fn(fn, q.ident(field))} AS ${q.ident(field)} FROM "electricity" WHERE ${where}${plausible} GROUP BY time(${q.duration(every.ms)}) ${q.fill(params.fill ?? 'none')} ${q.tz(zone)}`,
        );
      }
    } else {
      const columns = fields.map((field) => q.ident(field)).join(', ');
      q.statement(
        `SELECT ${columns} FROM "electricity" WHERE ${where} ORDER BY time ASC LIMIT ${max_points + 1}`,
      );
    }
    const results = await this.#deps.client.run(q, { timeoutMs: call.timeoutMs });
    // Rows are read by column index (no object per row): a day at 1 min is 1,440 of them.
    const table = new PointTable(fields);
    for (const result of results) {
      for (const series of result?.series ?? []) {
        const timeAt = series.columns.indexOf('time');
        const present = fields.filter((field) => series.columns.includes(field));
        const at = present.map((field) => series.columns.indexOf(field));
        const into = present.map((field) => fields.indexOf(field));
        const rounders = present.map(readingRounder);
        for (const values of series.values) {
          const row = table.row(values[timeAt] as number);
          for (let i = 0; i < present.length; i++) table.set(row, into[i]!, rounders[i]!(values[at[i]!]));
        }
      }
    }
    if (table.size > max_points) {
      throw tooLarge(
        `there are more than ${max_points} raw readings in this range; ask with every`,
        'limits.max_points',
        max_points,
      );
    }
    return table.toJson({
      device: params.device,
      from: iso(fromMs),
      to: iso(toMs),
      fields,
      every: params.every ?? null,
      fn,
      phase: params.phase ?? null,
    });
  }

  async energy(params: EnergyParams, call: CallContext): Promise<EnergyResult> {
    const { fromMs, toMs } = range(params.from, params.to);
    const zone = this.#zone(params.tz);
    const buckets = this.#buckets(fromMs, toMs, params.every, zone);
    const base = chooseBase([fromMs, toMs, ...buckets.map((bucket) => bucket.start)]);
    this.#checkRows(1, fromMs, toMs, base);
    await this.#ensureKnown(params.device, call);
    const read = (reader: EnergyReader) =>
      reader
        .read([params.device], fromMs, toMs, base, call.timeoutMs)
        .then((found) => found.get(params.device)!);
    const [raw, exported, history] = await Promise.all([
      read(this.#energy),
      read(this.#returned),
      this.#history.read([params.device], fromMs, toMs, call.timeoutMs),
    ]);
    // The device's own history where there are no readings (docs/query.md, "Device history").
    const device = withHistory(raw, history.get(params.device), base);
    const wh = sumIntoBuckets(buckets, device.rows);
    // Export and net only where the device counts returned energy (a meter at the grid connection).
    const exportWh = exported.method === 'none' ? undefined : sumIntoBuckets(buckets, exported.rows);
    const total = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
    return {
      device: params.device,
      from: iso(fromMs),
      to: iso(toMs),
      every: params.every,
      tz: zone,
      method: device.method,
      buckets: buckets.map((bucket, i) => ({
        start: iso(bucket.start),
        end: iso(bucket.end),
        energy_kwh: kwh(wh[i]!),
        ...(exportWh ? netOf(wh[i]!, exportWh[i]!) : {}),
      })),
      total_kwh: kwh(total(wh)),
      ...(exportWh ? totalNetOf(total(wh), total(exportWh)) : {}),
    };
  }

  async totals(params: TotalsParams, call: CallContext): Promise<TotalsResult> {
    const { fromMs, toMs } = range(params.from, params.to);
    // One bucket, [from, to): the zone changes nothing, but an unknown one is still an error.
    this.#zone(params.tz);
    const devices = this.#deps.fleet.matching(params).filter((device) => device.meta);
    const priced = await this.#priced(devices, fromMs, toMs, [{ start: fromMs, end: toMs }], call);
    const groups = new Map<string, { devices: string[]; wh: number; cost: number }>();
    for (const device of devices) {
      const key = groupKey(device, params);
      const group = groups.get(key) ?? { devices: [], wh: 0, cost: 0 };
      const totals = priced.get(device.id)!;
      group.devices.push(device.id);
      group.wh += totals.wh[0]!;
      group.cost += totals.cost[0]!;
      groups.set(key, group);
    }
    const sorted = [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      from: iso(fromMs),
      to: iso(toMs),
      group_by: params.group_by,
      currency: this.#deps.tariff.currency,
      groups: sorted.map(([key, group]) => ({
        key,
        devices: group.devices,
        energy_kwh: kwh(group.wh),
        cost: money(group.cost),
      })),
      total_kwh: kwh(sorted.reduce((sum, [, group]) => sum + group.wh, 0)),
      total_cost: money(sorted.reduce((sum, [, group]) => sum + group.cost, 0)),
    };
  }

  async cost(params: CostParams, call: CallContext): Promise<CostResult> {
    const { fromMs, toMs } = range(params.from, params.to);
    const zone = this.#zone(params.tz);
    const buckets = params.every
      ? this.#buckets(fromMs, toMs, params.every, zone)
      : [{ start: fromMs, end: toMs }];
    let devices: Pick<FleetDevice, 'id'>[];
    if (params.device !== undefined) {
      await this.#ensureKnown(params.device, call);
      devices = [{ id: params.device }];
    } else {
      devices = this.#deps.fleet.matching(params).filter((device) => device.meta);
    }
    const priced = await this.#priced(devices, fromMs, toMs, buckets, call);
    const wh = buckets.map((_, i) => [...priced.values()].reduce((sum, device) => sum + device.wh[i]!, 0));
    const cost = buckets.map((_, i) =>
      [...priced.values()].reduce((sum, device) => sum + device.cost[i]!, 0),
    );
    return {
      from: iso(fromMs),
      to: iso(toMs),
      every: params.every ?? null,
      tz: zone,
      currency: this.#deps.tariff.currency,
      devices: devices.map((device) => device.id),
      buckets: buckets.map((bucket, i) => ({
        start: iso(bucket.start),
        end: iso(bucket.end),
        energy_kwh: kwh(wh[i]!),
        cost: money(cost[i]!),
      })),
      total_kwh: kwh(wh.reduce((a, b) => a + b, 0)),
      total_cost: money(cost.reduce((a, b) => a + b, 0)),
    };
  }

  /** Energy (Wh) and cost per bucket of each device; base rows are priced by their local hour. */
  async #priced(
    devices: readonly Pick<FleetDevice, 'id'>[],
    fromMs: number,
    toMs: number,
    buckets: readonly Bucket[],
    call: CallContext,
  ): Promise<Map<string, { wh: number[]; cost: number[] }>> {
    const tariff = this.#deps.tariff;
    const ids = devices.map((device) => device.id);
    const single = buckets.length === 1 && buckets[0]!.start === fromMs && buckets[0]!.end === toMs;
    const history = await this.#history.read(ids, fromMs, toMs, call.timeoutMs);
    // History needs readings per base interval: only they tell which days have readings.
    const historyBounds = [...history.values()]
      .flat()
      .flatMap((interval) => [interval.startMs, interval.endMs]);
    const base =
      single && !tariff.timeOfUse && historyBounds.length === 0
        ? null
        : chooseBase(
            [fromMs, toMs, ...buckets.map((bucket) => bucket.start), ...historyBounds],
            tariff.timeOfUse ? tariff.zone : undefined,
          );
    if (base !== null) this.#checkRows(devices.length, fromMs, toMs, base);
    const raw: Map<string, DeviceEnergy> = await this.#energy.read(ids, fromMs, toMs, base, call.timeoutMs);
    const energy = new Map<string, DeviceEnergy>();
    // With history there is a base (above); without, withHistory leaves the rows as they are.
    for (const [id, device] of raw)
      energy.set(id, withHistory(device, history.get(id), base ?? toMs - fromMs));
    const priced = new Map<string, { wh: number[]; cost: number[] }>();
    for (const device of devices) {
      const rows = energy.get(device.id)?.rows ?? [];
      const assigned = single ? rows.map(() => 0) : rows.map((row) => bucketIndex(buckets, row.ts));
      const wh = buckets.map(() => 0);
      const cost = buckets.map(() => 0);
      rows.forEach((row, i) => {
        const index = assigned[i]!;
        if (index < 0) return;
        wh[index]! += row.wh;
        // Without time-of-use one price fits every row, whatever its timestamp.
        cost[index]! += (row.wh / 1000) * tariff.priceAt(row.ts);
      });
      priced.set(device.id, { wh, cost });
    }
    return priced;
  }

  #buckets(fromMs: number, toMs: number, every: EnergyParams['every'], zone: string): Bucket[] {
    const { max_buckets } = this.#deps.config.limits;
    const upper = maxBucketCount(fromMs, toMs, every);
    if (upper > max_buckets) {
      throw tooLarge(`${every} buckets over this range could be ${upper}`, 'limits.max_buckets', max_buckets);
    }
    return calendarBuckets(fromMs, toMs, every, zone);
  }

  /** The rows InfluxDB would return (per device, per base interval, per statement) are bounded too. */
  #checkRows(devices: number, fromMs: number, toMs: number, baseMs: number): void {
    const { max_rows } = this.#deps.config.limits;
    const rows = devices * Math.ceil((toMs - fromMs) / baseMs) * 3;
    if (rows > max_rows) {
      throw tooLarge(
        `this range needs ${baseMs} ms resolution (align from/to to whole hours for less) and about ${rows} rows from InfluxDB`,
        'limits.max_rows',
        max_rows,
      );
    }
  }

  #zone(tz: string | undefined): string {
    const zone = tz ?? this.#deps.config.time_zone;
    if (!isTimeZone(zone)) {
      throw new WattbusError(
        'INVALID_PARAMS',
        `invalid params: /tz: unknown time zone ${JSON.stringify(zone)}`,
        {
          errors: [{ path: '/tz', message: 'unknown time zone' }],
        },
      );
    }
    return zone;
  }

  /** Range methods accept a device seen on the bus, or one InfluxDB has series of (e.g. retired). */
  async #ensureKnown(device: string, call: CallContext): Promise<void> {
    if (this.#deps.fleet.has(device)) return;
    const q = await this.#deps.client.builder();
    q.statement(
      `SHOW TAG VALUES FROM "electricity", ${q.ident(ENERGY_HISTORY_MEASUREMENT)} WITH KEY = "device" WHERE "device" = ${q.value(device)}`,
    );
    const [result] = await this.#deps.client.run(q, { timeoutMs: call.timeoutMs });
    if ((result?.series.length ?? 0) === 0) {
      throw new WattbusError('UNKNOWN_DEVICE', `unknown device: ${device}`, { devices: [device] });
    }
  }
}

function range(from: string, to: string): { fromMs: number; toMs: number } {
  const fromMs = Date.parse(from);
  const toMs = Date.parse(to);
  if (!(toMs > fromMs)) {
    throw new WattbusError('INVALID_PARAMS', 'invalid params: /to: must be after /from', {
      errors: [{ path: '/to', message: 'must be after /from' }],
    });
  }
  if (toMs - fromMs > MAX_SPAN_MS) {
    const message = `must be at most ${MAX_SPAN_YEARS} years after /from (InfluxDB computes time in int64 nanoseconds)`;
    throw new WattbusError('INVALID_PARAMS', `invalid params: /to: ${message}`, {
      errors: [{ path: '/to', message }],
    });
  }
  return { fromMs, toMs };
}

function groupKey(device: FleetDevice, params: TotalsParams): string {
  const meta = device.meta!;
  if (params.group_by === 'device') return device.id;
  if (params.group_by === 'kind') return meta.kind;
  const levels = meta.location.split('/');
  return levels.slice(0, params.depth ?? levels.length).join('/');
}

function bucketIndex(buckets: readonly Bucket[], ts: number): number {
  let low = 0;
  let high = buckets.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const bucket = buckets[middle]!;
    if (ts < bucket.start) high = middle - 1;
    else if (ts >= bucket.end) low = middle + 1;
    else return middle;
  }
  return -1;
}

function sumIntoBuckets(buckets: readonly Bucket[], rows: readonly { ts: number; wh: number }[]): number[] {
  const wh = buckets.map(() => 0);
  for (const row of rows) {
    const index = bucketIndex(buckets, row.ts);
    if (index >= 0) wh[index]! += row.wh;
  }
  return wh;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A bucket's export and net energy; net is rounded from the exact difference, not from rounded parts. */
function netOf(importWh: number, exportWh: number): { export_kwh: number; net_kwh: number } {
  return { export_kwh: kwh(exportWh), net_kwh: kwh(importWh - exportWh) };
}

function totalNetOf(importWh: number, exportWh: number): { total_export_kwh: number; total_net_kwh: number } {
  const { export_kwh, net_kwh } = netOf(importWh, exportWh);
  return { total_export_kwh: export_kwh, total_net_kwh: net_kwh };
}
