/**
 * The errors the client throws. Every one is a {@link LatchkeyError}; an answer
 * of the server becomes the subclass of its status, carrying the envelope's
 * `code` and `message` (`{"error": {"code", "message"}}`), its `connectUrl`
 * when a connected-app refusal has one, and the answer's `x-request-id`. An
 * invalid key given to `keys.verify` is not an error: the verdict says so.
 */

/** What every error of the client carries. */
export interface LatchkeyErrorInit {
  /** HTTP status of the answer, if the server answered. */
  status?: number | undefined;
  /** The envelope's stable machine-readable code (`unauthorized`, `not_found`, …). */
  code: string;
  /** The answer's `x-request-id`, to find the request in the server's log. */
  requestId?: string | undefined;
  /** The answer's headers, if the server answered. */
  headers?: Headers | undefined;
  /** Where the person can connect (or reconnect) the app a connected-app refusal is about (the envelope's `connectUrl`). */
  connectUrl?: string | undefined;
  /** The underlying error (a network failure), if any. */
  cause?: unknown;
}

/** The base class of every error the client throws. */
export class LatchkeyError extends Error {
  /** HTTP status of the answer; `undefined` when the server did not answer. */
  readonly status: number | undefined;
  /** Stable machine-readable code: the envelope's `code`, or `connection_error`, `timeout`, `aborted`. */
  readonly code: string;
  /** The answer's `x-request-id`. */
  readonly requestId: string | undefined;
  /** The answer's headers. */
  readonly headers: Headers | undefined;
  /**
   * Where the person can connect (or reconnect) the app a connected-app
   * refusal is about (`oauth.token`'s `not_connected`,
   * `needs_reauthorization`, `insufficient_scope`); `undefined` otherwise.
   */
  readonly connectUrl: string | undefined;

  constructor(message: string, init: LatchkeyErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.headers = init.headers;
    this.connectUrl = init.connectUrl;
  }
}

/** 400: the request is invalid (`invalid_request`, `invalid_scopes`, …). */
export class BadRequestError extends LatchkeyError {}

/** 401: no credential, or one that is malformed, unknown, revoked or expired. */
export class AuthenticationError extends LatchkeyError {}

/** 403: the caller may not do this (`forbidden`, `insufficient_scope`). */
export class PermissionDeniedError extends LatchkeyError {}

/** 404: no such record in the caller's organization. */
export class NotFoundError extends LatchkeyError {}

/** 409: the request conflicts with the record's state (a duplicate, a revoked key's rotation, …). */
export class ConflictError extends LatchkeyError {}

/** 413: the body is over the server's limit. */
export class PayloadTooLargeError extends LatchkeyError {}

/** 429: a rate limit, credits, or too many failed authentications. */
export class RateLimitError extends LatchkeyError {
  /** Seconds the server asks to wait (`Retry-After`), if it said. */
  readonly retryAfter: number | undefined;

  constructor(message: string, init: LatchkeyErrorInit) {
    super(message, init);
    this.retryAfter = retryAfterSeconds(init.headers);
  }
}

/** 5xx: the server failed; 503 `unavailable` when its database cannot be reached. */
export class InternalServerError extends LatchkeyError {}

/** The server could not be reached, or the connection failed before an answer. */
export class APIConnectionError extends LatchkeyError {}

/** No answer within the timeout (`timeoutMs`). */
export class APITimeoutError extends APIConnectionError {}

/** The caller's own `AbortSignal` cancelled the request. */
export class APIUserAbortError extends LatchkeyError {}

/**
 * The `Retry-After` of an answer in seconds (delta-seconds or an HTTP date),
 * or `undefined` when absent or unreadable.
 */
export function retryAfterSeconds(headers: Headers | undefined): number | undefined {
  const value = headers?.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** The error for a non-2xx answer: the subclass of its status, with the envelope's code and message. */
export function errorFromResponse(status: number, body: unknown, text: string, headers: Headers): LatchkeyError {
  const envelope = readEnvelope(body);
  const code = envelope?.code ?? `http_${status}`;
  const message = envelope?.message ?? (text.trim().slice(0, 500) || `HTTP ${status}`);
  const init: LatchkeyErrorInit = {
    status,
    code,
    requestId: headers.get('x-request-id') ?? undefined,
    headers,
    connectUrl: envelope?.connectUrl,
  };
  switch (status) {
    case 400:
      return new BadRequestError(message, init);
    case 401:
      return new AuthenticationError(message, init);
    case 403:
      return new PermissionDeniedError(message, init);
    case 404:
      return new NotFoundError(message, init);
    case 409:
      return new ConflictError(message, init);
    case 413:
      return new PayloadTooLargeError(message, init);
    case 429:
      return new RateLimitError(message, init);
    default:
      return status >= 500 ? new InternalServerError(message, init) : new LatchkeyError(message, init);
  }
}

/** `{"error": {"code", "message", "connectUrl"?}}` (every profile's errors), read leniently. */
function readEnvelope(body: unknown): { code?: string; message?: string; connectUrl?: string } | undefined {
  if (typeof body !== 'object' || body === null || !('error' in body)) return undefined;
  const error: unknown = body.error;
  if (typeof error !== 'object' || error === null) return undefined;
  const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  const message = 'message' in error && typeof error.message === 'string' ? error.message : undefined;
  const connectUrl = 'connectUrl' in error && typeof error.connectUrl === 'string' ? error.connectUrl : undefined;
  return {
    ...(code === undefined ? {} : { code }),
    ...(message === undefined ? {} : { message }),
    ...(connectUrl === undefined ? {} : { connectUrl }),
  };
}
