/**
 * Dashboard benchmark (a script, not a test): the fleet page with 1,000 devices in Debian's
 * Chromium. Measures time to first render (navigation start → every row in the DOM, and → the
 * next paint) and the cost of live updates while every device reports once a second.
 *
 *   node --import tsx bench/dashboard/run.ts [--devices 1000] [--seconds 20] [--loads 5]
 *
 * In one process: aedes, the query component (its `devices` answer comes from memory; influxd
 * only because it needs a store), the gateway, and a publisher of retained metas, states,
 * availability and then one reading per device per second over QoS 1. The browser measures
 * itself: User Timing marks of the page (`fleet-rendered`, `fleet-painted`, `fleet-update`) and
 * the renderer's own counters over the update period (CDP `Performance.getMetrics`: script,
 * style, layout and whole task time), so the figure includes the browser's layout and paint work.
 */
import { parseArgs } from 'node:util';
import { Bus } from '@wattbus/bus';
import type { DeviceMeta, Reading } from '@wattbus/contracts';
import { QueryComponent, QueryConfigSchema } from '@wattbus/query';
import { parseConfig, silentLogger } from '@wattbus/runtime';
import { startAedes, startInflux, waitUntil } from '@wattbus/testing';
import { launchChromium } from '@wattbus/testing/chromium';
import { hashApiKey, makeApiKey } from '../../services/gateway/src/api-keys.js';
import { GatewayConfigSchema } from '../../services/gateway/src/config.js';
import { Gateway } from '../../services/gateway/src/gateway.js';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    loads: { type: 'string', default: '5' },
  },
});
const DEVICES = Number(args.devices);
const SECONDS = Number(args.seconds);
const LOADS = Number(args.loads);
const KINDS = ['workplace', 'printer', 'appliance', 'meeting-room'];

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
};
const round = (value: number, digits = 1) => Number(value.toFixed(digits));

function fleet(): DeviceMeta[] {
  return Array.from({ length: DEVICES }, (_, index) => {
    const floor = Math.floor(index / 100) + 1;
    const room = Math.floor((index % 100) / 10) + 1;
    const id = `dev-${String(index + 1).padStart(4, '0')}`;
    return {
      id,
      name: `Device ${index + 1}`,
      type: 'tplink',
      kind: KINDS[index % KINDS.length]!,
      location: `site/floor-${floor}/room-${floor}${String(room).padStart(2, '0')}/${id}`,
      poll_interval_ms: 1000,
      ts: new Date().toISOString(),
    };
  });
}

