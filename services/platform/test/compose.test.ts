import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TObject } from '@sinclair/typebox';
import { parse } from 'yaml';
import { AgentConfigSchema } from '@wattbus/agent';
import { AlertHookConfigSchema } from '@wattbus/alert-hook';
import { BackupConfigSchema } from '@wattbus/backup';
import { BridgeConfigSchema } from '@wattbus/bridge';
import { GatewayConfigSchema } from '@wattbus/gateway';
import { PrometheusHookConfigSchema } from '@wattbus/prometheus';
import { QueryConfigSchema } from '@wattbus/query';
import { loadConfig } from '@wattbus/runtime';
import { requireBinary } from '@wattbus/testing';
import { StorageHookConfigSchema } from '@wattbus/storage-hook';

/** docker-compose.yml can't run here (no Docker engine), so check what can be checked without one. */
const root = new URL('../../../', import.meta.url).pathname;
const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'), { merge: true }) as {
  services: Record<
    string,
    {
      environment?: Record<string, string>;
      build?: { args?: { SERVICE?: string } };
      ports?: string[];
      volumes?: string[];
      healthcheck?: { test: string[] };
    }
  >;
};

/** Each service's config schema, the prefix of its environment variables, and its directory when not its name. */
const SERVICES: Record<string, { schema: TObject; prefix: string; dir?: string }> = {
  agent: { schema: AgentConfigSchema, prefix: 'WATTBUS_AGENT_' },
  bridge: { schema: BridgeConfigSchema, prefix: 'WATTBUS_BRIDGE_' },
  'storage-hook': { schema: StorageHookConfigSchema, prefix: 'WATTBUS_STORAGE_HOOK_' },
  query: { schema: QueryConfigSchema, prefix: 'WATTBUS_QUERY_' },
  gateway: { schema: GatewayConfigSchema, prefix: 'WATTBUS_GATEWAY_' },
  'alert-hook': { schema: AlertHookConfigSchema, prefix: 'WATTBUS_ALERTS_' },
  backup: { schema: BackupConfigSchema, prefix: 'WATTBUS_BACKUP_' },
  // `prometheus` in compose is Prometheus itself.
  'prometheus-hook': { schema: PrometheusHookConfigSchema, prefix: 'WATTBUS_PROMETHEUS_', dir: 'prometheus' },
};

/** The values .env.example gives the ${…} placeholders. */
const exampleEnv = Object.fromEntries(
  readFileSync(`${root}.env.example`, 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
);

function substitute(value: string): string {
  // ${NAME} or ${NAME:?message} (compose refuses a blank one)
  return value.replace(/\$\{([A-Z_]+)(?::\?[^}]*)?\}/g, (_, name: string) => {
    assert.ok(name in exampleEnv, `\${${name}} is not in .env.example`);
    return exampleEnv[name]!;
  });
}

function valueAt(config: unknown, path: string[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], config);
}

