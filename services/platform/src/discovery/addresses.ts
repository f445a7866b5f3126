import { isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * The addresses discovery may send to, from what the user typed. Nothing is guessed: a broadcast
 * address is given or derived from a named interface, and a range is written out in full.
 */

/** Larger ranges are refused: a typo such as /16 would probe 65 534 addresses. */
export const MAX_RANGE_ADDRESSES = 1024;

export class AddressError extends Error {
  override name = 'AddressError';
}

export interface Target {
  host: string;
  port: number;
}

export interface LanInterface {
  name: string;
  address: string;
  broadcast: string;
  /** e.g. 192.168.1.0/24 */
  network: string;
}

/**
 * `host`, `host:port`, `a.b.c.d-e` (last part), `a.b.c.d-w.x.y.z`, or `a.b.c.d/nn` (the usable
 * addresses of that network), each with an optional `:port`; several separated by commas.
 */
export function parseTargets(text: string, defaultPort: number, option: string): Target[] {
  const targets: Target[] = [];
  for (const item of text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const [range, portText, extra] = item.split(':');
    if (extra !== undefined || !range) throw new AddressError(`${option}: '${item}' is not address[:port]`);
    const port = portText === undefined ? defaultPort : Number(portText);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new AddressError(`${option}: '${portText}' in '${item}' is not a port (1-65535)`);
    }
    for (const host of expandRange(range, option)) targets.push({ host, port });
  }
  if (targets.length > MAX_RANGE_ADDRESSES) {
    throw new AddressError(
      `${option}: ${targets.length} addresses; at most ${MAX_RANGE_ADDRESSES} at a time (split the range)`,
    );
  }
  return targets;
}

function expandRange(range: string, option: string): string[] {
  const cidr = /^([\d.]+)\/(\d{1,2})$/.exec(range);
  if (cidr) {
    const base = toNumber(cidr[1]!, option);
    const bits = Number(cidr[2]);
    if (bits < 16 || bits > 32) throw new AddressError(`${option}: /${bits} in '${range}': use /16 to /32`);
    const size = 2 ** (32 - bits);
    const network = base - (base % size);
    // A /31 or /32 has no network and broadcast address to leave out.
    const [first, last] = size <= 2 ? [network, network + size - 1] : [network + 1, network + size - 2];
    return span(first, last, range, option);
  }
  const dash = range.indexOf('-');
  if (dash === -1 || !isIPv4(range.slice(0, dash))) {
    if (isIPv4(range)) return [range];
    // A host name is asked as it is: the user named it.
    if (/[a-zA-Z]/.test(range) && /^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(range)) return [range];
    throw new AddressError(`${option}: '${range}' is neither an IPv4 address, a host name nor a range`);
  }
  const from = range.slice(0, dash);
  const toText = range.slice(dash + 1);
  const first = toNumber(from, option);
  const last = /^\d{1,3}$/.test(toText)
    ? toNumber(`${from.split('.').slice(0, 3).join('.')}.${toText}`, option)
    : toNumber(toText, option);
  if (last < first) throw new AddressError(`${option}: '${range}' ends before it starts`);
  return span(first, last, range, option);
}

function span(first: number, last: number, range: string, option: string): string[] {
  const count = last - first + 1;
  if (count > MAX_RANGE_ADDRESSES) {
    throw new AddressError(
      `${option}: '${range}' has ${count} addresses; at most ${MAX_RANGE_ADDRESSES} at a time`,
    );
  }
  return Array.from({ length: count }, (_, index) => fromNumber(first + index));
}

function toNumber(address: string, option: string): number {
  if (!isIPv4(address)) throw new AddressError(`${option}: '${address}' is not an IPv4 address`);
  return address.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}

function fromNumber(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** The IPv4 interfaces of this machine, the LAN ones (not loopback) first. */
export function allInterfaces(): LanInterface[] {
  const found: (LanInterface & { internal: boolean })[] = [];
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    for (const entry of addresses ?? []) {
      if (entry.family !== 'IPv4') continue;
      const address = toNumber(entry.address, 'interface');
      const mask = toNumber(entry.netmask, 'interface');
      const size = 2 ** 32 - mask;
      const network = address - (address % size);
      const bits = 32 - Math.log2(size);
      found.push({
        name,
        address: entry.address,
        broadcast: fromNumber(network + size - 1),
        network: `${fromNumber(network)}/${bits}`,
        internal: entry.internal,
      });
    }
  }
  return found
    .sort((a, b) => Number(a.internal) - Number(b.internal))
    .map(({ internal: _internal, ...rest }) => rest);
}

/** Interfaces other than loopback. */
export function lanInterfaces(): LanInterface[] {
  return allInterfaces().filter((entry) => !entry.address.startsWith('127.'));
}

/** The named interface's IPv4 address and broadcast address. */
export function interfaceNamed(name: string): LanInterface {
  const found = allInterfaces().find((entry) => entry.name === name);
  if (!found) {
    const names = [...new Set(allInterfaces().map((entry) => entry.name))].join(', ');
    throw new AddressError(`--interface: no IPv4 interface '${name}' here (there are: ${names || 'none'})`);
  }
  return found;
}

export function checkBroadcast(address: string): string {
  if (!isIPv4(address)) throw new AddressError(`--broadcast: '${address}' is not an IPv4 address`);
  return address;
}
