import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { QUERY_METHODS, QUERY_SCHEMAS } from '../src/index.js';

const file = fileURLToPath(new URL('../../../asyncapi.yaml', import.meta.url));
const document = parse(readFileSync(file, 'utf8')) as {
  asyncapi: string;
  channels: Record<string, { address: string }>;
  operations: Record<string, { channel: { $ref: string }; reply?: unknown }>;
  components: { messages: Record<string, { payload: unknown }> };
};

/** The $ref values anywhere under `node`. */
function refs(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(refs);
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([key, value]) =>
    key === '$ref' && typeof value === 'string' ? [value] : refs(value),
  );
}

describe('asyncapi.yaml', () => {
  it('is AsyncAPI 3 and every file $ref points to an exported schema', () => {
    assert.equal(document.asyncapi, '3.0.0');
    const files = refs(document).filter((ref) => !ref.startsWith('#'));
    assert.ok(files.length > 20);
    for (const ref of files) {
      assert.match(ref, /^\.\/libs\/contracts\/schemas\/[A-Za-z]+\.json$/);
      assert.ok(existsSync(resolve(dirname(file), ref)), `${ref} does not exist`);
    }
  });

  for (const method of Object.keys(QUERY_METHODS)) {
    it(`documents the query method ${method} with its params and result schemas`, () => {
      const channel = Object.values(document.channels).find(
        (candidate) => candidate.address === `wattbus/query/req/${method}`,
      );
      assert.ok(channel, `no channel for wattbus/query/req/${method}`);
      const request = document.components.messages[`${method}Request`];
      const response = document.components.messages[`${method}Response`];
      const [params, result] = Object.entries(QUERY_SCHEMAS)
        .filter(
          ([, schema]) =>
            schema === QUERY_METHODS[method as keyof typeof QUERY_METHODS].params ||
            schema === QUERY_METHODS[method as keyof typeof QUERY_METHODS].result,
        )
        .map(([name]) => name);
      assert.ok(refs(request).includes(`./libs/contracts/schemas/${params}.json`), `${method}Request`);
      assert.ok(refs(response).includes(`./libs/contracts/schemas/${result}.json`), `${method}Response`);
      const operation = Object.values(document.operations).find((candidate) =>
        candidate.channel.$ref.endsWith(
          `/${Object.entries(document.channels).find(([, c]) => c === channel)![0]}`,
        ),
      );
      assert.ok(operation?.reply, `no operation with a reply for ${method}`);
    });
  }
});
