/**
 * Retries against real failures: a 429 of a key's rate limit (honouring
 * `Retry-After`), a 503 of a latchkey whose PostgreSQL database stopped
 * accepting connections, and connection errors; and what is never retried.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { APIConnectionError, APITimeoutError, InternalServerError, Latchkey, NotFoundError } from '../src/index.js';
import {
  NO_POSTGRES,
  POSTGRES_URL,
  closedPort,
  freshDatabase,
  recordingFetch,
  silentServer,
  startServer,
  tcpProxy,
} from './helpers/server.js';
import type { TestServer } from './helpers/server.js';


describe('against a real 429', () => {
  let server: TestServer;
  let lk: Latchkey;
  before(async () => {
    server = await startServer();
    lk = new Latchkey({ apiKey: server.apiKey, baseUrl: server.url });
  });
  after(async () => {
    await server?.stop();
  });

  it('waits Retry-After, then succeeds, even for a POST', async () => {
    // 60 a minute: a burst of 60, then one a second (Retry-After: 1).
    const limited = await lk.keys.create({ name: 'sixty', rateLimitPerMinute: 60 });
    const { fetch, statuses } = recordingFetch();
    const client = new Latchkey({ apiKey: limited.key, baseUrl: server.url, fetch, maxRetries: 2 });
    const exhaust = async (): Promise<void> => {
      for (;;) {
        const res = await fetch(`${server.url}/v1/me`, { headers: { 'x-api-key': limited.key } });
        await res.body?.cancel();
        if (res.status === 429) return;
      }
    };
    /** Runs `call` on an exhausted key until its first attempt met the 429 (a slot may free in between). */
    const afterA429 = async <T>(call: () => Promise<T>): Promise<{ value: T; ms: number }> => {
      for (let round = 0; round < 5; round++) {
        await exhaust();
        statuses.length = 0;
        const started = Date.now();
        const value = await call();
        if (statuses[0] === 429) return { value, ms: Date.now() - started };
      }
      throw new Error('never met the 429');
    };

    const me = await afterA429(() => client.me());
    assert.equal(me.value.keyId, limited.id);
    assert.deepEqual(statuses, [429, 200]);
    assert.ok(me.ms >= 1_000, `waited the Retry-After second (${me.ms} ms)`);

    const project = await afterA429(() => client.projects.create({ name: 'after a 429' }));
    assert.equal(project.value.name, 'after a 429');
    assert.deepEqual(statuses, [429, 201]);
    assert.ok(project.ms >= 1_000, `${project.ms} ms`);
  });

  it('never retries other refusals', async () => {
    const { fetch, statuses } = recordingFetch();
    const client = new Latchkey({ apiKey: server.apiKey, baseUrl: server.url, fetch, maxRetries: 3 });
    await assert.rejects(client.keys.get('key_01aaaaaaaaaaaaaaaaaaaaaaaa'), NotFoundError);
    await assert.rejects(client.keys.create({ name: '' }), { status: 400 });
    assert.deepEqual(statuses, [404, 400]);
  });
});

describe('against a real 503 (PostgreSQL unreachable)', { skip: NO_POSTGRES && 'LATCHKEY_TEST_BACKENDS=sqlite' }, () => {
  // latchkey reaches PostgreSQL through a proxy of the test's own, which the
  // test closes (every connection cut, new ones refused) and opens again.
  const base = POSTGRES_URL;
  const database = freshDatabase();
  let server: TestServer | undefined;
  let proxy: Awaited<ReturnType<typeof tcpProxy>>;

  before(async () => {
    proxy = await tcpProxy(base.hostname, Number(base.port || '5432'));
    const url = new URL(base.href);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    url.pathname = `/${database.name}`;
    server = await startServer({ databaseUrl: url.href });
  });
  after(async () => {
    await server?.stop();
    await proxy?.cut();
    await database.drop();
  });

  it('a write answers 503 InternalServerError while the database is unreachable, and a retry succeeds once it is back', async () => {
    assert.ok(server);
    const { fetch, statuses } = recordingFetch();
    const lk = new Latchkey({ apiKey: server.apiKey, baseUrl: server.url, fetch, timeoutMs: 20_000 });
    await lk.me(); // the admin's key is now cached: it keeps authenticating without the database

    await proxy.cut();
    const refused = await lk.projects.create({ name: 'during the outage' }, { maxRetries: 0 }).catch((e: unknown) => e);
    assert.ok(refused instanceof InternalServerError, String(refused));
    assert.equal(refused.status, 503);
    assert.equal(refused.code, 'unavailable');

    // The next attempt's 503 lets the database back in: the retry gets through.
    statuses.length = 0;
    let restored = false;
    const retrying = new Latchkey({
      apiKey: server.apiKey,
      baseUrl: server.url,
      timeoutMs: 20_000,
      maxRetries: 4,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (res.status === 503 && !restored) {
          restored = true;
          await proxy.restore();
        }
        return res;
      },
    });
    const project = await retrying.projects.create({ name: 'after the outage' });
    assert.equal(project.name, 'after the outage');
    assert.equal(statuses[0], 503);
    assert.equal(statuses.at(-1), 201);
    assert.ok(statuses.slice(1, -1).every((s) => s === 503), statuses.join(','));
  });
});

describe('connection errors', () => {
  it('are retried when nothing listens, a POST too (it never reached a server)', async () => {
    const port = await closedPort();
    const { fetch, statuses } = recordingFetch();
    const client = new Latchkey({ apiKey: 'lk_live_x', baseUrl: `http://127.0.0.1:${port}`, fetch, maxRetries: 2 });
    await assert.rejects(client.projects.create({ name: 'x' }), APIConnectionError);
    assert.deepEqual(statuses, ['error', 'error', 'error']);
  });

  it('a timed-out GET is retried; a timed-out POST is not (it may have reached the server)', async () => {
    const silent = await silentServer();
    try {
      const client = new Latchkey({ apiKey: 'lk_live_x', baseUrl: silent.url, timeoutMs: 200, maxRetries: 1 });
      await assert.rejects(client.me(), APITimeoutError);
      assert.equal(silent.requests(), 2);
      await assert.rejects(client.projects.create({ name: 'x' }), APITimeoutError);
      assert.equal(silent.requests(), 3);
    } finally {
      await silent.close();
    }
  });
});
