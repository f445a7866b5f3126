#!/usr/bin/env node
// Production build: bundles every `services/<name>/src/main.ts` into `services/<name>/dist/main.js`
// (ES module, source map beside it), so services run as plain JavaScript under `node` — no tsx
// or esbuild at run time. Workspace libraries (@wattbus/*) are bundled in; npm packages stay
// external and load from node_modules as usual.
//
//   node scripts/bundle.mjs                 every service
//   node scripts/bundle.mjs agent gateway   only these
//   node scripts/bundle.mjs --outdir DIR    into DIR/<name>/main.js (tests)
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { join, relative, resolve, sep } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVICES = join(ROOT, 'services');

/** Names of the services that have a `src/main.ts`, so a new service is bundled without listing it. */
export function serviceNames() {
  return readdirSync(SERVICES)
    .filter((name) => existsSync(join(SERVICES, name, 'src', 'main.ts')))
    .sort();
}

const posix = (path) => path.split(sep).join('/');
const isWorkspaceFile = (path) => path.startsWith(ROOT) && !path.split(sep).includes('node_modules');

/**
 * Keeps every file-relative path of the sources true in the bundle. A workspace module that reads
 * a file next to it (`new URL('../../profiles/', import.meta.url)`: device profiles, openapi.yaml,
 * a package.json) or resolves a package from its own folder (`createRequire(import.meta.url)`)
 * gets, in place of `import.meta.url`, the URL its source file has — computed at run time from the
 * bundle's own URL, so the tree can move as a whole (a Docker image's /app).
 */
function sourceLocations(outdir) {
  return {
    name: 'wattbus-source-locations',
    setup(esbuild) {
      esbuild.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (args) => {
        if (!isWorkspaceFile(args.path)) return undefined;
        let contents = await readFile(args.path, 'utf8');
        // The bundle gets its own first line (banner); a source's tsx shebang must not survive.
        contents = contents.replace(/^#!.*\n/, '');
        if (contents.includes('import.meta.')) {
          const fromBundle = JSON.stringify(posix(relative(outdir, args.path)));
          const url = `new URL(${fromBundle}, import.meta.url).href`;
          // (POSIX paths: production runs on Linux.)
          contents = contents
            .replaceAll('import.meta.url', url)
            .replaceAll('import.meta.filename', `decodeURIComponent(new URL(${url}).pathname)`)
            .replaceAll(
              'import.meta.dirname',
              `decodeURIComponent(new URL('.', ${url}).pathname).slice(0, -1)`,
            );
        }
        return { contents, loader: args.path.endsWith('ts') ? 'ts' : 'js' };
      });
    },
  };
}

/**
 * @wattbus/* is bundled; every other package stays an import, resolved at run time from the
 * bundle's folder. Where that would find another copy than the source's folder does (npm nests a
 * second version under a workspace, e.g. libs/contracts/node_modules/ajv 8 beside eslint's ajv 6 at
 * the root), the import names the source's copy by its path relative to the bundle.
 */
function externalPackages(outdir) {
  const resolving = Symbol('resolving');
  return {
    name: 'wattbus-external-packages',
    setup(esbuild) {
      esbuild.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === resolving) return undefined;
        if (isBuiltin(args.path)) return { path: args.path, external: true };
        if (args.path.startsWith('@wattbus/')) return undefined;
        const options = { kind: args.kind, pluginData: resolving };
        const fromSource = await esbuild.resolve(args.path, { ...options, resolveDir: args.resolveDir });
        const fromBundle = await esbuild.resolve(args.path, { ...options, resolveDir: outdir });
        if (fromSource.errors.length > 0) return { errors: fromSource.errors };
        if (fromBundle.errors.length === 0 && fromBundle.path === fromSource.path) {
          return { path: args.path, external: true };
        }
        let path = posix(relative(outdir, fromSource.path));
        if (!path.startsWith('.')) path = `./${path}`;
        return { path, external: true };
      });
    },
  };
}

/**
 * `start.js` beside the bundle, what scripts/service.sh runs (plain `node`, no
 * `--enable-source-maps`): it loads the npm packages the bundle imports, in the bundle's order,
 * then turns source maps on and loads the bundle. Node then keeps the bundle's map (stack traces
 * name src/…ts lines) but not the maps node_modules ship, which it would parse and keep at load:
 * 1.4–2.0 MB of V8 heap in every service (docs/benchmarks.md, "Production build and memory").
 */
function startFile(imports) {
  const packages = imports.filter((entry) => entry.external && entry.kind === 'import-statement');
  const paths = [...new Set(packages.map((entry) => entry.path))].filter((path) => !isBuiltin(path));
  return [
    '// Written by scripts/bundle.mjs: npm packages first, then source maps on, then the service.',
    ...paths.map((path) => `import ${JSON.stringify(path)};`),
    'process.setSourceMapsEnabled(true);',
    "await import('./main.js');",
    '',
  ].join('\n');
}

/** Bundles one service's main.ts into `<outdir>/main.js` (+ `.map`), and its `start.js`. */
export async function bundleService(name, outdir = join(SERVICES, name, 'dist')) {
  const absolute = resolve(outdir);
  // Resolving packages from the bundle's folder needs the folder.
  mkdirSync(absolute, { recursive: true });
  const result = await build({
    entryPoints: [join(SERVICES, name, 'src', 'main.ts')],
    outfile: join(absolute, 'main.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    // Source paths in the map are relative to it; stack traces name src/…ts lines.
    sourcesContent: false,
    tsconfig: join(ROOT, 'tsconfig.base.json'),
    banner: { js: '#!/usr/bin/env -S node --enable-source-maps' },
    plugins: [externalPackages(absolute), sourceLocations(absolute)],
    logLevel: 'warning',
    metafile: true,
  });
  const [output] = Object.values(result.metafile.outputs).filter((entry) => entry.entryPoint);
  await writeFile(join(absolute, 'start.js'), startFile(output.imports));
  return join(absolute, 'main.js');
}

async function main() {
  const { values, positionals } = parseArgs({
    options: { outdir: { type: 'string' } },
    allowPositionals: true,
  });
  const known = serviceNames();
  const names = positionals.length > 0 ? positionals : known;
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    process.stderr.write(
      `bundle: no services/<name>/src/main.ts for ${unknown.join(', ')} (have: ${known.join(', ')})\n`,
    );
    process.exit(2);
  }
  const started = Date.now();
  for (const name of names) {
    await bundleService(name, values.outdir ? join(values.outdir, name) : undefined);
  }
  process.stdout.write(`bundled ${names.join(', ')} in ${Date.now() - started} ms\n`);
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) await main();
