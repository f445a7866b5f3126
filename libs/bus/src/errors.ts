import { WattbusError } from '@wattbus/contracts';

/** No correlated response arrived before the request's deadline. */
export class RequestTimeoutError extends WattbusError {
  constructor(topic: string, timeoutMs: number) {
    super('TIMEOUT', `no response on ${topic} within ${timeoutMs} ms`, { topic, timeout_ms: timeoutMs });
    this.name = 'RequestTimeoutError';
  }
}

/** The bus was stopped while the request was waiting. */
export class BusStoppedError extends WattbusError {
  constructor() {
    super('SHUTTING_DOWN', 'the bus was stopped before a response arrived');
    this.name = 'BusStoppedError';
  }
}

/**
 * Why `Bus.connect` gave up: `url` malformed or of a scheme mqtt.js cannot open (at once, no
 * network); `not-authorised` the broker refused the credentials (CONNACK 4/5, MQTT 5: 134/135);
 * `refused` any other CONNACK refusal (e.g. client id rejected, server unavailable);
 * `tls` a CA/certificate/key file cannot be read, or the TLS handshake failed verification
 * (expired or wrong certificate, unknown CA; at once: retrying cannot help);
 * `unreachable` no CONNACK within connectTimeoutMs (refused TCP, unknown host, timeout).
 */
export type BusConnectReason = 'url' | 'not-authorised' | 'refused' | 'tls' | 'unreachable';

/** `Bus.connect` failed. The message names the URL (password hidden) and, when refused, the user. */
export class BusConnectError extends Error {
  readonly reason: BusConnectReason;
  /** The broker URL with any password replaced by `***`. */
  readonly url: string;
  readonly username: string | undefined;
  /** The broker's CONNACK code (3.1.1 return code or MQTT 5 reason code) when it refused us. */
  readonly code: number | undefined;

  constructor(
    reason: BusConnectReason,
    message: string,
    details: { url: string; username?: string; code?: number },
  ) {
    super(message);
    this.name = 'BusConnectError';
    this.reason = reason;
    this.url = details.url;
    this.username = details.username;
    this.code = details.code;
  }
}

/**
 * The broker refused one operation, as its ACL does: a subscribe answered with SUBACK 0x80/0x87
 * or, on MQTT 5, a publish answered with PUBACK 0x87 (3.1.1 has no way to say so).
 */
export class BusRefusedError extends Error {
  readonly operation: 'subscribe' | 'publish';
  readonly topic: string;
  /** The SUBACK/PUBACK reason code. */
  readonly code: number;

  constructor(operation: 'subscribe' | 'publish', topic: string, code: number, message: string) {
    super(message);
    this.name = 'BusRefusedError';
    this.operation = operation;
    this.topic = topic;
    this.code = code;
  }
}

/**
 * How we know the broker has no shared subscriptions: its MQTT 5 CONNACK said so (Shared
 * Subscription Available = 0), it disconnected us (reason 158, as ejabberd does) or refused the
 * filter (SUBACK 0x9E), or it accepted the filter and delivered nothing through it (NATS,
 * RabbitMQ and aedes do so, silently).
 */
export type ShareGroupEvidence = 'connack' | 'disconnect' | 'suback' | 'no-delivery';

/** A service asked for a share group (`$share/<group>/…`) on a broker that does not deliver through one. */
export class SharedSubscriptionsUnsupportedError extends Error {
  readonly group: string;
  readonly evidence: ShareGroupEvidence;
  readonly url: string;

  constructor(group: string, evidence: ShareGroupEvidence, why: string, url: string) {
    super(
      `this broker does not support shared subscriptions ($share/${group}/…, MQTT 5 §4.8.2): ${why}, at ${url}. ` +
        'Unset share_group to run the instances as a hot standby (each takes every message), or use a broker ' +
        'that has shared subscriptions (mosquitto 2, EMQX, HiveMQ, VerneMQ); see docs/operations.md, "Scaling out"',
    );
    this.name = 'SharedSubscriptionsUnsupportedError';
    this.group = group;
    this.evidence = evidence;
    this.url = url;
  }
}
