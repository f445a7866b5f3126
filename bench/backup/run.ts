/**
 * Backup and restore of N points (default 5 million) against a real influxd 1.6, each phase in
 * its own process so its peak RSS is measured alone; fails when a phase's peak RSS is above the
 * bound or the restored count differs.
 * `node --import tsx bench/backup/run.ts [--points 5000000] [--devices 100] [--bound-mb 256] [--max-old-space-mb 48]`
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startInflux } from '@wattbus/testing';

const { values } = parseArgs({
  options: {
    points: { type: 'string', default: '5000000' },
    devices: { type: 'string', default: '100' },
    'bound-mb': { type: 'string', default: '256' },
    // Caps V8's old generation in the measured processes: a phase that needed memory growing with
    // the point count would die of it, so completing under a small cap shows the memory is flat.
    'max-old-space-mb': { type: 'string' },
  },
});
const total = Number(values.points);
const devices = Number(values.devices);
const boundMb = Number(values['bound-mb']);
const heapCap =
  values['max-old-space-mb'] === undefined ? [] : [`--max-old-space-size=${values['max-old-space-mb']}`];
const DB = 'wattbus';
const phaseScript = fileURLToPath(new URL('phase.ts', import.meta.url));

const influx = await startInflux();
const directory = await mkdtemp(join(tmpdir(), 'wattbus-bench-backup-'));
try {
  await influx.createDatabase(DB);
  // One reading per device every 10 s, as the storage hook writes them.
  const start = Date.parse('2026-01-01T00:00:00Z');
  const perDevice = Math.ceil(total / devices);
  let written = 0;
  const loadStarted = performance.now();
  const batch = 10_000;
  const send = async (from: number) => {
    const lines: string[] = [];
    for (let index = from; index < Math.min(total, from + batch); index++) {
      const device = index % devices;
      const step = Math.floor(index / devices);
      const power = (index % 997) + 0.5;
      lines.push(
        `electricity,device=plug-${device},type=hs110,location=floor-${device % 7} power_w=${power},voltage_v=230.1,current_a=${(power / 230).toFixed(4)},energy_wh=${step * 3}i,power_factor=0.97,frequency_hz=50 ${start + step * 10_000}`,
      );
    }
    const response = await fetch(`${influx.url}/write?db=${DB}&precision=ms`, {
      method: 'POST',
      body: lines.join('\n'),
    });
    if (response.status !== 204) throw new Error(`load failed: ${response.status} ${await response.text()}`);
    written += lines.length;
  };
  for (let from = 0; from < total; from += 2 * batch) await Promise.all([send(from), send(from + batch)]);
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  process.stderr.write(
    `loaded ${written} points (${devices} devices, ${perDevice} each) in ${loadSeconds.toFixed(1)} s\n`,
  );

  const backup = await phase('backup');
  await influx.query(DB, `DROP DATABASE ${DB}`);
  const restore = await phase('restore');
  const answer = await influx.query(DB, 'SELECT count(power_w) FROM electricity');
  const restored = Number(answer.results?.[0]?.series?.[0]?.values[0]?.[1] ?? 0);
  const result = {
    points: total,
    devices,
    load_seconds: Number(loadSeconds.toFixed(1)),
    backup,
    restore,
    restored_points: restored,
    bound_mb: boundMb,
    max_old_space_mb: values['max-old-space-mb'] ?? null,
    within_bound: backup.max_rss_mb <= boundMb && restore.max_rss_mb <= boundMb,
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (restored !== total) throw new Error(`restored ${restored} points, expected ${total}`);
  if (!result.within_bound) throw new Error(`peak RSS above ${boundMb} MB`);
} finally {
  await influx.destroy();
  await rm(directory, { recursive: true, force: true });
}

async function phase(
  name: 'backup' | 'restore',
): Promise<{ seconds: number; max_rss_mb: number; points: number }> {
  const child = spawn(
    process.execPath,
    [...heapCap, '--import', 'tsx', phaseScript, name, influx.url, directory],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += String(chunk)));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${name} phase exited with ${code}`);
  const result = JSON.parse(output) as { seconds: number; max_rss_mb: number; points: number };
  process.stderr.write(`${name}: ${output}`);
  return result;
}
