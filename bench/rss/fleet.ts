import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedPlug } from '@wattbus/simulators';
import { startInflux, startMosquitto } from '@wattbus/testing';

/** What each service needs to start against one broker and one InfluxDB, as deployed. */
export interface Backends {
  mqttUrl: string;
  influxUrl: string;
  /** A scratch directory for logs, state and the registry. */
  dir: string;
  registry: string;
}

export interface ServiceRecipe {
  args?: string[];
  env: Record<string, string>;
}

export const SERVICES = ['broker', 'agent', 'storage-hook', 'query', 'gateway', 'alert-hook', 'backup'];

const PREFIX: Record<string, string> = {
  agent: 'WATTBUS_AGENT_',
  'storage-hook': 'WATTBUS_STORAGE_HOOK_',
  query: 'WATTBUS_QUERY_',
  gateway: 'WATTBUS_GATEWAY_',
  'alert-hook': 'WATTBUS_ALERTS_',
  backup: 'WATTBUS_BACKUP_',
};

export function recipe(
  service: string,
  backends: Backends,
  extra: Record<string, string> = {},
): ServiceRecipe {
  const { dir, influxUrl } = backends;
  const own: Record<string, ServiceRecipe> = {
    // Its own listener on a free port; WebSocket off (the default).
    broker: { env: { WATTBUS_BROKER_PORT: '0' } },
    agent: { args: ['--registry', backends.registry], env: { WATTBUS_AGENT_ID: 'agent-bench' } },
    'storage-hook': {
      env: {
        WATTBUS_STORAGE_HOOK_LOG__DIR: join(dir, 'storage-hook'),
        WATTBUS_STORAGE_HOOK_INFLUX__URL: influxUrl,
      },
    },
    query: { env: { WATTBUS_QUERY_INFLUX__URL: influxUrl } },
    gateway: { env: { WATTBUS_GATEWAY_PORT: '0' } },
    'alert-hook': {
      env: { WATTBUS_ALERTS_DATA_DIR: join(dir, 'alert-hook'), WATTBUS_ALERTS_INFLUX__URL: influxUrl },
    },
    backup: {
      args: ['run'],
      env: { WATTBUS_BACKUP_DIRECTORY: join(dir, 'backups'), WATTBUS_BACKUP_INFLUX__URL: influxUrl },
    },
  };
  const chosen = own[service];
  if (!chosen) throw new Error(`no recipe for service ${service}`);
  const prefix = PREFIX[service];
  const mqtt = prefix ? { [`${prefix}MQTT__URL`]: backends.mqttUrl } : {};
  return { args: chosen.args, env: { ...mqtt, ...chosen.env, ...extra } };
}

/** `count` simulated TP-Link plugs (the demo fleet's kind) and a registry naming them. */
export async function plugFleet(
  count: number,
  defaults: Record<string, number> = {},
): Promise<{ plugs: SimulatedPlug[]; dir: string; registry: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'wattbus-bench-'));
  const plugs = await Promise.all(Array.from({ length: count }, () => SimulatedPlug.start()));
  const registry = join(dir, 'devices.yaml');
  const lines = plugs.map(
    (plug, index) =>
      `  - { id: plug-${index + 1}, type: tplink, location: hq/bench, kind: workplace, connection: { host: ${plug.host}, port: ${plug.port} } }`,
  );
  await writeFile(registry, `defaults: ${JSON.stringify(defaults)}\ndevices:\n${lines.join('\n')}\n`);
  return { plugs, dir, registry };
}

/** mosquitto, influxd with the `wattbus` database and six simulated plugs: what every service needs. */
export async function startBackends(): Promise<{ backends: Backends; stop: () => Promise<void> }> {
  const fleet = await plugFleet(6);
  const [mosquitto, influx] = await Promise.all([startMosquitto({ persistence: false }), startInflux()]);
  await influx.createDatabase('wattbus');
  return {
    backends: { mqttUrl: mosquitto.url, influxUrl: influx.url, dir: fleet.dir, registry: fleet.registry },
    stop: async () => {
      await Promise.all([mosquitto.destroy(), influx.destroy(), ...fleet.plugs.map((plug) => plug.stop())]);
    },
  };
}