describe('docker-compose.yml', () => {
  for (const [name, { schema, prefix, dir = name }] of Object.entries(SERVICES)) {
    it(`${name}: builds its own service and every WATTBUS_ variable is a real, valid config key`, () => {
      const service = compose.services[name];
      assert.ok(service, `no ${name} service`);
      assert.equal(service.build?.args?.SERVICE, dir);
      assert.ok(existsSync(`${root}services/${dir}/src/main.ts`));
      const env = Object.fromEntries(
        Object.entries(service.environment ?? {})
          .filter(([key]) => key.startsWith(prefix))
          .map(([key, value]) => [key, substitute(String(value))]),
      );
      assert.ok(Object.keys(env).length > 0, `${name} has no WATTBUS_ settings`);
      const config = loadConfig({ schema, env, envPrefix: prefix });
      for (const [key, value] of Object.entries(env)) {
        const path = key.slice(prefix.length).toLowerCase().split('__');
        const actual = valueAt(config, path);
        const text = typeof actual === 'object' ? JSON.stringify(actual) : String(actual);
        assert.equal(text, value, `${key} is not a config key of ${name}`);
      }
    });
  }

  it('prometheus/prometheus.yml passes promtool and scrapes the hook and every service at its admin port', () => {
    const file = `${root}prometheus/prometheus.yml`;
    const check = spawnSync(requireBinary('promtool', 'prometheus'), ['check', 'config', file], {
      encoding: 'utf8',
    });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    const scrape = parse(readFileSync(file, 'utf8')) as {
      scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }>;
    };
    const targets = scrape.scrape_configs.flatMap((job) =>
      job.static_configs.flatMap((config) => config.targets),
    );
    assert.ok(targets.includes(`prometheus-hook:${PrometheusHookConfigSchema.properties.port.default}`));
    for (const [name, { schema, prefix, dir = name }] of Object.entries(SERVICES)) {
      if (dir === 'prometheus') continue;
      const config = loadConfig({ schema, env: {}, envPrefix: prefix }) as { admin: { port: number } };
      assert.ok(
        targets.includes(`${name}:${config.admin.port}`),
        `${name}:${config.admin.port} is not scraped`,
      );
      assert.equal(
        compose.services[name]!.environment?.[`${prefix}ADMIN__HOST`],
        '0.0.0.0',
        `${name} serves /metrics on loopback only`,
      );
    }
  });

  it(
    'passes `docker-compose config` where the client is installed',
    { skip: spawnSync('docker-compose', ['version']).status !== 0 },
    () => {
      const result = spawnSync('docker-compose', ['--env-file', '.env.example', 'config', '-q'], {
        cwd: root,
        encoding: 'utf8',
      });
      assert.equal(result.status, 0, result.stderr);
    },
  );

  it(
    'refuses a blank secret, naming it and the command that makes them',
    { skip: spawnSync('docker-compose', ['version']).status !== 0 },
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'wattbus-compose-'));
      copyFileSync(`${root}docker-compose.yml`, join(dir, 'docker-compose.yml'));
      const blank = readFileSync(`${root}.env.example`, 'utf8').replace(
        /^INFLUX_TOKEN=.*$/m,
        'INFLUX_TOKEN=',
      );
      writeFileSync(join(dir, '.env'), blank);
      const result = spawnSync('docker-compose', ['config', '-q'], { cwd: dir, encoding: 'utf8' });
      assert.notEqual(result.status, 0);
      assert.match(result.stderr, /run npm run setup:production \(INFLUX_TOKEN is blank\)/);
    },
  );

  it('keeps InfluxDB and the plain MQTT port off the host, and every service on TLS with a healthcheck', () => {
    assert.equal(compose.services.influxdb!.ports, undefined);
    assert.deepEqual(compose.services.mosquitto!.ports, ['8883:8883', '8884:8884']);
    for (const [name, { prefix }] of Object.entries(SERVICES)) {
      const service = compose.services[name]!;
      assert.match(String(service.environment?.[`${prefix}MQTT__URL`]), /^mqtts:\/\/mosquitto:8883$/, name);
      assert.equal(service.environment?.[`${prefix}MQTT__CA_FILE`], '/etc/wattbus/certs/ca.crt', name);
      assert.ok(
        service.volumes?.includes('./certs/ca.crt:/etc/wattbus/certs/ca.crt:ro'),
        `${name} lacks the CA`,
      );
      assert.equal(service.healthcheck?.test[2], 'scripts/healthcheck.mjs', `${name} has no healthcheck`);
    }
  });

  it('gives every service that talks to InfluxDB (2.x in compose) its org and token', () => {
    for (const [name, { prefix }] of Object.entries(SERVICES)) {
      const env = compose.services[name]!.environment ?? {};
      if (!(`${prefix}INFLUX__URL` in env)) continue;
      assert.match(String(env[`${prefix}INFLUX__ORG`]), /INFLUX_ORG/, `${name} lacks ${prefix}INFLUX__ORG`);
      assert.match(String(env[`${prefix}INFLUX__PASSWORD`]), /INFLUX_TOKEN/, `${name} lacks the token`);
    }
  });
});
