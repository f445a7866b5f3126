import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import type { Logger } from 'pino';
import { Agent, AgentConfigSchema, RegistryWatcher } from '@wattbus/agent';
import { AlertHook, parseAlertHookConfig } from '@wattbus/alert-hook';
import { Broker, BrokerConfigSchema, hashPassword, type BrokerPorts } from '@wattbus/broker';
import { ensureLocalCertificates, type TlsFiles } from '@wattbus/certificates';
import { Bus } from '@wattbus/bus';
import { loadRegistry } from '@wattbus/devices';
import { ensureDatabase } from '@wattbus/influx';
import { Gateway, GatewayConfigSchema, connectGatewayBus, type ApiKeyEntry } from '@wattbus/gateway';
import { QueryComponent, QueryConfigSchema } from '@wattbus/query';
import { PrometheusHook, PrometheusHookConfigSchema } from '@wattbus/prometheus';
import { parseConfig, serveMetrics, ServiceMetrics, type Registry } from '@wattbus/runtime';
import { StorageHook, StorageHookConfigSchema } from '@wattbus/storage-hook';
import { ensureApiKey } from './api-key.js';
import { chooseFleetSource, type FleetSource } from './fleet-source.js';
import { startLocalInflux } from './local-influx.js';
import { startLocalMosquitto } from './local-mosquitto.js';
import { brokerUsersOf, ensureMqttAccounts, type MqttAccount } from './mqtt-accounts.js';
import { SimulatedFleet } from './simulated-fleet.js';

export interface PlatformOptions {
  dataDir: string;
  host: string;
  httpPort: number;
  mqttPort: number;
  /** null: no WebSocket listener. */
  wsPort: number | null;
  /** Use this InfluxDB; otherwise start influxd on `influxPort` with its data in the data dir. */
  influxUrl?: string;
  influxPort: number;
  database: string;
  /** The user's devices file; default `<dataDir>/devices.yaml`. */
  devicesFile?: string;
  /** Run the simulated fleet even when a devices file exists. */
  demo: boolean;
  plugCount: number;
  timeZone: string;
  /** More API keys besides the local one (e.g. a read-only key for a wall screen or a test). */
  apiKeys?: ApiKeyEntry[];
  /** /metrics of the Prometheus hook and every part; null or absent: none. */
  metricsPort?: number | null;
  /** `mosquitto`: a local mosquitto 2 (MQTT 5) instead of the embedded aedes (MQTT 3.1.1). */
  broker?: 'embedded' | 'mosquitto';
  /**
   * TLS only: MQTT over TLS on mqttPort, secure WebSocket on wsPort, HTTPS for the REST API,
   * with a local CA and server certificate made in <dataDir>/tls on the first start.
   */
  tls?: boolean;
}

export interface PlatformAddresses {
  restUrl: string;
  docsUrl: string;
  mqttUrl: string;
  wsUrl?: string;
  influxUrl: string;
  database: string;
  apiKeyFile: string;
  apiKey: string;
  apiKeyCreated: boolean;
  /** Whose devices run, and how many the registry lists. */
  fleet: FleetSource & { devices: number };
  /** Broker accounts for clients outside this process. */
  accounts: MqttAccount[];
  metricsUrl?: string;
  /** With `tls`: the CA clients must trust (mosquitto_sub --cafile, curl --cacert). */
  caFile?: string;
  /** The CA and server certificate were made on this start. */
  caCreated?: boolean;
}

/** On loopback anyone may watch (mosquitto_sub works out of the box); publishing needs a user. */
export const ANONYMOUS_ACCESS = { enabled: true, publish: [], subscribe: ['wattbus/#'] };

/** Internal MQTT user of the services in this process; its password is new on every start. */
const PLATFORM_USER = 'platform';

/**
 * The embedded default: one process runs the broker, the agent (on the user's devices file, or on
 * a simulated fleet), the storage hook, the query component, the alert hook and the gateway,
 * against a local InfluxDB. Parts start in dependency order and stop in reverse, so no reading
 * accepted by the storage hook is lost on a stop.
 */
export class Platform {
  #fleet: SimulatedFleet | undefined;
  #options: PlatformOptions;
  #logger: Logger;
  #stops: { name: string; stop: () => Promise<void> }[] = [];
  /** The process' metrics, then each part's (labelled service=<part>), all on one /metrics. */
  #registries: Registry[] = [];
  #processMetrics: ServiceMetrics;

