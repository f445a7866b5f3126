/**
 * The storage hook's per-reading steps one by one (a script, not a test): ns per call, in-process,
 * over the bench's readings of 100 devices. Figures in docs/benchmarks.md ("Issue 21, second pass").
 *
 *   node --import tsx bench/ingest/steps.ts
 */
import {
  ReadingSchema,
  isWellFormedReading,
  plausibilityProblem,
  quickValidator,
  timestampMs,
  validator,
} from '@wattbus/contracts';
import { readingToLine } from '@wattbus/influx';
import { benchReading } from './reading.js';

const N = 300_000;
const payloads = Array.from({ length: 1000 }, (_, i) => Buffer.from(JSON.stringify(benchReading(i, 100))));
const readings = payloads.map((payload) => JSON.parse(payload.toString('utf8')) as unknown);
const texts = Array.from({ length: 1000 }, (_, i) => new Date(1.7e12 + i * 1000).toISOString());
const ajv = validator(ReadingSchema);
const quick = quickValidator(ReadingSchema, isWellFormedReading);
const options = { nowMs: Date.now(), futureToleranceMs: 60_000 };

let _last: unknown;

function time(name: string, step: (i: number) => unknown): void {
  for (let i = 0; i < N; i++) step(i); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) _last = step(i); // kept, so the call is not optimised away
  const ns = Number(process.hrtime.bigint() - start) / N;
  console.log(`${name.padEnd(36)} ${ns.toFixed(0).padStart(5)} ns`);
}

for (let round = 1; round <= 2; round++) {
  console.log(`round ${round}`);
  time('JSON.parse', (i) => JSON.parse(payloads[i % 1000]!.toString('utf8')));
  time('validate: ajv', (i) => ajv(readings[i % 1000]));
  time('validate: isWellFormedReading + ajv', (i) => quick(readings[i % 1000]));
  time('plausibilityProblem', (i) => plausibilityProblem(readings[i % 1000] as never, {}, options) ?? 0);
  time('readingToLine', (i) => readingToLine(readings[i % 1000] as never));
  time('Date.parse, each ts new', (i) => Date.parse(texts[i % 1000]!));
  time('timestampMs, each ts new', (i) => timestampMs(texts[i % 1000]!));
}
