import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import { MESSAGE_SCHEMAS } from '../src/index.js';
import { SCHEMAS_DIRECTORY, exportedSchemas } from '../scripts/export-schemas.js';

const addFormats = ((addFormatsPlugin as unknown as { default?: typeof addFormatsPlugin }).default ??
  addFormatsPlugin) as typeof addFormatsPlugin;

describe('exported JSON Schema files (libs/contracts/schemas, used by asyncapi.yaml)', () => {
  const onDisk = readdirSync(SCHEMAS_DIRECTORY).filter((name) => name.endsWith('.json'));

  it('are up to date with MESSAGE_SCHEMAS (run: npm run schemas:export -w @wattbus/contracts)', async () => {
    const expected = await exportedSchemas();
    assert.deepEqual([...onDisk].sort(), [...expected.keys()]);
    for (const [name, text] of expected) {
      assert.equal(readFileSync(join(SCHEMAS_DIRECTORY, name), 'utf8'), text, `${name} is stale`);
    }
  });

  it('resolve every $ref, and every example of MESSAGE_SCHEMAS validates against its exported file', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    for (const name of onDisk) {
      ajv.addSchema(JSON.parse(readFileSync(join(SCHEMAS_DIRECTORY, name), 'utf8')) as object, name);
    }
    for (const [name, schema] of Object.entries(MESSAGE_SCHEMAS)) {
      const validate = ajv.getSchema(`${name}.json`);
      assert.ok(validate, `${name}.json does not compile`);
      for (const example of (schema as { examples?: unknown[] }).examples ?? []) {
        assert.ok(validate(example), `${name}: ${ajv.errorsText(validate.errors)}`);
      }
    }
  });
});
