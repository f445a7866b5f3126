import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

/**
 * X.509 material for TLS on the broker, the bus and the gateway: a local certificate authority
 * and the certificates it signs (node-forge; its RSA keys come from Node's own crypto). For
 * `npm start -- --tls`, `npm run setup:production` and the tests; a deployment with a CA of its own
 * uses that instead.
 */
export interface CertificateAndKey {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#1 RSA). */
  key: string;
}

export interface CertificateRequest {
  commonName: string;
  /** DNS names and IP addresses a server certificate is valid for (its subjectAltName). */
  hosts?: readonly string[];
  /** `server` (TLS server auth, the default) or `client` (a client certificate). */
  use?: 'server' | 'client';
  /** Validity; default from now for `days` (825, what browsers accept for a server). */
  notBefore?: Date;
  notAfter?: Date;
  days?: number;
}

const DEFAULT_DAYS = 825;
const CA_DAYS = 3650;

/** A self-signed certificate authority that signs the others. */
export function makeCertificateAuthority(commonName: string, days = CA_DAYS): CertificateAndKey {
  const keys = newKeyPair();
  const cert = newCertificate(keys.publicKey, { commonName, days });
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** A server or client certificate signed by `ca`. */
export function makeCertificate(ca: CertificateAndKey, request: CertificateRequest): CertificateAndKey {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const keys = newKeyPair();
  const cert = newCertificate(keys.publicKey, request);
  cert.setIssuer(caCert.subject.attributes);
  const client = request.use === 'client';
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: !client, clientAuth: client },
    ...(request.hosts && request.hosts.length > 0
      ? [{ name: 'subjectAltName', altNames: request.hosts.map(altName) }]
      : []),
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** Node's RSA key generation (native; forge's own is pure JavaScript, seconds per key). */
function newKeyPair(): { publicKey: forge.pki.PublicKey; privateKey: forge.pki.rsa.PrivateKey } {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const key = forge.pki.privateKeyFromPem(privateKey);
  return { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e) };
}

function newCertificate(publicKey: forge.pki.PublicKey, request: CertificateRequest): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // A positive 16-byte serial: the top bit clear, so DER does not read it as negative.
  cert.serialNumber = `0${randomBytes(16).toString('hex').slice(1)}`;
  const notBefore = request.notBefore ?? new Date(Date.now() - 60_000);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter =
    request.notAfter ?? new Date(notBefore.getTime() + (request.days ?? DEFAULT_DAYS) * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: request.commonName }]);
  return cert;
}

function altName(host: string) {
  // subjectAltName types: 2 DNS name, 7 IP address.
  return isIP(host) === 0 ? { type: 2, value: host } : { type: 7, ip: host };
}

/** Where `ensureLocalCertificates` keeps its files. */
export interface TlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Made on this call (not found in the directory). */
  created: boolean;
}

/**
 * A local CA and a server certificate for `hosts` in `dir` (ca.crt, ca.key, <name>.crt,
 * <name>.key; the keys mode 600), made on the first call and kept afterwards. Clients trust
 * ca.crt. A server certificate that no longer covers `hosts` (or expires within a day) is made
 * anew with the same CA.
 */
export function ensureLocalCertificates(dir: string, hosts: readonly string[], name = 'server'): TlsFiles {
  const files = {
    caFile: join(dir, 'ca.crt'),
    caKeyFile: join(dir, 'ca.key'),
    certFile: join(dir, `${name}.crt`),
    keyFile: join(dir, `${name}.key`),
  };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let created = false;
  let ca: CertificateAndKey;
  if (existsSync(files.caFile) && existsSync(files.caKeyFile)) {
    ca = { cert: readFileSync(files.caFile, 'utf8'), key: readFileSync(files.caKeyFile, 'utf8') };
  } else {
    ca = makeCertificateAuthority('WattBus local CA');
    writePem(files.caKeyFile, ca.key, 0o600);
    writePem(files.caFile, ca.cert, 0o644);
    created = true;
  }
  if (created || !existsSync(files.keyFile) || !coversHosts(files.certFile, hosts)) {
    const server = makeCertificate(ca, { commonName: hosts[0] ?? 'localhost', hosts });
    writePem(files.keyFile, server.key, 0o600);
    writePem(files.certFile, server.cert, 0o644);
    created = true;
  }
  chmodSync(files.caKeyFile, 0o600);
  chmodSync(files.keyFile, 0o600);
  return { caFile: files.caFile, certFile: files.certFile, keyFile: files.keyFile, created };
}

function coversHosts(certFile: string, hosts: readonly string[]): boolean {
  if (!existsSync(certFile)) return false;
  const cert = forge.pki.certificateFromPem(readFileSync(certFile, 'utf8'));
  if (cert.validity.notAfter.getTime() < Date.now() + 86_400_000) return false;
  const names = (
    (cert.getExtension('subjectAltName') as { altNames?: { value?: string; ip?: string }[] })?.altNames ?? []
  ).map((name) => name.ip ?? name.value);
  return hosts.every((host) => names.includes(host));
}

/** Writes a certificate and its key as `<dir>/<name>.crt` and `<dir>/<name>.key` (mode 600). */
export function writeCertificateFiles(
  dir: string,
  name: string,
  pair: CertificateAndKey,
): { cert: string; key: string } {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  writePem(files.cert, pair.cert, 0o644);
  writePem(files.key, pair.key, 0o600);
  return files;
}

function writePem(file: string, pem: string, mode: number): void {
  writeFileSync(file, pem, { mode });
  // writeFileSync's mode applies only to a new file.
  chmodSync(file, mode);
}
