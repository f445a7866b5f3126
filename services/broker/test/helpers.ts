import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino, type Logger } from 'pino';
import {
  Broker,
  hashPassword,
  parseBrokerConfig,
  type BrokerConfig,
  type BrokerPorts,
} from '../src/index.js';

/** Cheap scrypt cost for tests; production hashes use the default. */
export const FAST_COST = { N: 2 ** 10, r: 8, p: 1 };

export const silentLogger: Logger = pino({ level: 'silent' });

export interface StartedBroker {
  broker: Broker;
  ports: BrokerPorts;
  config: BrokerConfig;
  tcpUrl: string;
}

/** Starts a broker on a free loopback port; `overrides` are config keys on top of test defaults. */
export async function startBroker(
  overrides: Record<string, unknown>,
  logger = silentLogger,
): Promise<StartedBroker> {
  const config = parseBrokerConfig({ host: '127.0.0.1', port: 0, stats_interval_ms: 0, ...overrides });
  const broker = new Broker({ config, logger });
  const ports = await broker.start();
  return { broker, ports, config, tcpUrl: `mqtt://127.0.0.1:${ports.mqttPort}` };
}

export async function user(
  username: string,
  password: string,
  rules: { publish?: string[]; subscribe?: string[] },
): Promise<Record<string, unknown>> {
  return { username, password_hash: await hashPassword(password, FAST_COST), ...rules };
}

/** Opens clients and closes all of them at the end of a test file. */
export class Clients {
  readonly #open = new Set<MqttClient>();

  /** Resolves once the CONNACK accepted the client; rejects with the refusal otherwise. */
  async connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
    this.#open.add(client);
    await new Promise<void>((resolve, reject) => {
      const onConnect = () => {
        client.off('error', onError);
        resolve();
      };
      const onError = (error: Error) => {
        client.off('connect', onConnect);
        reject(error);
      };
      client.once('connect', onConnect);
      client.once('error', onError);
    });
    return client;
  }

  /** The CONNACK return code of a refused connection. */
  async refusalCode(url: string, options: IClientOptions = {}): Promise<number | undefined> {
    try {
      await this.connect(url, options);
    } catch (error) {
      return (error as { code?: number }).code;
    }
    throw new Error('connection was accepted');
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#open].map((client) => client.endAsync(true)));
    this.#open.clear();
  }
}

export interface ReceivedMessage {
  topic: string;
  payload: string;
}

/** Records every message a client receives and lets a test await one. */
export class Inbox {
  readonly messages: ReceivedMessage[] = [];

  constructor(client: MqttClient) {
    client.on('message', (topic, payload) => this.messages.push({ topic, payload: payload.toString() }));
  }

  /** Resolves with the first message (already received or yet to come) whose payload is `payload`. */
  async waitFor(client: MqttClient, payload: string): Promise<ReceivedMessage> {
    for (;;) {
      const found = this.messages.find((message) => message.payload === payload);
      if (found) {
        return found;
      }
      await nextMessage(client);
    }
  }

  payloads(): string[] {
    return this.messages.map((message) => message.payload);
  }
}

/** mqtt.js' typed emitter does not fit `events.once`, hence these two. */
export function whenClosed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

export function nextMessage(client: MqttClient): Promise<ReceivedMessage> {
  return new Promise((resolve) =>
    client.once('message', (topic, payload) => resolve({ topic, payload: payload.toString() })),
  );
}
