import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { loadRegistry } from '@wattbus/devices';
import { SimulatedPlug } from '@wattbus/simulators';
import { startAedes, waitUntil, type AedesServer } from '@wattbus/testing';
import { stringify } from 'yaml';
import { RegistryWatcher, type Agent } from '../src/index.js';
import { capturingLogger, Observer, registryFor, startAgent } from './helpers.js';

/** A `devices:` entry for a simulated plug. */
function entry(id: string, plug: SimulatedPlug, location = 'home/desk') {
  return {
    id,
    type: 'tplink',
    location,
    kind: 'workplace',
    poll_interval_ms: 100,
    connection: { host: plug.host, port: plug.port },
  };
}

describe('agent: the registry changes while it runs', () => {
  let broker: AedesServer;
  let observer: Observer;
  let agent: Agent;
  let watcher: RegistryWatcher;
  let file: string;
  let cleanup: () => Promise<void>;
  const plugs: SimulatedPlug[] = [];
  const log = capturingLogger();

  before(async () => {
    broker = await startAedes();
    observer = await Observer.connect(broker.url);
    for (let n = 0; n < 3; n++) plugs.push(await SimulatedPlug.start({ realtime: { power: 10 + n } }));
    const setup = await registryFor([{ id: 'first', host: plugs[0]!.host, port: plugs[0]!.port }]);
    file = setup.file;
    cleanup = setup.cleanup;
    await writeFile(file, stringify({ devices: [entry('first', plugs[0]!)] }));
    agent = await startAgent(broker.url, await loadRegistry(file), {}, log.logger);
    watcher = new RegistryWatcher({
      file,
      apply: (registry) => agent.updateRegistry(registry),
      logger: log.logger,
      debounceMs: 50,
    });
    await watcher.start();
    await observer.until('readings of first', () => observer.count('first') > 0);
  });

  after(async () => {
    await watcher?.stop();
    await agent?.stop();
    await observer?.stop();
    await Promise.all(plugs.map((plug) => plug.stop()));
    await broker?.stop();
    await cleanup?.();
  });

  it('starts a device added to the file, without a restart', async () => {
    await writeFile(file, stringify({ devices: [entry('first', plugs[0]!), entry('second', plugs[1]!)] }));
    await observer.until('readings of second', () => observer.count('second') > 0);
    await observer.until('meta of second', () => observer.meta.has('second'));
    assert.equal(observer.lastAvailability('second'), 'online');
  });

  it('keeps the devices running when the file becomes invalid, and says why', async () => {
    const before = observer.count('first');
    await writeFile(file, 'devices:\n  - id: Bad Id\n');
    await waitUntil('the invalid file to be reported', async () =>
      log.lines().some((line) => String(line.msg).includes('devices file not applied')),
    );
    const line = log.lines().find((candidate) => String(candidate.msg).includes('devices file not applied'))!;
    assert.match(String(line.msg), /\/devices\/0\/id/);
    await observer.until('more readings of first', () => observer.count('first') > before + 2);
  });

  it('stops a removed device and clears its retained topics; restarts a changed one', async () => {
    await writeFile(
      file,
      stringify({ devices: [entry('first', plugs[0]!, 'home/office'), entry('third', plugs[2]!)] }),
    );
    await observer.until('readings of third', () => observer.count('third') > 0);
    await observer.until(
      'meta of first with its new location',
      () => observer.meta.get('first')?.location === 'home/office',
    );
    // A fresh subscriber sees no retained meta or availability of the removed device.
    const retained = await retainedTopics(broker.url, ['first', 'third']);
    assert.ok(!retained.some((topic) => topic.includes('/second/')), retained.join(', '));
    assert.ok(retained.includes('wattbus/devices/third/meta'));
    const count = observer.count('second');
    await observer.until('more readings of third', () => observer.count('third') > 3);
    assert.ok(observer.count('second') <= count + 1, 'second is still polled');
  });
});

/**
 * The retained meta and availability topics a new subscriber gets: it waits for those of `known`
 * devices, then for a message of its own through the broker, so every retained one has arrived.
 */
async function retainedTopics(url: string, known: string[]): Promise<string[]> {
  const { default: mqtt } = await import('mqtt');
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  const topics: string[] = [];
  let fenced!: () => void;
  const fence = new Promise<void>((resolve) => (fenced = resolve));
  client.on('message', (topic, payload, packet) => {
    if (topic === 'wattbus/test/fence') fenced();
    else if (packet.retain && payload.length > 0) topics.push(topic);
  });
  await client.subscribeAsync(['wattbus/devices/+/meta', 'wattbus/devices/+/availability'], { qos: 1 });
  await waitUntil('the retained meta of ' + known.join(', '), async () =>
    known.every((id) => topics.includes(`wattbus/devices/${id}/meta`)),
  );
  await client.subscribeAsync('wattbus/test/fence', { qos: 1 });
  await client.publishAsync('wattbus/test/fence', 'x', { qos: 1 });
  await fence;
  await client.endAsync();
  return topics;
}
