import type { Logger } from 'pino';
import { WattbusError, type EnergyInterval } from '@wattbus/contracts';
import { credentialsOf } from '../tplink/credentials.js';
import { EmporiaApi } from './api.js';
import {
  ChartUsageSchema,
  CustomerDevicesSchema,
  DeviceListUsagesSchema,
  SCALE_MS,
  type DeviceListUsages,
  type EmporiaConnection,
  type EmporiaDevice,
  type EmporiaScale,
} from './schemas.js';
import { EmporiaSignIn } from './sign-in.js';

/** One channel's usage in one answer: energy over the interval in kWh, null while the cloud has none. */
export interface ChannelUsage {
  deviceGid: number;
  channelNum: string;
  name: string | null;
  kwh: number | null;
}

/** One getDeviceListUsages answer, channel by `gid/channel`. */
export interface UsageSnapshot {
  instantMs: number;
  scale: EmporiaScale;
  channels: Map<string, ChannelUsage>;
}

export const channelKey = (deviceGid: number, channelNum: string): string => `${deviceGid}/${channelNum}`;

/** Every channel of an answer, the devices nested under a channel (plugs, chargers) included. */
export function flattenUsage(answer: DeviceListUsages, scale: EmporiaScale): UsageSnapshot {
  const channels = new Map<string, ChannelUsage>();
  for (const device of answer.deviceListUsages.devices) {
    for (const usage of device.channelUsages) {
      const put = (entry: {
        deviceGid: number;
        channelNum: string;
        name?: string | null;
        usage: number | null;
      }) =>
        channels.set(channelKey(entry.deviceGid, entry.channelNum), {
          deviceGid: entry.deviceGid,
          channelNum: entry.channelNum,
          name: entry.name ?? null,
          kwh: entry.usage,
        });
      put(usage);
      for (const nested of usage.nestedDevices ?? []) for (const inner of nested.channelUsages) put(inner);
    }
  }
  return { instantMs: Date.parse(answer.deviceListUsages.instant), scale, channels };
}

/** Average power over an interval of `scale` from its energy in kWh. */
export function powerWOf(kwh: number, scale: EmporiaScale): number {
  return (kwh * 1000 * 3_600_000) / SCALE_MS[scale];
}

const MINUTE_HISTORY_MS = 7 * 86_400_000;
/** Intervals per getChartUsage request: half a day of minutes, a month of hours. */
const CHART_SPAN_MS = { '1MIN': 12 * 3_600_000, '1H': 31 * 86_400_000 } as const;

/**
 * One Emporia account, shared by every registry entry that names it: one sign-in, one device
 * list, and one usage request per poll interval for all its channels (the first channel to poll
 * asks; the others read the same answer).
 */
export class EmporiaAccount {
  readonly key: string;
  readonly email: string;
  #api: EmporiaApi;
  #devices: Promise<EmporiaDevice[]> | undefined;
  #topGids: number[] = [];
  #usage = new Map<EmporiaScale, { startedMs: number; answer: Promise<UsageSnapshot> }>();

  constructor(key: string, connection: EmporiaConnection, deps: { logger: Logger; maxBackoffMs: number }) {
    this.key = key;
    this.email = connection.email;
    const where = `emporia account ${connection.email}`;
    const signIn = new EmporiaSignIn({
      email: connection.email,
      password: () => {
        if (connection.password_env === undefined && connection.password_file === undefined) {
          throw new WattbusError('DEVICE_AUTH_FAILED', `${where}: set password_file or password_env`);
        }
        return credentialsOf(connection, where).password;
      },
      cognitoUrl: connection.cognito_url,
      userPoolId: connection.user_pool_id,
      clientId: connection.client_id,
      dataDir: connection.data_dir,
      logger: deps.logger,
    });
    this.#api = new EmporiaApi({ apiUrl: connection.api_url, signIn, maxBackoffMs: deps.maxBackoffMs });
  }

  /** The account's devices, nested ones listed after their parent; asked once, kept after a success. */
  devices(timeoutMs: number): Promise<EmporiaDevice[]> {
    this.#devices ??= this.#api
      .get('customers/devices', CustomerDevicesSchema, 'device list', timeoutMs)
      .then(
        (answer) => {
          this.#topGids = answer.devices.map((device) => device.deviceGid);
          return answer.devices.flatMap(({ devices = [], ...device }) => [device, ...devices]);
        },
        (error: unknown) => {
          this.#devices = undefined;
          throw error;
        },
      );
    return this.#devices;
  }

