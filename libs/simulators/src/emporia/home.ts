/**
 * The emulated account's devices and what they draw. Power is constant within each UTC minute and
 * varies from minute to minute by a fixed pattern, so every scale's energy is the exact integral
 * of the same function: an hour is the sum of its 60 minutes, a 1-minute usage at any instant is
 * the overlap-weighted sum of the minutes it spans.
 */
export interface EmulatedChannel {
  deviceGid: number;
  /** `1,2,3` (mains), `1`…`16` (branch circuits) or `Balance`. */
  channelNum: string;
  name: string | null;
}

export interface EmulatedDevice {
  deviceGid: number;
  model: string;
  name: string;
  /** For a smart plug: the Vue and channel it is nested under. */
  parent?: { deviceGid: number; channelNum: string };
  channels: EmulatedChannel[];
}

export const CIRCUIT_NAMES = [
  'Kitchen',
  'Dryer',
  'Washer',
  'Oven',
  'Dishwasher',
  'Furnace',
  'Water Heater',
  'Living Room',
  'Bedrooms',
  'Garage',
  'Office',
  'Bathroom',
  'Heat Pump',
  'Fridge',
  'Lighting',
  null,
] as const;

const MINUTE_MS = 60_000;
/** Power the mains see beyond the 16 circuits, W: what Emporia's computed Balance shows. */
const UNMONITORED_W = 150;

export class EmulatedHome {
  readonly vueGid: number;
  readonly plugGid: number;
  readonly devices: EmulatedDevice[];

  constructor(vueGid = 1001, plugGid = 1002) {
    this.vueGid = vueGid;
    this.plugGid = plugGid;
    const circuits = CIRCUIT_NAMES.map((name, index) => ({
      deviceGid: vueGid,
      channelNum: String(index + 1),
      name,
    }));
    this.devices = [
      {
        deviceGid: vueGid,
        model: 'VUE002',
        name: 'Home',
        channels: [{ deviceGid: vueGid, channelNum: '1,2,3', name: null }, ...circuits],
      },
      {
        deviceGid: plugGid,
        model: 'SSO001',
        name: 'Aquarium',
        parent: { deviceGid: vueGid, channelNum: '1,2,3' },
        channels: [{ deviceGid: plugGid, channelNum: '1,2,3', name: null }],
      },
    ];
  }

  /** Average power of a channel within the UTC minute `minute` (minutes since the epoch), W. */
  powerW(deviceGid: number, channelNum: string, minute: number): number {
    const swing = (offset: number) => 1 + (((minute + offset) % 10) - 4.5) / 45; // 0.9 … 1.1
    if (deviceGid === this.plugGid) return 55 * swing(3);
    if (deviceGid !== this.vueGid) return 0;
    const circuit = (n: number) => (40 + 37 * n) * swing(n);
    if (channelNum === 'Balance') return UNMONITORED_W * swing(0);
    if (channelNum === '1,2,3') {
      let sum = UNMONITORED_W * swing(0);
      for (let n = 1; n <= 16; n++) sum += circuit(n);
      return sum;
    }
    const n = Number(channelNum);
    return Number.isInteger(n) && n >= 1 && n <= 16 ? circuit(n) : 0;
  }

  /** Energy of a channel over [fromMs, toMs), kWh: the sum over the minutes it overlaps. */
  energyKwh(deviceGid: number, channelNum: string, fromMs: number, toMs: number): number {
    let wattMs = 0;
    for (let minute = Math.floor(fromMs / MINUTE_MS); minute * MINUTE_MS < toMs; minute++) {
      const overlap = Math.min(toMs, (minute + 1) * MINUTE_MS) - Math.max(fromMs, minute * MINUTE_MS);
      if (overlap > 0) wattMs += this.powerW(deviceGid, channelNum, minute) * overlap;
    }
    return wattMs / 3_600_000 / 1000;
  }
}
