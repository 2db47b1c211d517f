/**
 * Connected apps against a live latchkey whose catalog names two providers
 * at a loopback port nothing listens on (what is tested here never reaches
 * a provider; the whole flow through a real provider is the Rust suite's,
 * crates/latchkey/tests/it/oauth/): the providers, an organization's own
 * client (its secret never answered), starting a connect and polling it,
 * waitForConnect on a failed and an aborted connect, the connections, and
 * `oauth.token` for a service key (`connectUrl` on its refusals).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  APIUserAbortError,
  BadRequestError,
  Latchkey,
  NotFoundError,
  PermissionDeniedError,
} from '../src/index.js';
import { RELAXED_LIMITS, closedPort, startServer } from './helpers/server.js';
import { refusal } from './helpers/refusal.js';
import type { TestServer } from './helpers/server.js';

let server: TestServer;
let lk: Latchkey;

/** The organization's own client secret at `bare` (never to be answered). */
const ORG_SECRET = 'org-client-secret-0123456789abcdef';

before(async () => {
  const at = `http://127.0.0.1:${await closedPort()}`;
  const toml = `${RELAXED_LIMITS}
[[oauth.providers]]
id = "octo"
display_name = "Octo"
authorize_url = "${at}/authorize"
token_url = "${at}/token"
revocation_url = "${at}/revoke"
userinfo_url = "${at}/user"
scopes = ["repo", "read:user"]
client_id = "octo-catalog-client"
client_secret = "catalog-client-secret-0123456789"

[[oauth.providers]]
id = "bare"
display_name = "Bare"
authorize_url = "${at}/authorize"
token_url = "${at}/token"
scopes = ["read:user"]
`;
  server = await startServer({ toml });
  lk = new Latchkey({ apiKey: server.apiKey, baseUrl: server.url, maxRetries: 0 });
});
after(async () => {
  await server?.stop();
});

/** The `state` of a connect's `authorizeUrl` (what the provider would send back). */
function stateOf(authorizeUrl: string): string {
  const state = new URL(authorizeUrl).searchParams.get('state');
  assert.ok(state, authorizeUrl);
  return state;
}

describe('providers and organization clients', () => {
  it('lists the catalog as the organization sees it', async () => {
    const providers = await lk.oauth.providers();
    assert.deepEqual(
      providers.map((p) => p.id),
      ['octo', 'bare'],
    );
    const [octo, bare] = providers;
    assert.equal(octo?.displayName, 'Octo');
    assert.deepEqual(octo?.defaultScopes, ['repo', 'read:user']);
    assert.equal(octo?.revokesOnDisconnect, true);
    assert.equal(octo?.configured, true, "the catalog's client");
    assert.ok(octo?.orgClient === undefined || octo.orgClient === null);
    assert.equal(bare?.revokesOnDisconnect, false);
    assert.equal(bare?.configured, false, 'no client yet');
  });

  it("sets and removes the organization's own client; the secret is never answered", async () => {
    const set = await lk.oauth.setClient('bare', { clientId: 'org-client', clientSecret: ORG_SECRET });
    assert.equal(set.id, 'bare');
    assert.equal(set.configured, true);
    assert.equal(set.orgClient?.clientId, 'org-client');
    assert.equal(set.orgClient?.hasClientSecret, true);
    assert.ok(!JSON.stringify(set).includes(ORG_SECRET));
    const listed = await lk.oauth.providers();
    assert.ok(!JSON.stringify(listed).includes(ORG_SECRET));
    assert.equal(listed.find((p) => p.id === 'bare')?.orgClient?.clientId, 'org-client');

    // A public client (no secret), replacing it.
    const open = await lk.oauth.setClient('bare', { clientId: 'public-client' });
    assert.equal(open.orgClient?.hasClientSecret, false);

    await lk.oauth.removeClient('bare');
    assert.equal((await lk.oauth.providers()).find((p) => p.id === 'bare')?.configured, false);
    await refusal(lk.oauth.removeClient('bare'), NotFoundError, 404, 'not_found');
    await refusal(lk.oauth.setClient('nope', { clientId: 'x' }), NotFoundError, 404, 'not_found');
    await refusal(lk.oauth.setClient('bare', { clientId: '' }), BadRequestError, 400, 'invalid_request');
  });

  it('refuses a key without oauth:write', async () => {
    const reader = await lk.keys.create({ name: 'oauth reader', scopes: ['oauth:read'] });
    const client = new Latchkey({ apiKey: reader.key, baseUrl: server.url, maxRetries: 0 });
    assert.equal((await client.oauth.providers()).length, 2);
    await refusal(client.oauth.setClient('bare', { clientId: 'x' }), PermissionDeniedError, 403, 'insufficient_scope');
    await refusal(client.oauth.connect({ provider: 'octo' }), PermissionDeniedError, 403, 'insufficient_scope');
  });
});

