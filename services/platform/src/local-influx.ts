import { resolve } from 'node:path';
import { detectServer } from '@wattbus/influx';
import { InfluxServer, MissingBinaryError } from '@wattbus/testing';

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
  let server: InfluxServer;
  try {
    server = new InfluxServer({ dir: resolve(options.dataDir, 'influxdb'), port: options.port });
  } catch (error) {
    throw error instanceof MissingBinaryError ? new NoInfluxError() : error;
  }
  return server.start();
}

/** No influxd to start and no INFLUX_URL: the two ways out, for a user (not a test run). */
export class NoInfluxError extends Error {
  constructor() {
    super(
      [
        'no InfluxDB: influxd is not installed here and INFLUX_URL is not set. Either',
        '  - install it: bash scripts/setup.sh (on Debian/Ubuntu it runs apt-get install influxdb), or',
        '  - use an InfluxDB you already run (1.x, or 2.x/3.x with the v1 API):',
        '      INFLUX_URL=http://<host>:8086 npm start',
      ].join('\n'),
    );
    this.name = 'NoInfluxError';
  }
}

async function answersPing(url: string): Promise<boolean> {
  return detectServer({ url, database: 'wattbus', timeout_ms: 1000 }).then(
    () => true,
    () => false,
  );
}
