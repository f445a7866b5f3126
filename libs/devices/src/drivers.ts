import type { DriverDefinition } from './driver.js';

const TYPE_PATTERN = /^[a-z0-9][a-z0-9_-]*$/;

/** Driver definitions by `type` name. A registry file's own driver modules go into its own copy. */
export class DriverRegistry {
  #drivers = new Map<string, DriverDefinition>();

  constructor(definitions: Iterable<DriverDefinition> = []) {
    for (const definition of definitions) this.register(definition);
  }

  register(definition: DriverDefinition): void {
    const problem = driverShapeProblem(definition);
    if (problem) throw new Error(`invalid driver definition: ${problem}`);
    if (this.#drivers.has(definition.type)) {
      throw new Error(`a driver of type '${definition.type}' is already registered`);
    }
    this.#drivers.set(definition.type, definition);
  }

  get(type: string): DriverDefinition | undefined {
    return this.#drivers.get(type);
  }

  types(): string[] {
    return [...this.#drivers.keys()].sort();
  }

  copy(): DriverRegistry {
    return new DriverRegistry(this.#drivers.values());
  }
}

/** Why `candidate` is not a DriverDefinition, or undefined when it is one. */
export function driverShapeProblem(candidate: unknown): string | undefined {
  if (typeof candidate !== 'object' || candidate === null) return 'expected an object';
  const { type, optionsSchema, create } = candidate as Record<string, unknown>;
  if (typeof type !== 'string' || !TYPE_PATTERN.test(type)) {
    return `'type' must be a string matching ${TYPE_PATTERN.source}`;
  }
  if (typeof optionsSchema !== 'object' || optionsSchema === null) {
    return `'optionsSchema' of driver '${type}' must be a JSON Schema object`;
  }
  if (typeof create !== 'function') return `'create' of driver '${type}' must be a function`;
  return undefined;
}
