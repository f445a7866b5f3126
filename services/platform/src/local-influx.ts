import { resolve } from 'node:path';
import { detectServer } from '@wattbus/influx';
import { InfluxServer } from '@wattbus/testing';

/**
 * The platform's own influxd: the harness's InfluxServer with its data under the platform's data
 * dir and a fixed port. Its watchdog kills influxd when this process dies, however it dies.
 */
export async function startLocalInflux(options: { dataDir: string; port: number }): Promise<InfluxServer> {
  const url = `http://127.0.0.1:${options.port}`;
  // Another InfluxDB there would answer the readiness check in place of ours.
  if (await answersPing(url)) {
    throw new Error(
      `something already answers on ${url}: set INFLUX_URL=${url} to use that InfluxDB, ` +
        'or pick another port with --influx-port',
    );
  }
  return new InfluxServer({ dir: resolve(options.dataDir, 'influxdb'), port: options.port }).start();
}

async function answersPing(url: string): Promise<boolean> {
  return detectServer({ url, database: 'wattbus', timeout_ms: 1000 }).then(
    () => true,
    () => false,
  );
}
