import { request } from 'node:http';
import type { DeviceHttp } from './transport.js';

export interface HttpAnswer {
  status: number;
  /** `name=value` of every Set-Cookie, without attributes. */
  cookies: Map<string, string>;
  body: Buffer;
}

/** Longest answer read; TP-Link answers are a few kB, anything far larger is not a plug. */
const MAX_BODY_BYTES = 256 * 1024;

/**
 * One HTTP POST to a plug on a fresh connection (the firmware serves one client at a time and
 * drops idle sockets). Socket errors keep their `code` (ECONNREFUSED…) for classifyDeviceError;
 * no answer within `timeoutMs` fails with code ETIMEDOUT.
 */
export function httpPost(options: {
  host: string;
  port: number;
  path: string;
  body: Buffer | string;
  headers?: Record<string, string>;
  timeoutMs: number;
}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
    const req = request(
      {
        host: options.host,
        port: options.port,
        path: options.path,
        method: 'POST',
        agent: false,
        headers: { 'content-length': String(body.length), ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            req.destroy(new Error(`an answer larger than ${MAX_BODY_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            cookies: cookiesOf(res.headers['set-cookie']),
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs, () => {
      req.destroy(
        Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

function cookiesOf(headers: string[] | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const header of headers ?? []) {
    // A device may put several cookies in one header: "TP_SESSIONID=…;TIMEOUT=86400".
    for (const part of header.split(';')) {
      const [name, ...value] = part.trim().split('=');
      if (name && value.length > 0) cookies.set(name, value.join('='));
    }
  }
  return cookies;
}

/** A POST to a device's HTTP API with its session cookie, if any. */
export function postToDevice(
  device: DeviceHttp,
  path: string,
  body: Buffer | string,
  contentType: string,
  cookie: string | undefined,
): Promise<HttpAnswer> {
  return httpPost({
    host: device.host,
    port: device.port,
    path,
    body,
    headers: { 'content-type': contentType, ...(cookie ? { cookie: `TP_SESSIONID=${cookie}` } : {}) },
    timeoutMs: device.timeoutMs,
  });
}
