// A real OpenID provider for latchkey's sign-in tests (issue 22): panva's
// oidc-provider on a loopback port, configured and driven over HTTP by the
// Rust harness (crates/latchkey/tests/it/idp.rs).
//
//   node tests/idp/server.mjs [--port N]     (0 or absent: an ephemeral port)
//
// It prints one line on stdout, `idp listening on http://127.0.0.1:PORT` (the
// issuer), when ready, and logs to stderr. It exits when its stdin reaches
// EOF (so the test process that started it takes it down when it dies) and
// on SIGTERM/SIGINT.
//
// What a test gets:
// - the authorization code flow with PKCE (S256, required), confidential
//   clients authenticating with client_secret_basic or client_secret_post,
//   scopes openid email profile (and repo, read:user: below), `iss` in
//   authorization responses (RFC 9207),
//   RS256 ID tokens signed by a key made at start (published at jwks_uri);
// - a GitHub-like OAuth 2.0 server for the connected-apps tests (issue 23,
//   oauth.mjs): scopes repo and read:user, requests without openid, refresh
//   tokens with rotation and reuse detection, access token lifetimes per
//   client, GET /user (the account behind an access token with read:user),
//   the revocation endpoint (RFC 7009, /token/revocation: revoking an access
//   or refresh token revokes its whole grant);
// - a control API (latchkey's port is not known when the IdP starts):
//     POST /__test/clients  {client_id, client_secret, redirect_uris,
//                            grant_types?, access_token_ttl?}            → 204
//       (grant_types ["authorization_code"] by default, or with
//       "refresh_token"; access_token_ttl in seconds, an hour by default)
//     POST /__test/users    {sub, email, email_verified, name, tamper?, deny?} → 204
//     POST /__test/default-user {sub, client_id?}                         → 204
//     POST /__test/token-outage {client_id, seconds}                      → 204
//       (the token endpoint answers that client 503 temporarily_unavailable
//       for that long: a provider that is down)
//     POST /__test/revoke-grant {sub, client_id}                          → 200 {revoked: N}
//       (the user's grants to the client end, with every token of them, as
//       when a person revokes an app at the provider: the next refresh gets
//       invalid_grant)
//     GET  /__test/stats?client_id=ID → 200 {refresh_grants, refresh_grant_errors}
//       (token endpoint requests with grant_type=refresh_token by that
//       client, and how many of them were refused)
//     GET  /__test/tokens?client_id=ID → 200 {tokens: [...]}
//       (every access and refresh token the token endpoint issued to that
//       client, in order)
//   (a default user per client lets tests that run at the same time each
//   have their own; without client_id it is the default for every client);
// - an interaction without a form: it signs in the user named by the
//   request's login_hint (a sub), else the client's default user, else the
//   default user, and grants what was asked, with redirects only (each
//   authorization request starts without a session, so a browser that signed
//   in before gets the user its new request names). An unknown
//   user ends the request with error=login_required, a user with `deny` with
//   error=access_denied;
// - per-user tampering (`tamper`), so that tests see latchkey refuse bad
//   answers of a real provider: foreign_key, wrong_aud, wrong_nonce,
//   expired, wrong_iss, alg_none (the ID token from the token endpoint) and
//   iss_param (the `iss` of the redirect back to the client).

import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import * as jose from 'jose';

import {
  OAUTH_SCOPES,
  countRefreshGrants,
  oauthClientOptions,
  oauthConfiguration,
  refreshStatsOf,
  issuedTokensOf,
  setAccessTokenTtl,
  setTokenOutage,
  tokenOutage,
  userEndpoint,
} from './oauth.mjs';

// stdout carries the ready line only: oidc-provider prints its notices with
// console.info, so everything but that line goes to stderr. (The import is
// dynamic so that this runs first.)
console.log = console.info = console.debug = console.error;
const { default: Provider } = await import('oidc-provider');

const { values: args } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`idp: --port must be a port number, not ${args.port}`);
  process.exit(2);
}

const OTHER_ISSUER = 'http://127.0.0.1:1/other';
const TAMPERS = new Set(['foreign_key', 'wrong_aud', 'wrong_nonce', 'expired', 'wrong_iss', 'alg_none', 'iss_param']);

/** Registered clients (client_id → metadata), filled by POST /__test/clients. */
const clients = new Map();
/** Test users (sub → {sub, email, email_verified, name, tamper, deny}). */
const users = new Map();
/** Who signs in when the authorization request has no login_hint: per client, else for all. */
const defaultSubs = new Map();
let defaultSub;
/** Interactions (uid) whose redirect back to the client gets a wrong `iss`. */
const issTampered = new Set();

