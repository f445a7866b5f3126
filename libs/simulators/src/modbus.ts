import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import type {
  ServerSerial as ServerSerialClass,
  ServerTCP as ServerTCPClass,
  IServiceVector,
} from 'modbus-serial';
import { registerWords, type MeterProfile, type ReadingValues } from '@wattbus/devices';

const { ServerTCP, ServerSerial } = createRequire(import.meta.url)('modbus-serial') as {
  ServerTCP: typeof ServerTCPClass;
  ServerSerial: typeof ServerSerialClass;
};

export interface SimulatedRequest {
  unitId: number;
  function: 3 | 4;
  address: number;
  count: number;
}

interface Unit {
  holding: Map<number, number>;
  input: Map<number, number>;
  /** Registers outside the image: answered as 0, or refused with exception 2 like a strict meter. */
  unmapped: 'zero' | 'refuse';
  /** Longer reads are refused with exception 2, like an Eastron SDM whose firmware takes no more than ~50. */
  maxRegistersPerRead: number;
  silent: boolean;
}

/**
 * Meters on one simulated bus, each a register image built from a profile and the reading values
 * it should produce (encoded per the profile: type, word order, scale, unit). Served by
 * modbus-serial's ServerTCP (Modbus TCP) or ServerSerial (RTU on a serial port or pty). For tests.
 */
export class SimulatedMeters {
  /** Every request served or ignored, in order. */
  readonly requests: SimulatedRequest[] = [];
  #units = new Map<number, Unit>();
  #corrupt = new Map<number, number>();
  #exceptions = new Map<number, { code: number; count: number }>();
  #serialPorts = new Set<{ write(data: Buffer): unknown }>();

  /**
   * Sets unit `unitId` to a meter of `profile` reading `values` (one entry per phase with `phase`,
   * plus one without for the total, as the driver returns them; `energy_returned_wh` defaults to 0).
   * `maxRegistersPerRead` makes it refuse longer reads with exception 2 (default: Modbus's 125).
   */
  setMeter(
    unitId: number,
    profile: MeterProfile,
    values: readonly ReadingValues[],
    options: { maxRegistersPerRead?: number } = {},
  ): void {
    const unit: Unit = {
      holding: new Map(),
      input: new Map(),
      unmapped: profile.max_gap_registers > 0 ? 'zero' : 'refuse',
      maxRegistersPerRead: options.maxRegistersPerRead ?? 125,
      silent: this.#units.get(unitId)?.silent ?? false,
    };
    for (const register of profile.registers) {
      const group = values.find((entry) => entry.phase === register.phase);
      // A meter that never exported reads 0 on its export counter: callers may leave it out.
      const value = group?.[register.field] ?? (register.field === 'energy_returned_wh' ? 0 : undefined);
      if (typeof value !== 'number') {
        throw new Error(
          `no ${register.field}${register.phase ? ` for ${register.phase}` : ''} in the values for ${profile.name}`,
        );
      }
      const table = register.function === 3 ? unit.holding : unit.input;
      registerWords(register, value).forEach((word, index) => table.set(register.address + index, word));
    }
    this.#units.set(unitId, unit);
  }

