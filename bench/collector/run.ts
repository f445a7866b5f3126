/**
 * Collector benchmark (a script, not a test): one agent polling `--plugs` simulated TP-Link plugs
 * every `--interval-ms`, as a production agent runs (its built JavaScript; or its sources, or
 * another checkout's, see bench/lib/services.ts). Reports the agent's CPU as % of one core and
 * how many polls land within 250 ms of their slot.
 *
 *   node --import tsx bench/collector/run.ts [--plugs 1000] [--interval-ms 1000] [--seconds 60]
 *     [--warmup-s 15] [--runs 1] [--modes built] [--base DIR]
 *
 * The plugs run in their own process (bench/collector/plugs.ts), mosquitto is the broker, and
 * this process only subscribes to the readings. A poll's slot is on the agent's grid: every
 * poller starts at the same instant (agent start) and polls at origin + offset + k × interval,
 * the offset spreading the devices over the interval (services/agent gridOffsetMs; 0 for all in
 * mode `base`, whose agent predates it). The reading's `ts` is taken when the plug has answered,
 * so lateness = ts − slot includes the plug's answer time. The common origin is estimated as the
 * earliest phase of any reading in the window (some poll is on time, give or take the answer
 * time). A slot without a reading counts as a poll outside the 250 ms.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { startMosquitto } from '@wattbus/testing';
import { gridOffsetMs } from '../../services/agent/src/poller.js';
import { cpuSecondsOf, median } from '../lib/proc.js';
import { bundle, parseModes, REPO_ROOT, startService } from '../lib/services.js';

const { values: args } = parseArgs({
  options: {
    plugs: { type: 'string', default: '1000' },
    'interval-ms': { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '60' },
    'warmup-s': { type: 'string', default: '15' },
    runs: { type: 'string', default: '1' },
    modes: { type: 'string', default: 'built' },
    base: { type: 'string' },
  },
});
const PLUGS = Number(args.plugs);
const INTERVAL = Number(args['interval-ms']);
const WINDOW_MS = Number(args.seconds) * 1000;
const MODES = parseModes(args.modes, args.base);
const ON_TIME_MS = 250;

interface Result {
  mode: string;
  run: number;
  cpu_percent: number;
  /** The simulated plugs' process, for context: when it saturates, polls are late because of it. */
  plugs_cpu_percent: number;
  slots: number;
  readings: number;
  within_250_ms_percent: number;
  lateness_p50_ms: number;
  lateness_p99_ms: number;
  load: number;
}

const rank = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;

/**
 * Lateness of every reading against the common grid, and the slots that had none. No poll starts
 * before its slot, so the origin is the leading edge of the readings' phases on a circle of one
 * interval: from the 1 ms step where the next 5 ms hold the most more readings than the 5 ms
 * before, back to where the 5 ms before hold less than 5 % of that (answer times can be bimodal).
 * Lateness is counted from 2 ms before it (a timer may fire a millisecond "early" by the wall
 * clock) once round the circle, so a poll later than the rest is never read as early.
 */
function lateness(readings: Map<string, number[]>, from: number, to: number, spread: boolean) {
  const offset = (device: string) =>
    spread ? gridOffsetMs(Number(device.slice(5)) - 1, PLUGS, INTERVAL) : 0;
  const circle = (ms: number) => ((ms % INTERVAL) + INTERVAL) % INTERVAL;
  const phases: number[] = [];
  for (const [device, list] of readings)
    for (const ts of list) phases.push(circle(ts - from - offset(device)));
  const bins = new Array<number>(INTERVAL).fill(0);
  for (const phase of phases) bins[Math.floor(phase)]!++;
  const count = (start: number, width: number) => {
    let sum = 0;
    for (let k = 0; k < width; k++) sum += bins[circle(start + k)]!;
    return sum;
  };
  let origin = 0;
  let steepest = -Infinity;
  for (let ms = 0; ms < INTERVAL; ms++) {
    const rise = count(ms, 5) - count(ms - 5, 5);
    if (rise > steepest) [steepest, origin] = [rise, ms];
  }
  const floor = 0.05 * count(origin, 5);
  for (let step = 0; step < INTERVAL / 2 && count(origin - 5, 5) > floor; step++) origin = circle(origin - 1);
  const late = phases.map((phase) => circle(phase - origin + 2)).sort((a, b) => a - b);
  // One slot per interval and device in the window (a reading of a slot near its end may fall after it).
  const slots = PLUGS * Math.round((to - from) / INTERVAL);
  const onTime = late.filter((ms) => ms <= ON_TIME_MS).length;
  return { slots, readings: late.length, onTime, late };
}

