import { Type, type Static } from '@sinclair/typebox';
import { WattbusError, type ReadingLimits } from '@wattbus/contracts';
import type { Logger } from 'pino';
import type {
  DeviceDriver,
  DriverDefinition,
  DriverDeps,
  DriverDescription,
  DriverReading,
  DriverState,
  ReadingValues,
} from '../driver.js';
import type { RegistryDevice } from '../registry-schema.js';
import { registerValue } from './codec.js';
import { ModbusLine, type ModbusLineSettings } from './line.js';
import { TOO_LONG_EXCEPTIONS } from './failures.js';
import { planReads, splitBlock, type ReadBlock } from './plan.js';
import {
  PARITIES,
  PHASES,
  READING_FIELDS,
  MAX_REGISTERS_PER_READ,
  RegisterOverrideSchema,
  WordOrderSchema,
  registerCount,
  type Phase,
} from './profile-schema.js';
import { ProfileError } from '../errors.js';
import { loadProfile, withOverrides, type MeterProfile } from './profiles.js';

const OVERRIDE_KEY = `^(${READING_FIELDS.join('|')})(:(${PHASES.join('|')}|total))?$`;

export const ModbusConnectionSchema = Type.Object(
  {
    profile: Type.String({
      minLength: 1,
      maxLength: 1024,
      description:
        'Built-in profile (orno-we-514, orno-we-516, eastron-sdm120, eastron-sdm630) or the path of a profile file (.yaml/.json; relative to the working directory).',
    }),
    unit_id: Type.Integer({
      minimum: 0,
      maximum: 255,
      default: 1,
      description: 'Modbus unit (slave) id (default 1).',
    }),
    transport: Type.Unsafe<'rtu' | 'tcp' | 'rtu-over-tcp'>({
      enum: ['rtu', 'tcp', 'rtu-over-tcp'],
      description: 'rtu: serial port; tcp: Modbus TCP; rtu-over-tcp: RTU frames through a TCP gateway.',
    }),
    path: Type.Optional(Type.String({ minLength: 1, description: 'Serial port (rtu), e.g. /dev/ttyUSB0.' })),
    baud_rate: Type.Optional(
      Type.Integer({ minimum: 300, maximum: 921_600, description: "Default: the profile's." }),
    ),
    parity: Type.Optional(Type.Unsafe<(typeof PARITIES)[number]>({ enum: [...PARITIES] })),
    data_bits: Type.Optional(Type.Unsafe<7 | 8>({ enum: [7, 8] })),
    stop_bits: Type.Optional(Type.Unsafe<1 | 2>({ enum: [1, 2] })),
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'TCP server or gateway.' })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'TCP port (default 502).' })),
    response_timeout_ms: Type.Integer({
      minimum: 10,
      maximum: 60_000,
      default: 500,
      description: 'How long one request waits for its answer (default 500).',
    }),
    retries: Type.Integer({
      minimum: 0,
      maximum: 10,
      default: 1,
      description: 'Further attempts after a timeout or a corrupt frame (default 1).',
    }),
    inter_frame_gap_ms: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1000,
        description:
          'Silence between frames on the bus (default: 3.5 characters at the baud rate, at least 2 ms; TCP 0).',
      }),
    ),
    word_order: Type.Optional(WordOrderSchema),
    max_gap_registers: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 64, description: "Overrides the profile's max_gap_registers." }),
    ),
    max_registers_per_read: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_REGISTERS_PER_READ,
        description: "Overrides the profile's max_registers_per_read (most registers one request may read).",
      }),
    ),
    registers: Type.Optional(
      Type.Record(Type.String({ pattern: OVERRIDE_KEY }), RegisterOverrideSchema, {
        description:
          'Per-field changes to the profile, keyed by field (energy_wh) or field and phase (energy_wh:L1).',
        additionalProperties: false,
      }),
    ),
  },
  {
    additionalProperties: false,
    allOf: [
      {
        if: { properties: { transport: { const: 'rtu' } }, required: ['transport'] },
        then: { required: ['path'] },
      },
      {
        if: { properties: { transport: { enum: ['tcp', 'rtu-over-tcp'] } }, required: ['transport'] },
        then: { required: ['host'] },
      },
    ],
  },
);
export type ModbusConnection = Static<typeof ModbusConnectionSchema>;

