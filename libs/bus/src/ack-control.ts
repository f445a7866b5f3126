import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';

type Done = (error?: Error) => void;
type Corkable = { cork?: () => void; uncork?: () => void; destroy?: (error?: Error) => void };

/**
 * The opt-in acknowledgement control (`batchAcks`, only the storage hook uses it): the PUBACKs
 * of one burst of incoming messages leave together, in one writev, once `beforeAcks` has made
 * the burst durable. If `beforeAcks` throws, the PUBACKs are withheld and the connection is
 * dropped, so the broker re-delivers the burst.
 */
export class AckControl {
  #client: MqttClient;
  #beforeAcks: (() => void) | undefined;
  #logger: Logger;
  /** The socket corked for the current burst's PUBACKs, until setImmediate. */
  #corkedStream: unknown = undefined;

  constructor(client: MqttClient, beforeAcks: (() => void) | undefined, logger: Logger) {
    this.#client = client;
    this.#beforeAcks = beforeAcks;
    this.#logger = logger;
  }

  /** For each incoming message: corks the socket for this burst; returns the `done` to ack it with. */
  onMessage(done: Done): Done {
    this.#corkUntilNextTurn();
    if (!this.#beforeAcks) return done;
    // Inside the cork window the PUBACK waits in the socket until beforeAcks has run; a
    // message acked outside it (held, or handled asynchronously) runs beforeAcks first.
    return (error?: Error) => {
      if (this.#corkedStream === this.#client.stream || this.#runBeforeAcks()) done(error);
    };
  }

  /**
   * Before a graceful stop (ending flushes corked PUBACKs, so what they acknowledge must be
   * durable first). false when beforeAcks failed: the connection is already dropped.
   */
  beforeStop(): boolean {
    return this.#runBeforeAcks();
  }

  /** Holds our writes (PUBACKs) until setImmediate, so a burst of them leaves in one writev. */
  #corkUntilNextTurn(): void {
    const stream = this.#client.stream as Corkable | undefined;
    if (this.#corkedStream === stream || !stream?.cork || !stream.uncork) return;
    this.#corkedStream = stream;
    stream.cork();
    setImmediate(() => {
      if (this.#corkedStream === stream) this.#corkedStream = undefined;
      if (this.#runBeforeAcks()) stream.uncork?.();
    });
  }

  /** false (and the connection dropped, PUBACKs unsent) when beforeAcks failed. */
  #runBeforeAcks(): boolean {
    try {
      this.#beforeAcks?.();
      return true;
    } catch (error) {
      this.#logger.error(
        { err: error },
        'could not make received messages durable; dropping the connection so the broker re-delivers them',
      );
      (this.#client.stream as Corkable).destroy?.(error as Error);
      return false;
    }
  }
}
