import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '@wattbus/bus';
import { ServiceHealthSchema, validator, type ServiceHealth } from '@wattbus/contracts';
import { silentLogger } from '@wattbus/runtime';
import {
  checkMetrics,
  freePort,
  runProgram,
  samplesOf,
  valueOf,
  startInflux,
  startMosquitto,
  type InfluxServer,
  type MosquittoServer,
  type ProgramRun,
} from '@wattbus/testing';

/**
 * Every program through runtime's runService, each run as `npm run start:<service>` runs it:
 * the same exit codes and messages for a malformed broker URL, a misspelled environment
 * variable and a refused login, and every service's health on `wattbus/health/<name>`.
 */
const root = new URL('../../../', import.meta.url).pathname;
const main = (service: string) => `${root}services/${service}/src/main.ts`;

interface ServiceCase {
  service: string;
  prefix: string;
  /** What it needs to start besides its broker URL (directories, InfluxDB). */
  start: (context: Context) => { args?: string[]; env: Record<string, string> };
  /** Its health record's name on wattbus/health/<name>. */
  health: string;
  /** A likely typo of a key, and the variable the error should suggest. */
  typo: [string, string];
  /** Its program name, when not wattbus-<service>. */
  program?: string;
  /** The variable of its /metrics port; default <prefix>ADMIN__PORT. */
  metricsPort?: string;
}

interface Context {
  dir: string;
  influx: InfluxServer;
  registry: string;
  /** The bridge's: a Tasmota plug nobody runs. */
  bridgeRegistry: string;
}

const SERVICES: ServiceCase[] = [
  {
    service: 'agent',
    prefix: 'WATTBUS_AGENT_',
    start: ({ registry }) => ({
      args: ['--registry', registry],
      env: { WATTBUS_AGENT_ID: 'agent-front-door', WATTBUS_AGENT_DEVICE_WILLS: 'false' },
    }),
    health: 'agent-front-door',
    typo: ['WATTBUS_AGENT_REGISTRY', 'WATTBUS_AGENT_REGISTRY_FILE'],
  },
  {
    service: 'bridge',
    prefix: 'WATTBUS_BRIDGE_',
    start: ({ bridgeRegistry }) => ({
      args: ['--registry', bridgeRegistry],
      env: { WATTBUS_BRIDGE_ID: 'bridge-front-door', WATTBUS_BRIDGE_DEVICE_WILLS: 'false' },
    }),
    health: 'bridge-front-door',
    typo: ['WATTBUS_BRIDGE_REGISTRY', 'WATTBUS_BRIDGE_REGISTRY_FILE'],
  },
  {
    service: 'storage-hook',
    prefix: 'WATTBUS_STORAGE_HOOK_',
    start: ({ dir, influx }) => ({
      env: {
        WATTBUS_STORAGE_HOOK_LOG__DIR: join(dir, 'storage-hook'),
        WATTBUS_STORAGE_HOOK_INFLUX__URL: influx.url,
      },
    }),
    health: 'storage-hook',
    typo: ['WATTBUS_STORAGE_HOOK_INFLUX_URL', 'WATTBUS_STORAGE_HOOK_INFLUX__URL'],
  },
  {
    service: 'query',
    prefix: 'WATTBUS_QUERY_',
    start: ({ influx }) => ({ env: { WATTBUS_QUERY_INFLUX__URL: influx.url } }),
    health: 'query',
    typo: ['WATTBUS_QUERY_TIMEZONE', 'WATTBUS_QUERY_TIME_ZONE'],
  },
  {
    service: 'gateway',
    prefix: 'WATTBUS_GATEWAY_',
    start: () => ({ env: { WATTBUS_GATEWAY_PORT: '0' } }),
    health: 'gateway',
    typo: ['WATTBUS_GATEWAY_API_KEY', 'WATTBUS_GATEWAY_API_KEYS'],
  },
  {
    service: 'alert-hook',
    prefix: 'WATTBUS_ALERTS_',
    start: ({ dir, influx }) => ({
      env: { WATTBUS_ALERTS_DATA_DIR: join(dir, 'alert-hook'), WATTBUS_ALERTS_INFLUX__URL: influx.url },
    }),
    health: 'alert-hook',
    typo: ['WATTBUS_ALERTS_TIMEZONE', 'WATTBUS_ALERTS_TIME_ZONE'],
  },
  {
    service: 'backup',
    prefix: 'WATTBUS_BACKUP_',
    start: ({ dir, influx }) => ({
      args: ['run'],
      env: { WATTBUS_BACKUP_DIRECTORY: join(dir, 'backups'), WATTBUS_BACKUP_INFLUX__URL: influx.url },
    }),
    health: 'backup',
    // Its old key: time_zone is named like every other service's now.
    typo: ['WATTBUS_BACKUP_TIMEZONE', 'WATTBUS_BACKUP_TIME_ZONE'],
  },
  {
    service: 'prometheus',
    program: 'prometheus-hook',
    prefix: 'WATTBUS_PROMETHEUS_',
    start: () => ({ env: { WATTBUS_PROMETHEUS_PORT: '0' } }),
    health: 'prometheus-hook',
    typo: ['WATTBUS_PROMETHEUS_STALE_AFTER', 'WATTBUS_PROMETHEUS_STALE_AFTER_POLLS'],
    metricsPort: 'WATTBUS_PROMETHEUS_PORT',
  },
];