// The signing key, and another one under the same kid for `foreign_key`.
const kid = `idp-${randomBytes(6).toString('hex')}`;
const signing = await jose.generateKeyPair('RS256', { extractable: true });
const foreign = await jose.generateKeyPair('RS256');
const signingJwk = { ...(await jose.exportJWK(signing.privateKey)), kid, alg: 'RS256', use: 'sig' };

/**
 * In-memory storage for oidc-provider's models; the Client model reads the
 * clients registered through the control API. Entries expire as the
 * provider asks; the process is short-lived.
 */
const stored = new Map();
const grantMembers = new Map();
const sessionsByUid = new Map();
const byUserCode = new Map();
class Adapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    stored.set(key, { payload, expiresAt });
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
    if (this.model === 'Session') sessionsByUid.set(payload.uid, id);
    if (payload.userCode) byUserCode.set(payload.userCode, id);
  }

  async find(id) {
    if (this.model === 'Client') return clients.get(id);
    const key = this.key(id);
    const entry = stored.get(key);
    if (entry && entry.expiresAt <= Date.now()) {
      stored.delete(key);
      return undefined;
    }
    return entry?.payload;
  }

  async findByUid(uid) {
    return this.find(sessionsByUid.get(uid));
  }

  async findByUserCode(userCode) {
    return this.find(byUserCode.get(userCode));
  }

  async consume(id) {
    const entry = stored.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    stored.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) ?? []) stored.delete(key);
    grantMembers.delete(grantId);
  }
}

/**
 * Ends every grant of user `sub` to `clientId`, with every token and code
 * of it; returns how many grants there were.
 */
async function revokeGrants(sub, clientId) {
  let revoked = 0;
  for (const [key, { payload, expiresAt }] of stored) {
    if (!key.startsWith('Grant:') || expiresAt <= Date.now()) continue;
    if (payload.accountId !== sub || payload.clientId !== clientId) continue;
    const grantId = key.slice('Grant:'.length);
    for (const member of grantMembers.get(grantId) ?? []) stored.delete(member);
    grantMembers.delete(grantId);
    stored.delete(key);
    revoked += 1;
  }
  return revoked;
}

/**
 * Starts the provider for `issuer` (known once the port is bound).
 * @param {string} issuer
 */
function makeProvider(issuer) {
  const provider = new Provider(issuer, {
    adapter: Adapter,
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    scopes: ['openid', 'email', 'profile', ...OAUTH_SCOPES],
    // The scopes' claims in the ID token too, not only at userinfo.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    // PKCE is required of every client: a relying party that forgets it fails.
    pkce: { required: () => true },
    ...oauthConfiguration,
    ttl: { ...oauthConfiguration.ttl, AuthorizationCode: 60, Grant: 86400, IdToken: 3600, Interaction: 600, Session: 3600 },
    features: { devInteractions: { enabled: false }, revocation: { enabled: true } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const user = users.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: user.email,
            email_verified: user.email_verified,
            name: user.name,
            preferred_username: user.email,
          };
        },
      };
    },
  });
  for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error', 'revocation.error']) {
    provider.on(event, (_ctx, err) => {
      const why = [err.error_description, err.error_detail].filter(Boolean).join('; ');
      console.error(`idp: ${event}: ${err.message}${why ? ` (${why})` : ''}`);
    });
  }
  provider.use(logRequests);
  provider.use((ctx, next) => controlApi(provider, ctx, next));
  provider.use((ctx, next) => userEndpoint(provider, users, ctx, next));
  provider.use(tokenOutage);
  provider.use(countRefreshGrants);
  provider.use((ctx, next) => freshSession(provider, ctx, next));
  provider.use((ctx, next) => interaction(provider, ctx, next));
  provider.use(tamperIdTokens);
  provider.use(tamperIssParam);
  return provider;
}

/** One stderr line per request: method, path (never the query) and status. */
async function logRequests(ctx, next) {
  try {
    await next();
  } finally {
    console.error(`idp: ${ctx.method} ${ctx.path} -> ${ctx.status}`);
  }
}

/** Reads a JSON request body. */
async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const isString = (v) => typeof v === 'string' && v.length > 0;

