/** `lk.auth`: sign-up, sign-in, sign-out, and forward auth (`/v1/auth/check`). */
import { APIResource } from '../core/resource.js';
import { path } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { BodyOf, DataOf, QueryOf } from '../core/types.js';
import type { operations } from '../generated/openapi.js';

/** The headers a forward-auth check reads (`x-latchkey-scope`, `x-forwarded-uri`, …). */
export type ForwardAuthHeaders = NonNullable<operations['checkForwardedRequest']['parameters']['header']>;

/** Who a forward-auth check let through (the `X-Latchkey-*` headers of its answer). */
export interface ForwardedIdentity {
  orgId: string | undefined;
  keyId: string | undefined;
  userId: string | undefined;
  projectId: string | undefined;
  environment: string | undefined;
}

/** People's sessions and the forward-auth check of a proxy. */
export class Auth extends APIResource {
  /** `signUp`: a new person and organization; answers a session token. */
  signup(body: BodyOf<'signUp'>, options?: RequestOptions): Promise<DataOf<'signUp'>> {
    return this.data({ method: 'POST', path: '/v1/auth/signup', body, options });
  }

  /**
   * `signUpInvited`: an account for the person an invitation names (its
   * email), a member of the inviting organization only; answers a session
   * token acting in it. Works when open sign-up is turned off.
   */
  signupInvited(body: BodyOf<'signUpInvited'>, options?: RequestOptions): Promise<DataOf<'signUpInvited'>> {
    return this.data({ method: 'POST', path: '/v1/invitations/signup', body, options });
  }

  /** `logIn`: a session token for an email and password. */
  login(body: BodyOf<'logIn'>, options?: RequestOptions): Promise<DataOf<'logIn'>> {
    return this.data({ method: 'POST', path: '/v1/auth/login', body, options });
  }

  /** `exchangeCliCode`: the session of the person who authorized a CLI, for its one-time loopback code and PKCE verifier. */
  cliToken(body: BodyOf<'exchangeCliCode'>, options?: RequestOptions): Promise<DataOf<'exchangeCliCode'>> {
    return this.data({ method: 'POST', path: '/v1/auth/cli/token', body, options });
  }

  /** `startDeviceAuthorization`: a device code and the user code a person approves on the dashboard. */
  deviceCode(body: BodyOf<'startDeviceAuthorization'> = {}, options?: RequestOptions): Promise<DataOf<'startDeviceAuthorization'>> {
    return this.data({ method: 'POST', path: '/v1/auth/device/code', body, options });
  }

  /** `pollDeviceAuthorization`: one poll; while waiting it rejects with codes `authorization_pending`, `slow_down`, `access_denied`, `expired_token`. */
  deviceToken(body: BodyOf<'pollDeviceAuthorization'>, options?: RequestOptions): Promise<DataOf<'pollDeviceAuthorization'>> {
    return this.data({ method: 'POST', path: '/v1/auth/device/token', body, options });
  }

  /** `listOidcProviders`: the identity providers people may sign in with. */
  oidcProviders(options?: RequestOptions): Promise<DataOf<'listOidcProviders'>> {
    return this.data({ method: 'GET', path: '/v1/auth/oidc/providers', options });
  }

  /**
   * `startOidcSignIn`: a browser's route to the provider (a redirect; the
   * sign-in is bound to the browser that follows it). Programs send people
   * to `{baseUrl}/v1/auth/oidc/{id}/start?return_to=…` instead; this method
   * answers what that route answers, as text.
   */
  oidcStart(id: string, query: QueryOf<'startOidcSignIn'> = {}, options?: RequestOptions): Promise<string> {
    return this.transport.request({
      method: 'GET',
      path: path`/v1/auth/oidc/${id}/start`,
      query,
      accept: 'text',
      options,
    });
  }

  /** `finishOidcSignIn`: where the provider sends the browser back; answered as text (see {@link oidcStart}). */
  oidcCallback(id: string, query: QueryOf<'finishOidcSignIn'> = {}, options?: RequestOptions): Promise<string> {
    return this.transport.request({
      method: 'GET',
      path: path`/v1/auth/oidc/${id}/callback`,
      query,
      accept: 'text',
      options,
    });
  }

  /** `logOut`: revokes the calling session. */
  async logout(options?: RequestOptions): Promise<void> {
    await this.transport.request({ method: 'POST', path: '/v1/auth/logout', accept: 'none', options });
  }

  /**
   * `checkForwardedRequest`: whether the client's own key may pass a proxy
   * (`GET /v1/auth/check`, what nginx `auth_request` calls).
   */
  check(headers: ForwardAuthHeaders = {}, options?: RequestOptions): Promise<ForwardedIdentity> {
    return this.#check('GET', headers, options);
  }

  /** `checkForwardedRequestPost`: the same check as a `POST` (Traefik, Caddy). */
  checkPost(headers: ForwardAuthHeaders = {}, options?: RequestOptions): Promise<ForwardedIdentity> {
    return this.#check('POST', headers, options);
  }

  async #check(
    method: 'GET' | 'POST',
    headers: ForwardAuthHeaders,
    options: RequestOptions | undefined,
  ): Promise<ForwardedIdentity> {
    const sent: Record<string, string> = { ...options?.headers };
    for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') sent[name] = value;
    const answer = await this.transport.requestWithHeaders({
      method,
      path: '/v1/auth/check',
      accept: 'none',
      options: { ...options, headers: sent },
    });
    const h = (name: string): string | undefined => answer.headers.get(name) ?? undefined;
    return {
      orgId: h('x-latchkey-org-id'),
      keyId: h('x-latchkey-key-id'),
      userId: h('x-latchkey-user-id'),
      projectId: h('x-latchkey-project-id'),
      environment: h('x-latchkey-environment'),
    };
  }
}