  /** The latest usage of every channel at `scale`, asked anew only when the last answer is `maxAgeMs` old. */
  usage(scale: EmporiaScale, maxAgeMs: number, timeoutMs: number): Promise<UsageSnapshot> {
    const last = this.#usage.get(scale);
    if (last && Date.now() - last.startedMs < maxAgeMs) return last.answer;
    const entry = { startedMs: Date.now(), answer: this.#askUsage(scale, timeoutMs) };
    // A failed answer is not kept: the next poll asks again (the API's hold-off spaces those).
    entry.answer.catch(() => {
      if (this.#usage.get(scale) === entry) this.#usage.delete(scale);
    });
    this.#usage.set(scale, entry);
    return entry.answer;
  }

  async #askUsage(scale: EmporiaScale, timeoutMs: number): Promise<UsageSnapshot> {
    await this.devices(timeoutMs);
    const query = new URLSearchParams({
      apiMethod: 'getDeviceListUsages',
      instant: new Date().toISOString(),
      scale,
      energyUnit: 'KilowattHours',
    });
    // The gids are joined by a literal '+', as the app and PyEmVue send them (not '%2B').
    const answer = await this.#api.get(
      `AppAPI?${query}&deviceGids=${this.#topGids.join('+')}`,
      DeviceListUsagesSchema,
      `${scale} usage`,
      timeoutMs,
    );
    return flattenUsage(answer, scale);
  }

  /**
   * Energy per interval of one channel from `from` to `to`: minutes (the cloud keeps them about
   * 7 days) or hours. `auto` takes minutes for the part within the last 7 days and hours before
   * it. Intervals the cloud has no data for are left out.
   */
  async readHistory(
    deviceGid: number,
    channelNum: string,
    from: Date,
    to: Date,
    scale: '1MIN' | '1H' | 'auto',
    timeoutMs: number,
  ): Promise<EnergyInterval[]> {
    if (!(from.getTime() < to.getTime()))
      throw new WattbusError('DEVICE_ERROR', 'readHistory: from must be before to');
    if (scale !== 'auto')
      return this.#chart(deviceGid, channelNum, from.getTime(), to.getTime(), scale, timeoutMs);
    // The boundary on a whole hour, so the hourly part ends where the minutes begin.
    const minutesFrom = Math.ceil((Date.now() - MINUTE_HISTORY_MS) / SCALE_MS['1H']) * SCALE_MS['1H'];
    const split = Math.min(Math.max(minutesFrom, from.getTime()), to.getTime());
    const hours =
      split > from.getTime()
        ? await this.#chart(deviceGid, channelNum, from.getTime(), split, '1H', timeoutMs)
        : [];
    const minutes =
      split < to.getTime()
        ? await this.#chart(deviceGid, channelNum, split, to.getTime(), '1MIN', timeoutMs)
        : [];
    return [...hours, ...minutes];
  }

  async #chart(
    deviceGid: number,
    channelNum: string,
    fromMs: number,
    toMs: number,
    scale: '1MIN' | '1H',
    timeoutMs: number,
  ): Promise<EnergyInterval[]> {
    const step = SCALE_MS[scale];
    const intervals: EnergyInterval[] = [];
    for (let start = Math.floor(fromMs / step) * step; start < toMs; start += CHART_SPAN_MS[scale]) {
      const end = Math.min(toMs, start + CHART_SPAN_MS[scale]);
      const query = new URLSearchParams({
        apiMethod: 'getChartUsage',
        deviceGid: String(deviceGid),
        channel: channelNum,
        start: new Date(start).toISOString(),
        end: new Date(end).toISOString(),
        scale,
        energyUnit: 'KilowattHours',
      });
      const answer = await this.#api.get(
        `AppAPI?${query}`,
        ChartUsageSchema,
        `${scale} chart usage`,
        timeoutMs,
      );
      const first = Date.parse(answer.firstUsageInstant);
      answer.usageList.forEach((kwh, index) => {
        const at = first + index * step;
        if (kwh === null || at < fromMs - (fromMs % step) || at >= end) return;
        intervals.push({
          start: new Date(at).toISOString(),
          end: new Date(at + step).toISOString(),
          energy_wh: kwh * 1000,
        });
      });
    }
    return intervals;
  }

  close(): void {
    this.#usage.clear();
  }
}
