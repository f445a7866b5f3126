import assert from 'node:assert/strict';
import { after } from 'node:test';
import { ReadingSchema, validator } from '@wattbus/contracts';
import {
  BUILTIN_DEFAULTS,
  SharedResources,
  ShellyConnectionSchema,
  ShellyDriver,
  type DriverReading,
  type RegistryDevice,
  type ShellyConnection,
} from '@wattbus/devices';
import { SimulatedShelly, type SimulatedShellyOptions } from '@wattbus/simulators';
import { Value } from '@sinclair/typebox/value';
import { pino } from 'pino';

/** Simulated Shellies and drivers for the driver tests; everything started here stops after the file. */
const checkReading = validator(ReadingSchema);
const devices: SimulatedShelly[] = [];
const shared = new SharedResources();

after(async () => {
  await Promise.all(devices.map((device) => device.stop()));
  await shared.closeAll();
});

export async function shelly(options: SimulatedShellyOptions): Promise<SimulatedShelly> {
  const device = await SimulatedShelly.start(options);
  devices.push(device);
  return device;
}

export function driverFor(
  target: { host: string; port: number },
  connection: Partial<ShellyConnection> = {},
  options: { timeout_ms?: number; logger?: pino.Logger; id?: string } = {},
): ShellyDriver {
  const device: RegistryDevice = {
    ...BUILTIN_DEFAULTS,
    id: options.id ?? 'plug-1',
    name: 'Plug 1',
    type: 'shelly',
    location: 'home/kitchen',
    kind: 'appliance',
    // The registry fills the schema's defaults in; so does this.
    connection: Value.Default(ShellyConnectionSchema, {
      host: target.host,
      port: target.port,
      ...connection,
    }) as ShellyConnection,
    timeout_ms: options.timeout_ms ?? 1000,
  };
  return new ShellyDriver(device, { logger: options.logger ?? pino({ level: 'silent' }), shared });
}

/** Every value the driver returns must make a valid reading once the agent adds ts and device. */
export function assertValidReadings(reading: DriverReading): void {
  for (const values of reading.values) {
    const full = { ts: new Date().toISOString(), device: 'plug-1', ...values };
    assert.ok(checkReading(full), checkReading.errorText());
  }
}
