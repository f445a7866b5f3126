import { Type } from '@sinclair/typebox';
import { Bus, busTls, type MessageContext, type Subscription } from '@wattbus/bus';
import { validator } from '@wattbus/contracts';
import type { Logger } from 'pino';
import type { BridgeConfig } from './config.js';

export type ForeignConnection = NonNullable<BridgeConfig['foreign_mqtt']>;

/** Any text: foreign payloads are judged by the profile's rules, not by a schema at the door. */
const anyText = validator(Type.String());

/** The largest message MQTT can carry: the bridge checks sizes itself, against its own limit. */
const MQTT_MAX_PAYLOAD = 268_435_455;

/**
 * The connection to the devices' broker: `foreign_mqtt`, or the WattBus broker under a client id
 * of its own. Nothing is dead-lettered on it (there may be no WattBus topics on that broker):
 * every message goes to `onMessage`, empty and huge ones included, as its raw bytes.
 */
export class ForeignBroker {
  #bus: Bus;

  private constructor(bus: Bus) {
    this.#bus = bus;
  }

  static async connect(
    connection: ForeignConnection,
    clientId: string,
    logger: Logger,
  ): Promise<ForeignBroker> {
    const bus = await Bus.connect({
      url: connection.url,
      username: connection.username,
      password: connection.password,
      // Without foreign_mqtt this is the WattBus broker, over TLS with its CA where mqtt says so.
      ...busTls(connection),
      service: 'bridge-foreign',
      clientId,
      maxPayloadBytes: MQTT_MAX_PAYLOAD,
      logger,
    });
    return new ForeignBroker(bus);
  }

  get connected(): boolean {
    return this.#bus.connected;
  }

  on(event: 'connect' | 'offline', listener: () => void): void {
    this.#bus.on(event, listener);
  }

  async subscribe(
    filter: string,
    onMessage: (payload: Buffer, context: MessageContext) => void,
  ): Promise<Subscription> {
    const deliver = (context: MessageContext) => onMessage(payloadOf(context), context);
    return this.#bus.subscribe(filter, anyText, (_text, context) => deliver(context), {
      encoding: 'text',
      onEmpty: deliver,
    });
  }

  async publish(topic: string, payload: unknown): Promise<void> {
    await this.#bus.publish(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), {
      qos: 1,
      retain: false,
    });
  }

  async stop(): Promise<void> {
    await this.#bus.stop();
  }
}

function payloadOf(context: MessageContext): Buffer {
  const payload = context.packet.payload;
  return Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
}
