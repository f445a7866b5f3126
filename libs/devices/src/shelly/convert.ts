import type { Static, TSchema } from '@sinclair/typebox';
import { WattbusError, formatErrors, validator } from '@wattbus/contracts';
import type { ReadingValues } from '../driver.js';
import {
  Gen1EmeterSchema,
  Gen1MeterSchema,
  Gen1RelaySchema,
  Gen1StatusSchema,
  Gen2Em1DataSchema,
  Gen2Em1StatusSchema,
  Gen2EmDataSchema,
  Gen2EmStatusSchema,
  Gen2SwitchOutputSchema,
  Gen2SwitchStatusSchema,
  PHASE_PREFIXES,
  SWITCH_METER_KEYS,
} from './schemas.js';

const PHASES = ['L1', 'L2', 'L3'] as const;

/**
 * Checks one device answer against its schema. A firmware that renamed or retyped a field gives
 * a DEVICE_ERROR naming the field (`/meters/0/power: must be number`), never a NaN downstream.
 */
export function checked<S extends TSchema>(
  schema: S,
  value: unknown,
  where: string,
  what: string,
): Static<S> {
  const check = validator(schema);
  if (check(value)) return value;
  throw new WattbusError(
    'DEVICE_ERROR',
    `${where} answered ${what} with an unexpected shape: ${check.errorText()}`,
    {
      answer: value,
    },
  );
}

/** Checks one list element; errors name it in full (`/meters/1/power: must be number`). */
function element<S extends TSchema>(
  schema: S,
  list: unknown[] | undefined,
  index: number,
  where: string,
  what: string,
  name: string,
): Static<S> | undefined {
  if (!list || index >= list.length) return undefined;
  const check = validator(schema);
  const value = list[index];
  if (check(value)) return value;
  const errors = formatErrors(
    check.errors().map((error) => ({ ...error, instancePath: `/${name}/${index}${error.instancePath}` })),
  );
  throw new WattbusError('DEVICE_ERROR', `${where} answered ${what} with an unexpected shape: ${errors}`, {
    answer: value,
  });
}

