import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

export interface InfluxV2StandInOptions {
  /** The real influxd (1.x) the v2 API is translated onto: each bucket is one of its databases. */
  influx: { url: string };
  /** The all-access API token: read, write and create buckets. */
  token: string;
  /** A token that may list buckets and query, but not write or create buckets. */
  readToken?: string;
  /** The one organisation; default `wattbus`. */
  org?: string;
}

/**
 * A stand-in for the InfluxDB 2.x HTTP API (no real influxd 2.x can be installed here): it
 * translates the v2 calls WattBus makes onto a real influxd 1.6.7 — `/api/v2/write` (bucket =
 * database), `/api/v2/buckets` (list by name, create), `/api/v2/orgs`, and the v1-compatible
 * `/query` — with `Authorization: Token …` checked on every call but `/ping`, and errors in
 * 2.x's `{code, message}` shape and statuses (401 bad token, 404 unknown org or bucket, 403 no
 * write permission, 422 conflict). What it does not model: DBRP mappings (every database answers
 * `/query`), retention rules, Flux, and the statement restrictions of 2.x's `/query`.
 * `/ping` announces `X-Influxdb-Version: v2-stand-in`, so version detection sees a 2.x.
 */
export class InfluxV2StandIn {
  /** `METHOD /path` of every request, in order: tests check which API a client used. */
  readonly requests: string[] = [];
  readonly org: string;
  readonly orgId: string;
  #options: InfluxV2StandInOptions;
  #server: Server | undefined;
  #port = 0;