/**
 * POST /__test/{clients,users,default-user,token-outage,revoke-grant}: what a
 * test sets up or does at the provider; GET /__test/stats and /__test/tokens:
 * what the provider saw and issued.
 */
async function controlApi(provider, ctx, next) {
  if (!ctx.path.startsWith('/__test/')) return next();
  if (ctx.path === '/__test/stats' || ctx.path === '/__test/tokens') {
    if (ctx.method !== 'GET') {
      ctx.status = 405;
      return undefined;
    }
    const clientId = ctx.query.client_id;
    if (!isString(clientId)) {
      ctx.status = 400;
      ctx.body = { error: 'client_id (one, in the query) is required' };
      return undefined;
    }
    ctx.body = ctx.path === '/__test/stats' ? refreshStatsOf(clientId) : { tokens: issuedTokensOf(clientId) };
    return undefined;
  }
  if (ctx.method !== 'POST') {
    ctx.status = 405;
    return undefined;
  }
  let body;
  try {
    body = await readJson(ctx.req);
  } catch (err) {
    ctx.status = 400;
    ctx.body = { error: `the body must be JSON: ${err.message}` };
    return undefined;
  }
  const refuse = (message) => {
    ctx.status = 400;
    ctx.body = { error: message };
  };
  switch (ctx.path) {
    case '/__test/clients': {
      const { client_id, client_secret, redirect_uris } = body;
      if (!isString(client_id) || !isString(client_secret) || !Array.isArray(redirect_uris)) {
        return refuse('client_id, client_secret (strings) and redirect_uris (an array) are required');
      }
      const options = oauthClientOptions(body);
      if (options.error) return refuse(options.error);
      const metadata = {
        client_id,
        client_secret,
        redirect_uris,
        grant_types: options.grantTypes,
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      };
      try {
        await provider.Client.validate(metadata);
      } catch (err) {
        return refuse(`invalid client: ${err.error_description ?? err.message}`);
      }
      clients.set(client_id, metadata);
      setAccessTokenTtl(client_id, options.accessTokenTtl);
      break;
    }
    case '/__test/users': {
      const { sub, email, email_verified, name, tamper, deny } = body;
      if (!isString(sub) || !isString(email) || typeof email_verified !== 'boolean' || !isString(name)) {
        return refuse('sub, email, name (strings) and email_verified (a boolean) are required');
      }
      if (tamper != null && !TAMPERS.has(tamper)) {
        return refuse(`tamper must be one of ${[...TAMPERS].join(', ')}`);
      }
      if (deny != null && typeof deny !== 'boolean') return refuse('deny must be a boolean');
      users.set(sub, { sub, email, email_verified, name, tamper: tamper ?? null, deny: deny ?? false });
      break;
    }
    case '/__test/default-user': {
      if (!isString(body.sub)) return refuse('sub (a string) is required');
      if (body.client_id == null) defaultSub = body.sub;
      else if (isString(body.client_id)) defaultSubs.set(body.client_id, body.sub);
      else return refuse('client_id must be a string');
      break;
    }
    case '/__test/token-outage': {
      const { client_id, seconds } = body;
      if (!isString(client_id) || typeof seconds !== 'number' || !(seconds >= 0 && seconds <= 600)) {
        return refuse('client_id (a string) and seconds (0-600) are required');
      }
      setTokenOutage(client_id, seconds);
      break;
    }
    case '/__test/revoke-grant': {
      if (!isString(body.sub) || !isString(body.client_id)) return refuse('sub and client_id (strings) are required');
      ctx.body = { revoked: await revokeGrants(body.sub, body.client_id) };
      console.error(`idp: revoked ${ctx.body.revoked} grant(s) of ${body.sub} to ${body.client_id}`);
      return undefined;
    }
    default:
      ctx.status = 404;
      return undefined;
  }
  ctx.status = 204;
  return undefined;
}

/**
 * /auth (the authorization endpoint): every authorization request starts
 * without a session, so that its login_hint (or the default user) decides
 * who signs in even in a browser that signed in before. The request's
 * session cookie is ignored and the browser told to forget it.
 */
