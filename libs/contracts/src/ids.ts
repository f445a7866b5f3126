/** Device ids become topic segments and InfluxDB tag values, so they are kept to a safe alphabet. */
export const DEVICE_ID_PATTERN = '^[a-z0-9][a-z0-9_-]*$';
export const DEVICE_ID_MAX_LENGTH = 64;

const deviceIdRegex = new RegExp(DEVICE_ID_PATTERN);

export function isDeviceId(value: unknown): value is string {
  return typeof value === 'string' && value.length <= DEVICE_ID_MAX_LENGTH && deviceIdRegex.test(value);
}
