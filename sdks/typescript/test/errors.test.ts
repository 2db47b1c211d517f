/**
 * Every error class from a real answer of latchkey (or a real failure to
 * get one): status, envelope code and message, request id.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  APIConnectionError,
  APITimeoutError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  Latchkey,
  LatchkeyError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionDeniedError,
  RateLimitError,
} from '../src/index.js';
import { closedPort, recordingFetch, silentServer, startServer } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';

let server: TestServer;
let lk: Latchkey;

before(async () => {
  server = await startServer();
  lk = new Latchkey({ apiKey: server.apiKey, baseUrl: server.url, maxRetries: 0 });
});
after(async () => {
  await server?.stop();
});

/** The error `promise` rejects with, checked to be a `cls` with `status` and `code`. */
async function expectError<E extends LatchkeyError>(
  promise: PromiseLike<unknown>,
  cls: abstract new (...args: never[]) => E,
  status: number | undefined,
  code: string,
): Promise<E> {
  const error = await Promise.resolve(promise).then(
    () => assert.fail('expected an error'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof cls, `${String(error)} is not a ${cls.name}`);
  assert.ok(error instanceof LatchkeyError);
  assert.equal(error.name, cls.name);
  assert.equal(error.status, status, error.message);
  assert.equal(error.code, code, error.message);
  assert.ok(error.message.length > 0);
  if (status !== undefined) assert.match(error.requestId ?? '', /\S/, 'an answer carries its request id');
  return error;
}

describe('answers of the server', () => {
  it('400 BadRequestError', async () => {
    const e = await expectError(lk.keys.create({ name: 'x', scopes: ['no-such:scope'] }), BadRequestError, 400, 'invalid_scopes');
    assert.match(e.message, /no-such:scope/);
    await expectError(lk.keys.list({ limit: 0 }), BadRequestError, 400, 'invalid_request');
  });

  it('401 AuthenticationError', async () => {
    const wrong = new Latchkey({ apiKey: 'lk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', baseUrl: server.url, maxRetries: 0 });
    await expectError(wrong.me(), AuthenticationError, 401, 'unauthorized');
    const none = new Latchkey({ apiKey: null, baseUrl: server.url, maxRetries: 0 });
    await expectError(none.keys.get('key_x'), AuthenticationError, 401, 'unauthorized');
  });

  it('403 PermissionDeniedError', async () => {
    const reader = await lk.keys.create({ name: 'reader', scopes: ['org:read'] });
    const client = new Latchkey({ apiKey: reader.key, baseUrl: server.url, maxRetries: 0 });
    await expectError(client.keys.create({ name: 'nope' }), PermissionDeniedError, 403, 'insufficient_scope');
  });

  it('404 NotFoundError', async () => {
    await expectError(lk.keys.get('key_01aaaaaaaaaaaaaaaaaaaaaaaa'), NotFoundError, 404, 'not_found');
    await expectError(lk.secrets.get('NOPE'), NotFoundError, 404, 'not_found');
  });

  it('409 ConflictError', async () => {
    const key = await lk.keys.create({ name: 'conflict' });
    await lk.keys.revoke(key.id);
    await expectError(lk.keys.rotate(key.id), ConflictError, 409, 'conflict');
  });

  it('413 PayloadTooLargeError', async () => {
    await expectError(lk.projects.create({ name: 'x'.repeat(70_000) }), PayloadTooLargeError, 413, 'payload_too_large');
  });

  it('429 RateLimitError with retryAfter, thrown at once when Retry-After is over a minute away', async () => {
    const limited = await lk.keys.create({ name: 'one a minute', rateLimitPerMinute: 1 });
    const { fetch, statuses } = recordingFetch();
    const client = new Latchkey({ apiKey: limited.key, baseUrl: server.url, maxRetries: 0, fetch });
    await client.me();
    const e = await expectError(client.me(), RateLimitError, 429, 'rate_limited');
    assert.ok(e.retryAfter !== undefined && e.retryAfter >= 50 && e.retryAfter <= 60, `retryAfter ${e.retryAfter}`);
    assert.equal(e.headers?.get('ratelimit-limit'), '1');

    // With retries allowed, a wait of about 60 s is not taken: thrown at once.
    const started = Date.now();
    await expectError(client.me({ maxRetries: 2 }), RateLimitError, 429, 'rate_limited');
    assert.ok(Date.now() - started < 5_000);
    assert.deepEqual(statuses, [200, 429, 429]);
  });
});

describe('failures to get an answer', () => {
  it('APIConnectionError when nothing listens', async () => {
    const port = await closedPort();
    const client = new Latchkey({ apiKey: 'lk_live_x', baseUrl: `http://127.0.0.1:${port}`, maxRetries: 0 });
    const e = await expectError(client.me(), APIConnectionError, undefined, 'connection_error');
    assert.match(e.message, /ECONNREFUSED/);
    assert.ok(!(e instanceof APITimeoutError));
  });

  it('APITimeoutError when the server does not answer in time', async () => {
    const silent = await silentServer();
    try {
      const client = new Latchkey({ apiKey: 'lk_live_x', baseUrl: silent.url, timeoutMs: 300, maxRetries: 0 });
      const started = Date.now();
      const e = await expectError(client.me(), APITimeoutError, undefined, 'timeout');
      assert.ok(e instanceof APIConnectionError, 'a timeout is a connection error');
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 3_000, `${elapsed} ms`);
    } finally {
      await silent.close();
    }
  });

  it("APIUserAbortError when the caller's signal aborts", async () => {
    const silent = await silentServer();
    try {
      const client = new Latchkey({ apiKey: 'lk_live_x', baseUrl: silent.url, maxRetries: 2 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      await expectError(client.me({ signal: controller.signal }), APIUserAbortError, undefined, 'aborted');
      assert.equal(silent.requests(), 1, 'an abort is not retried');
    } finally {
      await silent.close();
    }
  });

  it('LatchkeyError invalid_response when a 200 is not JSON (something else answers at the URL)', async () => {
    const other = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'x-request-id': 'other-1' }).end('<html>a proxy page</html>');
    });
    await new Promise<void>((ok) => other.listen(0, '127.0.0.1', ok));
    try {
      const { port } = other.address() as AddressInfo;
      const client = new Latchkey({ apiKey: 'lk_live_x', baseUrl: `http://127.0.0.1:${port}`, maxRetries: 0 });
      const e = await expectError(client.me(), LatchkeyError, 200, 'invalid_response');
      assert.equal(e.requestId, 'other-1');
    } finally {
      other.closeAllConnections();
      await new Promise<void>((ok) => other.close(() => ok()));
    }
  });
});
