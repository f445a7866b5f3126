import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AuthenticateError, type AuthErrorCode, type Client } from 'aedes';
import type { Logger } from 'pino';
import type { ServiceMetrics } from '@wattbus/runtime';
import { Authenticator, type Principal } from './authenticator.js';
import { clusterParts, type ClusterParts } from './cluster.js';
import { BrokerConfigError, type BrokerConfig } from './config.js';
import { listenTcp, listenTls, listenWebSocket, type Listener, type ListenerTls } from './listeners.js';
import { BrokerCounters, StatsReporter, brokerPrometheusMetrics, type BrokerMetrics } from './metrics.js';

export interface BrokerDependencies {
  /** Already validated, with defaults filled in: see `parseBrokerConfig`. */
  config: BrokerConfig;
  logger: Logger;
  /** Clients, messages, auth failures and ACL denials go here. */
  metrics?: ServiceMetrics;
}

export interface BrokerPorts {
  /** Present unless the plain listener is off (`port: null`). */
  mqttPort?: number;
  /** Present when WebSocket is enabled (`ws_port` set). */
  wsPort?: number;
  /** MQTT over TLS, present with `tls`. */
  tlsPort?: number;
  /** Secure WebSocket, present with `tls.ws_port`. */
  wssPort?: number;
}

/** Where the broker publishes its metrics, next to aedes' own `$SYS/<id>/…` topics. */
export const STATS_TOPIC = '$SYS/wattbus/broker/stats';

/**
 * CONNACK code 5, "not authorised", for every refusal: it is what mosquitto answers too, and one
 * code for all reasons tells a prober nothing. (A const enum in aedes' types, so spelled out.)
 */
const NOT_AUTHORIZED = 5 as AuthErrorCode;

interface Running {
  aedes: Aedes;
  cluster: ClusterParts | undefined;
  listeners: Listener[];
  stats: StatsReporter;
  ports: BrokerPorts;
}

/**
 * The MQTT broker: aedes behind TCP and, optionally, WebSocket listeners, with users, per-user
 * topic ACLs and metrics. MQTT 3.1.1 only (aedes has no MQTT 5). With `cluster`, one node of a
 * broker whose nodes share a Redis (see cluster.ts).
 */
export class Broker {
  readonly #config: BrokerConfig;
  readonly #logger: Logger;
  readonly #counters = new BrokerCounters();
  readonly #principals = new WeakMap<Client, Principal>();
  #running: Running | undefined;
  #starting: Promise<Running> | undefined;

  constructor(dependencies: BrokerDependencies) {
    this.#config = dependencies.config;
    this.#logger = dependencies.logger;
    if (dependencies.metrics) brokerPrometheusMetrics(dependencies.metrics, () => this.metrics());
  }

  /** Listens on `port` (and `ws_port`); resolves with the ports actually bound. */
  async start(): Promise<BrokerPorts> {
    if (this.#running !== undefined || this.#starting !== undefined) {
      throw new Error('broker is already started');
    }
    this.#starting = this.#open();
    try {
      return (await this.#starting).ports;
    } finally {
      this.#starting = undefined;
    }
  }

  /**
   * Stops listening, closes every client (publishing their wills) and aedes. Connections still open
   * after `stop_timeout_ms` are cut. Safe to call twice or before start().
   */
  async stop(): Promise<void> {
    await this.#starting?.catch(() => undefined);
    const running = this.#running;
    if (running === undefined) {
      return;
    }
    this.#running = undefined;
    running.stats.stop();
    const timeoutMs = this.#config.stop_timeout_ms;
    const listenersClosed = Promise.all(running.listeners.map((listener) => listener.close()));
    const aedesClosed = await settlesWithin(closeAedes(running.aedes), timeoutMs);
    // Redis away: its client would wait for it forever.
    if (running.cluster) await settlesWithin(running.cluster.close(), timeoutMs);
    // What is left never finished its CONNECT, or did not go when asked to.
    for (const listener of running.listeners) {
      listener.destroyConnections();
    }
    const listenersDone = await settlesWithin(listenersClosed, timeoutMs);
    if (!aedesClosed || !listenersDone) {
      this.#logger.warn(
        { timeout_ms: timeoutMs },
        'broker did not stop cleanly in time; connections were cut',
      );
    }
  }

