/**
 * Rewrites `components.schemas` of openapi.yaml from libs/contracts, keeping the rest of the file
 * (comments included) as written. Run: npm run openapi:sync -w @wattbus/gateway
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import { parseDocument } from 'yaml';
import { openApiComponentSchemas } from '../src/openapi-components.js';
import { OPENAPI_FILE } from '../src/spec.js';

// YAML 1.1 rules when writing, so values such as 2026-11-01T00:00:00Z, on or yes are quoted for every parser.
const document = parseDocument(readFileSync(OPENAPI_FILE, 'utf8'), { version: '1.1' });
document.setIn(['components', 'schemas'], document.createNode(openApiComponentSchemas()));
const options = (await resolveConfig(OPENAPI_FILE)) ?? {};
writeFileSync(
  OPENAPI_FILE,
  await format(document.toString({ lineWidth: 0 }), { ...options, parser: 'yaml' }),
);
process.stdout.write(`updated components.schemas in ${OPENAPI_FILE}\n`);
