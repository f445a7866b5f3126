import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { endsInsideString, parseLine, records, rowToLine as toLine, timestampOf } from '../src/index.js';

async function* chunksOf(text: string, size: number): AsyncGenerator<string> {
  for (let at = 0; at < text.length; at += size) yield text.slice(at, at + size);
}

describe('line protocol', () => {
  test('serializes tags, typed fields and the ms timestamp, and parses back to the same values', () => {
    const tags = { device: 'plug 1', location: 'café,küche=1', type: 'back\\slash', phase: '' };
    const fields = [
      { name: 'power_w', type: 'float' as const },
      { name: 'energy_wh', type: 'integer' as const },
      { name: 'note', type: 'string' as const },
      { name: 'on', type: 'boolean' as const },
      { name: 'count', type: 'unsigned' as const },
      { name: 'gone', type: 'float' as const },
    ];
    const note = 'he said "hi" \\ and\nleft, = ⚡';
    const line = toLine('electricity', tags, fields, [230, 12, note, true, 7, null], 1_795_000_000_123)!;
    assert.equal(endsInsideString(line.split('\n')[0]!), true);
    const parsed = parseLine(line);
    assert.equal(parsed.measurement, 'electricity');
    assert.deepEqual(
      parsed.tags,
      { device: 'plug 1', location: 'café,küche=1', type: 'back\\slash' },
      'empty tags are left out',
    );
    assert.deepEqual(parsed.fields, {
      power_w: { type: 'float', value: 230 },
      energy_wh: { type: 'integer', value: 12n },
      note: { type: 'string', value: note },
      on: { type: 'boolean', value: true },
      count: { type: 'unsigned', value: 7n },
    });
    assert.equal(parsed.timestamp, 1_795_000_000_123n);
    assert.equal(timestampOf(line), 1_795_000_000_123);
  });

  test('a value of another type than declared is written as what it is', () => {
    const line = toLine('m', {}, [{ name: 'x', type: 'integer' }], [2.5], 1)!;
    assert.equal(line, 'm x=2.5 1');
    assert.equal(toLine('m', {}, [{ name: 'x', type: 'float' }], [null], 1), undefined);
  });

  test('records are split at newlines except inside string fields, whatever the chunking', async () => {
    const text = 'a x=1 1\nb s="one\ntwo \\" three\n" 2\nc,t=q"uote s="x",y=2 3\n\nd s="ends with \\\\" 4\n';
    for (const size of [1, 3, 7, 1000]) {
      const found: string[] = [];
      for await (const record of records(chunksOf(text, size))) found.push(record);
      assert.deepEqual(found, [
        'a x=1 1',
        'b s="one\ntwo \\" three\n" 2',
        'c,t=q"uote s="x",y=2 3',
        'd s="ends with \\\\" 4',
      ]);
      for (const record of found) parseLine(record);
    }
  });

  test('damaged lines are refused with the reason', () => {
    const cases: Array<[string, RegExp]> = [
      ['m x=1', /expected a space and a timestamp/],
      ['m x=1 12ab', /bad timestamp/],
      ['m x=yes 1', /bad value "yes" for field x/],
      ['m s="open 1', /unterminated string/],
      [',t=1 x=1 1', /empty measurement/],
      ['m,t= x=1 1', /empty value of tag t/],
      ['m 1', /field 1 has no '='/],
      ['m x=1i2 1', /bad value/],
    ];
    for (const [line, reason] of cases) assert.throws(() => parseLine(line), reason, line);
  });
});
