import { DeadLetterSchema, validator, type DeadLetter, type Topics } from '@wattbus/contracts';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { BusMetrics } from './metrics.js';

/** Keeps a dead-letter record small and readable: the payload as text, cut at 4 KiB. */
const MAX_PAYLOAD_TEXT = 4096;

const checkDeadLetter = validator(DeadLetterSchema);

export function deadLetterRecord(
  service: string,
  topic: string,
  payload: Buffer,
  reason: DeadLetter['reason'],
  message: string,
): DeadLetter {
  return {
    topic,
    reason,
    message,
    payload: payload.subarray(0, MAX_PAYLOAD_TEXT).toString('utf8'),
    payload_bytes: payload.length,
    service,
    ts: new Date().toISOString(),
  };
}

/** Publishes refused messages on `<base>/deadletter/<service>` with the reason, counted and logged. */
export class DeadLetters {
  #client: MqttClient;
  #topics: Topics;
  #service: string;
  #logger: Logger;
  #metrics: BusMetrics;

  constructor(deps: {
    client: MqttClient;
    topics: Topics;
    service: string;
    logger: Logger;
    metrics: BusMetrics;
  }) {
    this.#client = deps.client;
    this.#topics = deps.topics;
    this.#service = deps.service;
    this.#logger = deps.logger;
    this.#metrics = deps.metrics;
  }

  send(topic: string, payload: Buffer, reason: DeadLetter['reason'], message: string): void {
    this.#metrics.dead_lettered++;
    this.#metrics.dead_lettered_by_reason[reason]++;
    this.#logger.warn({ topic, reason, message }, 'message dead-lettered');
    if (topic.startsWith(`${this.#topics.base}/deadletter/`)) return; // never loop
    const record = deadLetterRecord(this.#service, topic, payload, reason, message);
    if (!checkDeadLetter(record)) return;
    this.#client.publish(
      this.#topics.deadLetter(this.#service),
      JSON.stringify(record),
      { qos: 1 },
      () => undefined,
    );
  }
}
