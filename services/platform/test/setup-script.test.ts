import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * scripts/setup.sh (the README's first command) on machines this one is not: PATH holds only
 * what the case needs, so influxd and mosquitto_pub are "not installed" and apt-get, sudo and the
 * user id are what the case says. `--check` changes nothing; CI runs the real install.
 */
const script = new URL('../../../scripts/setup.sh', import.meta.url).pathname;

describe('scripts/setup.sh', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'wattbus-setup-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A bin folder with node, npm, the few tools the script uses, and the given stubs. */
  function machine(name: string, stubs: Record<string, string>): string {
    const bin = join(dir, name);
    mkdirSync(bin);
    const all: Record<string, string> = { npm: 'exit 0', id: 'exec /usr/bin/id "$@"', ...stubs };
    for (const [tool, body] of Object.entries(all)) {
      // flag 'wx': a new file, never written through an existing link.
      writeFileSync(join(bin, tool), `#!/bin/sh\n${body}\n`, { flag: 'wx', mode: 0o755 });
    }
    if (!('node' in all)) symlinkSync(process.execPath, join(bin, 'node'));
    for (const tool of ['dirname', 'sed', 'head']) symlinkSync(`/usr/bin/${tool}`, join(bin, tool));
    return bin;
  }

  function setup(bin: string, env: Record<string, string> = {}) {
    return spawnSync('/bin/bash', [script, '--check'], {
      encoding: 'utf8',
      env: { PATH: bin, HOME: dir, ...env },
    });
  }

  it('says where apt-get is missing, and names INFLUX_URL as the other way', () => {
    const result = setup(machine('other-os', {}));
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /influxd is not installed \(no apt-get here: this is not Debian or Ubuntu\)/);
    assert.match(result.stdout, /INFLUX_URL=http:\/\/<host>:8086 npm start/);
    assert.match(result.stdout, /mosquitto_pub\/mosquitto_sub are not installed/);
  });

  it('tells a user who is not root and has no sudo to ask for it', () => {
    const result = setup(machine('no-sudo', { id: 'echo 1000', 'apt-get': 'exit 0' }));
    assert.equal(result.status, 1);
    assert.match(result.stdout, /\(not root and no sudo: ask an administrator, or run this as root\)/);
  });

  it('is content with INFLUX_URL where influxd cannot be had', () => {
    const result = setup(machine('remote-influx', {}), { INFLUX_URL: 'http://10.0.0.2:8086' });
    assert.equal(result.status, 0, result.stdout);
    assert.match(result.stdout, /npm start uses the InfluxDB at INFLUX_URL=http:\/\/10\.0\.0\.2:8086/);
    assert.match(result.stdout, /setup: ready/);
  });

  it('stops on a Node.js older than 20.11 and says where to get one', () => {
    const result = setup(machine('old-node', { node: 'echo v18.19.1; exit 1' }));
    assert.equal(result.status, 1);
    assert.match(result.stdout, /Node\.js 20\.11 or newer \(with npm\) is needed/);
    assert.match(result.stdout, /nodejs\.org/);
  });
});
