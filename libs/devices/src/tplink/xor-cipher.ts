/**
 * The framing and "encryption" of Kasa's original local protocol (TCP port 9999), shared by the
 * driver and the simulated plug. As softScheck documented it (github.com/softScheck/tplink-smartplug,
 * tplink_smartplug.py) and python-kasa implements it (kasa/transports/xortransport.py,
 * `XorEncryption`): each message is a 4-byte big-endian length, then the JSON text XOR'ed with an
 * autokey cipher whose key starts at 171 and is then the previous ciphertext byte. The length
 * counts the bytes after the prefix. UDP discovery (not here) uses the same cipher without prefix.
 */

export const XOR_INITIAL_KEY = 171;
export const XOR_PREFIX_BYTES = 4;

/** One message ready for the socket: the length prefix and the enciphered UTF-8 of `text`. */
export function xorFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const frame = Buffer.allocUnsafe(XOR_PREFIX_BYTES + length);
  frame.writeUInt32BE(length, 0);
  frame.write(text, XOR_PREFIX_BYTES, 'utf8');
  let key = XOR_INITIAL_KEY;
  for (let i = XOR_PREFIX_BYTES; i < frame.length; i++) {
    key ^= frame[i]!;
    frame[i] = key;
  }
  return frame;
}

/** The text of one message's payload (the bytes after the prefix); `payload` is deciphered in place. */
export function xorOpen(payload: Buffer): string {
  let key = XOR_INITIAL_KEY;
  for (let i = 0; i < payload.length; i++) {
    const cipher = payload[i]!;
    payload[i] = cipher ^ key;
    key = cipher;
  }
  return payload.toString('utf8');
}

/**
 * Cuts whole messages out of a TCP byte stream, however the stream splits or joins them.
 * `push` returns the payloads complete so far (still enciphered, for `xorOpen`).
 */
export class XorFrameReader {
  #pending: Buffer | undefined;
  #maxBytes: number;

  /** A message announcing more than `maxBytes` makes `push` throw: no plug sends that much. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes of an unfinished message held. */
  get buffered(): number {
    return this.#pending?.length ?? 0;
  }

  push(chunk: Buffer): Buffer[] {
    let data = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = undefined;
    const payloads: Buffer[] = [];
    while (data.length >= XOR_PREFIX_BYTES) {
      const length = data.readUInt32BE(0);
      if (length > this.#maxBytes) {
        throw new RangeError(`a message of ${length} bytes (at most ${this.#maxBytes} expected)`);
      }
      const end = XOR_PREFIX_BYTES + length;
      if (data.length < end) break;
      payloads.push(data.subarray(XOR_PREFIX_BYTES, end));
      data = data.subarray(end);
    }
    if (data.length > 0) this.#pending = data;
    return payloads;
  }

  reset(): void {
    this.#pending = undefined;
  }
}
