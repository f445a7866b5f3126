import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';

/** What the InfluxDB calls read of an answer. */
export interface InfluxResponse {
  status: number;
  ok: boolean;
  /** Header names in lower case. */
  headers: IncomingHttpHeaders;
  /** The whole body as text. */
  text(): Promise<string>;
  /** The body as it arrives (chunked query answers). */
  body: AsyncIterable<Uint8Array>;
}

// Keep-alive sockets, reused request after request: one connection per concurrent query.
const agents = {
  'http:': new http.Agent({ keepAlive: true }),
  'https:': new https.Agent({ keepAlive: true }),
};

/**
 * One request over node:http: queries, /ping and 2.x bucket calls (InfluxWriter posts through
 * @influxdata/influxdb-client's transport, for its gzip and Retry-After handling). fetch (undici)
 * cost the query component ~0.3 ms of CPU more per query than node:http for the same answer (its
 * web streams and request objects), and its first call loads undici: ~14 MB more RSS for the life
 * of a service that only pinged InfluxDB at start (node 20, `process.memoryUsage()` after a GC).
 * Rejects with the request's error; `signal` aborts the request and its body.
 */
export function influxRequest(
  url: URL,
  options: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string; signal: AbortSignal },
): Promise<InfluxResponse> {
  const agent = url.protocol === 'https:' ? agents['https:'] : agents['http:'];
  const { method, body = '', signal } = options;
  const headers =
    method === 'POST'
      ? { ...options.headers, 'content-length': String(Buffer.byteLength(body)) }
      : options.headers;
  const request = (url.protocol === 'https:' ? https.request : http.request)(url, {
    method,
    agent,
    signal,
    headers,
  });
  return new Promise((resolve, reject) => {
    request.once('error', reject);
    request.once('response', (response: IncomingMessage) => {
      // Errors of the body (an abort, a reset) reach whoever reads it.
      request.off('error', reject);
      request.on('error', () => undefined);
      const status = response.statusCode ?? 0;
      resolve({
        status,
        ok: status >= 200 && status < 300,
        headers: response.headers,
        text: () => textOf(response),
        body: response,
      });
    });
    request.end(method === 'POST' ? body : undefined);
  });
}

async function textOf(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
