import type { IDisconnectPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { BusSettings } from './options.js';
import { describeConnackRefusal, describeDisconnect } from './refusals.js';
import { describeTlsFailure } from './tls.js';

/** Whom we connect to and as whom, for log lines and errors (password hidden). */
export interface BrokerTarget {
  url: string;
  username: string | undefined;
}

/**
 * Watches one mqtt.js client for its whole life, first connection included: reconnect backoff
 * with full jitter, one warn line per failed connection attempt with its reason (refused TCP,
 * refused credentials, timeout…), and the reason of a DISCONNECT the broker sends (MQTT 5).
 */
export class ConnectionWatch {
  #client: MqttClient;
  #settings: BusSettings;
  #target: BrokerTarget;
  #logger: Logger;
  /** Reconnect attempts since the last CONNACK. */
  #attempt = 0;
  #everConnected = false;
  /** The current connection got its CONNACK (so its close is a loss, not a failed attempt). */
  #connectedNow = false;
  #lastError: string | undefined;
  #lastFailure: string | undefined;
  #stopped = false;

  constructor(client: MqttClient, settings: BusSettings, target: BrokerTarget, logger: Logger) {
    this.#client = client;
    this.#settings = settings;
    this.#target = target;
    this.#logger = logger;
  }

  /** Why the last attempt failed (for the error when the first connection times out). */
  get lastFailure(): string | undefined {
    return this.#lastFailure;
  }

  start(): void {
    this.#client.on('connect', this.#onConnect);
    this.#client.on('error', this.#onError);
    this.#client.on('disconnect', this.#onDisconnect);
    this.#client.on('close', this.#onClose);
    this.#client.on('reconnect', this.#onReconnect);
  }

  /** A graceful stop (or a refusal that ends the first connection) is not worth a warning. */
  stop(): void {
    this.#stopped = true;
    this.#client.off('connect', this.#onConnect);
    this.#client.off('error', this.#onError);
    this.#client.off('disconnect', this.#onDisconnect);
    this.#client.off('close', this.#onClose);
    this.#client.off('reconnect', this.#onReconnect);
  }

  #onConnect = (): void => {
    if (this.#everConnected && this.#attempt > 0) {
      this.#logger.info({ attempts: this.#attempt }, 'reconnected to broker');
    }
    this.#attempt = 0;
    this.#everConnected = true;
    this.#connectedNow = true;
    this.#lastError = undefined;
    this.#client.options.reconnectPeriod = this.#settings.reconnectMinMs;
  };

  #onError = (error: Error & { code?: unknown }): void => {
    this.#logger.debug({ err: error }, 'mqtt client error');
    this.#lastError =
      typeof error.code === 'number' && /^Connection refused/.test(error.message)
        ? describeConnackRefusal(error.code, this.#target.username)
        : (describeTlsFailure(error) ?? error.message);
  };

  #onDisconnect = (packet: IDisconnectPacket): void => {
    const description = describeDisconnect(packet.reasonCode ?? 0, this.#target.username);
    this.#lastError = description;
    this.#logger.warn({ url: this.#target.url, reason_code: packet.reasonCode }, description);
  };

  #onClose = (): void => {
    if (this.#stopped || this.#client.disconnecting) return;
    const retryInMs = this.#client.options.reconnectPeriod;
    if (this.#connectedNow) {
      this.#connectedNow = false;
      const reason = this.#lastError ?? this.#silentClose();
      this.#logger.warn(
        { url: this.#target.url, reason, retry_in_ms: retryInMs },
        'lost the broker; reconnecting',
      );
    } else {
      this.#lastFailure = this.#lastError ?? this.#closedBeforeConnack();
      this.#logger.warn(
        {
          url: this.#target.url,
          attempt: this.#attempt + 1,
          reason: this.#lastFailure,
          retry_in_ms: retryInMs,
        },
        `could not connect to the MQTT broker: ${this.#lastFailure}`,
      );
    }
    this.#lastError = undefined;
  };

  #closedBeforeConnack(): string {
    const what = 'the connection closed before the broker answered (no CONNACK)';
    // RabbitMQ's MQTT plugin closes the socket on an MQTT 5 CONNECT (`auto` falls back by itself).
    return this.#client.options.protocolVersion === 5
      ? `${what}; a broker without MQTT 5 may do so (RabbitMQ): set mqtt.protocol to auto or 3.1.1`
      : what;
  }

  /** A close with no error and no DISCONNECT reason. */
  #silentClose(): string {
    // MQTT 3.1.1 has no DISCONNECT from the broker: aedes, for one, just closes on an ACL refusal.
    return this.#client.options.protocolVersion === 5
      ? 'the broker closed the connection'
      : 'the broker closed the connection without a reason (an MQTT 3.1.1 broker does so when its ACL refuses a publish)';
  }

  #onReconnect = (): void => {
    this.#attempt++;
    // Exponential backoff with full jitter, so many clients do not reconnect in lockstep.
    const { reconnectMinMs: minMs, reconnectMaxMs: maxMs } = this.#settings;
    const ceiling = Math.min(maxMs, minMs * 2 ** this.#attempt);
    this.#client.options.reconnectPeriod = Math.round(minMs + Math.random() * (ceiling - minMs));
  };
}
