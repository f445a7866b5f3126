import { WattbusError } from '@wattbus/contracts';

/**
 * One request at a time per Shelly host: the channels of a Shelly 2.5 are separate registry
 * devices polled independently, and a Gen1 (ESP8266) web server handles concurrent connections
 * poorly. Shared through SharedResources under `shelly:<host>:<port>`.
 */
export class HostQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `work` after everything queued before it; gives up waiting when `signal` aborts. */
  run<T>(work: () => Promise<T>, signal: AbortSignal, where: string): Promise<T> {
    const turn = this.#tail.then(async () => {
      if (signal.aborted) {
        throw new WattbusError('DEVICE_TIMEOUT', `${where} did not get a turn at its host in time`);
      }
      return work();
    });
    this.#tail = turn.catch(() => undefined);
    return turn;
  }

  close(): void {}
}
