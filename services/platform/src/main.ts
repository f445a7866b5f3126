#!/usr/bin/env -S node --import tsx
import { createServer } from 'node:net';
import { Type } from '@sinclair/typebox';
import { runService, UsageError, type CliResult, type Logger } from '@wattbus/runtime';
import { freePort } from '@wattbus/testing';
import { Platform, type PlatformAddresses } from './platform.js';

type CliValues = CliResult['values'];

/**
 * A port the user named is used as given (a clash is an error). A default port that is taken —
 * a system mosquitto on 1883 or influxd on 8086, started by their Debian packages — is replaced
 * by a free one, so the first command works on a machine that already runs them.
 */
async function port(values: CliValues, name: string, fallback: number, logger: Logger): Promise<number> {
  if (values[name] !== undefined) return explicitPort(values, name);
  if (await isFree(fallback)) return fallback;
  const chosen = await freePort();
  logger.warn({ port: fallback, instead: chosen }, `port ${fallback} is taken; --${name} ${chosen} instead`);
  return chosen;
}

function isFree(candidate: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(candidate, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function explicitPort(values: CliValues, name: string): number {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new UsageError(`--${name} must be a port number (0-65535), got ${String(values[name])}`);
  }
  return value;
}

function plugCount(values: CliValues): number {
  const value = Number(values.plugs);
  if (!Number.isInteger(value) || value < 1 || value > 8) {
    throw new UsageError(`--plugs must be a whole number from 1 to 8, got ${String(values.plugs)}`);
  }
  return value;
}

function banner(addresses: PlatformAddresses): string {
  const key = addresses.apiKeyCreated
    ? `${addresses.apiKey} (new; saved in ${addresses.apiKeyFile})`
    : `in ${addresses.apiKeyFile}`;
  return [
    '',
    'WattBus is running.',
    `  REST API     ${addresses.restUrl}/api/v1/devices   (Authorization: Bearer $(cat ${addresses.apiKeyFile}))`,
    `  Dashboard    ${addresses.restUrl}/   (sign in with the API key below)`,
    `  Swagger UI   ${addresses.docsUrl}`,
    `  MQTT         ${addresses.mqttUrl}   (anonymous read-only: mosquitto_sub -h 127.0.0.1 -p ${new URL(addresses.mqttUrl).port} -t 'wattbus/#' -v)`,
    ...(addresses.wsUrl ? [`  MQTT/WS      ${addresses.wsUrl}`] : []),
    `  InfluxDB     ${addresses.influxUrl}   database ${addresses.database}`,
    `  API key      ${key}`,
    'Ctrl-C stops everything.',
    '',
  ].join('\n');
}

await runService({
  name: 'platform',
  summary:
    'Runs the whole platform in one process: embedded MQTT broker, a simulated fleet (TP-Link and Shelly plugs, a Modbus meter), agent, storage hook, query component, alert hook and REST gateway, against a local InfluxDB.',
  // Flags only: the embedded platform wires every part itself (see platform.ts).
  schema: Type.Object({}, { additionalProperties: false }),
  envPrefix: 'WATTBUS_PLATFORM_',
  options: {
    'data-dir': {
      type: 'string',
      description: 'where influxd data, the write-ahead log and the API key live',
      default: './data',
    },
    host: { type: 'string', description: 'address every listener binds to', default: '127.0.0.1' },
    'http-port': {
      type: 'string',
      description: 'REST API and Swagger UI (default: 8080, or a free port if taken)',
    },
    'mqtt-port': { type: 'string', description: 'MQTT (TCP) (default: 1883, or a free port if taken)' },
    // No `default:` on the ports: an unset port falls back to its default, or to a free port when
    // that one is taken; a port given on the command line is used as given.
    'ws-port': {
      type: 'string',
      description:
        'MQTT over WebSocket (0: any free port, off: none) (default: 9001, or a free port if taken)',
    },
    'influx-port': {
      type: 'string',
      description:
        'port of the influxd started when INFLUX_URL is not set (default: 8086, or a free port if taken)',
    },
    plugs: { type: 'string', description: 'number of simulated TP-Link plugs (1-8)', default: '6' },
    'time-zone': {
      type: 'string',
      description: 'IANA zone of daily energy buckets',
      default: 'Europe/Berlin',
    },
  },
  environment: ['INFLUX_URL', 'INFLUX_DATABASE'],
  epilog: `INFLUX_URL: use this InfluxDB instead of starting influxd (e.g. http://127.0.0.1:8086);
INFLUX_DATABASE: its database (default wattbus).

Stop with Ctrl-C (SIGINT) or SIGTERM: every part stops, influxd included; readings the storage
hook accepted but had not written yet are replayed from its log on the next start.`,
  async start({ cli: { values }, logger }) {
    const plugs = plugCount(values);
    const wsPort = values['ws-port'] === 'off' ? null : await port(values, 'ws-port', 9001, logger);
    const platform = new Platform({
      options: {
        dataDir: String(values['data-dir']),
        host: String(values.host),
        httpPort: await port(values, 'http-port', 8080, logger),
        mqttPort: await port(values, 'mqtt-port', 1883, logger),
        wsPort,
        influxUrl: process.env.INFLUX_URL || undefined,
        influxPort: await port(values, 'influx-port', 8086, logger),
        database: process.env.INFLUX_DATABASE || 'wattbus',
        plugCount: plugs,
        timeZone: String(values['time-zone']),
      },
      logger,
    });
    const addresses = await platform.start();
    process.stdout.write(banner(addresses));
    return platform;
  },
});
