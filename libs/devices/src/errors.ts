import { WattbusError } from '@wattbus/contracts';

/*
 * Every error type of this library lives here, below everything else: the registry, the drivers
 * and the file readers all import from this module, and it imports none of them, so the library
 * has no import cycle.
 */

export interface RegistryProblem {
  /** JSON pointer into the file, e.g. `/devices/3/connection/host`. */
  path: string;
  /** 1-based line of the closest node that exists, when known. */
  line?: number;
  message: string;
}

/** A registry file that cannot be used; the message lists every problem with its place. */
export class RegistryError extends Error {
  readonly file: string;
  readonly problems: RegistryProblem[];

  constructor(file: string, problems: RegistryProblem[], heading = `invalid device registry ${file}`) {
    const lines = problems.map(
      (problem) => `${file}${problem.line ? `:${problem.line}` : ''} ${problem.path}: ${problem.message}`,
    );
    super(`${heading}:\n  ${lines.join('\n  ')}`);
    this.name = 'RegistryError';
    this.file = file;
    this.problems = problems;
  }
}

/**
 * A profile file that cannot be used: names the file and, per problem, the JSON pointer and line.
 * A RegistryError, so the agent's CLI prints it as a configuration error, not as a crash.
 */
export class ProfileError extends RegistryError {
  constructor(file: string, problems: RegistryProblem[], heading = `invalid Modbus meter profile ${file}`) {
    super(file, problems, heading);
    this.name = 'ProfileError';
  }
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EADDRNOTAVAIL',
]);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ETIMEOUT', 'ESOCKETTIMEDOUT']);

/**
 * Turns whatever a protocol library threw into a WattbusError with a stable code, so the
 * collector can decide on availability and the controller can answer with a code:
 * socket refused/reset/no route → DEVICE_UNREACHABLE, no answer in time → DEVICE_TIMEOUT,
 * anything the device said or sent that we could not use → DEVICE_ERROR.
 */
export function classifyDeviceError(error: unknown, where: string): WattbusError {
  if (error instanceof WattbusError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.split('\n')[0] ?? message;
  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) {
    return new WattbusError('DEVICE_UNREACHABLE', `${where} is unreachable (${code})`, { cause: code });
  }
  if ((typeof code === 'string' && TIMEOUT_CODES.has(code)) || /timed? ?out/i.test(firstLine)) {
    return new WattbusError('DEVICE_TIMEOUT', `${where} did not answer in time`, { cause: firstLine });
  }
  if (/socket closed|socket hang up/i.test(firstLine)) {
    return new WattbusError('DEVICE_UNREACHABLE', `${where} closed the connection`, { cause: firstLine });
  }
  return new WattbusError('DEVICE_ERROR', `${where} failed: ${firstLine}`, { cause: firstLine });
}

/**
 * Rejects with DEVICE_TIMEOUT after `timeoutMs`, a guard around libraries whose own timeout may not
 * cover every phase. One promise and one timer, without Promise.race's: it runs around every poll.
 */
export function withTimeout<T>(work: Promise<T>, timeoutMs: number, where: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new WattbusError('DEVICE_TIMEOUT', `${where} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
