/*
 * The small HTTP client every service reaches InfluxDB through: InfluxQL on `/query` (1.x, and the
 * v1-compatible endpoint of 2.x and 3.x), line protocol on each generation's write endpoint. Every
 * call is its own request (over kept-alive sockets), so it recovers by itself when the server is back.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { authorizationHeader, credentialsHint, type InfluxConnection } from './connection.js';
import { InfluxError } from './errors.js';
import { serverOf, writeCredentials, writePath } from './server.js';
import { influxRequest, type InfluxResponse } from './transport.js';
import { backoffDelayMs } from './write/backoff.js';

export { InfluxError };

export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export interface StatementResult {
  series: InfluxSeries[];
}

export type InfluxParamValue = string | number | boolean;

export interface RequestOptions {
  /** Default: the connection's database. */
  database?: string;
  signal?: AbortSignal;
  /** Default: connection.timeout_ms. */
  timeoutMs?: number;
}

export interface QueryOptions extends RequestOptions {
  /** Values for `$name` placeholders (1.x and 2.x). */
  params?: Record<string, InfluxParamValue>;
}

interface QueryAnswer {
  results?: Array<{
    error?: string;
    series?: Array<Omit<InfluxSeries, 'values'> & { values?: unknown[][] }>;
  }>;
  error?: string;
}

/** Runs InfluxQL (one statement or several, `;`-separated) and returns each statement's series, times in ms. */
export async function influxQuery(
  connection: InfluxConnection,
  text: string,
  options: QueryOptions = {},
): Promise<StatementResult[]> {
  const form = queryForm(connection, text, options);
  const timeoutMs = options.timeoutMs ?? connection.timeout_ms;
  const { response, body } = await post(connection, '/query', form, options, timeoutMs, (r) => r.text());
  refuseFailure(connection, response, body);
  let answer: QueryAnswer;
  try {
    answer = JSON.parse(body) as QueryAnswer;
  } catch {
    throw new InfluxError(
      'QUERY_FAILED',
      `InfluxDB answered ${response.status} with no JSON: ${firstLine(body)}`,
      response.status,
    );
  }
  return statementResults(answer, response.status);
}

/**
 * Runs one InfluxQL statement with `chunked=true` and yields its series chunk by chunk: the server
 * sends one JSON document per line, each at most `chunkSize` rows, so what we hold is bounded
 * whatever the answer's size (a long series comes as several pieces with the same name and tags).
 */
export async function* influxQueryStream(
  connection: InfluxConnection,
  text: string,
  options: QueryOptions & { chunkSize: number },
): AsyncGenerator<InfluxSeries> {
  const form = queryForm(connection, text, options);
  form.set('chunked', 'true');
  form.set('chunk_size', String(options.chunkSize));
  const timeoutMs = options.timeoutMs ?? connection.timeout_ms;
  const { response } = await post(connection, '/query', form, options, timeoutMs, () => undefined);
  if (!response.ok) refuseFailure(connection, response, await response.text().catch(() => ''));
  const decoder = new TextDecoder();
  let buffer = '';
  const parse = (line: string) => {
    try {
      return statementResults(JSON.parse(line) as QueryAnswer, response.status);
    } catch (error) {
      if (error instanceof InfluxError) throw error;
      throw new InfluxError('QUERY_FAILED', `InfluxDB sent a malformed answer: ${firstLine(line)}`);
    }
  };
  for await (const bytes of response.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line.trim() !== '') for (const result of parse(line)) yield* result.series;
    }
  }
  buffer += decoder.decode();
  if (buffer.trim() !== '') for (const result of parse(buffer)) yield* result.series;
}

export interface WriteOptions extends RequestOptions {
  /** Tries in all for network errors, 429 and 5xx (with backoff); default 1. A 4xx is never retried. */
  attempts?: number;
}

/**
 * POSTs line protocol with ms precision to 1.x's `/write`, or `/api/v2/write` on 2.x and 3.x (2.x's
 * v1 `/write` would create a missing bucket with a 3-day retention). A refused body is an
 * InfluxError with the status and InfluxDB's own words.
 */
export async function influxWrite(
  connection: InfluxConnection,
  lines: string | readonly string[],
  options: WriteOptions = {},
): Promise<void> {
  const body = typeof lines === 'string' ? lines : lines.join('\n');
  const database = options.database ?? connection.database;
  const timeoutMs = options.timeoutMs ?? connection.timeout_ms;
  const attempts = options.attempts ?? 1;
  for (let attempt = 1; ; attempt++) {
    try {
      const { generation } = await serverOf(connection).catch((error: unknown) => {
        throw unavailable(connection, error, timeoutMs);
      });
      const path = writePath(connection, generation, database);
      const credentials = writeCredentials(connection, generation);
      const { response, body: answer } = await post(
        connection,
        path,
        body,
        options,
        timeoutMs,
        (r) => r.text(),
        credentials,
      );
      if (response.ok) return;
      const said = answerError(answer).slice(0, 300);
      const where = path.split('?', 1)[0];
      if (response.status === 401 || response.status === 403)
        throw credentialsRefused(connection, response.status, said, `InfluxDB ${where}`);
      throw new InfluxError(
        response.status >= 500 ? 'STORE_UNAVAILABLE' : 'QUERY_FAILED',
        `InfluxDB ${where} answered ${response.status}: ${said}`,
        response.status,
      );
    } catch (error) {
      const status = (error as InfluxError).status;
      const retriable = status === undefined || status === 429 || status >= 500;
      if (!retriable || attempt >= attempts || options.signal?.aborted) throw error;
      await sleep(backoffDelayMs(attempt, { minMs: 500, maxMs: 4000 }), undefined, {
        signal: options.signal,
      });
    }
  }
}

