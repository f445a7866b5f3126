import type { Logger } from 'pino';

export interface BusWill {
  topic: string;
  payload: string;
  retain?: boolean;
  /** Publish the will ourselves on a graceful stop (so retained state is right), default true. */
  publishOnStop?: boolean;
}

/** What `Bus.connect` takes; every optional key's default is in `BUS_DEFAULTS`. */
export interface BusOptions {
  /** `mqtt://host:port`, `mqtts://`, `ws://`, `wss://`, `tcp://`, `tls://` or `ssl://` (see broker-url.ts). */
  url: string;
  /** Names dead-letter records and log lines. */
  service: string;
  /** Fixed id for persistent sessions; default `<service>-<random>`. Also names the reply topic. */
  clientId?: string;
  baseTopic?: string;
  username?: string;
  password?: string;
  /** PEM CA the broker's certificate must chain to (mqtts://, wss://); default Node's CAs. */
  caFile?: string;
  /** PEM client certificate and its key, for a broker that verifies clients. */
  certFile?: string;
  keyFile?: string;
  /**
   * `auto` tries MQTT 5 and falls back to 3.1.1 when the broker refuses it (aedes) or closes the
   * socket without a CONNACK (RabbitMQ).
   */
  protocol?: 'auto' | 4 | 5;
  /** false keeps the session (subscriptions and queued QoS 1 messages) while we are away. */
  clean?: boolean;
  will?: BusWill;
  /** Messages larger than this (bytes) are dead-lettered unparsed. */
  maxPayloadBytes?: number;
  /** Give up on the first connection after this long (ms): `Bus.connect` rejects with BusConnectError. */
  connectTimeoutMs?: number;
  /**
   * How long (ms) a message with no matching subscription waits for one before it is acked and
   * dropped. A resumed persistent session gets its queued messages right after CONNACK, before
   * the service's subscribe() calls run; set this (e.g. 5000) with `clean: false`.
   * A held message stalls mqtt.js' input (SUBACKs too): call subscribe() for every filter
   * before awaiting any of them. Holding ends once every subscribe() so far has its SUBACK:
   * after that, a message nobody routes (a stale subscription of the session) is acked at once.
   */
  holdUnroutedMs?: number;
  /**
   * Write the PUBACKs of one burst of incoming messages together (one syscall instead of one per
   * message) by corking the socket until the end of the event-loop turn. For high-rate
   * consumers such as the storage hook; it delays acks by less than one loop turn.
   */
  batchAcks?: boolean;
  /**
   * With batchAcks: runs right before a burst's PUBACKs are released (and before a graceful
   * stop), so a consumer can make the whole burst durable with one write. If it throws, the
   * PUBACKs are withheld: the connection is dropped and the broker re-delivers the burst.
   */
  beforeAcks?: () => void;
  /** Reconnect backoff bounds (ms): full jitter between min and min·2^attempt, at most max. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /**
   * How long (ms) a probe may take to come back: through a share group when joining it
   * (`verifyShareGroup`), and behind the queue when leaving one (`drain`).
   */
  probeTimeoutMs?: number;
  logger?: Logger;
}

/** The one place for the bus' defaults. */
export const BUS_DEFAULTS = {
  protocol: 'auto',
  clean: true,
  maxPayloadBytes: 64 * 1024,
  connectTimeoutMs: 30_000,
  holdUnroutedMs: 0,
  batchAcks: false,
  reconnectMinMs: 500,
  reconnectMaxMs: 30_000,
  /** One connection attempt's wait for CONNACK (mqtt.js' connectTimeout), ms. */
  attemptTimeoutMs: 10_000,
  /** How long an MQTT 5 broker keeps a persistent session (`clean: false`) after we leave, s. */
  sessionExpirySeconds: 86_400,
  /** A request's wait for its response when the caller gives no timeoutMs. */
  requestTimeoutMs: 10_000,
  probeTimeoutMs: 5_000,
} as const;

type Defaulted = keyof BusOptions & keyof typeof BUS_DEFAULTS;

/** BusOptions with every default filled in. */
export type BusSettings = Omit<BusOptions, Defaulted> &
  Required<Pick<BusOptions, Defaulted>> &
  Omit<typeof BUS_DEFAULTS, Defaulted>;

/** Fills the defaults; a key given as `undefined` (e.g. an absent config value) gets its default too. */
export function busSettings(options: BusOptions): BusSettings {
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  return { ...BUS_DEFAULTS, ...given } as BusSettings;
}