const SERIAL_DEFAULTS = { baud_rate: 9600, parity: 'none', data_bits: 8, stop_bits: 1 } as const;

/** The bus settings of one device: its own keys, else the profile's serial defaults, else 9600 8N1. */
export function lineSettingsOf(connection: ModbusConnection, profile: MeterProfile): ModbusLineSettings {
  if (connection.transport !== 'rtu') {
    return {
      transport: connection.transport,
      host: connection.host,
      port: connection.port ?? 502,
      inter_frame_gap_ms: connection.inter_frame_gap_ms ?? (connection.transport === 'tcp' ? 0 : 5),
    };
  }
  const serial = { ...SERIAL_DEFAULTS, ...profile.serial };
  const baud_rate = connection.baud_rate ?? serial.baud_rate;
  const parity = connection.parity ?? serial.parity;
  const data_bits = connection.data_bits ?? serial.data_bits;
  const stop_bits = connection.stop_bits ?? serial.stop_bits;
  const bitsPerCharacter = 1 + data_bits + (parity === 'none' ? 0 : 1) + stop_bits;
  return {
    transport: 'rtu',
    path: connection.path,
    baud_rate,
    parity,
    data_bits,
    stop_bits,
    // Modbus RTU: frames are separated by 3.5 character times of silence.
    inter_frame_gap_ms:
      connection.inter_frame_gap_ms ?? Math.max(2, Math.ceil((3.5 * bitsPerCharacter * 1000) / baud_rate)),
  };
}

/** Devices share a line when they name the same serial port or the same TCP host and port. */
export function lineKeyOf(settings: ModbusLineSettings): string {
  return settings.transport === 'rtu'
    ? `modbus:${settings.path}`
    : `modbus:${settings.host}:${settings.port}`;
}

const SHARED_SETTINGS = [
  'transport',
  'baud_rate',
  'parity',
  'data_bits',
  'stop_bits',
  'inter_frame_gap_ms',
] as const;

/**
 * A Modbus meter (RTU on a serial port, Modbus TCP, or RTU through a TCP gateway) read by its
 * profile: one request per run of contiguous registers, all through the bus's shared queue.
 * A read of several registers the meter refuses as too long (exception 2 or 3) is split in two
 * and retried within the poll; the smaller reads are kept for later polls.
 */
export class ModbusDriver implements DeviceDriver {
  readonly profile: MeterProfile;
  readonly line: ModbusLine;
  #device: RegistryDevice;
  #connection: ModbusConnection;
  #logger: Logger;
  #blocks: ReadBlock[];
  #where: string;
  #closed = false;

