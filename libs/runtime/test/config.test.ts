import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { ConfigError, envNames, loadConfig } from '../src/index.js';

const Schema = Type.Object(
  {
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
    name: Type.String({ default: 'svc' }),
    verbose: Type.Boolean({ default: false }),
    influx: Type.Object(
      {
        url: Type.String({ default: 'http://127.0.0.1:8086' }),
        database: Type.String({ default: 'wattbus' }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

function file(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'wattbus-config-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('loadConfig', () => {
  it('fills defaults when nothing is given', () => {
    const config = loadConfig({ schema: Schema, env: {} });
    assert.deepEqual(config, {
      port: 8080,
      name: 'svc',
      verbose: false,
      influx: { url: 'http://127.0.0.1:8086', database: 'wattbus' },
    });
  });

  it('reads YAML, then lets environment variables override, nested keys with __', () => {
    const path = file('c.yaml', 'port: 9000\ninflux:\n  database: lab\n');
    const config = loadConfig({
      schema: Schema,
      file: path,
      envPrefix: 'T_',
      env: { T_VERBOSE: 'true', T_INFLUX__URL: 'http://db:8086', OTHER_PORT: '1' },
    });
    assert.equal(config.port, 9000);
    assert.equal(config.verbose, true);
    assert.deepEqual(config.influx, { url: 'http://db:8086', database: 'lab' });
  });

  it('names the environment variable that holds a bad value', () => {
    assert.throws(
      () => loadConfig({ schema: Schema, envPrefix: 'T_', env: { T_PORT: 'eighty' } }),
      (error: Error) =>
        error instanceof ConfigError && /\/port \(from T_PORT\): must be integer/.test(error.message),
    );
  });

  it('says a non-number is not an integer once, without NaN range errors', () => {
    assert.throws(
      () => loadConfig({ schema: Schema, envPrefix: 'T_', env: { T_PORT: 'abc' } }),
      (error: Error) => {
        assert.equal(error.message, 'invalid configuration:\n  /port (from T_PORT): must be integer');
        return true;
      },
    );
  });

  it('says an environment value that starts like JSON but is not JSON is not valid JSON', () => {
    const WithList = Type.Object(
      { tags: Type.Array(Type.String(), { default: [] }) },
      { additionalProperties: false },
    );
    assert.throws(
      () => loadConfig({ schema: WithList, envPrefix: 'T_', env: { T_TAGS: '[{"name":' } }),
      (error: Error) =>
        error instanceof ConfigError && /\/tags \(from T_TAGS\): is not valid JSON: /.test(error.message),
    );
    // A plain comma-separated list is still a list.
    assert.deepEqual(loadConfig({ schema: WithList, envPrefix: 'T_', env: { T_TAGS: 'a, b' } }).tags, [
      'a',
      'b',
    ]);
  });

  it('names the file and the key for unknown keys and wrong types', () => {
    const path = file('bad.json', JSON.stringify({ prot: 1, influx: { url: 5 } }));
    assert.throws(
      () => loadConfig({ schema: Schema, file: path }),
      (error: Error) =>
        error.message.includes(path) &&
        /\/prot: unknown key/.test(error.message) &&
        /\/influx\/url: must be string/.test(error.message),
    );
  });

  it('reports unreadable and unparsable files clearly', () => {
    assert.throws(
      () => loadConfig({ schema: Schema, file: '/nonexistent/wattbus.yaml' }),
      /cannot read config file/,
    );
    const path = file('broken.yaml', 'port: [1, 2\n');
    assert.throws(
      () => loadConfig({ schema: Schema, file: path }),
      /cannot parse config file .*broken\.yaml/,
    );
  });
});

describe('unknown names', () => {
  it('says which key a misspelled prefixed environment variable meant', () => {
    const Zoned = Type.Object(
      { time_zone: Type.String({ default: 'UTC' }), influx: Schema.properties.influx },
      { additionalProperties: false },
    );
    assert.throws(
      () =>
        loadConfig({
          schema: Zoned,
          envPrefix: 'WATTBUS_QUERY_',
          env: { WATTBUS_QUERY_TIMEZONE: 'Europe/Madrid', WATTBUS_QUERY_INFLUX__DATABSE: 'x', OTHER: '1' },
        }),
      (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(
          error.message,
          /WATTBUS_QUERY_TIMEZONE: names no configuration key \(did you mean WATTBUS_QUERY_TIME_ZONE\?\)/,
        );
        assert.match(error.message, /did you mean WATTBUS_QUERY_INFLUX__DATABASE\?/);
        return true;
      },
    );
  });

  it('suggests the closest key for an unknown key in a file', () => {
    const path = file('typo.yaml', 'influx:\n  databse: lab\n');
    assert.throws(
      () => loadConfig({ schema: Schema, file: path }),
      /\/influx\/databse: unknown key \(did you mean database\?\)/,
    );
  });

  it('lists every variable the schema takes', () => {
    assert.deepEqual(envNames(Schema, 'T_', { leaves: true }), [
      'T_PORT',
      'T_NAME',
      'T_VERBOSE',
      'T_INFLUX__URL',
      'T_INFLUX__DATABASE',
    ]);
  });
});
