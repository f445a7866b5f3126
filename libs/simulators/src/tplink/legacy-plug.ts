import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { xorFrame, xorOpen, XorFrameReader, type ReadingValues } from '@wattbus/devices';
import {
  KasaState,
  newSimulatorDevice,
  type KasaModel,
  type Realtime,
  type SimulatorDevice,
} from './kasa-model.js';

/**
 * A TP-Link Kasa plug or strip on a free loopback port, speaking the legacy port-9999 protocol
 * (framing and cipher from @wattbus/devices' xor-cipher.ts; the request set answered by
 * tplink-smarthome-simulator's command processor), for tests of the driver library, of the
 * agents and for the embedded demo. Like a real plug it serves any number of requests on one TCP
 * connection, one after the other, and answers UDP discovery on the same port number.
 */
export type SimulatedModel = KasaModel;
export type { Realtime };

/**
 * garbage: answers with a frame that is not JSON. huge: announces a 16 MiB answer.
 * hang-up: closes the connection on a request without answering.
 */
export type LegacyFault = 'garbage' | 'huge' | 'hang-up';

export interface SimulatedPlugOptions {
  model?: SimulatedModel;
  /** Delay before every answer, in ms. */
  responseDelay?: number;
  realtime?: Partial<Realtime>;
  alias?: string;
}

/** Longest request the plug reads; the driver's are under 200 bytes. */
const MAX_REQUEST_BYTES = 64 * 1024;

export class SimulatedPlug {
  readonly model: SimulatedModel;
  readonly host = '127.0.0.1';
  /** Requests received (TCP and UDP). */
  requests = 0;
  /** TCP connections accepted. */
  connections = 0;
  /** Most requests the plug was answering at the same time. */
  maxInFlight = 0;
  /** Delay before every answer, in ms. */
  responseDelay: number;
  fault: LegacyFault | undefined;
  /** The plug's state: relay, emeter, outlets of a strip. */
  readonly kasa: KasaState;
  #port = 0;
  #server: Server | undefined;
  #udp: UdpSocket | undefined;
  #sockets = new Set<Socket>();
  #inFlight = 0;
  #responseListeners: (() => void)[] = [];
  #drainWaiters: (() => void)[] = [];

  private constructor(device: SimulatorDevice, model: SimulatedModel, responseDelay: number) {
    this.model = model;
    this.kasa = new KasaState(device, model);
    this.responseDelay = responseDelay;
  }

  static async start(options: SimulatedPlugOptions = {}): Promise<SimulatedPlug> {
    const model = options.model ?? 'hs110';
    const plug = new SimulatedPlug(
      newSimulatorDevice({ model, alias: options.alias }),
      model,
      options.responseDelay ?? 0,
    );
    if (options.realtime) plug.setRealtime(options.realtime);
    // UDP takes a free port and TCP the same number, which another process may hold on a busy
    // machine: then try again with a fresh port.
    for (let attempt = 1; ; attempt++) {
      try {
        await plug.start();
        return plug;
      } catch (error) {
        plug.#port = 0;
        if ((error as { code?: string }).code !== 'EADDRINUSE' || attempt >= 10) throw error;
      }
    }
  }

  get port(): number {
    return this.#port;
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  /** (Re)starts listening on the same port. */
  async start(): Promise<void> {
    if (this.#server) return;
    const udp = createSocket({ type: 'udp4' });
    udp.on('message', (message, remote) => this.#datagram(message, remote));
    const server = createServer((socket) => this.#accept(socket));
    try {
      udp.bind(this.#port, this.host);
      await once(udp, 'listening');
      server.listen(udp.address().port, this.host);
      await once(server, 'listening');
    } catch (error) {
      udp.removeAllListeners('message');
      try {
        udp.close();
      } catch {
        // Never bound.
      }
      server.close(() => undefined);
      throw error;
    }
    // A client vanishing mid-datagram is not the plug's problem.
    udp.on('error', () => undefined);
    this.#port = udp.address().port;
    this.#udp = udp;
    this.#server = server;
  }

  /**
   * Stops listening and closes every connection: the plug becomes unreachable (connection
   * refused). Answers already being prepared go out first.
   */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.close();
    await this.#drained(2000 + this.responseDelay);
    for (const socket of this.#sockets) socket.destroy();
    this.#udp?.close();
    this.#udp = undefined;
  }

  /** Closes every open connection while still listening, as a plug that drops idle clients. */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Calls `listener` after every answer the plug sends (e.g. to follow a relay change at once). */
  onResponse(listener: () => void): void {
    this.#responseListeners.push(listener);
  }

  get relayOn(): boolean {
    return this.kasa.relayOn;
  }

  set relayOn(on: boolean) {
    this.kasa.relayOn = on;
  }

  setRealtime(values: Partial<Realtime>): void {
    this.kasa.setRealtime(values);
  }

  /** The reading values a correct driver derives from the current emeter values. */
  expected(): ReadingValues {
    return this.kasa.expected();
  }

  #accept(socket: Socket): void {
    this.connections++;
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    const reader = new XorFrameReader(MAX_REQUEST_BYTES);
    socket.on('data', (chunk: Buffer) => {
      let requests: Buffer[];
      try {
        requests = reader.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const request of requests) this.#request(socket, xorOpen(request));
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.#sockets.delete(socket));
  }

  #request(socket: Socket, text: string): void {
    if (this.fault === 'hang-up') {
      socket.destroy();
      return;
    }
    const answer = this.#answer(text, () => this.kasa.process(text));
    if (answer === undefined) return;
    this.#later(() => {
      if (this.fault === 'huge') socket.write(Buffer.from([1, 0, 0, 0]));
      else socket.write(xorFrame(this.fault === 'garbage' ? '<html>busy</html>' : answer));
    });
  }

  #datagram(message: Buffer, remote: { address: string; port: number }): void {
    const answer = this.#answer(xorOpen(message), (text) => this.kasa.processDiscovery(text));
    if (answer === undefined) return;
    this.#later(() => this.#udp?.send(answer, remote.port, remote.address));
  }

  /** Counts the request and builds the answer now (the state it reports is the request's time). */
  #answer<T>(text: string, process: (text: string) => T): T | undefined {
    this.requests++;
    try {
      return process(text);
    } catch {
      // Not a request of the IOT set (not JSON): a plug stays silent.
      return undefined;
    }
  }

  #later(send: () => void): void {
    this.#inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.#inFlight);
    const deliver = () => {
      send();
      this.#inFlight--;
      for (const listener of this.#responseListeners) listener();
      if (this.#inFlight === 0) for (const waiter of this.#drainWaiters.splice(0)) waiter();
    };
    if (this.responseDelay > 0) setTimeout(deliver, this.responseDelay);
    else setImmediate(deliver);
  }

  #drained(timeoutMs: number): Promise<void> {
    if (this.#inFlight <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#drainWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
