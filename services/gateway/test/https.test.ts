import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCertificate, makeCertificateAuthority } from '@wattbus/certificates';
import {
  freePort,
  httpsRequest,
  runProgram,
  startAedes,
  startMosquitto,
  type AedesServer,
} from '@wattbus/testing';
import { pino } from 'pino';
import { Bus } from '@wattbus/bus';
import { Gateway } from '../src/gateway.js';
import { KEYS, spec, startGateway, testConfig } from './helpers.js';

const get = httpsRequest;
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

describe('gateway over HTTPS', () => {
  let broker: AedesServer;
  let stack: Awaited<ReturnType<typeof startGateway>>;
  let ca: string;
  let tls: { cert_file: string; key_file: string };

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wattbus-gateway-tls-'));
    const authority = makeCertificateAuthority('gateway test CA');
    const server = makeCertificate(authority, { commonName: 'gateway', hosts: ['127.0.0.1'] });
    ca = authority.cert;
    tls = { cert_file: join(dir, 'server.crt'), key_file: join(dir, 'server.key') };
    writeFileSync(tls.cert_file, server.cert);
    writeFileSync(tls.key_file, server.key, { mode: 0o600 });
    broker = await startAedes();
    stack = await startGateway(broker.url, { tls });
  });

  after(async () => {
    await stack?.stop();
    await broker?.stop();
  });

  it('serves the API over HTTPS with a key', async () => {
    assert.match(stack.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await get(`${stack.url}/healthz`, { ca });
    assert.equal(health.status, 200);
    const whoami = await get(`${stack.url}/api/v1/whoami`, { ca, headers: { 'x-api-key': KEYS.read } });
    assert.equal(whoami.status, 200);
    assert.match(whoami.body, /test-read/);
    const anonymous = await get(`${stack.url}/api/v1/whoami`, { ca });
    assert.equal(anonymous.status, 401);
  });

  it('is refused by a client that does not trust its CA', async () => {
    await assert.rejects(get(`${stack.url}/healthz`), /self-signed certificate|unable to verify/);
  });

  it('answers no plain HTTP', async () => {
    const plain = stack.url.replace('https:', 'http:');
    const answered = await new Promise<number | Error>((resolve) => {
      const req = httpRequest(`${plain}/healthz`, (response) => resolve(response.statusCode ?? 0));
      req.on('error', (error) => resolve(error));
      req.end();
    });
    // Node's TLS server answers a plaintext request with 400 and closes, or just closes.
    assert.ok(answered instanceof Error || answered === 400, `plain HTTP got ${String(answered)}`);
  });

  it('names a certificate file it cannot read, before it connects anything', async () => {
    const bus = await Bus.connect({ url: broker.url, service: 'gateway', logger: pino({ level: 'silent' }) });
    try {
      const config = testConfig(broker.url, { tls: { ...tls, cert_file: '/nonexistent/server.crt' } });
      const gateway = new Gateway({ config, bus, logger: pino({ level: 'silent' }), spec });
      await assert.rejects(gateway.start(), /tls\.cert_file: cannot read \/nonexistent\/server\.crt/);
    } finally {
      await bus.stop();
    }
  });

  it("says in the service's log what is wrong with the broker's certificate: expired, or of an unknown CA", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wattbus-gateway-broker-tls-'));
    const authority = makeCertificateAuthority('broker CA');
    const caFile = join(dir, 'ca.crt');
    writeFileSync(caFile, authority.cert);
    const expired = makeCertificate(authority, {
      commonName: 'broker',
      hosts: ['127.0.0.1'],
      notBefore: new Date(Date.now() - 30 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    const valid = makeCertificate(authority, { commonName: 'broker', hosts: ['127.0.0.1'] });
    writeFileSync(join(dir, 'expired.crt'), expired.cert);
    writeFileSync(join(dir, 'expired.key'), expired.key);
    writeFileSync(join(dir, 'valid.crt'), valid.cert);
    writeFileSync(join(dir, 'valid.key'), valid.key);
    const [expiredPort, validPort] = [await freePort(), await freePort()];
    const mosquitto = await startMosquitto({
      extraConfig: [
        `listener ${expiredPort} 127.0.0.1`,
        `certfile ${join(dir, 'expired.crt')}`,
        `keyfile ${join(dir, 'expired.key')}`,
        `listener ${validPort} 127.0.0.1`,
        `certfile ${join(dir, 'valid.crt')}`,
        `keyfile ${join(dir, 'valid.key')}`,
      ].join('\n'),
    });
    try {
      const start = (port: number, extra: Record<string, string>) =>
        runProgram(MAIN, {
          env: {
            WATTBUS_GATEWAY_PORT: '0',
            WATTBUS_GATEWAY_MQTT__URL: `mqtts://127.0.0.1:${port}`,
            ...extra,
          },
        });
      const onExpired = start(expiredPort, { WATTBUS_GATEWAY_MQTT__CA_FILE: caFile });
      const withoutCa = start(validPort, {});
      const [expiredExit, unknownExit] = await Promise.all([onExpired.exited, withoutCa.exited]);
      assert.equal(expiredExit.code, 1, onExpired.stderr());
      assert.match(
        onExpired.stderr(),
        /the broker's TLS certificate has expired; renew it \(CERT_HAS_EXPIRED/,
      );
      assert.equal(unknownExit.code, 1, withoutCa.stderr());
      assert.match(
        withoutCa.stderr(),
        /signed by an unknown CA; give that CA as the CA file \(mqtt\.ca_file\)/,
      );
    } finally {
      await mosquitto.stop();
    }
  });
});
