import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import { validator, type Validator } from '@wattbus/contracts';
import type { DriverDefinition } from './driver.js';
import { type DriverRegistry, driverShapeProblem } from './drivers.js';
import {
  BUILTIN_DEFAULTS,
  RegistryFileSchema,
  type RegistryDevice,
  type RegistryFile,
} from './registry-schema.js';
import { readYamlFile, valueAt } from './yaml-file.js';
import { defaultDrivers } from './builtin.js';
import { RegistryError, type RegistryProblem } from './errors.js';

export interface Registry {
  file: string;
  devices: RegistryDevice[];
  /** Built-in drivers plus the ones the file loaded. */
  drivers: DriverRegistry;
}

export interface LoadRegistryOptions {
  /** Where `type:` names are looked up; default: a copy of the built-in drivers. */
  drivers?: DriverRegistry;
}

const checkFile = validator(RegistryFileSchema);

type ErrorObject = ReturnType<Validator<unknown>['errors']>[number];

/**
 * Reads and checks a device registry (YAML, or JSON, which YAML reads too): the file schema,
 * driver modules named under `drivers:`, every device's `type` and its `connection:` against that
 * driver's schema, unique ids. Problems are collected and thrown together as one RegistryError.
 */
export async function loadRegistry(file: string, options: LoadRegistryOptions = {}): Promise<Registry> {
  const path = resolve(file);
  const parsed = await readYamlFile(path, (problems) => new RegistryError(path, problems));
  const where = (pointer: string): number | undefined => parsed.lineOf(pointer) ?? parsed.rootLine;
  const value = parsed.value;
  if (!checkFile(value)) {
    // Duplicate ids are reported with the schema problems, so one run shows all of them.
    const problems = [...problemsOf(checkFile.errors(), '', where, value), ...duplicateIds(value, where)];
    throw new RegistryError(
      path,
      problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)),
    );
  }
  const drivers = (options.drivers ?? defaultDrivers).copy();
  const problems: RegistryProblem[] = [];
  await loadDriverModules(value, dirname(path), drivers, problems, where);
  problems.push(...duplicateIds(value, where), ...checkDevices(value, drivers, where));
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  if (problems.length > 0) throw new RegistryError(path, problems);
  return { file: path, devices: resolveDevices(value), drivers };
}

async function loadDriverModules(
  registry: RegistryFile,
  baseDir: string,
  drivers: DriverRegistry,
  problems: RegistryProblem[],
  where: (pointer: string) => number | undefined,
): Promise<void> {
  for (const [index, modulePath] of (registry.drivers ?? []).entries()) {
    const pointer = `/drivers/${index}`;
    const absolute = resolve(baseDir, modulePath);
    let module: Record<string, unknown>;
    try {
      module = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
    } catch (error) {
      problems.push({
        path: pointer,
        line: where(pointer),
        message: `cannot load driver module ${absolute}: ${(error as Error).message.split('\n')[0]}`,
      });
      continue;
    }
    const definition = module.default ?? module.driver;
    const problem = driverShapeProblem(definition);
    if (problem) {
      problems.push({
        path: pointer,
        line: where(pointer),
        message: `driver module ${absolute} must export { type, optionsSchema, create } as default or 'driver': ${problem}`,
      });
      continue;
    }
    try {
      drivers.register(definition as DriverDefinition);
    } catch (error) {
      problems.push({ path: pointer, line: where(pointer), message: (error as Error).message });
    }
  }
}

