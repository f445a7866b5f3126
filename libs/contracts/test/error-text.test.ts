import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { QUERY_METHODS, SetPowerParamsSchema, validator } from '../src/index.js';

/** Validation errors name the parameter and what it may be: one line per parameter, not per literal. */
describe('validation error texts', () => {
  const checkReadings = validator(QUERY_METHODS.readings.params);
  const params = { device: 'desk-1', from: '2026-11-23T08:00:00Z', to: '2026-11-23T09:00:00Z' };

  it('a union of literals lists its allowed values once', () => {
    assert.equal(checkReadings({ ...params, fn: 'median' }), false);
    assert.equal(
      checkReadings.errorText(),
      '/fn: must be equal to one of the allowed values: mean, min, max, last, sum, count',
    );
    assert.deepEqual(
      checkReadings.errors().map((error) => [error.instancePath, error.keyword]),
      [['/fn', 'enum']],
    );
  });

  it('an enum lists its values, and other errors are left as they are', () => {
    const check = validator(
      Type.Object(
        { mode: Type.String({ enum: ['a', 'b'] }), n: Type.Integer() },
        { additionalProperties: false },
      ),
    );
    assert.equal(check({ mode: 'c', n: 'x' }), false);
    assert.equal(
      check.errorText(),
      '/mode: must be equal to one of the allowed values: a, b; /n: must be integer',
    );
  });

  it('a union of different shapes keeps its branches', () => {
    const check = validator(Type.Object({ v: Type.Union([Type.Literal('now'), Type.Integer()]) }));
    assert.equal(check({ v: 'later' }), false);
    assert.match(check.errorText(), /\/v: must be integer/);
  });

  it('a device command names its parameter', () => {
    const check = validator(SetPowerParamsSchema);
    assert.equal(check({ on: 'yes' }), false);
    assert.equal(check.errorText(), '/on: must be boolean');
  });

  it('docs/query.md promises the text the answers carry', () => {
    const doc = readFileSync(new URL('../../../docs/query.md', import.meta.url), 'utf8');
    const promised = doc.match(/`(\/fn: must be equal to one of the allowed values[^`]*)`/)?.[1];
    assert.ok(promised, 'docs/query.md no longer shows the /fn example');
    checkReadings({ ...params, fn: 'median' });
    assert.equal(checkReadings.errorText(), promised);
  });
});
