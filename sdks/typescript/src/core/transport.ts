/**
 * One HTTP request with the client's rules: the credential, a timeout per
 * attempt, retries with jittered backoff on connection errors, 429 and 503
 * (honouring `Retry-After`), and the answer's error turned into a typed
 * {@link LatchkeyError}.
 */
import {
  APIConnectionError,
  APITimeoutError,
  APIUserAbortError,
  LatchkeyError,
  errorFromResponse,
  retryAfterSeconds,
} from '../errors.js';

/** Options of one call, the last argument of every method. */
export interface RequestOptions {
  /** Time one attempt may take, in milliseconds (default: the client's `timeoutMs`). */
  timeoutMs?: number;
  /** Retries after the first attempt (default: the client's `maxRetries`). */
  maxRetries?: number;
  /** Cancels the call (an {@link APIUserAbortError}). */
  signal?: AbortSignal;
  /** Extra request headers (`X-Latchkey-Org`, …). */
  headers?: Record<string, string>;
}

/** What a request's answer is read as. */
export type Accept = 'json' | 'text' | 'bytes' | 'none';

/** A request, before the client's rules apply. */
export interface ApiRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path with its parameters already encoded (see {@link path}). */
  path: string;
  query?: Record<string, unknown> | undefined;
  body?: unknown;
  /** A JSON body sent exactly as given (a body whose bytes are signed), instead of `body`. */
  rawBody?: string;
  /** How to read a successful answer (default `json`). */
  accept?: Accept;
  options?: RequestOptions | undefined;
}

/** A successful answer as read. */
export interface Answer<T> {
  status: number;
  headers: Headers;
  body: T;
}

/** The settings a transport runs with (resolved by the `Latchkey` constructor). */
export interface TransportSettings {
  baseUrl: string;
  apiKey: string | undefined;
  timeoutMs: number;
  maxRetries: number;
  fetch: typeof fetch;
  headers: Record<string, string>;
}

/** A `Retry-After` of this or longer is not waited for: the error is thrown for the caller to decide. */
export const MAX_RETRY_AFTER_MS = 60_000;
const INITIAL_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 8_000;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
/**
 * Connection errors that prove the request never reached the server, so that
 * even a non-idempotent request may be sent again.
 */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** A path from a template and its parameters, each percent-encoded (`path\`/v1/api-keys/${id}\``). */
export function path(strings: TemplateStringsArray, ...params: string[]): string {
  return strings.reduce((out, s, i) => out + s + (i < params.length ? encodeURIComponent(params[i] ?? '') : ''), '');
}

/** Sends requests with the client's credential, timeouts and retries. */
export class Transport {
  readonly #settings: TransportSettings;

  constructor(settings: TransportSettings) {
    this.#settings = settings;
  }

  /** The server's base URL. */
  get baseUrl(): string {
    return this.#settings.baseUrl;
  }

  /** Sends `req`, retrying as the rules allow, and returns the answer's body. */
  async request<T>(req: ApiRequest): Promise<T> {
    return (await this.requestWithHeaders<T>(req)).body;
  }

  /** Like {@link request}, with the answer's status and headers. */
  async requestWithHeaders<T>(req: ApiRequest): Promise<Answer<T>> {
    const maxRetries = req.options?.maxRetries ?? this.#settings.maxRetries;
    const idempotent = IDEMPOTENT.has(req.method);
    for (let attempt = 0; ; attempt++) {
      const retriesLeft = attempt < maxRetries;
      let res: Response;
      let bytes: Uint8Array;
      try {
        res = await this.#attempt(req);
        bytes = new Uint8Array(await res.arrayBuffer());
      } catch (err) {
        const error = this.#failure(err, req.options?.signal);
        const mayResend = idempotent || (!(error instanceof APITimeoutError) && neverSent(err));
        if (!(error instanceof APIUserAbortError) && retriesLeft && mayResend) {
          await sleep(backoffMs(attempt), req.options?.signal);
          continue;
        }
        throw error;
      }
      if (res.ok) {
        return { status: res.status, headers: res.headers, body: decode(res, bytes, req.accept ?? 'json') as T };
      }
      const text = new TextDecoder().decode(bytes);
      if ((res.status === 429 || res.status === 503) && retriesLeft) {
        const after = retryAfterSeconds(res.headers);
        if (after === undefined || after * 1000 < MAX_RETRY_AFTER_MS) {
          await sleep(after === undefined ? backoffMs(attempt) : after * 1000 + Math.random() * 250, req.options?.signal);
          continue;
        }
      }
      throw errorFromResponse(res.status, parseJson(text), text, res.headers);
    }
  }

