/**
 * What the Express and Hono middleware share: reading the caller's key,
 * asking latchkey for a verdict with the service key, and turning the
 * verdict into the answer latchkey itself gives (401, 403
 * `insufficient_scope`, 429 with `Retry-After`) in the
 * `{"error": {"code", "message"}}` envelope. The client's address goes
 * with the key (`ip`), so that a key bound to networks (`allowedCidrs`)
 * works only from them; what is not an IP address is not sent (such a key
 * is then refused: latchkey cannot place the client).
 */
import { Latchkey } from '../client.js';
import type { ClientOptions } from '../client.js';
import { APIConnectionError, InternalServerError } from '../errors.js';
import type { Verdict } from '../resources/keys.js';

/** What latchkey being unreachable means for a request: refused (`closed`, the default) or let through (`open`). */
export type FailureMode = 'closed' | 'open';

/** The options both middlewares take. */
export interface AuthOptions {
  /** Scopes the caller's key must hold (403 `insufficient_scope` otherwise). */
  scopes?: string[];
  /** The project the request is for: a key of another project is refused. */
  projectId?: string;
  /** Credits a request spends, for keys with a budget (default 1). */
  cost?: number;
  /**
   * The client that verifies (its key needs `keys:verify`). Default: a client
   * from `clientOptions` and the environment (`LATCHKEY_API_KEY`,
   * `LATCHKEY_API_URL`), with a 5 s timeout and one retry.
   */
  client?: Latchkey;
  /** Options of the default client (`envPrefix`, `baseUrl`, `timeoutMs`, …). */
  clientOptions?: ClientOptions;
  /**
   * When latchkey cannot be reached (no connection, a timeout, a 5xx):
   * `closed` answers 503 `unavailable` (the default); `open` lets the request
   * through with no verdict (`null`).
   */
  failureMode?: FailureMode;
}

/** A refusal: the status, the envelope's code and message, and headers. */
export interface Refusal {
  status: 401 | 403 | 429 | 500 | 503;
  code: string;
  message: string;
  headers: Record<string, string>;
  /** The verdict behind it; `null` when no key was presented or latchkey did not answer. */
  verdict: Verdict | null;
}

/** What to do with a request. */
export type Decision =
  | { kind: 'allow'; verdict: Verdict }
  | { kind: 'refuse'; refusal: Refusal }
  | { kind: 'error'; error: unknown };

