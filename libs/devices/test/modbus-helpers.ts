import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { stringify } from 'yaml';
import {
  PHASES,
  SharedResources,
  loadRegistry,
  type DeviceDriver,
  type MeterProfile,
  type ReadingValues,
  type Registry,
} from '@wattbus/devices';

export const silent = pino({ level: 'silent' });

/** A registry of Modbus devices in a fresh temp dir; `drivers()` creates them on one SharedResources. */
export class ModbusRegistry {
  readonly dir: string;
  readonly shared = new SharedResources();
  #created: DeviceDriver[] = [];

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async create(): Promise<ModbusRegistry> {
    return new ModbusRegistry(await mkdtemp(join(tmpdir(), 'wattbus-modbus-')));
  }

  async write(name: string, content: unknown): Promise<string> {
    const file = join(this.dir, name);
    await writeFile(file, typeof content === 'string' ? content : stringify(content));
    return file;
  }

  async load(devices: Record<string, unknown>[], defaults: Record<string, unknown> = {}): Promise<Registry> {
    const file = await this.write('devices.yaml', {
      defaults,
      devices: devices.map((device, index) => ({
        id: `meter-${index + 1}`,
        type: 'modbus',
        location: 'home/cellar',
        kind: 'meter',
        ...device,
      })),
    });
    return loadRegistry(file);
  }

  /** Drivers for every device of the registry, as the agent creates them. */
  drivers(registry: Registry, logger: Logger = silent): DeviceDriver[] {
    const drivers = registry.devices.map((device) =>
      registry.drivers.get(device.type)!.create(device, { logger, shared: this.shared }),
    );
    this.#created.push(...drivers);
    return drivers;
  }

  async cleanup(): Promise<void> {
    await Promise.allSettled(this.#created.map((driver) => driver.close()));
    await this.shared.closeAll();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Reading values a profile can carry exactly (integers after scaling, float32 within 7 digits),
 * different per phase and per `seed`; negative power and power factor where the type is signed.
 */
export function sampleValues(profile: MeterProfile, seed = 0): ReadingValues[] {
  const groups = new Map<string, Record<string, number>>();
  for (const register of profile.registers) {
    const group = register.phase ?? 'total';
    const index = register.phase ? PHASES.indexOf(register.phase) + 1 : 0;
    const signed = register.type === 's16' || register.type === 's32' || register.type === 'float32';
    const sample: Record<string, number> = {
      voltage_v: 229.87 + index * 0.41 + seed,
      current_a: 1.234 + index * 0.5 + seed,
      power_w: (signed && (index === 2 || seed % 2 === 1) ? -1 : 1) * (1234.5 + index * 100 + seed * 10),
      energy_wh: 12345670 + index * 1000 + seed * 10,
      energy_returned_wh: 7654320 + index * 1000 + seed * 10,
      power_factor: (signed && (index === 3 || seed % 2 === 1) ? -1 : 1) * (0.987 - index * 0.01),
      frequency_hz: 49.98 + seed / 100,
    };
    // Integer registers hold whole multiples of their factor.
    let value = sample[register.field]!;
    if (register.type !== 'float32') value = Math.round(value / register.factor) * register.factor;
    const values = groups.get(group) ?? {};
    values[register.field] = Number(value.toFixed(6));
    groups.set(group, values);
  }
  const result: ReadingValues[] = [];
  for (const phase of PHASES) {
    const values = groups.get(phase);
    if (values) result.push({ ...(values as unknown as ReadingValues), phase });
  }
  const total = groups.get('total');
  if (total) result.push(total as unknown as ReadingValues);
  return result;
}
