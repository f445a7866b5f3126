import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { validator, type Topics } from '@wattbus/contracts';
import type { IConnackPacket, IDisconnectPacket, MqttClient } from 'mqtt';
import type { BrokerTarget } from './connection-watch.js';
import { BusRefusedError, SharedSubscriptionsUnsupportedError, type ShareGroupEvidence } from './errors.js';
import { SHARED_SUBSCRIPTIONS_NOT_SUPPORTED, refusalOf } from './refusals.js';
import type { TopicRouter } from './router.js';

export interface ProbesDeps {
  client: MqttClient;
  router: TopicRouter;
  topics: Topics;
  clientId: string;
  target: BrokerTarget;
  connack: IConnackPacket;
  timeoutMs: number;
}

const anyText = validator(Type.String());

/**
 * Messages a client sends to itself on its probe topic (`<base>/probe/<client id>`): one through
 * a share group proves the broker delivers through it (several brokers accept `$share/…` and
 * deliver nothing); one behind our session's queue marks its end when we leave a group (a broker
 * delivers one client's queue in order).
 */
export class Probes {
  #deps: ProbesDeps;
  #verified = new Map<string, Promise<void>>();

  constructor(deps: ProbesDeps) {
    this.#deps = deps;
  }

  /** Checks (once per group) that the broker delivers through `$share/<group>/`. */
  verifyShareGroup(group: string): Promise<void> {
    let verified = this.#verified.get(group);
    if (!verified) {
      verified = this.#verify(group);
      this.#verified.set(group, verified);
      verified.catch(() => this.#verified.delete(group));
    }
    return verified;
  }

  /**
   * Sends a marker to ourselves and waits for it (false after the timeout): once it is here,
   * everything the broker had queued for us before it has arrived too.
   */
  marker(): Promise<boolean> {
    const { topics, clientId } = this.#deps;
    return this.#roundTrip(topics.probe(clientId));
  }

  async #verify(group: string): Promise<void> {
    const { client, connack, topics, clientId, timeoutMs } = this.#deps;
    const unsupported = (evidence: ShareGroupEvidence, why: string) =>
      new SharedSubscriptionsUnsupportedError(group, evidence, why, this.#deps.target.url);
    // MQTT 5 §3.2.2.3.15: absent means available.
    if (connack.properties?.sharedSubscriptionAvailable === false) {
      throw unsupported('connack', 'its CONNACK says Shared Subscription Available = 0');
    }
    const filter = `$share/${group}/${topics.probe(clientId)}`;
    // ejabberd answers the SUBSCRIBE with DISCONNECT 158; the subscribe then fails as "Connection closed".
    let disconnected: IDisconnectPacket | undefined;
    const onDisconnect = (packet: IDisconnectPacket) => (disconnected ??= packet);
    client.on('disconnect', onDisconnect);
    try {
      if (await this.#roundTrip(filter)) return;
      throw unsupported(
        'no-delivery',
        `a probe published to ${topics.probe(clientId)} did not come back through ${filter} within ${timeoutMs} ms (the broker accepted the subscription and delivered nothing)`,
      );
    } catch (error) {
      if (disconnected?.reasonCode === SHARED_SUBSCRIPTIONS_NOT_SUPPORTED) {
        throw unsupported('disconnect', `it disconnected us on subscribing to ${filter} (DISCONNECT 158)`);
      }
      if (error instanceof BusRefusedError && error.code === SHARED_SUBSCRIPTIONS_NOT_SUPPORTED) {
        throw unsupported('suback', `it refused ${filter} (SUBACK 0x9e)`);
      }
      throw error;
    } finally {
      client.off('disconnect', onDisconnect);
    }
  }

  /** Subscribes `filter`, publishes a fresh token to our probe topic, waits for it to come back. */
  async #roundTrip(filter: string): Promise<boolean> {
    const { client, router, topics, clientId, target, timeoutMs } = this.#deps;
    const topic = topics.probe(clientId);
    const token = randomUUID();
    let arrived!: () => void;
    const came = new Promise<boolean>((resolve) => (arrived = () => resolve(true)));
    const subscription = await router.subscribe(
      filter,
      anyText,
      (text) => {
        if (text === token) arrived();
      },
      { encoding: 'text', qos: 1 },
    );
    let timer: NodeJS.Timeout | undefined;
    try {
      await client.publishAsync(topic, token, { qos: 1 }).catch((error: unknown) => {
        throw refusalOf('publish', topic, error, target.username);
      });
      const timedOut = new Promise<boolean>(
        (resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)),
      );
      return await Promise.race([came, timedOut]);
    } finally {
      clearTimeout(timer);
      await subscription.unsubscribe().catch(() => undefined);
    }
  }
}
