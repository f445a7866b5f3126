import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Bus } from '@wattbus/bus';
import { DeviceStateSchema, validator, WattbusError, type DeviceState } from '@wattbus/contracts';
import { SimulatedPlug } from '@wattbus/simulators';
import { startMosquitto, type MosquittoServer } from '@wattbus/testing';
import type { Agent } from '../src/index.js';
import { Observer, registryFor, startAgent } from './helpers.js';

const checkState = validator(DeviceStateSchema);

async function failureOf(work: Promise<unknown>): Promise<WattbusError> {
  const error = await work.then(
    () => assert.fail('expected an error answer'),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof WattbusError, `expected a WattbusError, got ${String(error)}`);
  return error;
}

describe('controller over MQTT (mosquitto, MQTT 5)', () => {
  let broker: MosquittoServer;
  let observer: Observer;
  let client: Bus;
  let agent: Agent;
  let onlyAgent: Agent;
  const cleanups: (() => Promise<void>)[] = [];
  const plugs: SimulatedPlug[] = [];

  before(async () => {
    broker = await startMosquitto({ persistence: false });
    observer = await Observer.connect(broker.url);
    client = await Bus.connect({ url: broker.url, service: 'gateway-test' });
    // desk-1 answers after 20 ms, so concurrent commands really overlap in time.
    plugs.push(await SimulatedPlug.start({ model: 'hs110', responseDelay: 20 }));
    plugs.push(await SimulatedPlug.start({ model: 'hs110v2' }));
    const setup = await registryFor([
      { id: 'desk-1', host: plugs[0]!.host, port: plugs[0]!.port, poll_interval_ms: 200, timeout_ms: 1000 },
      { id: 'desk-2', host: plugs[1]!.host, port: plugs[1]!.port, poll_interval_ms: 200, timeout_ms: 1000 },
    ]);
    cleanups.push(setup.cleanup);
    // Controller only: the retained state comes from the commands, not from polls.
    agent = await startAgent(broker.url, setup.registry, { collector: false, device_wills: false });
  });

  after(async () => {
    await onlyAgent?.stop();
    await agent?.stop();
    await client?.stop();
    await observer?.stop();
    await Promise.all(plugs.map((plug) => plug.stop()));
    await broker?.destroy();
    for (const cleanup of cleanups) await cleanup();
  });

  it('switches a plug: the relay changes, the answer carries the confirmed state, the retained state follows', async () => {
    const topic = client.topics.deviceRequest('desk-2', 'set');
    const on = await client.request<DeviceState>(topic, { on: true }, { timeoutMs: 5000 });
    assert.ok(checkState(on), checkState.errorText());
    assert.equal(on.on, true);
    assert.equal(plugs[1]!.relayOn, true);
    await observer.until('retained state on', () => observer.states.get('desk-2')?.at(-1)?.on === true);
    const off = await client.request<DeviceState>(topic, { on: false }, { timeoutMs: 5000 });
    assert.equal(off.on, false);
    assert.equal(plugs[1]!.relayOn, false);
    // A subscriber arriving later gets the retained state.
    const late = await Bus.connect({ url: broker.url, service: 'late' });
    try {
      const retained = await new Promise<DeviceState>((resolve) => {
        void late.subscribe(late.topics.state('desk-2'), checkState, (state) => resolve(state));
      });
      assert.deepEqual(retained, off);
    } finally {
      await late.stop();
    }
    const got = await client.request<DeviceState>(client.topics.deviceRequest('desk-2', 'get'), {});
    assert.equal(got.on, false);
  });

  it('serialises concurrent commands to one plug, in arrival order', async () => {
    const topic = client.topics.deviceRequest('desk-1', 'set');
    const wanted = [true, false, true, true, false, true, false, false, true, false];
    const answers = await Promise.all(
      wanted.map((on) => client.request<DeviceState>(topic, { on }, { timeoutMs: 10_000 })),
    );
    assert.deepEqual(
      answers.map((answer) => answer.on),
      wanted,
    );
    assert.equal(plugs[0]!.maxInFlight, 1, 'the plug never saw two requests at once');
    assert.equal(plugs[0]!.relayOn, false, 'the last command wins');
  });

  it('answers INVALID_PARAMS and UNKNOWN_METHOD', async () => {
    const bad = await failureOf(client.request(client.topics.deviceRequest('desk-1', 'set'), { on: 'yes' }));
    assert.equal(bad.code, 'INVALID_PARAMS');
    assert.match(bad.message, /\/on: must be boolean/);
    assert.deepEqual(bad.details, { errors: [{ path: '/on', message: 'must be boolean' }] });
    const extra = await failureOf(client.request(client.topics.deviceRequest('desk-1', 'get'), { x: 1 }));
    assert.equal(extra.code, 'INVALID_PARAMS');
    const method = await failureOf(client.request(client.topics.deviceRequest('desk-1', 'reboot'), {}));
    assert.equal(method.code, 'UNKNOWN_METHOD');
    assert.deepEqual(method.details, { method: 'reboot', methods: ['set', 'get', 'backfill'] });
  });

  it('answers DEVICE_UNREACHABLE for a stopped plug within the deadline', async () => {
    await plugs[1]!.stop();
    try {
      const error = await failureOf(
        client.request(client.topics.deviceRequest('desk-2', 'set'), { on: true }, { timeoutMs: 3000 }),
      );
      assert.equal(error.code, 'DEVICE_UNREACHABLE');
      assert.match(error.message, /desk-2 \(127\.0\.0\.1:\d+\) is unreachable/);
    } finally {
      await plugs[1]!.start();
    }
  });

  it('does not answer for devices it does not own, unless it is told it is the only agent', async () => {
    const timeout = await failureOf(
      client.request(client.topics.deviceRequest('nobody', 'set'), { on: true }, { timeoutMs: 500 }),
    );
    assert.equal(timeout.code, 'TIMEOUT');
    await agent.stop();
    const setup = await registryFor([{ id: 'desk-1', host: plugs[0]!.host, port: plugs[0]!.port }]);
    cleanups.push(setup.cleanup);
    onlyAgent = await startAgent(broker.url, setup.registry, {
      id: 'agent-only',
      collector: false,
      device_wills: false,
      answer_unknown_devices: true,
    });
    const unknown = await failureOf(
      client.request(client.topics.deviceRequest('nobody', 'set'), { on: true }, { timeoutMs: 3000 }),
    );
    assert.equal(unknown.code, 'UNKNOWN_DEVICE');
    assert.deepEqual(unknown.details, { device: 'nobody' });
    const owned = await client.request<DeviceState>(client.topics.deviceRequest('desk-1', 'set'), {
      on: true,
    });
    assert.equal(owned.on, true);
  });
});
