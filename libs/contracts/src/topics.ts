import { isDeviceId } from './ids.js';

/**
 * Topic builders and parsers for the contract in DESIGN.md. Every segment that comes from
 * outside (device ids, methods, requester ids) is checked, so user input can never add a
 * wildcard or an extra level to a topic.
 */
export const DEFAULT_BASE_TOPIC = 'wattbus';

// eslint-disable-next-line no-control-regex -- NUL is not allowed in MQTT topics
const SEGMENT_FORBIDDEN = /[+#/\u0000]/;

export class TopicError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TopicError';
  }
}

/** A topic segment: not empty, no `+`, `#`, `/` or NUL. */
export function assertSegment(value: string, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new TopicError(`${what} must not be empty`);
  if (SEGMENT_FORBIDDEN.test(value)) {
    throw new TopicError(`${what} ${JSON.stringify(value)} must not contain '+', '#', '/' or NUL`);
  }
  return value;
}

export function assertDeviceId(value: string): string {
  assertSegment(value, 'device id');
  if (!isDeviceId(value)) {
    throw new TopicError(
      `device id ${JSON.stringify(value)} must match [a-z0-9][a-z0-9_-]* and be at most 64 characters`,
    );
  }
  return value;
}

/** The base topic may have several levels (`site-a/wattbus`) but no wildcards or empty levels. */
export function assertBaseTopic(base: string): string {
  if (typeof base !== 'string' || base.length === 0) throw new TopicError('base topic must not be empty');
  for (const level of base.split('/')) assertSegment(level, 'base topic level');
  return base;
}

export type DeviceTopicKind = 'readings' | 'state' | 'availability' | 'meta' | 'history';

const DEVICE_TOPIC_KINDS: readonly DeviceTopicKind[] = [
  'readings',
  'state',
  'availability',
  'meta',
  'history',
];

const DEVICES_LEVEL = '/devices/';

export class Topics {
  readonly base: string;

  constructor(base: string = DEFAULT_BASE_TOPIC) {
    this.base = assertBaseTopic(base);
  }

  readings(deviceId: string): string {
    return `${this.base}/devices/${assertDeviceId(deviceId)}/readings`;
  }

  state(deviceId: string): string {
    return `${this.base}/devices/${assertDeviceId(deviceId)}/state`;
  }

  availability(deviceId: string): string {
    return `${this.base}/devices/${assertDeviceId(deviceId)}/availability`;
  }

  /** Retained DeviceMeta, published by the agent that owns the device. */
  meta(deviceId: string): string {
    return `${this.base}/devices/${assertDeviceId(deviceId)}/meta`;
  }

  /** EnergyHistory batches a backfill read from the device (QoS 1, not retained). */
  history(deviceId: string): string {
    return `${this.base}/devices/${assertDeviceId(deviceId)}/history`;
  }

  deviceRequest(deviceId: string, method: string): string {
    return `${this.base}/devices/${assertDeviceId(deviceId)}/req/${assertSegment(method, 'method')}`;
  }

  queryRequest(method: string): string {
    return `${this.base}/query/req/${assertSegment(method, 'method')}`;
  }

  /** Where the requester `requesterId` receives the answer to request `requestId`. */
  reply(requesterId: string, requestId: string): string {
    return `${this.base}/replies/${assertSegment(requesterId, 'requester id')}/${assertSegment(requestId, 'request id')}`;
  }

  /** The filter a requester subscribes to for all of its replies. */
  replies(requesterId: string): string {
    return `${this.base}/replies/${assertSegment(requesterId, 'requester id')}/+`;
  }

  /** True when `topic` is a reply topic under this base (requests may only ask for replies there). */
  isReplyTopic(topic: string): boolean {
    const prefix = `${this.base}/replies/`;
    if (!topic.startsWith(prefix)) return false;
    const rest = topic.slice(prefix.length).split('/');
    return (
      rest.length === 2 && rest.every((segment) => segment.length > 0 && !SEGMENT_FORBIDDEN.test(segment))
    );
  }

  alert(kind: string, subject: string): string {
    return `${this.base}/alerts/${assertSegment(kind, 'alert kind')}/${assertSegment(subject, 'alert subject')}`;
  }

  /**
   * A client's own probe topic: it checks that its share group delivers (through
   * `$share/<group>/` + this topic) and marks the end of its queue when it leaves a group.
   */
  probe(clientId: string): string {
    return `${this.base}/probe/${assertSegment(clientId, 'client id')}`;
  }

  deadLetter(service: string): string {
    return `${this.base}/deadletter/${assertSegment(service, 'service name')}`;
  }

  /** `wattbus/devices/+/readings` and friends, for subscribers of every device. */
  allDevices(kind: DeviceTopicKind): string {
    return `${this.base}/devices/+/${kind}`;
  }

  /**
   * Whether `topic` is exactly `{base}/devices/{deviceId}/{kind}` (what `readings(deviceId)` and
   * friends build), compared in place: a check made for every reading, cheaper than parsing.
   */
  isDeviceTopic(topic: string, deviceId: string, kind: DeviceTopicKind): boolean {
    const idStart = this.base.length + DEVICES_LEVEL.length;
    return (
      topic.length === idStart + deviceId.length + 1 + kind.length &&
      topic.startsWith(this.base) &&
      topic.startsWith(DEVICES_LEVEL, this.base.length) &&
      topic.startsWith(deviceId, idStart) &&
      topic.startsWith(`/${kind}`, idStart + deviceId.length)
    );
  }

  /** Splits `wattbus/devices/{id}/{kind}`; null for any other topic or an invalid id. */
  parseDeviceTopic(topic: string): { deviceId: string; kind: DeviceTopicKind } | null {
    const prefix = `${this.base}/devices/`;
    if (!topic.startsWith(prefix)) return null;
    const [deviceId, kind, ...rest] = topic.slice(prefix.length).split('/');
    if (rest.length > 0 || deviceId === undefined || !isDeviceId(deviceId)) return null;
    if (!DEVICE_TOPIC_KINDS.includes(kind as DeviceTopicKind)) return null;
    return { deviceId, kind: kind as DeviceTopicKind };
  }
}
