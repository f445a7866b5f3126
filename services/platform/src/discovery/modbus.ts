import { basename, extname } from 'node:path';
import {
  BUILTIN_DEFAULTS,
  builtinProfiles,
  loadProfile,
  modbusDriver,
  SharedResources,
  type MeterProfile,
  type ReadingValues,
} from '@wattbus/devices';
import { pino } from 'pino';
import { AddressError } from './addresses.js';
import type { FoundDevice } from './found.js';

export interface ModbusTarget {
  host: string;
  port: number;
  unitId: number;
}

/** Mains values: what a meter's identifying registers hold when the profile is the right one. */
const PLAUSIBLE = { voltage_v: [80, 300], frequency_hz: [45, 65] } as const;

/** `host[:port][@unit]`, comma-separated (port 502, unit 1 by default). */
export function parseModbusTargets(text: string): ModbusTarget[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      const match = /^([^:@\s]+)(?::(\d+))?(?:@(\d+))?$/.exec(item);
      const port = Number(match?.[2] ?? 502);
      const unitId = Number(match?.[3] ?? 1);
      if (!match || port < 1 || port > 65535 || unitId > 255) {
        throw new AddressError(`--modbus: '${item}' is not host[:port][@unit] (port 1-65535, unit 0-255)`);
      }
      return { host: match[1]!, port, unitId };
    });
}

/**
 * Which built-in profile the meter at `target` speaks: each profile's identifying registers (its
 * voltages and its frequency) are read the way the driver reads them, and the first profile whose
 * values are all mains values wins. Profiles with more of them go first, so a 3-phase meter is not
 * taken for a 1-phase one that shares its register map. Undefined when nothing answers or fits.
 */
export async function probeModbus(target: ModbusTarget, timeoutMs: number): Promise<FoundDevice | undefined> {
  const shared = new SharedResources();
  try {
    for (const profile of candidateProfiles()) {
      const values = await readIdentifying(profile, target, shared, timeoutMs).catch(() => undefined);
      if (values && values.length > 0 && values.every(plausible)) {
        return {
          type: 'modbus',
          name: profile.model,
          model: profile.model,
          address: `${target.host}:${target.port} unit ${target.unitId}`,
          details: `${profile.phases === 3 ? '3-phase' : '1-phase'} meter, profile ${profile.name}`,
          credentialsNeeded: false,
          kind: 'meter',
          connection: {
            profile: profile.name,
            transport: 'tcp',
            host: target.host,
            ...(target.port === 502 ? {} : { port: target.port }),
            unit_id: target.unitId,
          },
        };
      }
    }
    return undefined;
  } finally {
    await shared.closeAll();
  }
}

function candidateProfiles(): MeterProfile[] {
  const names = new Set([...builtinProfiles().values()]);
  return [...names]
    .map((file) => ({ ...loadProfile(file), name: profileName(file) }))
    .sort((a, b) => identifying(b).length - identifying(a).length || a.name.localeCompare(b.name));
}

/** The built-in name (file name without extension) a registry uses. */
function profileName(file: string): string {
  return basename(file, extname(file));
}

function identifying(profile: MeterProfile) {
  return profile.registers.filter((register) => register.field in PLAUSIBLE);
}

/** One poll the way the driver makes it, and the identifying values in it. */
async function readIdentifying(
  profile: MeterProfile,
  target: ModbusTarget,
  shared: SharedResources,
  timeoutMs: number,
): Promise<{ field: keyof typeof PLAUSIBLE; value: number }[]> {
  const driver = modbusDriver.create(
    {
      id: 'probe',
      name: 'probe',
      type: 'modbus',
      location: 'discovery',
      kind: 'meter',
      ...BUILTIN_DEFAULTS,
      timeout_ms: timeoutMs,
      connection: {
        profile: profile.name,
        transport: 'tcp',
        host: target.host,
        port: target.port,
        unit_id: target.unitId,
        response_timeout_ms: timeoutMs,
        retries: 0,
      },
    },
    { logger: pino({ level: 'silent' }), shared },
  );
  try {
    const reading = await driver.read();
    return reading.values.flatMap((group: ReadingValues) =>
      (Object.keys(PLAUSIBLE) as (keyof typeof PLAUSIBLE)[])
        .filter((field) => typeof group[field] === 'number')
        .map((field) => ({ field, value: group[field] as number })),
    );
  } finally {
    await driver.close();
  }
}

function plausible(entry: { field: keyof typeof PLAUSIBLE; value: number }): boolean {
  const [low, high] = PLAUSIBLE[entry.field];
  return entry.value >= low && entry.value <= high;
}
