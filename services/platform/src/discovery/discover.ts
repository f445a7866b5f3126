import type { CliOption, CliResult } from '@wattbus/runtime';
import {
  AddressError,
  checkBroadcast,
  interfaceNamed,
  lanInterfaces,
  parseTargets,
  type Target,
} from './addresses.js';
import { mergeIntoDevicesFile, type MergeResult } from './devices-file.js';
import type { FoundDevice } from './found.js';
import { discoverKasa } from './kasa.js';
import { parseModbusTargets, probeModbus, type ModbusTarget } from './modbus.js';
import { findShellysByMdns, probeShellys } from './shelly.js';

/** What to ask, all of it named by the user: discovery sends nowhere else. */
export interface DiscoveryRequest {
  /** Kasa discovery broadcast address. */
  broadcast?: string;
  kasaHosts: Target[];
  shellyTargets: Target[];
  /** Ask mDNS on the interface with this address. */
  mdnsInterfaceAddress?: string;
  modbus: ModbusTarget[];
  timeoutMs: number;
}

/** The discovery options of `npm run discover` and `npm start -- --discover`. */
export const DISCOVERY_OPTIONS: Record<string, CliOption> = {
  interface: {
    type: 'string',
    description: 'network interface to discover on (e.g. eth0): Kasa broadcast and mDNS go there',
  },
  broadcast: { type: 'string', description: 'Kasa discovery broadcast address (e.g. 192.168.1.255)' },
  kasa: { type: 'string', description: 'TP-Link Kasa addresses to ask directly: host[:port],…' },
  shelly: {
    type: 'string',
    description: 'addresses to probe for Shellys over HTTP: 192.168.1.20-60, 192.168.1.0/24, host[:port],…',
  },
  mdns: { type: 'boolean', description: 'also find Shellys by mDNS (needs --interface)' },
  modbus: { type: 'string', description: 'Modbus TCP meters to identify: host[:port][@unit],…' },
  'discover-timeout-ms': {
    type: 'string',
    description: 'how long discovery listens and waits for each answer',
    default: '3000',
  },
};

/** The request the options describe; an AddressError names the option that is wrong or missing. */
export function discoveryRequestOf(values: CliResult['values']): DiscoveryRequest {
  const text = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const timeoutMs = Number(values['discover-timeout-ms'] ?? 3000);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000) {
    throw new AddressError('--discover-timeout-ms must be a whole number from 100 to 60000');
  }
  const lan = text('interface') === undefined ? undefined : interfaceNamed(text('interface')!);
  if (values.mdns === true && !lan) throw new AddressError('--mdns needs --interface <name> to ask on');
  const request: DiscoveryRequest = {
    broadcast: text('broadcast') !== undefined ? checkBroadcast(text('broadcast')!) : lan?.broadcast,
    kasaHosts: text('kasa') ? parseTargets(text('kasa')!, 9999, '--kasa') : [],
    shellyTargets: text('shelly') ? parseTargets(text('shelly')!, 80, '--shelly') : [],
    mdnsInterfaceAddress: values.mdns === true ? lan?.address : undefined,
    modbus: text('modbus') ? parseModbusTargets(text('modbus')!) : [],
    timeoutMs,
  };
  const asked =
    request.broadcast ||
    request.kasaHosts.length ||
    request.shellyTargets.length ||
    request.mdnsInterfaceAddress ||
    request.modbus.length;
  if (!asked) throw new AddressError(nothingAskedMessage());
  return request;
}

function nothingAskedMessage(): string {
  const lan = lanInterfaces()[0];
  const example = lan
    ? `--interface ${lan.name} --shelly ${lan.network}`
    : '--broadcast 192.168.1.255 --shelly 192.168.1.1-254';
  return [
    'discovery asks only the addresses you name. Give at least one of:',
    '  --interface <name>   Kasa broadcast on that interface (with --mdns also Shelly mDNS)',
    '  --broadcast <addr>   Kasa broadcast to that address',
    '  --kasa / --shelly / --modbus <addresses>',
    `For example: npm run discover -- ${example}`,
  ].join('\n');
}

/** Every kind of discovery the request names, at the same time. */
export async function discover(request: DiscoveryRequest): Promise<FoundDevice[]> {
  const { timeoutMs } = request;
  const [kasa, shellys, meters] = await Promise.all([
    discoverKasa({ broadcast: request.broadcast, hosts: request.kasaHosts, timeoutMs }),
    (async () => {
      const announced = request.mdnsInterfaceAddress
        ? await findShellysByMdns({ interfaceAddress: request.mdnsInterfaceAddress, timeoutMs })
        : [];
      const targets = new Map(
        [...request.shellyTargets, ...announced].map((target) => [`${target.host}:${target.port}`, target]),
      );
      return probeShellys([...targets.values()], { timeoutMs });
    })(),
    Promise.all(request.modbus.map((target) => probeModbus(target, timeoutMs))),
  ]);
  return [...kasa, ...shellys, ...meters.filter((meter) => meter !== undefined)];
}

/** Discovers, merges into the devices file and says what happened, in lines for a person. */
export async function discoverIntoFile(
  request: DiscoveryRequest,
  file: string,
): Promise<{ found: FoundDevice[]; merge: MergeResult; report: string }> {
  const found = await discover(request);
  const merge = mergeIntoDevicesFile(file, found);
  return { found, merge, report: reportOf(found, merge, file, request) };
}

function reportOf(found: FoundDevice[], merge: MergeResult, file: string, request: DiscoveryRequest): string {
  const lines = [`Found ${found.length} device(s):`];
  for (const device of found) {
    const added = merge.added.find((entry) => entry.device === device);
    const credentials = device.credentialsNeeded
      ? `password needed (set ${String(device.connection.password_env)})`
      : 'no password';
    lines.push(
      `  ${device.type.padEnd(7)}${device.address.padEnd(24)}${device.model} "${device.name}": ${device.details}; ${credentials}`,
      `         ${added ? `added as '${added.id}'` : `already in ${file}`}`,
    );
  }
  const missed = request.modbus.length - found.filter((device) => device.type === 'modbus').length;
  if (missed > 0) {
    lines.push(`  ${missed} Modbus address(es) gave no answer that fits a built-in profile (docs/modbus.md)`);
  }
  lines.push(
    merge.added.length > 0
      ? `Wrote ${merge.added.length} new entr${merge.added.length === 1 ? 'y' : 'ies'} to ${file}: edit ids, names, locations and kinds there. A running npm start picks them up.`
      : `Nothing new for ${file}.`,
  );
  return `${lines.join('\n')}\n`;
}
