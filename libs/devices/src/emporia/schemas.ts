import { Type, type Static } from '@sinclair/typebox';

/** The Emporia account's Cognito user pool and app client, as PyEmVue's notes give them. */
export const EMPORIA_USER_POOL_ID = 'us-east-2_ghlOXVLi1';
export const EMPORIA_CLIENT_ID = '4qte47jbstod8apnfic0bunmrq';

/** The scales a channel can be polled at; usage is energy over one interval of it. */
export const POLL_SCALES = ['1S', '1MIN'] as const;
export const HISTORY_SCALES = ['1MIN', '1H'] as const;
export const SCALE_MS = { '1S': 1000, '1MIN': 60_000, '1H': 3_600_000 } as const;
export type EmporiaScale = keyof typeof SCALE_MS;

/**
 * The `connection:` section of a `type: emporia` registry entry: one channel of a device on an
 * Emporia account. Every entry naming the same account (api_url + email) shares one sign-in and
 * one usage request per poll.
 */
export const EmporiaConnectionSchema = Type.Object(
  {
    email: Type.String({ minLength: 3, maxLength: 254, description: "The Emporia account's e-mail." }),
    password_env: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        pattern: '^[A-Za-z_][A-Za-z0-9_]*$',
        description: 'Environment variable holding the account password.',
      }),
    ),
    password_file: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'File holding the account password (a Docker/Kubernetes secret).',
      }),
    ),
    device_gid: Type.Integer({
      minimum: 1,
      description: "The device's gid in the account (see `--discover-emporia`).",
    }),
    channel: Type.String({
      pattern: '^(1,2,3|Balance|[1-9][0-9]?)$',
      description: "`1,2,3` (the mains, or a plug's only channel), `1`…`16` (branch circuits) or `Balance`.",
    }),
    scale: Type.Union([Type.Literal('1S'), Type.Literal('1MIN')], {
      default: '1MIN',
      description:
        'Usage interval asked for at each poll: 1S (power now) or 1MIN (average over the last minute).',
    }),
    data_dir: Type.String({
      minLength: 1,
      default: './data/emporia',
      description: 'Where the sign-in tokens are cached (a file per account, mode 600).',
    }),
    api_url: Type.String({
      pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$',
      default: 'https://api.emporiaenergy.com',
      description: "Emporia's API root.",
    }),
    cognito_url: Type.String({
      pattern: '^https?://[^\\s?#]+$',
      default: 'https://cognito-idp.us-east-2.amazonaws.com/',
      description: 'Cognito endpoint of the sign-in.',
    }),
    user_pool_id: Type.String({ pattern: '^[\\w-]+_[0-9a-zA-Z]+$', default: EMPORIA_USER_POOL_ID }),
    client_id: Type.String({ minLength: 1, default: EMPORIA_CLIENT_ID }),
  },
  { additionalProperties: false },
);
export type EmporiaConnection = Static<typeof EmporiaConnectionSchema>;

// Cloud answers: only the fields we use are required; the cloud may add others freely.
const ChannelSchema = Type.Object({
  deviceGid: Type.Integer(),
  channelNum: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
});

// A Vue lists its smart plugs and chargers one level down; nothing nests deeper.
const deviceFields = {
  deviceGid: Type.Integer(),
  model: Type.String(),
  firmware: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  locationProperties: Type.Optional(
    Type.Union([
      Type.Object({ deviceName: Type.Optional(Type.Union([Type.String(), Type.Null()])) }),
      Type.Null(),
    ]),
  ),
  channels: Type.Array(ChannelSchema),
};
const NestedDeviceSchema = Type.Object(deviceFields);
const DeviceSchema = Type.Object({ ...deviceFields, devices: Type.Optional(Type.Array(NestedDeviceSchema)) });
export type EmporiaDevice = Static<typeof NestedDeviceSchema>;

export const CustomerDevicesSchema = Type.Object({ devices: Type.Array(DeviceSchema) });

const usageFields = {
  deviceGid: Type.Integer(),
  channelNum: Type.String(),
  name: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  /** Energy over the interval in kWh; null while the cloud has no data for it yet. */
  usage: Type.Union([Type.Number(), Type.Null()]),
};
const NestedUsageSchema = Type.Object(usageFields);
const ChannelUsageSchema = Type.Object({
  ...usageFields,
  nestedDevices: Type.Optional(
    Type.Array(Type.Object({ deviceGid: Type.Integer(), channelUsages: Type.Array(NestedUsageSchema) })),
  ),
});
export type EmporiaChannelUsage = Static<typeof NestedUsageSchema>;

export const DeviceListUsagesSchema = Type.Object({
  deviceListUsages: Type.Object({
    instant: Type.String({ format: 'date-time' }),
    devices: Type.Array(
      Type.Object({ deviceGid: Type.Integer(), channelUsages: Type.Array(ChannelUsageSchema) }),
    ),
  }),
});
export type DeviceListUsages = Static<typeof DeviceListUsagesSchema>;

export const ChartUsageSchema = Type.Object({
  firstUsageInstant: Type.String({ format: 'date-time' }),
  usageList: Type.Array(Type.Union([Type.Number(), Type.Null()])),
});
