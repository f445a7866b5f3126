import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import { WattbusError } from '@wattbus/contracts';
import type ModbusRTUClass from 'modbus-serial';
import type { Logger } from 'pino';
import { classifyDeviceError } from '../errors.js';
import type { Closable } from '../shared-resources.js';
import { exceptionFailure, MODBUS_FAILURES, type ModbusFailure } from './failures.js';
import type { Parity } from './profile-schema.js';

// CommonJS with the client class as module.exports; the ESM loader cannot see it by name.
const ModbusRTU = createRequire(import.meta.url)('modbus-serial') as typeof ModbusRTUClass;
type ModbusClient = InstanceType<typeof ModbusRTUClass>;

export type ModbusTransport = 'rtu' | 'tcp' | 'rtu-over-tcp';

/** What one physical bus (serial port or TCP endpoint) is opened with; every device on it must agree. */
export interface ModbusLineSettings {
  transport: ModbusTransport;
  /** Serial port (rtu). */
  path?: string;
  baud_rate?: number;
  parity?: Parity;
  data_bits?: 7 | 8;
  stop_bits?: 1 | 2;
  /** Modbus TCP server or RTU-over-TCP gateway. */
  host?: string;
  port?: number;
  /** Silence kept between the end of one frame and the next request. */
  inter_frame_gap_ms: number;
}

export interface LineRequest {
  unitId: number;
  function: 3 | 4;
  address: number;
  count: number;
  /** How long one attempt waits for the answer. */
  responseTimeoutMs: number;
  /** Further attempts after a timeout or a corrupt frame. */
  retries: number;
  /** Epoch ms after which nobody waits for the answer any more (the device's timeout_ms). */
  deadline: number;
  /** Names the device in errors. */
  where: string;
}

export interface LineMetrics {
  requests: number;
  answers: number;
  timeouts: number;
  corrupt_frames: number;
  retries: number;
  /** Requests dropped unsent because their deadline passed while they waited for the bus. */
  expired: number;
  opens: number;
  open_failures: number;
  /** Most requests on the wire at the same time: 1 on a correct line. */
  max_in_flight: number;
  queued: number;
}

interface Job {
  request: LineRequest;
  resolve: (words: number[]) => void;
  reject: (error: unknown) => void;
}

/** Consecutive timeouts (no answer from any unit in between) after which the port is reopened. */
const REOPEN_AFTER_TIMEOUTS = 3;
/** Slack over the library's own response timeout before we stop trusting it to call back. */
const GUARD_SLACK_MS = 250;

/**
 * One Modbus bus: a serial port or a TCP connection shared by every unit id on it. All requests
 * go through one FIFO queue, so exactly one is on the wire at a time, each with a response
 * timeout, and the inter-frame gap is kept between frames. Timeouts and corrupt frames are
 * retried; a port that vanished (USB adapter unplugged, gateway restarted) is reopened by the
 * next request, so the bus recovers without restarting the agent.
 */
