import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Bus } from '@wattbus/bus';
import { AlertTopics, LiveEventSchema, validator, type Alert, type LiveEvent } from '@wattbus/contracts';
import { startAedes, waitUntil, type AedesServer } from '@wattbus/testing';
import { SseParser } from '../ui/sse.js';
import { KEYS, meta, startGateway } from './helpers.js';

const checkEvent = validator(LiveEventSchema);

const ALERT: Alert = {
  id: '0d6c1b0e-3a7f-4e44-9d1a-2f7b6c5d4e01',
  rule: 'offline',
  kind: 'offline',
  subject: 'desk-1',
  severity: 'critical',
  state: 'raised',
  message: 'desk-1 is offline',
  raised_at: '2026-11-23T18:45:00.000Z',
};

/** An open event stream as a browser would read it: fetch with the key header, parsed as SSE. */
class EventStream {
  readonly status: number;
  readonly headers: Headers;
  readonly events: LiveEvent[] = [];
  #abort: AbortController;
  #waiters: (() => void)[] = [];
  ended: Promise<void>;

  static async open(baseUrl: string, query = '', key: string = KEYS.read): Promise<EventStream> {
    const abort = new AbortController();
    const response = await fetch(`${baseUrl}/api/v1/events${query}`, {
      headers: { 'x-api-key': key },
      signal: abort.signal,
    });
    return new EventStream(response, abort);
  }

  private constructor(response: Response, abort: AbortController) {
    this.status = response.status;
    this.headers = response.headers;
    this.#abort = abort;
    this.ended = this.#read(response).catch(() => undefined);
  }

  async #read(response: Response): Promise<void> {
    const parser = new SseParser();
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      for (const message of parser.push(decoder.decode(chunk, { stream: true }))) {
        const event = { event: message.event, data: JSON.parse(message.data) as unknown };
        assert.ok(checkEvent(event), `event outside LiveEvent: ${checkEvent.errorText()}`);
        this.events.push(event);
      }
      for (const wake of this.#waiters.splice(0)) wake();
    }
  }

  /** Resolves once `count` events have arrived. */
  async next(count: number): Promise<LiveEvent[]> {
    while (this.events.length < count) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    return this.events.slice(0, count);
  }

  close(): void {
    this.#abort.abort();
  }
}