  constructor(device: RegistryDevice, deps: DriverDeps) {
    this.#device = device;
    this.#logger = deps.logger;
    this.#connection = device.connection as ModbusConnection;
    const connection = this.#connection;
    this.profile = withOverrides(
      loadProfile(connection.profile),
      {
        ...(connection.word_order ? { word_order: connection.word_order } : {}),
        ...(connection.registers ? { registers: connection.registers } : {}),
      },
      device.id,
    );
    const settings = lineSettingsOf(connection, this.profile);
    const key = lineKeyOf(settings);
    const line = deps.shared.use(key, () => new ModbusLine({ key, settings, logger: deps.logger }));
    if (!(line instanceof ModbusLine)) throw new Error(`shared resource ${key} is not a Modbus line`);
    const conflicts = SHARED_SETTINGS.filter((name) => line.settings[name] !== settings[name]);
    if (conflicts.length > 0) {
      throw new ProfileError(
        `device '${device.id}'`,
        conflicts.map((name) => ({
          path: `/connection/${name}`,
          message: `the devices on ${key.slice('modbus:'.length)} disagree: ${name} is ${String(settings[name])} here but ${String(line.settings[name])} for a device before it — a bus has one setting; set it the same on every device of the bus`,
        })),
        `invalid Modbus bus settings of device '${device.id}'`,
      );
    }
    this.line = line;
    this.#blocks = planReads(
      this.profile.registers,
      connection.max_gap_registers ?? this.profile.max_gap_registers,
      connection.max_registers_per_read ?? this.profile.max_registers_per_read,
    );
    this.#where = `${device.id} (unit ${connection.unit_id} on ${line.label})`;
  }

  /** The reads one poll makes, e.g. for logs and tests. */
  get reads(): readonly ReadBlock[] {
    return this.#blocks;
  }

  async read(): Promise<DriverReading> {
    if (this.#closed) throw new WattbusError('DEVICE_UNREACHABLE', `${this.#where}: the driver is closed`);
    const deadline = Date.now() + this.#device.timeout_ms;
    const groups = new Map<Phase | 'total', Partial<ReadingValues>>();
    const refused: string[] = [];
    try {
      for (let index = 0; index < this.#blocks.length; index++) {
        const block = this.#blocks[index]!;
        let words: number[];
        try {
          words = await this.#readBlock(block, deadline);
        } catch (error) {
          const halves = tooLong(error) ? splitBlock(block) : undefined;
          if (!halves) throw error;
          // Read the halves now, within this poll's deadline, and keep them for the next polls.
          refused.push(`${block.count} registers at ${block.address} (exception ${tooLong(error)})`);
          this.#blocks.splice(index, 1, ...halves);
          index--;
          continue;
        }
        this.#decode(block, words, groups);
      }
    } finally {
      if (refused.length > 0) this.#logSplit(refused);
    }
    const values: ReadingValues[] = [];
    for (const phase of PHASES) {
      const group = groups.get(phase);
      if (group) values.push({ ...(group as ReadingValues), phase });
    }
    const total = groups.get('total');
    if (total) values.push(total as ReadingValues);
    return { values };
  }

  #readBlock(block: ReadBlock, deadline: number): Promise<number[]> {
    return this.line.read({
      unitId: this.#connection.unit_id,
      function: block.function,
      address: block.address,
      count: block.count,
      responseTimeoutMs: this.#connection.response_timeout_ms,
      retries: this.#connection.retries,
      deadline,
      where: this.#where,
    });
  }

  #decode(block: ReadBlock, words: number[], groups: Map<Phase | 'total', Partial<ReadingValues>>): void {
    for (const register of block.registers) {
      const offset = register.address - block.address;
      const value = registerValue(register, words.slice(offset, offset + registerCount(register.type)));
      if (!Number.isFinite(value)) {
        throw new WattbusError(
          'DEVICE_ERROR',
          `${this.#where} sent ${value} for ${register.field}${register.phase ? ` of ${register.phase}` : ''} (register ${register.address})`,
        );
      }
      const group = register.phase ?? 'total';
      groups.set(group, { ...groups.get(group), [register.field]: value });
    }
  }

  /** Once per change of the plan, which then stays: the next polls use the smaller reads. */
  #logSplit(refused: string[]): void {
    this.#logger.warn(
      {
        device: this.#device.id,
        refused,
        reads: this.#blocks.map((block) => `${block.count} registers at ${block.address}`),
        hint: 'set max_registers_per_read in the profile or the registry entry to start with these reads',
      },
      'modbus meter refused a long read; reading it in smaller parts from now on',
    );
  }

  async setPower(): Promise<void> {
    throw new WattbusError(
      'DEVICE_ERROR',
      `${this.#device.id} is a meter (${this.profile.model}) and has no relay`,
    );
  }

  async getState(): Promise<DriverState> {
    throw new WattbusError(
      'DEVICE_ERROR',
      `${this.#device.id} is a meter (${this.profile.model}) and has no relay`,
    );
  }

  async describe(): Promise<DriverDescription> {
    return {
      model: this.profile.model,
      details: {
        profile: this.profile.name,
        unit_id: String(this.#connection.unit_id),
        line: this.line.label,
      },
    };
  }

  /** The profile's rating (`limits:` in the profile file), if it gives one. */
  limits(): ReadingLimits | undefined {
    return this.profile.limits;
  }

  /** The line is shared with the other meters on the bus: the agent closes it with its SharedResources. */
  async close(): Promise<void> {
    this.#closed = true;
  }
}

export const modbusDriver: DriverDefinition<typeof ModbusConnectionSchema> = {
  type: 'modbus',
  optionsSchema: ModbusConnectionSchema,
  create: (device, deps) => new ModbusDriver(device, deps),
};

/** The exception code of a refusal that may mean "too many registers at once", else undefined. */
function tooLong(error: unknown): number | undefined {
  if (!(error instanceof WattbusError)) return undefined;
  const code = (error.details as { modbus_exception?: number } | undefined)?.modbus_exception;
  return code !== undefined && TOO_LONG_EXCEPTIONS.includes(code) ? code : undefined;
}
