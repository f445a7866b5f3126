import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  makeCertificate,
  makeCertificateAuthority,
  type CertificateAndKey,
  writeCertificateFiles,
} from '@wattbus/certificates';
import { freePort, startMosquitto, type MosquittoServer } from '@wattbus/testing';
import { Type } from '@sinclair/typebox';
import { validator } from '@wattbus/contracts';
import { pino } from 'pino';
import { Bus, BusConnectError, type BusOptions } from '../src/index.js';

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'wattbus-bus-tls-'));

const files = (name: string, pair: CertificateAndKey) => writeCertificateFiles(dir, name, pair);

function tlsError(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof BusConnectError, `expected a BusConnectError, got ${String(error)}`);
    assert.equal(error.reason, 'tls', error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

describe('bus over TLS (mosquitto)', () => {
  let mosquitto: MosquittoServer;
  let ca: { cert: string; key: string };
  let otherCa: { cert: string; key: string };
  let client: { cert: string; key: string };
  const ports = { tls: 0, expired: 0, wrongHost: 0, clientCerts: 0 };
  const url = (port: number) => `mqtts://127.0.0.1:${port}`;
  const connect = (options: Partial<BusOptions> & { url: string }) =>
    Bus.connect({ service: 'tls-test', logger, connectTimeoutMs: 5000, ...options });

  before(async () => {
    const authority = makeCertificateAuthority('bus test CA');
    ca = files('ca', authority);
    otherCa = files('other-ca', makeCertificateAuthority('someone else'));
    const hosts = ['localhost', '127.0.0.1'];
    const server = files('server', makeCertificate(authority, { commonName: 'broker', hosts }));
    const expired = files(
      'expired',
      makeCertificate(authority, {
        commonName: 'broker',
        hosts,
        notBefore: new Date(Date.now() - 30 * 86_400_000),
        notAfter: new Date(Date.now() - 86_400_000),
      }),
    );
    const elsewhere = files(
      'elsewhere',
      makeCertificate(authority, { commonName: 'elsewhere', hosts: ['broker.example'] }),
    );
    client = files('client', makeCertificate(authority, { commonName: 'agent', use: 'client' }));
    ports.tls = await freePort();
    ports.expired = await freePort();
    ports.wrongHost = await freePort();
    ports.clientCerts = await freePort();
    const listener = (port: number, cert: { cert: string; key: string }) => [
      `listener ${port} 127.0.0.1`,
      `certfile ${cert.cert}`,
      `keyfile ${cert.key}`,
    ];
    mosquitto = await startMosquitto({
      extraConfig: [
        ...listener(ports.tls, server),
        ...listener(ports.expired, expired),
        ...listener(ports.wrongHost, elsewhere),
        ...listener(ports.clientCerts, server),
        `cafile ${ca.cert}`,
        'require_certificate true',
      ].join('\n'),
    });
  });

  after(async () => {
    await mosquitto?.stop();
  });

  it('connects with mqtts:// and the CA file, and carries messages', async () => {
    const bus = await connect({ url: url(ports.tls), caFile: ca.cert });
    try {
      const got = new Promise<unknown>((resolve) => {
        void bus.subscribe('wattbus/tls/check', validator(Type.Unknown()), (payload) => resolve(payload));
      });
      await bus.publish('wattbus/tls/check', { ok: true });
      assert.deepEqual(await got, { ok: true });
    } finally {
      await bus.stop();
    }
  });

  it('refuses a broker whose CA it was not given, at once and saying so', async () => {
    await assert.rejects(
      connect({ url: url(ports.tls) }),
      tlsError(/signed by an unknown CA.*mqtt\.ca_file/),
    );
  });

  it('refuses a broker certificate signed by another CA', async () => {
    await assert.rejects(connect({ url: url(ports.tls), caFile: otherCa.cert }), tlsError(/unknown CA/));
  });

  it('refuses an expired broker certificate, saying it expired', async () => {
    await assert.rejects(
      connect({ url: url(ports.expired), caFile: ca.cert }),
      tlsError(/certificate has expired; renew it \(CERT_HAS_EXPIRED/),
    );
  });

  it('refuses a host the certificate is not made out for', async () => {
    await assert.rejects(
      connect({ url: url(ports.wrongHost), caFile: ca.cert }),
      tlsError(/not made out for the host in the URL.*ERR_TLS_CERT_ALTNAME_INVALID/),
    );
  });

  it('gets no plaintext MQTT through a TLS listener', async () => {
    await assert.rejects(
      connect({ url: `mqtt://127.0.0.1:${ports.tls}`, connectTimeoutMs: 1500 }),
      (error: unknown) => error instanceof BusConnectError && error.reason !== 'not-authorised',
    );
  });

  it('presents a client certificate where the broker requires one', async () => {
    await assert.rejects(
      connect({ url: url(ports.clientCerts), caFile: ca.cert, connectTimeoutMs: 3000 }),
      tlsError(/the broker refused this client's TLS certificate; check mqtt\.cert_file/),
    );
    const bus = await connect({
      url: url(ports.clientCerts),
      caFile: ca.cert,
      certFile: client.cert,
      keyFile: client.key,
    });
    await bus.stop();
  });

  it('checks the TLS settings before any I/O', async () => {
    await assert.rejects(
      connect({ url: 'mqtt://127.0.0.1:1', caFile: ca.cert }),
      tlsError(/does not use TLS \(use mqtts:\/\/ or wss:\/\/\)/),
    );
    await assert.rejects(
      connect({ url: url(1), caFile: join(dir, 'missing.crt') }),
      tlsError(/cannot read the CA file .*missing\.crt/),
    );
    await assert.rejects(
      connect({ url: url(1), caFile: ca.cert, certFile: client.cert }),
      tlsError(/needs both its certificate file and its key file/),
    );
  });
});
