import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  AlertTopics,
  ServiceHealthSchema,
  validator,
  type AlertListResult,
  type ServiceHealth,
} from '@wattbus/contracts';
import { startAedes, startInflux, waitUntil, type AedesServer, type InfluxServer } from '@wattbus/testing';
import type { AlertHook } from '../src/index.js';
import { FakeAgent, Receiver, startHook, testConfig, type TestEnv } from './helpers.js';

const DATABASE = 'alerts_test';

describe('alert hook against a real broker, influxd and webhook receiver', () => {
  let aedes: AedesServer;
  let influx: InfluxServer;
  let agent: FakeAgent;
  const receiver = new Receiver();
  let env: TestEnv;
  const running: AlertHook[] = [];
  const list = (params: Record<string, unknown>) =>
    agent.bus.request<AlertListResult>(new AlertTopics().request('list'), params, { timeoutMs: 5000 });

  before(async () => {
    [aedes, influx] = await Promise.all([startAedes(), startInflux()]);
    await influx.createDatabase(DATABASE);
    await receiver.start();
    agent = await FakeAgent.connect(aedes.url);
    env = { mqttUrl: aedes.url, influxUrl: influx.url, database: DATABASE, receiver };
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((hook) => hook.stop()));
    receiver.status = 200;
    await receiver.start().catch(() => undefined); // a test may have left it down
  });

  after(async () => {
    await agent?.stop();
    await receiver.stop();
    await aedes?.stop();
    await influx?.destroy();
  });

  /** Every transition of `subject` reached the receiver exactly once. */
  function assertOncePerTransition(subject: string, expected: string[]): void {
    const seen = receiver.notifications(subject).map((n) => `${n.alert.rule}:${n.event}`);
    assert.deepEqual(seen, expected, `notifications for ${subject}`);
    const keys = receiver.notifications(subject).map((n) => n.idempotency_key);
    assert.equal(new Set(keys).size, keys.length, 'no idempotency key twice');
  }

  test('offline: availability offline raises, online with a reading resolves; silence raises, a reading resolves', async () => {
    await startHook(
      testConfig(env, [
        { name: 'offline', kind: 'offline', devices: ['off-1'], silent_polls: 3, for_ms: 200 },
      ]),
      running,
    );
    await agent.meta('off-1', { poll_interval_ms: 100 });
    await agent.availability('off-1', 'online');
    await agent.reading('off-1', 50);
    await agent.availability('off-1', 'offline');
    const raised = await receiver.notification('off-1', 'raised');
    assert.equal(raised.alert.kind, 'offline');
    assert.match(raised.alert.message, /off-1 is offline/);
    assert.equal(raised.alert.name, 'Plug off-1');
    const active = await list({ active: true });
    assert.deepEqual(
      active.active?.map((alert) => alert.id),
      [raised.alert.id],
    );

    await agent.availability('off-1', 'online');
    await agent.reading('off-1', 50);
    const resolved = await receiver.notification('off-1', 'resolved');
    assert.equal(resolved.alert.id, raised.alert.id, 'the same occurrence resolves');

    // No more readings: after 3 × 100 ms of silence (and for_ms) it is raised again.
    const silent = await receiver.nextNotification(
      (n) => n.alert.subject === 'off-1' && /no reading/.test(n.alert.message),
    );
    assert.equal(silent.alert.unit, 'ms');
    await agent.reading('off-1', 50);
    await receiver.nextNotification((n) => n.alert.id === silent.alert.id && n.event === 'resolved');
    assertOncePerTransition('off-1', [
      'offline:raised',
      'offline:resolved',
      'offline:raised',
      'offline:resolved',
    ]);
  });

  test('power above the plug rating (HS110: 3680 W) after for_ms, with hysteresis; templates; list and history', async () => {
    const from = new Date(Date.now() - 1000).toISOString();
    await startHook(
      testConfig(
        env,
        [{ name: 'overload', kind: 'power_above', devices: ['over-1'], hysteresis_w: 100, for_ms: 1000 }],
        {
          webhooks: [
            { name: 'json', url: `${receiver.url}/json`, template: 'json' },
            {
              name: 'slack',
              url: `${receiver.url}/slack`,
              template: 'slack',
              headers: { authorization: 'Bearer s3cret' },
            },
            { name: 'ntfy', url: `${receiver.url}/ntfy`, template: 'ntfy', ntfy_topic: 'wattbus-test' },
            {
              name: 'critical-only',
              url: `${receiver.url}/critical`,
              template: 'json',
              min_severity: 'critical',
            },
          ],
        },
      ),
      running,
    );
    await agent.meta('over-1', { model: 'HS110(EU)' });
    await agent.reading('over-1', 3900); // a spike shorter than for_ms (1 s)…
    await agent.reading('over-1', 100); // …is not an alert
    await agent.reading('over-1', 3700);
    const raised = await receiver.notification('over-1', 'raised');
    assert.equal(raised.alert.value, 3700);
    assert.equal(raised.alert.threshold, 3680);
    assert.equal(raised.alert.severity, 'warning');

    await agent.reading('over-1', 3600); // above 3680 − 100: still overloaded
    await agent.reading('over-1', 3500);
    const resolved = await receiver.notification('over-1', 'resolved');
    assert.equal(resolved.alert.value, 3500);
    assert.match(resolved.alert.message, /back below 3580 W/);
    assertOncePerTransition('over-1', ['overload:raised', 'overload:resolved']);

    const slack = await receiver.next(
      (request) => request.path === '/slack' && /RESOLVED/.test(String(request.body.text)),
    );
    assert.match(
      String(slack.body.text),
      /^\[RESOLVED warning\] overload on over-1 \(Plug over-1\): over-1 draws 3500 W/,
    );
    assert.equal(slack.headers.authorization, 'Bearer s3cret');
    assert.equal(slack.headers['idempotency-key'], `${raised.alert.id}.resolved`);
    const ntfy = await receiver.next((request) => request.path === '/ntfy');
    assert.deepEqual(
      { topic: ntfy.body.topic, priority: ntfy.body.priority, title: ntfy.body.title },
      { topic: 'wattbus-test', priority: 4, title: 'Alert: overload on over-1' },
    );
    assert.equal(
      receiver.requests.filter((request) => request.path === '/critical').length,
      0,
      'a warning does not reach a critical-only webhook',
    );

    // History comes back from InfluxDB once the outbox has written both transitions.
    await waitUntil('both transitions in InfluxDB', async () => {
      const answer = await list({ from, to: new Date(Date.now() + 1000).toISOString(), subject: 'over-1' });
      return answer.history?.length === 2;
    });
    const answer = await list({ from, rule: 'overload', subject: 'over-1' });
    assert.deepEqual(answer.active, []);
    assert.deepEqual(
      answer.history?.map((transition) => [transition.state, transition.alert_id, transition.value]),
      [
        ['resolved', raised.alert.id, 3500],
        ['raised', raised.alert.id, 3700],
      ],
    );
    await assert.rejects(list({ from: 'yesterday' }), /INVALID_PARAMS|invalid params/);
    await assert.rejects(
      list({ from: '2026-01-01T00:00:00Z', to: '2026-06-01T00:00:00Z' }),
      /limited to 31 days/,
    );
  });

  test('power below a threshold while expected (outage), with hysteresis; not expected while switched off', async () => {
    await startHook(
      testConfig(env, [
        {
          name: 'outage',
          kind: 'power_below',
          device_kinds: ['appliance'],
          threshold_w: 20,
          hysteresis_w: 10,
          expect: 'when_on',
          severity: 'critical',
          for_ms: 200,
        },
      ]),
      running,
    );
    await agent.meta('fridge-1', { kind: 'appliance' });
    await agent.state('fridge-1', true);
    await agent.reading('fridge-1', 80);
    await agent.reading('fridge-1', 0);
    const raised = await receiver.notification('fridge-1', 'raised');
    assert.equal(raised.alert.severity, 'critical');
    assert.match(raised.alert.message, /below the expected 20 W/);
    await agent.reading('fridge-1', 25); // below 20 + 10: still out
    await agent.reading('fridge-1', 90);
    await receiver.notification('fridge-1', 'resolved');

    // Switched off on purpose: 0 W is expected, so no alert.
    await agent.state('fridge-1', false);
    await agent.reading('fridge-1', 0);
    // …until it is switched on and still draws nothing.
    await agent.state('fridge-1', true);
    await agent.reading('fridge-1', 0);
    await receiver.next(
      (request) =>
        receiver.notifications('fridge-1').filter((n) => n.event === 'raised').length === 2 &&
        request.path === '/json',
    );
    await agent.reading('fridge-1', 90);
    await receiver.next(
      () => receiver.notifications('fridge-1').filter((n) => n.event === 'resolved').length === 2,
    );
    assertOncePerTransition('fridge-1', [
      'outage:raised',
      'outage:resolved',
      'outage:raised',
      'outage:resolved',
    ]);
  });

  test('energy per local day over budget raises; the next local day resolves it', async () => {
    let offsetMs = 0;
    const clock = () => Date.now() + offsetMs;
    await startHook(
      testConfig(
        env,
        [{ name: 'budget', kind: 'energy_budget', devices: ['heater-1'], budget_wh: 500, for_ms: 0 }],
        {
          time_zone: 'Europe/Berlin',
        },
      ),
      running,
      clock,
    );
    await agent.meta('heater-1');
    await agent.reading('heater-1', 2000, 10_000);
    await agent.reading('heater-1', 2000, 10_300);
    await agent.reading('heater-1', 2000, 10_600);
    const raised = await receiver.notification('heater-1', 'raised');
    assert.equal(raised.alert.value, 600);
    assert.equal(raised.alert.unit, 'Wh');
    assert.match(raised.alert.message, /used 600 Wh on \d{4}-\d{2}-\d{2}, over its 500 Wh budget/);
    offsetMs = 24 * 3600_000; // the clock crosses local midnight
    const resolved = await receiver.notification('heater-1', 'resolved');
    assert.equal(resolved.alert.value, 0);
    assertOncePerTransition('heater-1', ['budget:raised', 'budget:resolved']);
  });

  test('platform health: storage log depth, InfluxDB unreachable, dead-letter rate', async () => {
    await startHook(
      testConfig(env, [
        {
          name: 'backlog',
          kind: 'health',
          services: ['store-sim'],
          metric: 'wal_depth',
          above: 1000,
          hysteresis: 100,
          for_ms: 0,
        },
        {
          name: 'influx-down',
          kind: 'health',
          services: ['store-sim'],
          check: 'influx',
          severity: 'critical',
          for_ms: 0,
        },
        {
          name: 'bad-input',
          kind: 'health',
          services: ['dl-sim'],
          metric: 'dead_letters',
          above: 2,
          window_ms: 1000,
          for_ms: 0,
        },
        { name: 'silent-service', kind: 'health', services: ['quiet-sim'], stale_after_ms: 300, for_ms: 0 },
      ]),
      running,
    );
    const health = (walDepth: number, influxOk: boolean) =>
      agent.health({
        service: 'store-sim',
        checks: { influx: { ok: influxOk, ...(influxOk ? {} : { detail: 'ECONNREFUSED' }) } },
        metrics: { wal_depth: walDepth },
      });
    await health(10, true);
    await health(5000, true);
    const backlog = await receiver.ruleNotification('backlog', 'raised');
    assert.match(backlog.alert.message, /store-sim wal_depth: 5000, above 1000/);
    await health(950, false); // within hysteresis; and InfluxDB goes away
    const down = await receiver.ruleNotification('influx-down', 'raised');
    assert.match(down.alert.message, /check influx fails: ECONNREFUSED/);
    await health(10, true);
    await receiver.next(() => receiver.notifications('store-sim').length === 4);
    assertOncePerTransition('store-sim', [
      'backlog:raised',
      'influx-down:raised',
      'backlog:resolved',
      'influx-down:resolved',
    ]);

    // A service that stops publishing its health (crashed, so no ready:false either).
    await agent.health({ service: 'quiet-sim', checks: {}, metrics: {} });
    const quiet = await receiver.ruleNotification('silent-service', 'raised');
    assert.match(quiet.alert.message, /no health from quiet-sim for/);
    await agent.health({ service: 'quiet-sim', checks: {}, metrics: {} });
    await receiver.ruleNotification('silent-service', 'resolved');
    assertOncePerTransition('quiet-sim', ['silent-service:raised', 'silent-service:resolved']);

    const deadLetter = {
      topic: 'wattbus/devices/x/readings',
      reason: 'schema',
      message: '/power_w: must be number',
      payload: '{}',
      payload_bytes: 2,
      service: 'dl-sim',
      ts: new Date().toISOString(),
    };
    for (let i = 0; i < 3; i++) await agent.bus.publish('wattbus/deadletter/dl-sim', deadLetter);
    await receiver.notification('dl-sim', 'raised');
    // The window slides past them (judged on the hook's tick): resolved with no more input.
    await receiver.notification('dl-sim', 'resolved');
    assertOncePerTransition('dl-sim', ['bad-input:raised', 'bad-input:resolved']);
  });

  test('receiver down for a while, hook restarted meanwhile: every notification arrives once it is back', async () => {
    const config = testConfig(env, [
      { name: 'overload', kind: 'power_above', devices: ['down-1'], threshold_w: 1000, for_ms: 0 },
    ]);
    const first = await startHook(config, running);
    await agent.meta('down-1');
    await receiver.stop();
    await agent.reading('down-1', 1500);
    assert.equal(
      (await list({ active: true, subject: 'down-1' })).active?.length,
      1,
      'raised while the receiver is down',
    );
    await agent.reading('down-1', 500);
    assert.deepEqual(
      (await list({ active: true, subject: 'down-1' })).active,
      [],
      'resolved while it is down',
    );
    await first.stop();
    running.splice(running.indexOf(first), 1);

    await startHook(config, running); // the same data dir: the outbox is still there
    await receiver.start();
    const raised = await receiver.notification('down-1', 'raised');
    const resolved = await receiver.notification('down-1', 'resolved');
    assert.equal(raised.alert.id, resolved.alert.id);
    assertOncePerTransition('down-1', ['overload:raised', 'overload:resolved']);
  });

  test('hook restarted with an alert active: no second notification, still listed, resolved later', async () => {
    const config = testConfig(env, [
      { name: 'overload', kind: 'power_above', devices: ['rest-1'], threshold_w: 1000, for_ms: 0 },
    ]);
    const first = await startHook(config, running);
    await agent.meta('rest-1');
    await agent.reading('rest-1', 1500);
    const raised = await receiver.notification('rest-1', 'raised');
    await first.stop();
    running.splice(running.indexOf(first), 1);

    await startHook(config, running);
    // Still overloaded: a hook that forgot the alert would raise a new one at once (for_ms 0).
    await agent.reading('rest-1', 1600);
    const listed = await list({ active: true, subject: 'rest-1' });
    assert.deepEqual(
      listed.active?.map((alert) => [alert.id, alert.state]),
      [[raised.alert.id, 'raised']],
    );
    await agent.reading('rest-1', 200);
    const resolved = await receiver.notification('rest-1', 'resolved');
    assert.equal(resolved.alert.id, raised.alert.id);
    assertOncePerTransition('rest-1', ['overload:raised', 'overload:resolved']);
    // The retained topic was cleared: a fresh subscriber sees no active alert.
    const listedAfter = await list({ active: true, subject: 'rest-1' });
    assert.deepEqual(listedAfter.active, []);
  });

  test('publishes its own ServiceHealth, retained, and ready false when it stops', async () => {
    const seen: ServiceHealth[] = [];
    let notify = () => undefined as void;
    const subscription = await agent.bus.subscribe(
      new AlertTopics().health('alert-hook'),
      validator(ServiceHealthSchema),
      (health) => {
        seen.push(health);
        notify();
      },
    );
    const next = (match: (health: ServiceHealth) => boolean) =>
      new Promise<ServiceHealth>((resolve) => {
        const check = () => {
          const found = seen.find(match);
          if (found) resolve(found);
        };
        notify = check;
        check();
      });
    try {
      const hook = await startHook(testConfig(env, [], { health_interval_ms: 60_000 }), running);
      const up = await next((health) => health.checks.running?.ok === true);
      assert.equal(up.ready, true);
      assert.equal(up.metrics.active_alerts, 0);
      await hook.stop();
      running.splice(running.indexOf(hook), 1);
      const down = await next((health) => health.checks.running?.ok === false);
      assert.equal(down.ready, false);
    } finally {
      await subscription.unsubscribe();
    }
  });
});
