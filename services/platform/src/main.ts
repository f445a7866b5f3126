#!/usr/bin/env -S node --import tsx
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { RegistryError } from '@wattbus/devices';
import { runService, UsageError, type CliResult, type Logger } from '@wattbus/runtime';
import { freePort } from '@wattbus/testing';
import { banner } from './banner.js';
import type { ConsoleLog } from './console-log.js';
import { AddressError } from './discovery/addresses.js';
import { DISCOVERY_OPTIONS, discoverIntoFile, discoveryRequestOf } from './discovery/discover.js';
import { NoInfluxError } from './local-influx.js';
import { Platform } from './platform.js';
import { createPlatformLogger } from './platform-logger.js';

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

function brokerOf(values: CliValues): 'embedded' | 'mosquitto' {
  const broker = values.broker;
  if (broker !== 'embedded' && broker !== 'mosquitto') {
    throw new UsageError(`--broker must be embedded or mosquitto, got ${String(broker)}`);
  }
  // The local CA and TLS listeners are the embedded broker's; mosquitto would need its own.
  if (broker === 'mosquitto' && values.tls === true) {
    throw new UsageError('--tls works with the embedded broker only; leave out --broker mosquitto or --tls');
  }
  return broker;
}

function devicesFileOf(values: CliValues): string {
  return typeof values.devices === 'string'
    ? values.devices
    : join(String(values['data-dir']), 'devices.yaml');
}

/** The calm console, opened once the banner is out. */
let consoleLog: ConsoleLog | undefined;
let logDir: string | undefined;

await runService({
  name: 'platform',
  summary:
    'Runs the whole platform in one process on your devices (data/devices.yaml): embedded MQTT broker, agent, storage hook, query component, alert hook and REST gateway, against a local InfluxDB. Without a devices file (or with --demo) it runs a simulated fleet. The discover command finds devices and adds them to the file.',
  // Flags only: the embedded platform wires every part itself (see platform.ts).
  schema: Type.Object({}, { additionalProperties: false }),
  envPrefix: 'WATTBUS_PLATFORM_',
  options: {
    'data-dir': {
      type: 'string',
      description: 'where influxd data, the write-ahead log, passwords, the API key and logs live',
      default: './data',
    },
    devices: {
      type: 'string',
      description:
        'your devices file, read and watched, never written by npm start (default: <data-dir>/devices.yaml)',
    },
    demo: { type: 'boolean', description: 'run the simulated fleet even when a devices file exists' },
    discover: {
      type: 'boolean',
      description: 'first discover devices (options below) and add them to the devices file, then start',
    },
    ...DISCOVERY_OPTIONS,
    'log-format': {
      type: 'string',
      description:
        'console: banner and notable events, JSON logs in <data-dir>/logs; json: every log line to stdout',
      default: 'console',
    },
    broker: {
      type: 'string',
      description:
        'embedded: the built-in aedes broker (MQTT 3.1.1); mosquitto: the Debian mosquitto 2 (apt install mosquitto), for MQTT 5 clients, without --tls',
      default: 'embedded',
    },
    host: { type: 'string', description: 'address every listener binds to', default: '127.0.0.1' },
    tls: {
      type: 'boolean',
      description:
        'TLS only: MQTT over TLS (mqtts://, default port 8883), secure WebSocket and HTTPS, with a local CA made in <data-dir>/tls on the first start (clients trust <data-dir>/tls/ca.crt); embedded broker only',
    },
    'http-port': {
      type: 'string',
      description: 'REST API and Swagger UI (default: 8080, or a free port if taken)',
    },
    'mqtt-port': {
      type: 'string',
      description: 'MQTT (TCP) (default: 1883, with --tls 8883, or a free port if taken)',
    },
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
    'metrics-port': {
      type: 'string',
      description:
        "Prometheus /metrics of every device and part (off: none) (default: 9233, tplink-plug-exporter's, or a free port if taken)",
    },
    plugs: {
      type: 'string',
      description: 'number of simulated TP-Link plugs of the demo (1-8)',
      default: '6',
    },
    'time-zone': {
      type: 'string',
      description: 'IANA zone of daily energy buckets',
      default: 'Europe/Berlin',
    },
  },
  commands: {
    discover: {
      summary:
        'find TP-Link Kasa plugs, Shellys and Modbus TCP meters at the addresses you name and add them to the devices file (npm run discover)',
      async run({ cli: { values } }) {
        process.stdout.write(
          (await discoverIntoFile(discoveryRequestOf(values), devicesFileOf(values))).report,
        );
      },
    },
  },
  environment: ['INFLUX_URL', 'INFLUX_DATABASE'],
  epilog: `INFLUX_URL: use this InfluxDB instead of starting influxd (e.g. http://127.0.0.1:8086);
INFLUX_DATABASE: its database (default wattbus).

Discovery asks only the addresses you name: a broadcast goes to --broadcast or to the broadcast
address of --interface; HTTP probes go to the --shelly addresses; Modbus to --modbus.
  npm run discover -- --interface eth0 --shelly 192.168.1.0/24 --modbus 192.168.1.9@1
  npm start -- --discover --interface eth0

Stop with Ctrl-C (SIGINT) or SIGTERM: every part stops, influxd included; readings the storage
hook accepted but had not written yet are replayed from its log on the next start.`,
  configErrors: [RegistryError, AddressError, NoInfluxError],
  async logger({ values }) {
    const format = values['log-format'];
    if (format !== 'console' && format !== 'json') {
      throw new UsageError(`--log-format must be console or json, got ${String(format)}`);
    }
    const made = await createPlatformLogger({ format, logDir: join(String(values['data-dir']), 'logs') });
    consoleLog = made.console;
    logDir = made.logDir;
    return made.logger;
  },
  async start({ cli: { values }, logger, metrics }) {
    const plugs = plugCount(values);
    const broker = brokerOf(values);
    const devicesFile = devicesFileOf(values);
    if (values.discover) {
      process.stdout.write((await discoverIntoFile(discoveryRequestOf(values), devicesFile)).report);
    }
    const wsPort = values['ws-port'] === 'off' ? null : await port(values, 'ws-port', 9001, logger);
    const metricsPort =
      values['metrics-port'] === 'off' ? null : await port(values, 'metrics-port', 9233, logger);
    const platform = new Platform({
      options: {
        dataDir: String(values['data-dir']),
        host: String(values.host),
        httpPort: await port(values, 'http-port', 8080, logger),
        mqttPort: await port(values, 'mqtt-port', values.tls ? 8883 : 1883, logger),
        tls: values.tls === true,
        wsPort,
        influxUrl: process.env.INFLUX_URL || undefined,
        influxPort: await port(values, 'influx-port', 8086, logger),
        database: process.env.INFLUX_DATABASE || 'wattbus',
        devicesFile,
        demo: values.demo === true,
        plugCount: plugs,
        timeZone: String(values['time-zone']),
        metricsPort,
        broker,
      },
      logger,
      metrics,
    });
    const addresses = await platform.start();
    process.stdout.write(banner(addresses, { logDir }));
    consoleLog?.open();
    return platform;
  },
});
