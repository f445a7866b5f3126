import { readFileSync } from 'node:fs';
import { BusConnectError } from './errors.js';
import type { BusOptions } from './options.js';

/** The TLS keys of mqtt.js' client options that the bus sets. */
export interface TlsClientOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
}

const TLS_SCHEMES = new Set(['mqtts:', 'wss:', 'tls:', 'ssl:']);

/**
 * The CA, client certificate and key files as mqtt.js takes them, read before any I/O. A file
 * that cannot be read, a certificate without its key, or TLS files with a plain `mqtt://`/`ws://`
 * URL fail at once (BusConnectError `tls`), naming the option and the file.
 */
export function tlsClientOptions(
  options: Pick<BusOptions, 'caFile' | 'certFile' | 'keyFile'>,
  url: URL,
  target: { url: string; username?: string },
): TlsClientOptions {
  const { caFile, certFile, keyFile } = options;
  if (caFile === undefined && certFile === undefined && keyFile === undefined) return {};
  const refuse = (problem: string) =>
    new BusConnectError('tls', `TLS settings for the MQTT broker at ${target.url}: ${problem}`, target);
  if (!TLS_SCHEMES.has(url.protocol)) {
    throw refuse(
      `a CA or client certificate is set, but ${url.protocol}// does not use TLS (use mqtts:// or wss://)`,
    );
  }
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw refuse('a client certificate needs both its certificate file and its key file');
  }
  const read = (what: string, file: string | undefined) => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (error) {
      throw refuse(`cannot read the ${what} ${file}: ${(error as Error).message}`);
    }
  };
  return {
    ca: read('CA file', caFile),
    cert: read('client certificate file', certFile),
    key: read('client key file', keyFile),
    // Explicit: a CA given means the broker's certificate is checked against it, never skipped.
    rejectUnauthorized: true,
  };
}

/**
 * Node's TLS verification codes, said for an operator: what is wrong with whose certificate and
 * what to check. Retrying does not help with any of them.
 */
const TLS_FAILURES: Record<string, string> = {
  CERT_HAS_EXPIRED: "the broker's TLS certificate has expired; renew it",
  CERT_NOT_YET_VALID: "the broker's TLS certificate is not valid yet; check both clocks",
  DEPTH_ZERO_SELF_SIGNED_CERT:
    "the broker's TLS certificate is self-signed and not trusted; give its CA as the CA file (mqtt.ca_file)",
  SELF_SIGNED_CERT_IN_CHAIN:
    "the broker's TLS certificate is signed by an unknown CA; give that CA as the CA file (mqtt.ca_file)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    "the broker's TLS certificate is signed by an unknown CA; give that CA as the CA file (mqtt.ca_file)",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    "the broker's TLS certificate is signed by an unknown CA; give that CA as the CA file (mqtt.ca_file)",
  CERT_SIGNATURE_FAILURE: "the broker's TLS certificate has a bad signature",
  ERR_TLS_CERT_ALTNAME_INVALID:
    "the broker's TLS certificate is not made out for the host in the URL; use a name it lists, or make it anew",
};

/** An operator's description of a failed TLS handshake, or undefined if `error` is no TLS failure. */
export function describeTlsFailure(error: Error & { code?: unknown }): string | undefined {
  const code = typeof error.code === 'string' ? error.code : undefined;
  if (code !== undefined && code in TLS_FAILURES) return `${TLS_FAILURES[code]} (${code}: ${error.message})`;
  // The broker refused our client certificate (or its absence): an alert from the other side.
  if (/alert (certificate required|unknown ca|bad certificate|certificate expired)/i.test(error.message)) {
    return `the broker refused this client's TLS certificate; check mqtt.cert_file and mqtt.key_file (${error.message})`;
  }
  return undefined;
}
