/**
 * `lk.oauth`: connected apps. People connect their accounts at third-party
 * providers (GitHub, Slack, …) through latchkey, and the platform's tool
 * runtime gets a fresh access token for them (`oauth.token`). None of these
 * lists page.
 */
import { APIResource } from '../core/resource.js';
import { path, sleep } from '../core/transport.js';
import type { RequestOptions } from '../core/transport.js';
import type { BodyOf, DataOf, QueryOf } from '../core/types.js';

/** How {@link OAuth.waitForConnect} waits. */
export interface WaitForConnectOptions {
  /** Stops waiting: the promise rejects with an `APIUserAbortError`. */
  signal?: AbortSignal | undefined;
  /** Time between polls, in milliseconds (default 1 000). */
  intervalMs?: number | undefined;
}

/** Default time between two polls of {@link OAuth.waitForConnect}. */
export const CONNECT_POLL_INTERVAL_MS = 1_000;
/**
 * How long past a connect request's `expiresAt` {@link OAuth.waitForConnect}
 * still polls: a callback that came just before the expiry may still be
 * exchanging the code at the provider (two requests of at most 10 s each).
 */
export const CONNECT_EXPIRY_GRACE_MS = 30_000;

/** The caller's and the organization's connections (`/v1/oauth/connections`); never tokens. */
export class OAuthConnections extends APIResource {
  /** `listOAuthConnections`: own and shared connections; `allOrg` (admins) every member's too. */
  list(query: QueryOf<'listOAuthConnections'> = {}, options?: RequestOptions): Promise<DataOf<'listOAuthConnections'>> {
    return this.data({ method: 'GET', path: '/v1/oauth/connections', query, options });
  }

  /**
   * `deleteOAuthConnection`: disconnects, revoking the grant at the provider
   * when it can (a shared or another member's connection: admins).
   */
  async delete(id: string, options?: RequestOptions): Promise<void> {
    const route = path`/v1/oauth/connections/${id}`;
    await this.transport.request({ method: 'DELETE', path: route, accept: 'none', options });
  }

  /** `setDefaultOAuthConnection`: makes it its owner's default for its provider. */
  setDefault(id: string, options?: RequestOptions): Promise<DataOf<'setDefaultOAuthConnection'>> {
    return this.data({ method: 'POST', path: path`/v1/oauth/connections/${id}/default`, options });
  }
}

/** Connected apps: the providers, connecting an account, and tokens for tools. */
export class OAuth extends APIResource {
  /** The connections. */
  readonly connections: OAuthConnections = new OAuthConnections(this.transport);

  /** `listOAuthProviders`: the operator's catalog as the organization sees it (`configured`, `orgClient`). */
  providers(options?: RequestOptions): Promise<DataOf<'listOAuthProviders'>> {
    return this.data({ method: 'GET', path: '/v1/oauth/providers', options });
  }

  /**
   * `putOAuthProviderClient` (admins): the organization's own client
   * credentials at a provider, replacing any; the secret is sealed and never
   * shown again (`orgClient.hasClientSecret`).
   */
  setClient(
    provider: string,
    body: BodyOf<'putOAuthProviderClient'>,
    options?: RequestOptions,
  ): Promise<DataOf<'putOAuthProviderClient'>> {
    return this.data({ method: 'PUT', path: path`/v1/oauth/providers/${provider}`, body, options });
  }

  /** `deleteOAuthProviderClient` (admins): removes the organization's own client credentials. */
  async removeClient(provider: string, options?: RequestOptions): Promise<void> {
    const route = path`/v1/oauth/providers/${provider}`;
    await this.transport.request({ method: 'DELETE', path: route, accept: 'none', options });
  }

  /**
   * `startOAuthConnect`: starts connecting the caller's account (`shared`:
   * the organization's, admins). Open `authorizeUrl` in a browser signed in
   * to latchkey as the same person, then {@link waitForConnect}.
   */
  connect(body: BodyOf<'startOAuthConnect'>, options?: RequestOptions): Promise<DataOf<'startOAuthConnect'>> {
    return this.data({ method: 'POST', path: '/v1/oauth/connect', body, options });
  }

  /** `getOAuthConnect`: where a connect stands (`pending`, `completed`, `failed`, `expired`); the requester's only. */
  getConnect(id: string, options?: RequestOptions): Promise<DataOf<'getOAuthConnect'>> {
    return this.data({ method: 'GET', path: path`/v1/oauth/connect/${id}`, options });
  }

  /**
   * Polls {@link getConnect} until the connect is no longer `pending`, and
   * resolves with that view: `completed` (with `connectionId`), `failed`
   * (with `error`) or `expired`. The wait is bounded by the request's
   * `expiresAt` (10 minutes after it started): past it and
   * {@link CONNECT_EXPIRY_GRACE_MS}, the last view is returned as it stands.
   * `signal` stops the wait with an `APIUserAbortError`.
   */
  async waitForConnect(
    id: string,
    wait: WaitForConnectOptions = {},
    options?: RequestOptions,
  ): Promise<DataOf<'getOAuthConnect'>> {
    const { signal, intervalMs = CONNECT_POLL_INTERVAL_MS } = wait;
    const polled = signal === undefined ? options : { ...options, signal };
    for (;;) {
      const view = await this.getConnect(id, polled);
      if (view.status !== 'pending') return view;
      const left = Date.parse(view.expiresAt) + CONNECT_EXPIRY_GRACE_MS - Date.now();
      if (!(left > 0)) return view;
      await sleep(Math.min(intervalMs, left), signal);
    }
  }

  /**
   * `authorizeOAuthConnect`: the browser page `authorizeUrl` opens (it
   * needs the dashboard session of the person who asked, and redirects).
   * Programs send people to `authorizeUrl` instead; this method answers
   * what that route answers, as text.
   */
  authorizePage(id: string, query: QueryOf<'authorizeOAuthConnect'> = {}, options?: RequestOptions): Promise<string> {
    return this.transport.request({
      method: 'GET',
      path: path`/v1/oauth/connect/${id}/authorize`,
      query,
      accept: 'text',
      options,
    });
  }

  /**
   * `finishOAuthConnect`: where every provider sends the browser back;
   * answered as text (see {@link authorizePage}).
   */
  callback(query: QueryOf<'finishOAuthConnect'> = {}, options?: RequestOptions): Promise<string> {
    return this.transport.request({ method: 'GET', path: '/v1/oauth/callback', query, accept: 'text', options });
  }

  /**
   * `issueOAuthToken`: a fresh access token for the platform's tool runtime
   * (a service key holding the reserved `oauth:token`): the named
   * connection, else the member's default, else the organization's shared
   * one. Refusals carry where the person (re)connects, `error.connectUrl`:
   * 404 `not_connected`, 409 `needs_reauthorization`, 403
   * `insufficient_scope`.
   */
  token(body: BodyOf<'issueOAuthToken'>, options?: RequestOptions): Promise<DataOf<'issueOAuthToken'>> {
    return this.data({ method: 'POST', path: '/v1/oauth/token', body, options });
  }
}
