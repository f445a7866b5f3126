import { createHash, randomBytes } from 'node:crypto';

/** The parameters of a `WWW-Authenticate: Digest …` challenge (RFC 7616). */
export interface DigestChallenge {
  realm: string;
  nonce: string;
  /** `SHA-256` on Shelly Gen2+; `MD5` accepted for other RFC 7616 servers. */
  algorithm: 'SHA-256' | 'MD5';
  qop?: string;
  opaque?: string;
}

/** Parses the Digest challenge of a WWW-Authenticate header, or undefined when there is none we can answer. */
export function parseDigestChallenge(header: string | null): DigestChallenge | undefined {
  if (!header) return undefined;
  const match = /^\s*Digest\s+(.*)$/i.exec(header);
  if (!match) return undefined;
  const params = parseAuthParams(match[1] ?? '');
  const realm = params.get('realm');
  const nonce = params.get('nonce');
  if (realm === undefined || nonce === undefined) return undefined;
  const algorithm = (params.get('algorithm') ?? 'MD5').toUpperCase();
  if (algorithm !== 'SHA-256' && algorithm !== 'MD5') return undefined;
  const qop = params.get('qop');
  // We answer qop=auth only; a challenge offering only auth-int is refused.
  if (qop !== undefined && !qop.split(',').some((value) => value.trim() === 'auth')) return undefined;
  return {
    realm,
    nonce,
    algorithm,
    ...(qop !== undefined ? { qop: 'auth' } : {}),
    ...(params.has('opaque') ? { opaque: params.get('opaque') } : {}),
  };
}

/** `key=value` and `key="quoted, value"` pairs of an auth header. */
export function parseAuthParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  const pattern = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  for (const match of text.matchAll(pattern)) {
    const key = match[1]!.toLowerCase();
    const value = match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : (match[3] ?? '');
    params.set(key, value);
  }
  return params;
}

export interface DigestCredentials {
  username: string;
  password: string;
}

/**
 * The `Authorization: Digest …` header for one request (RFC 7616 §3.4): response =
 * H(H(user:realm:password):nonce:nc:cnonce:qop:H(method:uri)). `nc` counts the uses of one nonce;
 * Shelly firmware 2.0+ accepts a nonce again with a higher nc, older firmware wants a fresh challenge.
 */
export function digestAuthorization(
  challenge: DigestChallenge,
  credentials: DigestCredentials,
  request: { method: string; uri: string; nc: number; cnonce?: string },
): string {
  const hash = (text: string) =>
    createHash(challenge.algorithm === 'SHA-256' ? 'sha256' : 'md5')
      .update(text)
      .digest('hex');
  const ha1 = hash(`${credentials.username}:${challenge.realm}:${credentials.password}`);
  const ha2 = hash(`${request.method}:${request.uri}`);
  const parts = [
    `username="${quote(credentials.username)}"`,
    `realm="${quote(challenge.realm)}"`,
    `nonce="${quote(challenge.nonce)}"`,
    `uri="${quote(request.uri)}"`,
    `algorithm=${challenge.algorithm}`,
  ];
  if (challenge.qop) {
    const nc = request.nc.toString(16).padStart(8, '0');
    const cnonce = request.cnonce ?? randomBytes(12).toString('hex');
    const response = hash(`${ha1}:${challenge.nonce}:${nc}:${cnonce}:${challenge.qop}:${ha2}`);
    parts.push(`response="${response}"`, `qop=${challenge.qop}`, `nc=${nc}`, `cnonce="${cnonce}"`);
  } else {
    parts.push(`response="${hash(`${ha1}:${challenge.nonce}:${ha2}`)}"`);
  }
  if (challenge.opaque !== undefined) parts.push(`opaque="${quote(challenge.opaque)}"`);
  return `Digest ${parts.join(', ')}`;
}

function quote(value: string): string {
  return value.replace(/(["\\])/g, '\\$1');
}
