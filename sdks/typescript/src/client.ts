/** The `Latchkey` client: settings from options or the environment, and the resources. */
import { Transport } from './core/transport.js';
import type { RequestOptions } from './core/transport.js';
import type { DataOf } from './core/types.js';
import { AuditEvents } from './resources/audit-events.js';
import { Auth } from './resources/auth.js';
import { Invitations } from './resources/invitations.js';
import { Keys } from './resources/keys.js';
import { Members } from './resources/members.js';
import { OAuth } from './resources/oauth.js';
import { Orgs } from './resources/orgs.js';
import { Products } from './resources/products.js';
import { Projects } from './resources/projects.js';
import { Runloop } from './resources/runloop.js';
import { Identities } from './resources/identities.js';
import { Scopes } from './resources/scopes.js';
import { Secrets } from './resources/secrets.js';
import { Sessions } from './resources/sessions.js';
import { SshKeys } from './resources/ssh-keys.js';
import { Webhooks } from './resources/webhooks.js';
import { Workspaces } from './resources/workspaces.js';
import { Leaks } from './resources/leaks.js';
import { System } from './resources/system.js';

/** Where the client sends requests when neither options nor the environment say. */
export const DEFAULT_BASE_URL = 'http://127.0.0.1:7420';
/** Time one attempt may take by default, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Retries after a failed attempt by default. */
export const DEFAULT_MAX_RETRIES = 2;

/** How to build a client; every field is optional. */
export interface ClientOptions {
  /**
   * The credential: an API key or a session token (`lks_…`). Default: the
   * environment's `<PREFIX>_API_KEY`. `null` sends none.
   */
  apiKey?: string | null | undefined;
  /** The server. Default: `<PREFIX>_API_URL`, else `http://127.0.0.1:7420`. */
  baseUrl?: string | undefined;
  /** The prefix of the environment variables read (default `LATCHKEY`; `RUNTOOLS` reads `RUNTOOLS_API_KEY`). */
  envPrefix?: string | undefined;
  /** Time one attempt may take, in milliseconds (default 60 000). */
  timeoutMs?: number | undefined;
  /** Retries after a failed attempt: connection errors, 429 and 503 (default 2). */
  maxRetries?: number | undefined;
  /** The organization a session acts in (`X-Latchkey-Org`). */
  orgId?: string | undefined;
  /** Headers sent with every request. */
  defaultHeaders?: Record<string, string> | undefined;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch | undefined;
}

/** The environment, where the runtime has one (`process.env` in Node, nothing in a browser). */
function env(name: string): string | undefined {
  const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * A latchkey client.
 *
 * ```ts
 * const lk = new Latchkey();   // LATCHKEY_API_KEY, LATCHKEY_API_URL
 * const created = await lk.keys.create({ name: 'ci', scopes: ['sandbox:create'] });
 * const verdict = await lk.keys.verify({ key: created.key!, scopes: ['sandbox:create'] });
 * ```
 */
export class Latchkey {
  /** The server's base URL. */
  readonly baseUrl: string;
  /** Time one attempt may take, in milliseconds. */
  readonly timeoutMs: number;
  /** Retries after a failed attempt. */
  readonly maxRetries: number;
  readonly #transport: Transport;

  /** API keys and their verification. */
  readonly keys: Keys;
  /** Projects. */
  readonly projects: Projects;
  /** Members of the organization. */
  readonly members: Members;
  /** Invitations to the organization. */
  readonly invitations: Invitations;
  /** Secrets. */
  readonly secrets: Secrets;
  /** SSH public keys. */
  readonly sshKeys: SshKeys;
  /** Webhook endpoints, signing secrets, deliveries (admins). */
  readonly webhooks: Webhooks;
  /** Workspaces: records, mount decisions, presigned URLs. */
  readonly workspaces: Workspaces;
  /** Connected apps: providers, connections, tokens for tools. */
  readonly oauth: OAuth;
  /** The audit trail. */
  readonly auditEvents: AuditEvents;
  /** Organizations. */
  readonly orgs: Orgs;
  /** A person's sessions. */
  readonly sessions: Sessions;
  /** A person's linked identities at identity providers. */
  readonly identities: Identities;
  /** Sign-up, sign-in, sign-out and forward auth. */
  readonly auth: Auth;
  /** The scope catalogue. */
  readonly scopes: Scopes;
  /** The Runtype profile: products, surfaces, surface keys. */
  readonly products: Products;
  /** The Runloop profile: `ak_` and `rk_` keys. */
  readonly runloop: Runloop;
  /** Secret scanners' reports of leaked keys. */
  readonly leaks: Leaks;
  /** Health, readiness, metrics and the API document. */
  readonly system: System;

  constructor(options: ClientOptions = {}) {
    const prefix = options.envPrefix ?? 'LATCHKEY';
    const apiKey = options.apiKey === undefined ? env(`${prefix}_API_KEY`) : (options.apiKey ?? undefined);
    this.baseUrl = (options.baseUrl ?? env(`${prefix}_API_URL`) ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') throw new TypeError('no fetch: pass `fetch` in the options');
    const headers: Record<string, string> = { ...options.defaultHeaders };
    if (options.orgId !== undefined) headers['x-latchkey-org'] = options.orgId;
    this.#transport = new Transport({
      baseUrl: this.baseUrl,
      apiKey,
      timeoutMs: this.timeoutMs,
      maxRetries: this.maxRetries,
      fetch: fetchImpl,
      headers,
    });
    const t = this.#transport;
    this.keys = new Keys(t);
    this.projects = new Projects(t);
    this.members = new Members(t);
    this.invitations = new Invitations(t);
    this.secrets = new Secrets(t);
    this.sshKeys = new SshKeys(t);
    this.webhooks = new Webhooks(t);
    this.workspaces = new Workspaces(t);
    this.oauth = new OAuth(t);
    this.auditEvents = new AuditEvents(t);
    this.orgs = new Orgs(t);
    this.sessions = new Sessions(t);
    this.identities = new Identities(t);
    this.auth = new Auth(t);
    this.scopes = new Scopes(t);
    this.products = new Products(t);
    this.runloop = new Runloop(t);
    this.leaks = new Leaks(t);
    this.system = new System(t);
  }

  /** `getMe`: who the credential is, its organization and the scopes in force. */
  async me(options?: RequestOptions): Promise<DataOf<'getMe'>> {
    return (await this.#transport.request<{ data: DataOf<'getMe'> }>({ method: 'GET', path: '/v1/me', options })).data;
  }
}
