import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { validator } from '@wattbus/contracts';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'wattbus-backup/1';

const FieldTypeSchema = Type.Union(
  ['float', 'integer', 'unsigned', 'string', 'boolean'].map((type) => Type.Literal(type)),
);

export const DataFileSchema = Type.Object({
  measurement: Type.String(),
  file: Type.String({ description: 'Path inside the backup directory.' }),
  points: Type.Integer({ minimum: 0 }),
  bytes: Type.Integer({ minimum: 0 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  first_ms: Type.Union([Type.Integer(), Type.Null()]),
  last_ms: Type.Union([Type.Integer(), Type.Null()]),
  fields: Type.Record(Type.String(), Type.Array(FieldTypeSchema)),
  tags: Type.Array(Type.String()),
});
export type DataFile = Static<typeof DataFileSchema>;

export const CopiedFileSchema = Type.Object({
  source: Type.String({ description: 'Absolute path the file was copied from.' }),
  file: Type.Union([Type.String(), Type.Null()], {
    description: 'Path inside the backup; null when the source was missing.',
  }),
  bytes: Type.Integer({ minimum: 0 }),
  sha256: Type.Union([Type.String({ pattern: '^[0-9a-f]{64}$' }), Type.Null()]),
});
export type CopiedFile = Static<typeof CopiedFileSchema>;

export const ManifestSchema = Type.Object({
  format: Type.Literal(MANIFEST_FORMAT),
  id: Type.String(),
  kind: Type.Union([Type.Literal('full'), Type.Literal('incremental')]),
  parent: Type.Union([Type.String(), Type.Null()], {
    description: 'The backup this one continues (incremental).',
  }),
  created_at: Type.String({ format: 'date-time' }),
  finished_at: Type.String({ format: 'date-time' }),
  tool_version: Type.String(),
  source: Type.Object({
    url: Type.String(),
    database: Type.String(),
    server_version: Type.String(),
    server_build: Type.String(),
  }),
  range: Type.Object({
    from_ms: Type.Union([Type.Integer(), Type.Null()], {
      description: 'Inclusive; null for everything before to_ms.',
    }),
    to_ms: Type.Integer({ description: 'Exclusive.' }),
  }),
  points: Type.Integer({ minimum: 0 }),
  points_per_measurement: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
  files: Type.Array(DataFileSchema),
  copied_files: Type.Array(CopiedFileSchema),
});
export type Manifest = Static<typeof ManifestSchema>;

export class ManifestError extends Error {
  override name = 'ManifestError';
}

/** Reads and checks `<dir>/manifest.json`; the error names the file and what is wrong. */
export async function readManifest(directory: string): Promise<Manifest> {
  const path = join(directory, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ManifestError(
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`${path} is not JSON: ${(error as Error).message}`);
  }
  const check = validator(ManifestSchema);
  if (!check(value)) throw new ManifestError(`${path} is not a backup manifest: ${check.errorText()}`);
  for (const file of [
    ...value.files.map((entry) => entry.file),
    ...value.copied_files.map((entry) => entry.file),
  ]) {
    if (file !== null && (file.startsWith('/') || file.split(/[\\/]/).includes('..'))) {
      throw new ManifestError(`${path} names a file outside its directory: ${file}`);
    }
  }
  return value;
}
