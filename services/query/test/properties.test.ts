import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Bus, JsonText } from '@wattbus/bus';
import {
  AGGREGATE_FUNCTIONS,
  ENERGY_BUCKETS,
  FILL_MODES,
  QUERY_METHODS,
  READING_FIELDS,
  STORABLE_FROM_MS,
  STORABLE_UNTIL_MS,
  WattbusError,
  plausibilityProblem,
  validator,
  type ErrorCode,
  type QueryMethod,
  type Reading,
} from '@wattbus/contracts';
import { readingToLine } from '@wattbus/influx';
import { startInflux, startMosquitto, type InfluxServer, type MosquittoServer } from '@wattbus/testing';
import { QueryComponent } from '../src/index.js';
import { DATABASE, logger, testConfig } from './helpers.js';

/** What a client may get besides a result: its own mistake or a limit (4xx), never the server's (5xx). */
const CLIENT_ERRORS: readonly ErrorCode[] = ['INVALID_PARAMS', 'UNKNOWN_DEVICE', 'QUERY_TOO_LARGE'];
const DEVICES = ['p1', 'p2', 'p3'] as const;
const T0 = Date.parse('2026-11-02T00:00:00Z');
const DAY = 86_400_000;
// Bounded so the suite stays quick (PROPERTY_RUNS=5000 to search longer); fast-check prints the
// seed and the shrunk params of a failure.
const RUNS = { readings: 300, params: Number(process.env.PROPERTY_RUNS ?? 300) };

const instant = fc.oneof(
  fc.integer({ min: T0 - DAY, max: T0 + 2 * DAY }),
  fc.integer({ min: STORABLE_FROM_MS, max: STORABLE_UNTIL_MS - 1 }),
);
const iso = instant.map((ms) => new Date(ms).toISOString());
const anyDouble = fc.double({ noNaN: true, noDefaultInfinity: true });
const nonNegative = fc.double({ min: 0, noNaN: true, noDefaultInfinity: true });

/** Any reading the Reading schema accepts, extremes included. */
const reading: fc.Arbitrary<Reading> = fc.record(
  {
    ts: iso,
    device: fc.constantFrom(...DEVICES),
    power_w: anyDouble,
    voltage_v: nonNegative,
    current_a: nonNegative,
    energy_wh: fc.oneof(
      nonNegative,
      fc.integer({ min: 0, max: 2_000 }).map((wh) => 1_000_000 + wh),
    ),
    power_factor: fc.double({ min: -1, max: 1, noNaN: true }),
    frequency_hz: nonNegative,
    phase: fc.constantFrom('L1', 'L2', 'L3'),
  },
  { requiredKeys: ['ts', 'device', 'power_w'] },
);

const zone = fc.constantFrom('UTC', 'Europe/Madrid', 'Asia/Kolkata', 'America/St_Johns', 'Mars/Olympus');
const range = { from: iso, to: iso };
const device = fc.constantFrom(...DEVICES, 'nobody');
const readingsEvery = fc
  .tuple(fc.integer({ min: 1, max: 99_999 }), fc.constantFrom('s', 'm', 'h', 'd'))
  .map(([n, unit]) => `${n}${unit}`);

/** Params each method's schema accepts. */
const PARAMS: { [M in QueryMethod]: fc.Arbitrary<Record<string, unknown>> } = {
  devices: fc.record(
    { location: fc.string({ minLength: 1 }), kind: fc.string({ minLength: 1 }) },
    { requiredKeys: [] },
  ),
  latest: fc.record({ devices: fc.uniqueArray(fc.constantFrom(...DEVICES), { minLength: 1 }) }),
  readings: fc.record(
    {
      device,
      ...range,
      fields: fc.uniqueArray(fc.constantFrom(...READING_FIELDS), { minLength: 1 }),
      every: readingsEvery,
      fn: fc.constantFrom(...AGGREGATE_FUNCTIONS),
      fill: fc.constantFrom(...FILL_MODES),
      phase: fc.constantFrom('L1', 'L2', 'L3'),
      tz: zone,
    },
    { requiredKeys: ['device', 'from', 'to'] },
  ),
  energy: fc.record(
    { device, ...range, every: fc.constantFrom(...ENERGY_BUCKETS), tz: zone },
    { requiredKeys: ['device', 'from', 'to', 'every'] },
  ),
  totals: fc.record(
    {
      ...range,
      group_by: fc.constantFrom('device', 'location', 'kind'),
      depth: fc.integer({ min: 1, max: 16 }),
      location: fc.string({ minLength: 1 }),
      kind: fc.string({ minLength: 1 }),
      tz: zone,
    },
    { requiredKeys: ['from', 'to', 'group_by'] },
  ),
  cost: fc.record(
    { ...range, device, every: fc.constantFrom(...ENERGY_BUCKETS), tz: zone },
    { requiredKeys: ['from', 'to'] },
  ),
};

