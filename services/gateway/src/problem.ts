import { WattbusError, type ErrorCode, type Problem, type ProblemCode } from '@wattbus/contracts';

/** How a code becomes HTTP: the one table (STYLE.md "central error handling"). */
interface HttpMapping {
  status: number;
  title: string;
  /** Seconds for `Retry-After`, where waiting is the fix. */
  retryAfterS?: number;
}

/** Every bus error code; the Record type makes a new code in contracts fail to compile until it is mapped. */
export const HTTP_STATUS_BY_CODE: Record<ProblemCode, HttpMapping> = {
  INVALID_PARAMS: { status: 400, title: 'Invalid parameters' },
  INVALID_REQUEST: { status: 400, title: 'Invalid request' },
  UNKNOWN_METHOD: { status: 501, title: 'No component serves this method' },
  UNKNOWN_DEVICE: { status: 404, title: 'Unknown device' },
  DEVICE_UNREACHABLE: { status: 502, title: 'Device unreachable' },
  DEVICE_TIMEOUT: { status: 504, title: 'Device did not answer in time' },
  DEVICE_ERROR: { status: 502, title: 'Device error' },
  DEVICE_AUTH_FAILED: { status: 502, title: 'Device refused our credentials' },
  DEVICE_STATE_MISMATCH: { status: 502, title: 'Device reports another state than commanded' },
  NO_HISTORY: { status: 422, title: 'The device keeps no history to backfill' },
  QUERY_TOO_LARGE: { status: 422, title: 'Query too large' },
  QUERY_FAILED: { status: 502, title: 'Query failed in the store' },
  STORE_UNAVAILABLE: { status: 503, title: 'Store unavailable', retryAfterS: 5 },
  TIMEOUT: { status: 504, title: 'No answer before the deadline' },
  OVERLOADED: { status: 503, title: 'Too many requests in flight', retryAfterS: 1 },
  SHUTTING_DOWN: { status: 503, title: 'Shutting down', retryAfterS: 5 },
  INTERNAL: { status: 500, title: 'Internal error' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  UNAUTHORIZED: { status: 401, title: 'API key required' },
  FORBIDDEN: { status: 403, title: 'API key lacks the required scope' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Body too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  BROKER_UNAVAILABLE: { status: 503, title: 'Not connected to the MQTT broker', retryAfterS: 2 },
};

export type ProblemParameter = NonNullable<Problem['parameter']>;

export interface HttpProblemOptions {
  parameter?: ProblemParameter;
  errors?: Problem['errors'];
  details?: unknown;
  /** Overrides the table, e.g. 502 for an answer that breaks the contract. */
  status?: number;
  headers?: Record<string, string>;
}

/** An error that knows its HTTP answer; thrown by gateway code, rendered by the error middleware. */
export class HttpProblem extends Error {
  readonly code: ProblemCode;
  readonly options: HttpProblemOptions;

  constructor(code: ProblemCode, detail: string, options: HttpProblemOptions = {}) {
    super(detail);
    this.name = 'HttpProblem';
    this.code = code;
    this.options = options;
  }

  get status(): number {
    return this.options.status ?? HTTP_STATUS_BY_CODE[this.code].status;
  }
}

/** Any error (HttpProblem, WattbusError from the bus, or a bug) as an HttpProblem. */
export function toHttpProblem(error: unknown): HttpProblem {
  if (error instanceof HttpProblem) return error;
  if (error instanceof WattbusError) {
    return new HttpProblem(error.code satisfies ErrorCode, error.message, {
      ...(error.details === undefined ? {} : { details: error.details }),
    });
  }
  return new HttpProblem('INTERNAL', 'internal error while handling the request');
}

export interface RenderedProblem {
  status: number;
  headers: Record<string, string>;
  body: Problem;
}

export function renderProblem(problem: HttpProblem, requestId: string, instance: string): RenderedProblem {
  const mapping = HTTP_STATUS_BY_CODE[problem.code];
  const headers: Record<string, string> = { ...problem.options.headers };
  if (mapping.retryAfterS !== undefined) headers['Retry-After'] = String(mapping.retryAfterS);
  const body: Problem = {
    type: `urn:wattbus:problem:${problem.code.toLowerCase().replaceAll('_', '-')}`,
    title: mapping.title,
    status: problem.status,
    detail: problem.message,
    instance,
    code: problem.code,
    request_id: requestId,
    ...(problem.options.parameter ? { parameter: problem.options.parameter } : {}),
    ...(problem.options.errors ? { errors: problem.options.errors } : {}),
    ...(problem.options.details === undefined ? {} : { details: problem.options.details }),
  };
  return { status: problem.status, headers, body };
}
