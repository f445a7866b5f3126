import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { WattbusError } from '@wattbus/contracts';
import { BUILTIN_DEFAULTS, TplinkDriver } from '@wattbus/devices';
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

/** A legacy TP-Link driver (entry `desk-1`) for a plug at `target`, added to `drivers` to close after the tests. */
export function legacyDriverFor(
  drivers: TplinkDriver[],
  target: { host: string; port: number },
  timeout_ms = 1000,
): TplinkDriver {
  const driver = new TplinkDriver({
    ...BUILTIN_DEFAULTS,
    id: 'desk-1',
    name: 'Desk 1',
    type: 'tplink',
    location: 'hq/floor-1',
    kind: 'workplace',
    connection: { host: target.host, port: target.port },
    timeout_ms,
  });
  drivers.push(driver);
  return driver;
}
