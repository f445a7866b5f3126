import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
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

/**
 * A TLS listener's certificate and, for client certificates, the CA that signs them:
 * `required` refuses a handshake without a valid one, `optional` refuses only an invalid one.
 */
export interface ListenerTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  clientCertificates: 'none' | 'optional' | 'required';
  /** A handshake refused (no, a wrong or an expired client certificate; a plaintext client). */
  onRefused: (reason: string, remoteAddress: string | undefined) => void;
}

function tlsServerOptions(tls: ListenerTls): TlsOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ca: tls.ca,
    requestCert: tls.clientCertificates !== 'none',
    rejectUnauthorized: tls.clientCertificates === 'required',
  };
}

/**
 * With `optional` client certificates the handshake accepts any; one that is presented must
 * still verify. True if `socket` may go on.
 */
function acceptPeer(socket: TLSSocket, tls: ListenerTls): boolean {
  if (tls.clientCertificates !== 'optional' || socket.authorized) return true;
  const presented = Object.keys(socket.getPeerCertificate()).length > 0;
  if (!presented) return true;
  tls.onRefused(
    `client certificate not accepted: ${String(socket.authorizationError)}`,
    socket.remoteAddress,
  );
  socket.destroy();
  return false;
}

/** MQTT over TLS (port 8883): each verified socket goes to `handle`. */
export async function listenTls(
  options: ListenOptions,
  tls: ListenerTls,
  handle: (socket: TLSSocket) => void,
): Promise<Listener> {
  const server = createTlsServer(tlsServerOptions(tls), (socket) => {
    socket.setNoDelay(true);
    if (acceptPeer(socket, tls)) handle(socket);
  });
  server.on('tlsClientError', (error, socket) => tls.onRefused(error.message, socket.remoteAddress));
  const listener = new TrackedListener(server);
  await listener.listen(options);
  return listener;
}

/** MQTT over plain TCP: each socket goes to `handle`. */
export async function listenTcp(options: ListenOptions, handle: (socket: Socket) => void): Promise<Listener> {
  // MQTT request/response is many small writes; with Nagle on, each waits ~40 ms for a delayed ACK.
  const listener = new TrackedListener(createNetServer({ noDelay: true }, handle));
  await listener.listen(options);
  return listener;
}

/**
 * MQTT over WebSocket, or over secure WebSocket (wss://) with `tls`: each WebSocket, as a byte
 * stream, goes to `handle`.
 */
export async function listenWebSocket(
  options: ListenOptions,
  handle: (stream: Duplex, request: IncomingMessage) => void,
  tls?: ListenerTls,
): Promise<Listener> {
  const upgradeOnly = (_request: IncomingMessage, response: ServerResponse) => {
    response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    response.end('This port speaks MQTT over WebSocket only.\n');
  };
  const server = tls
    ? createHttpsServer({ ...tlsServerOptions(tls), noDelay: true }, upgradeOnly)
    : createHttpServer({ noDelay: true }, upgradeOnly);
  if (tls) {
    server.on('tlsClientError', (error: Error, socket: TLSSocket) =>
      tls.onRefused(error.message, socket.remoteAddress),
    );
  }
  const webSocketServer = new WebSocketServer({ server });
  webSocketServer.on('connection', (webSocket, request) => {
    if (tls && !acceptPeer(request.socket as TLSSocket, tls)) return;
    handle(createWebSocketStream(webSocket), request);
  });
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