  /**
   * Publishes as the broker itself (no client, no ACL), like the `$SYS` stats: the broker's own
   * health record. JSON for objects; resolves once aedes delivered it.
   */
  publish(topic: string, payload: unknown, options: { qos?: 0 | 1; retain?: boolean } = {}): Promise<void> {
    const aedes = this.#running?.aedes;
    if (aedes === undefined) return Promise.reject(new Error('the broker is not running'));
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const packet = {
      cmd: 'publish' as const,
      topic,
      payload: Buffer.from(body),
      qos: options.qos ?? 0,
      retain: options.retain ?? false,
      dup: false,
    };
    return new Promise((resolve, reject) =>
      aedes.publish(packet, (error) => (error ? reject(error) : resolve())),
    );
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  metrics(): BrokerMetrics {
    return {
      clients_connected: this.#running?.aedes.connectedClients ?? 0,
      messages_published: this.#counters.messages_published,
      auth_failures: this.#counters.auth_failures,
      acl_denials: this.#counters.acl_denials,
    };
  }

  async #open(): Promise<Running> {
    const cluster = this.#config.cluster ? await clusterParts(this.#config.cluster) : undefined;
    let aedes: Aedes;
    try {
      aedes = await this.#createAedes(cluster);
    } catch (error) {
      await cluster?.close();
      throw error;
    }
    const listeners: Listener[] = [];
    let ports: BrokerPorts;
    try {
      ports = await this.#listen(aedes, listeners);
    } catch (error) {
      await Promise.all(listeners.map((listener) => listener.close()));
      await closeAedes(aedes);
      await cluster?.close();
      throw error;
    }
    const stats = new StatsReporter({
      intervalMs: this.#config.stats_interval_ms,
      read: () => this.metrics(),
      logger: this.#logger,
      publish: (metrics) => publishStats(aedes, metrics),
    });
    stats.start();
    this.#running = { aedes, cluster, listeners, stats, ports };
    return this.#running;
  }

