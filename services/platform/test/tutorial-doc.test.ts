import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

/**
 * docs/writing-a-hook.md quotes the example programs that mqtt-api.test.ts runs: each quoted block
 * must be the file as it is, so the tutorial is the tested code.
 */
const repository = new URL('../../../', import.meta.url).pathname;

describe('docs/writing-a-hook.md', () => {
  const doc = readFileSync(`${repository}docs/writing-a-hook.md`, 'utf8');
  const quotes = [...doc.matchAll(/<!-- quoted from (\S+);[^>]*-->\s*```\w*\n([\s\S]*?)\n```/g)];

  it('quotes each example program exactly as the file is', () => {
    assert.deepEqual(
      quotes.map(([, file]) => file),
      [
        'docs/examples/python/subscriber.py',
        'docs/examples/python/request.py',
        'docs/examples/node/subscriber.mjs',
        'docs/examples/node/request.mjs',
      ],
    );
    for (const [, file, quoted] of quotes) {
      assert.equal(
        quoted,
        readFileSync(`${repository}${file}`, 'utf8').trimEnd(),
        `${file} differs from its quote`,
      );
    }
  });

  it('links the Node-RED flow the test loads', () => {
    assert.match(doc, /\(examples\/node-red\/request-flow\.json\)/);
  });
});
