// The GitHub-like OAuth 2.0 side of the test IdP (issue 23): what latchkey's
// connected-apps tests need of a third-party provider, beside the OpenID
// Connect sign-in of server.mjs (which wires these pieces into oidc-provider).
//
// - Scopes `repo` and `read:user` are known beside openid, email and profile.
//   An authorization request may leave out `openid`, as GitHub's do: it is
//   then a plain OAuth 2.0 request (no ID token, no nonce; oidc-provider
//   refuses `nonce`, `claims` and the like without `openid`).
// - A client registered with grant_types ["authorization_code",
//   "refresh_token"] gets a refresh token with every code (no
//   offline_access scope or consent needed: `issueRefreshToken`), rotated at
//   every use (`rotateRefreshToken`); a rotated refresh token presented again
//   is reuse, and oidc-provider then revokes the whole grant (every access and
//   refresh token of it). Its tokens outlive the IdP's browser session, as a
//   GitHub grant does.
// - Access token lifetimes per client (`access_token_ttl`, in seconds).
// - GET /user: the account behind a bearer access token, GitHub-like, for
//   tokens granted the `read:user` scope (whatever else they have, openid or
//   not): {sub, preferred_username, name, email}, where preferred_username (the
//   login-like label) is the user's email. oidc-provider's own userinfo
//   endpoint (/me) serves only tokens with `openid`, so a GitHub-like client
//   uses /user; /me also has preferred_username (scope profile).
// - Token endpoint refresh_token grants counted per client, for a test
//   that asserts how many refreshes its client made; and the tokens the
//   token endpoint issued per client, for a test that looks for them where
//   they must not be (a client's logs, lists, database).

/** Scopes a GitHub-like client asks for (GitHub's names). */
export const OAUTH_SCOPES = ['repo', 'read:user'];
/** The scope that GET /user requires. */
export const USER_SCOPE = 'read:user';
/** The grant types a client may be registered with. */
const GRANT_TYPES = new Set(['authorization_code', 'refresh_token']);
/** An access token's lifetime unless its client asks for another, in seconds. */
const DEFAULT_ACCESS_TOKEN_TTL = 3600;
/** The longest `access_token_ttl` a client may ask for, in seconds. */
const MAX_ACCESS_TOKEN_TTL = 86400;
/** A refresh token's lifetime, in seconds (a rotated one gets a new one). */
const REFRESH_TOKEN_TTL = 14 * 24 * 3600;

/** Access token lifetimes (seconds) per client_id, from POST /__test/clients. */
const accessTokenTtls = new Map();
/** Refresh grants per client_id: {refresh_grants, refresh_grant_errors}. */
const refreshStats = new Map();
/** Tokens the token endpoint issued per client_id (access and refresh tokens, in order). */
const issuedTokens = new Map();

/**
 * The OAuth options of a client registration body: grant_types (default
 * ["authorization_code"]) and access_token_ttl (seconds, default an hour).
 * @returns {{grantTypes: string[], accessTokenTtl: number} | {error: string}}
 */
export function oauthClientOptions(body) {
  const { grant_types: grantTypes = ['authorization_code'], access_token_ttl: ttl } = body;
  if (
    !Array.isArray(grantTypes)
    || !grantTypes.includes('authorization_code')
    || !grantTypes.every((g) => GRANT_TYPES.has(g))
    || new Set(grantTypes).size !== grantTypes.length
  ) {
    return { error: 'grant_types must be ["authorization_code"] or ["authorization_code", "refresh_token"]' };
  }
  if (ttl != null && !(Number.isInteger(ttl) && ttl >= 1 && ttl <= MAX_ACCESS_TOKEN_TTL)) {
    return { error: `access_token_ttl must be a whole number of seconds from 1 to ${MAX_ACCESS_TOKEN_TTL}` };
  }
  return { grantTypes, accessTokenTtl: ttl ?? DEFAULT_ACCESS_TOKEN_TTL };
}

/** Records a registered client's access token lifetime. */
export function setAccessTokenTtl(clientId, seconds) {
  accessTokenTtls.set(clientId, seconds);
}

/** Whether the client of this request may use refresh tokens. */
const refreshes = (client) => Boolean(client?.grantTypeAllowed('refresh_token'));

/** oidc-provider settings for refresh tokens and token lifetimes (see the top). */
export const oauthConfiguration = {
  issueRefreshToken: async (_ctx, client) => refreshes(client),
  rotateRefreshToken: true,
  // oidc-provider's default ends tokens with the browser session unless
  // offline_access was granted; a refresh-token client's grant outlives it.
  expiresWithSession: async (ctx, source) => !refreshes(ctx.oidc.client) && !source.scopes.has('offline_access'),
  ttl: {
    AccessToken: (_ctx, _token, client) => accessTokenTtls.get(client?.clientId) ?? DEFAULT_ACCESS_TOKEN_TTL,
    RefreshToken: REFRESH_TOKEN_TTL,
  },
};

