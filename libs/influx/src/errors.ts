import { WattbusError } from '@wattbus/contracts';

/**
 * What every libs/influx call fails with, with a stable code: STORE_UNAVAILABLE when the server
 * cannot be reached, times out or fails (5xx, credentials), QUERY_FAILED when it refuses what we sent.
 */
export class InfluxError extends WattbusError {
  /** The HTTP status, when InfluxDB answered at all. */
  readonly status: number | undefined;

  constructor(code: 'STORE_UNAVAILABLE' | 'QUERY_FAILED' | 'TIMEOUT', message: string, status?: number) {
    super(code, message);
    this.name = 'InfluxError';
    this.status = status;
  }
}