/** The key a request presents: `X-API-Key`, else `Authorization: Bearer …` (as latchkey reads them). */
export function presentedKey(header: (name: string) => string | null | undefined): string | undefined {
  const apiKey = header('x-api-key');
  if (apiKey !== null && apiKey !== undefined) return apiKey.trim() || undefined;
  const auth = header('authorization');
  if (!auth) return undefined;
  const space = auth.indexOf(' ');
  if (space < 0 || auth.slice(0, space).toLowerCase() !== 'bearer') return undefined;
  return auth.slice(space + 1).trim() || undefined;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * `address` if it is an IPv4 or IPv6 address (what latchkey's `ip` takes),
 * else `undefined`. No `node:net`: the Hono middleware runs on edge runtimes
 * too, so IPv6 is checked by the URL parser (zone ids are refused).
 */
export function clientAddress(address: string | null | undefined): string | undefined {
  const a = address?.trim();
  if (!a) return undefined;
  if (IPV4.test(a)) return a;
  if (!a.includes(':') || a.includes('%') || a.includes('[') || a.includes(']')) return undefined;
  try {
    new URL(`http://[${a}]/`);
    return a;
  } catch {
    return undefined;
  }
}

/** The verifying client of a middleware: the given one, else one from the options and the environment. */
export function verifierClient(options: AuthOptions): Latchkey {
  if (options.client) return options.client;
  const client = new Latchkey({ timeoutMs: 5_000, maxRetries: 1, ...options.clientOptions });
  const prefix = options.clientOptions?.envPrefix ?? 'LATCHKEY';
  if (options.clientOptions?.apiKey === undefined && !hasEnv(`${prefix}_API_KEY`)) {
    throw new TypeError(`latchkeyAuth: no service key: set ${prefix}_API_KEY or pass client/clientOptions.apiKey`);
  }
  return client;
}

function hasEnv(name: string): boolean {
  const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  return value !== undefined && value !== '';
}

/** The refusal for a request that presents no key. */
export function missingKey(): Refusal {
  return { status: 401, code: 'unauthorized', message: 'Invalid or missing authentication', headers: {}, verdict: null };
}

/** Asks latchkey about `key`, presented from `ip` (if known), and decides. */
export async function decide(client: Latchkey, key: string, options: AuthOptions, ip?: string): Promise<Decision> {
  let verdict: Verdict;
  try {
    verdict = await client.keys.verify({
      key,
      ...(options.scopes === undefined ? {} : { scopes: options.scopes }),
      ...(options.projectId === undefined ? {} : { projectId: options.projectId }),
      ...(options.cost === undefined ? {} : { cost: options.cost }),
      ...(ip === undefined ? {} : { ip }),
    });
  } catch (error) {
    return { kind: 'error', error };
  }
  if (verdict.valid) return { kind: 'allow', verdict };
  return { kind: 'refuse', refusal: refusalOf(verdict) };
}

/** The answer latchkey gives a request with this (invalid) verdict. */
export function refusalOf(verdict: Verdict): Refusal {
  const headers = rateLimitHeaders(verdict);
  switch (verdict.code) {
    case 'INSUFFICIENT_SCOPE':
      return { status: 403, code: 'insufficient_scope', message: 'this key lacks a required scope', headers, verdict };
    case 'IP_NOT_ALLOWED':
      return { status: 403, code: 'ip_not_allowed', message: 'this key may not be used from this address', headers, verdict };
    case 'RATE_LIMITED':
      return {
        status: 429,
        code: 'rate_limited',
        message: 'rate limit exceeded for this key',
        headers: { ...headers, 'retry-after': String(Math.max(1, verdict.ratelimit?.reset ?? 1)) },
        verdict,
      };
    case 'USAGE_EXCEEDED':
      return {
        status: 429,
        code: 'rate_limited',
        message: 'this key has no usage credits left',
        headers: { ...headers, 'retry-after': '60' },
        verdict,
      };
    default:
      return { status: 401, code: 'unauthorized', message: 'Invalid or missing authentication', headers, verdict };
  }
}

function rateLimitHeaders(verdict: Verdict): Record<string, string> {
  const r = verdict.ratelimit;
  if (!r) return {};
  return { 'ratelimit-limit': String(r.limit), 'ratelimit-remaining': String(r.remaining), 'ratelimit-reset': String(r.reset) };
}

/** Whether an error means latchkey could not answer (what `failureMode` is about). */
export function isUnreachable(error: unknown): boolean {
  return error instanceof APIConnectionError || error instanceof InternalServerError;
}

/**
 * The answer to a failed verification without an `onError` hook: latchkey
 * unreachable with `failureMode: 'open'` lets the request through
 * (`undefined`); unreachable otherwise is 503 `unavailable`; anything else
 * (the service key refused, …) is 500 whatever the mode, never a way in.
 */
export function failureAnswer(error: unknown, mode: FailureMode): Refusal | undefined {
  if (isUnreachable(error)) {
    if (mode === 'open') return undefined;
    return {
      status: 503,
      code: 'unavailable',
      message: 'the API key cannot be verified now; retry',
      headers: { 'retry-after': '1' },
      verdict: null,
    };
  }
  return { status: 500, code: 'internal_error', message: 'the API key could not be verified', headers: {}, verdict: null };
}

/** The envelope of a refusal. */
export function envelope(refusal: Refusal): { error: { code: string; message: string } } {
  return { error: { code: refusal.code, message: refusal.message } };
}