/** Runs a program to its end; a generous kill timeout turns a hang into a failure. */
async function runToExit(service: string, options: Parameters<typeof runProgram>[1]): Promise<ProgramRun> {
  const run = runProgram(main(service), { killAfterMs: 20_000, ...options });
  const { signal } = await run.exited;
  assert.equal(signal, null, `${service} did not exit by itself within 20 s:\n${run.stderr()}`);
  return run;
}

describe('every program enters through runtime runService', () => {
  let dir: string;
  let influx: InfluxServer;
  let open: MosquittoServer;
  let locked: MosquittoServer;
  let watcher: Bus;
  const records: ServiceHealth[] = [];
  const wakers = new Set<() => void>();
  let context: Context;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wattbus-front-door-'));
    [influx, open, locked] = await Promise.all([
      startInflux(),
      startMosquitto({ persistence: false }),
      startMosquitto({ persistence: false, users: { wattbus: 'right' } }),
    ]);
    await influx.createDatabase('wattbus');
    const registry = join(dir, 'devices.yaml');
    // A plug nobody answers for: the agent starts and reports it offline.
    await writeFile(
      registry,
      `devices:\n  - { id: desk-1, type: tplink, location: hq, kind: workplace, connection: { host: 127.0.0.1, port: ${await freePort()} } }\n`,
    );
    const bridgeRegistry = join(dir, 'mqtt-devices.yaml');
    await writeFile(
      bridgeRegistry,
      'devices:\n  - { id: lamp-1, type: mqtt, location: hq, kind: plug, connection: { profile: tasmota, id: tasmota_LAMP1 } }\n',
    );
    context = { dir, influx, registry, bridgeRegistry };
    watcher = await Bus.connect({ url: open.url, service: 'watcher', logger: silentLogger() });
    await watcher.subscribe('wattbus/health/+', validator(ServiceHealthSchema), (health) => {
      records.push(health);
      for (const wake of wakers) wake();
    });
  });

  after(async () => {
    await watcher?.stop();
    await Promise.all([open?.destroy(), locked?.destroy(), influx?.destroy()]);
    await rm(dir, { recursive: true, force: true });
  });

  /** The first health record of `name` (from now on) that matches. */
  function nextHealth(name: string, match: (health: ServiceHealth) => boolean): Promise<ServiceHealth> {
    const from = records.length;
    return new Promise((resolve) => {
      const check = () => {
        const found = records.slice(from).find((health) => health.service === name && match(health));
        if (!found) return;
        wakers.delete(check);
        resolve(found);
      };
      wakers.add(check);
      check();
    });
  }

  for (const spec of SERVICES) {
    describe(spec.service, () => {
      it('a malformed broker URL exits 2 at once, naming the URL and the schemes it takes', async (t) => {
        const { args, env } = spec.start(context);
        const started = Date.now();
        const run = await runToExit(spec.service, {
          args,
          env: { ...env, [`${spec.prefix}MQTT__URL`]: 'htp://x' },
        });
        const elapsedMs = Date.now() - started;
        assert.equal((await run.exited).code, 2, run.stderr());
        // The bus's own rule (libs/bus broker-url.ts), as Bus.connect would say it.
        assert.match(
          run.stderr(),
          /\/mqtt\/url: invalid MQTT broker URL 'htp:\/\/x': unsupported scheme 'htp' \(expected mqtt:\/\//,
        );
        assert.match(
          run.stderr(),
          new RegExp(`^wattbus-${spec.program ?? spec.service}: invalid configuration`),
        );
        t.diagnostic(`${spec.service}: htp://x refused in ${elapsedMs} ms (node and tsx start-up included)`);
      });

      it('a misspelled prefixed environment variable exits 2 naming it and the closest key', async () => {
        const { args, env } = spec.start(context);
        const [typo, meant] = spec.typo;
        const run = await runToExit(spec.service, {
          args,
          env: { ...env, [`${spec.prefix}MQTT__URL`]: open.url, [typo]: 'x' },
        });
        assert.equal((await run.exited).code, 2, run.stderr());
        assert.ok(
          run.stderr().includes(`${typo}: names no configuration key (did you mean ${meant}?)`),
          run.stderr(),
        );
      });

      it('wrong credentials exit 1 saying "not authorised", naming the broker', async () => {
        const { args, env } = spec.start(context);
        const run = await runToExit(spec.service, {
          args,
          env: {
            ...env,
            [`${spec.prefix}MQTT__URL`]: locked.url,
            [`${spec.prefix}MQTT__USERNAME`]: 'wattbus',
            [`${spec.prefix}MQTT__PASSWORD`]: 'wrong',
          },
        });
        assert.equal((await run.exited).code, 1, run.stderr());
        assert.match(run.stderr(), /refused user 'wattbus': not authorised/);
        assert.ok(run.stderr().includes(locked.url), run.stderr());
        assert.doesNotMatch(run.stderr(), /lost the broker/);
      });

      it(`publishes its health on wattbus/health/${spec.health}, serves /metrics, and ready:false on SIGTERM`, async () => {
        const { args, env } = spec.start(context);
        const running = nextHealth(spec.health, (health) => health.checks.running?.ok === true);
        const metricsPort = await freePort();
        const run = runProgram(main(spec.service), {
          args,
          env: {
            ...env,
            [`${spec.prefix}MQTT__URL`]: open.url,
            [spec.metricsPort ?? `${spec.prefix}ADMIN__PORT`]: String(metricsPort),
          },
          killAfterMs: 60_000,
        });
        try {
          const up = await Promise.race([
            running,
            run.exited.then(() => assert.fail(`${spec.service} exited:\n${run.stderr()}`)),
          ]);
          assert.equal(up.checks.broker?.ok, true);
          const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
          const program = spec.program ?? spec.service;
          assert.equal(
            samplesOf(metrics, 'process_cpu_seconds_total', { service: program }).length,
            1,
            metrics,
          );
          assert.equal(valueOf(metrics, 'wattbus_bus_connected', { service: program }), 1);
          const lint = checkMetrics(metrics);
          assert.ok(lint.ok, lint.problems);
          const stopped = nextHealth(spec.health, (health) => health.checks.running?.ok === false);
          const exit = await run.stop('SIGTERM');
          assert.deepEqual(exit, { code: 0, signal: null }, run.stderr());
          assert.equal((await stopped).ready, false);
        } finally {
          await run.stop('SIGKILL');
        }
      });
    });
  }

  describe('broker (it is the bus: no broker URL, no login of its own)', () => {
    it('a misspelled prefixed environment variable exits 2 naming it and the closest key', async () => {
      const run = await runToExit('broker', {
        env: { WATTBUS_BROKER_PORT: '0', WATTBUS_BROKER_WSPORT: '0' },
      });
      assert.equal((await run.exited).code, 2, run.stderr());
      assert.ok(
        run
          .stderr()
          .includes(
            'WATTBUS_BROKER_WSPORT: names no configuration key (did you mean WATTBUS_BROKER_WS_PORT?)',
          ),
        run.stderr(),
      );
    });

    it('publishes its own health to itself, and ready:false on SIGTERM', async () => {
      const run = runProgram(main('broker'), {
        env: {
          WATTBUS_BROKER_PORT: '0',
          WATTBUS_BROKER_ANONYMOUS: JSON.stringify({ enabled: true, subscribe: ['wattbus/#'] }),
        },
      });
      try {
        const listening = await run.logLine('broker listening');
        const url = `mqtt://127.0.0.1:${String(listening.mqtt_port)}`;
        const client = await Bus.connect({ url, service: 'watcher', logger: silentLogger() });
        const seen: ServiceHealth[] = [];
        let wake: () => void = () => undefined;
        await client.subscribe('wattbus/health/broker', validator(ServiceHealthSchema), (health) => {
          seen.push(health);
          wake();
        });
        const until = async (match: (health: ServiceHealth) => boolean) => {
          while (!seen.some(match)) await new Promise<void>((resolve) => (wake = resolve));
          return seen.find(match)!;
        };
        const up = await until((health) => health.checks.running?.ok === true);
        assert.equal(up.ready, true);
        assert.equal(typeof up.metrics.clients_connected, 'number');
        const exit = run.stop('SIGTERM');
        assert.equal((await until((health) => health.checks.running?.ok === false)).ready, false);
        assert.deepEqual(await exit, { code: 0, signal: null }, run.stderr());
        await client.stop();
      } finally {
        await run.stop('SIGKILL');
      }
    });
  });

  describe('platform (npm start: flags, no config keys)', () => {
    it('a prefixed environment variable names no key: exit 2', async () => {
      const run = await runToExit('platform', { env: { WATTBUS_PLATFORM_PLUGS: '3' } });
      assert.equal((await run.exited).code, 2, run.stderr());
      assert.match(run.stderr(), /WATTBUS_PLATFORM_PLUGS: names no configuration key/);
    });

    it('a bad flag exits 2 with the usage line', async () => {
      const run = await runToExit('platform', { args: ['--plugs', '99'] });
      assert.equal((await run.exited).code, 2, run.stderr());
      assert.match(run.stderr(), /--plugs must be a whole number from 1 to 8, got 99/);
    });
  });
});
