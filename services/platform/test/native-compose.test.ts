import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus, BusConnectError, BusRefusedError } from '@wattbus/bus';
import { silentLogger } from '@wattbus/runtime';
import { SimulatedPlug } from '@wattbus/simulators';
import {
  freePort,
  httpsRequest,
  portOpen,
  requireBinary,
  runProgram,
  startInflux,
  startWatched,
  waitUntil,
  type InfluxServer,
  type ProgramRun,
  type WatchedProcess,
} from '@wattbus/testing';
import { envValues, parseEnvFile } from '../src/production/env-file.js';
import { setupProduction } from '../src/production/setup.js';
import {
  containerFileSystem,
  missingMounts,
  nativeEnvironment,
  nativeMosquittoConf,
  resolvedCompose,
  type ComposeService,
} from './compose-topology.js';

/**
 * The docker-compose topology, run natively (no Docker engine here): setup:production's files,
 * mosquitto with its password file, ACL and TLS listeners from the shipped mosquitto.conf,
 * influxd, and the services as built JavaScript with the environment `docker-compose config`
 * gives their containers (hosts rewritten to loopback ports). Then, from outside: readings
 * stored, REST over HTTPS with a key, a plug switched, the healthchecks, and the ACL refusing a
 * service user another service's topic.
 */
const root = new URL('../../../', import.meta.url).pathname;
/** Compose service → its directory under services/. */
const SERVICES: Record<string, string> = {
  agent: 'agent',
  bridge: 'bridge',
  backup: 'backup',
  'storage-hook': 'storage-hook',
  query: 'query',
  gateway: 'gateway',
  'alert-hook': 'alert-hook',
  'prometheus-hook': 'prometheus',
};
const hasCompose = spawnSync('docker-compose', ['version']).status === 0;

