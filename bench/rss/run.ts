/**
 * Idle memory of every service (a script, not a test): each service started from its built
 * JavaScript (or its sources through tsx, for comparison) against mosquitto, influxd and six
 * simulated plugs, left alone for `--settle-s`, then RSS, anonymous memory, PSS and peak RSS read
 * from /proc. Modes run interleaved (run 1: source, built; run 2: built, source; …).
 *
 *   node --import tsx bench/rss/run.ts [--runs 5] [--settle-s 30] [--modes source,built]
 *     [--services broker,agent,…] [--platform] [--platform-settle-s 120] [--base DIR]
 *
 * `--platform` also measures `npm start` (services/platform: every part in one process, the demo
 * fleet, its own influxd) in each mode. Figures go to stdout and bench/out/rss-<time>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { ProgramRun } from '@wattbus/testing';
import { median, memoryOf, type ProcessMemory } from '../lib/proc.js';
import { bundle, parseModes, REPO_ROOT, startService, type Mode } from '../lib/services.js';
import { recipe, SERVICES, startBackends } from './fleet.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    'settle-s': { type: 'string', default: '30' },
    modes: { type: 'string', default: 'source,built' },
    services: { type: 'string', default: SERVICES.join(',') },
    platform: { type: 'boolean', default: false },
    'platform-settle-s': { type: 'string', default: '120' },
    base: { type: 'string' },
  },
});
const RUNS = Number(args.runs);
const MODES = parseModes(args.modes, args.base);
const NAMES = args.services.split(',').filter(Boolean);

interface Sample extends ProcessMemory {
  mode: string;
  service: string;
  run: number;
}

/** Starts the programs, waits `settleS`, reads /proc, stops them. */
async function measure(
  programs: Map<string, ProgramRun>,
  settleS: number,
): Promise<Map<string, ProcessMemory>> {
  const exits = [...programs].map(([name, run]) =>
    run.exited.then(() => {
      throw new Error(`${name} exited during the measurement:\n${run.stderr()}`);
    }),
  );
  await Promise.race([sleep(settleS * 1000), ...exits]);
  const memory = new Map<string, ProcessMemory>();
  for (const [name, run] of programs) memory.set(name, memoryOf(run.child.pid!));
  await Promise.all([...programs.values()].map((run) => run.stop('SIGTERM')));
  return memory;
}

const order = (run: number): Mode[] => (run % 2 === 0 ? MODES : [...MODES].reverse());

bundle();
for (const root of new Set(MODES.filter((mode) => mode.built && mode.root !== REPO_ROOT).map((m) => m.root)))
  bundle([], root);
const { backends, stop: stopBackends } = await startBackends();
const samples: Sample[] = [];
const load: number[] = [];

try {
  for (let run = 0; run < RUNS; run++) {
    for (const mode of order(run)) {
      load.push(loadavg()[0]!);
      const programs = new Map(
        NAMES.map((service) => {
          const { args: serviceArgs, env } = recipe(service, backends);
          return [service, startService(service, mode, { args: serviceArgs, env })] as const;
        }),
      );
      const memory = programs.size > 0 ? await measure(programs, Number(args['settle-s'])) : new Map();
      for (const [service, figures] of memory) samples.push({ mode: mode.name, service, run, ...figures });
      if (memory.size > 0)
        process.stderr.write(
          `run ${run + 1}/${RUNS} ${mode.name}: ${[...memory].map(([s, m]) => `${s} ${m.rss_mb}`).join(', ')} MB\n`,
        );

      if (args.platform) {
        load.push(loadavg()[0]!);
        const dataDir = join(backends.dir, `platform-${run}-${mode.name.replace(/\W/g, '_')}`);
        const platform = startService('platform', mode, {
          args: [
            '--data-dir',
            dataDir,
            '--http-port',
            '0',
            '--mqtt-port',
            '0',
            '--ws-port',
            'off',
            '--influx-port',
            '0',
          ],
          env: { INFLUX_URL: '', LOG_LEVEL: 'info' },
        });
        const [figures] = (
          await measure(new Map([['platform', platform]]), Number(args['platform-settle-s']))
        ).values();
        samples.push({ mode: mode.name, service: 'platform', run, ...figures! });
        process.stderr.write(`run ${run + 1}/${RUNS} ${mode.name}: platform ${figures!.rss_mb} MB\n`);
      }
    }
  }
} finally {
  await stopBackends();
}

const rows: string[] = [];
const names = [...NAMES, ...(args.platform ? ['platform'] : [])];
for (const service of names) {
  const cells = MODES.map((mode) => {
    const of = samples.filter((sample) => sample.service === service && sample.mode === mode.name);
    const m = (key: keyof ProcessMemory) => median(of.map((sample) => sample[key])).toFixed(1);
    return `${m('rss_mb')} / ${m('anon_mb')} / ${m('pss_mb')} / ${m('hwm_mb')}`;
  });
  rows.push(`| ${service} | ${cells.join(' | ')} |`);
}
const header = `| service | ${MODES.map((mode) => `${mode.name}: RSS / anon / PSS / peak MB`).join(' | ')} |`;
const summary = [
  `runs ${RUNS}, settle ${args['settle-s']} s (platform ${args['platform-settle-s']} s), medians; load average ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)}`,
  header,
  `| --- | ${MODES.map(() => '---').join(' | ')} |`,
  ...rows,
].join('\n');
process.stdout.write(`${summary}\n`);
mkdirSync(`${REPO_ROOT}bench/out`, { recursive: true });
const file = `${REPO_ROOT}bench/out/rss-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
writeFileSync(file, JSON.stringify({ args, load, samples }, null, 2));
process.stderr.write(`samples: ${file}\n`);