async function freshSession(provider, ctx, next) {
  if (ctx.path !== '/auth') return next();
  const name = provider.cookieName('session');
  const isSession = (cookie) => cookie.startsWith(`${name}=`) || cookie.startsWith(`${name}.sig=`);
  const cookies = (ctx.get('Cookie') || '').split(/;\s*/).filter(Boolean);
  if (!cookies.some(isSession)) return next();
  ctx.req.headers.cookie = cookies.filter((cookie) => !isSession(cookie)).join('; ');
  await next();
  const set = [ctx.response.get('Set-Cookie') || []].flat();
  if (set.some(isSession)) return undefined;
  for (const cookie of [name, `${name}.sig`]) {
    ctx.append('Set-Cookie', `${cookie}=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=lax`);
  }
  return undefined;
}

/**
 * GET /interaction/:uid: signs in the user the request names (login_hint,
 * else the default user) and grants what it asks, or ends it with
 * login_required (no such user) or access_denied (a user with `deny`).
 */
async function interaction(provider, ctx, next) {
  const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (!match || ctx.method !== 'GET') return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { params, uid } = details;
  const sub = params.login_hint ?? defaultSubs.get(params.client_id) ?? defaultSub;
  const user = sub === undefined ? undefined : users.get(sub);
  let result;
  if (!user) {
    result = {
      error: 'login_required',
      error_description: sub === undefined ? 'no login_hint and no default user' : 'the test IdP has no such user',
    };
  } else if (user.deny) {
    result = { error: 'access_denied', error_description: 'the user refused the authorization' };
  } else {
    const grant = new provider.Grant({ accountId: user.sub, clientId: params.client_id });
    // A plain OAuth request (no openid) may come without a scope at all.
    if (params.scope) grant.addOIDCScope(params.scope);
    if (params.claims) {
      const requested = JSON.parse(params.claims);
      grant.addOIDCClaims(Object.keys({ ...requested.id_token, ...requested.userinfo }));
    }
    result = { login: { accountId: user.sub }, consent: { grantId: await grant.save() } };
  }
  if (user?.tamper === 'iss_param') issTampered.add(uid);
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(returnTo);
  return undefined;
}

/** Signs a JWS with header `header` over the claims `payload`. */
function sign(header, payload, key) {
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader(header).sign(key);
}

/** POST /token: the ID token of a user with a `tamper` mode is replaced. */
async function tamperIdTokens(ctx, next) {
  await next();
  const idToken = ctx.path === '/token' && ctx.body?.id_token;
  if (typeof idToken !== 'string') return;
  const claims = jose.decodeJwt(idToken);
  const header = jose.decodeProtectedHeader(idToken);
  const tamper = users.get(claims.sub)?.tamper;
  const now = Math.floor(Date.now() / 1000);
  let replaced;
  switch (tamper) {
    case 'foreign_key':
      replaced = await sign(header, claims, foreign.privateKey);
      break;
    case 'wrong_aud':
      replaced = await sign(header, { ...claims, aud: 'someone-else' }, signing.privateKey);
      break;
    case 'wrong_nonce':
      replaced = await sign(header, { ...claims, nonce: randomBytes(16).toString('base64url') }, signing.privateKey);
      break;
    case 'expired':
      replaced = await sign(header, { ...claims, iat: now - 3600, exp: now - 3600 }, signing.privateKey);
      break;
    case 'wrong_iss':
      replaced = await sign(header, { ...claims, iss: OTHER_ISSUER }, signing.privateKey);
      break;
    case 'alg_none': {
      const encode = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
      replaced = `${encode({ alg: 'none' })}.${encode(claims)}.`;
      break;
    }
    default:
      return;
  }
  console.error(`idp: tampered the ID token for ${claims.sub} (${tamper})`);
  ctx.body = { ...ctx.body, id_token: replaced };
}

/** GET /auth/:uid (the resume): the redirect of an `iss_param` user gets another issuer. */
async function tamperIssParam(ctx, next) {
  await next();
  const match = /^\/auth\/([^/]+)$/.exec(ctx.path);
  const location = ctx.response.get('Location');
  if (!match || !issTampered.has(match[1]) || !location) return;
  const url = new URL(location);
  if (!url.searchParams.has('iss')) return;
  issTampered.delete(match[1]);
  url.searchParams.set('iss', OTHER_ISSUER);
  ctx.set('Location', url.href);
  console.error('idp: tampered the iss parameter of an authorization response');
}

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  server.on('request', makeProvider(issuer).callback());
  process.stdout.write(`idp listening on ${issuer}\n`);
});

const stop = (why) => {
  console.error(`idp: stopping (${why})`);
  process.exit(0);
};
process.stdin.on('end', () => stop('stdin closed'));
process.stdin.on('error', () => stop('stdin error'));
process.stdin.resume();
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
