import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { TplinkDriver, xorFrame, xorOpen, XorFrameReader } from '@wattbus/devices';
import { SimulatedPlug } from '@wattbus/simulators';
import { failureOf, legacyDriverFor } from './helpers.js';

const plugs: SimulatedPlug[] = [];
const drivers: TplinkDriver[] = [];

after(async () => {
  await Promise.all(drivers.map((driver) => driver.close()));
  await Promise.all(plugs.map((plug) => plug.stop()));
});

async function plug(options: Parameters<typeof SimulatedPlug.start>[0] = {}): Promise<SimulatedPlug> {
  const started = await SimulatedPlug.start(options);
  plugs.push(started);
  return started;
}

function driverFor(target: { host: string; port: number }, timeout_ms = 1000): TplinkDriver {
  return legacyDriverFor(drivers, target, timeout_ms);
}

describe('Kasa legacy framing and cipher', () => {
  // Expected bytes computed with python-kasa's XorEncryption.encrypt (kasa/transports/xortransport.py).
  it('enciphers as python-kasa does, length prefix included, and opens its own frames', () => {
    const request = '{"system":{"get_sysinfo":{}}}';
    const frame = xorFrame(request);
    assert.equal(frame.toString('hex'), '0000001dd0f281f88bff9af7d5ef94b6d1b4c09fec95e68fe187e8caf08bf68bf6');
    assert.equal(xorFrame('{"a":"é"}').toString('hex'), '0000000ad0f293b18ba96ac3e19c');
    assert.equal(xorOpen(frame.subarray(4)), request);
  });

  it('cuts whole messages out of a stream however it is split or joined', () => {
    const stream = Buffer.concat([
      xorFrame('{"first":1}'),
      xorFrame('{"second":2}'),
      xorFrame('{"third":3}'),
    ]);
    const reader = new XorFrameReader(1024);
    const texts: string[] = [];
    for (const byte of stream.subarray(0, 20)) {
      for (const payload of reader.push(Buffer.from([byte]))) texts.push(xorOpen(payload));
    }
    for (const payload of reader.push(stream.subarray(20))) texts.push(xorOpen(payload));
    assert.deepEqual(texts, ['{"first":1}', '{"second":2}', '{"third":3}']);
    assert.equal(reader.buffered, 0);
    assert.throws(() => new XorFrameReader(1024).push(Buffer.from([0, 0, 4, 1])), /1025 bytes/);
  });
});

describe('Kasa legacy transport', () => {
  it('keeps one connection to the plug across reads and switching', async () => {
    const simulated = await plug({ model: 'hs110v2' });
    const driver = driverFor(simulated);
    for (let n = 0; n < 5; n++) assert.deepEqual((await driver.read()).values, [simulated.expected()]);
    await driver.setPower(false);
    assert.equal(simulated.relayOn, false);
    assert.deepEqual(await driver.getState(), { on: false });
    assert.equal(simulated.requests, 7);
    assert.equal(simulated.connections, 1, 'every request went over the first connection');
  });

  it('sends the request again on a new connection when the plug dropped the idle one', async () => {
    const simulated = await plug();
    const driver = driverFor(simulated);
    await driver.read();
    simulated.dropConnections();
    simulated.setRealtime({ power: 42 });
    assert.equal((await driver.read()).values[0]!.power_w, 42);
    assert.equal(simulated.connections, 2);
  });

  it('never reads a timed-out request’s late answer as the next one’s', async () => {
    const simulated = await plug({ responseDelay: 300, realtime: { power: 10 } });
    const driver = driverFor(simulated, 100);
    const timeout = await failureOf(driver.read());
    assert.equal(timeout.code, 'DEVICE_TIMEOUT');
    assert.match(timeout.message, /desk-1 \(127\.0\.0\.1:\d+\) did not answer within 100 ms/);
    simulated.responseDelay = 0;
    simulated.setRealtime({ power: 20 });
    assert.equal((await driver.read()).values[0]!.power_w, 20);
    assert.equal(simulated.connections, 2, 'the timed-out connection was given up');
  });

  it('has one request on the wire at a time when operations overlap', async () => {
    const simulated = await plug({ responseDelay: 30 });
    const driver = driverFor(simulated);
    const [reading, , state] = await Promise.all([driver.read(), driver.setPower(true), driver.getState()]);
    assert.equal(reading.values.length, 1);
    assert.deepEqual(state, { on: true });
    assert.equal(simulated.maxInFlight, 1);
    assert.equal(simulated.connections, 1);
  });

  it('names each kind of failure and recovers when the plug behaves again', async () => {
    const simulated = await plug();
    const driver = driverFor(simulated);
    simulated.fault = 'garbage';
    const garbage = await failureOf(driver.read());
    assert.equal(garbage.code, 'DEVICE_ERROR');
    assert.match(garbage.message, /answered a request with something that is not JSON: "<html>busy<\/html>"/);
    simulated.fault = 'huge';
    const huge = await failureOf(driver.read());
    assert.equal(huge.code, 'DEVICE_ERROR');
    assert.match(huge.message, /announced a message of 16777216 bytes .*not a Kasa answer/);
    simulated.fault = 'hang-up';
    const hangUp = await failureOf(driver.read());
    assert.equal(hangUp.code, 'DEVICE_UNREACHABLE');
    assert.match(hangUp.message, /closed the connection before answering/);
    simulated.fault = undefined;
    assert.deepEqual((await driver.read()).values, [simulated.expected()]);
  });

  it('says the plug refused the connection, and reconnects once it listens again', async () => {
    const simulated = await plug();
    const driver = driverFor(simulated);
    await driver.read();
    await simulated.stop();
    const refused = await failureOf(driver.read());
    assert.equal(refused.code, 'DEVICE_UNREACHABLE');
    assert.match(refused.message, /is unreachable \(ECONNREFUSED\)/);
    await simulated.start();
    assert.equal((await driver.read()).values.length, 1);
  });
});
