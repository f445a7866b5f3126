import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleLog } from '../src/console-log.js';
import { chooseFleetSource } from '../src/fleet-source.js';
import { NoInfluxError } from '../src/local-influx.js';
import { aclOf } from '../src/local-mosquitto.js';
import { accountCommands, ensureMqttAccounts } from '../src/mqtt-accounts.js';

describe('platform parts', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'wattbus-parts-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('makes the operator and hook passwords once, mode 600, and keeps them', () => {
    const first = ensureMqttAccounts(dir);
    assert.deepEqual(
      first.map((account) => account.username),
      ['operator', 'hook', 'client'],
    );
    for (const account of first) {
      assert.equal(statSync(account.file).mode & 0o777, 0o600);
      assert.equal(account.created, true);
    }
    chmodSync(first[0]!.file, 0o644); // restored from a careless backup
    const again = ensureMqttAccounts(dir);
    assert.deepEqual(
      again.map((account) => account.password),
      first.map((account) => account.password),
    );
    assert.ok(again.every((account) => !account.created));
    assert.equal(statSync(first[0]!.file).mode & 0o777, 0o600);
    assert.deepEqual(again[1]!.publish, [], 'hook publishes nothing');
    const [publish] = accountCommands(again[0]!, '127.0.0.1', 1883);
    assert.match(
      publish!,
      /^mosquitto_pub -h 127\.0\.0\.1 -p 1883 -u operator -P '[\w-]+' -q 1 -t wattbus\/devices\/my-meter\/readings/,
    );
    assert.deepEqual(
      accountCommands(again[1]!, 'h', 1).map((line) => line.split(' ')[0]),
      ['mosquitto_sub'],
    );
  });

  it('runs the user’s devices file when there is one, the demo otherwise or when asked', () => {
    const dataDir = join(dir, 'data');
    const demo = chooseFleetSource({ dataDir, demo: false });
    assert.equal(demo.kind, 'demo');
    assert.equal(demo.kind === 'demo' && demo.reason, 'no-devices-file');
    assert.equal(demo.file, join(dataDir, 'demo', 'devices.yaml'));
    const own = join(dir, 'mine.yaml');
    writeFileSync(own, 'devices: []\n');
    assert.deepEqual(chooseFleetSource({ dataDir, devicesFile: own, demo: false }), {
      kind: 'own',
      file: own,
    });
    const asked = chooseFleetSource({ dataDir, devicesFile: own, demo: true });
    assert.equal(asked.kind === 'demo' && asked.reason, 'asked');
    assert.equal(readFileSync(own, 'utf8'), 'devices: []\n');
  });

  it('moves aside the demo list an earlier version wrote in the devices file’s place', () => {
    const dataDir = join(dir, 'old');
    const file = join(dir, 'old-devices.yaml');
    writeFileSync(
      file,
      '# Written by the embedded platform on every start: the simulated fleet.\ndevices: []\n',
    );
    const source = chooseFleetSource({ dataDir, devicesFile: file, demo: false });
    assert.equal(source.kind, 'demo');
    assert.equal(source.kind === 'demo' && source.movedOldDemo, `${file}.old-demo`);
    assert.equal(existsSync(file), false);
  });

  it('writes the accounts as a mosquitto ACL: placeholders as patterns, anonymous lines first', () => {
    const acl = aclOf(
      ensureMqttAccounts(dir).map((account) => ({ ...account })),
      ['wattbus/#'],
    ).split('\n');
    assert.equal(acl[0], 'topic read wattbus/#', 'before any user line: the anonymous clients');
    assert.ok(acl.indexOf('pattern read wattbus/replies/%c/#') < acl.indexOf('user operator'));
    const client = acl.slice(acl.indexOf('user client'));
    assert.deepEqual(client, [
      'user client',
      'topic write wattbus/devices/+/req/+',
      'topic write wattbus/query/req/+',
      'topic write wattbus/alerts/req/+',
    ]);
    assert.ok(acl.includes('topic read #'), 'operator and hook read everything');
  });

  it('names both ways out when there is no InfluxDB', () => {
    const message = new NoInfluxError().message;
    assert.match(message, /bash scripts\/setup\.sh/);
    assert.match(message, /INFLUX_URL=http:\/\/<host>:8086 npm start/);
  });
});

describe('the calm console', () => {
  const record = (fields: Record<string, unknown>) =>
    JSON.stringify({ level: 30, time: Date.parse('2026-01-05T10:00:00Z'), ...fields });

  it('holds lines until the banner is out, then shows only notable events', () => {
    const out: string[] = [];
    const console = new ConsoleLog({ out: (text) => out.push(text) });
    console.write(record({ part: 'agent', device: 'desk-1', msg: 'device online' }));
    console.write(record({ part: 'query', msg: 'query component serving' }));
    console.write(record({ part: 'storage-hook', msg: 'broker does not speak MQTT 5; using MQTT 3.1.1' }));
    assert.deepEqual(out, []);
    console.open();
    console.write(
      record({
        level: 40,
        part: 'agent',
        device: 'desk-2',
        code: 'DEVICE_UNREACHABLE',
        err: 'refused',
        msg: 'device offline',
      }),
    );
    console.write(
      record({
        level: 40,
        part: 'alert-hook',
        rule: 'overload',
        subject: 'desk-2',
        severity: 'warning',
        message: '2400 W',
        msg: 'alert raised',
      }),
    );
    console.write(
      record({
        level: 50,
        part: 'storage-hook',
        err: { message: 'ECONNREFUSED' },
        msg: 'InfluxDB write failed',
      }),
    );
    assert.equal(out.length, 4, out.join(''));
    assert.match(out[0]!, /\d\d:\d\d:\d\d {2}desk-1 online\n$/);
    assert.match(out[1]!, /desk-2 offline \(DEVICE_UNREACHABLE: refused\)/);
    assert.match(out[2]!, /alert overload on desk-2 \(warning\): 2400 W/);
    assert.match(out[3]!, /error \[storage-hook\] InfluxDB write failed \(ECONNREFUSED\)/);
  });

  it('shows a repeating line once a minute, saying how often it came', () => {
    const out: string[] = [];
    let now = 0;
    const console = new ConsoleLog({ out: (text) => out.push(text), clock: () => now });
    console.open();
    const failure = record({ level: 50, part: 'storage-hook', msg: 'InfluxDB write failed' });
    for (let second = 0; second < 61; second += 5) {
      now = second * 1000;
      console.write(failure);
    }
    assert.equal(out.length, 2, out.join(''));
    assert.match(out[1]!, /\(11 more like it before\)/);
  });
});
