import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Parser, fromFile } from '@asyncapi/parser';
import { parse } from 'yaml';

/** asyncapi.yaml must pass the official AsyncAPI parser (with its $refs to the schema files resolved). */
const file = new URL('../../../asyncapi.yaml', import.meta.url).pathname;

describe('asyncapi.yaml', () => {
  it('is a valid AsyncAPI 3 document for the official parser, with no errors', async () => {
    const parser = new Parser();
    const { document, diagnostics } = await fromFile(parser, file).parse({
      source: file,
      validateOptions: { allowedSeverity: { warning: true, info: true, hint: true } },
    } as Parameters<ReturnType<typeof fromFile>['parse']>[0]);
    const errors = diagnostics.filter((diagnostic) => diagnostic.severity === 0);
    assert.deepEqual(
      errors.map((error) => `${error.path.join('.')}: ${error.message}`),
      [],
      `asyncapi.yaml in ${dirname(file)} has errors`,
    );
    assert.ok(document, 'the parser returned no document');
    assert.equal(document.version(), '3.0.0');
    const channels = document
      .channels()
      .all()
      .map((channel) => channel.address());
    for (const expected of ['wattbus/devices/{deviceId}/readings', 'wattbus/query/req/{method}']) {
      assert.ok(
        channels.some((address) => address === expected || address?.startsWith(expected.split('{')[0]!)),
        `no channel like ${expected} in ${channels.join(', ')}`,
      );
    }
    assert.ok(
      readFileSync(file, 'utf8').includes('libs/contracts/schemas/'),
      'payloads must come from the exported schemas',
    );
  });

  it('declares QoS and retain flag (bindings.mqtt) on every operation', () => {
    const operations = (
      parse(readFileSync(file, 'utf8')) as {
        operations: Record<string, { bindings?: { mqtt?: { qos?: number; retain?: boolean } } }>;
      }
    ).operations;
    const missing = Object.entries(operations)
      .filter(
        ([, operation]) =>
          operation.bindings?.mqtt?.qos === undefined || operation.bindings.mqtt.retain === undefined,
      )
      .map(([name]) => name);
    assert.deepEqual(missing, [], 'operations without bindings.mqtt qos and retain');
  });
});