describe('live events: GET /api/v1/events and GET /api/v1/whoami (aedes)', () => {
  let broker: AedesServer;
  let publisher: Bus;
  let stack: Awaited<ReturnType<typeof startGateway>>;

  before(async () => {
    broker = await startAedes();
    publisher = await Bus.connect({ url: broker.url, service: 'test-agent' });
    stack = await startGateway(broker.url, { max_event_streams: 2, stop_timeout_ms: 300_000 });
  });

  after(async () => {
    await stack.stop();
    await publisher.stop();
    await broker.stop();
  });

  it('whoami tells a key its name and scopes; a wrong key gets 401, a control-only key 403', async () => {
    const read = await stack.api.get('/api/v1/whoami', { key: 'read' });
    assert.deepEqual(read.body, { name: 'test-read', scopes: ['read'] });
    const both = await stack.api.get('/api/v1/whoami', { key: 'both', bearer: true });
    assert.deepEqual(both.body, { name: 'test-both', scopes: ['read', 'control'] });
    assert.equal((await stack.api.get('/api/v1/whoami', { key: 'wbk_not-a-key' })).status, 401);
    assert.equal((await stack.api.get('/api/v1/whoami', { key: 'control' })).status, 403);
  });

  it('refuses a stream without a key, with the wrong scope, or with an unknown event type', async () => {
    assert.equal((await stack.api.get('/api/v1/events', { key: null })).status, 401);
    assert.equal((await stack.api.get('/api/v1/events', { key: 'control' })).status, 403);
    const bad = await stack.api.get('/api/v1/events?events=reading,weather');
    assert.equal(bad.status, 400);
    assert.deepEqual((bad.body as { parameter: unknown }).parameter, { name: 'events', in: 'query' });
  });

  it('streams readings, states, availability, metas and alerts as they are published, not retained ones', async () => {
    const topics = publisher.topics;
    const alerts = new AlertTopics(topics.base);
    // Published before the stream opens: current state for GET /devices, not an event.
    await publisher.publish(
      topics.state('desk-1'),
      { on: true, ts: '2026-11-23T18:44:00.000Z' },
      { retain: true },
    );
    const received = stack.bus.metrics().received;

    const stream = await EventStream.open(stack.url);
    assert.equal(stream.status, 200);
    assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.ok(stream.headers.get('x-request-id'));
    assert.equal(stack.gateway.metrics().event_streams, 1);
    assert.equal(stack.gateway.metrics().in_flight, 0, 'a stream does not hold an in-flight slot');

    const reading = { ts: '2026-11-23T18:45:00.000Z', device: 'desk-1', power_w: 61.5, voltage_v: 230.1 };
    const state = { on: false, ts: '2026-11-23T18:45:01.000Z' };
    await publisher.publish(topics.readings('desk-1'), reading);
    await publisher.publish(topics.state('desk-1'), state, { retain: true });
    await publisher.publish(topics.availability('desk-1'), 'offline', { retain: true });
    const desk9 = meta('desk-9');
    await publisher.publish(topics.meta('desk-9'), desk9, { retain: true });
    await publisher.publish(alerts.alert('offline', 'desk-1'), ALERT, { retain: true });
    await publisher.publish(alerts.alert('offline', 'desk-1'), '', { retain: true });
    await publisher.publish(topics.meta('desk-9'), '', { retain: true });
    // A request on the alert hook's topic shares `alerts/+/+` and must not become an event.
    await publisher.publish(alerts.request('list'), { id: 'x', reply_to: 'wattbus/replies/x/x', params: {} });
    await publisher.publish(topics.readings('desk-2'), { ...reading, device: 'desk-2', power_w: 0 });

    assert.deepEqual(await stream.next(8), [
      { event: 'reading', data: reading },
      { event: 'state', data: { device: 'desk-1', state } },
      { event: 'availability', data: { device: 'desk-1', availability: 'offline' } },
      { event: 'meta', data: { device: 'desk-9', meta: desk9 } },
      { event: 'alert', data: { rule: 'offline', subject: 'desk-1', alert: ALERT } },
      { event: 'alert', data: { rule: 'offline', subject: 'desk-1', alert: null } },
      { event: 'meta', data: { device: 'desk-9', meta: null } },
      { event: 'reading', data: { ...reading, device: 'desk-2', power_w: 0 } },
    ]);
    assert.ok(stack.bus.metrics().received > received);
    stream.close();
    await stream.ended;

    // With no stream open the gateway unsubscribes: readings no longer reach it. The meta after
    // the reading (same publisher, so delivered after it) is the barrier.
    const events = stack.gateway.events!;
    await waitUntil(
      'the stream closed on the server',
      async () => stack.gateway.metrics().event_streams === 0,
    );
    await events.settled();
    assert.equal(events.subscribed, false);
    const before = stack.bus.metrics().received;
    const announced = once(stack.gateway.devices!, 'added');
    await publisher.publish(topics.readings('desk-3'), { ...reading, device: 'desk-3' });
    await publisher.publish(topics.meta('desk-3'), meta('desk-3'), { retain: true });
    assert.deepEqual(await announced, ['desk-3']);
    assert.equal(stack.bus.metrics().received, before + 1, 'only the meta reached the gateway');
  });

  it('narrows a stream to event types and devices', async () => {
    const topics = publisher.topics;
    const stream = await EventStream.open(stack.url, '?events=state,availability&devices=desk-2');
    await publisher.publish(topics.readings('desk-2'), {
      ts: '2026-11-23T18:45:00.000Z',
      device: 'desk-2',
      power_w: 3,
    });
    await publisher.publish(topics.state('desk-1'), { on: true, ts: '2026-11-23T18:45:02.000Z' });
    await publisher.publish(topics.state('desk-2'), { on: true, ts: '2026-11-23T18:45:03.000Z' });
    await publisher.publish(topics.availability('desk-2'), 'online');
    assert.deepEqual(await stream.next(2), [
      { event: 'state', data: { device: 'desk-2', state: { on: true, ts: '2026-11-23T18:45:03.000Z' } } },
      { event: 'availability', data: { device: 'desk-2', availability: 'online' } },
    ]);
    stream.close();
    await stream.ended;
  });

  // A stream counted as a request in flight would hold stop() for stop_timeout_ms (5 min here).
  it(
    'answers 503 beyond max_event_streams, and stop() ends open streams without waiting',
    { timeout: 60_000 },
    async () => {
      const first = await EventStream.open(stack.url);
      const second = await EventStream.open(stack.url);
      const third = await stack.api.get('/api/v1/events');
      assert.equal(third.status, 503);
      assert.equal((third.body as { code: string }).code, 'OVERLOADED');

      await stack.gateway.stop();
      await Promise.all([first.ended, second.ended]);
      assert.equal(stack.gateway.metrics().event_streams, 0);
    },
  );
});
