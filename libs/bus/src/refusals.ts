import { ReasonCodes } from 'mqtt';
import { BusRefusedError } from './errors.js';

/**
 * Turns the broker's reason codes into sentences that say what to fix. Codes: MQTT 3.1.1 CONNACK
 * return codes 1–5; MQTT 5 reason codes 0x80 and up (CONNACK, SUBACK, PUBACK, DISCONNECT).
 */

/** Refused credentials: 3.1.1 4 (bad user name or password), 5 (not authorised); MQTT 5 134, 135. */
const NOT_AUTHORISED = new Set([4, 5, 134, 135]);
/** "I do not speak that protocol version": 3.1.1 1, MQTT 5 132. */
const UNSUPPORTED_PROTOCOL = new Set([1, 132]);
const MQTT5_NOT_AUTHORISED = 135;
/** MQTT 5 0x9E: a DISCONNECT or SUBACK reason (ejabberd disconnects a `$share` subscriber with it). */
export const SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 158;
const NO_SHARED_SUBSCRIPTIONS = 'this broker does not support shared subscriptions';

export function isNotAuthorised(code: number): boolean {
  return NOT_AUTHORISED.has(code);
}

export function isUnsupportedProtocol(code: number): boolean {
  return UNSUPPORTED_PROTOCOL.has(code);
}

/** `135 Not authorized`, as the broker's packet says it. */
function codeText(code: number): string {
  const text = (ReasonCodes as Record<number, string | undefined>)[code];
  return `${code}${text ? ` ${text}` : ''}`;
}

/** How log lines and errors name the client's identity (never its password). */
export function userLabel(username: string | undefined): string {
  return username === undefined ? 'anonymous clients (no user name given)' : `user '${username}'`;
}

/** A CONNACK refusal: "not authorised: …" for refused credentials, else the broker's reason. */
export function describeConnackRefusal(code: number, username: string | undefined): string {
  if (isNotAuthorised(code)) {
    return `not authorised: the broker refused ${userLabel(username)} (CONNACK ${codeText(code)}); check the user name and password`;
  }
  return `the broker refused the connection (CONNACK ${codeText(code)})`;
}

/** A DISCONNECT the broker sent us (MQTT 5 only: 3.1.1 brokers just close the connection). */
export function describeDisconnect(code: number, username: string | undefined): string {
  if (code === MQTT5_NOT_AUTHORISED) {
    return `not authorised: the broker disconnected ${userLabel(username)} (DISCONNECT ${codeText(code)}); its ACL forbids something this client did`;
  }
  if (code === SHARED_SUBSCRIPTIONS_NOT_SUPPORTED) {
    return `${NO_SHARED_SUBSCRIPTIONS} (DISCONNECT ${codeText(code)}); unset share_group`;
  }
  return `the broker disconnected us (DISCONNECT ${codeText(code)})`;
}

/**
 * A refused SUBACK or PUBACK (code 0x80 and up) as a BusRefusedError naming the topic, the user
 * and the ACL; any other error is returned unchanged.
 */
export function refusalOf(
  operation: 'subscribe' | 'publish',
  topic: string,
  error: unknown,
  username: string | undefined,
): unknown {
  const code = ackCode(error);
  if (code === undefined || code < 0x80) return error;
  const what = operation === 'subscribe' ? `a subscription to '${topic}'` : `a publish to '${topic}'`;
  const ack = `${operation === 'subscribe' ? 'SUBACK' : 'PUBACK'} 0x${code.toString(16)} ${codeText(code).replace(/^\d+ ?/, '')}`;
  const lead =
    code === MQTT5_NOT_AUTHORISED
      ? 'not authorised: '
      : code === SHARED_SUBSCRIPTIONS_NOT_SUPPORTED
        ? `${NO_SHARED_SUBSCRIPTIONS}: `
        : '';
  // 0x80 is all an MQTT 3.1.1 broker can answer a forbidden subscription with.
  const why = code === MQTT5_NOT_AUTHORISED || code === 0x80 ? '; its ACL does not allow it' : '';
  return new BusRefusedError(
    operation,
    topic,
    code,
    `${lead}the broker refused ${what} by ${userLabel(username)} (${ack})${why}`,
  );
}

/** The reason code of a refused ack: a PUBACK error's `code`, a SUBACK error's refused `granted` entry. */
function ackCode(error: unknown): number | undefined {
  const { code, packet } = (error ?? {}) as { code?: unknown; packet?: { granted?: unknown[] } };
  if (typeof code === 'number') return code;
  return packet?.granted?.find(
    (granted): granted is number => typeof granted === 'number' && granted >= 0x80,
  );
}
