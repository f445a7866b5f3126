import { BusConnectError } from './errors.js';

/** Schemes mqtt.js opens in Node: plain TCP, TLS, WebSocket and secure WebSocket. */
export const BROKER_URL_SCHEMES = ['mqtt', 'mqtts', 'ws', 'wss', 'tcp', 'tls', 'ssl'] as const;

const EXPECTED = `expected mqtt://host:port; ${BROKER_URL_SCHEMES.slice(1).join(', ')} work too`;

/**
 * Checks a broker URL before any I/O and returns it parsed. mqtt.js itself connects an unknown
 * scheme (`htp://x`) as mqtt:// and an empty URL to localhost:1883, so both must be caught here.
 * Throws BusConnectError (reason `url`) naming the URL (password hidden) and the schemes expected.
 */
export function checkBrokerUrl(url: string): URL {
  const refuse = (problem: string) =>
    new BusConnectError('url', `invalid MQTT broker URL '${redactUrl(url)}': ${problem} (${EXPECTED})`, {
      url: redactUrl(url),
    });
  if (url.trim() === '') throw refuse('it is empty');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refuse('not a URL');
  }
  const scheme = parsed.protocol.replace(/:$/, '');
  if (!(BROKER_URL_SCHEMES as readonly string[]).includes(scheme)) {
    throw refuse(`unsupported scheme '${scheme}'`);
  }
  if (parsed.hostname === '') throw refuse('no host');
  return parsed;
}

/** The URL for logs and errors: a password in it (`mqtt://user:secret@host`) becomes `***`. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^/@:]*):[^/]*@/, '//$1:***@');
}

/** The user name a URL carries (`mqtt://user@host`), if any. */
export function urlUsername(url: URL): string | undefined {
  return url.username === '' ? undefined : decodeURIComponent(url.username);
}
