import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureLocalCertificates, makeCertificate, makeCertificateAuthority } from '../src/index.js';

describe('certificates', () => {
  it('signs a server certificate for names and addresses with a CA', () => {
    const ca = makeCertificateAuthority('test CA');
    const server = makeCertificate(ca, { commonName: 'broker', hosts: ['localhost', '127.0.0.1'] });
    const cert = new X509Certificate(server.cert);
    assert.ok(cert.verify(new X509Certificate(ca.cert).publicKey));
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkHost('localhost'), 'localhost');
    assert.equal(cert.checkHost('elsewhere'), undefined);
    assert.ok(new X509Certificate(ca.cert).ca);
  });

  it('makes a certificate valid in a given window (an expired one for tests)', () => {
    const ca = makeCertificateAuthority('test CA');
    const notAfter = new Date(Date.now() - 86_400_000);
    const expired = makeCertificate(ca, {
      commonName: 'old',
      notBefore: new Date(Date.now() - 10 * 86_400_000),
      notAfter,
    });
    assert.ok(new Date(new X509Certificate(expired.cert).validTo) < new Date());
  });

  it('makes a local CA once, keys readable by the owner only, and keeps it', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'wattbus-certs-')), 'tls');
    const first = ensureLocalCertificates(dir, ['localhost', '127.0.0.1']);
    assert.equal(first.created, true);
    assert.equal(statSync(first.keyFile).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600);
    const ca = readFileSync(first.caFile, 'utf8');
    const again = ensureLocalCertificates(dir, ['localhost', '127.0.0.1']);
    assert.equal(again.created, false);
    // A host the server certificate does not cover: a new one, from the same CA.
    const wider = ensureLocalCertificates(dir, ['localhost', '127.0.0.1', 'wattbus.lan']);
    assert.equal(wider.created, true);
    assert.equal(readFileSync(wider.caFile, 'utf8'), ca);
    assert.equal(new X509Certificate(readFileSync(wider.certFile)).checkHost('wattbus.lan'), 'wattbus.lan');
  });
});
