import { request } from 'node:https';

export interface HttpsOptions {
  /** PEM of the CA to trust (fetch in Node 20 takes none). */
  ca?: string | Buffer;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One HTTPS request; resolves with the status and the body as text, rejects on a TLS failure. */
export function httpsRequest(
  url: string,
  options: HttpsOptions = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      { ca: options.ca, method: options.method ?? 'GET', headers: options.headers },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        response.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}