  constructor(options: InfluxV2StandInOptions) {
    this.#options = options;
    this.org = options.org ?? 'wattbus';
    this.orgId = resourceId(`org:${this.org}`);
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  async start(): Promise<this> {
    const server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) =>
        reply(response, 500, { code: 'internal error', message: (error as Error).message }),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.url);
    const route = `${request.method} ${url.pathname}`;
    this.requests.push(route);
    if (url.pathname === '/ping') return this.#ping(response);
    const access = this.#access(request.headers.authorization);
    if (access === undefined)
      return reply(response, 401, { code: 'unauthorized', message: 'unauthorized access' });
    switch (route) {
      case 'GET /api/v2/orgs':
        return this.#orgs(url, response);
      case 'GET /api/v2/buckets':
        return this.#listBuckets(url, response);
      case 'POST /api/v2/buckets':
        return this.#createBucket(access, await readBody(request), response);
      case 'POST /api/v2/write':
        return this.#write(access, url, request, response);
      case 'GET /query':
      case 'POST /query':
        return this.#query(url, request, response);
      default:
        return reply(response, 404, { code: 'not found', message: 'path not found' });
    }
  }

  async #ping(response: ServerResponse): Promise<void> {
    const upstream = await fetch(new URL('/ping', this.#options.influx.url));
    response.writeHead(204, {
      'x-influxdb-version': 'v2-stand-in',
      'x-influxdb-build': `InfluxV2StandIn over influxd ${upstream.headers.get('x-influxdb-version') ?? '?'}`,
    });
    response.end();
  }

  /** Which token the request carries: 2.x takes `Token <token>` (and `Bearer`) on these endpoints. */
  #access(authorization: string | undefined): 'all' | 'read' | undefined {
    const token = /^(?:Token|Bearer) (.+)$/.exec(authorization ?? '')?.[1];
    if (token === undefined) return undefined;
    if (token === this.#options.token) return 'all';
    if (token === this.#options.readToken) return 'read';
    return undefined;
  }

  /** An unknown org name or id answers as 2.x does; no org given means the token's own. */
  #orgMissing(name: string | null, id: string | null, response: ServerResponse): boolean {
    if ((name === null || name === this.org) && (id === null || id === this.orgId)) return false;
    const message =
      name !== null ? `organization name ${JSON.stringify(name)} not found` : 'organization not found';
    reply(response, 404, { code: 'not found', message });
    return true;
  }

  #orgs(url: URL, response: ServerResponse): void {
    if (this.#orgMissing(url.searchParams.get('org'), url.searchParams.get('orgID'), response)) return;
    reply(response, 200, { orgs: [{ id: this.orgId, name: this.org }] });
  }

  async #listBuckets(url: URL, response: ServerResponse): Promise<void> {
    if (this.#orgMissing(url.searchParams.get('org'), url.searchParams.get('orgID'), response)) return;
    const name = url.searchParams.get('name');
    const names = (await this.#databases()).filter((database) => name === null || database === name);
    reply(response, 200, {
      links: { self: `/api/v2/buckets${url.search}` },
      buckets: names.map((database) => this.#bucket(database)),
    });
  }

  async #createBucket(access: 'all' | 'read', body: Buffer, response: ServerResponse): Promise<void> {
    if (access !== 'all') {
      const message = `write:orgs/${this.orgId}/buckets is unauthorized`;
      return reply(response, 401, { code: 'unauthorized', message });
    }
    let wanted: { orgID?: unknown; name?: unknown };
    try {
      wanted = JSON.parse(body.toString('utf8')) as typeof wanted;
    } catch {
      return reply(response, 400, { code: 'invalid', message: 'request body is not JSON' });
    }
    if (typeof wanted.name !== 'string' || wanted.name === '')
      return reply(response, 400, { code: 'invalid', message: 'bucket name is required' });
    if (wanted.orgID !== this.orgId)
      return reply(response, 404, { code: 'not found', message: 'organization not found' });
    if ((await this.#databases()).includes(wanted.name)) {
      const message = `bucket with name ${wanted.name} already exists`;
      return reply(response, 422, { code: 'conflict', message });
    }
    await this.#influxql(`CREATE DATABASE "${wanted.name.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`);
    reply(response, 201, this.#bucket(wanted.name));
  }

  async #write(
    access: 'all' | 'read',
    url: URL,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    const org = url.searchParams.get('org');
    const orgId = url.searchParams.get('orgID');
    if (org === null && orgId === null)
      return reply(response, 400, { code: 'invalid', message: 'Please provide either orgID or org' });
    if (this.#orgMissing(org, orgId, response)) return;
    const bucket = url.searchParams.get('bucket') ?? '';
    if (!(await this.#databases()).includes(bucket))
      return reply(response, 404, {
        code: 'not found',
        message: `bucket ${JSON.stringify(bucket)} not found`,
      });
    if (access !== 'all')
      return reply(response, 403, { code: 'forbidden', message: 'insufficient permissions for write' });
    const precision = V1_PRECISION[url.searchParams.get('precision') ?? 'ns'];
    if (precision === undefined)
      return reply(response, 400, {
        code: 'invalid',
        message: 'invalid precision; valid precision units are ns, us, ms, and s',
      });
    const encoding = request.headers['content-encoding'];
    const upstream = await fetch(
      new URL(`/write?${new URLSearchParams({ db: bucket, precision })}`, this.#options.influx.url),
      {
        method: 'POST',
        headers: encoding ? { 'content-encoding': encoding } : {},
        body: await readBody(request),
      },
    );
    if (upstream.status === 204) {
      response.writeHead(204).end();
      return;
    }
    const message = v1Error(await upstream.text());
    // 2.x answers a write it could only partly store (a field type conflict) with 422.
    if (upstream.status === 400 && /partial write/.test(message))
      return reply(response, 422, {
        code: 'unprocessable entity',
        message: `failure writing points to database: ${message}`,
      });
    if (upstream.status === 400) return reply(response, 400, { code: 'invalid', message });
    if (upstream.status === 413) return reply(response, 413, { code: 'request too large', message });
    reply(response, upstream.status >= 500 ? upstream.status : 500, { code: 'internal error', message });
  }

  /** The v1-compatible `/query`: passed through (bucket name = database), the answer streamed back. */
  async #query(url: URL, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = request.method === 'POST' ? await readBody(request) : undefined;
    const upstream = await fetch(new URL(`/query${url.search}`, this.#options.influx.url), {
      method: request.method,
      headers: {
        'content-type': request.headers['content-type'] ?? 'application/x-www-form-urlencoded',
        'accept-encoding': 'identity',
      },
      body,
    });
    response.writeHead(upstream.status, {
      'content-type': upstream.headers.get('content-type') ?? 'application/json',
    });
    if (upstream.body === null) response.end();
    else Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream).pipe(response);
  }

  async #databases(): Promise<string[]> {
    const answer = (await this.#influxql('SHOW DATABASES')) as {
      results?: Array<{ series?: Array<{ values?: string[][] }> }>;
    };
    const values = answer.results?.[0]?.series?.[0]?.values ?? [];
    return values.map(([name]) => name!).filter((name) => name !== '_internal');
  }

  async #influxql(statement: string): Promise<unknown> {
    const response = await fetch(new URL('/query', this.#options.influx.url), {
      method: 'POST',
      body: new URLSearchParams({ q: statement }),
    });
    if (!response.ok) throw new Error(`influxd answered ${response.status} to ${statement}`);
    return response.json();
  }

  #bucket(name: string): object {
    return { id: resourceId(`bucket:${name}`), orgID: this.orgId, type: 'user', name, retentionRules: [] };
  }
}

export async function startInfluxV2StandIn(options: InfluxV2StandInOptions): Promise<InfluxV2StandIn> {
  return new InfluxV2StandIn(options).start();
}

/** 2.x write precisions and 1.x's names for them. */
const V1_PRECISION: Record<string, string> = { ns: 'n', us: 'u', ms: 'ms', s: 's' };

/** 2.x ids are 16 hex digits; a stable one per name keeps answers reproducible. */
function resourceId(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

function reply(response: ServerResponse, status: number, body: object): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** influxd 1.x's `{"error": "…"}`, or the text as it came. */
function v1Error(text: string): string {
  try {
    const error = (JSON.parse(text) as { error?: unknown }).error;
    if (typeof error === 'string') return error;
  } catch {
    // not JSON
  }
  return text.trim();
}