  /** One attempt, bounded by the timeout and the caller's signal. */
  async #attempt(req: ApiRequest): Promise<Response> {
    const settings = this.#settings;
    const url = new URL(settings.baseUrl.replace(/\/+$/, '') + req.path);
    for (const [name, value] of Object.entries(req.query ?? {})) {
      if (value === undefined || value === null) continue;
      for (const v of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(v));
    }
    const headers = new Headers(settings.headers);
    headers.set('accept', req.accept === 'text' ? 'text/plain, */*' : 'application/json, */*');
    if (settings.apiKey) headers.set('authorization', `Bearer ${settings.apiKey}`);
    for (const [name, value] of Object.entries(req.options?.headers ?? {})) headers.set(name, value);
    let body: string | undefined;
    if (req.rawBody !== undefined) {
      headers.set('content-type', 'application/json');
      body = req.rawBody;
    } else if (req.body !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(req.body);
    }
    const timeoutMs = req.options?.timeoutMs ?? settings.timeoutMs;
    const signals = [AbortSignal.timeout(timeoutMs)];
    if (req.options?.signal) signals.push(req.options.signal);
    return settings.fetch(url, { method: req.method, headers, body, signal: anySignal(signals) });
  }

  /** The error for a failed attempt: the caller's abort, a timeout, or a connection error. */
  #failure(err: unknown, signal: AbortSignal | undefined): LatchkeyError {
    if (signal?.aborted) return new APIUserAbortError('the request was aborted', { code: 'aborted', cause: err });
    if (isTimeout(err)) {
      return new APITimeoutError('latchkey did not answer in time', { code: 'timeout', cause: err });
    }
    return new APIConnectionError(`could not reach latchkey at ${this.#settings.baseUrl}: ${describe(err)}`, {
      code: 'connection_error',
      cause: err,
    });
  }
}

/** Reads a successful answer's body as `accept` asks. */
function decode(res: Response, bytes: Uint8Array, accept: Accept): unknown {
  if (accept === 'none' || res.status === 204) return undefined;
  if (accept === 'bytes') return bytes;
  const text = new TextDecoder().decode(bytes);
  if (accept === 'text') return text;
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new LatchkeyError(`latchkey answered ${res.status} with a body that is not JSON`, {
      status: res.status,
      code: 'invalid_response',
      requestId: res.headers.get('x-request-id') ?? undefined,
      headers: res.headers,
      cause,
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Exponential backoff from 0.5 s, at most 8 s, minus up to a quarter of jitter. */
function backoffMs(attempt: number): number {
  return Math.min(INITIAL_BACKOFF_MS * 2 ** attempt, MAX_BACKOFF_MS) * (1 - Math.random() * 0.25);
}

/** Waits `ms`, or rejects with an {@link APIUserAbortError} as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new APIUserAbortError('the request was aborted', { code: 'aborted' }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new APIUserAbortError('the request was aborted', { code: 'aborted' }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `AbortSignal.any` (Node ≥ 20.3), with a fallback for older runtimes. */
function anySignal(signals: AbortSignal[]): AbortSignal {
  if (signals.length === 1 && signals[0]) return signals[0];
  if (typeof AbortSignal.any === 'function') return AbortSignal.any(signals);
  const controller = new AbortController();
  for (const s of signals) {
    if (s.aborted) {
      controller.abort(s.reason);
      break;
    }
    s.addEventListener('abort', () => controller.abort(s.reason), { once: true });
  }
  return controller.signal;
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && (err.name === 'TimeoutError' || (err.name === 'AbortError' && causeIsTimeout(err)));
}

function causeIsTimeout(err: Error): boolean {
  return err.cause instanceof Error && err.cause.name === 'TimeoutError';
}

/** The error codes along a network error's `cause` chain (undici wraps them). */
function codes(err: unknown): string[] {
  const out: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (typeof e !== 'object') break;
    if ('code' in e && typeof e.code === 'string') out.push(e.code);
    if (e instanceof AggregateError) for (const inner of e.errors) out.push(...codes(inner));
    e = 'cause' in e ? e.cause : undefined;
  }
  return out;
}

/** Whether a failed attempt certainly never reached the server (no connection was made). */
function neverSent(err: unknown): boolean {
  const found = codes(err);
  return found.length > 0 && found.every((c) => NOT_SENT.has(c));
}

function describe(err: unknown): string {
  const found = codes(err);
  if (found.length > 0) return found.join(', ');
  return err instanceof Error ? err.message : String(err);
}