function checkDevices(
  registry: RegistryFile,
  drivers: DriverRegistry,
  where: (pointer: string) => number | undefined,
): RegistryProblem[] {
  const problems: RegistryProblem[] = [];
  for (const [index, entry] of registry.devices.entries()) {
    const pointer = `/devices/${index}`;
    const driver = drivers.get(entry.type);
    if (!driver) {
      problems.push({
        path: `${pointer}/type`,
        line: where(`${pointer}/type`),
        message: `unknown device type '${entry.type}' (device '${entry.id}'); expected one of: ${drivers.types().join(', ')} — or add a driver module under 'drivers:'`,
      });
      continue;
    }
    const checkConnection = validator(driver.optionsSchema as TSchema);
    // ajv fills the driver's defaults (e.g. port 9999) into the entry while checking it.
    if (!checkConnection(entry.connection)) {
      problems.push(
        ...problemsOf(checkConnection.errors(), `${pointer}/connection`, where, registry).map((problem) => ({
          ...problem,
          message: `${problem.message} (device '${entry.id}', type '${entry.type}')`,
        })),
      );
    }
  }
  return problems;
}

/** Every repeated `id` under `devices:`, naming where it was first used; works on unchecked input. */
function duplicateIds(value: unknown, where: (pointer: string) => number | undefined): RegistryProblem[] {
  const devices = (value as { devices?: unknown } | null)?.devices;
  if (!Array.isArray(devices)) return [];
  const problems: RegistryProblem[] = [];
  const firstIndexOf = new Map<string, number>();
  for (const [index, entry] of devices.entries()) {
    const id = (entry as { id?: unknown } | null)?.id;
    if (typeof id !== 'string') continue;
    const first = firstIndexOf.get(id);
    if (first === undefined) {
      firstIndexOf.set(id, index);
      continue;
    }
    const pointer = `/devices/${index}/id`;
    problems.push({
      path: pointer,
      line: where(pointer),
      message: `duplicate device id '${id}' (first used by /devices/${first}${lineSuffix(where(`/devices/${first}/id`))}); ids must be unique`,
    });
  }
  return problems;
}

function resolveDevices(registry: RegistryFile): RegistryDevice[] {
  const defaults = { ...BUILTIN_DEFAULTS, ...registry.defaults };
  return registry.devices.map((entry) => ({
    ...entry,
    name: entry.name ?? entry.id,
    poll_interval_ms: entry.poll_interval_ms ?? defaults.poll_interval_ms,
    timeout_ms: entry.timeout_ms ?? defaults.timeout_ms,
    offline_after_failures: entry.offline_after_failures ?? defaults.offline_after_failures,
    max_backoff_ms: entry.max_backoff_ms ?? defaults.max_backoff_ms,
  }));
}

/** ajv errors as problems with a readable "what was expected" (also for other files this library's users check). */
export function problemsOf(
  errors: readonly ErrorObject[],
  prefix: string,
  where: (pointer: string) => number | undefined,
  root: unknown,
): RegistryProblem[] {
  return errors
    .filter((error) => error.keyword !== 'if')
    .map((error) => {
      let path = `${prefix}${error.instancePath}` || '/';
      let message: string;
      if (error.keyword === 'required') {
        const key = (error.params as { missingProperty: string }).missingProperty;
        message = `missing required key '${key}'`;
      } else if (error.keyword === 'additionalProperties') {
        const key = (error.params as { additionalProperty: string }).additionalProperty;
        path = `${path === '/' ? '' : path}/${key}`;
        message = `unknown key '${key}'`;
      } else if (error.keyword === 'not') {
        // Drivers use `not: { required: [a, b] }` for keys that say the same thing two ways.
        const keys = Object.keys((valueAt(root, path) as Record<string, unknown> | undefined) ?? {});
        message = `has keys that cannot be used together (keys: ${keys.join(', ')}); see the driver's documentation`;
      } else {
        message = `${error.message ?? 'is invalid'}${valueNote(error, valueAt(root, path))}`;
      }
      return { path, line: where(path), message };
    });
}

function valueNote(error: ErrorObject, value: unknown): string {
  if (error.keyword === 'type' || error.keyword === 'pattern' || error.keyword.startsWith('m')) {
    return `, got ${JSON.stringify(value)?.slice(0, 80) ?? 'nothing'}`;
  }
  return '';
}

function lineSuffix(line: number | undefined): string {
  return line ? `, line ${line}` : '';
}
