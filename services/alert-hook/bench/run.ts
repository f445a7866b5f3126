/**
 * Alert latency and throughput: N devices (default 200) all breach an overload rule at once
 * (for_ms 0), then all recover. Measures, per transition, the time from the reading's publish
 * to the webhook receiving the notification, and the wall time for all of them; then the same
 * with the receiver down for `--down-ms` (default 2000) to see the backlog drain.
 * `node --import tsx services/alert-hook/bench/run.ts [--devices 200] [--down-ms 2000]`
 * Prints one JSON line. Runs against aedes in-process and a real influxd.
 */
import { parseArgs } from 'node:util';
import { Bus } from '@wattbus/bus';
import { silentLogger } from '@wattbus/runtime';
import { startAedes, startInflux } from '@wattbus/testing';
import { Receiver, startHook, testConfig } from '../test/helpers.js';
import type { AlertHook } from '../src/index.js';

const { values } = parseArgs({
  options: { devices: { type: 'string', default: '200' }, 'down-ms': { type: 'string', default: '2000' } },
});
const devices = Number(values.devices);
const downMs = Number(values['down-ms']);

const aedes = await startAedes();
const influx = await startInflux();
await influx.createDatabase('alerts_bench');
const receiver = new Receiver();
await receiver.start();
const agent = await Bus.connect({ url: aedes.url, service: 'bench-agent', logger: silentLogger() });
const running: AlertHook[] = [];
const ids = Array.from({ length: devices }, (_, index) => `bench-${index}`);

try {
  await startHook(
    testConfig({ mqttUrl: aedes.url, influxUrl: influx.url, database: 'alerts_bench', receiver }, [
      { name: 'overload', kind: 'power_above', threshold_w: 1000, for_ms: 0 },
    ]),
    running,
  );
  for (const id of ids) {
    await agent.publish(
      agent.topics.meta(id),
      {
        id,
        name: id,
        type: 'tplink',
        kind: 'workplace',
        location: 'bench',
        poll_interval_ms: 1000,
        ts: new Date().toISOString(),
      },
      { retain: true },
    );
  }

  const phase = async (event: 'raised' | 'resolved', powerW: number) => {
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    const done = new Promise<void>((resolve) => {
      receiver.on('request', (request) => {
        const body = request.body as { event?: string; alert?: { subject: string } };
        if (request.path !== '/json' || body.event !== event || !body.alert) return;
        const sent = sentAt.get(body.alert.subject);
        if (sent === undefined) return;
        latencies.push(performance.now() - sent);
        if (latencies.length === devices) resolve();
      });
    });
    const started = performance.now();
    for (const id of ids) {
      sentAt.set(id, performance.now());
      await agent.publish(agent.topics.readings(id), {
        ts: new Date().toISOString(),
        device: id,
        power_w: powerW,
      });
    }
    const publishMs = performance.now() - started;
    await done;
    receiver.removeAllListeners('request');
    const wallMs = performance.now() - started;
    latencies.sort((a, b) => a - b);
    const at = (q: number) =>
      Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!);
    return {
      transitions: devices,
      publish_ms: Math.round(publishMs),
      wall_ms: Math.round(wallMs),
      per_s: Math.round((devices / wallMs) * 1000),
      p50_ms: at(0.5),
      p99_ms: at(0.99),
      max_ms: at(1),
    };
  };

  const raise = await phase('raised', 1500);
  const resolve = await phase('resolved', 100);

  // Receiver down while everything is raised: the backlog waits in the outbox, then drains.
  await receiver.stop();
  const downStarted = performance.now();
  const backlog = phase('raised', 1500);
  await new Promise((resolve) => setTimeout(resolve, downMs));
  await receiver.start();
  const upAt = performance.now();
  const drained = await backlog;
  const drainMs = Math.round(performance.now() - upAt);
  console.log(
    JSON.stringify({
      devices,
      raise,
      resolve,
      receiver_down: {
        down_ms: Math.round(upAt - downStarted),
        drain_after_up_ms: drainMs,
        delivered: drained.transitions,
      },
      hook: running[0]!.metrics(),
    }),
  );
} finally {
  await Promise.all(running.map((hook) => hook.stop()));
  await agent.stop();
  await receiver.stop();
  await aedes.stop();
  await influx.destroy();
}
