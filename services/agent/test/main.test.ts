import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SimulatedPlug } from '@wattbus/simulators';
import { runProgram, startAedes, type AedesServer, type ProgramRun } from '@wattbus/testing';
import { parse, stringify } from 'yaml';
import { Observer, registryFor } from './helpers.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

function runAgent(args: string[], env: Record<string, string> = {}): ProgramRun {
  return runProgram(MAIN, { args, env: { LOG_LEVEL: 'warn', ...env } });
}

describe('wattbus-agent process', () => {
  let dir: string;
  let broker: AedesServer;
  let observer: Observer;
  const plugs: SimulatedPlug[] = [];
  const runs: ProgramRun[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wattbus-agent-main-'));
    broker = await startAedes();
    observer = await Observer.connect(broker.url);
    plugs.push(await SimulatedPlug.start({ model: 'hs110', alias: 'Desk A' }));
    plugs.push(await SimulatedPlug.start({ model: 'hs110v2', alias: 'Desk B' }));
  });

  after(async () => {
    for (const run of runs)
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    await Promise.all(runs.map((run) => run.exited));
    await observer?.stop();
    await Promise.all(plugs.map((plug) => plug.stop()));
    await broker?.stop();
    for (const cleanup of cleanups) await cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a bad registry file at start-up, naming the file and the place of each problem', async () => {
    // One file with the four problems of the issue (each is also tested alone in libs/devices):
    // one process start instead of four keeps this test quick on a busy machine.
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      `devices:
  - { id: desk-1, type: tplink, location: hq, kind: workplace, connection: { host: 10.0.0.1 } }
  - { id: desk-1, type: tplink, location: hq, kind: workplace, connection: { host: 10.0.0.2 } }
  - { id: desk-2, type: tplink, location: hq, kind: workplace, connection: { port: 9999 } }
  - { id: desk-3, type: kasa, location: hq, kind: workplace, connection: { host: 10.0.0.3 } }
  - id: desk-4
    type: tplink
    location: hq
    kind: workplace
    poll_interval_ms: -5
    connection: { host: 10.0.0.4 }
`,
    );
    const run = runAgent(['--registry', file], { WATTBUS_AGENT_MQTT__URL: broker.url });
    runs.push(run);
    const { code } = await run.exited;
    assert.equal(code, 2); // the registry is configuration: exit code 2, as for a bad config file
    const stderr = run.stderr();
    assert.match(stderr, /^wattbus-agent: invalid device registry .*bad\.yaml:\n/);
    assert.match(
      stderr,
      /bad\.yaml:3 \/devices\/1\/id: duplicate device id 'desk-1' \(first used by \/devices\/0, line 2\)/,
    );
    assert.match(stderr, /bad\.yaml:10 \/devices\/4\/poll_interval_ms: must be >= 10, got -5/);
    assert.doesNotMatch(stderr, /\n\s+at /, 'a message, not a stack trace');
    // The file's own shape is checked first; driver-level problems show once it is right.
    await writeFile(
      file,
      `devices:
  - { id: desk-2, type: tplink, location: hq, kind: workplace, connection: { port: 9999 } }
  - { id: desk-3, type: kasa, location: hq, kind: workplace, connection: { host: 10.0.0.3 } }
`,
    );
    const second = runAgent(['--registry', file], { WATTBUS_AGENT_MQTT__URL: broker.url });
    runs.push(second);
    assert.equal((await second.exited).code, 2);
    assert.match(
      second.stderr(),
      /bad\.yaml:2 \/devices\/0\/connection: missing required key 'host' \(device 'desk-2', type 'tplink'\)/,
    );
    assert.match(
      second.stderr(),
      /bad\.yaml:3 \/devices\/1\/type: unknown device type 'kasa'.*expected one of: (.*, )?tplink\b/,
    );
  });

  it('prints discovered plugs as registry entries', async () => {
    const run = runAgent([
      '--discover',
      '--discover-timeout-ms',
      '800',
      '--broadcast',
      '127.255.255.255',
      '--hosts',
      plugs.map((plug) => `${plug.host}:${plug.port}`).join(','),
    ]);
    runs.push(run);
    assert.equal((await run.exited).code, 0, run.stderr());
    assert.match(run.stdout(), /2 TP-Link plug\(s\) found/);
    assert.match(run.stdout(), /- id: desk-a\n\s+name: Desk A\n\s+type: tplink/);
    assert.match(run.stdout(), /id: desk-b/);
  });

  it('marks the agent and each of its devices offline by last will when it dies, and by itself on SIGTERM; starts a device added to its file while it runs', async () => {
    const setup = await registryFor(
      plugs.map((plug, index) => ({
        id: `desk-${index + 1}`,
        host: plug.host,
        port: plug.port,
        poll_interval_ms: 200,
      })),
    );
    cleanups.push(setup.cleanup);
    const env = { WATTBUS_AGENT_MQTT__URL: broker.url, WATTBUS_AGENT_ID: 'agent-e2e' };
    const online = () =>
      observer.agents.get('agent-e2e')?.at(-1) === 'online' &&
      ['desk-1', 'desk-2'].every((id) => observer.lastAvailability(id) === 'online');
    const offline = () =>
      observer.agents.get('agent-e2e')?.at(-1) === 'offline' &&
      ['desk-1', 'desk-2'].every((id) => observer.lastAvailability(id) === 'offline');

    const killed = runAgent(['--registry', setup.file], env);
    runs.push(killed);
    await observer.until('agent and devices online', online, 20_000);
    killed.child.kill('SIGKILL');
    await killed.exited;
    await observer.until('the wills: agent and devices offline', offline, 20_000);

    const stopped = runAgent(['--registry', setup.file], env);
    runs.push(stopped);
    await observer.until('agent and devices online again', online, 20_000);
    // The file gains a device while the agent runs: it reports without a restart.
    const added = await SimulatedPlug.start({ model: 'hs110', alias: 'Desk C' });
    plugs.push(added);
    const file = parse(await readFile(setup.file, 'utf8')) as { devices: unknown[] };
    file.devices.push({
      id: 'desk-3',
      type: 'tplink',
      location: 'hq/floor-1/desk-3',
      kind: 'workplace',
      poll_interval_ms: 200,
      connection: { host: added.host, port: added.port },
    });
    await writeFile(setup.file, stringify(file));
    await observer.until('readings of the added desk-3', () => observer.count('desk-3') > 0, 20_000);
    stopped.child.kill('SIGTERM');
    const { code } = await stopped.exited;
    assert.equal(code, 0, stopped.stderr());
    await observer.until('agent and devices offline after SIGTERM', offline, 5000);
  });
});
