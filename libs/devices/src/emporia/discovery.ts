import { Value } from '@sinclair/typebox/value';
import type { Logger } from 'pino';
import { stringify } from 'yaml';
import type { RegistryEntry } from '../registry-schema.js';
import { EmporiaAccount } from './account.js';
import { EmporiaConnectionSchema, type EmporiaConnection } from './schemas.js';
import { accountKeyOf } from './driver.js';

/** The account keys an entry carries: what `connection:` needs besides the channel. */
export type EmporiaAccountKeys = Omit<Partial<EmporiaConnection>, 'device_gid' | 'channel'> & {
  email: string;
};

/** `1,2,3` → `mains`, `Balance` → `balance`, `7` → `7`: the last segment of a channel's device id. */
export function channelSlug(channelNum: string): string {
  if (channelNum === '1,2,3') return 'mains';
  return channelNum.toLowerCase().replace(/[^a-z0-9]+/g, '-');
}

export function emporiaDeviceId(deviceGid: number, channelNum: string): string {
  return `emporia-${deviceGid}-${channelSlug(channelNum)}`;
}

/**
 * Signs in, lists the account's devices and asks one 1-minute usage (which also names the
 * computed Balance and the nested plugs and chargers), and returns one registry entry per channel,
 * named as in the account. The password stays where `keys` point; entries name only the keys.
 */
export async function discoverEmporia(
  keys: EmporiaAccountKeys,
  options: { location: string; logger: Logger; timeoutMs?: number },
): Promise<RegistryEntry[]> {
  const connection = Value.Default(EmporiaConnectionSchema, {
    ...keys,
    device_gid: 1,
    channel: '1,2,3',
  }) as EmporiaConnection;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const account = new EmporiaAccount(accountKeyOf(connection), connection, {
    logger: options.logger,
    maxBackoffMs: 30_000,
  });
  const devices = await account.devices(timeoutMs);
  const usage = await account.usage('1MIN', 0, timeoutMs);
  account.close();
  const entries: RegistryEntry[] = [];
  for (const channel of usage.channels.values()) {
    const device = devices.find((candidate) => candidate.deviceGid === channel.deviceGid);
    const deviceName = device?.locationProperties?.deviceName ?? `Emporia ${channel.deviceGid}`;
    const named = device?.channels.find((candidate) => candidate.channelNum === channel.channelNum)?.name;
    const single = device !== undefined && device.channels.length === 1;
    const name =
      channel.channelNum === '1,2,3'
        ? single
          ? deviceName
          : `${deviceName} mains`
        : channel.channelNum === 'Balance'
          ? `${deviceName} balance`
          : (named ?? `${deviceName} circuit ${channel.channelNum}`);
    const kind = single
      ? 'appliance'
      : channel.channelNum === '1,2,3' || channel.channelNum === 'Balance'
        ? 'meter'
        : 'circuit';
    entries.push({
      id: emporiaDeviceId(channel.deviceGid, channel.channelNum),
      name,
      type: 'emporia',
      location: options.location,
      kind,
      connection: { ...keys, device_gid: channel.deviceGid, channel: channel.channelNum },
    });
  }
  return entries;
}

/** The entries as a `devices:` YAML list to paste into a registry file. */
export function emporiaRegistryYaml(entries: RegistryEntry[]): string {
  return `# ${entries.length} Emporia channel(s)\n${stringify({ devices: entries })}`;
}
