import { readFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Bus } from '@wattbus/bus';
import { Fleet } from '@wattbus/fleet';
import { ConfigError, Health, HealthPublisher, type Logger, type ServiceMetrics } from '@wattbus/runtime';
import { ApiKeys } from './api-keys.js';
import type { GatewayConfig } from './config.js';
import { createHttpApp } from './http-app.js';
import { InFlight } from './in-flight.js';
import { LiveEvents } from './live-events.js';
import { gatewayMetrics, type GatewayMetrics, type RequestDone } from './metrics.js';
import { ROUTES, type Route } from './routes.js';
import { OpenApiSpec } from './spec.js';

export interface GatewayDeps {
  config: GatewayConfig;
  /** A connected bus; the gateway does not own it (main stops it after the gateway). */
  bus: Bus;
  logger: Logger;
  /** Defaults to the repository's openapi.yaml. */
  spec?: OpenApiSpec;
  /** Defaults to ROUTES; a test may swap one. */
  routes?: Record<string, Route>;
  /** Requests by method/status with latency, in flight, and the bus go here. */
  metrics?: ServiceMetrics;
}

/**
 * The REST gateway: an HTTP server whose every API call becomes one correlated MQTT request.
 * start() subscribes to device metas and listens; stop() refuses new requests, lets the ones in
 * flight finish (up to stop_timeout_ms) and closes the server.
 */
export class Gateway {
  readonly health = new Health();
  #deps: GatewayDeps;
  #server: Server | undefined;
  /** Which devices exist (retained metas): a command for another is answered 404 at once. */
  #fleet: Fleet | undefined;
  #inFlight: InFlight;
  #events: LiveEvents | undefined;
  #stopping = false;
  #unwatch: (() => void) | undefined;
  #publisher: HealthPublisher | undefined;
  #requestDone: ((request: RequestDone) => void) | undefined;

  constructor(deps: GatewayDeps) {
    this.#deps = deps;
    this.#inFlight = new InFlight(deps.config.max_in_flight);
    if (deps.metrics) this.#requestDone = gatewayMetrics(deps.metrics, this);
  }

  /** Listens and returns the bound address (port 0 picks a free one). */
  async start(): Promise<{ url: string; port: number }> {
    const { config, bus, logger } = this.#deps;
    const spec = this.#deps.spec ?? OpenApiSpec.load();
    const serve = httpServer(config.tls);
    this.#watchBroker(bus);
    this.#fleet = new Fleet({ bus, parts: ['meta'], logger });
    this.health.set('devices', false, 'subscribing to device metas');
    await this.#fleet.start();
    await this.#fleet.retainedDelivered();
    this.health.set('devices', true);
    this.#events = new LiveEvents({ bus, logger, maxStreams: config.max_event_streams });
    const apiKeys = new ApiKeys(config.api_keys);
    if (apiKeys.size === 0) logger.warn('no API keys configured: every API request will get 401');
    const app = createHttpApp({
      config,
      spec,
      routes: this.#deps.routes ?? ROUTES,
      bus,
      directory: this.#fleet,
      events: this.#events,
      health: this.health,
      apiKeys,
      logger,
      inFlight: this.#inFlight,
      stopping: () => this.#stopping,
      requestDone: this.#requestDone,
    });
    const server = serve(app);
    // Keep-alive sockets must outlive a typical client's idle timeout, but not forever.
    server.keepAliveTimeout = 5_000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    const { port } = server.address() as AddressInfo;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `${config.tls ? 'https' : 'http'}://${host}:${port}`;
    // The same checks as /readyz, retained on {base}/health/gateway for the alert hook.
    this.#publisher = new HealthPublisher({
      bus,
      service: 'gateway',
      logger,
      health: this.health,
      metrics: () => ({ ...this.metrics() }),
    });
    await this.#publisher.start();
    logger.info({ url, docs: `${url}/docs`, api_keys: apiKeys.size }, 'gateway listening');
    return { url, port };
  }

  get bus(): Bus {
    return this.#deps.bus;
  }

  /** The devices agents announced (undefined before start). */
  get devices(): Fleet | undefined {
    return this.#fleet;
  }

  /** The live event streams (undefined before start). */
  get events(): LiveEvents | undefined {
    return this.#events;
  }

  metrics(): GatewayMetrics {
    return {
      in_flight: this.#inFlight.count,
      known_devices: this.#fleet?.size ?? 0,
      event_streams: this.#events?.size ?? 0,
    };
  }

  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.health.set('shutdown', false, 'stopping');
    // Event streams never finish by themselves: end them first, so only real requests are waited for.
    await this.#events?.stop();
    await this.#publisher?.stop();
    const server = this.#server;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      try {
        await this.#inFlight.idle(this.#deps.config.stop_timeout_ms);
      } catch {
        this.#deps.logger.warn(
          { in_flight: this.#inFlight.count, timeout_ms: this.#deps.config.stop_timeout_ms },
          'requests still in flight at the stop timeout; closing their connections',
        );
      }
      // What is left are keep-alive sockets between requests (and overdue ones): close them.
      server.closeAllConnections();
      await closed;
    }
    this.#unwatch?.();
    await this.#fleet?.stop();
  }

  #watchBroker(bus: Bus): void {
    const up = () => this.health.set('broker', true);
    const down = () => this.health.set('broker', false, 'disconnected from the MQTT broker; reconnecting');
    if (bus.connected) up();
    else down();
    bus.on('connect', up);
    bus.on('offline', down);
    this.#unwatch = () => {
      bus.off('connect', up);
      bus.off('offline', down);
    };
  }
}

/**
 * The HTTP server of the config: HTTPS with `tls`'s certificate (its files read now, so one that
 * cannot be read fails the start before anything is connected), plain HTTP otherwise.
 */
function httpServer(tls: GatewayConfig['tls']): (app: RequestListener) => Server {
  if (!tls) return (app) => createServer(app);
  const read = (key: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new ConfigError(
        `invalid configuration: tls.${key}: cannot read ${file}: ${(error as Error).message}`,
      );
    }
  };
  const options = { cert: read('cert_file', tls.cert_file), key: read('key_file', tls.key_file) };
  return (app) => createHttpsServer(options, app);
}
