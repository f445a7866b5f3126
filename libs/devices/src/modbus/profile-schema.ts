import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ReadingLimitsSchema } from '@wattbus/contracts';

/** How a meter stores a value: 16-bit or 32-bit integers (unsigned/signed) or IEEE 754 floats. */
export const DATA_TYPES = ['u16', 's16', 'u32', 's32', 'float32'] as const;
export type DataType = (typeof DATA_TYPES)[number];

/** 32-bit values span two registers: `big` sends the high word first (ABCD), `little` the low word (CDAB). */
export const WORD_ORDERS = ['big', 'little'] as const;
export type WordOrder = (typeof WORD_ORDERS)[number];

export const PARITIES = ['none', 'even', 'odd'] as const;
export type Parity = (typeof PARITIES)[number];

export const PHASES = ['L1', 'L2', 'L3'] as const;
export type Phase = (typeof PHASES)[number];

/**
 * Reading fields a device value can feed, each with the units a device may report it in (factor
 * to the field's unit; the first is the field's own). Modbus meter profiles and the bridge's
 * MQTT profiles share it. `Wmin` is watt-minutes (Shelly Gen1 counters).
 */
export const FIELD_UNITS = {
  power_w: { W: 1, kW: 1000, mW: 0.001 },
  voltage_v: { V: 1, mV: 0.001 },
  current_a: { A: 1, mA: 0.001 },
  energy_wh: { Wh: 1, kWh: 1000, mWh: 0.001, Wmin: 1 / 60 },
  energy_returned_wh: { Wh: 1, kWh: 1000, mWh: 0.001, Wmin: 1 / 60 },
  power_factor: { '': 1, '%': 0.01 },
  frequency_hz: { Hz: 1 },
} as const satisfies Record<string, Record<string, number>>;
export type ReadingField = keyof typeof FIELD_UNITS;
export const READING_FIELDS = Object.keys(FIELD_UNITS) as ReadingField[];

/** Modbus allows at most 125 registers in one read response. */
export const MAX_REGISTERS_PER_READ = 125;

/** 1 and 2 registers: the widths of the data types. */
export function registerCount(type: DataType): 1 | 2 {
  return type === 'u16' || type === 's16' ? 1 : 2;
}

// Plain `enum`s (not TypeBox unions) so ajv reports one clear error instead of one per alternative.
function oneOf<T extends string | number>(
  values: readonly T[],
  description: string,
): TSchema & { static: T } {
  return Type.Unsafe<T>({ enum: [...values], description });
}

const AddressSchema = Type.Unsafe<number | string>({
  type: ['integer', 'string'],
  minimum: 0,
  maximum: 65535,
  pattern: '^0[xX][0-9a-fA-F]{1,4}$',
  description:
    'Register address, 0-based as on the wire: an integer (YAML reads 0x130 as one) or a "0x…" string.',
});

export const FunctionCodeSchema = oneOf(
  [3, 4] as const,
  '3 = read holding registers, 4 = read input registers.',
);
export const DataTypeSchema = oneOf(DATA_TYPES, 'u16, s16, u32, s32 or float32.');
export const WordOrderSchema = oneOf(
  WORD_ORDERS,
  'Word order of 32-bit values: big (high word first) or little.',
);
const ScaleSchema = Type.Number({
  description: 'Multiplier from the raw value to `unit`, e.g. 0.01 for a value in hundredths.',
});
const UnitSchema = Type.String({
  maxLength: 16,
  description:
    "The meter's unit of the scaled value (W, kW, mW, V, mV, A, mA, Wh, kWh, mWh, Wmin, Hz; none or % for power_factor).",
});

export const ProfileRegisterSchema = Type.Object(
  {
    field: oneOf(READING_FIELDS, `Reading field: ${READING_FIELDS.join(', ')}.`),
    phase: Type.Optional(
      oneOf(PHASES, 'Phase of a 3-phase meter; leave out for the total (or a 1-phase meter).'),
    ),
    address: AddressSchema,
    function: Type.Optional(FunctionCodeSchema),
    type: DataTypeSchema,
    word_order: Type.Optional(WordOrderSchema),
    scale: Type.Optional(ScaleSchema),
    unit: Type.Optional(UnitSchema),
  },
  { additionalProperties: false },
);
export type ProfileRegisterEntry = Static<typeof ProfileRegisterSchema>;

export const SerialSettingsSchema = Type.Object(
  {
    baud_rate: Type.Optional(Type.Integer({ minimum: 300, maximum: 921_600 })),
    parity: Type.Optional(oneOf(PARITIES, 'none, even or odd.')),
    data_bits: Type.Optional(oneOf([7, 8] as const, '7 or 8.')),
    stop_bits: Type.Optional(oneOf([1, 2] as const, '1 or 2.')),
  },
  { additionalProperties: false },
);
export type SerialSettings = Static<typeof SerialSettingsSchema>;

/** One meter model, as a YAML or JSON file under `libs/devices/profiles/` or anywhere a registry points to. */
export const ProfileFileSchema = Type.Object(
  {
    model: Type.String({
      minLength: 1,
      maxLength: 128,
      description: 'Model name, reported as the device model.',
    }),
    aliases: Type.Optional(
      Type.Array(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]*$' }), {
        description: 'Other names a registry may use for this profile.',
      }),
    ),
    phases: oneOf([1, 3] as const, '1 or 3.'),
    serial: Type.Optional(SerialSettingsSchema),
    function: Type.Optional(FunctionCodeSchema),
    word_order: Type.Optional(WordOrderSchema),
    max_gap_registers: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 64,
        description:
          'Unused registers one request may read across to join two fields (default 0: only contiguous fields share a request).',
      }),
    ),
    max_registers_per_read: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_REGISTERS_PER_READ,
        description:
          "Most registers the meter answers in one request (default 125, Modbus's limit). Some meters refuse longer reads with exception 2.",
      }),
    ),
    limits: Type.Optional(
      Type.Object(ReadingLimitsSchema.properties, {
        additionalProperties: false,
        description:
          "Plausibility limits from the meter's rating (with a margin): readings beyond them are never published or stored.",
      }),
    ),
    registers: Type.Array(ProfileRegisterSchema, { minItems: 1 }),
  },
  { additionalProperties: false },
);
export type ProfileFile = Static<typeof ProfileFileSchema>;

/** A per-device change to the profile's registers (`connection.registers` in the registry). */
export const RegisterOverrideSchema = Type.Object(
  {
    address: Type.Optional(AddressSchema),
    function: Type.Optional(FunctionCodeSchema),
    type: Type.Optional(DataTypeSchema),
    word_order: Type.Optional(WordOrderSchema),
    scale: Type.Optional(ScaleSchema),
    unit: Type.Optional(UnitSchema),
  },
  { additionalProperties: false },
);
export type RegisterOverride = Static<typeof RegisterOverrideSchema>;
