import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Agent, AgentConfigSchema } from '@wattbus/agent';
import { loadRegistry } from '@wattbus/devices';
import { SimulatedPlug } from '@wattbus/simulators';
import {
  parseConfig,
  serveMetrics,
  ServiceMetrics,
  silentLogger,
  type MetricsServer,
} from '@wattbus/runtime';
import {
  checkMetrics,
  startMosquitto,
  startPrometheus,
  type MosquittoServer,
  type PrometheusServer,
} from '@wattbus/testing';
import { PrometheusHook, PrometheusHookConfigSchema } from '../src/index.js';

const ALIAS = 'Desk 1 (laptop, screens)';
const dashboardFile = new URL('../../../grafana/dashboards/wattbus-prometheus.json', import.meta.url);
const POWER_W = 123.45;

/**
 * The whole path into a real Prometheus: a simulated HS110 → agent → mosquitto → the hook's
 * /metrics, and the agent's own /metrics, both scraped by Prometheus (Debian package).
 */
describe('a real Prometheus scraping the hook and the agent', () => {
  let mosquitto: MosquittoServer;
  let plug: SimulatedPlug;
  let dir: string;
  let agent: Agent;
  let hook: PrometheusHook;
  const servers: MetricsServer[] = [];
  let prometheus: PrometheusServer;

  before(async () => {
    mosquitto = await startMosquitto({ persistence: false });
    plug = await SimulatedPlug.start({
      model: 'hs110',
      alias: ALIAS,
      realtime: { power: POWER_W, voltage: 231.5, current: 0.53, total: 12.5 },
    });
    plug.relayOn = true;
    dir = await mkdtemp(join(tmpdir(), 'wattbus-prometheus-'));
    const registryFile = join(dir, 'devices.yaml');
    await writeFile(
      registryFile,
      stringify({
        devices: [
          {
            id: 'desk-1',
            name: ALIAS,
            type: 'tplink',
            kind: 'workplace',
            location: 'hq/floor-1/desk-1',
            poll_interval_ms: 500,
            connection: { host: plug.host, port: plug.port },
          },
        ],
      }),
    );
    const agentMetrics = new ServiceMetrics('agent');
    agent = new Agent({
      config: parseConfig(
        AgentConfigSchema,
        { mqtt: { url: mosquitto.url }, id: 'agent-1', device_wills: false },
        'the test agent',
      ),
      registry: await loadRegistry(registryFile),
      logger: silentLogger(),
      metrics: agentMetrics,
    });
    await agent.start();
    const hookMetrics = new ServiceMetrics('prometheus-hook');
    hook = new PrometheusHook({
      config: parseConfig(PrometheusHookConfigSchema, { mqtt: { url: mosquitto.url } }, 'the test hook'),
      logger: silentLogger(),
      metrics: hookMetrics,
    });
    await hook.start();
    servers.push(
      await serveMetrics({ host: '127.0.0.1', port: 0, registries: [hook.registry, hookMetrics.registry] }),
      await serveMetrics({ host: '127.0.0.1', port: 0, registries: [agentMetrics.registry] }),
    );
    const target = (server: MetricsServer) => new URL(server.url).host;
    prometheus = await startPrometheus({
      jobs: [
        { job: 'wattbus', targets: [target(servers[0]!)] },
        { job: 'agent', targets: [target(servers[1]!)] },
      ],
    });
  });

  after(async () => {
    await prometheus?.destroy();
    for (const server of servers) await server.stop();
    await hook?.stop();
    await agent?.stop();
    await plug?.stop();
    await mosquitto?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('scrapes both targets successfully', { timeout: 60_000 }, async () => {
    await prometheus.scraped('wattbus');
    await prometheus.scraped('agent');
  });

  it('answers kasa_power_load{alias=…} with the simulated plug’s power', { timeout: 60_000 }, async () => {
    const [sample] = await prometheus.queryUntil(
      `kasa_power_load{alias="${ALIAS}"}`,
      (samples) => samples.length === 1,
    );
    assert.equal(sample!.value, POWER_W);
    assert.deepEqual(
      { ...sample!.metric, instance: undefined },
      {
        __name__: 'kasa_power_load',
        alias: ALIAS,
        id: 'desk-1',
        model: 'HS110(US)', // what the simulator's HS110 says of itself
        type: 'tplink',
        job: 'wattbus',
        instance: undefined,
      },
    );
    const [total] = await prometheus.queryUntil(
      `kasa_power_total{id="desk-1"}`,
      (samples) => samples.length === 1,
    );
    assert.equal(total!.value, 12.5);
  });

  it('answers wattbus_power_watts{device=…} with the same value', { timeout: 60_000 }, async () => {
    const [sample] = await prometheus.queryUntil(
      'wattbus_power_watts{device="desk-1"}',
      (samples) => samples.length === 1,
    );
    assert.equal(sample!.value, POWER_W);
    assert.equal(sample!.metric.location, 'hq/floor-1/desk-1');
    assert.equal(sample!.metric.kind, 'workplace');
  });

  it('has the agent’s own metrics from its admin port', { timeout: 60_000 }, async () => {
    const samples = await prometheus.queryUntil(
      'wattbus_agent_polls_total{job="agent",timing="on_time"} > 0',
      (found) => found.length === 1,
    );
    assert.equal(samples[0]!.metric.service, 'agent');
  });

  it(
    'runs every query of the Grafana Prometheus dashboard; the device panels have data',
    { timeout: 60_000 },
    async () => {
      const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as {
        panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
        templating: { list: Array<{ query: string }> };
      };
      // What Grafana puts in for its macros and the dashboard's variable.
      const expand = (expr: string) =>
        expr.replaceAll('$device', '.*').replaceAll('$__rate_interval', '1m').replaceAll('$__range', '1h');
      const withData = new Set([
        'Power per device',
        'Online',
        'Relay on',
        'Voltage',
        'Current',
        'Targets up',
      ]);
      for (const panel of dashboard.panels) {
        for (const target of panel.targets) {
          const samples = await prometheus.query(expand(target.expr));
          if (withData.has(panel.title))
            assert.ok(samples.length > 0, `${panel.title}: no data for ${target.expr}`);
        }
      }
      for (const variable of dashboard.templating.list) {
        const [, metric, label] = /^label_values\((\w+), (\w+)\)$/.exec(variable.query)!;
        const samples = await prometheus.query(metric!);
        assert.ok(
          samples.some((sample) => sample.metric[label!] === 'desk-1'),
          variable.query,
        );
      }
    },
  );

  it('passes promtool check metrics on every /metrics', async () => {
    for (const server of servers) {
      const text = await (await fetch(server.url)).text();
      assert.match(text, /^# TYPE /m);
      const lint = checkMetrics(text);
      assert.ok(lint.ok, `${server.url}: ${lint.problems}`);
    }
  });
});
