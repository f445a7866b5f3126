import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { loadConfig } from '@wattbus/runtime';
import type { InfluxServer } from '@wattbus/testing';
import { StorageHookConfigSchema, type StorageHookConfig } from '../src/index.js';

export const T0 = Date.parse('2026-11-23T00:00:00.000Z');

/** A full config with defaults, aimed at the harness's servers, with its own log dir. */
export interface HookOverrides {
  mqtt?: Partial<StorageHookConfig['mqtt']>;
  influx?: Partial<StorageHookConfig['influx']>;
  log?: Partial<StorageHookConfig['log']>;
  batch?: Partial<StorageHookConfig['batch']>;
  stop_flush_timeout_ms?: number;
  partition?: StorageHookConfig['partition'];
}

export function hookConfig(overrides: HookOverrides = {}): StorageHookConfig & { cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'wattbus-hook-'));
  const defaults = loadConfig({ schema: StorageHookConfigSchema, env: {} });
  const config: StorageHookConfig = {
    ...defaults,
    counters_log_interval_ms: 0,
    ...overrides,
    mqtt: { ...defaults.mqtt, ...overrides.mqtt },
    influx: { ...defaults.influx, timeout_ms: 5000, ...overrides.influx },
    log: { ...defaults.log, dir, ...overrides.log },
    batch: { ...defaults.batch, retry_min_ms: 50, retry_max_ms: 500, ...overrides.batch },
  };
  return { ...config, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TestReading {
  ts: string;
  device: string;
  power_w: number;
  [key: string]: unknown;
}

/** `perDevice` readings for each of `devices` devices, power_w distinct so sums check exactly. */
export function readings(
  base: string,
  devices: number,
  perDevice: number,
  from = 0,
): Array<[string, TestReading]> {
  const result: Array<[string, TestReading]> = [];
  for (let i = from; i < from + perDevice; i++) {
    for (let d = 0; d < devices; d++) {
      const device = `dev-${d}`;
      result.push([
        `${base}/devices/${device}/readings`,
        { ts: new Date(T0 + i * 1000).toISOString(), device, power_w: i * 100 + d },
      ]);
    }
  }
  return result;
}

/** A plain mqtt.js publisher (not the bus): publishes everything at full speed, QoS 1. */
export async function publisher(url: string): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId: `publisher-${Math.random().toString(16).slice(2, 8)}` });
}

export async function publishAll(client: MqttClient, messages: Array<[string, unknown]>): Promise<void> {
  await Promise.all(
    messages.map(([topic, payload]) =>
      client.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 }),
    ),
  );
}

export interface DeviceTotals {
  count: number;
  sum: number;
}

/** count and sum of power_w per device, from InfluxQL. */
export async function totalsByDevice(
  influx: InfluxServer,
  database: string,
): Promise<Map<string, DeviceTotals>> {
  const result = await influx.query(
    database,
    'SELECT count(power_w), sum(power_w) FROM electricity GROUP BY device',
  );
  const totals = new Map<string, DeviceTotals>();
  for (const series of result.results?.[0]?.series ?? []) {
    const row = series.values[0]!;
    totals.set(series.tags!.device!, { count: Number(row[1]), sum: Number(row[2]) });
  }
  return totals;
}

export async function storedCount(influx: InfluxServer, database: string): Promise<number> {
  const result = await influx
    .query(database, 'SELECT count(power_w) FROM electricity')
    .catch(() => undefined);
  return Number(result?.results?.[0]?.series?.[0]?.values[0]?.[1] ?? 0);
}

export function expectedTotals(messages: Array<[string, TestReading]>): Map<string, DeviceTotals> {
  const totals = new Map<string, DeviceTotals>();
  for (const [, reading] of messages) {
    const entry = totals.get(reading.device) ?? { count: 0, sum: 0 };
    entry.count++;
    entry.sum += reading.power_w;
    totals.set(reading.device, entry);
  }
  return totals;
}

const SERVICE_DIR = new URL('..', import.meta.url).pathname;

export interface HookProcess {
  child: ChildProcess;
  /** Every JSON log line so far. */
  lines: Array<{ msg: string; [key: string]: unknown }>;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** The storage hook as a real process: `node --import tsx src/main.ts`, configured by environment. */
export async function startHookProcess(env: Record<string, string>): Promise<HookProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: SERVICE_DIR,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: HookProcess['lines'] = [];
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const started = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      try {
        const line = JSON.parse(text) as HookProcess['lines'][number];
        lines.push(line);
        if (line.msg === 'storage hook started') resolve();
      } catch {
        // not a log line
      }
    });
    void exited.then(([code]) =>
      reject(new Error(`storage hook exited with ${code} before starting: ${stderr}`)),
    );
  });
  await started;
  return { child, lines, exited };
}