  /** A silent unit never answers, like a meter that is off or has another address. */
  silence(unitId: number, silent = true): void {
    const unit = this.#units.get(unitId) ?? {
      holding: new Map(),
      input: new Map(),
      unmapped: 'refuse',
      maxRegistersPerRead: 125,
      silent,
    };
    unit.silent = silent;
    this.#units.set(unitId, unit);
  }

  /**
   * The next `count` answers of `unitId` on serial servers go out with a broken CRC (line noise),
   * so the master must retry.
   */
  corruptNext(unitId: number, count = 1): void {
    this.#corrupt.set(unitId, count);
  }

  /**
   * The next `count` requests to `unitId` are answered with Modbus exception `code` (6: busy,
   * 4: device failure…), as a meter under load or in trouble does.
   */
  failNext(unitId: number, code: number, count = 1): void {
    this.#exceptions.set(unitId, { code, count });
  }

  requestsOf(unitId: number): SimulatedRequest[] {
    return this.requests.filter((request) => request.unitId === unitId);
  }

  /** The modbus-serial service vector over the images. */
  vector(): IServiceVector {
    const many =
      (fc: 3 | 4) =>
      (
        address: number,
        count: number,
        unitId: number,
        callback: (error: Error | null, values: number[]) => void,
      ) =>
        this.#answer(fc, address, count, unitId, callback);
    const one =
      (fc: 3 | 4) =>
      (address: number, unitId: number, callback: (error: Error | null, value: number) => void) =>
        this.#answer(fc, address, 1, unitId, (error, values) => callback(error, values[0] ?? 0));
    return {
      getMultipleHoldingRegisters: many(3),
      getMultipleInputRegisters: many(4),
      getHoldingRegister: one(3),
      getInputRegister: one(4),
    };
  }

  #answer(
    fc: 3 | 4,
    address: number,
    count: number,
    unitId: number,
    callback: (error: Error | null, values: number[]) => void,
  ): void {
    this.requests.push({ unitId, function: fc, address, count });
    const unit = this.#units.get(unitId);
    if (!unit || unit.silent) return; // no answer at all: the master times out
    const exception = this.#exceptions.get(unitId);
    if (exception && exception.count > 0) {
      exception.count--;
      callback(
        Object.assign(new Error(`Modbus exception ${exception.code}`), { modbusErrorCode: exception.code }),
        [],
      );
      return;
    }
    if (count > unit.maxRegistersPerRead) {
      callback(Object.assign(new Error('Illegal data address'), { modbusErrorCode: 2 }), []);
      return;
    }
    const table = fc === 3 ? unit.holding : unit.input;
    const values: number[] = [];
    for (let offset = 0; offset < count; offset++) {
      const word = table.get(address + offset);
      if (word === undefined && unit.unmapped === 'refuse') {
        callback(Object.assign(new Error('Illegal data address'), { modbusErrorCode: 2 }), []);
        return;
      }
      values.push(word ?? 0);
    }
    const corrupt = this.#corrupt.get(unitId) ?? 0;
    if (corrupt > 0 && this.#serialPorts.size > 0) {
      this.#corrupt.set(unitId, corrupt - 1);
      // A whole frame of the expected length whose CRC does not match, instead of the answer.
      const frame = Buffer.alloc(3 + count * 2 + 2);
      frame.writeUInt8(unitId, 0);
      frame.writeUInt8(fc, 1);
      frame.writeUInt8(count * 2, 2);
      values.forEach((word, index) => frame.writeUInt16BE(word, 3 + index * 2));
      frame.writeUInt16LE(0xbeef, frame.length - 2);
      for (const port of this.#serialPorts) port.write(frame);
      return;
    }
    callback(null, values);
  }

  /** Serves the meters over Modbus TCP on a free loopback port (or `port`, to restart on the same one). */
  async serveTcp(options: { port?: number } = {}): Promise<SimulatedServer> {
    for (let attempt = 1; ; attempt++) {
      const port = options.port ?? (await freePort());
      const server = new ServerTCP(this.vector(), { host: '127.0.0.1', port, unitID: 255 });
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('initialized', () => resolve());
          server.once('serverError', reject);
        });
        server.on('socketError', () => undefined);
        server.on('error', () => undefined);
        return {
          host: '127.0.0.1',
          port,
          close: () => closeServer(server, true),
        };
      } catch (error) {
        const retry = (error as { code?: string }).code === 'EADDRINUSE' && !options.port && attempt < 10;
        if (!retry) throw error;
      }
    }
  }

  /** Serves the meters as RTU slaves on a serial port (e.g. one end of a socat pty pair). */
  async serveSerial(
    path: string,
    options: { baudRate?: number; parity?: 'none' | 'even' | 'odd' } = {},
  ): Promise<SimulatedServer> {
    let opened: (error?: Error | null) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      opened = (error) => (error ? reject(error) : resolve());
    });
    const server = new ServerSerial(this.vector(), {
      path,
      baudRate: options.baudRate ?? 9600,
      parity: options.parity ?? 'none',
      unitID: 255,
      // Frames end after 5 ms of silence (the library's default is 30 ms).
      interval: 5,
      openCallback: (error: Error | null) => opened(error),
    } as unknown as ConstructorParameters<typeof ServerSerial>[1]);
    server.on('error', () => undefined);
    server.on('socketError', () => undefined);
    const port = (
      server as unknown as { getPort(): NodeJS.EventEmitter & { write(data: Buffer): unknown } }
    ).getPort();
    port.on('error', () => undefined);
    await ready;
    this.#serialPorts.add(port);
    return {
      path,
      close: () => {
        this.#serialPorts.delete(port);
        return closeServer(server, false);
      },
    };
  }
}

export interface SimulatedServer {
  host?: string;
  port?: number;
  path?: string;
  close(): Promise<void>;
}

async function closeServer(server: ServerTCPClass | ServerSerialClass, tcp: boolean): Promise<void> {
  if (tcp) for (const socket of (server as ServerTCPClass).socks.keys()) socket.destroy();
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 1000);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
