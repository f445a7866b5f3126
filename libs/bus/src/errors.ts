import { WattbusError } from '@wattbus/contracts';

/** No correlated response arrived before the request's deadline. */
export class RequestTimeoutError extends WattbusError {
  constructor(topic: string, timeoutMs: number) {
    super('TIMEOUT', `no response on ${topic} within ${timeoutMs} ms`, { topic, timeout_ms: timeoutMs });
    this.name = 'RequestTimeoutError';
  }
}

/** The bus was stopped while the request was waiting. */
export class BusStoppedError extends WattbusError {
  constructor() {
    super('SHUTTING_DOWN', 'the bus was stopped before a response arrived');
    this.name = 'BusStoppedError';
  }
}
