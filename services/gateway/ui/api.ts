import type { Problem } from '@wattbus/contracts';

/** An API answer that is not 2xx, with the problem body the gateway sent. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string | undefined;

  constructor(status: number, problem: Partial<Problem> | undefined) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = problem?.code;
  }
}

export type QueryValue = string | number | boolean | readonly string[] | undefined;

/**
 * The gateway's REST API with the session's key in `X-API-Key`. The key lives in sessionStorage
 * (this tab only, gone when it closes) and is never put in a URL. A 401 means the key stopped
 * working: `onUnauthorized` sends the user back to the login form.
 */
export class Api {
  readonly #key: string;
  readonly #onUnauthorized: () => void;

  constructor(key: string, onUnauthorized: () => void) {
    this.#key = key;
    this.#onUnauthorized = onUnauthorized;
  }

  get<T>(path: string, query: Record<string, QueryValue> = {}, signal?: AbortSignal): Promise<T> {
    return this.#call<T>('GET', withQuery(path, query), undefined, signal);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.#call<T>('PUT', path, body);
  }

  /** The raw response of a streaming route (server-sent events); the caller reads its body. */
  async stream(path: string, query: Record<string, QueryValue>, signal: AbortSignal): Promise<Response> {
    const response = await fetch(withQuery(path, query), {
      headers: { 'X-API-Key': this.#key, Accept: 'text/event-stream' },
      signal,
      cache: 'no-store',
    });
    if (!response.ok) throw await this.#error(response);
    return response;
  }

  async #call<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { 'X-API-Key': this.#key, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
    });
    if (!response.ok) throw await this.#error(response);
    return (await response.json()) as T;
  }

  async #error(response: Response): Promise<ApiError> {
    const problem = (await response.json().catch(() => undefined)) as Partial<Problem> | undefined;
    if (response.status === 401) this.#onUnauthorized();
    return new ApiError(response.status, problem);
  }
}

function withQuery(path: string, query: Record<string, QueryValue>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) continue;
    params.set(name, Array.isArray(value) ? value.join(',') : String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}
