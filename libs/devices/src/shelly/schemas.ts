import { Type, type Static } from '@sinclair/typebox';

/**
 * The `connection:` section of a `type: shelly` registry entry. One registry entry is one
 * channel of a device (a relay with its meter, or an energy meter); a Shelly 2.5 or Plus 2PM is
 * two entries with the same host and `channel: 0` / `channel: 1`, each with its own stable id.
 */
export const ShellyConnectionSchema = Type.Object(
  {
    host: Type.String({
      minLength: 1,
      maxLength: 253,
      // It becomes the authority of a URL: no path, query, user info or spaces may ride along.
      pattern: '^[^\\s/?#@]+$',
      description: 'IP address or host name of the device.',
    }),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 80, description: 'HTTP port (default 80).' }),
    generation: Type.Union([Type.Literal('auto'), Type.Literal(1), Type.Literal(2)], {
      default: 'auto',
      description:
        "1 = Gen1 HTTP API (Plug S, 1PM, 2.5, EM, 3EM); 2 = RPC API (Plus, Pro, Gen3, Gen4); 'auto' asks /shelly once.",
    }),
    component: Type.Union(
      [Type.Literal('auto'), Type.Literal('switch'), Type.Literal('em'), Type.Literal('em1')],
      {
        default: 'auto',
        description:
          "switch = a relay, with its power meter where it has one; em = a 3-phase energy meter (3EM, Pro 3EM: three phases and a total); em1 = one single-phase meter channel (Pro EM, Pro 3EM in monophase profile, EM Gen3); 'auto' asks the device.",
      },
    ),
    channel: Type.Integer({
      minimum: 0,
      maximum: 15,
      default: 0,
      description: 'Relay, switch or meter index on multi-channel devices (default 0).',
    }),
    username: Type.String({
      minLength: 1,
      maxLength: 64,
      default: 'admin',
      description: "Gen1 Basic auth user (default admin); Gen2+ always uses 'admin'.",
    }),
    password: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'Device password, when auth is enabled.' }),
    ),
    password_env: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
        description:
          'Name of an environment variable holding the password, to keep it out of the registry file.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ShellyConnection = Static<typeof ShellyConnectionSchema>;

// Device answers. Only the fields we use are required; firmware may add others freely.
const number = (description: string) => Type.Number({ description });
/**
 * A measurement the device may leave out or send as `null` (a meter that cannot measure it now,
 * such as `n_current: null` or `pf: null` at no load): the reading leaves that field out.
 * One JSON Schema type list, so a wrong type is one clear error (`must be number,null`).
 */
const optionalNumber = () => Type.Optional(Type.Unsafe<number | null>({ type: ['number', 'null'] }));