  /** Opens each configured listener (pushed to `listeners`, so a failure can close them). */
  async #listen(aedes: Aedes, listeners: Listener[]): Promise<BrokerPorts> {
    const { host, port, ws_port, tls } = this.#config;
    const onError = (error: Error) => this.#logger.error({ err: error }, 'listener error');
    const open = async (listener: Promise<Listener>) => {
      const opened = await listener;
      listeners.push(opened);
      return opened.port;
    };
    const ports: BrokerPorts = {};
    const handleStream = (stream: Duplex, request: IncomingMessage) => aedes.handle(stream, request);
    if (port !== null) {
      ports.mqttPort = await open(listenTcp({ host, port, onError }, (socket) => aedes.handle(socket)));
    }
    if (ws_port != null)
      ports.wsPort = await open(listenWebSocket({ host, port: ws_port, onError }, handleStream));
    if (tls) {
      const secure = this.#listenerTls(tls);
      ports.tlsPort = await open(
        listenTls({ host, port: tls.port, onError }, secure, (socket) => aedes.handle(socket)),
      );
      if (tls.ws_port != null) {
        ports.wssPort = await open(
          listenWebSocket({ host, port: tls.ws_port, onError }, handleStream, secure),
        );
      }
    }
    return ports;
  }

  /** The TLS listeners' files, read now: one that cannot be read is a configuration error. */
  #listenerTls(tls: NonNullable<BrokerConfig['tls']>): ListenerTls {
    const read = (key: string, file: string) => {
      try {
        return readFileSync(file);
      } catch (error) {
        throw new BrokerConfigError([`tls/${key}: cannot read ${file}: ${(error as Error).message}`]);
      }
    };
    return {
      cert: read('cert_file', tls.cert_file),
      key: read('key_file', tls.key_file),
      ca: tls.ca_file === undefined ? undefined : read('ca_file', tls.ca_file),
      clientCertificates: tls.client_certificates,
      onRefused: (reason, remoteAddress) => {
        this.#counters.auth_failures += 1;
        this.#logger.warn({ reason, remote_address: remoteAddress }, 'TLS handshake refused');
      },
    };
  }

  #createAedes(cluster: ClusterParts | undefined): Promise<Aedes> {
    const authenticator = new Authenticator(this.#config.users, this.#config.anonymous);
    return Aedes.createBroker({
      ...cluster?.options,
      authenticate: (client, username, password, done) => {
        authenticator.authenticate(username, password, client.id).then(
          (result) => {
            if (result.ok) {
              this.#principals.set(client, result.principal);
              return done(null, true);
            }
            this.#counters.auth_failures += 1;
            this.#logger.warn(
              {
                client_id: client.id,
                username,
                reason: result.reason,
                remote_address: remoteAddressOf(client),
              },
              'connection refused',
            );
            done(notAuthorized(), false);
          },
          (error: unknown) => {
            this.#logger.error({ err: error, client_id: client.id }, 'authentication failed');
            done(notAuthorized(), false);
          },
        );
      },
      // aedes closes the connection of a client whose PUBLISH is refused: MQTT 3.1.1 has no way
      // to tell the publisher [MQTT-3.3.5-2]. Wills are checked here too.
      authorizePublish: (client, packet, done) => {
        const principal = client === null ? undefined : this.#principals.get(client);
        if (principal?.permissions.canPublish(packet.topic)) {
          this.#counters.messages_published += 1;
          return done(null);
        }
        this.#deny('publish', client, principal, packet.topic);
        done(new Error(`not authorised to publish to ${packet.topic}`));
      },
      // A refused filter gets return code 128 in the SUBACK; the connection stays up.
      authorizeSubscribe: (client, subscription, done) => {
        const principal = this.#principals.get(client);
        if (principal?.permissions.canSubscribe(subscription.topic)) {
          return done(null, subscription);
        }
        this.#deny('subscribe', client, principal, subscription.topic);
        done(null, null);
      },
    }).then((aedes) => this.#observe(aedes));
  }

  #deny(
    action: 'publish' | 'subscribe',
    client: Client | null,
    principal: Principal | undefined,
    topic: string,
  ) {
    this.#counters.acl_denials += 1;
    this.#logger.warn(
      { client_id: client?.id, username: principal?.username, action, topic },
      'access denied',
    );
  }

  #observe(aedes: Aedes): Aedes {
    // aedes emits 'error' for persistence failures; unheard, it would end the process.
    const emitter: EventEmitter = aedes; // its typings list every event but 'error'
    emitter.on('error', (error: unknown) => this.#logger.error({ err: error }, 'broker error'));
    aedes.on('client', (client) => this.#logger.debug({ client_id: client.id }, 'client connected'));
    aedes.on('clientDisconnect', (client) =>
      this.#logger.debug({ client_id: client.id }, 'client disconnected'),
    );
    // Routine: refused publishes, dropped sockets, malformed packets; the refusals are logged above.
    aedes.on('clientError', (client, error) =>
      this.#logger.debug({ client_id: client.id, err: error.message }, 'client error'),
    );
    aedes.on('connectionError', (client, error) =>
      this.#logger.debug({ client_id: client.id, err: error.message }, 'connection error'),
    );
    return aedes;
  }
}

function notAuthorized(): AuthenticateError {
  return Object.assign(new Error('not authorised'), { returnCode: NOT_AUTHORIZED });
}

function remoteAddressOf(client: Client): string | undefined {
  // Over WebSocket the connection is a stream; the address is on the upgrade request.
  return client.req?.socket.remoteAddress ?? (client.conn as Partial<Socket>).remoteAddress;
}

function publishStats(aedes: Aedes, metrics: BrokerMetrics): void {
  const packet = {
    cmd: 'publish' as const,
    topic: STATS_TOPIC,
    payload: Buffer.from(JSON.stringify(metrics)),
    qos: 0 as const,
    retain: false,
    dup: false,
  };
  aedes.publish(packet, () => {});
}

function closeAedes(aedes: Aedes): Promise<void> {
  return new Promise((resolve) => aedes.close(() => resolve()));
}

/** True if `promise` settled within `timeoutMs`; the timer never holds the process open. */
async function settlesWithin(promise: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
