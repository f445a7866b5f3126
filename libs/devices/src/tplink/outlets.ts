import { WattbusError } from '@wattbus/contracts';
import type { DriverDescription, DriverReading, DriverState } from '../driver.js';
import type { HistoryBatch, HistoryRange } from '../history.js';

/** Which outlet of a power strip a registry entry is: its number (1-based, as printed) or its child id. */
export interface OutletSelector {
  outlet?: number;
  child_id?: string;
}

/** One outlet as a strip lists it. */
export interface Outlet {
  number: number;
  id: string;
  alias: string;
  on: boolean;
  stateKnown: boolean;
}

/** A TP-Link request set (Kasa "IOT" or Tapo "SMART") over some transport, for one plug or one outlet. */
export interface RequestSet {
  read(): Promise<DriverReading>;
  setPower(on: boolean): Promise<void>;
  getState(): Promise<DriverState>;
  describe(): Promise<DriverDescription>;
  /** The energy history the device keeps, where this request set can read it (Kasa's emeter stats). */
  history?(
    range: HistoryRange,
    guard: <T>(work: () => Promise<T>) => Promise<T>,
  ): AsyncIterable<HistoryBatch>;
}

/**
 * The outlet a selector names. A child id matches in full or by its ending (the app and the
 * strip's UDP answers show only the last two digits). A strip that lists fewer outlets than the
 * entry names is DEVICE_ERROR saying how many it has.
 */
export function pickOutlet(outlets: readonly Outlet[], selector: OutletSelector, where: string): Outlet {
  if (outlets.length === 0) {
    throw new WattbusError(
      'DEVICE_ERROR',
      `${where} lists no outlets: it is not a power strip; remove 'outlet'/'child_id' from its entry`,
    );
  }
  let found: Outlet | undefined;
  let wanted: string;
  if (selector.child_id !== undefined) {
    const id = selector.child_id;
    wanted = `child_id '${id}'`;
    found =
      outlets.find((outlet) => outlet.id === id) ??
      outlets.find((outlet) => id.length <= 2 && outlet.id.endsWith(id));
  } else {
    const number = selector.outlet ?? 1;
    wanted = `outlet ${number}`;
    found = outlets[number - 1];
  }
  if (!found) {
    throw new WattbusError(
      'DEVICE_ERROR',
      `${where} lists ${outlets.length} outlet(s) (${outlets.map((outlet) => outlet.id).join(', ')}), none is ${wanted}`,
      { outlets: outlets.length },
    );
  }
  if (!found.stateKnown)
    throw new WattbusError('DEVICE_ERROR', `${where} reported no relay state for outlet ${found.number}`);
  return found;
}