/** Six decimals: below any meter's resolution, and no `205.75000000000003` from unit arithmetic. */
export function round6(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

/** A measurement the device may leave out or send as null: left out of the reading then. */
function optional(value: number | null | undefined): number | undefined {
  return value === undefined || value === null ? undefined : round6(value);
}

export interface ShellySample {
  values: ReadingValues[];
  on?: boolean;
}

/** Gen1 relay device with a meter (Plug S, 1PM, 2.5): `meters[N].total` is watt-minutes, so Wh = total / 60. */
export function gen1SwitchSample(status: unknown, channel: number, where: string): ShellySample {
  const what = 'GET /status';
  const body = checked(Gen1StatusSchema, status, where, what);
  const meter = element(Gen1MeterSchema, body.meters, channel, where, what, 'meters');
  if (!meter) throw new WattbusError('DEVICE_ERROR', `${where} reports no meter ${channel} in /status`);
  if (meter.is_valid === false) {
    throw new WattbusError(
      'DEVICE_ERROR',
      `${where} reports meter ${channel} as not valid (is_valid: false)`,
    );
  }
  const relay = element(Gen1RelaySchema, body.relays, channel, where, what, 'relays');
  return {
    values: [{ power_w: round6(meter.power), energy_wh: round6(meter.total / 60) }],
    ...(relay ? { on: relay.ison } : {}),
  };
}

/**
 * Gen1 energy meter (EM, 3EM): `emeters[]` in Wh. Three emeters are the phases of a 3EM
 * (L1, L2, L3 plus a total without phase); otherwise `channel` picks one single-phase meter.
 * The 3EM's contactor relay is `relays[0]` whatever the channel.
 */
export function gen1EmeterSample(status: unknown, channel: number, where: string): ShellySample {
  const what = 'GET /status';
  const body = checked(Gen1StatusSchema, status, where, what);
  const emeters = body.emeters ?? [];
  const relay = element(Gen1RelaySchema, body.relays, 0, where, what, 'relays');
  const on = relay ? { on: relay.ison } : {};
  const one = (index: number): ReadingValues => {
    const meter = element(Gen1EmeterSchema, emeters, index, where, what, 'emeters');
    if (!meter) throw new WattbusError('DEVICE_ERROR', `${where} reports no emeter ${index} in /status`);
    if (meter.is_valid === false) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${where} reports emeter ${index} as not valid (is_valid: false)`,
      );
    }
    return withoutUndefined({
      power_w: round6(meter.power),
      voltage_v: optional(meter.voltage),
      current_a: optional(meter.current),
      power_factor: optional(meter.pf),
      energy_wh: round6(meter.total),
      energy_returned_wh: optional(meter.total_returned),
    });
  };
  if (emeters.length === 3) {
    const phases = PHASES.map((phase, index) => ({ ...one(index), phase }));
    return { values: [...phases, totalOf(phases)], ...on };
  }
  return { values: [one(channel)], ...on };
}

/**
 * Gen2+ `Switch.GetStatus`: `aenergy.total` is already Wh. A relay without a meter (Plus 1,
 * Pro 1) sends neither `apower` nor `aenergy`: its sample is the relay state and no reading.
 * One of the two without the other is a broken answer, named by the field it lacks.
 */
export function gen2SwitchSample(status: unknown, channel: number, where: string): ShellySample {
  const what = `Switch.GetStatus id=${channel}`;
  const relay = checked(Gen2SwitchOutputSchema, status, where, what);
  if (!SWITCH_METER_KEYS.some((key) => key in relay)) return { values: [], on: relay.output };
  const body = checked(Gen2SwitchStatusSchema, status, where, what);
  return {
    values: [
      withoutUndefined({
        power_w: round6(body.apower),
        voltage_v: optional(body.voltage),
        current_a: optional(body.current),
        power_factor: optional(body.pf),
        frequency_hz: optional(body.freq),
        energy_wh: round6(body.aenergy.total),
        energy_returned_wh: optional(body.ret_aenergy?.total),
      }),
    ],
    on: body.output,
  };
}

/** Gen2+ `Switch.GetStatus` as a relay state only: any switch, with a meter or without. */
export function gen2SwitchOn(status: unknown, channel: number, where: string): boolean {
  return checked(Gen2SwitchOutputSchema, status, where, `Switch.GetStatus id=${channel}`).output;
}

/** Pro 3EM (triphase): `EM.GetStatus` powers and `EMData.GetStatus` energies (Wh), per phase and in total. */
export function gen2EmSample(status: unknown, data: unknown, channel: number, where: string): ShellySample {
  const em = checked(Gen2EmStatusSchema, status, where, `EM.GetStatus id=${channel}`) as Record<
    string,
    number | null | undefined
  >;
  const energy = checked(Gen2EmDataSchema, data, where, `EMData.GetStatus id=${channel}`) as Record<
    string,
    number | null | undefined
  >;
  const phases = PHASE_PREFIXES.map((prefix, index) =>
    withoutUndefined({
      power_w: round6(em[`${prefix}_act_power`]!),
      voltage_v: optional(em[`${prefix}_voltage`]),
      current_a: optional(em[`${prefix}_current`]),
      power_factor: optional(em[`${prefix}_pf`]),
      frequency_hz: optional(em[`${prefix}_freq`]),
      energy_wh: round6(energy[`${prefix}_total_act_energy`]!),
      energy_returned_wh: optional(energy[`${prefix}_total_act_ret_energy`]),
      phase: PHASES[index]!,
    }),
  );
  const total = withoutUndefined({
    power_w: round6(em.total_act_power!),
    energy_wh: round6(energy.total_act!),
    energy_returned_wh: optional(energy.total_act_ret),
  });
  return { values: [...phases, total] };
}

/**
 * One single-phase meter channel (Pro EM, Pro 3EM in monophase profile): `EM1.GetStatus` and
 * `EM1Data.GetStatus` of the same id. `act_power` is negative when the channel exports.
 */
export function gen2Em1Sample(status: unknown, data: unknown, channel: number, where: string): ShellySample {
  const em1 = checked(Gen2Em1StatusSchema, status, where, `EM1.GetStatus id=${channel}`);
  const energy = checked(Gen2Em1DataSchema, data, where, `EM1Data.GetStatus id=${channel}`);
  return {
    values: [
      withoutUndefined({
        power_w: round6(em1.act_power),
        voltage_v: optional(em1.voltage),
        current_a: optional(em1.current),
        power_factor: optional(em1.pf),
        frequency_hz: optional(em1.freq),
        energy_wh: round6(energy.total_act_energy),
        energy_returned_wh: optional(energy.total_act_ret_energy),
      }),
    ],
  };
}

/** The total of a 3-phase meter: summed power and counters (returned energy when every phase has it), no phase tag. */
function totalOf(phases: ReadingValues[]): ReadingValues {
  const sum = (key: 'power_w' | 'energy_wh' | 'energy_returned_wh') =>
    phases.every((phase) => phase[key] !== undefined)
      ? round6(phases.reduce((total, phase) => total + phase[key]!, 0))
      : undefined;
  return withoutUndefined({
    power_w: sum('power_w') ?? 0,
    energy_wh: sum('energy_wh'),
    energy_returned_wh: sum('energy_returned_wh'),
  });
}

function withoutUndefined<T extends Record<string, unknown>>(values: T): ReadingValues {
  return Object.fromEntries(
    Object.entries(values).filter(([, value]) => value !== undefined),
  ) as ReadingValues;
}
