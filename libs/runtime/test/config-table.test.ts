import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { checkConfigTables, configTable, configTableRows, renderConfigTables } from '../src/index.js';

const Schema = Type.Object({
  mqtt: Type.Object(
    {
      url: Type.String({ default: 'mqtt://127.0.0.1:1883', description: 'Broker URL.' }),
      password: Type.Optional(Type.String({ description: 'Broker | password.' })),
    },
    { default: {} },
  ),
  health: Type.Optional(
    Type.Object({ topic: Type.String({ description: 'Where <name> goes, as `<base>/x`.' }) }),
  ),
  mode: Type.Union([Type.Literal('auto'), Type.Literal('inline')], { default: 'auto', description: 'How.' }),
  hooks: Type.Array(
    Type.Object({
      name: Type.String({ description: 'Unique.' }),
      scopes: Type.Array(Type.Union([Type.Literal('read'), Type.Literal('control')]), {
        description: 'What.',
      }),
    }),
    { default: [], description: 'Hooks.' },
  ),
  id: Type.String({ default: 'agent-vm', 'x-default-text': 'agent-<hostname>', description: 'Id.' }),
});

describe('configuration tables from the schema', () => {
  it('lists nested keys, list items, types, defaults and what is required', () => {
    assert.deepEqual(
      configTableRows(Schema).map((row) => [row.key, row.type, row.default]),
      [
        ['mqtt.url', 'string', '`mqtt://127.0.0.1:1883`'],
        ['mqtt.password', 'string', '—'],
        ['health.topic', 'string', 'required with `health`'],
        ['mode', '`auto` \\| `inline`', '`auto`'],
        ['hooks', 'object[]', '`[]`'],
        ['hooks[].name', 'string', 'required'],
        ['hooks[].scopes', '(`read` \\| `control`)[]', 'required'],
        ['id', 'string', '`agent-<hostname>`'],
      ],
    );
  });

  it('escapes pipes, and angle brackets outside code', () => {
    const table = configTable(Schema);
    assert.match(table, /\| Broker \\\| password\. \|/);
    assert.match(table, /Where \\<name> goes, as `<base>\/x`\./);
  });

  it('refuses a schema with settings that have no description, naming them', () => {
    const bare = Type.Object({
      a: Type.Object({ b: Type.Integer(), c: Type.String({ description: 'C.' }) }),
    });
    assert.throws(() => configTableRows(bare), /without a description: a\.b$/);
  });

  it('replaces what stands between the markers, and a check fails while it is stale', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'config-table-'));
    // A plain JSON Schema is what TypeBox makes, too.
    const schema = { type: 'object', properties: { id: { type: 'string', description: 'Id.' } } };
    writeFileSync(join(dir, 'schema.ts'), `export const Schema = ${JSON.stringify(schema)};\n`);
    const readme = join(dir, 'README.md');
    writeFileSync(
      readme,
      '# x\n\n<!-- config-table:start schema.ts#Schema -->\n| old |\n<!-- config-table:end -->\n\nafter\n',
    );
    await assert.rejects(checkConfigTables(readme), /out of date; run npm run docs:config/);
    const rendered = await renderConfigTables(readme);
    assert.ok(rendered.startsWith('# x\n\n<!-- config-table:start schema.ts#Schema -->\n| key | type |'));
    assert.ok(rendered.endsWith('| Id. |\n<!-- config-table:end -->\n\nafter\n'));
    writeFileSync(readme, rendered);
    await checkConfigTables(readme);
  });
});
