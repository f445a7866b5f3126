import assert from 'node:assert/strict';
import { once } from 'node:events';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Alert } from '@wattbus/contracts';
import { silentLogger } from '@wattbus/runtime';
import {
  Dispatcher,
  Outbox,
  WebhookSink,
  alertLine,
  alertText,
  renderBody,
  transitionKey,
  type OutboxEntry,
} from '../src/index.js';
import { Receiver } from './helpers.js';

const alert: Alert = {
  id: 'a1',
  rule: 'overload',
  kind: 'power_above',
  subject: 'desk-3',
  severity: 'warning',
  state: 'raised',
  message: 'desk-3 draws 3712 W, above "3680 W"',
  value: 3712,
  threshold: 3680,
  unit: 'W',
  raised_at: '2026-11-23T18:45:00.000Z',
  name: 'Desk 3',
};

function entry(sink: string, of: Alert = alert): OutboxEntry {
  const key = transitionKey(of);
  return { id: `${sink}:${key}`, sink, key, alert: of };
}

describe('outbox', () => {
  test('keeps undelivered entries across a reopen, forgets delivered ones, survives a torn last line', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'outbox-')), 'outbox.jsonl');
    const first = new Outbox({ file, logger: silentLogger() });
    await first.start();
    const resolved: Alert = { ...alert, state: 'resolved', resolved_at: '2026-11-23T18:50:00.000Z' };
    await first.add([entry('json'), entry('influx'), entry('json', resolved)]);
    await first.done(['influx:a1.raised']);
    await first.stop();
    appendFileSync(file, '{"op":"add","entry":{"id":"torn'); // a crash mid-write

    const second = new Outbox({ file, logger: silentLogger() });
    await second.start();
    assert.deepEqual(
      second.pending('json').map((pending) => pending.key),
      ['a1.raised', 'a1.resolved'],
    );
    assert.deepEqual(second.pending('influx'), []);
    await second.stop();
  });
});

describe('templates and line protocol', () => {
  test('generic JSON, Slack/Matrix text and ntfy bodies', () => {
    assert.deepEqual(renderBody({ template: 'json' }, entry('json')), {
      idempotency_key: 'a1.raised',
      event: 'raised',
      alert,
    });
    assert.deepEqual(renderBody({ template: 'matrix' }, entry('m')), {
      text: '[RAISED warning] overload on desk-3 (Desk 3): desk-3 draws 3712 W, above "3680 W"',
    });
    assert.equal(
      alertText({ ...alert, name: undefined, state: 'resolved' }).startsWith(
        '[RESOLVED warning] overload on desk-3:',
      ),
      true,
    );
    assert.deepEqual(
      renderBody({ template: 'ntfy', ntfy_topic: 'home' }, entry('n', { ...alert, severity: 'critical' })),
      {
        topic: 'home',
        title: 'Alert: overload on desk-3',
        message: alert.message,
        priority: 5,
        tags: ['rotating_light', 'critical'],
      },
    );
  });

  test('an alert becomes one escaped point of measurement alerts at its transition time', () => {
    assert.equal(
      alertLine({ ...alert, subject: 'desk-3', message: 'a "quoted" \\ message\nwith a newline' }),
      'alerts,rule=overload,device=desk-3,severity=warning,kind=power_above ' +
        `state="raised",alert_id="a1",message="a \\"quoted\\" \\\\ message with a newline",value=3712 ${Date.parse(alert.raised_at)}`,
    );
    assert.match(
      alertLine({ ...alert, state: 'resolved', resolved_at: '2026-11-23T18:50:00.000Z' }),
      new RegExp(` ${Date.parse('2026-11-23T18:50:00.000Z')}$`),
    );
  });
});

describe('dispatcher', () => {
  const receiver = new Receiver();
  before(() => receiver.start());
  after(() => receiver.stop());

  test('retries 5xx until accepted, drops what the receiver refuses (4xx), keeps FIFO order', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'outbox-')), 'outbox.jsonl');
    const outbox = new Outbox({ file, logger: silentLogger() });
    await outbox.start();
    const sinks = [
      new WebhookSink({
        name: 'hook',
        url: `${receiver.url}/hook`,
        template: 'json',
        headers: {},
        min_severity: 'info',
        timeout_ms: 2000,
      }),
    ];
    const dispatcher = new Dispatcher({
      outbox,
      sinks,
      retry: { min_ms: 10, max_ms: 50 },
      logger: silentLogger(),
    });
    dispatcher.start();
    try {
      receiver.status = 503;
      await dispatcher.enqueue([alert]);
      await dispatcher.enqueue([{ ...alert, state: 'resolved', resolved_at: '2026-11-23T18:50:00.000Z' }]);
      await once(dispatcher, 'failed'); // the receiver is "down": one refused attempt, then it is back
      receiver.status = 200;
      const resolved = await receiver.nextNotification((n) => n.event === 'resolved', '/hook');
      const keys = receiver.requests
        .filter((r) => r.path === '/hook')
        .map((r) => r.headers['idempotency-key']);
      assert.deepEqual(keys, ['a1.raised', 'a1.resolved'], 'each once, raised first');
      assert.equal(resolved.alert.id, 'a1');

      receiver.status = 400;
      await dispatcher.enqueue([{ ...alert, id: 'a2' }]);
      const [dropped] = await once(dispatcher, 'dropped');
      assert.equal((dropped as OutboxEntry).key, 'a2.raised');
      assert.equal(outbox.size, 0, 'a refused notification is not retried forever');
    } finally {
      receiver.status = 200;
      await dispatcher.stop();
      await outbox.stop();
    }
  });
});
