import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';

/** A listening server that can be shut down even while clients hold connections open. */
export interface Listener {
  /** The port actually bound, also when 0 was asked for. */
  readonly port: number;
  /** Stops accepting connections; resolves once every connection has ended. */
  close(): Promise<void>;
  /** Cuts the connections still open, such as those that never sent a CONNECT. */
  destroyConnections(): void;
}

export interface ListenOptions {
  host: string;
  port: number;
  /** Errors of the server once it listens (a failure to listen rejects instead). */
  onError: (error: Error) => void;
}

/** MQTT over plain TCP: each socket goes to `handle`. */
export async function listenTcp(options: ListenOptions, handle: (socket: Socket) => void): Promise<Listener> {
  // MQTT request/response is many small writes; with Nagle on, each waits ~40 ms for a delayed ACK.
  const listener = new TrackedListener(createNetServer({ noDelay: true }, handle));
  await listener.listen(options);
  return listener;
}

/** MQTT over WebSocket: each WebSocket, as a byte stream, goes to `handle`. */
export async function listenWebSocket(
  options: ListenOptions,
  handle: (stream: Duplex, request: IncomingMessage) => void,
): Promise<Listener> {
  const server = createHttpServer({ noDelay: true }, (_request, response) => {
    response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    response.end('This port speaks MQTT over WebSocket only.\n');
  });
  const webSocketServer = new WebSocketServer({ server });
  webSocketServer.on('connection', (webSocket, request) => handle(createWebSocketStream(webSocket), request));
  // The ws server re-emits the http server's errors; the http server's own listeners report them.
  webSocketServer.on('error', () => {});
  const listener = new TrackedListener(server, () => webSocketServer.close());
  await listener.listen(options);
  return listener;
}

class TrackedListener implements Listener {
  readonly #server: Server;
  readonly #beforeClose: () => void;
  readonly #sockets = new Set<Socket>();
  #closed: Promise<void> | undefined;

  constructor(server: Server, beforeClose: () => void = () => {}) {
    this.#server = server;
    this.#beforeClose = beforeClose;
    // node's server.close() waits for open connections, so keep them at hand to cut.
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  listen({ host, port, onError }: ListenOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        this.#server.on('error', onError);
        resolve();
      });
    });
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    this.#closed ??= new Promise((resolve) => {
      this.#beforeClose();
      // An error here only means "was not listening", which is closed enough.
      this.#server.close(() => resolve());
    });
    return this.#closed;
  }

  destroyConnections(): void {
    for (const socket of this.#sockets) {
      socket.destroy();
    }
  }
}
