import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { validator, type Topics } from '@wattbus/contracts';
import type { IConnackPacket, MqttClient } from 'mqtt';
import type { BrokerTarget } from './connection-watch.js';
import { SharedSubscriptionsUnsupportedError } from './errors.js';
import { shareGroupFilter } from './match.js';
import { refusalOf } from './refusals.js';
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
    const { connack, topics, clientId, timeoutMs, target } = this.#deps;
    // MQTT 5 §3.2.2.3.15: absent means available.
    if (connack.properties?.sharedSubscriptionAvailable === false) {
      const why = 'its CONNACK says Shared Subscription Available = 0';
      throw new SharedSubscriptionsUnsupportedError(group, 'connack', why, target.url);
    }
    // A broker that refuses the filter (158) makes the subscribe fail with that error already.
    const filter = shareGroupFilter(group, topics.probe(clientId));
    if (await this.#roundTrip(filter)) return;
    const why = `a probe published to ${topics.probe(clientId)} did not come back through ${filter} within ${timeoutMs} ms (the broker accepted the subscription and delivered nothing)`;
    throw new SharedSubscriptionsUnsupportedError(group, 'no-delivery', why, target.url);
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
