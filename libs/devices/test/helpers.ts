import assert from 'node:assert/strict';
import { WattbusError } from '@wattbus/contracts';

/** The WattbusError `work` rejects with; fails the test when it resolves or rejects with anything else. */
export async function failureOf(work: Promise<unknown>): Promise<WattbusError> {
  const error = await work.then(
    () => assert.fail('expected a failure'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof WattbusError, `expected a WattbusError, got ${String(error)}`);
  return error;
}
