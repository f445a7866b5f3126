/**
 * Rewrites the configuration table of every service README from its config schema
 * (`npm run docs:config`); `--check` only lists the stale ones and exits 1. The README's
 * `<!-- config-table:start src/config.ts#Schema -->` marker names the schema.
 */
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderConfigTables } from '@wattbus/runtime';

const root = fileURLToPath(new URL('..', import.meta.url));
const check = process.argv.includes('--check');
const stale: string[] = [];
for (const service of readdirSync(join(root, 'services')).sort()) {
  const readme = join(root, 'services', service, 'README.md');
  if (!existsSync(readme)) continue;
  const current = readFileSync(readme, 'utf8');
  const rendered = await renderConfigTables(readme);
  if (rendered === current) continue;
  stale.push(relative(root, readme));
  if (!check) writeFileSync(readme, rendered);
}
if (check && stale.length > 0) {
  process.stderr.write(`stale configuration tables (run npm run docs:config):\n  ${stale.join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write(
  stale.length === 0 ? 'configuration tables are up to date\n' : `rewrote ${stale.join(', ')}\n`,
);
