import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError } from '@wattbus/runtime';
import { freePort, runProgram, startAedes } from '@wattbus/testing';
import { loadAlertHookConfig, parseAlertHookConfig } from '../src/index.js';

const MAIN = join(import.meta.dirname, '..', 'src', 'main.ts');

/** Runs main.ts to its end; resolves with its output when it exits 0, rejects with its code otherwise. */
async function run(args: string[]): Promise<{ stdout: string }> {
  const program = runProgram(MAIN, { args });
  const { code } = await program.exited;
  if (code !== 0) throw Object.assign(new Error(program.stderr()), { code, stderr: program.stderr() });
  return { stdout: program.stdout() };
}

function rejects(rules: unknown[], pattern: RegExp, extra: Record<string, unknown> = {}): void {
  assert.throws(
    () => parseAlertHookConfig({ rules, ...extra }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `ConfigError expected, got ${String(error)}`);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('rule configuration', () => {
  test('fills defaults: severity warning, for_ms 60 s, HS110 rating', () => {
    const config = parseAlertHookConfig({ rules: [{ name: 'overload', kind: 'power_above' }] });
    assert.equal(config.rules[0]!.severity, 'warning');
    assert.equal(config.rules[0]!.for_ms, 60_000);
    assert.deepEqual(config.ratings_w, { HS110: 3680 });
    assert.equal(config.time_zone, 'UTC');
  });

  test('a negative threshold is refused, naming the rule and key', () => {
    rejects(
      [{ name: 'overload', kind: 'power_above', threshold_w: -5 }],
      /\/rules\/0\/threshold_w: must be >= 0/,
    );
    rejects(
      [{ name: 'h', kind: 'health', metric: 'wal_depth', above: -1 }],
      /\/rules\/0\/above: must be >= 0/,
    );
  });

  test('a bad duration is refused', () => {
    rejects([{ name: 'offline', kind: 'offline', for_ms: '5m' }], /\/rules\/0\/for_ms: must be integer/);
    rejects([{ name: 'offline', kind: 'offline', for_ms: -1 }], /\/rules\/0\/for_ms: must be >= 0/);
    rejects(
      [{ name: 'd', kind: 'health', metric: 'dead_letters', above: 1, window_ms: 0 }],
      /\/rules\/0\/window_ms: must be >= 1/,
    );
  });

  test('a device id that cannot exist is refused (ids are checked by syntax; the fleet is learned at run time)', () => {
    rejects(
      [{ name: 'fridge', kind: 'power_below', threshold_w: 5, devices: ['Fridge 1'] }],
      /\/rules\/0\/devices\/0/,
    );
    rejects(
      [{ name: 'fridge', kind: 'power_below', threshold_w: 5, devices: [] }],
      /devices: must not be empty/,
    );
  });

  test('per-kind keys: required ones, and ones the kind does not use', () => {
    rejects(
      [{ name: 'outage', kind: 'power_below' }],
      /\/rules\/0 \(outage\)\/threshold_w: is required for kind power_below/,
    );
    rejects([{ name: 'budget', kind: 'energy_budget' }], /budget_wh: is required/);
    rejects(
      [{ name: 'outage', kind: 'offline', threshold_w: 3 }],
      /\/rules\/0 \(outage\)\/threshold_w: not used by kind offline/,
    );
    rejects([{ name: 'h', kind: 'health' }], /needs exactly one of check, metric or stale_after_ms/);
    rejects([{ name: 'h', kind: 'health', metric: 'wal_depth' }], /above: is required with metric/);
    rejects(
      [{ name: 'h', kind: 'health', check: 'influx', devices: ['a'] }],
      /devices: not used by kind health/,
    );
    rejects([{ name: 'x', kind: 'overload' }], /\/rules\/0\/kind/);
  });

  test('names: unique, safe as topic levels, not the reserved `req`', () => {
    const rule = { kind: 'offline' };
    rejects(
      [
        { name: 'a', ...rule },
        { name: 'a', ...rule },
      ],
      /duplicate rule name/,
    );
    rejects([{ name: 'req', ...rule }], /reserved/);
    rejects([{ name: 'over/load', ...rule }], /\/rules\/0\/name/);
  });

  test('webhooks and time zone', () => {
    rejects([], /ntfy_topic: is required for template ntfy/, {
      webhooks: [{ name: 'phone', url: 'https://ntfy.example/', template: 'ntfy' }],
    });
    rejects([], /\/webhooks\/0\/url/, { webhooks: [{ name: 'w', url: 'ftp://x' }] });
    rejects([], /unknown IANA time zone 'Mars\/Olympus'/, { time_zone: 'Mars/Olympus' });
    const mail = { smtp: { host: 'mail' }, from: 'a@b.c', to: ['ops@b.c'] };
    rejects([], /\/emails\/0 \(ops\): name already used/, {
      webhooks: [{ name: 'ops', url: 'http://x/' }],
      emails: [{ name: 'ops', ...mail }],
    });
    rejects([], /\/emails\/0\/to: must NOT have fewer than 1 items/, {
      emails: [{ name: 'm', ...mail, to: [] }],
    });
  });

  test('environment variables overlay the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'alert-config-'));
    const file = join(dir, 'alerts.yaml');
    writeFileSync(file, 'rules:\n  - name: offline\n    kind: offline\n');
    const config = loadAlertHookConfig({
      file,
      env: { WATTBUS_ALERTS_TIME_ZONE: 'Europe/Berlin', WATTBUS_ALERTS_MQTT__URL: 'mqtt://broker:1883' },
    });
    assert.equal(config.time_zone, 'Europe/Berlin');
    assert.equal(config.mqtt.url, 'mqtt://broker:1883');
    assert.equal(config.rules[0]!.name, 'offline');
  });
});

describe('main', () => {
  test('--help describes the options and the environment', async () => {
    const { stdout } = await run(['--help']);
    assert.match(stdout, /--config/);
    assert.match(stdout, /WATTBUS_ALERTS_/);
  });

  test('a bad rule fails start-up with exit code 2 (configuration error) and a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alert-config-'));
    const file = join(dir, 'alerts.yaml');
    writeFileSync(
      file,
      [
        'rules:',
        '  - name: overload',
        '    kind: power_above',
        '    threshold_w: -100',
        '  - name: outage',
        '    kind: power_below',
        '    for_ms: 5 minutes',
        '    threshold_w: 10',
        '',
      ].join('\n'),
    );
    const failure = await run(['--config', file]).then(
      () => assert.fail('start-up should fail'),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(failure.code, 2);
    assert.match(failure.stderr, /alert-hook: invalid configuration in .*alerts\.yaml/);
    assert.match(failure.stderr, /\/rules\/0\/threshold_w: must be >= 0/);
    assert.match(failure.stderr, /\/rules\/1\/for_ms: must be integer/);
  });

  test('--check-config accepts a good file without connecting anywhere', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alert-config-'));
    const file = join(dir, 'alerts.yaml');
    writeFileSync(file, 'rules:\n  - name: offline\n    kind: offline\n    for_ms: 30000\n');
    const { stdout } = await run(['--config', file, '--check-config']);
    assert.match(stdout, /configuration ok: 1 rules, 0 webhooks/);
  });

  test('runs from the environment alone and stops cleanly on SIGTERM', async () => {
    const aedes = await startAedes();
    try {
      const child = runProgram(MAIN, {
        env: {
          WATTBUS_ALERTS_MQTT__URL: aedes.url,
          WATTBUS_ALERTS_INFLUX__URL: `http://127.0.0.1:${await freePort()}`,
          WATTBUS_ALERTS_DATA_DIR: mkdtempSync(join(tmpdir(), 'alert-main-')),
          WATTBUS_ALERTS_RULES: JSON.stringify([{ name: 'offline', kind: 'offline' }]),
        },
      });
      await child.logLine('alert hook started');
      const { code } = await child.stop('SIGTERM'); // after stdout is drained
      assert.equal(code, 0);
      assert.match(child.stdout(), /"msg":"stopped"/);
    } finally {
      await aedes.stop();
    }
  });
});
