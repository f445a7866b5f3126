import { readdirSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validator, type ReadingLimits } from '@wattbus/contracts';
import { ProfileError, type RegistryProblem } from '../errors.js';
import { readYamlFileSync, valueAt } from '../yaml-file.js';
import {
  DATA_TYPES,
  FIELD_UNITS,
  MAX_REGISTERS_PER_READ,
  ProfileFileSchema,
  registerCount,
  type DataType,
  type Phase,
  type ProfileFile,
  type ReadingField,
  type RegisterOverride,
  type SerialSettings,
  type WordOrder,
} from './profile-schema.js';

/** The profiles shipped with the library, one file per model. */
export const BUILTIN_PROFILES_DIR = fileURLToPath(new URL('../../profiles/', import.meta.url));

const PROFILE_NAME = /^[a-z0-9][a-z0-9_-]*$/;
const PROFILE_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** One register of a loaded profile, every default filled in. */
export interface MeterRegister {
  field: ReadingField;
  phase?: Phase;
  address: number;
  function: 3 | 4;
  type: DataType;
  word_order: WordOrder;
  /** Multiplier from the raw value to `unit`. */
  scale: number;
  unit: string;
  /** Multiplier from the raw value to the reading field's unit (scale × unit conversion). */
  factor: number;
}

export interface MeterProfile {
  /** Built-in name (file name without extension) or the file's absolute path. */
  name: string;
  file: string;
  model: string;
  phases: 1 | 3;
  serial: SerialSettings;
  max_gap_registers: number;
  /** Most registers the meter answers in one request (125 unless the profile says less). */
  max_registers_per_read: number;
  /** Plausibility limits from the meter's rating, when the profile gives them. */
  limits?: ReadingLimits;
  registers: MeterRegister[];
}

const checkFile = validator(ProfileFileSchema);
const cache = new Map<string, MeterProfile>();
const aliasesOf = new Map<string, string[]>();
let builtinIndex: Map<string, string> | undefined;

/** Built-in profile names (and aliases) with their files. */
export function builtinProfiles(): Map<string, string> {
  if (builtinIndex) return builtinIndex;
  const index = new Map<string, string>();
  for (const entry of readdirSync(BUILTIN_PROFILES_DIR).sort()) {
    if (!PROFILE_EXTENSIONS.has(extname(entry))) continue;
    const file = join(BUILTIN_PROFILES_DIR, entry);
    index.set(basename(entry, extname(entry)), file);
    for (const alias of loadProfileFile(file).aliases) index.set(alias, file);
  }
  builtinIndex = index;
  return index;
}

/**
 * A profile by built-in name (`orno-we-514`) or by path (anything with a `/` or a .yaml/.yml/.json
 * extension; relative paths from `baseDir`, default the working directory). Loaded once per process.
 * Throws ProfileError for a file that is missing, malformed or inconsistent.
 */
export function loadProfile(reference: string, baseDir = process.cwd()): MeterProfile {
  const byPath = reference.includes('/') || PROFILE_EXTENSIONS.has(extname(reference));
  if (!byPath && PROFILE_NAME.test(reference)) {
    const file = builtinProfiles().get(reference);
    if (!file) {
      throw new ProfileError(reference, [
        {
          path: '/',
          message: `no built-in Modbus profile '${reference}'; built-in: ${[...builtinProfiles().keys()].join(', ')} — or give the path of a profile file`,
        },
      ]);
    }
    return { ...loadProfileFile(file).profile, name: basename(file, extname(file)) };
  }
  return loadProfileFile(resolve(baseDir, reference)).profile;
}

