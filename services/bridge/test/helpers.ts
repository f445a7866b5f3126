import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import {
  DeadLetterSchema,
  ReadingSchema,
  validator,
  type DeadLetter,
  type Reading,
} from '@wattbus/contracts';
import { parseConfig, silentLogger } from '@wattbus/runtime';
import { stringify } from 'yaml';
import { Bridge, BridgeConfigSchema, loadBridgeRegistry, type BridgeConfig } from '../src/index.js';

const checkReading = validator(ReadingSchema);
const checkDeadLetter = validator(DeadLetterSchema);

export interface EntrySpec {
  id: string;
  profile: string;
  foreign: string;
  variables?: Record<string, string>;
  timeout_ms?: number;
  /** The registry entry's plausibility `limits:`. */
  limits?: Record<string, number>;
}

/** A registry file of `type: mqtt` entries in a fresh temp dir. */
export async function writeRegistry(
  specs: EntrySpec[],
  extra: Record<string, unknown> = {},
): Promise<{ file: string; dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'wattbus-bridge-'));
  const file = join(dir, 'mqtt-devices.yaml');
  const devices = specs.map((spec) => ({
    id: spec.id,
    name: `Plug ${spec.id}`,
    type: 'mqtt',
    location: `home/test/${spec.id}`,
    kind: 'appliance',
    ...(spec.timeout_ms ? { timeout_ms: spec.timeout_ms } : {}),
    ...(spec.limits ? { limits: spec.limits } : {}),
    connection: {
      profile: spec.profile,
      id: spec.foreign,
      ...(spec.variables ? { variables: spec.variables } : {}),
    },
  }));
  await writeFile(file, stringify({ ...extra, devices }));
  return { file, dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function bridgeConfig(url: string, overrides: Record<string, unknown> = {}): BridgeConfig {
  return parseConfig(
    BridgeConfigSchema,
    { mqtt: { url }, id: 'bridge-test', device_wills: false, ...overrides },
    'test',
  );
}

/** A started bridge over a registry of `specs`; stop() stops it and removes the registry. */
export async function startBridge(
  url: string,
  specs: EntrySpec[],
  overrides: Record<string, unknown> = {},
): Promise<{ bridge: Bridge; stop: () => Promise<void> }> {
  const registry = await writeRegistry(specs);
  const { devices } = await loadBridgeRegistry(registry.file);
  const bridge = new Bridge({ config: bridgeConfig(url, overrides), devices, logger: silentLogger() });
  await bridge.start();
  return {
    bridge,
    stop: async () => {
      await bridge.stop();
      await registry.cleanup();
    },
  };
}

export interface Seen {
  topic: string;
  text: string;
  retain: boolean;
}

/**
 * Everything published under a base topic, recorded by a plain MQTT client, with a way to await
 * a message that matches (including ones that came before the call).
 */
export class Watcher {
  readonly seen: Seen[] = [];
  #client: MqttClient;
  #waiters = new Set<() => void>();

  private constructor(client: MqttClient) {
    this.#client = client;
    client.on('message', (topic, payload, packet) => {
      this.seen.push({ topic, text: payload.toString('utf8'), retain: packet.retain });
      for (const wake of [...this.#waiters]) wake();
    });
  }

  static async start(url: string, filter = 'wattbus/#', options: IClientOptions = {}): Promise<Watcher> {
    const client = await mqtt.connectAsync(url, {
      clientId: `watcher-${Math.random().toString(16).slice(2, 8)}`,
      ...options,
    });
    const watcher = new Watcher(client);
    await client.subscribeAsync(filter, { qos: 1 });
    return watcher;
  }

  /** Resolves with the first message for which `match` is true; rejects after `timeoutMs` naming `what`. */
  async waitFor(what: string, match: (seen: Seen) => boolean, timeoutMs = 10_000): Promise<Seen> {
    let found: Seen | undefined;
    await this.until(what, () => (found = this.seen.find(match)) !== undefined, timeoutMs);
    return found!;
  }

  /** Resolves with the matching messages once there are `count` of them. */
  async waitForCount(
    what: string,
    match: (seen: Seen) => boolean,
    count: number,
    timeoutMs = 10_000,
  ): Promise<Seen[]> {
    await this.until(`${count} × ${what}`, () => this.seen.filter(match).length >= count, timeoutMs);
    return this.seen.filter(match);
  }

  /** Resolves when `condition` holds, checked on every message; rejects after `timeoutMs`. */
  until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const wake = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        const log = this.seen.map((seen) => `  ${seen.topic} ${seen.text.slice(0, 200)}`).join('\n');
        reject(new Error(`no ${what} within ${timeoutMs} ms; seen:\n${log}`));
      }, timeoutMs);
      this.#waiters.add(wake);
      wake();
    });
  }

  readings(device: string): Reading[] {
    return this.seen
      .filter((seen) => seen.topic === `wattbus/devices/${device}/readings`)
      .map((seen) => {
        const reading = JSON.parse(seen.text) as unknown;
        if (!checkReading(reading)) throw new Error(`reading breaks the schema: ${checkReading.errorText()}`);
        return reading;
      });
  }

  deadLetters(): DeadLetter[] {
    return this.seen
      .filter((seen) => seen.topic === 'wattbus/deadletter/bridge')
      .map((seen) => {
        const record = JSON.parse(seen.text) as unknown;
        if (!checkDeadLetter(record))
          throw new Error(`dead letter breaks the schema: ${checkDeadLetter.errorText()}`);
        return record;
      });
  }

  /** The last availability / state of a device, as the WattBus topics say. */
  last(device: string, kind: 'availability' | 'state'): string | undefined {
    return this.seen.filter((seen) => seen.topic === `wattbus/devices/${device}/${kind}`).at(-1)?.text;
  }

  async stop(): Promise<void> {
    await this.#client.endAsync();
  }
}
