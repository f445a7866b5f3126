import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Bus } from '@wattbus/bus';
import { BackfillParamsSchema, validator, WattbusError, type BackfillResult } from '@wattbus/contracts';
import { startAedes, type AedesServer } from '@wattbus/testing';
import { announce, startGateway, type ApiResponse } from './helpers.js';

const RESULT: BackfillResult = {
  device: 'desk-1',
  from: '2026-09-30T22:00:00.000Z',
  to: '2026-11-29T23:00:00.000Z',
  batches: 3,
  periods: [
    {
      period: 'day',
      source: 'tplink-daystat',
      intervals: 60,
      energy_wh: 72390,
      first: '2026-09-30T22:00:00.000Z',
      last: '2026-11-28T23:00:00.000Z',
    },
  ],
};

const problem = (response: ApiResponse) => response.body as Record<string, unknown>;

describe('POST /api/v1/devices/{id}/backfill (aedes, an in-test agent)', () => {
  let broker: AedesServer;
  let agent: Bus;
  let stack: Awaited<ReturnType<typeof startGateway>>;
  const asked: { device: string; days: number }[] = [];

  before(async () => {
    broker = await startAedes();
    agent = await Bus.connect({ url: broker.url, service: 'test-agent' });
    await agent.serve(
      `${agent.topics.base}/devices/+/req/backfill`,
      validator(BackfillParamsSchema),
      (params, context) => {
        const device = context.topic.split('/')[2]!;
        asked.push({ device, days: params.days });
        if (device === 'meter-1')
          throw new WattbusError('NO_HISTORY', 'meter-1 keeps no history WattBus can read');
        return { ...RESULT, device };
      },
    );
    stack = await startGateway(broker.url, { device_timeout_ms: 2_000 });
    await announce(stack.gateway, agent, ['desk-1', 'meter-1']);
  });

  after(async () => {
    await stack?.stop();
    await agent?.stop();
    await broker?.stop();
  });

  it("forwards {days} to the device's agent and answers its BackfillResult (control scope)", async () => {
    const response = await stack.api.request('POST', '/api/v1/devices/desk-1/backfill', {
      key: 'control',
      body: { days: 60 },
    });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body, RESULT);
    assert.deepEqual(asked.at(-1), { device: 'desk-1', days: 60 });
  });

  it('answers 422 NO_HISTORY, 400 for bad days, 403 for a read key, 404 for an unknown device', async () => {
    const none = await stack.api.request('POST', '/api/v1/devices/meter-1/backfill', { body: { days: 7 } });
    assert.equal(none.status, 422);
    assert.equal(problem(none).code, 'NO_HISTORY');
    const count = asked.length;
    for (const body of [{ days: 0 }, { days: 3661 }, { days: 1.5 }, {}, { days: 7, extra: 1 }]) {
      const bad = await stack.api.request('POST', '/api/v1/devices/desk-1/backfill', { body });
      assert.equal(bad.status, 400, JSON.stringify(body));
    }
    assert.equal(asked.length, count, 'nothing invalid reached the agent');
    const read = await stack.api.request('POST', '/api/v1/devices/desk-1/backfill', {
      key: 'read',
      body: { days: 7 },
    });
    assert.equal(read.status, 403);
    const unknown = await stack.api.request('POST', '/api/v1/devices/nobody/backfill', { body: { days: 7 } });
    assert.equal(unknown.status, 404);
  });
});
