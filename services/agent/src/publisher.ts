import type { Bus } from '@wattbus/bus';
import {
  DeviceMetaSchema,
  DeviceStateSchema,
  ReadingSchema,
  WattbusError,
  validator,
  type Availability,
  type DeviceMeta,
  type DeviceState,
  type Reading,
  type ReadingLimits,
} from '@wattbus/contracts';
import type { ReadingValues, RegistryDevice } from '@wattbus/devices';

const checkReading = validator(ReadingSchema);
const checkState = validator(DeviceStateSchema);
const checkMeta = validator(DeviceMetaSchema);

/**
 * How long a reading may wait to leave with others in one write to the broker: an agent polling
 * 1,000 plugs on a spread grid otherwise writes to its socket once per reading (bench/collector).
 * Its `ts` is taken before, so only delivery is later, by at most this.
 */
export const READING_LINGER_MS = 20;

/**
 * Everything the agent says about a device, on the contract's topics: readings (QoS 1, not
 * retained), and retained state, availability and meta. Payloads are checked against the
 * contract schemas before they leave, so a driver bug never reaches a subscriber.
 */
export class DevicePublisher {
  #bus: Bus;

  constructor(deps: { bus: Bus }) {
    this.#bus = deps.bus;
  }

  /** Builds and checks the readings first; throws DEVICE_ERROR when the driver's values break the schema. */
  readingsOf(device: RegistryDevice, values: readonly ReadingValues[], ts: Date): Reading[] {
    return values.map((value) => {
      const reading = {
        ts: ts.toISOString(),
        device: device.id,
        ...value,
        type: device.type,
        location: device.location,
      };
      if (!checkReading(reading)) {
        throw new WattbusError(
          'DEVICE_ERROR',
          `${device.id} sent values outside the reading schema: ${checkReading.errorText()}`,
          { values: value },
        );
      }
      return reading;
    });
  }

  async readings(readings: readonly Reading[]): Promise<void> {
    await Promise.all(
      readings.map((reading) =>
        this.#bus.publish(this.#bus.topics.readings(reading.device), reading, {
          qos: 1,
          retain: false,
          lingerMs: READING_LINGER_MS,
        }),
      ),
    );
  }

  async state(device: RegistryDevice, on: boolean, ts = new Date()): Promise<DeviceState> {
    const state: DeviceState = { on, ts: ts.toISOString() };
    if (!checkState(state)) throw new Error(`state of ${device.id}: ${checkState.errorText()}`);
    await this.#bus.publish(this.#bus.topics.state(device.id), state, { qos: 1, retain: true });
    return state;
  }

  async availability(device: RegistryDevice, availability: Availability): Promise<void> {
    await this.#bus.publish(this.#bus.topics.availability(device.id), availability, { qos: 1, retain: true });
  }

  /** Retained meta; `limits` are the plausibility limits its readings are checked against. */
  async meta(device: RegistryDevice, known: { model?: string; limits?: ReadingLimits } = {}): Promise<void> {
    const { model, limits } = known;
    const meta: DeviceMeta = {
      id: device.id,
      name: device.name,
      type: device.type,
      kind: device.kind,
      location: device.location,
      poll_interval_ms: device.poll_interval_ms,
      ...(model ? { model: model.slice(0, 128) } : {}),
      ...(limits && Object.keys(limits).length > 0 ? { limits } : {}),
      ts: new Date().toISOString(),
    };
    if (!checkMeta(meta)) throw new Error(`meta of ${device.id}: ${checkMeta.errorText()}`);
    await this.#bus.publish(this.#bus.topics.meta(device.id), meta, { qos: 1, retain: true });
  }
}
