import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { LineProtocolError, parseLine, records } from '@wattbus/influx';
import { sha256File } from './backup.js';
import type { CatalogEntry } from './catalog.js';

export interface VerifyProblem {
  /** The file, as a path a user can open. */
  file: string;
  problem: string;
}

export interface VerifyResult {
  id: string;
  files: number;
  points: number;
  problems: VerifyProblem[];
}

/** Checks sizes and sha256 of every file of a backup, without reading their content further. */
export async function checkChecksums(entry: CatalogEntry): Promise<VerifyProblem[]> {
  const problems: VerifyProblem[] = [];
  const expected = [
    ...entry.manifest.files.map((file) => ({ file: file.file, sha256: file.sha256, bytes: file.bytes })),
    ...entry.manifest.copied_files.flatMap((file) =>
      file.file === null || file.sha256 === null
        ? []
        : [{ file: file.file, sha256: file.sha256, bytes: file.bytes }],
    ),
  ];
  for (const file of expected) {
    const path = join(entry.directory, file.file);
    let actual;
    try {
      actual = await sha256File(path);
    } catch (error) {
      problems.push({
        file: path,
        problem: `cannot read it: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      });
      continue;
    }
    if (actual.bytes !== file.bytes) {
      problems.push({
        file: path,
        problem: `is ${actual.bytes} bytes, the manifest says ${file.bytes} (truncated or replaced)`,
      });
    } else if (actual.sha256 !== file.sha256) {
      problems.push({
        file: path,
        problem: `sha256 ${actual.sha256} differs from the manifest's ${file.sha256} (corrupted)`,
      });
    }
  }
  return problems;
}

/** Checksums, then decompresses every data file and parses every line; counts must match the manifest. */
export async function verifyBackup(entry: CatalogEntry): Promise<VerifyResult> {
  const problems = await checkChecksums(entry);
  const damaged = new Set(problems.map((problem) => problem.file));
  let points = 0;
  for (const file of entry.manifest.files) {
    const path = join(entry.directory, file.file);
    if (damaged.has(path)) continue;
    let count = 0;
    let lineNumber = 0;
    try {
      const text = createReadStream(path).pipe(createGunzip()).setEncoding('utf8') as AsyncIterable<string>;
      for await (const record of records(text)) {
        lineNumber++;
        count++;
        let parsed;
        try {
          parsed = parseLine(record);
        } catch (error) {
          if (!(error instanceof LineProtocolError)) throw error;
          problems.push({
            file: path,
            problem: `record ${lineNumber}: ${error.message}: ${record.slice(0, 120)}`,
          });
          continue;
        }
        if (parsed.measurement !== file.measurement) {
          problems.push({
            file: path,
            problem: `record ${lineNumber} is of measurement ${parsed.measurement}, not ${file.measurement}`,
          });
        }
      }
    } catch (error) {
      problems.push({
        file: path,
        problem: `cannot decompress it after ${lineNumber} records: ${(error as Error).message}`,
      });
      continue;
    }
    if (count !== file.points)
      problems.push({ file: path, problem: `holds ${count} points, the manifest says ${file.points}` });
    points += count;
  }
  return { id: entry.manifest.id, files: entry.manifest.files.length, points, problems };
}
