import { WattbusError } from '@wattbus/contracts';

/**
 * How one TP-Link device is reached: a JSON request of the device's request set in, its parsed
 * JSON answer out. Failures are WattbusErrors naming the device (`where`).
 */
export interface TplinkTransport {
  send(request: Record<string, unknown>): Promise<unknown>;
  close(): void;
}

/** The device's account for KLAP and securePassthrough: the TP-Link (Kasa/Tapo) cloud login. */
export interface TplinkCredentials {
  username: string;
  password: string;
}

/** Where a KLAP or securePassthrough transport finds its device, and with which account. */
export interface DeviceHttp {
  host: string;
  port: number;
  /** The device as error messages name it. */
  where: string;
  timeoutMs: number;
  /** Called at each handshake; throws DEVICE_AUTH_FAILED when a named secret is missing. */
  credentials: () => TplinkCredentials;
}

/** Parses an answer as JSON, or fails naming the device and showing the start of what it sent. */
export function parseAnswer(text: string, where: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new WattbusError(
      'DEVICE_ERROR',
      `${where} answered ${what} with something that is not JSON${snippet(text)}`,
    );
  }
}

export function snippet(text: string): string {
  const trimmed = text.replace(/\s+/g, ' ').trim();
  return trimmed ? `: ${JSON.stringify(trimmed.slice(0, 80))}` : '';
}