async function main(): Promise<void> {
  const broker = await startAedes();
  const influx = await startInflux();
  await influx.createDatabase('wattbus');
  const logger = silentLogger();
  const publisher = await Bus.connect({ url: broker.url, service: 'bench-agent', logger });
  const metas = fleet();
  // What agents retain: meta, availability, and a relay state for every other device.
  await Promise.all(
    metas.flatMap((meta, index) => [
      publisher.publish(publisher.topics.meta(meta.id), meta, { retain: true }),
      publisher.publish(publisher.topics.availability(meta.id), 'online', { retain: true }),
      ...(index % 2 === 0
        ? [publisher.publish(publisher.topics.state(meta.id), { on: true, ts: meta.ts }, { retain: true })]
        : []),
    ]),
  );

  const queryBus = await Bus.connect({ url: broker.url, service: 'query', logger });
  const query = new QueryComponent({
    config: parseConfig(
      QueryConfigSchema,
      {
        mqtt: { url: broker.url, share_group: '' },
        influx: { url: influx.url, database: 'wattbus' },
        tariff: { currency: 'EUR', price_per_kwh: 0.3 },
        warmup_lookback_ms: 0,
      },
      'bench query',
    ),
    bus: queryBus,
    logger,
  });
  await query.start();

  const key = makeApiKey();
  const gatewayConfig = parseConfig(
    GatewayConfigSchema,
    {
      port: 0,
      mqtt: { url: broker.url },
      api_keys: [{ name: 'bench', sha256: hashApiKey(key), scopes: ['read', 'control'] }],
    },
    'bench gateway',
  );
  const gatewayBus = await Bus.connect({
    url: broker.url,
    service: 'gateway',
    logger,
    maxPayloadBytes: 8_388_608,
  });
  const gateway = new Gateway({ config: gatewayConfig, bus: gatewayBus, logger });
  const { url } = await gateway.start();
  await waitUntil('the query component knows every device', async () => {
    const response = await fetch(`${url}/api/v1/devices`, { headers: { 'X-API-Key': key } });
    return ((await response.json()) as { devices: unknown[] }).devices.length === DEVICES;
  });
  await fetch(`${url}/ui/app.js`); // bundled once, as any first visitor would trigger

  const browser = await launchChromium();
  // bypassCSP: waitForFunction() with an expression evaluates it, which the page's CSP forbids.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  await context.addInitScript(`sessionStorage.setItem('wattbus.api-key', ${JSON.stringify(key)})`);
  const page = await context.newPage();

  // --- time to first render, LOADS page loads ---------------------------------------------------
  const loads: { rendered: number; painted: number; devicesAnswered: number }[] = [];
  for (let load = 0; load < LOADS; load++) {
    await page.goto(`${url}/`);
    await page.waitForFunction(`performance.getEntriesByName('fleet-painted').length > 0`);
    loads.push(
      (await page.evaluate(`({
        rendered: performance.getEntriesByName('fleet-rendered')[0].startTime,
        painted: performance.getEntriesByName('fleet-painted')[0].startTime,
        devicesAnswered: performance.getEntriesByType('resource').find((entry) => entry.name.endsWith('/api/v1/devices')).responseEnd,
      })`)) as (typeof loads)[number],
    );
  }
  const rows = Number(await page.evaluate(`document.querySelectorAll('tr[data-device]').length`));
  if (rows !== DEVICES) throw new Error(`the page shows ${rows} devices, not ${DEVICES}`);

  // --- live updates: every device reports once a second ----------------------------------------
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const metrics = async () =>
    Object.fromEntries(
      (
        (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] }
      ).metrics.map((metric) => [metric.name, metric.value]),
    );
  await page.evaluate(`performance.clearMeasures('fleet-update')`);
  const before = await metrics();
  const started = performance.now();
  let published = 0;
  for (let second = 0; second < SECONDS; second++) {
    const tick = performance.now();
    const ts = new Date().toISOString();
    await Promise.all(
      metas.map((meta, index) => {
        const reading: Reading = {
          ts,
          device: meta.id,
          power_w: round(50 + 40 * Math.sin(second / 3 + index) + Math.random(), 2),
          voltage_v: 230,
          energy_wh: 1000 + second,
        };
        published++;
        return publisher.publish(publisher.topics.readings(meta.id), reading);
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (performance.now() - tick))));
  }
  // Let the last second's readings arrive and be drawn.
  await page.waitForTimeout(1500);
  const after = await metrics();
  const elapsedS = (performance.now() - started) / 1000;
  const updates = (await page.evaluate(
    `performance.getEntriesByName('fleet-update').map((entry) => ({ ms: entry.duration, readings: entry.detail.readings }))`,
  )) as { ms: number; readings: number }[];
  const applied = updates.reduce((sum, update) => sum + update.readings, 0);
  const perSecond = (name: string) => round(((after[name]! - before[name]!) * 1000) / elapsedS, 1);

  const result = {
    devices: DEVICES,
    chromium: browser.version(),
    first_render: {
      loads: LOADS,
      devices_answered_ms: round(median(loads.map((load) => load.devicesAnswered))),
      rows_in_dom_ms: round(median(loads.map((load) => load.rendered))),
      painted_ms: round(median(loads.map((load) => load.painted))),
    },
    updates: {
      seconds: round(elapsedS),
      readings_published: published,
      readings_applied: applied,
      frames: updates.length,
      readings_per_frame_median: median(updates.map((update) => update.readings)),
      apply_ms_per_frame_p50: round(median(updates.map((update) => update.ms)), 2),
      apply_ms_per_frame_p95: round(
        quantile(
          updates.map((update) => update.ms),
          0.95,
        ),
        2,
      ),
      apply_ms_per_1000_readings: round(
        (updates.reduce((sum, update) => sum + update.ms, 0) / Math.max(applied, 1)) * 1000,
        2,
      ),
      renderer_ms_per_s: {
        task: perSecond('TaskDuration'),
        script: perSecond('ScriptDuration'),
        style: perSecond('RecalcStyleDuration'),
        layout: perSecond('LayoutDuration'),
      },
    },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);

  await browser.close();
  await gateway.stop();
  await Promise.all([gatewayBus.stop(), query.stop()]);
  await Promise.all([queryBus.stop(), publisher.stop()]);
  await broker.stop();
  await influx.stop();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
