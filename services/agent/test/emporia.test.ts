import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Reading } from '@wattbus/contracts';
import { EmporiaCloud } from '@wattbus/simulators';
import {
  freePort,
  runProgram,
  startAedes,
  valueOf,
  type AedesServer,
  type ProgramRun,
} from '@wattbus/testing';
import { parse, stringify } from 'yaml';
import { Observer } from './helpers.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Entry {
  id: string;
  name: string;
  connection: { device_gid: number; channel: string };
}

/**
 * The agent as a process, its registry naming one Emporia account (written by the agent's own
 * `--discover-emporia`), against the emulated cloud: 19 channel devices, token renewal mid-run,
 * a wrong password, and the hold-off after 429s.
 */
describe('wattbus-agent with an Emporia account (emulated cloud)', () => {
  let dir: string;
  let broker: AedesServer;
  let observer: Observer;
  let cloud: EmporiaCloud;
  let passwordFile: string;
  const runs: ProgramRun[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wattbus-agent-emporia-'));
    broker = await startAedes();
    observer = await Observer.connect(broker.url);
    cloud = await EmporiaCloud.start();
    passwordFile = join(dir, 'emporia.secret');
    await writeFile(passwordFile, `${cloud.password}\n`);
  });

  after(async () => {
    for (const run of runs) if (run.child.exitCode === null) run.child.kill('SIGKILL');
    await Promise.all(runs.map((run) => run.exited));
    await observer?.stop();
    await cloud?.stop();
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function agent(args: string[], env: Record<string, string> = {}): ProgramRun {
    const run = runProgram(MAIN, {
      args,
      env: { LOG_LEVEL: 'warn', WATTBUS_AGENT_MQTT__URL: broker.url, ...env },
    });
    runs.push(run);
    return run;
  }

  /** The registry the agent's discovery prints, with the test's poll settings. */
  async function registry(
    name: string,
    password: string,
    offlineAfterFailures = 1000,
  ): Promise<{ file: string; entries: Entry[] }> {
    const secret = join(dir, `${name}.secret`);
    await writeFile(secret, password);
    const discovery = agent([
      '--discover-emporia',
      '--email',
      cloud.email,
      '--password-file',
      passwordFile,
      '--data-dir',
      join(dir, `discover-${name}`),
      '--location',
      'home/panel',
      '--emporia-api-url',
      cloud.apiUrl,
      '--emporia-cognito-url',
      cloud.cognitoUrl,
    ]);
    assert.equal((await discovery.exited).code, 0, discovery.stderr());
    const { devices } = parse(discovery.stdout()) as {
      devices: (Entry & { connection: Record<string, unknown> })[];
    };
    for (const device of devices) {
      device.connection.password_file = secret;
      device.connection.scale = '1S';
      device.connection.data_dir = join(dir, `data-${name}`);
    }
    const file = join(dir, `${name}.yaml`);
    // Failures are absorbed by the hold-off, not by the device going offline; the collector's own
    // backoff stays short so the test does not wait for it.
    await writeFile(
      file,
      stringify({
        defaults: {
          poll_interval_ms: 500,
          offline_after_failures: offlineAfterFailures,
          max_backoff_ms: 2000,
        },
        devices,
      }),
    );
    return { file, entries: devices };
  }

  const usageRequests = () => cloud.requests.filter((request) => request.call === 'getDeviceListUsages');
  const readingsOf = (id: string): Reading[] => observer.readings.get(id) ?? [];

  it('publishes 19 channel devices whose power is what the cloud answered; renews an expired token without a lost poll; holds off after 429s', async () => {
    const { file, entries } = await registry('good', cloud.password);
    assert.ok(entries.length >= 19, `${entries.length} entries`);
    const metricsPort = await freePort();
    const run = agent(['--registry', file], { WATTBUS_AGENT_ADMIN__PORT: String(metricsPort) });
    const failedPolls = async () =>
      valueOf(
        await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
        'wattbus_agent_polls_failed_total',
      );
    const allHave =
      (count: number, since: Map<string, number> = new Map()) =>
      () =>
        entries.every((entry) => readingsOf(entry.id).length >= (since.get(entry.id) ?? 0) + count);
    const counts = () => new Map(entries.map((entry) => [entry.id, readingsOf(entry.id).length]));

    await observer.until('two readings of every channel', allHave(2), 30_000);
    for (const entry of entries) {
      const answered = cloud.answeredPowerW(entry.connection.device_gid, entry.connection.channel);
      for (const reading of readingsOf(entry.id)) {
        assert.ok(
          answered.some((watts) => Math.abs(watts - reading.power_w) < 1e-6),
          `${entry.id}: ${reading.power_w} W is not among the cloud's answers`,
        );
        assert.equal(reading.type, 'emporia');
      }
    }
    assert.equal(observer.meta.get('emporia-1001-1')?.name, 'Kitchen');
    assert.equal(await failedPolls(), 0);
    // One usage request serves all 19 channels of a poll.
    assert.ok(usageRequests().length < entries.length, `${usageRequests().length} usage requests`);

    // The token expires mid-run: the request that meets the 401 renews it and is repeated.
    const beforeExpiry = counts();
    const sentBefore = cloud.requests.length;
    cloud.expireTokens();
    await observer.until(
      'two more readings of every channel after the token expired',
      allHave(2, beforeExpiry),
      30_000,
    );
    assert.equal(cloud.cognito.counts.refreshes, 1);
    assert.deepEqual(
      cloud.requests.slice(sentBefore, sentBefore + 2).map((request) => request.status),
      [401, 200],
    );
    assert.equal(await failedPolls(), 0, 'no poll lost to the expired token');
    assert.equal(cloud.cognito.counts.srp_sign_ins, 2, 'one password sign-in by discovery, one by the agent');

    // Three 429s: the agent waits the announced time and longer each time, then recovers.
    const beforeLimit = counts();
    const firstRefused = cloud.requests.length;
    cloud.fail(429, 3, 1);
    await observer.until(
      'two more readings of every channel after the 429s',
      allHave(2, beforeLimit),
      30_000,
    );
    const during = cloud.requests.slice(firstRefused);
    const recovered = during.findIndex((request) => request.status === 200);
    assert.deepEqual(
      during.slice(0, recovered + 1).map((request) => `${request.call} ${request.status}`),
      [
        'getDeviceListUsages 429',
        'getDeviceListUsages 429',
        'getDeviceListUsages 429',
        'getDeviceListUsages 200',
      ],
      'one request per hold-off, no burst',
    );
    assert.equal(cloud.earlyRetries, 0, 'no request before the Retry-After had passed');
    // The polls during the hold-off failed inside the agent without reaching the cloud.
    assert.ok((await failedPolls())! > 3, 'polls went on during the hold-off');
    const { code } = await run.stop('SIGTERM');
    assert.equal(code, 0, run.stderr());
  });

  it('a wrong password gives one clear error and the channels go offline with it', async () => {
    const { file, entries } = await registry('wrong', 'not the password', 2);
    const refusedBefore = cloud.cognito.counts.failed_sign_ins;
    const run = agent(['--registry', file]);
    const line = await run.logLine('Emporia sign-in failed: wrong e-mail or password');
    assert.equal(line.account, cloud.email);
    await observer.until(
      'the channels offline',
      () => entries.every((entry) => observer.lastAvailability(entry.id) === 'offline'),
      20_000,
    );
    assert.equal(cloud.cognito.counts.failed_sign_ins - refusedBefore, 1, 'the wrong password was sent once');
    assert.equal(
      run.lines.filter((logged) => logged.msg === 'Emporia sign-in failed: wrong e-mail or password').length,
      1,
    );
    assert.doesNotMatch(run.stdout() + run.stderr(), /not the password/);
    await run.stop('SIGTERM');
  });
});