describe('connecting', () => {
  it('starts a connect: a latchkey authorization page, pending until the browser comes back', async () => {
    const before = Date.now();
    const started = await lk.oauth.connect({ provider: 'octo', scopes: ['repo'] });
    assert.match(started.id, /^ocr_/);
    const page = new URL(started.authorizeUrl);
    assert.equal(page.origin, new URL(server.url).origin);
    assert.equal(page.pathname, `/v1/oauth/connect/${started.id}/authorize`);
    assert.ok(stateOf(started.authorizeUrl).length >= 40);
    const expires = Date.parse(started.expiresAt);
    assert.ok(expires > before + 9 * 60_000 && expires < Date.now() + 11 * 60_000, started.expiresAt);

    const view = await lk.oauth.getConnect(started.id);
    assert.deepEqual(
      { id: view.id, provider: view.provider, status: view.status, expiresAt: view.expiresAt },
      { id: started.id, provider: 'octo', status: 'pending', expiresAt: started.expiresAt },
    );
    assert.ok(view.connectionId === undefined || view.connectionId === null);
  });

  it('refuses a provider without a client, and one not in the catalog', async () => {
    await refusal(lk.oauth.connect({ provider: 'bare' }), BadRequestError, 400, 'provider_not_configured');
    await refusal(lk.oauth.connect({ provider: 'nope' }), NotFoundError, 404, 'not_found');
    await refusal(lk.oauth.getConnect('ocr_01aaaaaaaaaaaaaaaaaaaaaaaa'), NotFoundError, 404, 'not_found');
  });

  it('waitForConnect resolves with the failed view once the callback fails it', async () => {
    const started = await lk.oauth.connect({ provider: 'octo' });
    const waiting = lk.oauth.waitForConnect(started.id, { intervalMs: 100 });
    await new Promise((r) => setTimeout(r, 300));
    // The provider's answer reaching a browser that is not the requester's
    // (no session at all): the state is used up and the connect fails.
    const browser = new Latchkey({ apiKey: null, baseUrl: server.url, maxRetries: 0 });
    await refusal(
      browser.oauth.callback({ state: stateOf(started.authorizeUrl), code: 'some-code' }),
      PermissionDeniedError,
      403,
      'forbidden',
    );
    const done = await waiting;
    assert.equal(done.id, started.id);
    assert.equal(done.status, 'failed');
    assert.match(done.error ?? '', /^forbidden: /);
    assert.ok(done.connectionId === undefined || done.connectionId === null);
    // Finished: at once, without polling again.
    assert.equal((await lk.oauth.waitForConnect(started.id, { intervalMs: 60_000 })).status, 'failed');
    // The state was used up: the real browser's callback finds nothing.
    await refusal(
      browser.oauth.callback({ state: stateOf(started.authorizeUrl), code: 'some-code' }),
      BadRequestError,
      400,
      'invalid_state',
    );
  });

  it('waitForConnect stops with APIUserAbortError when its signal aborts; the connect stays pending', async () => {
    const started = await lk.oauth.connect({ provider: 'octo' });
    const controller = new AbortController();
    const begun = Date.now();
    setTimeout(() => controller.abort(), 300);
    await refusal(
      lk.oauth.waitForConnect(started.id, { signal: controller.signal, intervalMs: 50 }),
      APIUserAbortError,
      undefined,
      'aborted',
    );
    const elapsed = Date.now() - begun;
    assert.ok(elapsed >= 250 && elapsed < 5_000, `${elapsed} ms`);
    assert.equal((await lk.oauth.getConnect(started.id)).status, 'pending');
    // An aborted signal stops it before any wait.
    const stopped = lk.oauth.waitForConnect(started.id, { signal: AbortSignal.abort() });
    await refusal(stopped, APIUserAbortError, undefined, 'aborted');
  });

  it('another person cannot poll or wait on the connect', async () => {
    const started = await lk.oauth.connect({ provider: 'octo' });
    const anon = new Latchkey({ apiKey: null, baseUrl: server.url, maxRetries: 0 });
    const other = await anon.auth.signup({
      email: 'other@example.com',
      password: 'correct horse battery staple',
      displayName: 'Other',
      orgName: 'Other Org',
    });
    const theirs = new Latchkey({ apiKey: other.token, baseUrl: server.url, maxRetries: 0 });
    await refusal(theirs.oauth.waitForConnect(started.id), NotFoundError, 404, 'not_found');
  });
});

