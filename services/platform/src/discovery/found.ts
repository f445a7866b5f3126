/** One device discovery found, ready to become a devices-file entry. */
export interface FoundDevice {
  type: 'tplink' | 'shelly' | 'modbus';
  /** What the device calls itself (alias), else its model: the source of the proposed id. */
  name: string;
  model: string;
  /** host:port, as it was reached. */
  address: string;
  /** Channels, outlets or phases, and what it measures, for the printed list. */
  details: string;
  credentialsNeeded: boolean;
  kind: 'appliance' | 'meter';
  /** The entry's `connection:` section. */
  connection: Record<string, unknown>;
}
