import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { WattbusError } from '@wattbus/contracts';
import { pino } from 'pino';

/** The WattbusError `work` rejects with; fails the test when it resolves or rejects with anything else. */
export async function failureOf(work: Promise<unknown>): Promise<WattbusError> {
  const error = await work.then(
    () => assert.fail('expected a failure'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof WattbusError, `expected a WattbusError, got ${String(error)}`);
  return error;
}

/** A logger whose lines the test reads. */
export function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}