describe('connections and tokens', () => {
  it('lists no connections before any completed connect', async () => {
    assert.deepEqual(await lk.oauth.connections.list(), []);
    assert.deepEqual(await lk.oauth.connections.list({ provider: 'octo' }), []);
    assert.deepEqual(await lk.oauth.connections.list({ allOrg: true }), []);
    await refusal(lk.oauth.connections.setDefault('ocn_01aaaaaaaaaaaaaaaaaaaaaaaa'), NotFoundError, 404, 'not_found');
    await refusal(lk.oauth.connections.delete('ocn_01aaaaaaaaaaaaaaaaaaaaaaaa'), NotFoundError, 404, 'not_found');
  });

  it('token: a service key holding oauth:token gets not_connected with connectUrl', async () => {
    const serviceKey = await server.serviceKey(['oauth:token']);
    const runtime = new Latchkey({ apiKey: serviceKey, baseUrl: server.url, maxRetries: 0 });
    const e = await refusal(
      runtime.oauth.token({ provider: 'octo', userId: server.userId, scopes: ['repo'] }),
      NotFoundError,
      404,
      'not_connected',
    );
    const connect = new URL(e.connectUrl ?? '');
    assert.equal(connect.origin, new URL(server.url).origin);
    assert.equal(connect.pathname, '/dashboard/connected-apps');
    assert.equal(connect.searchParams.get('connect'), 'octo');
    // By the person's email, and with no person (the organization's shared default).
    const byEmail = runtime.oauth.token({ provider: 'octo', userId: server.email });
    assert.equal((await refusal(byEmail, NotFoundError, 404, 'not_connected')).connectUrl, e.connectUrl);
    await refusal(runtime.oauth.token({ provider: 'octo' }), NotFoundError, 404, 'not_connected');
    // A provider outside the catalog has nowhere to connect.
    const unknown = await refusal(runtime.oauth.token({ provider: 'nope' }), NotFoundError, 404, 'not_found');
    assert.equal(unknown.connectUrl, undefined);
  });

  it("token: refused to the admin's own key (oauth:token is reserved), without connectUrl", async () => {
    const e = await refusal(
      lk.oauth.token({ provider: 'octo', userId: server.userId }),
      PermissionDeniedError,
      403,
      'insufficient_scope',
    );
    assert.equal(e.connectUrl, undefined);
    // Nor can an admin mint a key holding it.
    const mint = lk.keys.create({ name: 'sneaky', scopes: ['oauth:token'] });
    const minted = await refusal(mint, PermissionDeniedError, 403, 'insufficient_scope');
    assert.match(minted.message, /create-service-key/);
  });
});