function loadProfileFile(file: string): { profile: MeterProfile; aliases: string[] } {
  const cached = cache.get(file);
  if (cached) return { profile: cached, aliases: aliasesOf.get(file) ?? [] };
  const parsed = readYamlFileSync(file, (problems) => new ProfileError(file, problems));
  const where = (pointer: string) => parsed.lineOf(pointer);
  const value = parsed.value;
  if (!checkFile(value)) {
    throw new ProfileError(
      file,
      checkFile.errors().map((error) => {
        let path = error.instancePath || '/';
        let message = error.message ?? 'is invalid';
        const params = error.params as Record<string, unknown>;
        if (error.keyword === 'required')
          message = `missing required key '${String(params.missingProperty)}'`;
        if (error.keyword === 'additionalProperties') {
          path = `${path === '/' ? '' : path}/${String(params.additionalProperty)}`;
          message = `unknown key '${String(params.additionalProperty)}'`;
        }
        if (error.keyword === 'enum') {
          const got = JSON.stringify(valueAt(value, path));
          const allowed = (params.allowedValues as unknown[]).map((item) => JSON.stringify(item)).join(', ');
          message = path.endsWith('/type')
            ? `unknown data type ${got}; expected one of ${DATA_TYPES.join(', ')}`
            : `${got} is not allowed; expected one of ${allowed}`;
        }
        if (error.keyword === 'type' || error.keyword === 'pattern' || error.keyword.startsWith('m')) {
          message += `, got ${JSON.stringify(valueAt(value, path))?.slice(0, 60) ?? 'nothing'}`;
        }
        return { path, line: where(path), message };
      }),
    );
  }
  const registers = value.registers.map((entry) =>
    resolveRegister(entry, { function: value.function ?? 3, word_order: value.word_order ?? 'big' }),
  );
  const problems = checkRegisters(registers, value.phases).map((problem) => ({
    ...problem,
    line: where(problem.path),
  }));
  if (problems.length > 0) throw new ProfileError(file, problems);
  const profile: MeterProfile = {
    name: file,
    file,
    model: value.model,
    phases: value.phases,
    serial: value.serial ?? {},
    max_gap_registers: value.max_gap_registers ?? 0,
    max_registers_per_read: value.max_registers_per_read ?? MAX_REGISTERS_PER_READ,
    ...(value.limits ? { limits: value.limits } : {}),
    registers,
  };
  cache.set(file, profile);
  aliasesOf.set(file, value.aliases ?? []);
  return { profile, aliases: value.aliases ?? [] };
}

type RegisterDefaults = { function: 3 | 4; word_order: WordOrder };

function resolveRegister(entry: ProfileFile['registers'][number], defaults: RegisterDefaults): MeterRegister {
  const unit = entry.unit ?? baseUnit(entry.field);
  const scale = entry.scale ?? 1;
  return {
    field: entry.field,
    ...(entry.phase ? { phase: entry.phase } : {}),
    address: parseAddress(entry.address),
    function: entry.function ?? defaults.function,
    type: entry.type,
    word_order: entry.word_order ?? defaults.word_order,
    scale,
    unit,
    factor: scale * unitFactor(entry.field, unit),
  };
}

function parseAddress(address: number | string): number {
  return typeof address === 'number' ? address : Number.parseInt(address.slice(2), 16);
}

function baseUnit(field: ReadingField): string {
  return Object.keys(FIELD_UNITS[field])[0] ?? '';
}

function unitFactor(field: ReadingField, unit: string): number {
  return (FIELD_UNITS[field] as Record<string, number>)[unit] ?? Number.NaN;
}

