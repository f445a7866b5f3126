import type { ErrorCode } from '@wattbus/contracts';

/**
 * Every way a Modbus request can fail, and what follows: a transient failure is retried within
 * the poll's deadline (up to `retries` more attempts), a permanent one fails the poll at once
 * (asking again now would get the same answer; the agent's backoff spaces the next polls).
 * docs/modbus.md shows this table; a test keeps the two the same.
 */
export interface ModbusFailure {
  /** Stable name, as in the docs table. */
  name: string;
  /** How it shows. */
  shows: string;
  transient: boolean;
  code: ErrorCode;
  /** Wait before the retry (a busy meter needs a moment), cut short by the deadline. */
  retryAfterMs: number;
}

const rule = (
  name: string,
  shows: string,
  transient: boolean,
  code: ErrorCode,
  retryAfterMs = 0,
): ModbusFailure => ({ name, shows, transient, code, retryAfterMs });

export const MODBUS_FAILURES = {
  timeout: rule('timeout', 'no answer within response_timeout_ms', true, 'DEVICE_TIMEOUT'),
  corruptFrame: rule(
    'corrupt frame',
    'bad CRC, wrong length, an answer from another unit or function',
    true,
    'DEVICE_ERROR',
  ),
  connectionLost: rule(
    'connection lost',
    'the port or TCP connection failed during a request (adapter unplugged, gateway reset); the retry reopens it',
    true,
    'DEVICE_UNREACHABLE',
  ),
  cannotOpen: rule(
    'cannot open',
    'the serial port is missing, the TCP server refuses or its host is unknown; the agent backs off',
    false,
    'DEVICE_UNREACHABLE',
  ),
  openTimeout: rule(
    'open timed out',
    'the TCP server did not accept the connection before the deadline',
    false,
    'DEVICE_TIMEOUT',
  ),
  illegalFunction: rule(
    'exception 1',
    'illegal function: the meter has no such register table',
    false,
    'DEVICE_ERROR',
  ),
  illegalAddress: rule(
    'exception 2',
    'illegal data address; a read of several registers is split first (see Reads)',
    false,
    'DEVICE_ERROR',
  ),
  illegalValue: rule(
    'exception 3',
    'illegal data value (some meters answer a read that is too long so); split first like exception 2',
    false,
    'DEVICE_ERROR',
  ),
  deviceFailure: rule(
    'exception 4',
    'server device failure: an unrecoverable error in the meter',
    false,
    'DEVICE_ERROR',
  ),
  acknowledge: rule(
    'exception 5',
    'acknowledge: the meter is still working on it',
    true,
    'DEVICE_ERROR',
    100,
  ),
  busy: rule('exception 6', 'server device busy', true, 'DEVICE_ERROR', 100),
  parity: rule('exception 8', 'memory parity error in the meter', false, 'DEVICE_ERROR'),
  gatewayPath: rule(
    'exception 10',
    'gateway path unavailable: the gateway is overloaded or misconfigured',
    true,
    'DEVICE_UNREACHABLE',
  ),
  gatewayTarget: rule(
    'exception 11',
    'gateway target failed to respond: the meter behind the gateway is silent',
    true,
    'DEVICE_TIMEOUT',
  ),
  otherException: rule('other exceptions', 'any other exception code', false, 'DEVICE_ERROR'),
  // Its code comes from the error: a socket error is DEVICE_UNREACHABLE or DEVICE_TIMEOUT.
  other: rule('anything else', 'an error the cases above do not name', false, 'DEVICE_ERROR'),
} as const;

const EXCEPTIONS: Record<number, ModbusFailure> = {
  1: MODBUS_FAILURES.illegalFunction,
  2: MODBUS_FAILURES.illegalAddress,
  3: MODBUS_FAILURES.illegalValue,
  4: MODBUS_FAILURES.deviceFailure,
  5: MODBUS_FAILURES.acknowledge,
  6: MODBUS_FAILURES.busy,
  8: MODBUS_FAILURES.parity,
  10: MODBUS_FAILURES.gatewayPath,
  11: MODBUS_FAILURES.gatewayTarget,
};

/** Exceptions a meter may answer to a read that is merely too long: the driver splits such a read. */
export const TOO_LONG_EXCEPTIONS: readonly number[] = [2, 3];

/** The failure an exception code stands for. */
export function exceptionFailure(code: number): ModbusFailure {
  return EXCEPTIONS[code] ?? MODBUS_FAILURES.otherException;
}