describe('no 5xx for any value the schemas accept (fast-check, influxd)', () => {
  let influx: InfluxServer;
  // MQTT 5: a raw request asks for result_bytes with a user property (docs/topics.md).
  let broker: MosquittoServer;
  let bus: Bus;
  let client: Bus;
  let component: QueryComponent;

  before(async () => {
    [influx, broker] = await Promise.all([startInflux(), startMosquitto({ persistence: false })]);
    await influx.createDatabase(DATABASE);
    // Replies as large as the gateway takes them (mqtt.max_payload_bytes): 10,000 points are ~1 MB.
    client = await Bus.connect({ url: broker.url, service: 'test-client', maxPayloadBytes: 8_388_608 });
    for (const id of DEVICES) {
      const meta = {
        id,
        name: id,
        type: 'tplink',
        kind: 'workplace',
        location: `hq/${id}`,
        poll_interval_ms: 60_000,
        ts: '2026-11-01T00:00:00.000Z',
      };
      await client.publish(client.topics.meta(id), meta, { retain: true });
    }
    bus = await Bus.connect({ url: broker.url, service: 'query', logger });
    component = new QueryComponent({
      bus,
      logger,
      config: testConfig({
        mqttUrl: broker.url,
        influxUrl: influx.url,
        extra: {
          // A machine shared by many tests: only an answer the store never gives counts here.
          influx: { url: influx.url, database: DATABASE, timeout_ms: 15_000 },
          tariff: {
            currency: 'EUR',
            price_per_kwh: 0.2,
            periods: [{ from_hour: 8, to_hour: 20, price_per_kwh: 0.3 }],
          },
          time_zone: 'Europe/Madrid',
        },
      }),
    });
    await component.start();
  });

  after(async () => {
    await component?.stop();
    await bus?.stop();
    await client?.stop();
    await broker?.destroy();
    await influx?.destroy();
  });

  it('stores what ingest lets through: every schema-valid reading is refused or stored', async () => {
    const now = Date.now();
    const readings = fc.sample(reading, { numRuns: RUNS.readings, seed: 17 });
    // As the storage hook does: the plausibility check, then the one line-protocol encoder.
    const lines = readings
      .filter((candidate) => plausibilityProblem(candidate, {}, { nowMs: now }) === undefined)
      .map((plausible) => readingToLine(plausible));
    assert.ok(lines.length > 0);
    await influx.write(DATABASE, lines);
  });

  it('answers every method and params the schemas accept with a result in its contract or a 4xx error', async () => {
    const method = fc.constantFrom(...(Object.keys(QUERY_METHODS) as QueryMethod[]));
    const request = method.chain((name) => PARAMS[name].map((params) => ({ name, params })));
    await fc.assert(
      fc.asyncProperty(request, async ({ name, params }) => {
        assert.ok(validator(QUERY_METHODS[name].params)(params), 'the generator makes schema-valid params');
        try {
          // Asked as the gateway asks: a result sent as JSON text is what it passes on unchecked.
          const answer = await client.request(client.topics.queryRequest(name), params, {
            timeoutMs: 20_000,
            raw: true,
          });
          if (name === 'readings') assert.ok(answer instanceof JsonText, 'readings are sent as JSON text');
          const result = answer instanceof JsonText ? answer.parse() : answer;
          const check = validator(QUERY_METHODS[name].result);
          assert.ok(check(result), `${name} answered outside its contract: ${check.errorText()}`);
        } catch (error) {
          if (!(error instanceof WattbusError)) throw error;
          assert.ok(
            CLIENT_ERRORS.includes(error.code),
            `${name} ${JSON.stringify(params)}: ${error.code} ${error.message}`,
          );
        }
      }),
      {
        numRuns: RUNS.params,
        seed: process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : undefined,
      },
    );
  });
});
