import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validator } from '@wattbus/contracts';
import { runProgram, type InfluxServer } from '@wattbus/testing';
import { BackupConfigSchema, checkBackupConfig, type BackupConfig } from '../src/config.js';

/** A config with defaults filled, checked like the service checks it. */
export function makeConfig(overrides: Record<string, unknown>): BackupConfig {
  const value = structuredClone(overrides);
  const check = validator(BackupConfigSchema);
  if (!check(value)) throw new Error(`test config invalid: ${check.errorText()}`);
  checkBackupConfig(value);
  return value;
}

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** Runs `src/main.ts` with `args` (env added to this process's) to its exit; its output collected. */
export async function runMain(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = runProgram(MAIN, { args, env });
  const { code, signal } = await run.exited;
  if (code === null) throw new Error(`main ${args.join(' ')} ended by ${signal}: ${run.stderr()}`);
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `wattbus-backup-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export async function writeLines(server: InfluxServer, database: string, lines: string[]): Promise<void> {
  await server.write(database, lines);
}

/** Rows of one query, each as {column: value} with the series tags merged in. */
export async function rows(
  server: InfluxServer,
  database: string,
  influxql: string,
): Promise<Record<string, unknown>[]> {
  const answer = await server.query(database, influxql);
  return (answer.results?.[0]?.series ?? []).flatMap((series) =>
    (series.values ?? []).map((row) => ({
      ...series.tags,
      ...Object.fromEntries(series.columns.map((column, index) => [column, row[index]])),
    })),
  );
}

/** Per device: count and sums of the numeric fields, plus alerts, as one comparable object. */
export async function fingerprint(server: InfluxServer, database: string): Promise<Record<string, unknown>> {
  const electricity = await rows(
    server,
    database,
    'SELECT count(power_w) AS n, sum(power_w) AS power, sum(energy_wh) AS energy, sum(voltage_v) AS voltage FROM electricity GROUP BY device',
  );
  const alerts = await rows(server, database, 'SELECT count(active) AS n FROM alerts GROUP BY rule');
  const fields = await rows(server, database, 'SHOW FIELD KEYS');
  const tags = await rows(server, database, 'SHOW TAG KEYS');
  const raw = await rows(server, database, "SELECT * FROM electricity WHERE device = 'plug-odd' GROUP BY *");
  const odd = await rows(server, database, 'SELECT * FROM "my \\"odd\\",measurement" GROUP BY *');
  return { electricity, alerts, fields, tags, raw, odd };
}

/** Readings in the storage hook's shape: measurement electricity, tags device/type/location/phase. */
export function readings(
  device: string,
  count: number,
  startMs: number,
  stepMs: number,
  phase?: string,
): string[] {
  const lines: string[] = [];
  for (let index = 0; index < count; index++) {
    const power = (index % 97) + 0.25;
    const tags = `device=${device},type=hs110,location=kitchen${phase ? `,phase=${phase}` : ''}`;
    lines.push(
      `electricity,${tags} power_w=${power},voltage_v=230.${index % 10},current_a=${(power / 230).toFixed(4)},energy_wh=${index * 3}i,power_factor=0.98,frequency_hz=50 ${startMs + index * stepMs}`,
    );
  }
  return lines;
}

/** Timers that fire only when the test says so; `now` jumps to each timer's due time. */
export class FakeClock {
  #now: number;
  #timers: Array<{ id: number; due: number; callback: () => void }> = [];
  #nextId = 1;

  constructor(start: number) {
    this.#now = start;
  }

  now = (): number => this.#now;

  setTimeout = (callback: () => void, delayMs: number): unknown => {
    const timer = { id: this.#nextId++, due: this.#now + Math.max(0, delayMs), callback };
    this.#timers.push(timer);
    return timer.id;
  };

  clearTimeout = (handle: unknown): void => {
    this.#timers = this.#timers.filter((timer) => timer.id !== handle);
  };

  get pending(): number {
    return this.#timers.length;
  }

  /** Jumps to the earliest timer and fires it; returns its due time. */
  fireNext(): number {
    this.#timers.sort((a, b) => a.due - b.due || a.id - b.id);
    const timer = this.#timers.shift();
    if (timer === undefined) throw new Error('no timer is pending');
    this.#now = timer.due;
    timer.callback();
    return timer.due;
  }
}
