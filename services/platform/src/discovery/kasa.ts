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
  return plugs.flatMap((plug) => {
    const at = plug.port === 9999 ? { host: plug.host } : { host: plug.host, port: plug.port };
    const meter = plug.has_emeter ? 'with energy meter' : 'without energy meter (state only)';
    const found = {
      type: 'tplink' as const,
      model: plug.model,
      address: `${plug.host}:${plug.port}`,
      credentialsNeeded: false,
      kind: 'appliance' as const,
    };
    // A strip is one entry per outlet, as the driver reads it.
    if (plug.outlets?.length) {
      return plug.outlets.map((outlet) => ({
        ...found,
        name: outlet.alias || `${plug.alias || plug.model} ${outlet.number}`,
        details: `outlet ${outlet.number} of ${plug.outlets!.length}, ${meter}`,
        connection: { ...at, outlet: outlet.number },
      }));
    }
    return [{ ...found, name: plug.alias || plug.model, details: `plug ${meter}`, connection: at }];
  });
}
