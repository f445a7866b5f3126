#!/usr/bin/env node
// A container's healthcheck (docker-compose.yml, Dockerfile): exit 0 when the service says it is
// ready. The gateway: GET /readyz (HTTPS when it has a certificate; NODE_EXTRA_CA_CERTS trusts
// the CA). Every other service: its retained health record on <base>/health/<name>, read with the
// service's own broker settings (its ACL lets a user read its own health back).
//
//   node scripts/healthcheck.mjs gateway
//   node scripts/healthcheck.mjs <ENV_PREFIX> <health name>    e.g. WATTBUS_AGENT_ agent-1
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { setTimeout } from 'node:timers';
import mqtt from 'mqtt';

const [prefix, name] = process.argv.slice(2);
setTimeout(() => done(false, 'no answer within 5 s'), 5000).unref();

function done(ok, why) {
  if (!ok) process.stderr.write(`unhealthy: ${why}\n`);
  process.exit(ok ? 0 : 1);
}

if (prefix === 'gateway') {
  const env = process.env;
  const scheme = env.WATTBUS_GATEWAY_TLS__CERT_FILE ? 'https' : 'http';
  globalThis.fetch(`${scheme}://localhost:${env.WATTBUS_GATEWAY_PORT || 8080}/readyz`).then(
    (response) => done(response.ok, `/readyz answered ${response.status}`),
    (error) => done(false, error.cause?.message ?? error.message),
  );
} else {
  const setting = (key) => process.env[`${prefix}MQTT__${key}`];
  const ca = setting('CA_FILE');
  const topic = `${setting('BASE_TOPIC') || 'wattbus'}/health/${name}`;
  const client = mqtt.connect(setting('URL') || 'mqtt://127.0.0.1:1883', {
    clientId: `${name}-healthcheck-${randomBytes(4).toString('hex')}`,
    username: setting('USERNAME'),
    password: setting('PASSWORD'),
    ca: ca ? readFileSync(ca) : undefined,
    reconnectPeriod: 0,
    connectTimeout: 4000,
  });
  client.on('error', (error) => done(false, error.message));
  client.on('message', (_topic, payload) => {
    const health = JSON.parse(payload.toString());
    done(health.ready === true, `${topic}: ${payload}`);
  });
  client.on('connect', () =>
    client.subscribe(topic, (error, granted) => {
      if (error || granted?.[0]?.qos === 128) done(false, `cannot read ${topic}`);
    }),
  );
}
