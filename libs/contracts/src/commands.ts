import { Type, type Static } from '@sinclair/typebox';

/** Params of `wattbus/devices/{id}/req/set`: switch the relay. The result is the confirmed DeviceState. */
export const SetPowerParamsSchema = Type.Object(
  { on: Type.Boolean({ description: 'true switches the plug on, false off.' }) },
  { $id: 'SetPowerParams', additionalProperties: false, examples: [{ on: false }] },
);
export type SetPowerParams = Static<typeof SetPowerParamsSchema>;

/** Params of `wattbus/devices/{id}/req/get`: read the relay state. The result is a DeviceState. */
export const GetStateParamsSchema = Type.Object(
  {},
  { $id: 'GetStateParams', additionalProperties: false, examples: [{}] },
);
export type GetStateParams = Static<typeof GetStateParamsSchema>;

/** Device request methods served by controller agents. */
export const DEVICE_METHODS = { set: 'set', get: 'get', backfill: 'backfill' } as const;
