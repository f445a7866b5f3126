import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { waitUntil } from '@wattbus/testing';

/** `src/main.ts` (what `npm start` runs) as a child process, checked from outside. */
const main = new URL('../src/main.ts', import.meta.url).pathname;

export interface Ports {
  http: number;
  mqtt: number;
  ws: number;
  influx: number;
  /** --metrics-port; default: 9233, or a free port if taken. */
  metrics?: number;
}

export interface RunningPlatform {
  child: ChildProcess;
  /** stdout and stderr as they came. */
  output: () => string;
  stdout: () => string;
}

export function startPlatform(
  dataDir: string,
  ports: Ports,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
): RunningPlatform {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      main,
      '--data-dir',
      dataDir,
      '--http-port',
      String(ports.http),
      '--mqtt-port',
      String(ports.mqtt),
      '--ws-port',
      String(ports.ws),
      '--influx-port',
      String(ports.influx),
      ...(ports.metrics === undefined ? [] : ['--metrics-port', String(ports.metrics)]),
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, INFLUX_URL: '', LOG_LEVEL: 'warn', ...env } },
  );
  let text = '';
  let stdout = '';
  child.stdout!.on('data', (chunk) => {
    text += chunk;
    stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => (text += chunk));
  return { child, output: () => text, stdout: () => stdout };
}

/** Resolves once the banner is out; fails with the output when the platform exits first. */
export async function bannerOf(running: RunningPlatform): Promise<void> {
  await waitUntil(
    'the platform banner',
    async () => {
      if (running.child.exitCode !== null) throw new Error(`the platform exited:\n${running.output()}`);
      return running.output().includes('WattBus is running.');
    },
    { timeoutMs: 60_000, diagnostics: running.output },
  );
}

export async function influxQuery(
  port: number,
  q: string,
): Promise<Array<{ tags?: Record<string, string>; values: unknown[][] }>> {
  const response = await fetch(
    `http://127.0.0.1:${port}/query?db=wattbus&epoch=ms&q=${encodeURIComponent(q)}`,
  );
  const body = (await response.json()) as {
    results: Array<{ series?: Array<{ tags?: Record<string, string>; values: unknown[][] }> }>;
  };
  return body.results[0]?.series ?? [];
}

/** The devices with at least one stored reading. */
export async function storedDevices(influxPort: number): Promise<string[]> {
  const series = await influxQuery(influxPort, 'SELECT count(power_w) FROM electricity GROUP BY device');
  return series.map((entry) => entry.tags?.device ?? '');
}

/**
 * Runs a command to its end without blocking this process (whose simulators must keep answering),
 * like spawnSync but awaited.
 */
export async function run(
  command: string,
  args: string[],
  options: { timeoutMs?: number } = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 30_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const [status] = (await once(child, 'close')) as [number | null];
  return { status, stdout, stderr };
}

/** Kills a platform still running (a failed test's) and removes its data dir. */
export async function removePlatform(
  running: RunningPlatform | { child: ChildProcess } | undefined,
  dataDir: string,
): Promise<void> {
  if (running?.child.exitCode === null) {
    running.child.kill('SIGKILL');
    await once(running.child, 'exit');
  }
  rmSync(dataDir, { recursive: true, force: true });
}