  constructor(deps: {
    options: PlatformOptions;
    logger: Logger;
    /** The process' own metrics (the front door's); default a new registry labelled platform. */
    metrics?: ServiceMetrics;
  }) {
    this.#options = deps.options;
    this.#logger = deps.logger;
    this.#processMetrics = deps.metrics ?? new ServiceMetrics('platform');
  }

  /** The simulated devices, so tests and demos can look at them; only when the demo runs. */
  get fleet(): SimulatedFleet {
    if (!this.#fleet) throw new Error('no simulated fleet: the platform runs a devices file (see --demo)');
    return this.#fleet;
  }

  async start(): Promise<PlatformAddresses> {
    try {
      return await this.#start();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    for (const { name, stop } of this.#stops.splice(0).reverse()) {
      await stop().catch((error: unknown) => this.#logger.error({ err: error, part: name }, 'stop failed'));
    }
  }

  /**
   * The broker: the embedded aedes (MQTT 3.1.1), or with `broker: 'mosquitto'` a local mosquitto 2
   * (MQTT 5), with the same users. On loopback anyone may watch (mosquitto_sub works out of the
   * box); publishing needs a user.
   */
  async #startBroker(
    accounts: MqttAccount[],
    password: string,
    tls: TlsFiles | undefined,
    log: (name: string) => Logger,
    metrics: (service: string) => ServiceMetrics,
  ): Promise<BrokerPorts> {
    const options = this.#options;
    const platformUser = { username: PLATFORM_USER, publish: ['#'], subscribe: ['#'] };
    if (options.broker === 'mosquitto') {
      if (tls) throw new Error('--tls runs on the embedded broker only; leave out --broker mosquitto');
      const server = await startLocalMosquitto({
        dataDir: options.dataDir,
        host: options.host,
        port: options.mqttPort,
        wsPort: options.wsPort,
        users: [{ ...platformUser, password }, ...accounts],
        anonymousSubscribe: ANONYMOUS_ACCESS.subscribe,
      });
      this.#stops.push({ name: 'mosquitto', stop: () => server.stop() });
      return options.wsPort === null
        ? { mqttPort: options.mqttPort }
        : { mqttPort: options.mqttPort, wsPort: options.wsPort };
    }
    // With TLS every listener is TLS only: plaintext is refused, not offered beside it.
    const listeners = tls
      ? {
          port: null,
          ws_port: null,
          tls: {
            port: options.mqttPort,
            ws_port: options.wsPort,
            cert_file: tls.certFile,
            key_file: tls.keyFile,
          },
        }
      : { port: options.mqttPort, ws_port: options.wsPort };
    const broker = new Broker({
      config: parseConfig(
        BrokerConfigSchema,
        {
          host: options.host,
          ...listeners,
          users: [
            { ...platformUser, password_hash: await hashPassword(password) },
            ...(await brokerUsersOf(accounts)),
          ],
          anonymous: ANONYMOUS_ACCESS,
          stats_interval_ms: 0,
        },
        'the embedded broker',
      ),
      logger: log('broker'),
      metrics: metrics('broker'),
    });
    const ports = await broker.start();
    this.#stops.push({ name: 'broker', stop: () => broker.stop() });
    return ports;
  }

  async #start(): Promise<PlatformAddresses> {
    const options = this.#options;
    const dataDir = resolve(options.dataDir);
    mkdirSync(dataDir, { recursive: true });
    const log = (name: string) => this.#logger.child({ part: name });
    this.#registries = [this.#processMetrics.registry];
    const metrics = (service: string) => {
      const part = new ServiceMetrics(service, { processMetrics: false });
      this.#registries.push(part.registry);
      return part;
    };

    let influxUrl = options.influxUrl;
    if (!influxUrl) {
      const influx = await startLocalInflux({ dataDir, port: options.influxPort });
      // Created up front, so the query component's warm-up finds it on a first start.
      await ensureDatabase({ url: influx.url, database: options.database, timeout_ms: 10_000 });
      this.#stops.push({ name: 'influxd', stop: () => influx.stop() });
      influxUrl = influx.url;
    }
    const influx = { url: influxUrl, database: options.database };

    const accounts = ensureMqttAccounts(dataDir);
    const password = randomBytes(24).toString('base64url');
    const tls = options.tls ? localTls(dataDir, options.host) : undefined;
    const ports = await this.#startBroker(accounts, password, tls, log, metrics);
    const mqttUrl = tls
      ? `mqtts://${options.host}:${ports.tlsPort}`
      : `mqtt://${options.host}:${ports.mqttPort}`;
    // ca_file is the config key of every part; the query component's bus takes it as caFile.
    const caFile = tls?.caFile;
    const mqtt = { url: mqttUrl, username: PLATFORM_USER, password, ...(caFile ? { ca_file: caFile } : {}) };

    const source = chooseFleetSource({ dataDir, devicesFile: options.devicesFile, demo: options.demo });
    if (source.kind === 'demo') await this.#startDemo(source.file);

    const storageHook = new StorageHook({
      config: parseConfig(
        StorageHookConfigSchema,
        {
          mqtt: { ...mqtt, client_id: 'wattbus-storage-hook' },
          influx: { ...influx },
          log: { dir: join(dataDir, 'storage-hook') },
          counters_log_interval_ms: 60_000,
        },
        'the storage hook',
      ),
      logger: log('storage-hook'),
      metrics: metrics('storage-hook'),
    });
    await storageHook.start();
    this.#stops.push({ name: 'storage hook', stop: () => storageHook.stop() });

    const queryBus = await Bus.connect({
      url: mqttUrl,
      username: PLATFORM_USER,
      password,
      caFile,
      service: 'query',
      logger: log('query'),
    });
    this.#stops.push({ name: 'query bus', stop: () => queryBus.stop() });
    const query = new QueryComponent({
      config: parseConfig(
        QueryConfigSchema,
        // aedes has no shared subscriptions: serve the plain request topic.
        {
          mqtt: { url: mqttUrl, share_group: '', ...(caFile ? { ca_file: caFile } : {}) },
          influx: { ...influx },
          time_zone: options.timeZone,
          // A demo tariff: 0.30 EUR/kWh, 0.22 at night (22:00-06:00) and all weekend.
          tariff: {
            currency: 'EUR',
            price_per_kwh: 0.3,
            periods: [
              {
                name: 'night',
                days: ['mon', 'tue', 'wed', 'thu', 'fri'],
                from_hour: 0,
                to_hour: 6,
                price_per_kwh: 0.22,
              },
              {
                name: 'night',
                days: ['mon', 'tue', 'wed', 'thu', 'fri'],
                from_hour: 22,
                to_hour: 24,
                price_per_kwh: 0.22,
              },
              { name: 'weekend', days: ['sat', 'sun'], from_hour: 0, to_hour: 24, price_per_kwh: 0.22 },
            ],
          },
        },
        'the query component',
      ),
      bus: queryBus,
      logger: log('query'),
      metrics: metrics('query'),
    });
    await query.start();
    this.#stops.push({ name: 'query component', stop: () => query.stop() });

    const registry = await loadRegistry(source.file);
    const agent = new Agent({
      config: parseConfig(
        AgentConfigSchema,
        {
          mqtt: { ...mqtt },
          id: 'embedded-agent',
          registry_file: source.file,
          answer_unknown_devices: true,
          // A backfill counts the plugs' days in the site's zone, as the query component does.
          time_zone: options.timeZone,
          // A will covers a crash of the agent; here the broker would die with it. And 200 will
          // connections cost 200 scrypt checks at start.
          device_wills: false,
        },
        'the agent',
      ),
      registry,
      logger: log('agent'),
      metrics: metrics('agent'),
    });
    await agent.start();
    this.#stops.push({ name: 'agent', stop: () => agent.stop() });
    if (source.kind === 'own') {
      // Devices added to (or removed from) the user's file are picked up without a restart.
      const watcher = new RegistryWatcher({
        file: source.file,
        apply: (next) => agent.updateRegistry(next),
        logger: log('agent'),
      });
      await watcher.start();
      this.#stops.push({ name: 'devices file watcher', stop: () => watcher.stop() });
    }

    // Alerts: a device offline (or silent for 5 polls) for 10 s, and a plug above its rating.
    const alertHook = new AlertHook({
      config: parseAlertHookConfig({
        mqtt: { ...mqtt, client_id: 'wattbus-alert-hook' },
        influx: { ...influx },
        data_dir: join(dataDir, 'alert-hook'),
        time_zone: options.timeZone,
        rules: [
          { name: 'offline', kind: 'offline', severity: 'critical', for_ms: 10_000, silent_polls: 5 },
          {
            name: 'overload',
            kind: 'power_above',
            severity: 'warning',
            for_ms: 5_000,
            device_kinds: ['workplace', 'printer', 'meeting-room', 'appliance'],
          },
        ],
      }),
      logger: log('alert-hook'),
      metrics: metrics('alert-hook'),
    });
    await alertHook.start();
    this.#stops.push({ name: 'alert hook', stop: () => alertHook.stop() });

    const apiKey = ensureApiKey(join(dataDir, 'api-key'));
    const gatewayConfig = parseConfig(
      GatewayConfigSchema,
      {
        host: options.host,
        port: options.httpPort,
        mqtt: { ...mqtt },
        ...(tls ? { tls: { cert_file: tls.certFile, key_file: tls.keyFile } } : {}),
        api_keys: [
          { name: 'local', sha256: apiKey.hash, scopes: ['read', 'control'] },
          ...(options.apiKeys ?? []),
        ],
      },
      'the gateway',
    );
    // The gateway's own connect: it accepts replies larger than the bus default (1-day readings).
    const gatewayBus = await connectGatewayBus(gatewayConfig, log('gateway'));
    this.#stops.push({ name: 'gateway bus', stop: () => gatewayBus.stop() });
    const gateway = new Gateway({
      config: gatewayConfig,
      bus: gatewayBus,
      logger: log('gateway'),
      metrics: metrics('gateway'),
    });
    const http = await gateway.start();
    this.#stops.push({ name: 'gateway', stop: () => gateway.stop() });

    const metricsUrl = options.metricsPort == null ? undefined : await this.#startMetrics(mqtt, metrics);

    return {
      restUrl: http.url,
      docsUrl: `${http.url}/docs`,
      mqttUrl,
      wsUrl: webSocketUrl(options.host, ports),
      influxUrl,
      database: options.database,
      apiKeyFile: apiKey.file,
      apiKey: apiKey.key,
      apiKeyCreated: apiKey.created,
      fleet: { ...source, devices: registry.devices.length },
      accounts,
      metricsUrl,
      caFile,
      caCreated: tls?.created,
    };
  }

