import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { helpText, parseCli, UsageError, type CliSpec } from '../src/index.js';

const spec: CliSpec = {
  name: 'wattbus-demo',
  summary: 'Does one thing.',
  options: { config: { type: 'string', short: 'c', description: 'config file' } },
  commands: { check: { summary: 'check it' }, verify: { args: '<dir>', summary: 'verify a dir' } },
  environment: ['WATTBUS_DEMO_PORT', 'LOG_LEVEL'],
  epilog: 'See the README.',
};

describe('cli', () => {
  it('--help has one shape: usage, summary, commands, options, environment, epilog, exit codes', () => {
    const text = helpText(spec);
    const order = [
      'Usage: wattbus-demo [command] [options]',
      'Does one thing.',
      'Commands:',
      'verify <dir>',
      'Options:',
      '-c, --config <value>',
      '-h, --help',
      'Environment',
      'WATTBUS_DEMO_PORT, LOG_LEVEL',
      'See the README.',
      'Exit codes: 0 done or stopped cleanly, 1 failed',
    ].map((part) => text.indexOf(part));
    assert.ok(
      order.every((index) => index >= 0),
      text,
    );
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      text,
    );
  });

  it('an unknown flag is a UsageError, not an exit', () => {
    assert.throws(() => parseCli(spec, ['--port', '1']), UsageError);
    assert.deepEqual(parseCli(spec, ['-c', 'x.yaml', 'check']), {
      values: { config: 'x.yaml' },
      positionals: ['check'],
      help: false,
    });
  });
});
