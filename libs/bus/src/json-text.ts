/**
 * A request's result as JSON text that its responder wrote itself (the query component's day of
 * readings, ~70 KB): sent in the response envelope as it is and, to a requester that asks with
 * `raw`, handed over as these bytes, so a gateway can write it to HTTP without parsing and
 * encoding it again. A responder that returns one vouches that the text is the method's result
 * as its contract describes it (its tests check that), since a raw requester never looks inside.
 */
export class JsonText {
  readonly bytes: Buffer;

  constructor(text: string | Buffer) {
    this.bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  }

  /** The value, for a requester that needs it after all (and for tests). */
  parse(): unknown {
    return JSON.parse(this.bytes.toString('utf8'));
  }
}

const RESULT_KEY = Buffer.from(',"result":');
const CLOSE = Buffer.from('}');
const MAX_DIGITS = 10;

/**
 * MQTT 5 user property of a request whose requester takes a JsonText result as bytes. Only such a
 * request gets `result_bytes` in its answer: a requester that checks the envelope against the
 * contract of an earlier release (which had no `result_bytes`) never sees it. Over MQTT 3.1.1
 * there are no user properties; a raw requester then gets the usual envelope and parses it.
 */
export const RESULT_BYTES_WANTED = { name: 'wattbus-result-bytes', value: '1' } as const;

/**
 * The success envelope of a JsonText result. With `withLength` (the requester asked, see
 * RESULT_BYTES_WANTED) `{"id":…,"ok":true,"result_bytes":N,"result":…}`: `result_bytes` (the
 * text's length in bytes) ahead of `result`, and `result` last, so that a requester can find the
 * result's bytes from the first few bytes of the message; without, `{"id":…,"ok":true,"result":…}`.
 */
export function successWithText(id: string, result: JsonText, withLength: boolean): Buffer {
  const length = withLength ? `,"result_bytes":${result.bytes.length}` : '';
  const head = `{"id":${JSON.stringify(id)},"ok":true${length}`;
  return Buffer.concat([Buffer.from(head), RESULT_KEY, result.bytes, CLOSE]);
}

/**
 * The result of an answer to request `id` laid out as successWithText writes it, without parsing
 * the envelope: the prefix matched byte for byte and `result_bytes` accounting for every byte up
 * to the closing brace. Undefined for any other answer (an error, a result without
 * `result_bytes`, another layout), which the requester then parses and checks as usual.
 */
export function textOfSuccess(payload: Buffer, id: string): JsonText | undefined {
  const head = Buffer.from(`{"id":${JSON.stringify(id)},"ok":true,"result_bytes":`);
  if (payload.length < head.length + 1 + RESULT_KEY.length + 1) return undefined;
  if (payload.compare(head, 0, head.length, 0, head.length) !== 0) return undefined;
  let at = head.length;
  let bytes = 0;
  while (at < payload.length && at - head.length < MAX_DIGITS && isDigit(payload[at]!)) {
    bytes = bytes * 10 + payload[at]! - 0x30;
    at++;
  }
  if (at === head.length) return undefined;
  const start = at + RESULT_KEY.length;
  if (start + bytes + 1 !== payload.length || payload[payload.length - 1] !== 0x7d) return undefined;
  if (payload.compare(RESULT_KEY, 0, RESULT_KEY.length, at, start) !== 0) return undefined;
  return new JsonText(payload.subarray(start, start + bytes));
}

function isDigit(byte: number): boolean {
  return byte >= 0x30 && byte <= 0x39;
}