  /** The Prometheus hook, and one /metrics with its device series and every part's own. */
  async #startMetrics(
    mqtt: { url: string; username: string; password: string; ca_file?: string },
    metrics: (service: string) => ServiceMetrics,
  ): Promise<string> {
    const hook = new PrometheusHook({
      config: parseConfig(PrometheusHookConfigSchema, { mqtt }, 'the prometheus hook'),
      logger: this.#logger.child({ part: 'prometheus-hook' }),
      metrics: metrics('prometheus-hook'),
    });
    await hook.start();
    this.#stops.push({ name: 'prometheus hook', stop: () => hook.stop() });
    const server = await serveMetrics({
      host: this.#options.host,
      port: this.#options.metricsPort!,
      registries: [hook.registry, ...this.#registries],
      logger: this.#logger,
    });
    this.#stops.push({ name: 'metrics', stop: () => server.stop() });
    return server.url;
  }

  /** The simulators, and their registry where the agent reads it (never the user's devices file). */
  async #startDemo(file: string): Promise<void> {
    const fleet = new SimulatedFleet({
      plugCount: this.#options.plugCount,
      timeZone: this.#options.timeZone,
    });
    this.#fleet = fleet;
    this.#stops.push({ name: 'simulated fleet', stop: () => fleet.stop() });
    await fleet.start();
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, this.#registryYaml(fleet));
  }

  #registryYaml(fleet: SimulatedFleet): string {
    const devices = fleet.devices.map((device) => ({
      id: device.id,
      name: device.name,
      type: device.type,
      location: device.location,
      kind: device.kind,
      poll_interval_ms: 1000,
      connection:
        device.type === 'modbus'
          ? { profile: device.model, transport: 'tcp', host: '127.0.0.1', port: device.port, unit_id: 1 }
          : { host: '127.0.0.1', port: device.port },
    }));
    return `# The simulated demo fleet, written by npm start on every demo start. Your own devices go in devices.yaml.\n${stringify({ devices })}`;
  }
}

/**
 * The local CA and server certificate of `npm start -- --tls` in <dataDir>/tls, for the names a
 * client on this machine or the LAN uses: localhost, 127.0.0.1, this host's name and `host`.
 */
function localTls(dataDir: string, host: string): TlsFiles {
  const wildcard = host === '0.0.0.0' || host === '::';
  const hosts = [...new Set(['localhost', '127.0.0.1', hostname(), ...(wildcard ? [] : [host])])];
  return ensureLocalCertificates(join(dataDir, 'tls'), hosts);
}

function webSocketUrl(host: string, ports: BrokerPorts): string | undefined {
  if (ports.wssPort !== undefined) return `wss://${host}:${ports.wssPort}`;
  return ports.wsPort === undefined ? undefined : `ws://${host}:${ports.wsPort}`;
}
