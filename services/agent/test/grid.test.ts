import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gridOffsetMs } from '../src/poller.js';

describe('gridOffsetMs: the pollers of one agent spread over their interval', () => {
  it('puts 4 devices at 1 s a quarter second apart, the first at 0', () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((index) => gridOffsetMs(index, 4, 1000)),
      [0, 250, 500, 750],
    );
  });

  it('gives 1,000 plugs at 1 s each its own millisecond', () => {
    const offsets = Array.from({ length: 1000 }, (_, index) => gridOffsetMs(index, 1000, 1000));
    assert.equal(new Set(offsets).size, 1000);
    assert.ok(offsets.every((offset) => offset >= 0 && offset < 1000));
  });

  it('stays within each device’s own interval, whatever the count', () => {
    assert.equal(gridOffsetMs(0, 1, 60_000), 0);
    assert.equal(gridOffsetMs(2, 3, 100), 66);
    assert.ok(Array.from({ length: 7 }, (_, index) => gridOffsetMs(index, 7, 10)).every((ms) => ms < 10));
  });
});
