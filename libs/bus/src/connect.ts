import type { Socket } from 'node:net';
import mqtt, {
  type IClientOptions,
  type IConnackPacket,
  type IPublishPacket,
  type MqttClient,
  type Packet,
} from 'mqtt';
import type { Logger } from 'pino';
import { checkBrokerUrl, redactUrl, urlUsername } from './broker-url.js';
import { ConnectionWatch, type BrokerTarget } from './connection-watch.js';
import { BusConnectError } from './errors.js';
import type { BusSettings } from './options.js';
import { describeConnackRefusal, isNotAuthorised, isUnsupportedProtocol } from './refusals.js';
import { describeTlsFailure, tlsClientOptions } from './tls.js';

export interface OpenConnection {
  client: MqttClient;
  watch: ConnectionWatch;
  target: BrokerTarget;
  /** The first CONNACK (MQTT 5: with the broker's properties, e.g. sharedSubscriptionAvailable). */
  connack: IConnackPacket;
}

/**
 * Opens the broker connection and waits for its first CONNACK. The URL is checked before any
 * I/O; `protocol: 'auto'` tries MQTT 5 and falls back to 3.1.1 when the broker refuses it, or
 * closes the socket on the MQTT 5 CONNECT without a CONNACK (RabbitMQ 3.10 does).
 * Rejects with BusConnectError: `url`, `not-authorised` and `refused` at once (retrying cannot
 * help), `unreachable` after connectTimeoutMs of failed attempts (each one logged).
 */
export async function openConnection(
  settings: BusSettings,
  clientId: string,
  logger: Logger,
): Promise<OpenConnection> {
  const url = checkBrokerUrl(settings.url);
  const target = { url: redactUrl(settings.url), username: settings.username ?? urlUsername(url) };
  tlsClientOptions(settings, url, target);
  try {
    return await openClient(settings, clientId, settings.protocol === 4 ? 4 : 5, target, logger);
  } catch (error) {
    if (settings.protocol !== 'auto' || !isProtocolRefusal(error)) throw error;
    // Said once per broker and process: a platform opens many connections to one broker.
    const firstTime = !brokersWithoutMqtt5.has(target.url);
    brokersWithoutMqtt5.add(target.url);
    logger[firstTime ? 'info' : 'debug'](
      { url: target.url, reason: error.message },
      'broker does not speak MQTT 5; using MQTT 3.1.1',
    );
    return openClient(settings, clientId, 4, target, logger);
  }
}

/** Broker URLs that refused MQTT 5 in this process (only to keep the fallback's log line to one). */
const brokersWithoutMqtt5 = new Set<string>();

