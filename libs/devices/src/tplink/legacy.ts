import { connect, type Socket } from 'node:net';
import { WattbusError } from '@wattbus/contracts';
import { classifyDeviceError } from '../errors.js';
import { parseAnswer, type TplinkTransport } from './transport.js';
import { xorFrame, xorOpen, XorFrameReader } from './xor-cipher.js';

/** Longest answer read; a strip's sysinfo or a year of day stats is a few kB. */
const MAX_ANSWER_BYTES = 256 * 1024;

interface Exchange {
  frame: Buffer;
  resolve: (answer: unknown) => void;
  reject: (error: WattbusError) => void;
  /** Sent on a connection an earlier request had used: the plug may have dropped it meanwhile. */
  reused: boolean;
  retried: boolean;
}

/**
 * Kasa's original local protocol (framing and cipher in xor-cipher.ts) on TCP port 9999, over
 * one connection per plug that stays open across requests, as python-kasa's `XorTransport`
 * (kasa/transports/xortransport.py) keeps its stream and writes each query to it: opening a
 * connection per poll cost the agent more than the poll itself. One request is on the wire at a
 * time; later ones wait. The connection is opened on first use and again after the plug closed it,
 * an error, or a request that timed out (its late answer must not be read as the next one's).
 *
 * Failures name the device and say what went wrong: refused, reset or no route
 * (DEVICE_UNREACHABLE with the socket's code as `cause`), closed before answering
 * (DEVICE_UNREACHABLE), no connection or no answer within `timeoutMs` (DEVICE_TIMEOUT), an
 * oversized or non-JSON answer (DEVICE_ERROR). A reused connection that closes before any byte
 * of the answer (the plug dropped an idle client) gets the request once more on a new one:
 * every Kasa request we send (reads, `set_relay_state`) may safely run twice.
 */
export class LegacyTransport implements TplinkTransport {
  #host: string;
  #port: number;
  #where: string;
  #timeoutMs: number;
  #socket: Socket | undefined;
  #connected = false;
  #reader = new XorFrameReader(MAX_ANSWER_BYTES);
  #exchange: Exchange | undefined;
  /** Requests waiting for the one on the wire, in order. */
  #waiting: Exchange[] = [];
  /**
   * The deadline of the request on the wire: one timer per plug, re-armed (`refresh`) for each
   * request instead of a new one per poll; unreferenced while nothing is on the wire.
   */
  #deadline: NodeJS.Timeout | undefined;
  /** The last request's text and frame: a poller sends the same request every time. */
  #lastText = '';
  #lastFrame: Buffer | undefined;

  constructor(options: { host: string; port: number; timeoutMs: number; where: string }) {
    this.#host = options.host;
    this.#port = options.port;
    this.#where = options.where;
    this.#timeoutMs = options.timeoutMs;
  }

  send(request: Record<string, unknown>): Promise<unknown> {
    const frame = this.#frameOf(JSON.stringify(request));
    return new Promise((resolve, reject) => {
      const exchange = { frame, resolve, reject, reused: false, retried: false };
      if (this.#exchange) this.#waiting.push(exchange);
      else this.#start(exchange);
    });
  }

  close(): void {
    const closed = () =>
      new WattbusError('DEVICE_ERROR', `${this.#where}: the connection was closed by the agent`);
    for (const waiting of this.#waiting.splice(0)) waiting.reject(closed());
    this.#drop();
    this.#fail(closed());
    clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }

  /** The frame is never changed once written, so the same bytes can go out again. */
  #frameOf(text: string): Buffer {
    if (text !== this.#lastText || !this.#lastFrame) {
      this.#lastFrame = xorFrame(text);
      this.#lastText = text;
    }
    return this.#lastFrame;
  }

  /** Puts a request on the wire; its deadline runs from here. */
  #start(exchange: Exchange): void {
    if (this.#deadline) this.#deadline.refresh().ref();
    else this.#deadline = setTimeout(() => this.#timedOut(), this.#timeoutMs);
    exchange.reused = this.#socket !== undefined;
    this.#exchange = exchange;
    (this.#socket ?? this.#connect()).write(exchange.frame);
  }

  #connect(): Socket {
    const socket = connect({ host: this.#host, port: this.#port, noDelay: true });
    // An idle connection must not keep the process alive; a request's timer does while it runs.
    socket.unref();
    this.#socket = socket;
    this.#connected = false;
    this.#reader.reset();
    let failure: Error | undefined;
    socket.on('connect', () => {
      if (this.#socket === socket) this.#connected = true;
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.#socket === socket) this.#received(chunk);
    });
    socket.on('error', (error) => (failure = error));
    socket.on('close', () => {
      if (this.#socket === socket) this.#closed(failure);
    });
    return socket;
  }

  #received(chunk: Buffer): void {
    const exchange = this.#exchange;
    if (!exchange) {
      // Nothing was asked: the stream is out of step with our requests.
      this.#drop();
      return;
    }
    let payloads: Buffer[];
    try {
      payloads = this.#reader.push(chunk);
    } catch (error) {
      this.#drop();
      this.#fail(
        new WattbusError(
          'DEVICE_ERROR',
          `${this.#where} announced ${(error as Error).message}: not a Kasa answer`,
        ),
      );
      return;
    }
    if (payloads.length === 0) return;
    // More than one answer to one request: the stream is out of step, start afresh next time.
    if (payloads.length > 1 || this.#reader.buffered > 0) this.#drop();
    try {
      this.#succeed(parseAnswer(xorOpen(payloads[0]!), this.#where, 'a request'));
    } catch (error) {
      this.#fail(error as WattbusError);
    }
  }

  #closed(failure: Error | undefined): void {
    const exchange = this.#exchange;
    const answerStarted = this.#reader.buffered > 0;
    this.#socket = undefined;
    this.#connected = false;
    if (!exchange) return;
    if (exchange.reused && !exchange.retried && !answerStarted) {
      exchange.retried = true;
      exchange.reused = false;
      this.#connect().write(exchange.frame);
      return;
    }
    this.#fail(
      failure
        ? classifyDeviceError(failure, this.#where)
        : new WattbusError('DEVICE_UNREACHABLE', `${this.#where} closed the connection before answering`),
    );
  }

  #timedOut(): void {
    // The timer outlived a request that was answered in time and nothing is on the wire.
    if (!this.#exchange) return;
    const what = this.#connected ? 'did not answer' : 'did not accept a connection';
    this.#drop();
    this.#fail(new WattbusError('DEVICE_TIMEOUT', `${this.#where} ${what} within ${this.#timeoutMs} ms`));
  }

  #succeed(answer: unknown): void {
    const exchange = this.#finish();
    exchange?.resolve(answer);
  }

  #fail(error: WattbusError): void {
    const exchange = this.#finish();
    exchange?.reject(error);
  }

  /** Ends the request on the wire and puts the next waiting one there. */
  #finish(): Exchange | undefined {
    const exchange = this.#exchange;
    if (!exchange) return undefined;
    this.#exchange = undefined;
    this.#deadline?.unref();
    const next = this.#waiting.shift();
    if (next) this.#start(next);
    return exchange;
  }

  /**
   * Forgets the connection; its late events are ignored. Called before failing its request, so
   * the next one waiting gets a new connection.
   */
  #drop(): void {
    const socket = this.#socket;
    this.#socket = undefined;
    this.#connected = false;
    this.#reader.reset();
    socket?.destroy();
  }
}
