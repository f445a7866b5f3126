import { createRequire } from 'node:module';
import type { DiscoveryDevice, Plug } from 'tplink-smarthome-api';
import { stringify } from 'yaml';
import { idFromName } from '../id-from-name.js';

const { Client } = createRequire(import.meta.url)(
  'tplink-smarthome-api',
) as typeof import('tplink-smarthome-api');

export interface DiscoveredPlug {
  host: string;
  port: number;
  alias: string;
  model: string;
  mac: string;
  /** Plugs with an energy meter (HS110, KP115, HS300 outlets) send readings; the others state only. */
  has_emeter: boolean;
  /** The outlets of a power strip (HS300, KP303, KP400, EP40), in slot order; absent for a plug. */
  outlets?: DiscoveredOutlet[];
}

export interface DiscoveredOutlet {
  /** 1-based, the registry's `outlet`. */
  number: number;
  id: string;
  alias: string;
}

export interface DiscoverOptions {
  /** How long to listen for answers. */
  timeoutMs: number;
  /** Default 255.255.255.255. */
  broadcast?: string;
  /** Also ask these addresses directly (useful across subnets, and for simulators on loopback). */
  devices?: DiscoveryDevice[];
  /** Local address to bind the UDP socket to. */
  address?: string;
}

/** Broadcasts the Kasa discovery query (UDP 9999) and collects the plugs that answer within the time. */
export async function discoverTplink(options: DiscoverOptions): Promise<DiscoveredPlug[]> {
  const client = new Client({ logLevel: 'silent', defaultSendOptions: { timeout: 2000, transport: 'tcp' } });
  const found = new Map<string, DiscoveredPlug>();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, options.timeoutMs);
    client.on('error', (error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
    client.on('plug-new', (plug: Plug) => {
      found.set(`${plug.host}:${plug.port}`, {
        host: plug.host,
        port: plug.port,
        alias: plug.alias,
        model: plug.model,
        mac: plug.mac,
        has_emeter: plug.supportsEmeter,
        ...outletsOf(plug),
      });
    });
    client.startDiscovery({
      broadcast: options.broadcast,
      address: options.address,
      devices: options.devices,
      deviceTypes: ['plug'],
      // Simulators (and port-forwarded plugs) answer from their own port; real plugs from 9999.
      devicesUseDiscoveryPort: true,
      discoveryInterval: Math.max(250, Math.floor(options.timeoutMs / 3)),
      breakoutChildren: false,
    });
  }).finally(() => client.stopDiscovery());
  return [...found.values()].sort((a, b) => a.host.localeCompare(b.host) || a.port - b.port);
}

/**
 * Registry entries ready to paste under `devices:`, one per plug and one per outlet of a strip;
 * location and kind are placeholders to edit.
 */
export function discoveryAsRegistryYaml(plugs: readonly DiscoveredPlug[]): string {
  const used = new Set<string>();
  const unique = (wanted: string) => {
    let id = wanted;
    for (let n = 2; used.has(id); n++) id = `${wanted}-${n}`;
    used.add(id);
    return id;
  };
  const entries = plugs.flatMap((plug) => {
    const plugId = idFromName(plug.alias) || `plug-${plug.mac.replace(/[^0-9a-f]/gi, '').toLowerCase()}`;
    const connection = plug.port === 9999 ? { host: plug.host } : { host: plug.host, port: plug.port };
    const entry = (id: string, name: string, extra: Record<string, unknown> = {}) => ({
      id: unique(id),
      name,
      type: 'tplink',
      location: 'unassigned',
      kind: 'appliance',
      poll_interval_ms: 1000,
      connection: { ...connection, ...extra },
    });
    if (!plug.outlets) return [entry(plugId, plug.alias)];
    return plug.outlets.map((outlet) =>
      entry(
        idFromName(outlet.alias) || `${plugId}-outlet-${outlet.number}`,
        outlet.alias || `${plug.alias} ${outlet.number}`,
        {
          outlet: outlet.number,
        },
      ),
    );
  });
  const header = [
    `# ${plugs.length} TP-Link plug(s) found. Edit location and kind, then paste under 'devices:'.`,
    ...plugs.map(
      (plug) =>
        `#   ${plug.host}:${plug.port} ${plug.model} mac ${plug.mac}${plug.outlets ? ` strip with ${plug.outlets.length} outlets, one entry each` : ''}${plug.has_emeter ? '' : ' (no energy meter: state and switching only)'}`,
    ),
  ];
  return `${header.join('\n')}\n${entries.length > 0 ? stringify(entries) : ''}`;
}

function outletsOf(plug: Plug): { outlets?: DiscoveredOutlet[] } {
  const children = [...plug.children.values()];
  if (children.length === 0) return {};
  return {
    outlets: children.map((child, index) => ({ number: index + 1, id: child.id, alias: child.alias ?? '' })),
  };
}
