import { Type, type Static } from '@sinclair/typebox';

/** Stable error codes: services throw them, the bus puts them in error envelopes, the gateway maps them to HTTP. */
export const ERROR_CODES = [
  'INVALID_PARAMS',
  'INVALID_REQUEST',
  'UNKNOWN_METHOD',
  'UNKNOWN_DEVICE',
  'DEVICE_UNREACHABLE',
  'DEVICE_TIMEOUT',
  'DEVICE_ERROR',
  'DEVICE_AUTH_FAILED',
  'DEVICE_STATE_MISMATCH',
  'NO_HISTORY',
  'QUERY_TOO_LARGE',
  'QUERY_FAILED',
  'STORE_UNAVAILABLE',
  'TIMEOUT',
  'OVERLOADED',
  'SHUTTING_DOWN',
  'INTERNAL',
] as const;

export const ErrorCodeSchema = Type.Union(
  ERROR_CODES.map((code) => Type.Literal(code)),
  { $id: 'ErrorCode', description: 'Stable machine-readable error code.', examples: ['UNKNOWN_DEVICE'] },
);
export type ErrorCode = Static<typeof ErrorCodeSchema>;

/** An error with a stable code; thrown anywhere, turned into an error envelope by `serve()`. */
export class WattbusError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'WattbusError';
    this.code = code;
    this.details = details;
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}