describe('the docker-compose topology, natively', { skip: !hasCompose, timeout: 120_000 }, () => {
  let dir: string;
  let compose: Record<string, ComposeService>;
  let env: Map<string, string>;
  let apiKey: string;
  let plug: SimulatedPlug;
  let mosquitto: WatchedProcess;
  let influx: InfluxServer;
  const ports = { mqtt: 0, mqtts: 0, wss: 0, http: 0 };
  const running = new Map<string, { run: ProgramRun; env: Record<string, string> }>();
  let caFile: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wattbus-native-compose-'));
    mkdirSync(join(dir, 'mosquitto'));
    mkdirSync(join(dir, 'config'));
    for (const file of [
      'docker-compose.yml',
      '.env.example',
      'mosquitto/acl.example',
      'mosquitto/mosquitto.conf',
      'mosquitto/wattbus-queues.conf',
    ]) {
      copyFileSync(join(root, file), join(dir, file));
    }
    const report = setupProduction({
      dir,
      apiKeys: [{ name: 'admin', scopes: ['read', 'control'] }],
      hosts: [],
      force: false,
    });
    apiKey = report.apiKeys[0]!.key;
    caFile = report.caFile;
    env = envValues(parseEnvFile(readFileSync(join(dir, '.env'), 'utf8')));

    plug = await SimulatedPlug.start({ model: 'hs110', alias: 'Desk 1' });
    writeFileSync(
      join(dir, 'config', 'devices.yaml'),
      JSON.stringify({
        devices: [
          {
            id: 'desk-1',
            name: 'Desk 1',
            type: 'tplink',
            location: 'hq/floor-1/desk-1',
            kind: 'workplace',
            poll_interval_ms: 500,
            connection: { host: '127.0.0.1', port: plug.port },
          },
        ],
      }),
    );
    // One device makes the bridge open its devices' broker: here mosquitto, over TLS.
    writeFileSync(
      join(dir, 'config', 'mqtt-devices.yaml'),
      'devices:\n  - { id: plug-1, type: mqtt, location: home, kind: plug, connection: { profile: tasmota, id: plug-1 } }\n',
    );
    compose = resolvedCompose(dir);

    // mosquitto as the compose file mounts it, on loopback ports.
    ports.mqtt = await freePort();
    ports.mqtts = await freePort();
    ports.wss = await freePort();
    ports.http = await freePort();
    const broker = compose.mosquitto!;
    assert.deepEqual(missingMounts(broker), []);
    const brokerPath = containerFileSystem(broker, join(dir, 'fs', 'mosquitto'));
    const conf = nativeMosquittoConf(
      readFileSync(brokerPath('/mosquitto/config/mosquitto.conf'), 'utf8'),
      brokerPath,
      {
        1883: ports.mqtt,
        8883: ports.mqtts,
        8884: ports.wss,
      },
    );
    writeFileSync(join(dir, 'mosquitto.native.conf'), conf);
    mosquitto = startWatched(
      requireBinary('mosquitto', 'mosquitto'),
      ['-c', join(dir, 'mosquitto.native.conf')],
      join(dir, 'mosquitto.log'),
    );
    await waitUntil('mosquitto', () => portOpen(ports.mqtts), { diagnostics: () => mosquitto.log() });

    // InfluxDB: compose's influxdb initialises the bucket on its first start.
    influx = await startInflux();
    await influx.createDatabase(env.get('INFLUX_BUCKET')!);

    const bundle = runProgram(`${root}scripts/bundle.mjs`, {
      args: Object.values(SERVICES),
      killAfterMs: 60_000,
    });
    assert.deepEqual(await bundle.exited, { code: 0, signal: null }, bundle.stderr());

    const hosts = {
      'mosquitto:8883': `127.0.0.1:${ports.mqtts}`,
      'influxdb:8086': `127.0.0.1:${influx.port}`,
    };
    for (const [name, serviceDir] of Object.entries(SERVICES)) {
      const service = compose[name]!;
      assert.deepEqual(missingMounts(service), [], `${name} mounts a file setup:production did not make`);
      const path = containerFileSystem(service, join(dir, 'fs', name));
      const prefix = Object.keys(service.environment ?? {})
        .find((key) => key.endsWith('_MQTT__URL'))!
        .replace(/MQTT__URL$/, '');
      // Fixed ports would clash with other programs on this machine.
      const overrides: Record<string, string> = {};
      if (service.environment?.[`${prefix}ADMIN__HOST`]) overrides[`${prefix}ADMIN__PORT`] = '0';
      if (name === 'gateway') overrides.WATTBUS_GATEWAY_PORT = String(ports.http);
      if (name === 'prometheus-hook') overrides.WATTBUS_PROMETHEUS_PORT = '0';
      const serviceEnv = nativeEnvironment(service, path, { hosts, overrides });
      const run = runProgram(`${root}services/${serviceDir}/dist/main.js`, {
        args: service.command ?? [],
        env: serviceEnv,
        cwd: root,
      });
      running.set(name, { run, env: serviceEnv });
    }
  });

  after(async () => {
    await Promise.all([...running.values()].map(({ run }) => run.stop('SIGKILL')));
    await mosquitto?.stop();
    await influx?.destroy();
    await plug?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A container's healthcheck as compose would run it, with that container's environment. */
  function healthcheck(name: string): boolean {
    const service = compose[name]!;
    const [kind, ...command] = service.healthcheck!.test;
    if (kind === 'CMD-SHELL') {
      const line = command[0]!.replace(/\$\$/g, '$').replace('-p 1883', `-p ${ports.mqtt}`);
      return (
        spawnSync('sh', ['-c', line], {
          env: { ...process.env, ...nativeEnvironment(service, (p) => p, { hosts: {} }) },
        }).status === 0
      );
    }
    assert.deepEqual(command.slice(0, 2), ['node', 'scripts/healthcheck.mjs']);
    const check = spawnSync(process.execPath, [`${root}scripts/healthcheck.mjs`, ...command.slice(2)], {
      env: { ...process.env, ...running.get(name)!.env },
      encoding: 'utf8',
    });
    return check.status === 0;
  }

  it('brings every container up healthy, by its own compose healthcheck', async () => {
    for (const name of ['mosquitto', ...Object.keys(SERVICES)]) {
      await waitUntil(`${name} healthy`, async () => healthcheck(name), {
        timeoutMs: 45_000,
        intervalMs: 1000,
        diagnostics: () =>
          (running.get(name)?.run.stdout() ?? mosquitto.log()) + (running.get(name)?.run.stderr() ?? ''),
      });
    }
  });

  it('stores the plug’s readings in InfluxDB', async () => {
    await waitUntil(
      'readings of desk-1 in InfluxDB',
      async () => {
        const result = await influx.query(
          env.get('INFLUX_BUCKET')!,
          "SELECT count(power_w) FROM electricity WHERE device = 'desk-1'",
        );
        return ((result.results?.[0]?.series?.[0]?.values[0]?.[1] as number | undefined) ?? 0) > 0;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
  });

  it('answers REST over HTTPS with the key setup:production printed, and switches the plug', async () => {
    const base = `https://127.0.0.1:${ports.http}`;
    const ca = readFileSync(caFile);
    const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
    await waitUntil(
      'desk-1 in /api/v1/devices',
      async () => {
        const devices = await httpsRequest(`${base}/api/v1/devices`, { ca, headers });
        return devices.status === 200 && devices.body.includes('"desk-1"');
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
    assert.equal((await httpsRequest(`${base}/api/v1/devices`, { ca })).status, 401);
    const wanted = !plug.relayOn;
    const switched = await httpsRequest(`${base}/api/v1/devices/desk-1/power`, {
      ca,
      headers,
      method: 'PUT',
      body: JSON.stringify({ on: wanted }),
    });
    assert.equal(switched.status, 200, switched.body);
    assert.equal(plug.relayOn, wanted);
  });

  it('refuses a service user another service’s topic, plaintext on the TLS port, and a client without the CA', async () => {
    const url = `mqtts://127.0.0.1:${ports.mqtts}`;
    const bus = await Bus.connect({
      url,
      caFile,
      username: 'prometheus-hook',
      password: env.get('MQTT_PROMETHEUS_HOOK_PASSWORD')!,
      service: 'intruder',
      logger: silentLogger(),
    });
    try {
      // The Prometheus hook publishes nothing: not the gateway's device commands, not the agent's
      // readings. (mosquitto grants any subscription and filters what it delivers by the ACL.)
      for (const topic of ['wattbus/devices/desk-1/req/set_power', 'wattbus/devices/desk-1/readings']) {
        await assert.rejects(
          bus.publish(topic, { on: true }),
          (error: unknown) => error instanceof BusRefusedError && error.operation === 'publish',
          topic,
        );
      }
    } finally {
      await bus.stop();
    }
    await assert.rejects(
      Bus.connect({
        url,
        service: 'no-ca',
        logger: silentLogger(),
        username: 'agent',
        password: env.get('MQTT_AGENT_PASSWORD')!,
      }),
      (error: unknown) => error instanceof BusConnectError && error.reason === 'tls',
    );
    await assert.rejects(
      Bus.connect({
        url: `mqtt://127.0.0.1:${ports.mqtts}`,
        service: 'plaintext',
        logger: silentLogger(),
        connectTimeoutMs: 1500,
        username: 'agent',
        password: env.get('MQTT_AGENT_PASSWORD')!,
      }),
      BusConnectError,
    );
  });
});
