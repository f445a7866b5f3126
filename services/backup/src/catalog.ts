import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readManifest, type Manifest } from './manifest.js';

export const PARTIAL_SUFFIX = '.partial';

export interface CatalogEntry {
  directory: string;
  manifest: Manifest;
}

export interface Catalog {
  /** Complete backups, oldest first. */
  backups: CatalogEntry[];
  /** Directories that are not readable backups, with the reason (skipped, never deleted by rotation). */
  unreadable: Array<{ directory: string; problem: string }>;
  /** Leftovers of interrupted runs. */
  partial: string[];
}

/** Every backup under `root`: a directory with a valid manifest.json. */
export async function readCatalog(root: string): Promise<Catalog> {
  const catalog: Catalog = { backups: [], unreadable: [], partial: [] };
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return catalog;
    throw error;
  }
  for (const name of names.sort()) {
    const directory = join(root, name);
    if (name.endsWith(PARTIAL_SUFFIX)) {
      catalog.partial.push(directory);
      continue;
    }
    try {
      catalog.backups.push({ directory, manifest: await readManifest(directory) });
    } catch (error) {
      catalog.unreadable.push({ directory, problem: (error as Error).message });
    }
  }
  catalog.backups.sort((a, b) => compareBackups(a.manifest, b.manifest));
  return catalog;
}

export function compareBackups(a: Manifest, b: Manifest): number {
  return a.range.to_ms - b.range.to_ms || a.id.localeCompare(b.id);
}

export class ChainError extends Error {
  override name = 'ChainError';
}

/** The backups a restore of `target` needs, oldest first: its full backup, then each incremental. */
export function chainOf(target: CatalogEntry, backups: readonly CatalogEntry[]): CatalogEntry[] {
  const byId = new Map(backups.map((entry) => [entry.manifest.id, entry]));
  const chain = [target];
  let current = target;
  while (current.manifest.kind !== 'full') {
    const parentId = current.manifest.parent;
    const parent = parentId === null ? undefined : byId.get(parentId);
    if (parent === undefined || chain.includes(parent)) {
      throw new ChainError(
        `backup ${current.manifest.id} continues ${parentId ?? '(nothing)'}, which is not in ${join(target.directory, '..')}; restore a full backup or copy the missing one back`,
      );
    }
    chain.unshift(parent);
    current = parent;
  }
  return chain;
}

export async function removeDirectory(directory: string): Promise<void> {
  await rm(directory, { recursive: true, force: true });
}
