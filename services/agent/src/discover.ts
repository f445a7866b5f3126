import {
  discoverEmporia,
  discoverTplink,
  discoveryAsRegistryYaml,
  emporiaRegistryYaml,
  type EmporiaAccountKeys,
} from '@wattbus/devices';
import type { Logger } from 'pino';

export interface DiscoverCommandOptions {
  timeoutMs: number;
  broadcast?: string;
  /** `host[:port]` list to ask directly besides the broadcast. */
  hosts: string[];
}

/** `--discover`: lists the TP-Link plugs that answer and returns them as registry entries (YAML). */
export async function runDiscovery(options: DiscoverCommandOptions): Promise<string> {
  const devices = options.hosts.map((entry) => {
    const [host, port] = entry.split(':');
    const portNumber = port === undefined ? 9999 : Number(port);
    if (!host || !Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) {
      throw new Error(`--hosts: '${entry}' is not host or host:port`);
    }
    return { host, port: portNumber };
  });
  const plugs = await discoverTplink({ timeoutMs: options.timeoutMs, broadcast: options.broadcast, devices });
  return discoveryAsRegistryYaml(plugs);
}

/** `--discover-emporia`: signs in to the account and returns one registry entry per channel (YAML). */
export async function runEmporiaDiscovery(
  keys: EmporiaAccountKeys,
  options: { location: string; logger: Logger },
): Promise<string> {
  return emporiaRegistryYaml(await discoverEmporia(keys, options));
}