/** Gen1 `/shelly`: no `gen` field. */
export const Gen1InfoSchema = Type.Object({
  type: Type.String({ description: 'Model code, e.g. SHPLG-S, SHEM-3.' }),
  mac: Type.Optional(Type.String()),
  fw: Type.Optional(Type.String()),
  auth: Type.Optional(Type.Boolean()),
  num_outputs: Type.Optional(Type.Integer({ minimum: 0 })),
  num_meters: Type.Optional(Type.Integer({ minimum: 0 })),
  num_emeters: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type Gen1Info = Static<typeof Gen1InfoSchema>;

/** Gen2+ `/shelly` (Shelly.GetDeviceInfo): `gen` is 2, 3, 4…; `id` is the digest realm. */
export const Gen2InfoSchema = Type.Object({
  gen: Type.Integer({ minimum: 2 }),
  id: Type.String({ minLength: 1 }),
  model: Type.String(),
  mac: Type.Optional(Type.String()),
  ver: Type.Optional(Type.String()),
  app: Type.Optional(Type.String()),
  auth_en: Type.Optional(Type.Boolean()),
});
export type Gen2Info = Static<typeof Gen2InfoSchema>;

/** Gen1 `/relay/N` and `/status` → `relays[N]`. */
export const Gen1RelaySchema = Type.Object({ ison: Type.Boolean() });

/** Gen1 `/status` → `meters[N]` (Plug S, 1PM, 2.5): `total` in watt-minutes. */
export const Gen1MeterSchema = Type.Object({
  power: number('W'),
  total: number('watt-minutes since boot of the counter'),
  is_valid: Type.Optional(Type.Boolean()),
});

/** Gen1 `/status` → `emeters[N]` (EM, 3EM): `total` and `total_returned` in Wh. */
export const Gen1EmeterSchema = Type.Object({
  power: number('W, negative when exporting'),
  voltage: optionalNumber(),
  current: optionalNumber(),
  pf: optionalNumber(),
  total: number('Wh'),
  total_returned: optionalNumber(),
  is_valid: Type.Optional(Type.Boolean()),
});

/** Gen1 `/status`: the lists are checked element by element, so one broken channel names itself. */
export const Gen1StatusSchema = Type.Object({
  relays: Type.Optional(Type.Array(Type.Unknown())),
  meters: Type.Optional(Type.Array(Type.Unknown())),
  emeters: Type.Optional(Type.Array(Type.Unknown())),
});

/** Gen2 `Switch.GetStatus` of any switch: the relay. A Plus 1 or Pro 1 sends no more than this. */
export const Gen2SwitchOutputSchema = Type.Object({ output: Type.Boolean() });

/**
 * Gen2 `Switch.GetStatus` of a switch with a meter (Plus Plug S, 1PM, Pro 4PM…): power and its
 * counter come together; `aenergy.total` and `ret_aenergy.total` (returned, where the device
 * measures it) in Wh.
 */
export const Gen2SwitchStatusSchema = Type.Object({
  output: Type.Boolean(),
  apower: number('W'),
  voltage: optionalNumber(),
  current: optionalNumber(),
  freq: optionalNumber(),
  pf: optionalNumber(),
  aenergy: Type.Object({ total: number('Wh') }),
  ret_aenergy: Type.Optional(Type.Object({ total: optionalNumber() })),
});

/** The keys by which a Switch.GetStatus answer says it has a meter. */
export const SWITCH_METER_KEYS = ['apower', 'aenergy'] as const;

/** Gen2 `Switch.Set`. */
export const Gen2SwitchSetSchema = Type.Object({ was_on: Type.Boolean() });

export const PHASE_PREFIXES = ['a', 'b', 'c'] as const;

/** Gen2 `EM.GetStatus` (Pro 3EM in triphase profile): `a_…`, `b_…`, `c_…` and `total_…`. */
export const Gen2EmStatusSchema = Type.Object(
  Object.fromEntries([
    ...PHASE_PREFIXES.flatMap((phase) => [
      [`${phase}_act_power`, number('W')],
      [`${phase}_voltage`, optionalNumber()],
      [`${phase}_current`, optionalNumber()],
      [`${phase}_pf`, optionalNumber()],
      [`${phase}_freq`, optionalNumber()],
    ]),
    ['total_act_power', number('W')],
  ]),
);

/** Gen2 `EMData.GetStatus`: energies in Wh. */
export const Gen2EmDataSchema = Type.Object(
  Object.fromEntries([
    ...PHASE_PREFIXES.flatMap((phase) => [
      [`${phase}_total_act_energy`, number('Wh')],
      [`${phase}_total_act_ret_energy`, optionalNumber()],
    ]),
    ['total_act', number('Wh')],
    ['total_act_ret', optionalNumber()],
  ]),
);

/**
 * Gen2 `EM1.GetStatus` (Pro EM, Pro 3EM in monophase profile, EM Gen3): one single-phase
 * channel; `act_power` is negative when exporting.
 */
export const Gen2Em1StatusSchema = Type.Object({
  act_power: number('W, negative when exporting'),
  voltage: optionalNumber(),
  current: optionalNumber(),
  pf: optionalNumber(),
  freq: optionalNumber(),
});

/** Gen2 `EM1Data.GetStatus`: the channel's counters in Wh. */
export const Gen2Em1DataSchema = Type.Object({
  total_act_energy: number('Wh'),
  total_act_ret_energy: optionalNumber(),
});

/** Gen2 `Shelly.GetStatus`: only its keys (`switch:0`, `em:0`, `em1:0`…) are used, to find the components. */
export const Gen2DeviceStatusSchema = Type.Record(Type.String(), Type.Unknown());
