import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startInflux, type InfluxServer } from '@wattbus/testing';
import { classify, detectServer } from '../src/index.js';

describe('detectServer', () => {
  let influx: InfluxServer;
  before(async () => {
    influx = await startInflux();
  });
  after(() => influx.destroy());

  it('recognises the real influxd 1.x of the harness', async () => {
    const info = await detectServer({ url: influx.url, database: 'x', timeout_ms: 2000 });
    assert.equal(info.generation, 1);
    assert.match(info.version, /^1\./);
    assert.equal(info.supportsBoundParams, true);
  });

  it('classifies the /ping headers of 2.x and 3.x', () => {
    assert.deepEqual(classify('v2.7.4', 'OSS'), { generation: 2, supportsBoundParams: true });
    assert.deepEqual(classify('3.0.1', 'Core'), { generation: 3, supportsBoundParams: false });
    assert.deepEqual(classify('', 'Enterprise'), { generation: 3, supportsBoundParams: false });
    assert.deepEqual(classify('1.8.10', 'OSS'), { generation: 1, supportsBoundParams: true });
  });
});
