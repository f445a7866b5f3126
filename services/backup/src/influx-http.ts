import { authorizationHeader, type InfluxConnection } from '@wattbus/influx';

/** An InfluxQL statement error or an HTTP failure, with the server's own words. */
export class InfluxError extends Error {
  override name = 'InfluxError';
}

export interface QuerySeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
}

interface QueryAnswer {
  results?: Array<{ statement_id?: number; error?: string; series?: QuerySeries[] }>;
  error?: string;
}

/** InfluxQL identifiers are double-quoted; a quote or backslash inside is escaped. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** RFC 3339 string literals are accepted by 1.x, 2.x and 3.x alike. */
export function timeLiteral(ms: number): string {
  return `'${new Date(ms).toISOString()}'`;
}

/**
 * Runs one InfluxQL statement on `/query` with `epoch=ms` and yields its series chunk by chunk.
 * With `chunked=true` the server sends one JSON document per line, each at most `chunkSize`
 * rows, so what we hold is bounded whatever the answer's size; a server that ignores the flag
 * sends one document, which the caller bounds with a time window.
 */
export async function* streamQuery(
  connection: InfluxConnection,
  influxql: string,
  chunkSize: number,
  database: string = connection.database,
): AsyncGenerator<QuerySeries> {
  const url = new URL('/query', connection.url);
  url.searchParams.set('db', database);
  url.searchParams.set('epoch', 'ms');
  url.searchParams.set('chunked', 'true');
  url.searchParams.set('chunk_size', String(chunkSize));
  url.searchParams.set('q', influxql);
  let response: Response;
  try {
    response = await fetch(url, {
      headers: authorizationHeader(connection),
      signal: AbortSignal.timeout(Math.max(connection.timeout_ms, 60_000) * 10),
    });
  } catch (error) {
    throw new InfluxError(`cannot reach InfluxDB at ${connection.url}: ${describeFetchError(error)}`);
  }
  if (!response.ok || response.body === null) {
    const text = await response.text().catch(() => '');
    throw new InfluxError(`InfluxDB answered ${response.status} to ${influxql}: ${text.slice(0, 300)}`);
  }
  let buffer = '';
  const decoder = new TextDecoder();
  const documents = async function* (body: ReadableStream<Uint8Array>) {
    for await (const bytes of body) {
      buffer += decoder.decode(bytes, { stream: true });
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.trim() !== '') yield line;
      }
    }
    buffer += decoder.decode();
    if (buffer.trim() !== '') yield buffer;
  };
  for await (const line of documents(response.body)) {
    let answer: QueryAnswer;
    try {
      answer = JSON.parse(line) as QueryAnswer;
    } catch {
      throw new InfluxError(`InfluxDB sent a malformed answer to ${influxql}: ${line.slice(0, 200)}`);
    }
    if (answer.error) throw new InfluxError(`InfluxDB refused ${influxql}: ${answer.error}`);
    for (const result of answer.results ?? []) {
      if (result.error) throw new InfluxError(`InfluxDB refused ${influxql}: ${result.error}`);
      for (const series of result.series ?? []) yield series;
    }
  }
}

/** A statement with a small answer (SHOW …), collected. */
export async function queryAll(
  connection: InfluxConnection,
  influxql: string,
  database?: string,
): Promise<QuerySeries[]> {
  const all: QuerySeries[] = [];
  for await (const series of streamQuery(connection, influxql, 10_000, database)) all.push(series);
  return all;
}

/** POST /write with ms precision; the body is line protocol. Retries network errors and 5xx a few times. */
export async function writeLines(
  connection: InfluxConnection,
  database: string,
  body: string,
  attempts = 4,
): Promise<void> {
  const url = new URL('/write', connection.url);
  url.searchParams.set('db', database);
  url.searchParams.set('precision', 'ms');
  for (let attempt = 1; ; attempt++) {
    let problem: string;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8', ...authorizationHeader(connection) },
        body,
        signal: AbortSignal.timeout(Math.max(connection.timeout_ms, 30_000)),
      });
      if (response.ok) return;
      const text = await response.text().catch(() => '');
      problem = `InfluxDB answered ${response.status} to /write: ${text.slice(0, 300)}`;
      if (response.status < 500 && response.status !== 429) throw new InfluxError(problem);
    } catch (error) {
      if (error instanceof InfluxError) throw error;
      problem = `cannot reach InfluxDB at ${connection.url}: ${describeFetchError(error)}`;
    }
    if (attempt >= attempts) throw new InfluxError(problem);
    await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
  }
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } })
    .cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (error as Error).message;
}

/** A statement that changes something (CREATE/DROP DATABASE): 1.x wants POST for those. */
export async function execute(
  connection: InfluxConnection,
  influxql: string,
  database?: string,
): Promise<void> {
  const url = new URL('/query', connection.url);
  if (database !== undefined) url.searchParams.set('db', database);
  url.searchParams.set('q', influxql);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: authorizationHeader(connection),
      signal: AbortSignal.timeout(connection.timeout_ms),
    });
  } catch (error) {
    throw new InfluxError(`cannot reach InfluxDB at ${connection.url}: ${describeFetchError(error)}`);
  }
  const text = await response.text();
  if (!response.ok)
    throw new InfluxError(`InfluxDB answered ${response.status} to ${influxql}: ${text.slice(0, 300)}`);
  const answer = JSON.parse(text) as QueryAnswer;
  const error = answer.error ?? answer.results?.find((result) => result.error)?.error;
  if (error) throw new InfluxError(`InfluxDB refused ${influxql}: ${error}`);
}