/**
 * Counts POST /token requests with grant_type=refresh_token per
 * authenticated client, and those answered with an error (reuse of a
 * rotated token, a revoked grant, …). A request whose client fails to
 * authenticate is not counted: it has no client.
 */
export async function countRefreshGrants(ctx, next) {
  try {
    await next();
  } finally {
    if (ctx.method === 'POST' && ctx.path === '/token') {
      const clientId = ctx.oidc?.client?.clientId;
      if (clientId !== undefined && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
        const issued = issuedTokens.get(clientId) ?? [];
        for (const field of ['access_token', 'refresh_token']) {
          if (typeof ctx.body[field] === 'string') issued.push(ctx.body[field]);
        }
        issuedTokens.set(clientId, issued);
      }
      if (clientId !== undefined && ctx.oidc.params?.grant_type === 'refresh_token') {
        const stats = refreshStatsOf(clientId);
        stats.refresh_grants += 1;
        if (ctx.status !== 200) stats.refresh_grant_errors += 1;
        refreshStats.set(clientId, stats);
      }
    }
  }
}

/** Token endpoint outages per client_id: until when (epoch ms) its requests get 503. */
const outages = new Map();

/** POST /__test/token-outage {client_id, seconds}: see tokenOutage. */
export function setTokenOutage(clientId, seconds) {
  outages.set(clientId, Date.now() + seconds * 1000);
}

/**
 * POST /token authenticated (HTTP Basic) as a client in an outage (POST
 * /__test/token-outage): 503 temporarily_unavailable, as a provider that is
 * down answers, before the request is read or counted. Only the Basic
 * header is read, so that the body stays for oidc-provider.
 */
export async function tokenOutage(ctx, next) {
  if (ctx.method !== 'POST' || ctx.path !== '/token') return next();
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(ctx.get('Authorization'));
  if (basic) {
    const user = Buffer.from(basic[1], 'base64').toString('utf8').split(':')[0];
    const clientId = decodeURIComponent(user.replace(/\+/g, ' '));
    if ((outages.get(clientId) ?? 0) > Date.now()) {
      ctx.status = 503;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'temporarily_unavailable', error_description: 'the test provider is in an outage' };
      return undefined;
    }
  }
  return next();
}

/** GET /__test/stats?client_id=: the refresh grant counts of a client (zeros for an unknown one). */
export function refreshStatsOf(clientId) {
  return { ...(refreshStats.get(clientId) ?? { refresh_grants: 0, refresh_grant_errors: 0 }) };
}

/** GET /__test/tokens?client_id=: the tokens issued to a client (empty for an unknown one). */
export function issuedTokensOf(clientId) {
  return [...(issuedTokens.get(clientId) ?? [])];
}

/**
 * GET /user: the account behind a bearer access token that has the
 * `read:user` scope (see the top). 401 invalid_token for a missing,
 * unknown, expired or revoked token, 403 insufficient_scope without the
 * scope, with RFC 6750's WWW-Authenticate.
 * @param {Map<string, {sub: string, email: string, name: string}>} users
 */
export async function userEndpoint(provider, users, ctx, next) {
  if (ctx.path !== '/user') return next();
  ctx.set('Cache-Control', 'no-store');
  if (ctx.method !== 'GET') {
    ctx.status = 405;
    ctx.set('Allow', 'GET');
    return undefined;
  }
  const refuse = (status, error, description) => {
    ctx.status = status;
    const scope = error === 'insufficient_scope' ? `, scope="${USER_SCOPE}"` : '';
    ctx.set('WWW-Authenticate', `Bearer realm="test-idp", error="${error}", error_description="${description}"${scope}`);
    ctx.body = { error, error_description: description };
  };
  const bearer = /^Bearer ([\x21-\x7E]+)$/i.exec(ctx.get('Authorization'));
  if (!bearer) {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'Bearer realm="test-idp"');
    ctx.body = { error: 'invalid_request', error_description: 'no bearer access token' };
    return undefined;
  }
  const token = await provider.AccessToken.find(bearer[1]);
  const grant = token && (await provider.Grant.find(token.grantId));
  const user = token && users.get(token.accountId);
  if (!token || !grant || !user) return refuse(401, 'invalid_token', 'the access token is unknown, expired or revoked');
  if (!token.scopes.has(USER_SCOPE)) return refuse(403, 'insufficient_scope', `the access token lacks ${USER_SCOPE}`);
  ctx.body = { sub: user.sub, preferred_username: user.email, name: user.name, email: user.email };
  return undefined;
}
