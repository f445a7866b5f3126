import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Bus } from '@wattbus/bus';
import {
  AvailabilitySchema,
  DeviceMetaSchema,
  DeviceStateSchema,
  ReadingSchema,
  validator,
  type Availability,
  type DeviceMeta,
  type DeviceState,
  type Reading,
} from '@wattbus/contracts';
import { loadRegistry, type Registry } from '@wattbus/devices';
import { pino, type Logger } from 'pino';
import { stringify } from 'yaml';
import { Agent, AgentConfigSchema, type AgentConfig } from '../src/index.js';
import { Value } from '@sinclair/typebox/value';

export interface DeviceSpec {
  id: string;
  host: string;
  port: number;
  poll_interval_ms?: number;
  timeout_ms?: number;
  offline_after_failures?: number;
  max_backoff_ms?: number;
  limits?: Record<string, number>;
}

/** Writes a registry for simulated plugs into a fresh temp dir and loads it. */
export async function registryFor(
  specs: DeviceSpec[],
): Promise<{ registry: Registry; file: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'wattbus-agent-'));
  const file = join(dir, 'devices.yaml');
  const devices = specs.map(({ host, port, ...rest }, index) => ({
    ...rest,
    name: `Plug ${index + 1}`,
    type: 'tplink',
    location: `hq/floor-${(index % 3) + 1}/desk-${index + 1}`,
    kind: 'workplace',
    connection: { host, port },
  }));
  await writeFile(file, stringify({ devices }));
  return {
    registry: await loadRegistry(file),
    file,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export function agentConfig(url: string, overrides: Partial<AgentConfig> = {}): AgentConfig {
  const config = Value.Default(AgentConfigSchema, { mqtt: { url }, id: 'agent-test', ...overrides });
  return config as AgentConfig;
}

/** A logger whose lines the test can read. */
export function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines: () => lines };
}

export async function startAgent(
  url: string,
  registry: Registry,
  overrides: Partial<AgentConfig> = {},
  logger?: Logger,
): Promise<Agent> {
  const agent = new Agent({
    config: agentConfig(url, overrides),
    registry,
    logger: logger ?? pino({ level: 'silent' }),
  });
  await agent.start();
  return agent;
}

interface Waiter {
  test: () => boolean;
  resolve: () => void;
}

/**
 * A third-party subscriber: every reading, state, availability and meta the agents publish,
 * validated by the contract schemas (anything invalid would be dead-lettered, not seen here).
 */
export class Observer {
  readonly readings = new Map<string, Reading[]>();
  readonly states = new Map<string, DeviceState[]>();
  readonly availability = new Map<string, Availability[]>();
  readonly meta = new Map<string, DeviceMeta>();
  readonly agents = new Map<string, Availability[]>();
  #waiters = new Set<Waiter>();
  bus!: Bus;

  static async connect(url: string): Promise<Observer> {
    const observer = new Observer();
    observer.bus = await Bus.connect({ url, service: 'observer' });
    const topics = observer.bus.topics;
    const push = <T>(map: Map<string, T[]>, key: string, value: T) => {
      const list = map.get(key) ?? [];
      list.push(value);
      map.set(key, list);
      observer.#check();
    };
    await observer.bus.subscribe(topics.allDevices('readings'), validator(ReadingSchema), (reading) =>
      push(observer.readings, reading.device, reading),
    );
    await observer.bus.subscribe(topics.allDevices('state'), validator(DeviceStateSchema), (state, context) =>
      push(observer.states, topics.parseDeviceTopic(context.topic)!.deviceId, state),
    );
    await observer.bus.subscribe(
      topics.allDevices('availability'),
      validator(AvailabilitySchema),
      (value, context) =>
        push(observer.availability, topics.parseDeviceTopic(context.topic)!.deviceId, value),
      { encoding: 'text' },
    );
    await observer.bus.subscribe(topics.allDevices('meta'), validator(DeviceMetaSchema), (meta) => {
      observer.meta.set(meta.id, meta);
      observer.#check();
    });
    await observer.bus.subscribe(
      `${topics.base}/agents/+/availability`,
      validator(AvailabilitySchema),
      (value, context) => push(observer.agents, context.topic.split('/')[2]!, value),
      { encoding: 'text' },
    );
    return observer;
  }

  count(device: string): number {
    return this.readings.get(device)?.length ?? 0;
  }

  lastAvailability(device: string): Availability | undefined {
    return this.availability.get(device)?.at(-1);
  }

  /** Resolves when `test` holds (checked on every message); rejects after `timeoutMs` naming `what`. */
  until(what: string, test: () => boolean, timeoutMs = 15_000): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter: Waiter = {
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.#waiters.add(waiter);
    });
  }

  #check(): void {
    for (const waiter of this.#waiters) {
      if (waiter.test()) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  async stop(): Promise<void> {
    await this.bus.stop();
  }
}
