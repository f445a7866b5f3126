import { validator } from '@wattbus/contracts';
import { Gen1InfoSchema, Gen2DeviceStatusSchema, Gen2InfoSchema } from '@wattbus/devices';
import Bonjour from 'bonjour-service';
import type { Target } from './addresses.js';
import type { FoundDevice } from './found.js';

const checkGen1 = validator(Gen1InfoSchema);
const checkGen2 = validator(Gen2InfoSchema);
const checkStatus = validator(Gen2DeviceStatusSchema);

/** The environment variable a discovered Shelly that needs a password reads it from. */
export const SHELLY_PASSWORD_ENV = 'WATTBUS_SHELLY_PASSWORD';

/**
 * Asks each address `GET /shelly` (answered without a password on every generation) and turns the
 * Shellys among them into devices: one entry per relay channel, one per energy meter. Addresses
 * that do not answer, or answer as something else, are skipped.
 */
export async function probeShellys(
  targets: readonly Target[],
  options: { timeoutMs: number; concurrency?: number },
): Promise<FoundDevice[]> {
  const found: FoundDevice[][] = [];
  const queue = [...targets];
  const worker = async () => {
    for (let target = queue.shift(); target; target = queue.shift()) {
      found.push(await probeShelly(target, options.timeoutMs).catch(() => []));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 32 }, worker));
  return found.flat();
}

export async function probeShelly(target: Target, timeoutMs: number): Promise<FoundDevice[]> {
  const base = `http://${target.host}:${target.port}`;
  const info = await getJson(`${base}/shelly`, timeoutMs);
  const address = `${target.host}:${target.port}`;
  const at = target.port === 80 ? { host: target.host } : { host: target.host, port: target.port };
  // A device behind a password reads it from the environment: the file keeps no secret.
  const withAuth = (needed: boolean) => (needed ? { ...at, password_env: SHELLY_PASSWORD_ENV } : at);
  if (checkGen2(info)) {
    const needsPassword = info.auth_en === true;
    const connection = withAuth(needsPassword);
    // Without the password its components cannot be listed: channel 0 is proposed.
    const status = needsPassword ? undefined : await getJson(`${base}/rpc/Shelly.GetStatus`, timeoutMs);
    const keys = status !== undefined && checkStatus(status) ? Object.keys(status) : [];
    const meters = keys.filter((key) => key.startsWith('em:')).length;
    const em1 = keys.filter((key) => key.startsWith('em1:')).length;
    const switches = keys.filter((key) => key.startsWith('switch:')).length;
    const common = { model: info.model, address, credentialsNeeded: needsPassword };
    const name = info.app ?? info.model;
    if (meters > 0) {
      return [{ ...common, ...meter(name, `${meters} energy meter(s), 3 phases`), connection }];
    }
    // A Pro EM (or a Pro 3EM in monophase profile): one meter per em1 channel; its contactor
    // switch:0 is switched from them.
    if (em1 > 0) {
      return Array.from({ length: em1 }, (_, channel) => ({
        ...common,
        ...meter(`${name} ${channel}`, `Gen${info.gen}, single-phase meter channel ${channel} of ${em1}`),
        connection: { ...connection, channel },
      }));
    }
    return channels(common, name, Math.max(1, switches), connection, `Gen${info.gen}`);
  }
  if (checkGen1(info)) {
    const common = { model: info.type, address, credentialsNeeded: info.auth === true };
    const connection = withAuth(common.credentialsNeeded);
    if ((info.num_emeters ?? 0) > 0) {
      return [{ ...common, ...meter(info.type, `energy meter, ${info.num_emeters} phases`), connection }];
    }
    const count = Math.max(1, info.num_outputs ?? info.num_meters ?? 1);
    return channels(common, info.type, count, connection, 'Gen1');
  }
  return [];
}

function meter(name: string, details: string) {
  return { type: 'shelly' as const, name, details, kind: 'meter' as const };
}

function channels(
  common: { model: string; address: string; credentialsNeeded: boolean },
  name: string,
  count: number,
  connection: Record<string, unknown>,
  generation: string,
): FoundDevice[] {
  return Array.from({ length: count }, (_, channel) => ({
    ...common,
    type: 'shelly' as const,
    name: count > 1 ? `${name} ${channel}` : name,
    details: `${generation}, relay channel ${channel} of ${count}`,
    kind: 'appliance' as const,
    connection: { ...connection, ...(count > 1 ? { channel } : {}) },
  }));
}

async function getJson(url: string, timeoutMs: number): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.json();
}

/**
 * Shellys that announce themselves over mDNS (`_shelly._tcp`, and `_http._tcp` named shelly…) on
 * the interface with address `interfaceAddress`, within `timeoutMs`: their addresses, to probe.
 */
export async function findShellysByMdns(options: {
  interfaceAddress: string;
  timeoutMs: number;
}): Promise<Target[]> {
  const found = new Map<string, Target>();
  // multicast-dns options ride in bonjour-service's first argument.
  const bonjour = new Bonjour({ interface: options.interfaceAddress } as never, () => undefined);
  const seen = (service: Bonjour.Service) => {
    const target = targetOfService(service);
    if (target) found.set(`${target.host}:${target.port}`, target);
  };
  const browsers = [
    bonjour.find({ type: 'shelly' }, seen),
    bonjour.find({ type: 'http' }, (service) => {
      if (/^shelly/i.test(service.name)) seen(service);
    }),
  ];
  await new Promise((resolve) => setTimeout(resolve, options.timeoutMs));
  for (const browser of browsers) browser.stop();
  await new Promise((resolve) => bonjour.destroy(resolve));
  return [...found.values()];
}

/** The IPv4 address and port an mDNS answer names (the sender's address when it names none). */
export function targetOfService(
  service: Pick<Bonjour.Service, 'addresses' | 'referer' | 'port'>,
): Target | undefined {
  const host =
    service.addresses?.find((address) => /^\d+\.\d+\.\d+\.\d+$/.test(address)) ?? service.referer?.address;
  if (!host || !service.port) return undefined;
  return { host, port: service.port };
}
