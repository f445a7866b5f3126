import {
  RequestEnvelopeSchema,
  WattbusError,
  formatErrors,
  validator,
  type DeadLetter,
  type RequestEnvelope,
  type Topics,
} from '@wattbus/contracts';
import type { IPublishPacket } from 'mqtt';

/**
 * What an incoming request is, before any handler sees it:
 * - `request`: a valid envelope and the topic its answer goes to;
 * - `refused`: malformed, but with a usable reply address: answered with `error`;
 * - `dead`: malformed and unanswerable: dead-lettered with `reason` and `message`.
 */
export type RequestIntake =
  | { kind: 'request'; envelope: RequestEnvelope; replyTo: string }
  | { kind: 'refused'; id: string; replyTo: string; error: WattbusError }
  | { kind: 'dead'; reason: DeadLetter['reason']; message: string };

const checkEnvelope = validator(RequestEnvelopeSchema);
const ID_PATTERN = /^[^+#/]{1,128}$/;

/**
 * The one rule for where an answer goes (docs/topics.md, "Requests and replies"):
 * - MQTT 5: a Response Topic wins over the payload's `reply_to`, and with Correlation Data it
 *   suffices: `id` and `reply_to` may be left out of the payload (the id is then the Correlation
 *   Data as text). A Response Topic outside `<base>/replies/` is refused, naming it.
 * - MQTT 3.1.1: the envelope's `reply_to` (under `<base>/replies/`) and `id`.
 * A malformed request is answered with INVALID_REQUEST wherever a usable address exists, and
 * dead-lettered only when none does.
 */
export function takeRequest(payload: Buffer, packet: IPublishPacket, topics: Topics): RequestIntake {
  const responseTopic = packet.properties?.responseTopic;
  const correlationId = idOfCorrelationData(packet.properties?.correlationData);
  let body: unknown;
  let unparsable: string | undefined;
  try {
    body = payload.length === 0 ? undefined : JSON.parse(payload.toString('utf8'));
  } catch (error) {
    unparsable = `not JSON: ${(error as Error).message}`;
  }
  const fields = isObject(body) ? body : {};
  const payloadReplyTo = typeof fields.reply_to === 'string' ? fields.reply_to : undefined;
  const payloadId = typeof fields.id === 'string' && ID_PATTERN.test(fields.id) ? fields.id : undefined;

  const usable = (topic: string | undefined) =>
    topic !== undefined && topics.isReplyTopic(topic) ? topic : undefined;
  const replyTo = responseTopic === undefined ? usable(payloadReplyTo) : usable(responseTopic);
  const refuse = (
    reason: DeadLetter['reason'],
    message: string,
    address = replyTo,
    details?: unknown,
  ): RequestIntake =>
    address === undefined
      ? { kind: 'dead', reason, message }
      : {
          kind: 'refused',
          id: payloadId ?? correlationId ?? lastLevel(address),
          replyTo: address,
          error: new WattbusError('INVALID_REQUEST', message, details),
        };

  if (responseTopic !== undefined && replyTo === undefined) {
    // Answer the refusal where the payload asked, if it can be answered there at all.
    const message = `the MQTT 5 Response Topic ${JSON.stringify(responseTopic)} is not a reply topic under ${topics.base}/replies/`;
    return refuse('rejected', message, usable(payloadReplyTo));
  }
  if (unparsable !== undefined) return refuse('unparsable', unparsable);
  if (body === undefined) return refuse('schema', 'empty payload: a request is a JSON envelope');
  if (replyTo === undefined) {
    const message =
      payloadReplyTo === undefined
        ? `no reply address: the request has no reply_to (nor, on MQTT 5, a Response Topic)`
        : `reply_to ${JSON.stringify(payloadReplyTo)} is not a reply topic under ${topics.base}/replies/`;
    return { kind: 'dead', reason: 'rejected', message };
  }
  // On MQTT 5 the properties stand in for what the payload leaves out; the Response Topic wins.
  const candidate = isObject(body)
    ? {
        ...body,
        reply_to: replyTo,
        ...(body.id === undefined && correlationId !== undefined ? { id: correlationId } : {}),
      }
    : body;
  if (!checkEnvelope(candidate)) {
    const errors = checkEnvelope.errors();
    return refuse('schema', `invalid request envelope: ${formatErrors(errors)}`, replyTo, {
      errors: errors.map((error) => ({ path: error.instancePath || '/', message: error.message })),
    });
  }
  return { kind: 'request', envelope: candidate, replyTo };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Correlation Data as an id: its text when that is a valid id, else its hex. */
function idOfCorrelationData(data: Buffer | undefined): string | undefined {
  if (data === undefined || data.length === 0) return undefined;
  const text = data.toString('utf8');
  if (ID_PATTERN.test(text) && Buffer.from(text, 'utf8').equals(data) && !/\p{Cc}/u.test(text)) return text;
  return data.toString('hex').slice(0, 128);
}

function lastLevel(topic: string): string {
  return topic.slice(topic.lastIndexOf('/') + 1) || 'unknown';
}
