import { discoverTplink } from '@wattbus/devices';
import type { Target } from './addresses.js';
import type { FoundDevice } from './found.js';

/**
 * TP-Link Kasa plugs: the discovery query (UDP, port 9999) to the broadcast address the user gave
 * or derived from an interface, and to each address named directly. The library always sends to
 * its `broadcast` address, so without one it gets the first named address: nothing else is asked.
 */
export async function discoverKasa(options: {
  broadcast?: string;
  hosts: Target[];
  timeoutMs: number;
}): Promise<FoundDevice[]> {
  const broadcast = options.broadcast ?? options.hosts[0]?.host;
  if (broadcast === undefined) return [];
  const plugs = await discoverTplink({ timeoutMs: options.timeoutMs, broadcast, devices: options.hosts });
  return plugs.map((plug) => ({
    type: 'tplink',
    name: plug.alias || plug.model,
    model: plug.model,
    address: `${plug.host}:${plug.port}`,
    details: plug.has_emeter ? 'plug with energy meter' : 'plug without energy meter (cannot be polled)',
    credentialsNeeded: false,
    kind: 'appliance',
    connection: plug.port === 9999 ? { host: plug.host } : { host: plug.host, port: plug.port },
  }));
}