/** MQTT allows `+`, `#`, `/` and spaces in a client id, but the reply topic is named after it. */
export function sanitizeClientId(clientId: string): string {
  return clientId.replace(/[+#/\s]/g, '_');
}

function isProtocolRefusal(error: unknown): error is BusConnectError {
  if (error instanceof Mqtt5Unanswered) return true;
  return error instanceof BusConnectError && error.code !== undefined && isUnsupportedProtocol(error.code);
}

/** The broker took the TCP connection and closed it on our MQTT 5 CONNECT without a CONNACK. */
class Mqtt5Unanswered extends BusConnectError {}

/**
 * Ends a persistent session for good, so the broker forgets its subscriptions and queue (a share
 * group member's share then goes to the others). MQTT 5: DISCONNECT with Session Expiry 0, given
 * to `client.end`; MQTT 3.1.1 has no such DISCONNECT (nor can one be sent while offline): a
 * CONNECT with clean session, which takes the session over and discards it, does it.
 */
export async function endSession(settings: BusSettings, clientId: string): Promise<void> {
  const options = clientOptions({ ...settings, clean: true, will: undefined }, clientId, 4);
  // One attempt: a close without CONNACK rejects instead of waiting for a retry.
  const client = await mqtt.connectAsync(settings.url, { ...options, reconnectPeriod: 0 }, false);
  await client.endAsync();
}

type EarlyMessage = [IPublishPacket, (error?: Error) => void];
const earlyMessages = new WeakMap<MqttClient, EarlyMessage[]>();

/**
 * Messages a resumed session's queue delivered before the router was installed (unacked), in
 * order; the router dispatches them first.
 */
export function takeEarlyMessages(client: MqttClient): EarlyMessage[] {
  const early = earlyMessages.get(client) ?? [];
  earlyMessages.delete(client);
  return early;
}

function clientOptions(settings: BusSettings, clientId: string, protocolVersion: 4 | 5): IClientOptions {
  const will = settings.will;
  const url = new URL(settings.url);
  return {
    ...tlsClientOptions(settings, url, { url: redactUrl(settings.url), username: settings.username }),
    clientId,
    protocolVersion,
    clean: settings.clean,
    username: settings.username,
    password: settings.password,
    reconnectPeriod: settings.reconnectMinMs,
    // Keep retrying (with backoff) when a reconnect is refused, e.g. while a password is rotated.
    reconnectOnConnackError: true,
    connectTimeout: settings.attemptTimeoutMs,
    resubscribe: true,
    // mqtt-packet's default pre-builds a 2-byte Buffer for each of the 65,536 packet ids: 6 MB of
    // heap in every service for a saving of one tiny allocation per packet (docs/benchmarks.md).
    writeCache: false,
    log: mqttDebugWanted() ? undefined : ignore,
    // mqtt.js re-arms its keepalive timer on every PUBACK by default (a clearTimeout and a
    // setTimeout per reading an agent publishes); a PINGREQ per keepalive on a busy connection
    // costs less.
    reschedulePings: false,
    will: will
      ? { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: will.retain ?? false }
      : undefined,
    // Tell an MQTT 5 broker to keep a persistent session for a while after we disconnect.
    properties:
      protocolVersion === 5 && !settings.clean
        ? { sessionExpiryInterval: settings.sessionExpirySeconds }
        : undefined,
  };
}

/**
 * mqtt.js logs through `debug` several times per packet; switched off, each call still collects
 * its arguments (~9 % of what an agent polling 1,000 plugs allocated, bench/collector; ~0.4 µs
 * per message the storage hook receives). So it gets a no-op unless DEBUG asks for mqttjs.
 */
function mqttDebugWanted(): boolean {
  return /(^|[\s,])(mqttjs|\*)/.test(process.env.DEBUG ?? '');
}

function ignore(): void {}

/** Opens one mqtt.js client and waits for its first CONNACK (or a refusal, or the connect timeout). */
function openClient(
  settings: BusSettings,
  clientId: string,
  protocolVersion: 4 | 5,
  target: BrokerTarget,
  logger: Logger,
): Promise<OpenConnection> {
  const client = mqtt.connect(settings.url, clientOptions(settings, clientId, protocolVersion));
  const watch = new ConnectionWatch(client, settings, target, logger);
  watch.start();
  // Nagle's algorithm holds small packets (a request, its PUBACK, the response) until the peer's
  // delayed ACK: ~40 ms per hop, ~90 ms per request/response. Send them at once, on every connect.
  client.on('connect', () =>
    (client.stream as { setNoDelay?: (noDelay: boolean) => void }).setNoDelay?.(true),
  );
  // A resumed session's queue can arrive before the router exists; hold it (unacked) for it.
  const early: EarlyMessage[] = [];
  earlyMessages.set(client, early);
  client.handleMessage = (packet, done) => {
    early.push([packet, done]);
  };
  const timeoutMs = settings.connectTimeoutMs;
  // Whether this attempt's socket connected: a close after that with no CONNACK is an answer.
  let socketConnected = false;
  return new Promise((resolve, reject) => {
    const fail = (error: BusConnectError) => {
      cleanup();
      watch.stop();
      client.end(true);
      reject(error);
    };
    const timer = setTimeout(() => {
      const why = watch.lastFailure ? `: ${watch.lastFailure}` : '';
      fail(
        new BusConnectError(
          'unreachable',
          `could not connect to the MQTT broker at ${target.url} within ${timeoutMs} ms${why}`,
          target,
        ),
      );
    }, timeoutMs);
    const onConnect = (connack: IConnackPacket) => {
      cleanup();
      resolve({ client, watch, target, connack });
    };
    const onPacketSend = (packet: Packet) => {
      if (packet.cmd !== 'connect') return;
      const stream = client.stream as Partial<Socket>;
      socketConnected = stream.connecting === false;
      stream.once?.('connect', () => (socketConnected = true));
    };
    const onClose = () => {
      if (!socketConnected || protocolVersion !== 5 || settings.protocol !== 'auto') return;
      const why = 'the broker closed the connection on an MQTT 5 CONNECT without a CONNACK';
      fail(new Mqtt5Unanswered('refused', `${why}, at ${target.url}`, target));
    };
    const onError = (error: Error & { code?: unknown }) => {
      // Nor will a certificate that fails verification (expired, wrong host, unknown CA).
      const tlsFailure = describeTlsFailure(error);
      if (tlsFailure !== undefined) {
        fail(new BusConnectError('tls', `${tlsFailure}, at ${target.url}`, target));
        return;
      }
      // A refusal in the CONNACK (credentials, protocol version) will not go away by retrying.
      if (typeof error.code !== 'number') return;
      const code = error.code;
      const reason = isNotAuthorised(code) ? 'not-authorised' : 'refused';
      const message = `${describeConnackRefusal(code, target.username)}, at ${target.url}`;
      fail(new BusConnectError(reason, message, { ...target, code }));
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('connect', onConnect);
      client.off('error', onError);
      client.off('packetsend', onPacketSend);
      client.off('close', onClose);
    };
    client.on('connect', onConnect);
    client.on('error', onError);
    client.on('packetsend', onPacketSend);
    client.on('close', onClose);
  });
}
