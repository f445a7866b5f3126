import type { MqttClient } from 'mqtt';

type Corkable = { cork?: () => void; uncork?: () => void };

/**
 * Lets publishes wait a little (`lingerMs`) so that those of many polls leave in one writev: a
 * write to the broker's socket costs more than building the packet, and an agent polling 1,000
 * plugs spread over a second would otherwise write a thousand times a second (bench/collector).
 * The socket is corked from the first lingering publish until its time is up, or until a publish
 * that must not wait (a response, a retained state) sends everything held at once. Order is
 * kept: it is one socket.
 */
export class PublishLinger {
  #client: MqttClient;
  #held: { stream: Corkable; timer: NodeJS.Timeout } | undefined;

  constructor(client: MqttClient) {
    this.#client = client;
  }

  /** Holds the socket's writes for at most `ms` from the first held one. */
  hold(ms: number): void {
    if (this.#held) return;
    const stream = this.#client.stream as Corkable | undefined;
    if (!stream?.cork || !stream.uncork) return;
    stream.cork();
    this.#held = { stream, timer: setTimeout(() => this.flush(), ms) };
  }

  /** Writes whatever is held, now. */
  flush(): void {
    const held = this.#held;
    if (!held) return;
    this.#held = undefined;
    clearTimeout(held.timer);
    held.stream.uncork?.();
  }
}
