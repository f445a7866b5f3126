import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  makeCertificate,
  makeCertificateAuthority,
  type CertificateAndKey,
  writeCertificateFiles,
} from '@wattbus/certificates';
import mqtt, { type IClientOptions } from 'mqtt';
import { pino } from 'pino';
import { BrokerConfigError, parseBrokerConfig, Broker } from '../src/index.js';
import { startBroker, user, type StartedBroker } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'wattbus-broker-tls-'));
const read = (file: string): Buffer => readFileSync(file);

const pemFiles = (name: string, pair: CertificateAndKey) => writeCertificateFiles(dir, name, pair);

/** Lines the broker logs, to wait for its refusals. */
function recordingLogger() {
  const lines: { msg: string; reason?: string }[] = [];
  const logger = pino({ level: 'warn' }, { write: (text: string) => lines.push(JSON.parse(text)) });
  return { logger, lines };
}

/** Connects once (no retry) and ends the client; rejects with the connection's error. */
async function login(url: string, options: IClientOptions): Promise<void> {
  const client = await mqtt.connectAsync(
    url,
    { reconnectPeriod: 0, connectTimeout: 5000, ...options },
    false,
  );
  await client.endAsync();
}

describe('embedded broker over TLS', () => {
  let ca: { cert: string; key: string };
  let server: { cert: string; key: string };
  let client: { cert: string; key: string };
  let strangerClient: { cert: string; key: string };
  let users: Record<string, unknown>[];
  const password = { username: 'agent', password: 'secret' };

  before(async () => {
    const authority = makeCertificateAuthority('broker test CA');
    ca = pemFiles('ca', authority);
    server = pemFiles('server', makeCertificate(authority, { commonName: 'broker', hosts: ['127.0.0.1'] }));
    client = pemFiles('client', makeCertificate(authority, { commonName: 'agent', use: 'client' }));
    const stranger = makeCertificateAuthority('another CA');
    strangerClient = pemFiles('stranger', makeCertificate(stranger, { commonName: 'x', use: 'client' }));
    users = [await user('agent', 'secret', { publish: ['wattbus/#'], subscribe: ['wattbus/#'] })];
  });

  describe('TLS only (port: null), passwords', () => {
    let started: StartedBroker;
    const log = recordingLogger();
    before(async () => {
      started = await startBroker(
        { port: null, users, tls: { port: 0, ws_port: 0, cert_file: server.cert, key_file: server.key } },
        log.logger,
      );
    });
    after(() => started.broker.stop());

    it('has no plain listener', () => {
      assert.equal(started.ports.mqttPort, undefined);
      assert.ok(started.ports.tlsPort! > 0 && started.ports.wssPort! > 0);
    });

    it('carries MQTT over TLS for a client that trusts its CA', async () => {
      const url = `mqtts://127.0.0.1:${started.ports.tlsPort}`;
      const subscriber = await mqtt.connectAsync(url, { ...password, ca: read(ca.cert) });
      try {
        await subscriber.subscribeAsync('wattbus/tls');
        const got = new Promise<string>((resolve) =>
          subscriber.once('message', (_t, m) => resolve(String(m))),
        );
        await subscriber.publishAsync('wattbus/tls', 'hello');
        assert.equal(await got, 'hello');
      } finally {
        await subscriber.endAsync();
      }
    });

    it('carries MQTT over secure WebSocket', async () => {
      await login(`wss://127.0.0.1:${started.ports.wssPort}`, { ...password, ca: read(ca.cert) });
    });

    it('refuses a client without the CA', async () => {
      await assert.rejects(
        login(`mqtts://127.0.0.1:${started.ports.tlsPort}`, password),
        /self-signed certificate in certificate chain|unable to verify the first certificate/,
      );
    });

    it('refuses plaintext MQTT on the TLS port, and logs the refused handshake', async () => {
      await assert.rejects(login(`mqtt://127.0.0.1:${started.ports.tlsPort}`, password));
      assert.ok(log.lines.some((line) => line.msg === 'TLS handshake refused'));
    });
  });

  describe('client certificates', () => {
    let required: StartedBroker;
    let optional: StartedBroker;
    const tls = (mode: string) => ({
      port: 0,
      ws_port: 0,
      cert_file: server.cert,
      key_file: server.key,
      ca_file: ca.cert,
      client_certificates: mode,
    });
    before(async () => {
      required = await startBroker({ port: null, users, tls: tls('required') });
      optional = await startBroker({ port: null, users, tls: tls('optional') });
    });
    after(async () => {
      await required.broker.stop();
      await optional.broker.stop();
    });

    it('required: refuses a client without one, over TLS and secure WebSocket', async () => {
      await assert.rejects(
        login(`mqtts://127.0.0.1:${required.ports.tlsPort}`, { ...password, ca: read(ca.cert) }),
      );
      await assert.rejects(
        login(`wss://127.0.0.1:${required.ports.wssPort}`, { ...password, ca: read(ca.cert) }),
      );
    });

    it('required: accepts one signed by its CA', async () => {
      const withCert = { ...password, ca: read(ca.cert), cert: read(client.cert), key: read(client.key) };
      await login(`mqtts://127.0.0.1:${required.ports.tlsPort}`, withCert);
      await login(`wss://127.0.0.1:${required.ports.wssPort}`, withCert);
    });

    it('required: refuses one signed by another CA', async () => {
      const stranger = {
        ...password,
        ca: read(ca.cert),
        cert: read(strangerClient.cert),
        key: read(strangerClient.key),
      };
      await assert.rejects(login(`mqtts://127.0.0.1:${required.ports.tlsPort}`, stranger));
    });

    it('optional: accepts a client without one, refuses a wrong one', async () => {
      await login(`mqtts://127.0.0.1:${optional.ports.tlsPort}`, { ...password, ca: read(ca.cert) });
      const stranger = {
        ...password,
        ca: read(ca.cert),
        cert: read(strangerClient.cert),
        key: read(strangerClient.key),
      };
      await assert.rejects(login(`mqtts://127.0.0.1:${optional.ports.tlsPort}`, stranger));
      await assert.rejects(login(`wss://127.0.0.1:${optional.ports.wssPort}`, stranger));
    });
  });

  describe('configuration', () => {
    it('needs ca_file for client certificates', () => {
      assert.throws(
        () => parseBrokerConfig({ tls: { cert_file: 'a', key_file: 'b', client_certificates: 'required' } }),
        /tls\/ca_file: client_certificates 'required' needs the CA that signs them/,
      );
    });

    it('names a certificate file it cannot read', async () => {
      const broker = new Broker({
        config: parseBrokerConfig({
          port: 0,
          tls: { port: 0, cert_file: join(dir, 'nope.crt'), key_file: server.key },
        }),
        logger: pino({ level: 'silent' }),
      });
      await assert.rejects(
        broker.start(),
        (error: unknown) =>
          error instanceof BrokerConfigError && /tls\/cert_file: cannot read .*nope\.crt/.test(error.message),
      );
    });
  });
});
