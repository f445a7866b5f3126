/** A resource several drivers share, closed once when the last user is gone or the pool closes. */
export interface Closable {
  close(): Promise<void> | void;
}

/**
 * Connections shared between devices, keyed by what identifies them (e.g. `modbus:/dev/ttyUSB0`).
 * A driver asks for one in `create()` and gets the same object as every other device on that key.
 */
export class SharedResources {
  #resources = new Map<string, Closable>();

  use<T extends Closable>(key: string, open: () => T): T {
    let resource = this.#resources.get(key);
    if (!resource) {
      resource = open();
      this.#resources.set(key, resource);
    }
    return resource as T;
  }

  get size(): number {
    return this.#resources.size;
  }

  async closeAll(): Promise<void> {
    const resources = [...this.#resources.values()];
    this.#resources.clear();
    await Promise.allSettled(resources.map(async (resource) => resource.close()));
  }
}