/** What the schema cannot say: units that fit the field, phases, one register per field, power in every reading. */
function checkRegisters(registers: MeterRegister[], phases: 1 | 3): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const seen = new Map<string, number>();
  const groups = new Map<string, Set<ReadingField>>();
  for (const [index, register] of registers.entries()) {
    const path = `/registers/${index}`;
    const units = Object.keys(FIELD_UNITS[register.field]);
    if (Number.isNaN(register.factor)) {
      problems.push({
        path: `${path}/unit`,
        message: `unit '${register.unit}' does not fit ${register.field}; expected ${units.map((unit) => `'${unit}'`).join(' or ')}`,
      });
    }
    if (!Number.isFinite(register.scale) || register.scale === 0) {
      problems.push({ path: `${path}/scale`, message: 'scale must be a finite number other than 0' });
    }
    if (register.address + registerCount(register.type) > 65536) {
      problems.push({
        path: `${path}/address`,
        message: `a ${register.type} at ${register.address} runs past register 65535`,
      });
    }
    if (phases === 1 && register.phase) {
      problems.push({
        path: `${path}/phase`,
        message: "a 1-phase profile ('phases: 1') has no per-phase registers",
      });
    }
    const group = register.phase ?? 'total';
    const key = `${register.field}/${group}`;
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push({
        path: `${path}/field`,
        message: `${register.field}${register.phase ? ` of ${register.phase}` : ''} is already read by /registers/${first}`,
      });
    } else {
      seen.set(key, index);
    }
    const fields = groups.get(group) ?? new Set<ReadingField>();
    fields.add(register.field);
    groups.set(group, fields);
  }
  for (const [group, fields] of groups) {
    if (!fields.has('power_w')) {
      problems.push({
        path: '/registers',
        message: `every reading needs power_w, and the ${group === 'total' ? 'total' : `${group}`} reading has none (it has ${[...fields].join(', ')})`,
      });
    }
  }
  return problems;
}

export interface ProfileOverrides {
  word_order?: WordOrder;
  /** By field (`energy_wh`: every phase) or field and phase (`energy_wh:L1`). */
  registers?: Record<string, RegisterOverride>;
}

/**
 * The profile with one device's changes from its registry entry (sources disagree on some
 * meters' encodings): a word order for every 32-bit register, and per-field register changes.
 * Throws ProfileError naming the device when an override does not fit the profile.
 */
export function withOverrides(
  profile: MeterProfile,
  overrides: ProfileOverrides,
  deviceId: string,
): MeterProfile {
  if (!overrides.word_order && !overrides.registers) return profile;
  const problems: RegistryProblem[] = [];
  const registers = profile.registers.map((register) => ({
    ...register,
    ...(overrides.word_order ? { word_order: overrides.word_order } : {}),
  }));
  for (const [key, change] of Object.entries(overrides.registers ?? {})) {
    const path = `/connection/registers/${key}`;
    const [field, phase] = key.split(':') as [string, string | undefined];
    const targets = registers.filter(
      (register) =>
        register.field === field && (phase === undefined || (register.phase ?? 'total') === phase),
    );
    if (targets.length === 0) {
      problems.push({
        path,
        message: `profile ${profile.name} has no register for '${key}'; it reads ${[
          ...new Set(
            registers.map((register) => `${register.field}${register.phase ? `:${register.phase}` : ''}`),
          ),
        ].join(', ')}`,
      });
      continue;
    }
    if (change.address !== undefined && targets.length > 1) {
      problems.push({
        path: `${path}/address`,
        message: `'${key}' names ${targets.length} registers (one per phase); give the address per phase, e.g. '${field}:L1'`,
      });
      continue;
    }
    for (const target of targets) {
      Object.assign(
        target,
        resolveRegister(
          {
            field: target.field,
            ...(target.phase ? { phase: target.phase } : {}),
            address: change.address ?? target.address,
            function: change.function ?? target.function,
            type: change.type ?? target.type,
            word_order: change.word_order ?? target.word_order,
            scale: change.scale ?? target.scale,
            unit: change.unit ?? target.unit,
          },
          { function: target.function, word_order: target.word_order },
        ),
      );
    }
  }
  problems.push(
    ...checkRegisters(registers, profile.phases).map((problem) => ({
      path: `${profile.name}${problem.path}`,
      message: `${problem.message} (after the overrides in connection.registers)`,
    })),
  );
  if (problems.length > 0) {
    throw new ProfileError(
      `device '${deviceId}'`,
      problems,
      `invalid Modbus overrides of device '${deviceId}'`,
    );
  }
  return { ...profile, registers };
}
