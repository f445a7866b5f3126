import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  checkMetrics,
  parseExposition,
  startPrometheus,
  valueOf,
  startAedes,
  startInflux,
  startMosquitto,
  startRedis,
  MissingBinaryError,
  portOpen,
  requireBinary,
  waitUntil,
} from '../src/index.js';

describe('test harness', () => {
  it('starts a real influxd, answers InfluxQL, and leaves nothing behind on stop', async () => {
    const influx = await startInflux();
    await influx.createDatabase('harness');
    const answer = await influx.query('harness', 'SHOW DATABASES');
    assert.deepEqual(answer.results?.[0]?.series?.[0]?.values.flat().includes('harness'), true);
    await influx.destroy();
    assert.equal(await portOpen(influx.port), false);
  });

  it('restarts influxd on the same port with its data', async () => {
    const influx = await startInflux();
    await influx.createDatabase('kept');
    await influx.stop();
    assert.equal(await portOpen(influx.port), false);
    await influx.start();
    const answer = await influx.query('kept', 'SHOW DATABASES');
    assert.ok(answer.results?.[0]?.series?.[0]?.values.flat().includes('kept'));
    await influx.destroy();
  });

  it('starts mosquitto with the project queue tuning and stops it', async () => {
    const mosquitto = await startMosquitto();
    assert.equal(await portOpen(mosquitto.port), true);
    await mosquitto.destroy();
    assert.equal(await portOpen(mosquitto.port), false);
  });

  it('starts a real redis-server that answers PING, and stops it', async () => {
    const redis = await startRedis();
    const socket = connect(redis.port, '127.0.0.1');
    socket.write('PING\r\n');
    const [reply] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    assert.equal(reply.toString(), '+PONG\r\n');
    await redis.destroy();
    assert.equal(await portOpen(redis.port), false);
  });

  it('starts a real Prometheus that scrapes a target, answers queries, and leaves nothing behind', async () => {
    const target = createServer((_request, response) =>
      response.end(
        '# HELP harness_up A test gauge.\n# TYPE harness_up gauge\nharness_up{device="a\\"b"} 42\n',
      ),
    );
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const port = (target.address() as AddressInfo).port;
    const prometheus = await startPrometheus({ jobs: [{ job: 'harness', targets: [`127.0.0.1:${port}`] }] });
    try {
      await prometheus.scraped('harness');
      const [sample] = await prometheus.queryUntil('harness_up', (samples) => samples.length === 1);
      assert.equal(sample!.value, 42);
      assert.equal(sample!.metric.device, 'a"b');
      await assert.rejects(prometheus.query('sum(('), /parse error/);
    } finally {
      await prometheus.destroy();
      target.close();
    }
    assert.equal(await portOpen(Number(new URL(prometheus.url).port)), false);
  });

  it('lints an exposition with promtool, and parses its samples', () => {
    const good = '# HELP a_total Things.\n# TYPE a_total counter\na_total{x="1"} 3\na_total{x="2"} +Inf\n';
    assert.deepEqual(checkMetrics(good), { ok: true, problems: '' });
    const bad = checkMetrics('# HELP a Things.\n# TYPE a counter\na 3\n');
    assert.equal(bad.ok, false);
    assert.match(bad.problems, /counter metrics should have "_total" suffix/);
    assert.deepEqual(parseExposition(good), [
      { name: 'a_total', labels: { x: '1' }, value: 3 },
      { name: 'a_total', labels: { x: '2' }, value: Infinity },
    ]);
    assert.equal(valueOf(good, 'a_total', { x: '1' }), 3);
    assert.throws(() => valueOf(good, 'a_total'), /2 samples of a_total/);
  });

  it('starts and stops an in-process aedes', async () => {
    const aedes = await startAedes();
    assert.equal(await portOpen(aedes.port), true);
    await aedes.stop();
    assert.equal(await portOpen(aedes.port), false);
  });

  it('kills the servers of a test process that dies by SIGKILL', async () => {
    const script = `
      import { startInflux } from './src/index.ts';
      const influx = await startInflux();
      process.stdout.write(String(influx.port) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('..', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
    const port = Number(chunk.toString().trim());
    assert.equal(await portOpen(port), true);
    child.kill('SIGKILL');
    await once(child, 'exit');
    await waitUntil('orphaned influxd to exit', async () => !(await portOpen(port)), { timeoutMs: 10_000 });
  });

  it('names the Debian package when a binary is missing', () => {
    assert.throws(
      () => requireBinary('no-such-influxd', 'influxdb'),
      (error: Error) =>
        error instanceof MissingBinaryError && /apt-get install -y influxdb/.test(error.message),
    );
  });
});
