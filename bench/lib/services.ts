import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runProgram, type ProgramRun } from '@wattbus/testing';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * How a service runs: `source` is `node --import tsx src/main.ts` (development), `built` is
 * `node --enable-source-maps dist/main.js` (production); `built:FLAGS` adds node flags,
 * e.g. `built:--max-semi-space-size=2`, and `built:FLAGS:VAR=VALUE …` environment variables too,
 * e.g. `built:--max-semi-space-size=2:MALLOC_ARENA_MAX=1`. `production` is `built` with the
 * settings scripts/service.sh gives each service (npm start, the Dockerfile). `base` runs the
 * sources of another checkout (`--base DIR`, e.g. `git archive <commit> | tar -x -C DIR` plus a
 * copy of node_modules) as that version did; `base-production` runs that checkout's bundles
 * (bundled there first) with the production settings, to compare two builds side by side.
 * A value may hold commas (`production::MALLOC_CONF=narenas:1,dirty_decay_ms:0`).
 */
export interface Mode {
  name: string;
  built: boolean;
  nodeFlags: string[];
  env: Record<string, string>;
  /** The repository whose services/ it runs. */
  root: string;
  /** scripts/service.sh's settings (a 2 MB young generation, one malloc arena). */
  production: boolean;
}

export function parseModes(spec: string, base?: string): Mode[] {
  // Modes are separated by commas; a comma not followed by a mode's kind belongs to a value
  // (`production::MALLOC_CONF=narenas:1,dirty_decay_ms:0`).
  return spec.split(/,(?=(?:source|built|production|base|base-production)(?::|,|$))/).map((name) => {
    const [kind, flags = '', ...values] = name.split(':');
    const variables = values.join(':');
    const nodeFlags = flags.split(' ').filter(Boolean);
    const env = Object.fromEntries(
      variables
        .split(' ')
        .filter(Boolean)
        .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    );
    if (kind === 'base' || kind === 'base-production') {
      if (!base) throw new Error(`mode ${kind} needs --base DIR`);
      const root = base.endsWith('/') ? base : `${base}/`;
      if (kind === 'base') return { name, built: false, nodeFlags, env, root, production: false };
      return { name, built: true, nodeFlags, env: { MALLOC_ARENA_MAX: '1', ...env }, root, production: true };
    }
    if (kind === 'production') {
      const env1 = { MALLOC_ARENA_MAX: '1', ...env };
      return { name, built: true, nodeFlags, env: env1, root: REPO_ROOT, production: true };
    }
    if (kind !== 'source' && kind !== 'built') {
      throw new Error(
        `mode ${name}: expected source, built, built:FLAGS, production, base or base-production`,
      );
    }
    return { name, built: kind === 'built', nodeFlags, env, root: REPO_ROOT, production: false };
  });
}

/** `npm run bundle` for these services (all when empty), so built modes run the current sources. */
export function bundle(services: string[] = [], root = REPO_ROOT): void {
  const result = spawnSync(process.execPath, [`${root}scripts/bundle.mjs`, ...services], {
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error(`${root}scripts/bundle.mjs failed`);
}

export function startService(
  service: string,
  mode: Mode,
  options: { args?: string[]; env?: Record<string, string> } = {},
): ProgramRun {
  // As scripts/service.sh: dist/start.js, which turns source maps on for the bundle only (a
  // checkout from before it ran dist/main.js under --enable-source-maps), and a 2 MB young
  // generation, except for the storage hook.
  const start = `${mode.root}services/${service}/dist/start.js`;
  const fromStart = mode.production && existsSync(start);
  const main = fromStart
    ? start
    : `${mode.root}services/${service}/${mode.built ? 'dist/main.js' : 'src/main.ts'}`;
  const young = mode.production && service !== 'storage-hook' ? ['--max-semi-space-size=2'] : [];
  return runProgram(main, {
    ...options,
    env: { ...mode.env, ...options.env },
    // (runProgram gives a .js --enable-source-maps; the later flag wins.)
    nodeFlags: [...(fromStart ? ['--no-enable-source-maps'] : []), ...young, ...mode.nodeFlags],
    killAfterMs: 24 * 3600_000,
  });
}