export class ModbusLine implements Closable {
  readonly key: string;
  readonly settings: ModbusLineSettings;
  #logger: Logger;
  #queue: Job[] = [];
  #pumping = false;
  #client: ModbusClient | undefined;
  #closing: Promise<void> = Promise.resolve();
  #lastFrameAt = 0;
  #inFlight = 0;
  #consecutiveTimeouts = 0;
  #down = false;
  #closed = false;
  #metrics: Omit<LineMetrics, 'queued'> = {
    requests: 0,
    answers: 0,
    timeouts: 0,
    corrupt_frames: 0,
    retries: 0,
    expired: 0,
    opens: 0,
    open_failures: 0,
    max_in_flight: 0,
  };

  constructor(deps: { key: string; settings: ModbusLineSettings; logger: Logger }) {
    this.key = deps.key;
    this.settings = deps.settings;
    this.#logger = deps.logger;
  }

  /** `/dev/ttyUSB0 9600 8E1`, `tcp://10.0.0.5:502`, `rtu-over-tcp://10.0.0.6:4196`. */
  get label(): string {
    const s = this.settings;
    if (s.transport === 'rtu') {
      const parity = (s.parity ?? 'none')[0]?.toUpperCase() ?? 'N';
      return `${s.path} ${s.baud_rate} ${s.data_bits}${parity}${s.stop_bits}`;
    }
    return `${s.transport}://${s.host}:${s.port}`;
  }

  metrics(): LineMetrics {
    return { ...this.#metrics, queued: this.#queue.length };
  }

  /** Reads `count` registers; resolves with their 16-bit values or rejects with a WattbusError. */
  read(request: LineRequest): Promise<number[]> {
    if (this.#closed) {
      return Promise.reject(
        new WattbusError('DEVICE_UNREACHABLE', `${request.where}: the Modbus line is closed`),
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      void this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#queue.splice(0)) {
      job.reject(new WattbusError('DEVICE_UNREACHABLE', `${job.request.where}: the Modbus line is closed`));
    }
    await this.#drop();
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (let job = this.#queue.shift(); job; job = this.#queue.shift()) {
        try {
          job.resolve(await this.#attempts(job.request));
        } catch (error) {
          job.reject(error);
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  async #attempts(request: LineRequest): Promise<number[]> {
    for (let attempt = 0; ; attempt++) {
      await this.#keepGap();
      if (this.#closed) {
        throw new WattbusError('DEVICE_UNREACHABLE', `${request.where}: the Modbus line is closed`);
      }
      const remaining = request.deadline - Date.now();
      if (remaining <= 0) {
        if (attempt === 0) this.#metrics.expired++;
        throw new WattbusError(
          'DEVICE_TIMEOUT',
          attempt === 0
            ? `${request.where} waited for the busy Modbus line ${this.label} past its deadline`
            : `${request.where} did not answer in time`,
        );
      }
      const client = await this.#open(request, remaining);
      try {
        const words = await this.#transact(client, request, Math.min(request.responseTimeoutMs, remaining));
        this.#metrics.answers++;
        this.#consecutiveTimeouts = 0;
        return words;
      } catch (error) {
        const { failure, error: thrown } = this.#classify(error, request);
        const retryAt = Date.now() + failure.retryAfterMs;
        if (failure.transient && attempt < request.retries && retryAt < request.deadline) {
          this.#metrics.retries++;
          if (failure.retryAfterMs > 0)
            await new Promise((resolve) => setTimeout(resolve, failure.retryAfterMs));
          continue;
        }
        throw thrown;
      } finally {
        this.#lastFrameAt = Date.now();
      }
    }
  }

  async #keepGap(): Promise<void> {
    const wait = this.#lastFrameAt + this.settings.inter_frame_gap_ms - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  async #transact(client: ModbusClient, request: LineRequest, timeoutMs: number): Promise<number[]> {
    client.setID(request.unitId);
    client.setTimeout(timeoutMs);
    this.#metrics.requests++;
    this.#inFlight++;
    this.#metrics.max_in_flight = Math.max(this.#metrics.max_in_flight, this.#inFlight);
    let guard: NodeJS.Timeout | undefined;
    try {
      const work =
        request.function === 3
          ? client.readHoldingRegisters(request.address, request.count)
          : client.readInputRegisters(request.address, request.count);
      // The library's timeout should always fire; if it ever does not, drop the connection
      // rather than let the next request overlap this one.
      const stuck = new Promise<never>((_, reject) => {
        guard = setTimeout(() => {
          void this.#drop();
          reject(
            Object.assign(new Error('Timed out (no callback from modbus-serial)'), { errno: 'ETIMEDOUT' }),
          );
        }, timeoutMs + GUARD_SLACK_MS);
      });
      const result = await Promise.race([work, stuck]);
      if (result.data.length < request.count) {
        throw new Error(`Data length error, expected ${request.count} registers got ${result.data.length}`);
      }
      return result.data.slice(0, request.count);
    } finally {
      clearTimeout(guard);
      this.#inFlight--;
    }
  }

  /** Which row of MODBUS_FAILURES an error is, and the WattbusError it becomes. */
  #classify(error: unknown, request: LineRequest): { failure: ModbusFailure; error: WattbusError } {
    const failure = error as {
      name?: string;
      message?: string;
      errno?: string;
      modbusCode?: number;
      code?: string;
    };
    const message = failure?.message ?? String(error);
    const range = `${request.count} register(s) at ${request.address} (function ${request.function})`;
    if (failure?.name === 'TransactionTimedOutError' || failure?.errno === 'ETIMEDOUT') {
      this.#metrics.timeouts++;
      if (++this.#consecutiveTimeouts >= REOPEN_AFTER_TIMEOUTS) void this.#drop();
      const timeout = MODBUS_FAILURES.timeout;
      return {
        failure: timeout,
        error: new WattbusError(timeout.code, `${request.where} did not answer in time on ${this.label}`, {
          unit_id: request.unitId,
        }),
      };
    }
    if (typeof failure?.modbusCode === 'number') {
      const exception = exceptionFailure(failure.modbusCode);
      return {
        failure: exception,
        error: new WattbusError(exception.code, `${request.where} refused ${range}: ${message}`, {
          modbus_exception: failure.modbusCode,
        }),
      };
    }
    if (/CRC error|Data length error|Unexpected data error/i.test(message)) {
      this.#metrics.corrupt_frames++;
      const corrupt = MODBUS_FAILURES.corruptFrame;
      return {
        failure: corrupt,
        error: new WattbusError(corrupt.code, `${request.where} sent a corrupt frame: ${message}`),
      };
    }
    if (
      failure?.name === 'PortNotOpenError' ||
      failure?.name === 'SerialPortError' ||
      !this.#client?.isOpen
    ) {
      void this.#drop();
      const lost = MODBUS_FAILURES.connectionLost;
      return {
        failure: lost,
        error: new WattbusError(
          lost.code,
          `${request.where}: the Modbus line ${this.label} failed (${message})`,
        ),
      };
    }
    return { failure: MODBUS_FAILURES.other, error: classifyDeviceError(error, request.where) };
  }

  /** The open client, opening the port first when it is closed or was lost. */
  async #open(request: LineRequest, remainingMs: number): Promise<ModbusClient> {
    if (this.#client?.isOpen) return this.#client;
    // Also waits for a close still in progress: a serial port is locked until it is closed.
    await this.#drop();
    const client = new ModbusRTU();
    // Unhandled 'error' events would crash the agent; the next request notices the closed port.
    client.on('error', (error: unknown) => {
      this.#logger.debug({ line: this.label, err: (error as Error)?.message }, 'modbus line error');
    });
    client.on('close', () => {
      if (this.#client === client) this.#client = undefined;
    });
    const s = this.settings;
    let timer: NodeJS.Timeout | undefined;
    let abandoned = false;
    const connecting =
      s.transport === 'rtu'
        ? client.connectRTUBuffered(s.path ?? '', {
            baudRate: s.baud_rate,
            parity: s.parity,
            dataBits: s.data_bits,
            stopBits: s.stop_bits,
          })
        : s.transport === 'tcp'
          ? client.connectTCP(s.host ?? '', { port: s.port ?? 502 })
          : // Raw RTU frames (with CRC) over TCP. modbus-serial calls this port "telnet";
            // its connectTcpRTUBuffered speaks MBAP, i.e. plain Modbus TCP.
            client.connectTelnet(s.host ?? '', { port: s.port ?? 502 });
    try {
      await Promise.race([
        connecting,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            abandoned = true;
            reject(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
          }, remainingMs);
        }),
      ]);
    } catch (error) {
      this.#metrics.open_failures++;
      if (abandoned)
        void connecting.then(
          () => closeQuietly(client),
          () => undefined,
        );
      closeQuietly(client);
      if (!this.#down) {
        this.#down = true;
        this.#logger.warn({ line: this.label, err: (error as Error).message }, 'modbus line unavailable');
      }
      const code = (error as { code?: string }).code;
      // Not retried within the poll (MODBUS_FAILURES): the agent's backoff spaces the next attempts.
      throw new WattbusError(
        (code === 'ETIMEDOUT' ? MODBUS_FAILURES.openTimeout : MODBUS_FAILURES.cannotOpen).code,
        `${request.where}: cannot open the Modbus line ${this.label} (${(error as Error).message})`,
        { cause: code },
      );
    } finally {
      clearTimeout(timer);
    }
    if (this.#closed) {
      closeQuietly(client);
      throw new WattbusError('DEVICE_UNREACHABLE', `${request.where}: the Modbus line is closed`);
    }
    this.#metrics.opens++;
    if (this.#down) {
      this.#down = false;
      this.#logger.info({ line: this.label }, 'modbus line back');
    }
    this.#client = client;
    this.#consecutiveTimeouts = 0;
    return client;
  }

  async #drop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (client) this.#closing = closeQuietly(client);
    await this.#closing;
  }
}

/** Closes a client whose port may already be gone, without letting a late port error escape. */
function closeQuietly(client: ModbusClient): Promise<void> {
  // The client stops listening to its port on close; a port error after that must not go unhandled.
  (client as unknown as { _port?: EventEmitter })._port?.on?.('error', () => undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 1000);
    try {
      client.close(() => {
        clearTimeout(timer);
        resolve();
      });
    } catch {
      clearTimeout(timer);
      resolve();
    }
  });
}