function queryForm(connection: InfluxConnection, text: string, options: QueryOptions): URLSearchParams {
  const form = new URLSearchParams({ db: options.database ?? connection.database, q: text, epoch: 'ms' });
  if (options.params && Object.keys(options.params).length > 0)
    form.set('params', JSON.stringify(options.params));
  return form;
}

/** One POST; a failure to get an answer becomes STORE_UNAVAILABLE (or TIMEOUT when the caller aborted). */
async function post<T>(
  connection: InfluxConnection,
  path: string,
  body: URLSearchParams | string,
  options: RequestOptions,
  timeoutMs: number,
  read: (response: InfluxResponse) => Promise<T> | T,
  credentials = authorizationHeader(connection),
): Promise<{ response: InfluxResponse; body: T }> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const headers = {
    'content-type':
      typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/x-www-form-urlencoded',
    ...credentials,
  };
  try {
    const response = await influxRequest(new URL(path, connection.url), {
      method: 'POST',
      headers,
      body: body.toString(),
      signal,
    });
    return { response, body: await read(response) };
  } catch (error) {
    // node:http reports either abort as an AbortError: the timeout's own reason tells them apart.
    throw unavailable(connection, timeout.aborted ? timeout.reason : error, timeoutMs);
  }
}

/** An InfluxError for a request that got no answer. */
export function unavailable(connection: InfluxConnection, error: unknown, timeoutMs: number): InfluxError {
  if (error instanceof InfluxError) return error;
  const name = (error as Error).name;
  if (name === 'TimeoutError') {
    return new InfluxError(
      'STORE_UNAVAILABLE',
      `InfluxDB at ${connection.url} did not answer within ${timeoutMs} ms`,
    );
  }
  if (name === 'AbortError')
    return new InfluxError('TIMEOUT', 'the request was cancelled (deadline reached)');
  return new InfluxError(
    'STORE_UNAVAILABLE',
    `InfluxDB at ${connection.url} is unreachable: ${causeOf(error)}`,
  );
}

/** The most telling part of a fetch or node:http failure: ECONNREFUSED, ENOTFOUND… */
export function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } })
    .cause;
  return (
    cause?.code ??
    cause?.errors?.[0]?.code ??
    cause?.message ??
    (error as { code?: string }).code ??
    (error as Error).message
  );
}

/**
 * 401/403 from a write or a query: the store is unavailable until the credentials are fixed, so
 * STORE_UNAVAILABLE, naming the config key to fix. `who` is how the message names the server.
 */
function credentialsRefused(
  connection: InfluxConnection,
  status: number,
  said: string,
  who: string,
): InfluxError {
  return new InfluxError(
    'STORE_UNAVAILABLE',
    `${who} refused our credentials (${status}: ${said}): ${credentialsHint(connection)}`,
    status,
  );
}

function refuseFailure(connection: InfluxConnection, response: InfluxResponse, body: string): void {
  if (response.status === 401 || response.status === 403)
    throw credentialsRefused(connection, response.status, answerError(body), 'InfluxDB');
  if (response.status >= 500) {
    throw new InfluxError(
      'STORE_UNAVAILABLE',
      `InfluxDB answered ${response.status}: ${firstLine(body)}`,
      response.status,
    );
  }
  if (!response.ok) {
    throw new InfluxError(
      'QUERY_FAILED',
      `InfluxDB refused the query: ${answerError(body) || response.status}`,
      response.status,
    );
  }
}

function statementResults(answer: QueryAnswer, status: number): StatementResult[] {
  const failed = answer.error ?? answer.results?.find((result) => result.error)?.error;
  if (failed) throw new InfluxError('QUERY_FAILED', `InfluxDB refused the query: ${failed}`, status);
  return (answer.results ?? []).map((result) => ({
    series: (result.series ?? []).map((series) => ({ ...series, values: series.values ?? [] })),
  }));
}

/** InfluxDB's words: 1.x's `{"error": "…"}`, 2.x's `{"code": "…", "message": "…"}`, else the first line. */
export function answerError(body: string): string {
  try {
    const answer = JSON.parse(body) as { error?: unknown; message?: unknown };
    if (typeof answer.error === 'string') return answer.error;
    if (typeof answer.message === 'string') return answer.message;
  } catch {
    // not JSON
  }
  return firstLine(body);
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]?.slice(0, 200) ?? '';
}

/** Series rows as objects keyed by column. */
export function seriesRows(series: InfluxSeries): Array<Record<string, unknown>> {
  return series.values.map((values) =>
    Object.fromEntries(series.columns.map((column, i) => [column, values[i]])),
  );
}