async function measure(
  mode: (typeof MODES)[number],
  run: number,
  mqttUrl: string,
  registry: string,
  plugsPid: number,
): Promise<Result> {
  const subscriber = await mqtt.connectAsync(mqttUrl, { clientId: `bench-collector-${run}` });
  const readings = new Map<string, number[]>();
  // Set once the warm-up is over; readings before it are not counted.
  const recording = { from: Infinity, to: -Infinity };
  subscriber.on('message', (_topic, payload) => {
    const { device, ts } = JSON.parse(payload.toString()) as { device: string; ts: string };
    const at = Date.parse(ts);
    if (at < recording.from || at >= recording.to) return;
    let list = readings.get(device);
    if (!list) readings.set(device, (list = []));
    list.push(at);
  });
  await subscriber.subscribeAsync('wattbus/devices/+/readings', { qos: 0 });
  const agent = startService('agent', mode, {
    args: ['--registry', registry, '--collector'],
    env: {
      WATTBUS_AGENT_MQTT__URL: mqttUrl,
      WATTBUS_AGENT_ID: `agent-collector-${run}`,
      WATTBUS_AGENT_DEVICE_WILLS: 'false',
    },
  });
  const died = agent.exited.then(() => {
    throw new Error(`the agent exited:\n${agent.stderr()}`);
  });
  await Promise.race([sleep(Number(args['warmup-s']) * 1000), died]);
  const load = loadavg()[0]!;
  const cpuBefore = cpuSecondsOf(agent.child.pid!);
  const plugsBefore = cpuSecondsOf(plugsPid);
  const from = Date.now();
  recording.from = from;
  recording.to = from + WINDOW_MS;
  await Promise.race([sleep(WINDOW_MS), died]);
  const cpuAfter = cpuSecondsOf(agent.child.pid!);
  const plugsAfter = cpuSecondsOf(plugsPid);
  const wall = (Date.now() - from) / 1000;
  // Readings of the window's last slots are still on their way.
  await sleep(Math.min(2000, INTERVAL * 2));
  await agent.stop('SIGTERM');
  await subscriber.endAsync();
  // The raw readings, to look at or analyse again.
  mkdirSync(`${REPO_ROOT}bench/out`, { recursive: true });
  writeFileSync(
    `${REPO_ROOT}bench/out/collector-${mode.name.replace(/\W/g, '_')}-${run}.json`,
    JSON.stringify({ from: recording.from, to: recording.to, readings: Object.fromEntries(readings) }),
  );
  const {
    slots,
    readings: count,
    onTime,
    late,
  } = lateness(readings, recording.from, recording.to, mode.name !== 'base');
  return {
    mode: mode.name,
    run,
    cpu_percent: Math.round(((cpuAfter - cpuBefore) / wall) * 1000) / 10,
    plugs_cpu_percent: Math.round(((plugsAfter - plugsBefore) / wall) * 1000) / 10,
    slots,
    readings: count,
    within_250_ms_percent: Math.round((onTime / slots) * 10000) / 100,
    lateness_p50_ms: rank(late, 0.5),
    lateness_p99_ms: rank(late, 0.99),
    load: Math.round(load * 10) / 10,
  };
}

bundle(['agent']);
const mosquitto = await startMosquitto({ persistence: false });
const plugs = spawn(
  process.execPath,
  ['--import', 'tsx', `${REPO_ROOT}bench/collector/plugs.ts`, String(PLUGS), String(INTERVAL)],
  {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  },
);
const [{ registry }] = (await once(plugs, 'message')) as [{ registry: string }];
const results: Result[] = [];
try {
  for (let run = 0; run < Number(args.runs); run++) {
    for (const mode of run % 2 === 0 ? MODES : [...MODES].reverse()) {
      const result = await measure(mode, run, mosquitto.url, registry, plugs.pid!);
      results.push(result);
      process.stderr.write(`${JSON.stringify(result)}\n`);
    }
  }
} finally {
  plugs.send('stop');
  await once(plugs, 'exit');
  await mosquitto.destroy();
}
process.stdout.write(
  `${PLUGS} plugs at ${INTERVAL} ms, ${args.seconds} s windows after ${args['warmup-s']} s warm-up, medians of ${args.runs} run(s)\n`,
);
process.stdout.write(
  '| mode | agent CPU (% of a core) | polls within 250 ms of their slot | readings / slots | lateness p50 / p99 | plug process CPU | load |\n| --- | --- | --- | --- | --- | --- | --- |\n',
);
for (const mode of MODES) {
  const of = results.filter((result) => result.mode === mode.name);
  const m = (key: keyof Result) => median(of.map((result) => Number(result[key])));
  process.stdout.write(
    `| ${mode.name} | ${m('cpu_percent')} % | ${m('within_250_ms_percent')} % | ${m('readings')} / ${m('slots')} | ${m('lateness_p50_ms')} / ${m('lateness_p99_ms')} ms | ${m('plugs_cpu_percent')} % | ${m('load')} |\n`,
  );
}
