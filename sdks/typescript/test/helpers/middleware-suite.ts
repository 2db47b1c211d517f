/**
 * The behaviour both middlewares share, tested on a small app of each
 * framework against a live latchkey: valid, missing, malformed, revoked,
 * wrong-scope, rate-limited and out-of-credit keys, the hooks, and
 * fail-closed / fail-open when latchkey cannot be reached.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Latchkey } from '../../src/index.js';
import type { AuthOptions } from '../../src/middleware/core.js';
import { closedPort, recordingFetch, startServer } from './server.js';
import type { TestServer } from './server.js';

/** A running app: `GET /v1/sandboxes` protected, answering what the middleware put on the request. */
export interface RunningApp {
  url: string;
  close(): Promise<void>;
}

/**
 * Builds and starts the framework's app. With `hooks`, the middleware gets:
 * `getKey` reading `?api_key=`, `clientIp` reading `X-Client-Address`,
 * `onInvalid` answering 404 `{"hidden": code}`,
 * `onError` answering 502 `{"latchkey": "down"}`.
 */
export type StartApp = (options: AuthOptions, hooks: boolean) => Promise<RunningApp>;

/** What the protected route answers. */
export interface Seen {
  keyId: string | null;
  orgId: string | null;
  verdictIsNull: boolean;
}

