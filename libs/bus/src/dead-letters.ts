import type { DeadLetter } from '@wattbus/contracts';

/** Keeps a dead-letter record small and readable: the payload as text, cut at 4 KiB. */
const MAX_PAYLOAD_TEXT = 4096;

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
