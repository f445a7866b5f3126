import { WattbusError } from '@wattbus/contracts';
import type { DeviceDriver } from '@wattbus/devices';

export interface SwitchOutcome {
  /** The state the device is in, as far as it can be known. */
  on: boolean;
  /** The command failed (say, its answer was lost) but the state read afterwards shows it acted. */
  commandLost?: WattbusError;
  /** The device acknowledged the command but could not be read back: `on` is what it acknowledged. */
  readBackFailed?: WattbusError;
}

/** Reads of the state after a command before giving up: one retry covers a dropped answer. */
const STATE_READS = 2;

/**
 * Switches and confirms from a fresh state read, so the answer is the device's real state: a
 * command that reached the device and acted is a success even when its own answer was lost or
 * the first read-back failed. It throws the command's error only when the command failed and
 * the device, read afterwards, is not in the commanded state (or cannot be read). A state that
 * disagrees after an acknowledged command is returned as it is: the caller says so.
 */
export async function switchAndConfirm(driver: DeviceDriver, on: boolean): Promise<SwitchOutcome> {
  let commandError: WattbusError | undefined;
  try {
    await driver.setPower(on);
  } catch (error) {
    commandError = asWattbusError(error);
  }
  let readError: WattbusError | undefined;
  for (let attempt = 0; attempt < STATE_READS; attempt++) {
    let state;
    try {
      state = await driver.getState();
    } catch (error) {
      readError = asWattbusError(error);
      continue;
    }
    if (!commandError) return { on: state.on };
    if (state.on === on) return { on: state.on, commandLost: commandError };
    throw commandError;
  }
  if (commandError) throw commandError;
  return { on, readBackFailed: readError };
}

function asWattbusError(error: unknown): WattbusError {
  return error instanceof WattbusError ? error : new WattbusError('DEVICE_ERROR', String(error));
}
