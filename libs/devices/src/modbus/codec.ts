import type { DataType, WordOrder } from './profile-schema.js';
import type { MeterRegister } from './profiles.js';

/** The raw number in `words` (16-bit register values as read), per data type and word order. */
export function decodeWords(words: readonly number[], type: DataType, wordOrder: WordOrder): number {
  const buffer = Buffer.alloc(4);
  if (type === 'u16' || type === 's16') {
    buffer.writeUInt16BE(words[0] ?? 0, 0);
    return type === 'u16' ? buffer.readUInt16BE(0) : buffer.readInt16BE(0);
  }
  const [first = 0, second = 0] = words;
  const [high, low] = wordOrder === 'big' ? [first, second] : [second, first];
  buffer.writeUInt16BE(high, 0);
  buffer.writeUInt16BE(low, 2);
  if (type === 'u32') return buffer.readUInt32BE(0);
  if (type === 's32') return buffer.readInt32BE(0);
  return buffer.readFloatBE(0);
}

/** The registers that hold `raw`; integers are rounded and must fit the type. */
export function encodeWords(raw: number, type: DataType, wordOrder: WordOrder): number[] {
  const buffer = Buffer.alloc(4);
  switch (type) {
    case 'u16':
      buffer.writeUInt16BE(Math.round(raw), 0);
      return [buffer.readUInt16BE(0)];
    case 's16':
      buffer.writeInt16BE(Math.round(raw), 0);
      return [buffer.readUInt16BE(0)];
    case 'u32':
      buffer.writeUInt32BE(Math.round(raw), 0);
      break;
    case 's32':
      buffer.writeInt32BE(Math.round(raw), 0);
      break;
    case 'float32':
      buffer.writeFloatBE(raw, 0);
      break;
  }
  const high = buffer.readUInt16BE(0);
  const low = buffer.readUInt16BE(2);
  return wordOrder === 'big' ? [high, low] : [low, high];
}

/**
 * The reading value of `register` from its raw words: float32 kept to its 7 significant digits
 * (229.8, not 229.8000030517578), then scaled into the field's unit and rounded to 6 decimals.
 */
export function registerValue(register: MeterRegister, words: readonly number[]): number {
  let raw = decodeWords(words, register.type, register.word_order);
  if (register.type === 'float32' && Number.isFinite(raw)) raw = Number(raw.toPrecision(7));
  return round6(raw * register.factor);
}

/** The words a meter holds for a reading value: the inverse of registerValue (for simulators and tests). */
export function registerWords(register: MeterRegister, value: number): number[] {
  return encodeWords(value / register.factor, register.type, register.word_order);
}

function round6(value: number): number {
  // toFixed, not Math.round(value * 1e6): large counters × 1e6 would pass 2^53.
  return Number(value.toFixed(6));
}