export function middlewareSuite(framework: string, startApp: StartApp): void {
  describe(`${framework} middleware`, () => {
    let server: TestServer;
    let lk: Latchkey;
    const apps: RunningApp[] = [];
    const start = async (options: AuthOptions, hooks = false): Promise<RunningApp> => {
      const app = await startApp(options, hooks);
      apps.push(app);
      return app;
    };
    const get = async (
      app: RunningApp,
      headers: Record<string, string> = {},
      path = '/v1/sandboxes',
    ): Promise<{ status: number; headers: Headers; body: unknown }> => {
      const res = await fetch(app.url + path, { headers });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
    };
    const mint = async (body: Parameters<Latchkey['keys']['create']>[0]): Promise<{ id: string; key: string }> => {
      const created = await lk.keys.create(body);
      return { id: created.id, key: created.key };
    };

    before(async () => {
      server = await startServer();
      lk = new Latchkey({ apiKey: server.apiKey, baseUrl: server.url });
    });
    after(async () => {
      for (const app of apps) await app.close();
      await server?.stop();
    });

    it('lets a valid key through with its verdict, from X-API-Key or Authorization: Bearer', async () => {
      const app = await start({ client: lk, scopes: ['sandbox:read'] });
      const { id, key } = await mint({ name: 'reader', scopes: ['sandbox:read'] });
      for (const headers of [{ 'x-api-key': key }, { authorization: `Bearer ${key}` }] as Record<string, string>[]) {
        const res = await get(app, headers);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(res.body, { keyId: id, orgId: server.orgId, verdictIsNull: false } satisfies Seen);
      }
    });

    it('answers 401 in the envelope to a missing key, without asking latchkey', async () => {
      const { fetch, statuses } = recordingFetch();
      const client = new Latchkey({ apiKey: server.apiKey, baseUrl: server.url, fetch });
      const app = await start({ client });
      for (const headers of [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer ' }] as Record<string, string>[]) {
        const res = await get(app, headers);
        assert.equal(res.status, 401);
        assert.deepEqual(res.body, { error: { code: 'unauthorized', message: 'Invalid or missing authentication' } });
      }
      assert.deepEqual(statuses, []);
    });

    it('answers 401 to malformed, unknown and revoked keys', async () => {
      const app = await start({ client: lk });
      const revoked = await mint({ name: 'revoked' });
      await lk.keys.revoke(revoked.id);
      const deleted = await mint({ name: 'deleted' });
      await lk.keys.delete(deleted.id);
      for (const key of ['not-a-key', deleted.key, revoked.key]) {
        const res = await get(app, { 'x-api-key': key });
        assert.equal(res.status, 401, key);
        assert.deepEqual(res.body, { error: { code: 'unauthorized', message: 'Invalid or missing authentication' } });
      }
    });

    it('answers 403 insufficient_scope to a key without the scope', async () => {
      const app = await start({ client: lk, scopes: ['sandbox:write'] });
      const { key } = await mint({ name: 'reader only', scopes: ['sandbox:read'] });
      const res = await get(app, { 'x-api-key': key });
      assert.equal(res.status, 403);
      assert.deepEqual(res.body, { error: { code: 'insufficient_scope', message: 'this key lacks a required scope' } });
    });

    it("sends the client's address: a key bound to networks passes only from them", async () => {
      const app = await start({ client: lk });
      const loopback = await mint({ name: 'loopback only', allowedCidrs: ['127.0.0.0/8'] });
      const elsewhere = await mint({ name: 'elsewhere only', allowedCidrs: ['203.0.113.0/24', '2001:db8::/32'] });
      assert.equal((await get(app, { 'x-api-key': loopback.key })).status, 200, 'the peer 127.0.0.1 is sent');
      const refused = await get(app, { 'x-api-key': elsewhere.key });
      assert.equal(refused.status, 403);
      assert.deepEqual(refused.body, {
        error: { code: 'ip_not_allowed', message: 'this key may not be used from this address' },
      });

      const hooked = await start({ client: lk }, true);
      const from = async (address: string | undefined): Promise<{ status: number; body: unknown }> => {
        const headers: Record<string, string> = address === undefined ? {} : { 'x-client-address': address };
        const res = await fetch(`${hooked.url}/v1/sandboxes?api_key=${encodeURIComponent(elsewhere.key)}`, { headers });
        return { status: res.status, body: await res.json() };
      };
      for (const inside of ['203.0.113.20', '2001:db8::5', '::ffff:203.0.113.9']) {
        assert.equal((await from(inside)).status, 200, inside);
      }
      for (const outside of ['198.51.100.1', '127.0.0.1', 'not an address', '203.0.113.300', undefined]) {
        assert.deepEqual(await from(outside), { status: 404, body: { hidden: 'ip_not_allowed' } }, String(outside));
      }
    });

    it('answers 429 with Retry-After to a rate-limited key, and to one out of credits', async () => {
      const app = await start({ client: lk });
      const limited = await mint({ name: 'one a minute', rateLimitPerMinute: 1 });
      assert.equal((await get(app, { 'x-api-key': limited.key })).status, 200);
      const res = await get(app, { 'x-api-key': limited.key });
      assert.equal(res.status, 429);
      assert.deepEqual(res.body, { error: { code: 'rate_limited', message: 'rate limit exceeded for this key' } });
      const retryAfter = Number(res.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.equal(res.headers.get('ratelimit-limit'), '1');
      assert.equal(res.headers.get('ratelimit-remaining'), '0');

      const spent = await mint({ name: 'one credit', remaining: 1 });
      assert.equal((await get(app, { 'x-api-key': spent.key })).status, 200);
      const out = await get(app, { 'x-api-key': spent.key });
      assert.equal(out.status, 429);
      assert.deepEqual(out.body, { error: { code: 'rate_limited', message: 'this key has no usage credits left' } });
      assert.equal(out.headers.get('retry-after'), '60');
    });

    it('hooks: getKey reads the key elsewhere, onInvalid answers refusals', async () => {
      const app = await start({ client: lk, scopes: ['sandbox:read'] }, true);
      const { id, key } = await mint({ name: 'query', scopes: ['sandbox:read'] });
      const ok = await get(app, {}, `/v1/sandboxes?api_key=${encodeURIComponent(key)}`);
      assert.equal(ok.status, 200);
      assert.equal((ok.body as Seen).keyId, id);
      const missing = await get(app, { 'x-api-key': key });
      assert.equal(missing.status, 404, 'getKey replaces the default reading');
      assert.deepEqual(missing.body, { hidden: 'unauthorized' });
      const { key: writer } = await mint({ name: 'writer', scopes: ['sandbox:write'] });
      const wrong = await get(app, {}, `/v1/sandboxes?api_key=${encodeURIComponent(writer)}`);
      assert.deepEqual([wrong.status, wrong.body], [404, { hidden: 'insufficient_scope' }]);
    });

    it('fails closed by default when latchkey is unreachable: 503 unavailable', async () => {
      const down = new Latchkey({ apiKey: server.apiKey, baseUrl: `http://127.0.0.1:${await closedPort()}`, maxRetries: 0 });
      const app = await start({ client: down });
      const { key } = await mint({ name: 'valid' });
      const res = await get(app, { 'x-api-key': key });
      assert.equal(res.status, 503);
      assert.deepEqual(res.body, { error: { code: 'unavailable', message: 'the API key cannot be verified now; retry' } });
      assert.equal(res.headers.get('retry-after'), '1');
    });

    it("fails open when asked: the request goes through with a null verdict, a missing key still doesn't", async () => {
      const down = new Latchkey({ apiKey: server.apiKey, baseUrl: `http://127.0.0.1:${await closedPort()}`, maxRetries: 0 });
      const app = await start({ client: down, failureMode: 'open' });
      const res = await get(app, { 'x-api-key': 'lk_live_whatever' });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { keyId: null, orgId: null, verdictIsNull: true } satisfies Seen);
      assert.equal((await get(app)).status, 401);
    });

    it('onError decides instead of failureMode', async () => {
      const down = new Latchkey({ apiKey: server.apiKey, baseUrl: `http://127.0.0.1:${await closedPort()}`, maxRetries: 0 });
      const app = await start({ client: down, failureMode: 'open' }, true);
      const res = await get(app, {}, '/v1/sandboxes?api_key=lk_live_whatever');
      assert.deepEqual([res.status, res.body], [502, { latchkey: 'down' }]);
    });

    it('a service key latchkey refuses is 500, never a way in, even failing open', async () => {
      const wrong = new Latchkey({ apiKey: 'lk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', baseUrl: server.url, maxRetries: 0 });
      const app = await start({ client: wrong, failureMode: 'open' });
      const { key } = await mint({ name: 'valid' });
      const res = await get(app, { 'x-api-key': key });
      assert.equal(res.status, 500);
      assert.deepEqual(res.body, { error: { code: 'internal_error', message: 'the API key could not be verified' } });
    });

    it('reads its service key from the environment (LATCHKEY_API_KEY / LATCHKEY_API_URL, or another prefix)', async () => {
      const saved = { ...process.env };
      try {
        delete process.env['LATCHKEY_API_KEY'];
        await assert.rejects(async () => start({}), /no service key/);
        process.env['RUNTOOLS_API_KEY'] = server.apiKey;
        process.env['RUNTOOLS_API_URL'] = server.url;
        const app = await start({ clientOptions: { envPrefix: 'RUNTOOLS' } });
        const { id, key } = await mint({ name: 'env' });
        const res = await get(app, { 'x-api-key': key });
        assert.equal((res.body as Seen).keyId, id);
      } finally {
        for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
        Object.assign(process.env, saved);
      }
    });
  });
}
