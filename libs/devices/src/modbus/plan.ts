import { registerCount } from './profile-schema.js';
import type { MeterRegister } from './profiles.js';

/** Modbus allows at most 125 registers in one read response. */
export const MAX_REGISTERS_PER_READ = 125;

/** One read request: a run of registers of one function code, and the profile registers it holds. */
export interface ReadBlock {
  function: 3 | 4;
  address: number;
  count: number;
  registers: MeterRegister[];
}

/**
 * Groups registers into as few reads as possible: same function code, contiguous (or at most
 * `maxGap` unused registers apart), at most 125 registers per read.
 */
export function planReads(registers: readonly MeterRegister[], maxGap = 0): ReadBlock[] {
  const sorted = [...registers].sort((a, b) => a.function - b.function || a.address - b.address);
  const blocks: ReadBlock[] = [];
  let current: ReadBlock | undefined;
  for (const register of sorted) {
    const end = register.address + registerCount(register.type);
    if (
      current &&
      current.function === register.function &&
      register.address <= current.address + current.count + maxGap &&
      Math.max(end, current.address + current.count) - current.address <= MAX_REGISTERS_PER_READ
    ) {
      current.count = Math.max(end, current.address + current.count) - current.address;
      current.registers.push(register);
      continue;
    }
    current = {
      function: register.function,
      address: register.address,
      count: end - register.address,
      registers: [register],
    };
    blocks.push(current);
  }
  return blocks;
}
