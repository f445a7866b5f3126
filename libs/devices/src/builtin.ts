import type { DriverDefinition } from './driver.js';
import { DriverRegistry } from './drivers.js';
import { tplinkDriver } from './tplink/driver.js';
import { modbusDriver } from './modbus/driver.js';
import { shellyDriver } from './shelly/driver.js';
import { emporiaDriver } from './emporia/driver.js';

/**
 * The drivers every registry can name: `tplink`, `modbus`, `shelly` and `emporia`. A registry file's own `drivers:` modules go into a copy, so one file's drivers never leak into another.
 */
export const defaultDrivers = new DriverRegistry([
  tplinkDriver as unknown as DriverDefinition,
  modbusDriver as unknown as DriverDefinition,
  shellyDriver as unknown as DriverDefinition,
  emporiaDriver as unknown as DriverDefinition,
]);

/** Makes a driver available to every registry loaded afterwards in this process. */
export function registerDriver(definition: DriverDefinition): void {
  defaultDrivers.register(definition);
}
