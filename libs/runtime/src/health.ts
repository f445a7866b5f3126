/** Readiness of a service's parts (broker link, store, …), for health endpoints and metrics. */
export interface HealthCheck {
  ok: boolean;
  detail?: string;
  since: string;
}

export class Health {
  #checks = new Map<string, HealthCheck>();
  #listeners = new Set<() => void>();

  set(part: string, ok: boolean, detail?: string): void {
    const previous = this.#checks.get(part);
    if (previous && previous.ok === ok && previous.detail === detail) return;
    this.#checks.set(part, { ok, detail, since: new Date().toISOString() });
    for (const listener of this.#listeners) listener();
  }

  get ready(): boolean {
    return [...this.#checks.values()].every((check) => check.ok);
  }

  snapshot(): Record<string, HealthCheck> {
    return Object.fromEntries(this.#checks);
  }

  /** Calls `listener` after every change of a check; returns the function that removes it. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
