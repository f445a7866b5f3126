import { MAX_REGISTERS_PER_READ, registerCount } from './profile-schema.js';
import type { MeterRegister } from './profiles.js';

export { MAX_REGISTERS_PER_READ };

/** One read request: a run of registers of one function code, and the profile registers it holds. */
export interface ReadBlock {
  function: 3 | 4;
  address: number;
  count: number;
  registers: MeterRegister[];
}

/**
 * Groups registers into as few reads as possible: same function code, contiguous (or at most
 * `maxGap` unused registers apart), at most `maxPerRead` registers per read (the meter's limit,
 * never more than Modbus's 125).
 */
export function planReads(
  registers: readonly MeterRegister[],
  maxGap = 0,
  maxPerRead = MAX_REGISTERS_PER_READ,
): ReadBlock[] {
  const limit = Math.min(maxPerRead, MAX_REGISTERS_PER_READ);
  const sorted = [...registers].sort((a, b) => a.function - b.function || a.address - b.address);
  const blocks: ReadBlock[] = [];
  let current: ReadBlock | undefined;
  for (const register of sorted) {
    const end = register.address + registerCount(register.type);
    if (
      current &&
      current.function === register.function &&
      register.address <= current.address + current.count + maxGap &&
      Math.max(end, current.address + current.count) - current.address <= limit
    ) {
      current.count = Math.max(end, current.address + current.count) - current.address;
      current.registers.push(register);
      continue;
    }
    current = blockOf(register.function, [register]);
    blocks.push(current);
  }
  return blocks;
}

/**
 * Splits a read the meter refused in two, at the widest gap between its registers (a strict meter
 * may refuse reading across undefined registers), else in the middle. Undefined for a read of one
 * register: it cannot be made smaller.
 */
export function splitBlock(block: ReadBlock): [ReadBlock, ReadBlock] | undefined {
  const registers = block.registers;
  if (registers.length < 2) return undefined;
  let at = Math.floor(registers.length / 2);
  let widest = 0;
  for (let index = 1; index < registers.length; index++) {
    const previous = registers[index - 1]!;
    const gap = registers[index]!.address - (previous.address + registerCount(previous.type));
    if (gap > widest) [widest, at] = [gap, index];
  }
  return [blockOf(block.function, registers.slice(0, at)), blockOf(block.function, registers.slice(at))];
}

/** The read covering `registers` (sorted by address, one function code). */
function blockOf(fc: 3 | 4, registers: MeterRegister[]): ReadBlock {
  const address = registers[0]!.address;
  const end = Math.max(...registers.map((register) => register.address + registerCount(register.type)));
  return { function: fc, address, count: end - address, registers };
}
