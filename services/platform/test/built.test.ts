import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { Bus } from '@wattbus/bus';
import { validator } from '@wattbus/contracts';
import { loadProfile } from '@wattbus/devices';
import { silentLogger } from '@wattbus/runtime';
import { SimulatedMeters, type SimulatedServer } from '@wattbus/simulators';
import { runProgram, startAedes, type AedesServer, type ProgramRun } from '@wattbus/testing';

/**
 * Production runs the bundles of `npm run bundle` (services/<name>/dist/main.js) with plain node,
 * no tsx: each one starts, and finds the files its sources read next to them (openapi.yaml at the
 * repository root, the device profiles in libs/devices/profiles) and the npm packages they load.
 */
const root = new URL('../../../', import.meta.url).pathname;
const built = (service: string) => `${root}services/${service}/dist/main.js`;

async function services(): Promise<string[]> {
  const names = await readdir(`${root}services`);
  return names.filter((name) => existsSync(`${root}services/${name}/src/main.ts`)).sort();
}

describe('services as built JavaScript (npm run bundle)', () => {
  let dir: string;
  let broker: AedesServer;
  const running: ProgramRun[] = [];

  before(async () => {
    const bundle = runProgram(`${root}scripts/bundle.mjs`, { killAfterMs: 120_000 });
    assert.deepEqual(await bundle.exited, { code: 0, signal: null }, bundle.stderr());
    dir = await mkdtemp(join(tmpdir(), 'wattbus-built-'));
    broker = await startAedes();
  });

  after(async () => {
    await Promise.all(running.map((run) => run.stop('SIGKILL')));
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('bundles every service with a src/main.ts, with a source map, and no tsx at run time', async () => {
    for (const service of await services()) {
      const code = await readFile(built(service), 'utf8');
      assert.match(code, /^#!\/usr\/bin\/env -S node --enable-source-maps\n/, service);
      const map = JSON.parse(await readFile(`${built(service)}.map`, 'utf8')) as { sources: string[] };
      // Stack traces (node --enable-source-maps) name the TypeScript lines.
      assert.ok(map.sources.includes(`../src/main.ts`), `${service}: ${map.sources.join(', ')}`);
      assert.doesNotMatch(code, /from "[^"]*\.ts"|\btsx\b/, `${service} imports TypeScript`);
    }
  });

  it("each bundle answers --help under plain node (the platform's too)", async () => {
    for (const service of await services()) {
      const run = runProgram(built(service), { args: ['--help'], killAfterMs: 30_000 });
      assert.deepEqual(await run.exited, { code: 0, signal: null }, `${service}: ${run.stderr()}`);
      assert.match(run.stdout(), new RegExp(`^Usage: wattbus-${service}`), service);
    }
  });

  it('scripts/service.sh (npm start, start:<service>, the Dockerfile) runs a bundle, or says how to build it', () => {
    const help = spawnSync('sh', [`${root}scripts/service.sh`, 'storage-hook', '--help'], {
      encoding: 'utf8',
    });
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^Usage: wattbus-storage-hook/);
    const missing = spawnSync('sh', [`${root}scripts/service.sh`, 'no-such-service'], { encoding: 'utf8' });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /no-such-service\/dist\/main\.js is missing; build it with: npm run bundle/);
  });

  it("dist/start.js (what scripts/service.sh runs) keeps the bundle's source map but not node_modules' maps", async () => {
    // Asks node, as the service exits, which files it holds a source map for.
    const probe = join(dir, 'source-maps.cjs');
    await writeFile(
      probe,
      `const { findSourceMap } = require('node:module');
process.on('exit', () => {
  const main = process.argv[1].replace(/start\\.js$/, 'main.js');
  const mqtt = require.resolve('mqtt', { paths: [main] });
  process.stderr.write(JSON.stringify({ main: !!findSourceMap(main), mqtt: !!findSourceMap(mqtt) }));
});
`,
    );
    const start = `${root}services/query/dist/start.js`;
    const run = spawnSync(process.execPath, ['--require', probe, start, '--help'], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^Usage: wattbus-query/);
    assert.deepEqual(JSON.parse(run.stderr), { main: true, mqtt: false });
    // The same probe tells the two apart: under --enable-source-maps node keeps mqtt's map too.
    const flagged = spawnSync(
      process.execPath,
      ['--enable-source-maps', '--require', probe, built('query'), '--help'],
      { encoding: 'utf8' },
    );
    assert.deepEqual(JSON.parse(flagged.stderr), { main: true, mqtt: true });
  });

  it('npm start refuses --tls with --broker mosquitto at once (exit 2), naming both', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'wattbus-tls-mosquitto-'));
    try {
      const run = runProgram(built('platform'), {
        args: ['--tls', '--broker', 'mosquitto', '--data-dir', dataDir],
        killAfterMs: 30_000,
      });
      assert.equal((await run.exited).code, 2, run.stderr());
      assert.match(run.stderr(), /--tls works with the embedded broker only/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('the gateway bundle serves openapi.yaml from the repository root', async () => {
    const gateway = runProgram(built('gateway'), {
      env: { WATTBUS_GATEWAY_MQTT__URL: broker.url, WATTBUS_GATEWAY_PORT: '0' },
    });
    running.push(gateway);
    const listening = await gateway.logLine('gateway listening');
    const response = await fetch(`${String(listening.url)}/openapi.json`);
    assert.equal(response.status, 200);
    const spec = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    assert.equal(spec.openapi, '3.1.0');
    assert.ok(spec.paths['/api/v1/latest'], 'the spec of this repository');
    assert.deepEqual(await gateway.stop(), { code: 0, signal: null }, gateway.stderr());
  });

  it('the agent bundle reads a built-in Modbus profile and polls a meter with modbus-serial', async () => {
    const profile = loadProfile('eastron-sdm120');
    const meters = new SimulatedMeters();
    meters.setMeter(1, profile, [
      { voltage_v: 230, current_a: 2, power_w: 460, power_factor: 1, frequency_hz: 50, energy_wh: 5000 },
    ]);
    const server: SimulatedServer = await meters.serveTcp();
    const registry = join(dir, 'devices.yaml');
    await writeFile(
      registry,
      'devices:\n  - { id: meter-1, type: modbus, location: home/cellar, kind: meter, poll_interval_ms: 500, ' +
        `connection: { profile: eastron-sdm120, transport: tcp, host: 127.0.0.1, port: ${server.port}, unit_id: 1 } }\n`,
    );
    const watcher = await Bus.connect({ url: broker.url, service: 'watcher', logger: silentLogger() });
    try {
      const reading = new Promise<{ power_w?: number }>((resolve) => {
        void watcher.subscribe(
          'wattbus/devices/meter-1/readings',
          validator(Type.Object({ power_w: Type.Optional(Type.Number()) })),
          resolve,
        );
      });
      const agent = runProgram(built('agent'), {
        args: ['--registry', registry],
        env: { WATTBUS_AGENT_MQTT__URL: broker.url, WATTBUS_AGENT_ID: 'agent-built' },
      });
      running.push(agent);
      const first = await Promise.race([
        reading,
        agent.exited.then(() => assert.fail(`the agent exited:\n${agent.stderr()}`)),
      ]);
      assert.equal(first.power_w, 460);
      assert.deepEqual(await agent.stop(), { code: 0, signal: null }, agent.stderr());
    } finally {
      await watcher.stop();
      await server.close();
    }
  });
});
