import { WattbusError } from '@wattbus/contracts';

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

/** Rejects with DEVICE_TIMEOUT after `timeoutMs`, a guard around libraries whose own timeout may not cover every phase. */
export async function withTimeout<T>(work: Promise<T>, timeoutMs: number, where: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new WattbusError('DEVICE_TIMEOUT', `${where} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
